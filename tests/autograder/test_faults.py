"""Faults: is nothing lost when autograde is killed, or when a submission is broken?"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde, recorded
from autograder.course import CourseError
from autograder.report import collect, write_report

pytestmark = pytest.mark.slow
SECRET = "faults-test-secret"


def _class(course: Path, n: int) -> list[str]:
    names = [f"student{k}" for k in range(n)]
    for name in names:
        folder = course / "submitted" / name / "04-backprop"
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(demo.STUDENTS[0]), folder / "04-backprop.ipynb")
    return names


def _gradkit(course: Path, tmp: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "GRADKIT_SECRET": SECRET}
    if tmp is not None:  # the run's temporary folder, to look into
        env["TMPDIR"] = str(tmp)
    cmd = [str(Path(sys.executable).parent / "gradkit"), "autograde", "04-backprop",
           "--course-dir", str(course), "--workers", "2"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip


def _wait_for_grades(course: Path, at_least: int, proc: subprocess.Popen, limit=240) -> None:
    start = time.monotonic()
    while len(list(course.glob("autograded/*/04-backprop"))) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - start < limit, "no submission was graded in time"
        time.sleep(0.2)


@pytest.fixture
def tmp():
    """A temporary folder of the run's own, short (kernels' socket paths must fit)."""
    folder = Path(tempfile.mkdtemp(prefix="gk-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _left_behind(folder: Path) -> list[Path]:
    """gradkit's temporary folders under ``folder``, and any copy of a gradebook there."""
    return sorted({*folder.glob("gradkit-*"), *folder.rglob("gradebook.db")})


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path, tmp, sig):
    course = tmp_path / "course"
    names = _class(course, 6)
    proc = _gradkit(course, tmp)
    _wait_for_grades(course, 2, proc)
    os.killpg(proc.pid, sig)
    code = proc.wait(timeout=120)
    if sig == signal.SIGINT:
        assert code == 130 and b"run the same command again" in proc.stderr.read()
        assert _left_behind(tmp) == []  # the run cleaned up after itself
    else:  # nothing could clean up, yet no copy of the gradebook is left in /tmp
        assert not [p for p in tmp.rglob("gradebook.db")]
        assert not list(tmp.glob("gradkit-job-*"))
    url = f"sqlite:///{course / 'gradebook.db'}"
    kept = recorded(url, "04-backprop")
    assert 0 < len(kept) < len(names)  # some grades were recorded before the kill
    summary = autograde("04-backprop", course, workers=2, secret=SECRET)
    assert summary.failed == {}
    assert summary.skipped and set(summary.skipped) <= kept  # recorded grades are kept
    assert sorted([*summary.graded, *summary.skipped]) == names
    report = collect(url)
    assert set(report.scores) == {(n, "04-backprop") for n in names}  # one submission each
    assert all(q == demo.FULL for q in report.scores.values())
    assert write_report(course).csv.is_file()
    assert _left_behind(tmp) == []  # the rerun removed what the killed run left
    assert _left_behind(course / ".gradkit") == []


def test_a_second_ctrl_c_ends_the_run_at_once(tmp_path, tmp):
    # It used to hang for minutes in multiprocessing's exit handler, waiting for workers.
    course = tmp_path / "course"
    _class(course, 3)
    proc = _gradkit(course, tmp)
    _wait_for_grades(course, 1, proc)
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: to the whole foreground group
    time.sleep(0.5)
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # already gone
    start = time.monotonic()
    code = proc.wait(timeout=20)
    assert time.monotonic() - start < 10
    assert code in (130, -signal.SIGINT)  # the second one may end it as a signal
    err = proc.stderr.read().decode()
    assert "grades recorded so far are kept" in err and "Traceback" not in err
    deadline = time.monotonic() + 5
    while True:  # no worker process outlives it
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a process of the run is still alive"
        time.sleep(0.1)
    assert _left_behind(tmp) == [] and not list((course / ".gradkit").glob("autograde-*"))


def test_two_runs_on_one_course_are_refused(tmp_path):
    _class(tmp_path, 2)
    proc = _gradkit(tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / ".gradkit" / "autograde.lock").exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        busy = r"gradkit autograde 04-backprop \(pid \d+\) is grading in"
        with pytest.raises(CourseError, match=busy):
            autograde("04-backprop", tmp_path, workers=1, secret=SECRET)
    finally:
        proc.wait(timeout=240)
    assert proc.returncode == 0


def test_broken_submissions_get_a_clear_error_and_the_rest_is_graded(tmp_path):
    _class(tmp_path, 1)
    broken = {
        "badjson": "{ this is not json",
        "future": '{"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}}',
    }
    for name, text in broken.items():
        folder = tmp_path / "submitted" / name / "04-backprop"
        folder.mkdir(parents=True)
        (folder / "04-backprop.ipynb").write_text(text)
    empty = tmp_path / "submitted" / "nocells" / "04-backprop"
    empty.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), empty / "04-backprop.ipynb")
    summary = autograde("04-backprop", tmp_path, workers=2, secret=SECRET)
    assert sorted(summary.graded) == ["nocells", "student0"]
    assert set(summary.failed) == set(broken)
    for name in broken:
        assert "is not a valid notebook" in summary.failed[name]
        page = tmp_path / "feedback" / name / "04-backprop" / "gradkit-error.html"
        assert "resubmit" in page.read_text()
        assert (tmp_path / "submitted" / name / "04-backprop" / "04-backprop.ipynb").read_text() \
            == broken[name]  # the submission itself is untouched  # fmt: skip
    scores = collect(f"sqlite:///{tmp_path / 'gradebook.db'}").scores
    assert scores[("student0", "04-backprop")] == demo.FULL
    assert scores[("nocells", "04-backprop")] == dict.fromkeys(demo.FULL, 0.0)


class _BreakingExecutor:
    """Runs jobs in this process, but the pool "breaks" in round 1 for everyone and
    whenever the culprit runs, as when a worker process dies (e.g. at its memory cap)."""

    def __init__(self, culprit: str):
        self.culprit, self.rounds = culprit, {}

    def submit(self, fn, job):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        future = Future()
        self.rounds[job.student] = self.rounds.get(job.student, 0) + 1
        if job.student == self.culprit or self.rounds[job.student] == 1:
            future.set_exception(BrokenProcessPool("a worker died"))
        else:
            future.set_result(fn(job))
        return future


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_own_submission_and_no_other(tmp_path):
    for student in ("ada", "culprit"):
        folder = tmp_path / "submitted" / student / "04-backprop"
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(demo.STUDENTS[0]), folder / "04-backprop.ipynb")
    pool = _BreakingExecutor("culprit")
    summary = autograde("04-backprop", tmp_path, secret=SECRET, executor=pool)
    assert summary.graded == ["ada"] and "died 3 times" in summary.failed["culprit"]
    assert pool.rounds == {"ada": 2, "culprit": 3}
    scores = collect(f"sqlite:///{tmp_path / 'gradebook.db'}").scores
    assert scores[("ada", "04-backprop")] == demo.FULL


@pytest.mark.parametrize("assignment", ["02-unrolling", "03-gradient-checking"])
def test_a_notebook_with_every_cell_deleted_earns_zero_and_fails_nothing(tmp_path, assignment):
    # 02 has test cells right after locked cells of the kit's (compare_theta): nbgrader's
    # add_missing_cells alone failed the whole notebook there with KeyError.

    folder = tmp_path / "submitted" / "empty" / assignment
    folder.mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), folder / f"{assignment}.ipynb")
    summary = autograde(assignment, tmp_path, workers=1, secret=SECRET)
    assert summary.graded == ["empty"] and summary.failed == {}, summary.text()
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    report = collect(url)
    questions = {q for a, q, _ in report.questions if a == assignment}
    assert report.scores[("empty", assignment)] == dict.fromkeys(questions, 0.0)
    graded = nbformat.read(tmp_path / "autograded" / "empty" / assignment / f"{assignment}.ipynb",
                           as_version=4)  # fmt: skip
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in graded.cells]
    assert questions <= set(ids)  # every test cell is back, and was run
