"""The job of one worker: execute one submission, return the executed notebooks.

A pure job: the submission's files (bytes that came through autograder.ingest) and a
template gradebook go in, laid out in a private directory the kernel never sees; the
executed notebooks come out as text. It never touches the course's
gradebook, so any number of workers may run at once, on this machine or on a cluster
(the executor is the caller's choice).
"""

from __future__ import annotations

import glob
import io
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import (
    AFTER_EXECUTE,
    EXECUTE,
    GRADEBOOK_STEPS,
    nbgrader_config,
    run_converter,
)
from autograder.ingest import Intake, write


@dataclass(frozen=True)
class Job:
    """One submission to execute.

    Attributes
    ----------
    assignment, student : names as in submitted/STUDENT/ASSIGNMENT
    files : the submitted files that came through autograder.ingest, name -> bytes
    template_db : the bytes of a SQLite gradebook that knows the assignment (no path:
        a job runs wherever its bytes go, another machine too)
    secret : course secret for the per-student inputs
    settings : the course's nbgrader settings for execution (course.TA_SECTIONS)
    scratch : folder for the job's private copy (a copy of the gradebook among it): the
        course's own work folder, which the next run clears should this one be killed;
        the system's temporary folder when it does not exist here (another machine)
    """

    assignment: str
    student: str
    files: dict[str, bytes]
    template_db: bytes
    secret: str
    settings: dict = field(default_factory=dict)
    scratch: str = ""


@dataclass
class Executed:
    """What a worker returns: executed notebooks by name, or the error that stopped it."""

    student: str
    ok: bool
    notebooks: dict[str, str] = field(default_factory=dict)
    error: str = ""


def execute_submission(job: Job) -> Executed:
    """Run nbgrader's Autograde, all but its gradebook writes, on a private copy of the
    submission; return the autograded notebooks."""
    scratch = job.scratch if job.scratch and os.path.isdir(job.scratch) else None
    # No student name in the folder's name: it is globbed.
    with tempfile.TemporaryDirectory(prefix="gradkit-job-", dir=scratch) as tmp:
        root = Path(tmp)
        write(Intake(job.files), root / "submitted" / job.student / job.assignment)
        (root / "gradebook.db").write_bytes(job.template_db)
        config = nbgrader_config(root, settings=job.settings)
        # Everything nbgrader does to the notebook; what goes into the gradebook is the
        # parent's to write (autograder.record), from the notebook this returns.
        config.Autograde.autograde_preprocessors = [
            EXECUTE,
            *(step for step in AFTER_EXECUTE if step not in GRADEBOOK_STEPS),
        ]
        config.GradkitExecute.secret = job.secret
        config.GradkitExecute.course_lock = False  # a private copy; the parent holds the lock
        config.GradkitExecute.warm_kernels = True  # this process grades many: fork kernels
        errors, handler = _capture_log()
        try:
            run_converter(_job_autograde(), config, job.assignment, glob.escape(job.student))
        except Exception as exc:  # nbgrader reports per-notebook failures this way
            detail = errors.getvalue().strip().splitlines()
            reason = _first_reason(detail) or f"{type(exc).__name__}: {exc}"
            return Executed(job.student, False, error=reason)
        finally:
            logging.getLogger("gradkit").removeHandler(handler)
        # Written here by nbgrader; the kernel never saw this folder (autograder.sandbox).
        out = root / "autograded" / job.student / job.assignment
        notebooks = {p.stem: p.read_text() for p in sorted(out.glob("*.ipynb"))}
    return Executed(job.student, True, notebooks)


def _job_autograde():
    """nbgrader's Autograde for a job: init_assignment without the gradebook writes.

    nbgrader's init_assignment makes the student's and the submission's rows and zeroes the
    notebooks not submitted, opening the gradebook five times (68 ms of a job's CPU). A job's
    gradebook is a private copy that nobody reads after it: the parent records all that
    (autograder.record). What is kept: the submitted files beside the notebooks, copied as
    nbgrader copies them (the converters' common init_assignment), and the same errors for
    an assignment or notebooks the gradebook does not know.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import BaseConverter, NbGraderException

    class JobAutograde(Autograde):
        def init_assignment(self, assignment_id: str, student_id: str) -> None:
            BaseConverter.init_assignment(self, assignment_id, student_id)
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                try:
                    known = {nb.name for nb in gb.find_assignment(assignment_id).notebooks}
                except MissingEntry:
                    raise NbGraderException(
                        f"No assignment with ID '{assignment_id}' exists in the database"
                    ) from None
            self.notebooks = [n for n in self.notebooks if Path(n).stem in known]
            if not self.notebooks:
                raise NbGraderException(
                    "No notebooks found, did you forget to run 'nbgrader generate_assignment'?"
                )

    return JobAutograde


def _capture_log() -> tuple[io.StringIO, logging.Handler]:
    """nbgrader's error log of this job, to say why a submission could not be run."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.ERROR)
    logging.getLogger("gradkit").addHandler(handler)
    return buffer, handler


def _first_reason(lines: list[str]) -> str:
    """The most telling line of nbgrader's error log (the exception that stopped it)."""
    for line in reversed(lines):
        text = line.strip()
        if (
            text
            and not text.startswith(("Traceback", "File ", "^", "During handling"))
            and ("Error" in text or "Exception" in text)
        ):
            return text
    return ""
