"""Ctrl-C while kernels start: does the TA read one line, and no traceback before it?

nbclient and jupyter_client used to print `AssertionError: self.kc is not None`,
`RuntimeError: Kernel died before replying to kernel_info` or an IndexError when the
interrupt reached a kernel mid-start. Here SIGINT goes to the whole foreground group (as
Ctrl-C does) the moment the first kernel process exists, and a little later.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder import demo

pytestmark = pytest.mark.slow
ASSIGNMENT = "04-backprop"


def _kernels(root: int) -> list[int]:
    """Pids of the kernel processes (ipykernel, in its sandbox or not, or the fork server
    that warm kernels come from, autograder.forkserver) under ``root``."""
    parent, cmdline = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
                cmdline[int(entry.name)] = (entry / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
    found = []
    for pid, line in cmdline.items():
        up = pid
        while up in parent and up != root:
            up = parent[up]
        if up == root and (b"ipykernel" in line or b"autograder.forkserver" in line):
            found.append(pid)
    return found


@pytest.mark.parametrize("delay", [0.0, 0.4])
def test_ctrl_c_while_kernels_start_prints_no_traceback(tmp_path, delay):
    for name in ("ada", "bob", "cy"):
        folder = tmp_path / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(demo.STUDENTS[0]), folder / f"{ASSIGNMENT}.ipynb")
    cmd = [str(Path(sys.executable).parent / "gradkit"), "autograde", ASSIGNMENT, "--course-dir",
           str(tmp_path), "--workers", "2", "--secret", "interrupt-test"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not _kernels(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no kernel started within 90 s"
            time.sleep(0.02)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = err.decode()
    assert proc.returncode == 130, err
    assert "grades recorded so far are kept" in err
    for noise in ("Traceback", "AssertionError", "RuntimeError", "IndexError", "Exception"):
        assert noise not in err, err
    assert not list((tmp_path / ".gradkit").glob("autograde-*"))  # the run cleaned up
