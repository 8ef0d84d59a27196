"""A real Dask cluster: a scheduler and two workers (separate processes, empty working
directories, nothing of the course) grade a class into a PostgreSQL gradebook, with the
scores of a serial `nbgrader autograde` into SQLite, even when a worker is killed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.course import write_config_file
from autograder.report import collect
from autograder.runner import descendants
from autograder.sandbox import NOBODY

pytestmark = pytest.mark.slow
SECRET = "cluster-test-secret"
BIN = Path(sys.executable).parent
ASSIGNMENTS = ("04-backprop", "03-gradient-checking")


def _class(course: Path) -> None:
    """Correct, buggy, blank and broken submissions of two assignments."""
    for assignment in ASSIGNMENTS:
        stories = [demo.STUDENTS[0], demo.STUDENTS[1]]  # ada (correct), blank
        if assignment == demo.ASSIGNMENT:
            stories += [s for s in demo.STUDENTS if s.name in ("noreg", "halfix")]  # buggy
        for story in stories:
            folder = course / "submitted" / story.name / assignment
            folder.mkdir(parents=True)
            nbformat.write(demo.submission(story, assignment), folder / f"{assignment}.ipynb")
        broken = course / "submitted" / "broken" / assignment
        broken.mkdir(parents=True)
        (broken / f"{assignment}.ipynb").write_text("{ not a notebook")


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    cwd.mkdir()
    log = (cwd.parent / f"{cwd.name}.log").open("w")
    return subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _warm(cmdline: bytes) -> bool:
    """A warm server's Python (or a fork of it), not the bwrap that started it."""
    return b"autograder.forkserver" in cmdline and not cmdline.split(b"\0")[0].endswith(b"bwrap")


def _wait_until_grading(worker: subprocess.Popen, run: subprocess.Popen) -> None:
    """Wait until ``worker`` runs a job: a sandbox launcher is among its descendants, or a
    process forked by a warm server (autograder.forkserver), which outlives jobs itself."""
    deadline = time.monotonic() + 300
    while True:
        lines = {}
        for pid in descendants([worker.pid]):
            try:
                lines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            if b"autograder/sandbox.py" in lines[pid]:
                return
            if _warm(lines[pid]) and _warm(lines.get(parent, b"")):  # a fork of the server
                return
        assert run.poll() is None, "the run ended before the worker took a job"
        assert time.monotonic() < deadline, "the worker never took a job"
        time.sleep(0.05)


def test_a_class_graded_on_a_dask_cluster_scores_as_serial_nbgrader(tmp_path, database):
    pytest.importorskip("distributed", reason="gradcheck-kit[cluster] installs Dask")
    course, serial = tmp_path / "course", tmp_path / "serial"
    _class(course)
    _class(serial)
    env = {**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg",
           "PATH": str(BIN) + os.pathsep + os.environ["PATH"]}  # fmt: skip

    # Serial nbgrader into SQLite, with gradkit's configuration.
    write_config_file(serial)
    for assignment in ASSIGNMENTS:
        for step in (["generate_assignment", assignment, "--force"], ["autograde", assignment]):
            subprocess.run([sys.executable, "-m", "nbgrader", *step], cwd=serial, env=env,
                           capture_output=True, timeout=900)  # fmt: skip
    expected = collect(f"sqlite:///{serial / 'gradebook.db'}").scores

    scheduler_file = tmp_path / "scheduler.json"
    procs = [_start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                     "--scheduler-file", str(scheduler_file), "--no-dashboard"],
                    tmp_path / "scheduler")]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [_start([str(BIN / "dask"), "worker", address, "--nthreads", "1",
                           "--nworkers", "1", "--no-dashboard", "--local-directory", "."],
                          tmp_path / f"worker{k}") for k in range(2)]  # fmt: skip
        procs += workers
        gradkit = [str(BIN / "gradkit"), "autograde", "--course-dir", str(course),
                   "--scheduler", address, "--db-url", database]  # fmt: skip
        first = subprocess.run([*gradkit[:2], ASSIGNMENTS[1], *gradkit[2:]], env=env,
                               capture_output=True, text=True, timeout=900)  # fmt: skip
        assert "graded 2, failed 1" in first.stdout, first.stdout + first.stderr[-2000:]
        # The second assignment: one worker is killed while the run is under way.
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        run = subprocess.Popen([*gradkit[:2], ASSIGNMENTS[0], *gradkit[2:]], env=env, **pipes)
        _wait_until_grading(workers[0], run)
        _kill(workers[0])  # mid-job: its sandboxed kernel or grading process is running
        out, err = run.communicate(timeout=900)
        assert "graded 4, failed 1" in out, out + err[-2000:]
    finally:
        for proc in procs:
            _kill(proc)
    if os.getuid() == 0:  # no sandboxed process outlives the worker killed mid-job
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-u", str(NOBODY)], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "a sandboxed process outlived its worker"
            time.sleep(0.2)
    scores = collect(database).scores
    # nbgrader leaves a row of zeros for a notebook it cannot read; gradkit records none
    # (the TA's summary and autograde-ASSIGNMENT.csv say why)
    assert scores == {k: v for k, v in expected.items() if k[0] != "broken"}
    assert not any(k[0] == "broken" for k in scores)
    for k in range(2):  # the workers' folders hold nothing of the course
        names = {p.name for p in (tmp_path / f"worker{k}").rglob("*")}
        assert not any(n.endswith((".ipynb", ".db")) for n in names), names


def test_a_lost_scheduler_stops_the_run_and_the_next_run_grades_the_rest(tmp_path):
    pytest.importorskip("distributed", reason="gradcheck-kit[cluster] installs Dask")
    course = tmp_path / "course"
    names = []
    for k in range(6):
        folder = course / "submitted" / f"s{k}" / demo.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(demo.STUDENTS[0]), folder / f"{demo.ASSIGNMENT}.ipynb")
        names.append(f"s{k}")
    env = {**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg",
           "PATH": str(BIN) + os.pathsep + os.environ["PATH"]}  # fmt: skip

    def cluster(tag: str) -> tuple[list[subprocess.Popen], str]:
        file = tmp_path / f"{tag}.json"
        procs = [_start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                         "--scheduler-file", str(file), "--no-dashboard"],
                        tmp_path / f"{tag}-scheduler")]  # fmt: skip
        deadline = time.monotonic() + 60
        while not file.exists():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        address = json.loads(file.read_text())["address"]
        procs.append(_start([str(BIN / "dask"), "worker", address, "--nthreads", "1",
                             "--no-dashboard", "--local-directory", "."],
                            tmp_path / f"{tag}-worker"))  # fmt: skip
        return procs, address

    def gradkit(address: str) -> subprocess.Popen:
        cmd = [str(BIN / "gradkit"), "autograde", demo.ASSIGNMENT, "--course-dir", str(course),
               "--scheduler", address]  # fmt: skip
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        return subprocess.Popen(cmd, env=env, **pipes)

    procs, address = cluster("first")
    try:
        run = gradkit(address)
        url = f"sqlite:///{course / 'gradebook.db'}"
        deadline = time.monotonic() + 300
        while not (course / "gradebook.db").exists() or not collect(url).scores:
            assert time.monotonic() < deadline and run.poll() is None, "nothing was graded"
            time.sleep(0.5)
        _kill(procs[0])  # the scheduler
        out, err = run.communicate(timeout=300)
        assert run.returncode != 0
        assert "lost the Dask scheduler" in out + err, out + err[-2000:]
        assert "run the same command again" in out + err
    finally:
        for proc in procs:
            _kill(proc)
    kept = set(s for s, _ in collect(url).scores)
    assert 0 < len(kept) < len(names)
    procs, address = cluster("second")
    try:
        again = gradkit(address)
        out, err = again.communicate(timeout=600)
    finally:
        for proc in procs:
            _kill(proc)
    assert f"graded {len(names) - len(kept)}, failed 0" in out, out + err[-2000:]
    assert set(s for s, _ in collect(url).scores) == set(names)
