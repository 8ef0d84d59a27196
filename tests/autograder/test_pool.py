"""Workers come from a fork server started earlier: do they still get the caller's present?"""

import os
import tempfile
from multiprocessing import forkserver

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import pool
from autograder.forkserver import available
from autograder.preprocessors.execute import GradkitExecute


def test_workers_get_the_callers_environment_and_folder_as_they_are_when_the_pool_is_made(
    tmp_path, monkeypatch
):
    before = tmp_path / "before"
    before.mkdir()
    monkeypatch.chdir(before)
    monkeypatch.setenv("GRADKIT_SECRET", "the caller's before")
    pool.start_server()  # the server keeps the environment and folder of this moment
    monkeypatch.setenv("GRADKIT_POOL_MARK", "set after the server started")
    monkeypatch.delenv("GRADKIT_SECRET")
    here = tmp_path / "caller"
    here.mkdir()
    monkeypatch.chdir(here)
    runs = tmp_path / "run"
    runs.mkdir()
    workers = pool.new_pool(1, str(runs))
    try:
        mark = workers.submit(os.getenv, "GRADKIT_POOL_MARK").result(timeout=120)
        secret = workers.submit(os.getenv, "GRADKIT_SECRET").result(timeout=60)
        folder = workers.submit(os.getcwd).result(timeout=60)
        temporary = workers.submit(tempfile.gettempdir).result(timeout=60)
        parent = workers.submit(os.getppid).result(timeout=60)
    finally:
        pool.stop(workers)
    assert mark == "set after the server started"
    assert secret is None  # unset in the caller now: not the value the server may have had
    assert folder == str(here)
    assert temporary == str(runs)  # the run's own temporary folder (pool.run_tmp)
    assert parent != os.getpid()  # forked by the server, never from the caller's state


def test_workers_are_spawned_when_the_fork_server_cannot_start(tmp_path, monkeypatch):
    def cannot(*args):
        raise OSError("AF_UNIX path too long")  # what a long TMPDIR does to its socket

    monkeypatch.setattr(pool.forkserver, "ensure_running", cannot)
    workers = pool.new_pool(1, str(tmp_path))
    try:
        parent = workers.submit(os.getppid).result(timeout=120)
        temporary = workers.submit(tempfile.gettempdir).result(timeout=60)
    finally:
        pool.stop(workers)
    assert parent == os.getpid() and temporary == str(tmp_path)


@pytest.mark.skipif(not available(True), reason="the sandbox needs root and bubblewrap")
def test_a_students_kernel_cannot_reach_the_workers_fork_server(tmp_path):
    # The server forks root processes for whoever sends it a request on its socket. The
    # socket is a file in the grader's temporary folder (mode 700, root's), which a
    # kernel's own /tmp, mount and network namespaces leave it no way to see or reach.
    pool.start_server()
    address = forkserver._forkserver._forkserver_address
    probe = f"""
import os, socket
sockets = [line.split()[-1] for line in open("/proc/net/unix").read().splitlines()[1:]]
try:
    socket.socket(socket.AF_UNIX).connect({address!r})
    reached = "connected"
except OSError as exc:
    reached = type(exc).__name__
print(os.getuid(), reached, {address!r} in sockets, os.path.exists({os.path.dirname(address)!r}))
"""
    nb = new_notebook(cells=[new_code_cell(probe)])
    executed, _ = GradkitExecute(warm_kernels=True, course_lock=False, timeout=60).preprocess(
        nb, {"metadata": {"path": str(tmp_path)}}
    )
    (output,) = executed.cells[0].outputs
    assert output["text"].split() == ["65534", "FileNotFoundError", "False", "False"]
