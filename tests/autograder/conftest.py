"""Shared fixtures: grade a task the way the grader does, in a sandboxed grading process."""

import shutil
import tempfile
from pathlib import Path

import pytest

from autograder.callbox import CallBox
from autograder.grading import grade_answer
from autograder.sandbox import Limits


def grade_in_box(task, source: str, seed: int = 7, max_points: float = 4.0):
    """Score of ``source`` (the notebook's code) for ``task``, called where grading runs."""
    box = CallBox([source], task.allowed, Limits(), cell_timeout=30.0)
    try:
        inputs = task.draw(seed)
        answer, _ = box.call(task.call, (task.function, *task.needs), inputs, timeout=30.0)
    finally:
        box.close()
    return grade_answer(task, answer, inputs, max_points, sources=[source])


@pytest.fixture
def in_box():
    return grade_in_box


@pytest.fixture
def database():
    """The URL of a fresh database on a PostgreSQL server of this test's own."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver (PyPI) starts the server")
    # As root, pgserver runs the server as a user of its own: the data folder must be
    # reachable for it (pytest's tmp_path is not)
    data = Path(tempfile.mkdtemp(prefix="gradkit-pg-"))
    data.chmod(0o755)
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE gradebook;")
        uri = server.get_uri()  # postgresql://postgres:@/postgres?host=SOCKET_DIR
        yield uri.replace("/postgres?", "/gradebook?", 1)
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
