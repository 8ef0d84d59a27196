"""Does the sandbox launcher apply the limits, and say plainly what it cannot enforce?"""

import subprocess
import sys

from autograder import sandbox
from autograder.autograde import Summary
from autograder.sandbox import Limits, kernel_command

PROBE = """
import os, resource, socket
print("AS", resource.getrlimit(resource.RLIMIT_AS)[0])
print("CPU", resource.getrlimit(resource.RLIMIT_CPU)[0])
print("FSIZE", resource.getrlimit(resource.RLIMIT_FSIZE)[0])
try:
    socket.create_connection(("127.0.0.1", 9), timeout=2)
except OSError as e:
    print("NET", type(e).__name__)
print("HOME", os.environ.get("HOME"))
print("SEES", os.path.exists(%r))
"""


def test_the_launcher_applies_limits_and_isolates(tmp_path):
    work, private = tmp_path / "work", tmp_path / "private"
    work.mkdir()
    private.mkdir()
    hidden = tmp_path / "gradebook.db"
    hidden.write_text("grades")
    cmd = kernel_command([sys.executable, "-c", PROBE % str(hidden)],
                         Limits(memory_mb=900, cpu_seconds=50, file_size_mb=3), str(work),
                         str(private))  # fmt: skip
    subprocess.run(cmd, check=True, timeout=60, env={"PATH": "/usr/bin"})
    log = (private / "kernel.log").read_text()
    assert f"AS {900 << 20}" in log and "CPU 50" in log and f"FSIZE {3 << 20}" in log
    assert sandbox.bwrap(), "bubblewrap must be installed (make test installs it)"
    assert "NET" in log and "HOME /tmp" in log and "SEES False" in log


def test_without_bubblewrap_the_grader_says_what_is_not_protected(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap", lambda: None)
    lines = sandbox.describe()
    assert any("NOT isolated" in line and "apt-get install bubblewrap" in line for line in lines)
    text = Summary(sandbox=lines).text()
    assert "sandbox: network, disk and other processes: NOT isolated" in text


def test_with_bubblewrap_the_summary_stays_quiet():
    lines = ["memory: enforced", "network, disk and other processes: isolated (bubblewrap)"]
    assert "sandbox" not in Summary(sandbox=lines).text()
