"""Does the sandbox apply the limits, hide the host, and refuse to run unisolated unasked?"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import sandbox
from autograder.autograde import Summary
from autograder.runner import descendants
from autograder.sandbox import Limits, SandboxError, command, require_isolation

PROBE = """
import os, resource, socket
print("AS", resource.getrlimit(resource.RLIMIT_AS)[0])
print("CPU", resource.getrlimit(resource.RLIMIT_CPU)[0])
print("FSIZE", resource.getrlimit(resource.RLIMIT_FSIZE)[0])
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2)
except OSError as e:
    print("NET", type(e).__name__)
print("HOME", os.environ.get("HOME"), "CWD", os.getcwd())
print("UID", os.getuid())
print("ENV", sorted(os.environ))
print("SEES", os.path.exists(%r), os.path.exists("/etc/shadow"), os.path.exists(%r))
for path in ("/proc/1/environ", "/proc/1/cmdline"):
    try:
        print(path, open(path, "rb").read())
    except OSError as e:
        print(path, "blocked", type(e).__name__)
open(%r, "w").write("written from inside")
"""


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """Run PROBE sandboxed with the TA's secret-laden environment; its log text."""
    monkeypatch.setenv("GRADKIT_SECRET", "do-not-leak-me")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-token-do-not-leak")
    private, logs = tmp_path / "private", tmp_path / "logs"
    private.mkdir()
    logs.mkdir()
    if os.getuid() == 0:
        os.chown(private, sandbox.NOBODY, sandbox.NOBODY)
    hidden = tmp_path / "gradebook.db"
    hidden.write_text("grades")
    code = PROBE % (str(hidden), str(sandbox.Path(__file__).parents[2] / "solutions"),
                    str(private / "out.txt"))  # fmt: skip
    cmd = command([sys.executable, "-c", code], Limits(memory_mb=900, cpu_seconds=50,
                  file_size_mb=3), rw=(str(private),), log=str(logs / "kernel.log"))  # fmt: skip
    subprocess.run(cmd, check=True, timeout=60, cwd=tmp_path)
    return (logs / "kernel.log").read_text(), private


def test_the_launcher_applies_limits(probe):
    log, _ = probe
    assert f"AS {900 << 20}" in log and "CPU 50" in log and f"FSIZE {3 << 20}" in log


def test_the_sandbox_sees_no_network_no_course_and_no_ta_environment(probe):
    log, private = probe
    assert sandbox.bwrap(), "bubblewrap must be installed (make test installs it)"
    assert "NET" in log and f"HOME {sandbox.HOME} CWD {sandbox.HOME}" in log
    assert "SEES False False False" in log  # gradebook, /etc/shadow, solutions/
    assert "do-not-leak-me" not in log and "hub-token" not in log and "GRADKIT" not in log
    cmdline = log.split("/proc/1/cmdline")[1]
    assert "--bind" not in cmdline and "--ro-bind" not in cmdline  # the mounts stay unlisted
    assert (private / "out.txt").read_text() == "written from inside"


@pytest.mark.skipif(os.getuid() != 0, reason="the uid is dropped only when grading as root")
def test_as_root_student_code_runs_as_nobody(probe):
    log, private = probe
    assert f"UID {sandbox.NOBODY}" in log
    assert "/proc/1/environ blocked" in log
    assert (private / "out.txt").stat().st_uid == sandbox.NOBODY


def test_without_bubblewrap_grading_is_refused_unless_the_ta_accepts_the_risk(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    with pytest.raises(SandboxError, match="apt-get install bubblewrap.*--no-sandbox"):
        require_isolation(True)
    require_isolation(False)  # --no-sandbox: the TA said so
    lines = sandbox.describe()
    assert any("NOT isolated" in line and "apt-get install bubblewrap" in line for line in lines)
    text = Summary(sandbox=lines).text()
    assert "sandbox: network, disk and other processes: NOT isolated" in text


def test_with_bubblewrap_the_summary_stays_quiet():
    lines = ["memory: enforced", "network, disk and other processes: isolated (bubblewrap)"]
    assert "sandbox" not in Summary(sandbox=lines).text()


STRAYS = """
import os, time
for _ in range(5):
    if os.fork() == 0:  # children that would outlive the cell, one detached
        if os.fork() == 0:
            time.sleep(600)
        time.sleep(600)
open(%r, "w").write(str(os.getpid()))
time.sleep(600)
"""


@pytest.mark.skipif(sandbox.bwrap() is None, reason="needs bubblewrap (make test installs it)")
def test_what_a_sandboxed_program_left_running_is_killed_and_the_program_kept(tmp_path):
    private, logs = tmp_path / "private", tmp_path / "logs"
    private.mkdir()
    logs.mkdir()
    if os.getuid() == 0:
        os.chown(private, sandbox.NOBODY, sandbox.NOBODY)
    cmd = command([sys.executable, "-c", STRAYS % str(private / "pid")], Limits(),
                  rw=(str(private),), log=str(logs / "log"))  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not (private / "pid").exists() or not (private / "pid").read_text():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)
        members = sandbox._cgroup_members(proc.pid, "pids")
        if not members:
            pytest.skip("no pids cgroup of gradkit's here (grading as a user without one)")
        before = len(members)
        killed = sandbox.reap_strays(proc.pid)
        assert killed == 10 and before >= 12, (before, killed)  # 5 children, 5 grandchildren
        time.sleep(0.2)
        assert proc.poll() is None  # the program itself runs on
        live = [p for p in sandbox._cgroup_members(proc.pid, "pids")
                if sandbox._parent_and_start(p)]  # fmt: skip
        assert len(live) <= 3, live  # bwrap, its init, the program
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_a_grading_kernel_starts_without_the_debugger(tmp_path):
    # ipykernel imports debugpy at start when it finds it (0.08 s per kernel): shown empty.
    pytest.importorskip("debugpy", reason="only where the venv has debugpy (jupyter brings it)")
    if not sandbox.bwrap():
        pytest.skip("bubblewrap is not installed here: make test installs it as root")
    code = (
        "import importlib.util, ipykernel.debugger as d\n"
        "print('SPEC', importlib.util.find_spec('debugpy.server'), d._is_debugpy_available)"
    )
    cmd = command([sys.executable, "-c", code], Limits(), log=str(tmp_path / "log.txt"))
    subprocess.run(cmd, check=True, timeout=60, cwd=tmp_path)
    assert "SPEC None False" in (tmp_path / "log.txt").read_text()


PARENT = """
import os, subprocess, sys, time
from autograder.sandbox import Limits, command
private, token = sys.argv[1], sys.argv[2]
code = f"import time; open({private!r} + '/up', 'w').write('up'); time.sleep(300)  # {token}"
cmd = command([sys.executable, "-c", code], Limits(), rw=(private,), log=private + "/../log.txt")
subprocess.Popen(cmd, start_new_session=True)  # as jupyter_client starts a kernel
if sys.argv[3] == "at-once":  # killed while the launcher starts
    os.kill(os.getpid(), 9)
while not os.path.exists(private + "/up"):
    time.sleep(0.05)
print("ready", flush=True)
time.sleep(300)
"""


def test_a_sandbox_dies_with_the_grader_process_that_started_it(tmp_path):
    # A worker killed mid-job (a lost Dask worker) used to leave bwrap and its kernel running.
    private = tmp_path / "private"
    private.mkdir()
    if os.getuid() == 0:
        os.chown(private, sandbox.NOBODY, sandbox.NOBODY)
    token = f"gradkit-orphan-probe-{os.getpid()}"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(private), token, "later"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert parent.stdout.readline().strip() == "ready"
        started = [p for p in descendants([parent.pid]) if token.encode() in _cmdline(p)]
        assert started, "the sandboxed process was not found"
        parent.kill()
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_cmdline(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in started if _cmdline(p)], "the sandbox outlived its parent"
    finally:
        parent.kill()
        for pid in descendants([parent.pid]):
            os.kill(pid, 9)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_a_sandbox_whose_grader_died_while_it_started_does_not_start(tmp_path):
    # The race that left a grading kernel running for good: the worker killed after it
    # started the launcher, before bwrap could tie the sandbox to it.
    private = tmp_path / "private"
    private.mkdir()
    if os.getuid() == 0:
        os.chown(private, sandbox.NOBODY, sandbox.NOBODY)
    token = f"gradkit-orphan-probe-{os.getpid()}-at-once"
    parent = subprocess.run([sys.executable, "-c", PARENT, str(private), token, "at-once"],
                            timeout=60)  # fmt: skip
    assert parent.returncode == -9
    time.sleep(3)  # long enough for a launcher to start its sandbox, were it to
    orphans = [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
               if token.encode() in _cmdline(p)]  # fmt: skip
    for pid in orphans:
        os.kill(pid, 9)
    assert orphans == [] and not (private / "up").exists()


def test_a_fresh_sandbox_cgroup_is_not_removed_before_its_kernel_joins_it():
    """A warm kernel joins the cgroups its grader made a moment later (autograder.forkserver);
    another worker's cleanup meanwhile must leave them, or that kernel fails to start."""
    fds = sandbox.kernel_groups(Limits())
    if not fds:
        pytest.skip("no cgroups of gradkit's here (grading as a user without one)")
    try:
        groups = [Path(os.readlink(f"/proc/self/fd/{fd}")).parent for fd in fds]
        sandbox.remove_stale_cgroups()
        assert all(group.is_dir() for group in groups)
        sandbox.remove_stale_cgroups(min_age=0)  # once old enough, and still empty: gone
        assert not any(group.is_dir() for group in groups)
    finally:
        for fd in fds:
            os.close(fd)
