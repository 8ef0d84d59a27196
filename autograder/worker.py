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
    from nbgrader.converters import Autograde

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
            run_converter(Autograde, config, job.assignment, glob.escape(job.student))
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
