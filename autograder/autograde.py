"""Parallel autograde: workers execute submissions, one writer records the grades.

Every submission first comes through autograder.ingest (regular files only, size-capped,
read once); from then on nothing opens the student's folder again. Kernels run in worker
processes (autograder.worker), each on its own copy of those bytes, through every step of
nbgrader's Autograde that shapes the notebook. As each finishes, this process stores the
autograded notebook and records its grades (autograder.record: what nbgrader's
SaveAutoGrades and AssignLatePenalties would write, in one gradebook session for the run),
so it is the gradebook's only writer: SQLite never sees two, and the scores are those of a
serial `nbgrader autograde`.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import CancelledError, Executor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import pool
from autograder.cluster import SchedulerLost, connect, lost
from autograder.course import (
    STATE_DIR,
    TA_SECTIONS,
    CourseError,
    assignments,
    check_assignment,
    course_settings,
    nbgrader_config,
    register,
    write_config_file,
)
from autograder.course import (
    db_url as db_url_of,
)
from autograder.ingest import KEPT, Intake, expect, ingest
from autograder.inputs import course_secret
from autograder.ledger import Ledger, fingerprint
from autograder.lock import course_lock
from autograder.outcomes import Outcome, class_outcomes, notebook_problems, table, write_csv
from autograder.record import Recorder
from autograder.sandbox import describe as sandbox_status
from autograder.sandbox import remove_stale_cgroups, require_isolation
from autograder.worker import Executed, Job, execute_submission

# Pools a submission may be in when a worker dies: the culprit fails, the others are graded.
WORKER_TRIES = 3
# What a student reads when the grader, not the submission, failed (the TA gets the detail).
GRADER_ERROR_PAGE = "a grader error, your TA has been told"
SHOWN = 20  # rows of the printed table (the CSV has every student)


@dataclass
class Summary:
    """What an autograde run did."""

    graded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)  # files not let in
    grader_errors: set[str] = field(default_factory=set)  # failed through no fault of theirs
    outcomes: list[Outcome] = field(default_factory=list)  # this run's students, one row each
    csv: Path | None = None  # every student of the assignment (autograder.outcomes)
    notes: list[str] = field(default_factory=list)  # what gradkit changed in the course
    seconds: float = 0.0
    sandbox: list[str] = field(default_factory=sandbox_status)

    def text(self, limit: int = SHOWN) -> str:
        lines = [
            f"graded {len(self.graded)}, failed {len(self.failed)}, skipped "
            f"{len(self.skipped)} (graded before and unchanged; --force to regrade) in "
            f"{self.seconds:.1f} s"
        ]
        if self.outcomes:
            lines.append(table(self.outcomes, limit))
        shown = {o.student for o in self.outcomes}
        for student, why in sorted(self.failed.items()):  # without a row (an API caller's)
            if student not in shown:
                whose = " (grader error)" if student in self.grader_errors else ""
                lines.append(f"  FAILED {student}{whose}: {why}")
        if self.csv:
            lines.append(f"  every student, with points and problems: {self.csv}")
        lines += [
            f"  refused from {s}: {'; '.join(why)}" for s, why in sorted(self.refused.items())
        ][:limit]
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
                  done: set[str], ledger: Ledger | None = None) -> bool:  # fmt: skip
    """No grades recorded, no autograded copy, or a changed submission: other files than
    the ones last graded (the ledger's fingerprint), else a newer timestamp (nbgrader's
    rule, for submissions graded before gradkit kept fingerprints)."""
    graded = course_dir / "autograded" / student / assignment
    if student not in done or not graded.is_dir():
        return True
    known = ledger.entries.get(student) if ledger else None
    if known is not None and known.sha256:
        return known.sha256 != fingerprint(intake.files)
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
    students: list[str] | None = None,
    scheduler: str | None = None,
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
    students : grade only these (nbgrader's --student); the others are left as they are
    scheduler : address of a Dask scheduler (tcp://HOST:PORT): its workers run the jobs
        (autograder.cluster); the gradebook stays this process's to write

    After the run, ``COURSE/autograde-ASSIGNMENT.csv`` lists every student of the
    assignment with points and problems (autograder.outcomes); ``Summary.outcomes`` has the
    rows of this run's students.
    """
    start = time.perf_counter()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    course_dir = Path(course_dir).resolve()
    check_assignment(assignment)
    require_isolation(sandbox)
    secret = course_secret(secret)
    everyone = submissions(course_dir, assignment)
    if not everyone:
        raise CourseError(
            f"no submissions found under {course_dir / 'submitted'}/*/{assignment}: each "
            f"student's notebook goes in submitted/STUDENT/{assignment}/ (nbgrader's layout)."
        )
    found = everyone
    if students:
        missing = [s for s in students if s not in everyone]
        if missing:
            raise CourseError(
                f"no submission of {assignment} from {', '.join(map(repr, missing))} under "
                f"{course_dir / 'submitted'} (students with one: {_some(everyone)})."
            )
        found = {s: everyone[s] for s in everyone if s in students}
    client = connect(scheduler) if scheduler else None
    if client is not None:
        executor = client.get_executor(pure=False)
    try:
        with exclusive(course_dir, assignment):
            summary = _autograde(assignment, course_dir, found, workers, force, timeout, secret,
                                 db_url, executor, progress, start, sandbox, client)  # fmt: skip
            url = db_url_of(nbgrader_config(course_dir, db_url=db_url,
                                            settings=course_settings(course_dir)))  # fmt: skip
            rows = class_outcomes(course_dir, assignment, list(everyone), url, summary.failed,
                                  summary.grader_errors)  # fmt: skip
            summary.csv = write_csv(course_dir / f"autograde-{assignment}.csv", rows)
    finally:
        if client is not None:
            client.close()
    this_run = {*summary.graded, *summary.failed}
    summary.outcomes = [row for row in rows if row.student in this_run]
    return summary


def _some(names, shown: int = 5) -> str:
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def init_course(course_dir, db_url: str | None = None) -> list[str]:
    """Make ``course_dir`` a gradkit course before anything is released: its
    nbgrader_config.py grades the gradkit way (see course.write_config_file), and the
    gradebook and the release folder nbgrader's exchange releases from know every
    assignment. Returns what was done, a line each."""
    course_dir = Path(course_dir).resolve()
    if not course_dir.is_dir():
        raise CourseError(f"no course directory {course_dir}: create it first.")
    done = []
    with course_lock(course_dir, "gradkit init"):
        if note := write_config_file(course_dir, db_url):
            done.append(note)
        config = nbgrader_config(course_dir, db_url=db_url, settings=course_settings(course_dir))
        for assignment in assignments():
            register(config, assignment)
            done.append(f"{assignment}: in the gradebook, release in "
                        f"{course_dir / STATE_DIR / 'release' / assignment}")  # fmt: skip
    return done


@contextmanager
def exclusive(course_dir: Path, assignment: str):
    """Hold the course directory's grading lock; clear what a killed run left behind."""
    with course_lock(course_dir, f"gradkit autograde {assignment}"):
        for stale in (course_dir / STATE_DIR).glob("autograde-*"):  # a killed run's work
            pool.remove_run_tmp(stale)
            shutil.rmtree(stale, ignore_errors=True)
        yield


def _autograde(assignment, course_dir, found, workers, force, timeout, secret, db_url, executor,
               progress, start, sandbox, client=None) -> Summary:  # fmt: skip
    summary = Summary()
    if note := write_config_file(course_dir, db_url):
        summary.notes.append(note)
    settings = course_settings(course_dir)
    config = nbgrader_config(course_dir, db_url=db_url, timeout=timeout, settings=settings)
    config.GradkitExecute.sandbox = sandbox
    register(config, assignment)
    done = recorded(db_url_of(config), assignment)
    ledger = Ledger(course_dir, assignment)
    intakes = {}
    for student, folder in found.items():
        intakes[student] = intake = expect(ingest(folder), assignment)  # renamed notebooks
        if intake.refused:
            summary.refused[student] = intake.refused
    todo = [s for s in found if force
            or needs_grading(course_dir, assignment, intakes[s], s, done, ledger)]  # fmt: skip
    summary.skipped = [s for s in found if s not in todo]
    for student in list(todo):
        problem = unreadable(intakes[student])
        if problem:
            todo.remove(student)
            _failed(summary, ledger, course_dir, assignment, student, intakes[student], problem,
                    grader=False)  # fmt: skip
    if not todo:
        ledger.compact()
        summary.seconds = time.perf_counter() - start
        return summary
    work = Path(tempfile.mkdtemp(prefix="autograde-", dir=course_dir / STATE_DIR))
    tmp = pool.run_tmp(work)
    stack = ExitStack()
    try:
        template = _template_gradebook(work, assignment, db_url_of(config))
        worker_settings = {k: v for k, v in config.items() if k in TA_SECTIONS}
        worker_settings.setdefault("GradkitExecute", {})["sandbox"] = sandbox
        scratch = work / "jobs"  # a killed run's job folders go with the next run's cleanup
        scratch.mkdir(mode=0o700)
        template_bytes = template.read_bytes()
        jobs = [Job(assignment, s, intakes[s].files, template_bytes, secret, worker_settings,
                    str(scratch)) for s in todo]  # fmt: skip
        pending, tries, done_count = {job.student: job for job in jobs}, Counter(), 0
        recorder = stack.enter_context(
            Recorder(db_url_of(config), config.CourseDirectory.get("course_id", ""), config)
        )
        while pending:  # a worker that died breaks its pool: the rest go to a fresh one
            own = executor is None
            runner = executor or pool.new_pool(workers, tmp)
            try:
                futures = {runner.submit(execute_submission, job): s
                           for s, job in pending.items()}  # fmt: skip
                for future in as_completed(futures):
                    student = futures[future]
                    if _broken(future) and tries[student] < WORKER_TRIES - 1:
                        tries[student] += 1
                        continue  # graded again in the next pool
                    if (
                        client is not None
                        and _failure(future) is not None
                        and (isinstance(_failure(future), CancelledError) or lost(client))
                    ):  # Dask cancels every future when its scheduler goes
                        raise SchedulerLost(
                            f"lost the Dask scheduler ({_failure(future)!r}): the grades "
                            f"recorded so far are kept; run the same command again to grade "
                            f"the {len(pending)} submissions left."
                        )
                    result = _result(future, student)
                    del pending[student]
                    done_count += 1
                    with pool.deferred_interrupts():  # grades, autograded/, ledger: whole
                        ok = _finish(config, recorder, assignment, result, intakes[student],
                                     summary, ledger)  # fmt: skip
                    if progress:
                        progress(done_count, len(jobs), student, ok)
            except BaseException:  # Ctrl-C (KeyboardInterrupt) above all: stop now, not later
                if own:
                    pool.stop(runner)
                raise
            if own:  # nothing left for these workers: stopped, not waited for (each took
                pool.stop(runner)  # 0.7 s to tear its interpreter down); see pool.stop
    finally:
        with pool.ignored_interrupts():  # a second Ctrl-C must not leave half of it
            stack.close()
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
            remove_stale_cgroups()  # the workers' own, now that they have exited
    ledger.compact()
    summary.seconds = time.perf_counter() - start
    return summary


def _finish(config, recorder: Recorder, assignment: str, result: Executed, intake: Intake,
            summary: Summary, ledger: Ledger) -> bool:  # fmt: skip
    """Record an executed submission's grades, or note why it could not be; True if graded."""
    course_dir = Path(config.CourseDirectory.root)
    if result.ok and _record(course_dir, recorder, assignment, result, intake, summary):
        _graded(ledger, course_dir, assignment, intake, result)
        return True
    why = summary.failed[result.student] if result.ok else result.error
    _failed(summary, ledger, course_dir, assignment, result.student, intake, why, grader=True)
    return False


def _graded(ledger: Ledger, course_dir: Path, assignment: str, intake: Intake,
            result: Executed) -> None:  # fmt: skip
    """Note a recorded submission in the ledger: its fingerprint and its problems."""
    problems = [*intake.notes, *(f"refused: {why}" for why in intake.refused)]
    for _, text in sorted(result.notebooks.items()):
        try:
            problems += notebook_problems(json.loads(text))
        except ValueError:
            continue
    ledger.graded(result.student, fingerprint(intake.files), problems)
    stale = course_dir / "feedback" / result.student / assignment / "gradkit-error.html"
    if stale.is_file() and not stale.is_symlink():
        stale.unlink()  # it said this submission could not be graded; now it has been


def _failed(summary: Summary, ledger: Ledger, course_dir: Path, assignment: str, student: str,
            intake: Intake, why: str, grader: bool) -> None:  # fmt: skip
    """Note a submission that could not be graded. The student's page gives the reason only
    when it is theirs (unreadable notebooks, refused files); the grader's own failures (a
    worker, the gradebook) go to the TA alone."""
    summary.failed[student] = why
    if grader:
        summary.grader_errors.add(student)
    ledger.failed(student, why, grader, fingerprint(intake.files))
    error_page(course_dir, assignment, student, GRADER_ERROR_PAGE if grader else why)


def unreadable(intake: Intake) -> str:
    """Why the submitted notebooks cannot be graded, or "" when they can."""
    if intake.missing:  # not the expected notebook, and no telling which one is (ingest.expect)
        return intake.missing
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
    """A feedback page for a submission that could not be graded, saying ``problem`` (which
    the student reads: never the grader's own error)."""
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


def _failure(future) -> BaseException | None:
    """The exception of a done future (CancelledError for a cancelled one), or None."""
    return CancelledError() if future.cancelled() else future.exception()


def _broken(future) -> bool:
    """Did the worker process die (its pool is then broken for every job in it)?"""
    return isinstance(_failure(future), BrokenProcessPool)


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


def _record(course_dir: Path, recorder: Recorder, assignment: str, result: Executed,
            intake: Intake, summary: Summary) -> bool:  # fmt: skip
    """Store the autograded notebooks where nbgrader keeps them (autograded/STUDENT/
    ASSIGNMENT, with the submission's timestamp.txt) and record their grades."""
    folder = course_dir / "autograded" / result.student / assignment
    try:
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)  # as nbgrader's Autograde does: the new grading replaces it
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in result.notebooks.items():
            (folder / f"{name}.ipynb").write_text(text)
        for name in KEPT:  # nbgrader's own files of the submission (timestamp, secret)
            if name in intake.files:
                (folder / name).write_bytes(intake.files[name])
        stamp = intake.files.get("timestamp.txt")
        timestamp = stamp.decode("utf-8", "replace").strip() if stamp else None
        recorder.add(assignment, result.student, timestamp or None, result.notebooks)
    except Exception as exc:
        summary.failed[result.student] = (f"recording the grades failed: "
                                          f"{type(exc).__name__}: {exc}")  # fmt: skip
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
