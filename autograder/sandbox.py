"""The grading kernel's sandbox: resource limits, no network, a private view of the disk.

The kernel is started as ``python -m autograder.sandbox [limits] -- <kernel command>``.
This launcher sets resource limits on itself (inherited by the kernel), joins a pids
cgroup when it can, then execs the kernel through bubblewrap (``bwrap``) when available:

============================  =====================================================
limit                         how
============================  =====================================================
memory (address space)        RLIMIT_AS: a larger allocation raises MemoryError
CPU time                      RLIMIT_CPU: the kernel is killed past it
processes                     a pids cgroup (pids.max) when /sys/fs/cgroup is
                              writable, and RLIMIT_NPROC (ignored for root)
file size                     RLIMIT_FSIZE
network                       bwrap --unshare-net: only a loopback of its own
disk                          bwrap: read-only system and Python, the kit's packages;
                              writable only its working directory and a private
                              /tmp; the course directory, gradebook, solutions/
                              (hidden tests) and other submissions are not there
processes of other users      bwrap --unshare-pid; all die with the kernel
============================  =====================================================

Without bwrap (not installed, or not permitted) only the resource limits hold, and the
grader says so in a warning; ``describe()`` lists what holds on this machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MB = 1 << 20
CGROUP_PIDS = Path("/sys/fs/cgroup/pids")


@dataclass(frozen=True)
class Limits:
    """What one grading kernel may use."""

    memory_mb: int = 2048
    cpu_seconds: int = 600
    processes: int = 64
    file_size_mb: int = 64
    network: bool = False

    def describe(self) -> str:
        return (f"memory {self.memory_mb} MB, CPU {self.cpu_seconds} s, {self.processes} "
                f"processes, files ≤ {self.file_size_mb} MB, network "
                f"{'allowed' if self.network else 'blocked'}")  # fmt: skip


@cache
def bwrap() -> str | None:
    """Path of a bwrap that works here, else None."""
    path = shutil.which("bwrap")
    if not path:
        return None
    probe = [path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--dev", "/dev",
             "--proc", "/proc", "--die-with-parent", "true"]  # fmt: skip
    ok = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    return path if ok else None


def can_limit_processes() -> bool:
    return os.access(CGROUP_PIDS, os.W_OK) or os.getuid() != 0


def describe() -> list[str]:
    """What the sandbox enforces on this machine, and what it does not."""
    lines = ["memory, CPU time and file size: enforced (resource limits)"]
    if can_limit_processes():
        lines.append("process count: enforced (pids cgroup or RLIMIT_NPROC)")
    else:
        lines.append("process count: NOT enforced (running as root without a writable pids cgroup)")
    if bwrap():
        lines.append("network, disk and other processes: isolated (bubblewrap)")
    else:
        lines.append("network, disk and other processes: NOT isolated — install bubblewrap "
                     "(Debian/Ubuntu: apt-get install bubblewrap) to isolate them")  # fmt: skip
    return lines


def kernel_command(cmd: list[str], limits: Limits, workdir: str, private: str) -> list[str]:
    """The launcher command that runs ``cmd`` (a kernel) inside the sandbox."""
    return [sys.executable, "-m", "autograder.sandbox",
            "--memory-mb", str(limits.memory_mb), "--cpu-seconds", str(limits.cpu_seconds),
            "--processes", str(limits.processes), "--file-size-mb", str(limits.file_size_mb),
            *([] if limits.network else ["--no-network"]),
            "--workdir", workdir, "--private", private,
            *(["--bwrap", bwrap()] if bwrap() else []), "--", *cmd]  # fmt: skip


def _bwrap_args(args, path: str) -> list[str]:
    packages = Path(__file__).resolve().parents[1]
    readable = {
        "/usr",
        "/lib",
        "/lib64",
        "/bin",
        "/sbin",
        "/etc",
        sys.base_prefix,
        sys.prefix,
        sys.exec_prefix,
        str(packages / "gradlib"),
        str(packages / "autograder"),
    }
    cmd = [path, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
           "--cap-drop", "ALL", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]  # fmt: skip
    if args.no_network:
        cmd.append("--unshare-net")
    for p in sorted(readable, key=len):  # parents before children
        cmd += ["--ro-bind-try", p, p]
    for p in (args.workdir, args.private):
        cmd += ["--bind", p, p]
    # JPY_PARENT_PID names a process outside the pid namespace: ipykernel would exit.
    cmd += ["--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp",
            "--setenv", "GRADKIT_SANDBOX", "bwrap", "--chdir", args.workdir,
            "--unsetenv", "JPY_PARENT_PID", "--"]  # fmt: skip
    return cmd + args.command


def _set_limits(args) -> None:
    def cap(kind, value):
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))

    cap(resource.RLIMIT_AS, args.memory_mb * MB)
    cap(resource.RLIMIT_CPU, args.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, args.file_size_mb * MB)
    if os.access(CGROUP_PIDS, os.W_OK):
        group = CGROUP_PIDS / f"gradkit-{uuid.uuid4().hex[:12]}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(args.processes))
            (group / "cgroup.procs").write_text(str(os.getpid()))
            return
        except OSError:
            pass
    if os.getuid() != 0:  # RLIMIT_NPROC counts every process of the user: allow for those
        cap(resource.RLIMIT_NPROC, _processes_of(os.getuid()) + args.processes)


def _processes_of(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                continue
    return count


def remove_stale_cgroups() -> None:
    """Remove empty pids cgroups left by kernels that have exited."""
    for group in CGROUP_PIDS.glob("gradkit-*") if CGROUP_PIDS.is_dir() else []:
        try:
            group.rmdir()  # fails while a process is still in it
        except OSError:
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autograder.sandbox")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--file-size-mb", type=int, required=True)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--private", required=True)
    parser.add_argument("--bwrap", help="a bwrap the grader found working (probed once there)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    args.command = args.command[1:] if args.command[:1] == ["--"] else args.command
    _set_limits(args)
    path = args.bwrap
    cmd = _bwrap_args(args, path) if path else args.command
    # The kernel's own terminal output (banners, C-level noise) goes to a log of its own;
    # what the student's code prints reaches the grader through the kernel protocol.
    log = os.open(os.path.join(args.private, "kernel.log"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    if path:
        # An interrupt (SIGINT to the process group) must stop the student's cell, not
        # bwrap: bwrap would die and take the kernel with it. ipykernel installs its own
        # SIGINT handler while it runs a cell, so the kernel still gets KeyboardInterrupt.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
