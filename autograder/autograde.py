"""Parallel autograde: workers execute submissions, one writer records the grades.

Every submission first comes through autograder.ingest (regular files only, size-capped,
read once); from then on nothing opens the student's folder again. Kernels run in worker
processes (autograder.worker), each on its own copy of those bytes. As each finishes,
this process runs nbgrader's own Autograde on the course
directory with ReplayExecute in place of Execute, so nbgrader's scoring (SaveAutoGrades)
records the grades and this process is the gradebook's only writer: SQLite never sees two,
and the scores are those of a serial `nbgrader autograde`.
"""

from __future__ import annotations

import glob
import html
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import (
    STATE_DIR,
    TA_SECTIONS,
    CourseError,
    check_assignment,
    course_settings,
    nbgrader_config,
    register,
    run_converter,
    write_config_file,
)
from autograder.course import (
    db_url as db_url_of,
)
from autograder.ingest import Intake, ingest, write
from autograder.inputs import course_secret
from autograder.lock import course_lock
from autograder.sandbox import confine_worker, remove_stale_cgroups, require_isolation
from autograder.sandbox import describe as sandbox_status
from autograder.worker import Executed, Job, execute_submission

# Pools a submission may be in when a worker dies: the culprit fails, the others are graded.
WORKER_TRIES = 3


@dataclass
class Summary:
    """What an autograde run did."""

    graded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)  # files not let in
    notes: list[str] = field(default_factory=list)  # what gradkit changed in the course
    seconds: float = 0.0
    sandbox: list[str] = field(default_factory=sandbox_status)

    def text(self) -> str:
        lines = [
            f"graded {len(self.graded)}, failed {len(self.failed)}, skipped "
            f"{len(self.skipped)} (already graded; --force to regrade) in {self.seconds:.1f} s"
        ]
        lines += [f"  FAILED {s}: {why}" for s, why in sorted(self.failed.items())]
        lines += [
            f"  refused from {s}: {'; '.join(why)}" for s, why in sorted(self.refused.items())
        ]
        lines += [f"  sandbox: {line}" for line in self.sandbox if "NOT" in line]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def submissions(course_dir: Path, assignment: str) -> dict[str, Path]:
    """student -> submission folder, from course_dir/submitted/STUDENT/ASSIGNMENT."""
    root = course_dir / "submitted"
    if not root.is_dir():
        raise CourseError(
            f"{course_dir} has no submitted/ folder; put submissions at "
            f"{root}/STUDENT/{assignment}/*.ipynb (nbgrader's layout)."
        )
    found = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):  # no glob: names are data
        folder = Path(entry.path) / assignment
        if entry.is_dir(follow_symlinks=False) and folder.is_dir() and not folder.is_symlink():
            found[entry.name] = folder
    return found


def recorded(url: str, assignment: str) -> set[str]:
    """Students whose submission has a score for every graded cell in the gradebook."""
    from nbgrader.api import Gradebook

    done = set()
    with Gradebook(url) as gb:
        for sub in gb.assignment_submissions(assignment):
            grades = [g for nb in sub.notebooks for g in nb.grades]
            if grades and all(g.auto_score is not None or g.manual_score is not None
                              for g in grades):  # fmt: skip
                done.add(sub.student_id)
    return done


def needs_grading(course_dir: Path, assignment: str, intake: Intake, student: str,
                  done: set[str]) -> bool:  # fmt: skip
    """No grades recorded, no autograded copy, or a newer submission timestamp (nbgrader's)."""
    graded = course_dir / "autograded" / student / assignment
    if student not in done or not graded.is_dir():
        return True
    new, old = intake.files.get("timestamp.txt"), graded / "timestamp.txt"
    return new is not None and (not old.is_file() or new != old.read_bytes())


def autograde(
    assignment: str,
    course_dir,
    *,
    workers: int = 2,
    force: bool = False,
    timeout: int | None = None,
    secret: str | None = None,
    db_url: str | None = None,
    executor: Executor | None = None,
    progress=None,
    sandbox: bool = True,
) -> Summary:
    """Autograde every submission of ``assignment`` in ``course_dir``.

    Parameters
    ----------
    workers : worker processes (ignored when ``executor`` is given)
    force : regrade submissions that were already graded
    timeout : seconds per notebook cell (default: the course's nbgrader_config.py, else 30)
    secret : course secret (default: $GRADKIT_SECRET)
    db_url : gradebook (default: sqlite course_dir/gradebook.db)
    executor : any concurrent.futures.Executor, e.g. a Dask client's get_executor()
    progress : callable(done, total, student, ok) for a progress display
    sandbox : False runs student code without isolation (gradkit's --no-sandbox): any
        student can then read the secret and rewrite the gradebook
    """
    start = time.perf_counter()
    course_dir = Path(course_dir).resolve()
    check_assignment(assignment)
    require_isolation(sandbox)
    secret = course_secret(secret)
    found = submissions(course_dir, assignment)
    with exclusive(course_dir, assignment):
        return _autograde(assignment, course_dir, found, workers, force, timeout, secret, db_url,
                          executor, progress, start, sandbox)  # fmt: skip


@contextmanager
def exclusive(course_dir: Path, assignment: str):
    """Hold the course directory's grading lock; clear what a killed run left behind."""
    with course_lock(course_dir, f"gradkit autograde {assignment}"):
        for stale in (course_dir / STATE_DIR).glob("autograde-*"):  # a killed run's work
            shutil.rmtree(stale, ignore_errors=True)
        yield


def _autograde(assignment, course_dir, found, workers, force, timeout, secret, db_url, executor,
               progress, start, sandbox) -> Summary:  # fmt: skip
    summary = Summary()
    if note := write_config_file(course_dir, db_url):
        summary.notes.append(note)
    settings = course_settings(course_dir)
    config = nbgrader_config(course_dir, db_url=db_url, timeout=timeout, settings=settings)
    config.GradkitExecute.sandbox = sandbox
    register(config, assignment)
    done = recorded(db_url_of(config), assignment)
    intakes = {}
    for student, folder in found.items():
        intakes[student] = intake = ingest(folder)
        if intake.refused:
            summary.refused[student] = intake.refused
    todo = [s for s in found if force or needs_grading(course_dir, assignment, intakes[s], s, done)]
    summary.skipped = [s for s in found if s not in todo]
    for student in list(todo):
        problem = unreadable(intakes[student])
        if problem:
            todo.remove(student)
            summary.failed[student] = problem
            error_page(course_dir, assignment, student, problem)
    if not todo:
        summary.seconds = time.perf_counter() - start
        return summary
    work = Path(tempfile.mkdtemp(prefix="autograde-", dir=course_dir / STATE_DIR))
    try:
        for student in todo:  # what the parent's nbgrader reads instead of submitted/
            write(intakes[student], work / "intake" / student / assignment)
        template = _template_gradebook(work, assignment, db_url_of(config))
        worker_settings = {k: v for k, v in config.items() if k in TA_SECTIONS}
        worker_settings.setdefault("GradkitExecute", {})["sandbox"] = sandbox
        jobs = [Job(assignment, s, intakes[s].files, str(template), secret, worker_settings)
                for s in todo]  # fmt: skip
        pending, tries, done_count = {job.student: job for job in jobs}, Counter(), 0
        while pending:  # a worker that died breaks its pool: the rest go to a fresh one
            own = executor is None
            pool = executor or ProcessPoolExecutor(
                max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"),
                initializer=confine_worker,
            )  # fmt: skip
            try:
                futures = {pool.submit(execute_submission, job): s for s, job in pending.items()}
                for future in as_completed(futures):
                    student = futures[future]
                    if _broken(future) and tries[student] < WORKER_TRIES - 1:
                        tries[student] += 1
                        continue  # graded again in the next pool
                    result = _result(future, student)
                    del pending[student]
                    done_count += 1
                    ok = result.ok and _record(config, work, assignment, result, summary)
                    if not result.ok:
                        summary.failed[student] = result.error
                        error_page(course_dir, assignment, student, result.error)
                    if progress:
                        progress(done_count, len(jobs), student, ok)
            finally:
                if own:
                    pool.shutdown(cancel_futures=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        remove_stale_cgroups()  # the workers' own, now that they have exited
    summary.seconds = time.perf_counter() - start
    return summary


def unreadable(intake: Intake) -> str:
    """Why the submitted notebooks cannot be graded, or "" when they can."""
    if not intake.notebooks:
        refused = f" (refused: {'; '.join(intake.refused)})" if intake.refused else ""
        return f"no notebook in the submission{refused}; it must contain the .ipynb file."
    for name, data in sorted(intake.notebooks.items()):
        try:
            nbformat.validate(nbformat.reads(data.decode("utf-8"), as_version=4))
        except Exception as exc:  # invalid JSON or UTF-8, unknown nbformat, schema errors
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            return (f"{name} is not a valid notebook ({type(exc).__name__}: {reason}); "
                    "ask the student to download the notebook again and resubmit it.")  # fmt: skip
    return ""


def error_page(course_dir: Path, assignment: str, student: str, problem: str) -> Path:
    """A feedback page for a submission that could not be graded."""
    folder = course_dir / "feedback" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "gradkit-error.html"
    page.write_text(f"<html><body><h2>{html.escape(assignment)}: not graded</h2>"
                    f"<p>{html.escape(problem)}</p></body></html>\n")  # fmt: skip
    return page


def _template_gradebook(work: Path, assignment: str, url: str) -> Path:
    """A gradebook file that knows the assignment, for the workers to copy.

    A SQLite gradebook is snapshotted with SQLite's backup API (consistent even while
    being written); any other database gets a fresh SQLite gradebook of its own.
    """
    root = work / "template"
    root.mkdir()
    path = root / "gradebook.db"
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url[len("sqlite:///") :]) as source, sqlite3.connect(path) as copy:
            source.backup(copy)
    else:
        register(nbgrader_config(root), assignment)
    return path


def _broken(future) -> bool:
    """Did the worker process die (its pool is then broken for every job in it)?"""
    return isinstance(future.exception(), BrokenProcessPool)


def _result(future, student: str) -> Executed:
    try:
        return future.result()
    except BrokenProcessPool:
        return Executed(student, False, error=(
            f"the grader's worker process died {WORKER_TRIES} times while this submission was "
            "being graded (its memory cap, or a crash): look at the notebook's outputs"
        ))  # fmt: skip
    except Exception as exc:
        return Executed(student, False, error=f"worker failed: {type(exc).__name__}: {exc}")


def _record(config, work: Path, assignment: str, result: Executed, summary: Summary) -> bool:
    """Write the executed notebooks where ReplayExecute finds them; let nbgrader grade them."""
    from nbgrader.converters import Autograde

    folder = work / "executed" / result.student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in result.notebooks.items():
        (folder / f"{name}.ipynb").write_text(text)
    replay = config.copy()
    replay.Autograde.sanitize_preprocessors = []  # done by the worker, see ReplayExecute
    replay.Autograde.autograde_preprocessors = [
        "autograder.preprocessors.ReplayExecute",
        *config.Autograde.autograde_preprocessors[1:],
    ]
    replay.ReplayExecute.executed_template = str(
        work / "executed" / "{student}" / "{assignment}" / "{notebook}.ipynb"
    )
    replay.CourseDirectory.submitted_directory = str(work / "intake")  # never submitted/
    try:
        run_converter(Autograde, replay, assignment, glob.escape(result.student))
    except Exception as exc:
        summary.failed[result.student] = f"recording the grades failed: {exc}"
        return False
    summary.graded.append(result.student)
    return True


def terminal_progress(done: int, total: int, student: str, ok: bool) -> None:
    """A one-line progress bar on stderr."""
    width = 30
    filled = int(width * done / total)
    mark = "✓" if ok else "✗"
    end = "\n" if done == total else ""
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {mark} {student:<20}{end}"
    )
    sys.stderr.flush()
