"""Feedback HTML for each graded submission, with hidden tests kept out of it.

Pages are made by autograder.feedback_page.FeedbackExporter: math as MathML, no script,
long lines wrapped, and at the top what the grader did to the submission (a renamed
notebook graded as the expected one, from the ledger). Each page then gets a strict
Content-Security-Policy: it runs no script at all, loads nothing from the network, and
shows only inline styles and data: images. It is the second line of defence behind
SanitizeOutputs, should any student HTML reach the page.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from autograder.course import (
    CourseError,
    check_assignment,
    course_settings,
    nbgrader_config,
    run_converter,
)
from autograder.feedback_page import FeedbackExporter
from autograder.ledger import Ledger

CSP = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "img-src data:; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; "
    "form-action 'none'\">"
)
HEAD = re.compile(rb"<head(\s[^>]*)?>", re.IGNORECASE)
RENAMED = re.compile(r"renamed: graded (.+) as (\S+\.ipynb)")


def feedback(assignment: str, course_dir, db_url: str | None = None) -> list[Path]:
    """Write feedback/STUDENT/ASSIGNMENT/*.html for every autograded submission.

    Returns the HTML files written, each carrying the policy (see ``add_csp``). A course
    directory that does not exist, an unknown assignment, or one with nothing autograded
    is a CourseError that says so.
    """
    from nbgrader.converters import GenerateFeedback
    from nbgrader.converters.base import NbGraderException

    course_dir = Path(course_dir).resolve()
    if not course_dir.is_dir():
        raise CourseError(
            f"no course directory at {course_dir}: pass --course-dir, the folder holding "
            "submitted/, autograded/ and gradebook.db."
        )
    check_assignment(assignment)
    graded = sorted((course_dir / "autograded").glob(f"*/{assignment}"))
    if not graded:
        raise CourseError(
            f"nothing of {assignment} is autograded in {course_dir / 'autograded'}: run "
            f"`gradkit autograde {assignment} --course-dir {course_dir}` first."
        )
    config = nbgrader_config(course_dir, db_url=db_url, settings=course_settings(course_dir))
    config.GenerateFeedback.exporter_class = FeedbackExporter
    config.FeedbackExporter.notes = student_notes(course_dir, assignment)
    try:
        run_converter(GenerateFeedback, config, assignment)
    except NbGraderException:  # nbgrader logged which notebook and why (gradkit -v shows it)
        raise CourseError(
            f"nbgrader could not write the feedback of every notebook of {assignment}; the "
            "others are written. Run `gradkit -v feedback ...` to see which and why."
        ) from None
    finally:  # one notebook nbconvert cannot render must not leave the others unprotected
        pages = sorted((course_dir / "feedback").glob(f"*/{assignment}/*.html"))
        protected = [page for page in pages if add_csp(page)]
    return protected


def student_notes(course_dir: Path, assignment: str) -> dict[str, list[str]]:
    """student -> what their pages say first: a renamed notebook graded as the expected one
    (the ledger's "renamed: graded X as Y", see autograder.ingest.expect)."""
    notes = {}
    for student, entry in Ledger(course_dir, assignment).entries.items():
        for problem in entry.problems:
            found = RENAMED.fullmatch(problem)
            if found:
                notes.setdefault(student, []).append(
                    f"We graded your notebook {found[1]} as {found[2]}, the notebook this "
                    f"assignment expects: name it {found[2]} when you submit next time."
                )
    return notes


def add_csp(path: Path) -> bool:
    """Put the CSP meta tag first in the page's <head>; False (untouched) unless a regular file.

    Never follows a symlink nor waits on a FIFO: the file is opened with O_NOFOLLOW and
    O_NONBLOCK and checked with fstat; the new page replaces the old one by rename, keeping
    its permissions.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO must not block
    except OSError:  # a symlink (ELOOP), or gone
        return False
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            return False
        page = f.read()
    meta = CSP.encode()
    head = HEAD.search(page)
    at = head.end() if head else 0  # no <head>: a leading <meta> opens one implicitly
    if page[at : at + len(meta)] == meta:
        return True  # written by an earlier run
    page = page[:at] + meta + page[at:]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".csp-", suffix=".html")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), stat.S_IMODE(mode))
            f.write(page)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True
