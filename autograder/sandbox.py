"""The grading sandbox: what a process running student code can see, use and reach.

Student code runs as ``python -I -S autograder/sandbox.py [limits] -- <command>``. This launcher
puts itself in cgroups and under resource limits (inherited by what it starts), then execs
the command through bubblewrap (``bwrap``) with a filesystem built from an allow-list:

============================  =====================================================
limit                         how
============================  =====================================================
memory, all processes         a memory cgroup (as root); RLIMIT_AS per process too,
                              so one large allocation raises MemoryError
CPU time                      RLIMIT_CPU: the process is killed past it
processes                     a pids cgroup (as root), else RLIMIT_NPROC
file size                     RLIMIT_FSIZE
disk                          no host folder is writable: the home (working
                              directory) and /tmp are private, size-capped tmpfs
network                       --unshare-net: only a loopback of its own
what is visible               system libraries, the Python that runs the code
                              (and, for the notebook kernel, the kit); a handful of
                              /etc files; nothing of the course, the TA or solutions/
environment                   an allow-list (PATH, HOME, locale, thread caps),
                              never the TA's environment; the launcher execs bwrap
                              with an empty one and its arguments through a pipe
user                          as root: the code runs as nobody (65534), with no
                              capabilities and no_new_privs
other processes               --unshare-pid; all die with the sandbox
============================  =====================================================

Without bwrap, gradkit refuses to grade unless the TA says ``--no-sandbox``: then only the
resource limits and the clean environment hold (``describe()`` says what holds here).

gradkit's workers, as root, start each kernel and grading process otherwise: forked from a
server this launcher started once with the profile's filesystem, which builds the same
isolation around each fork (autograder.forkserver).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MB = 1 << 20
CGROUPS = Path("/sys/fs/cgroup")
SANDBOX_GROUP = re.compile(r"gradkit-[0-9a-f]{12}")  # a sandbox's own cgroups, not a worker's
NOBODY = 65534
HOME = "/home/student"
# Variables of the grader's environment a sandboxed process may see (values passed on).
PASSED_ENV = ("LANG", "LC_ALL", "LC_CTYPE", "MPLBACKEND", "NBGRADER_EXECUTION")
THREAD_CAPS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts",
       "mime.types", "passwd", "group", "nsswitch.conf")  # fmt: skip
# Python packages outside the interpreter's own prefix, hidden from the grading calls.
FOREIGN_PYTHON = ("/usr/lib/python3", "/usr/local/lib/python3", "/usr/lib/python3.11",
                  "/usr/local/lib/python3.11", "/usr/share/python3")  # fmt: skip
# What the fork server (autograder.forkserver) keeps to build its kernels (CAP_KILL: a
# parent-death signal to a process of another user is checked like kill(2)); kernels keep none.
ZYGOTE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETPCAP", "CAP_NET_ADMIN", "CAP_KILL")
# Run first inside the sandbox as root: become nobody, then exec the real command.
_DROP = (
    "import os, sys; os.setgroups([]); os.setgid(int(sys.argv[1])); "
    "os.setuid(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])"
)


class SandboxError(RuntimeError):
    """Student code cannot be run isolated here, and the TA did not accept the risk."""


@dataclass(frozen=True)
class Limits:
    """What one sandbox (a kernel or a grading process, with its children) may use."""

    memory_mb: int = 2048
    cpu_seconds: int = 600
    processes: int = 64
    file_size_mb: int = 64
    disk_mb: int = 256
    network: bool = False

    def describe(self) -> str:
        return (f"memory {self.memory_mb} MB, CPU {self.cpu_seconds} s, {self.processes} "
                f"processes, files ≤ {self.file_size_mb} MB, disk {self.disk_mb} MB, network "
                f"{'allowed' if self.network else 'blocked'}")  # fmt: skip

    def args(self) -> list[str]:
        return [
            "--memory-mb",
            str(self.memory_mb),
            "--cpu-seconds",
            str(self.cpu_seconds),
            "--processes",
            str(self.processes),
            "--file-size-mb",
            str(self.file_size_mb),
            "--disk-mb",
            str(self.disk_mb),
            *([] if self.network else ["--no-network"]),
        ]


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


def require_isolation(sandbox: bool) -> None:
    """Raise SandboxError when student code would run unisolated without the TA's consent."""
    if sandbox and not bwrap():
        raise SandboxError(
            "bubblewrap (bwrap) is not installed or not permitted here, so student code would "
            "run with access to the course directory, the gradebook, the TA's environment and "
            "the network. Install it (Debian/Ubuntu: sudo apt-get install bubblewrap) and run "
            "again, or pass --no-sandbox to grade anyway, accepting that any student can read "
            "the course secret and rewrite every grade."
        )


def _controller(name: str) -> Path | None:
    """Folder where a cgroup of ``name`` (pids, memory) can be made, or None."""
    v1 = CGROUPS / name
    if v1.is_dir() and os.access(v1, os.W_OK):
        return v1
    v2 = CGROUPS / "cgroup.controllers"
    if v2.is_file() and name in v2.read_text().split() and os.access(CGROUPS, os.W_OK):
        return CGROUPS
    return None


def describe() -> list[str]:
    """What the sandbox enforces on this machine, and what it does not."""
    lines = ["CPU time and file size: enforced (resource limits)"]
    if _controller("memory"):
        lines.append("memory: enforced for a kernel and all its children (memory cgroup)")
    else:
        lines.append("memory: per process only (address-space limit; no memory cgroup)")
    if _controller("pids") or os.getuid() != 0:
        lines.append("process count: enforced (pids cgroup or RLIMIT_NPROC)")
    else:
        lines.append("process count: NOT enforced (running as root without a writable pids cgroup)")
    if bwrap():
        lines.append("network, disk, environment and other processes: isolated (bubblewrap)"
                     + (", student code runs as nobody" if os.getuid() == 0 else ""))  # fmt: skip
    else:
        lines.append("network, disk and other processes: NOT isolated — install bubblewrap "
                     "(Debian/Ubuntu: apt-get install bubblewrap)")  # fmt: skip
    return lines


def command(cmd: list[str], limits: Limits, *, profile: str = "kernel", rw: tuple[str, ...] = (),
            ro: tuple[str, ...] = (), log: str, sandbox: bool = True,
            zygote: bool = False) -> list[str]:  # fmt: skip
    """The launcher command that runs ``cmd`` inside the sandbox.

    profile : "kernel" (the notebook's kernel: the kit's venv and packages are visible) or
        "calls" (a grading process: the interpreter's standard library and ``ro`` only)
    rw, ro : host paths bound at the same place, writable / read-only ("SRC=DEST" to move)
    log : file that gets the sandboxed process's stderr (and stdout for a kernel)
    zygote : ``cmd`` is gradkit's fork server (autograder.forkserver), never student code:
        it stays root with the capabilities that build each kernel's namespaces
    """
    from autograder.course import SOLUTIONS  # the launcher itself imports nothing of the kit

    binds = [a for p in rw for a in ("--rw", p)] + [a for p in ro for a in ("--ro", p)]
    hidden = [a for p in (SOLUTIONS, *_unused_in_grading()) for a in ("--hide", str(p))]
    isolation = ["--bwrap", bwrap()] if sandbox and bwrap() else []
    # Run as a script, isolated and without site: it needs nothing but the standard library.
    return [sys.executable, "-I", "-S", str(Path(__file__).resolve()), *limits.args(),
            "--profile", profile, *binds, *hidden, "--log", log, *isolation,
            *(["--zygote"] if zygote else []),
            "--parent", str(os.getpid()), "--", *cmd]  # fmt: skip


@cache
def _unused_in_grading() -> tuple[str, ...]:
    """Packages of the venv a grading kernel has no use for, shown empty: debugpy, which
    ipykernel imports at start when it finds it (0.08 s of CPU per kernel, measured) for a
    debugger no one attaches to a grading kernel."""
    import importlib.util

    spec = importlib.util.find_spec("debugpy")
    return tuple(spec.submodule_search_locations or ()) if spec else ()


def python_of(profile: str) -> str:
    """The interpreter a profile runs: the venv's for a kernel, the bare base one for calls."""
    return sys.executable if profile == "kernel" else os.path.realpath(sys._base_executable)


def _readable(profile: str) -> list[tuple[str, str]]:
    paths = [*SYSTEM, *(f"/etc/{name}" for name in ETC), sys.base_prefix]
    if profile == "kernel":
        kit = Path(__file__).resolve().parents[1]
        venv = str(Path(sys.executable).absolute().parents[1])  # sys.prefix needs site
        paths += [venv, str(kit / "gradlib"), str(kit / "autograder")]
    return [(p, p) for p in dict.fromkeys(paths)]


def _bwrap_args(args) -> list[str]:
    cmd = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
           "--unshare-uts", "--unshare-cgroup-try", "--cap-drop", "ALL"]  # fmt: skip
    if os.getuid() == 0:
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # for _DROP only
    if os.getuid() == 0 and args.zygote:  # namespaces, mounts and a loopback per kernel
        cmd += [a for cap in ZYGOTE_CAPS for a in ("--cap-add", cap)]
    if args.no_network:
        cmd.append("--unshare-net")
    size = str(args.disk_mb * MB)
    cmd += [
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--perms",
        "1777",
        "--size",
        size,
        "--tmpfs",
        "/tmp",
    ]
    made = {"/", "/dev", "/proc", "/tmp"}
    binds = [(s, d, "--ro-bind") for s, d in _readable(args.profile) + _pairs(args.ro)]
    binds += [(s, d, "--bind") for s, d in _pairs(args.rw)]
    for src, dest, how in sorted(binds, key=lambda b: len(b[1])):  # parents before children
        if not os.path.lexists(src):
            continue
        cmd += _parents(dest, made)
        if os.path.islink(src) and dest in SYSTEM:  # merged /usr: /lib -> usr/lib
            cmd += ["--symlink", os.readlink(src), dest]
        else:
            cmd += [how, src, dest]
        made.add(dest)
    for masked in _masked(args.hide, binds):  # an empty, read-only folder in their place
        cmd += ["--tmpfs", masked, "--remount-ro", masked]
    if args.profile == "calls":  # no package but the ones the grader put in its site
        site = os.path.join(sys.base_prefix, "lib", f"python3.{sys.version_info.minor}")
        for hidden in (os.path.join(site, "site-packages"), *FOREIGN_PYTHON):
            if os.path.isdir(hidden):
                cmd += ["--tmpfs", hidden]
    cmd += _parents(HOME, made)
    cmd += ["--perms", "1777", "--size", size, "--tmpfs", HOME, "--chdir", HOME, "--clearenv"]
    for name, value in _environment(args.profile).items():
        cmd += ["--setenv", name, value]
    return cmd


def _masked(hidden: list[str], binds: list[tuple[str, str, str]]) -> list[str]:
    """Where the ``hidden`` host folders would show through a bind, e.g. the solutions of a
    kit installed from a wheel, which lie inside the venv that a kernel sees."""
    out = []
    for src, dest, _ in binds:
        for path in filter(os.path.isdir, hidden):
            inner = os.path.relpath(os.path.realpath(path), os.path.realpath(src))
            if inner != os.pardir and not inner.startswith(os.pardir + os.sep):
                out.append(os.path.normpath(os.path.join(dest, inner)))
    return list(dict.fromkeys(out))


def _pairs(paths: list[str]) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) if "=" in p else (p, p) for p in paths]


def _parents(dest: str, made: set[str]) -> list[str]:
    """bwrap makes missing parents 0700 (unreadable to nobody): make them 0755 first."""
    out = []
    for parent in reversed(Path(dest).parents):
        if str(parent) not in made:
            out += ["--perms", "0755", "--dir", str(parent)]
            made.add(str(parent))
    return out


def _environment(profile: str) -> dict[str, str]:
    """The whole environment of a sandboxed process: an allow-list, never the TA's."""
    bin_dir = os.path.dirname(python_of(profile))
    env = {
        "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOME": HOME,
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "PYTHONNOUSERSITE": "1",
        "LANG": "C.UTF-8",
    }
    env.update(dict.fromkeys(THREAD_CAPS, "1"))
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    return env


def _set_limits(args) -> None:
    def cap(kind, value):
        soft, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value if hard == resource.RLIM_INFINITY else hard))

    cap(resource.RLIMIT_AS, args.memory_mb * MB)
    cap(resource.RLIMIT_CPU, args.cpu_seconds)
    cap(resource.RLIMIT_FSIZE, args.file_size_mb * MB)
    name = f"gradkit-{uuid.uuid4().hex[:12]}"
    pids, memory = _sandbox_groups(args.processes, args.memory_mb)
    joined_pids = _join("pids", name, pids)
    _join("memory", name, memory)
    if not joined_pids and os.getuid() != 0:  # RLIMIT_NPROC counts every process of the user
        cap(resource.RLIMIT_NPROC, _processes_of(os.getuid()) + args.processes)


def _join(controller: str, name: str, settings: dict[str, str]) -> bool:
    group = _group(controller, name, settings)
    try:
        (group / "cgroup.procs").write_text(str(os.getpid()))
        return True
    except (OSError, TypeError):
        return False


def _group(controller: str, name: str, settings: dict[str, str]) -> Path | None:
    """A new cgroup ``name`` of ``controller`` with ``settings``; None where none can be made."""
    root = _controller(controller)
    if root is None:
        return None
    group = root / name
    try:
        group.mkdir()
        for key, value in settings.items():
            if (group / key).exists():
                (group / key).write_text(value)
        return group
    except OSError:
        return None


def _sandbox_groups(processes: int, memory_mb: int) -> tuple[dict, dict]:
    """Settings of one sandbox's pids and memory cgroups (v1 and v2 names)."""
    memory = {"memory.limit_in_bytes": str(memory_mb * MB), "memory.max": str(memory_mb * MB),
              "memory.swap.max": "0"}  # fmt: skip
    return {"pids.max": str(processes)}, memory


def kernel_groups(limits: Limits) -> list[int]:
    """Write ends of ``cgroup.procs`` of a new sandbox's pids and memory cgroups, with the
    limits set: a forked kernel (autograder.forkserver) joins them by writing to them."""
    name = f"gradkit-{uuid.uuid4().hex[:12]}"
    pids, memory = _sandbox_groups(limits.processes, limits.memory_mb)
    groups = [_group("pids", name, pids), _group("memory", name, memory)]
    return [os.open(g / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for g in groups if g]


def reap_strays(launcher: int, sweeps: int = 100) -> int:
    """Kill what a sandboxed program left running, keep the program; how many were killed.

    ``launcher`` is the pid of a sandbox's launcher, which became bwrap: bwrap, its child
    (the namespace's init) and the first process under that (the kernel) stay; every other
    process of the sandbox's pids cgroup goes, e.g. a fork bomb's children, which would
    otherwise keep the worker's core busy while the student's functions are graded. A fork
    bomb forks while it is killed: sweep until none is left.
    """
    killed: set[int] = set()
    for _ in range(sweeps):
        members = _cgroup_members(launcher, "pids")
        table = {pid: _parent_and_start(pid) for pid in members}
        table = {pid: v for pid, v in table.items() if v is not None}  # zombies are gone
        inits = [pid for pid, (parent, _) in table.items() if parent == launcher]
        keep = {launcher, *inits}
        for init in inits:
            under = [pid for pid, (parent, _) in table.items() if parent == init]
            if under:
                keep.add(min(under, key=lambda pid: table[pid][1]))
        strays = [pid for pid in table if pid not in keep]
        if not strays:
            return len(killed)
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except OSError:
                pass
    return len(killed)


def _cgroup_members(pid: int, controller: str) -> list[int]:
    """Pids in ``pid``'s cgroup of ``controller`` ([] when there is none of gradkit's)."""
    root = _controller(controller)
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, names, path = line.split(":", 2)
        last = path.rstrip("/").rsplit("/", 1)[-1]
        # a sandbox's own group (gradkit-<12 hex>), never a worker's (gradkit-worker-<pid>)
        if (controller in names.split(",") or names == "") and SANDBOX_GROUP.fullmatch(last):
            try:
                procs = (root / path.lstrip("/") / "cgroup.procs").read_text().split()
            except (OSError, TypeError):
                return []
            return [int(p) for p in procs]
    return []


def _parent_and_start(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process; None for one that is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else (int(fields[1]), int(fields[19]))


def _processes_of(uid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                continue
    return count


WORKER_MEMORY_MB = 4096  # a worker process (outside the sandbox) handles what kernels send


def confine_worker() -> None:
    """Put this worker process (and all it will start) in cgroups of its own: memory, so a
    kernel's messages cannot make it exhaust the host, and CPU, so one submission's busy
    children cannot starve another worker's timed calls: each worker's group has an equal
    share (weight) of the CPUs, however many processes run in it. A share, not a cap: when
    the other workers wait (a kernel starting, a message on its way) a worker may use the
    idle core, which a cap of one core each left unused (11 % of a 2-worker run, measured).
    Best effort: root and cgroups."""
    name = f"gradkit-worker-{os.getpid()}"
    _join("cpu", name, {"cpu.shares": "1024", "cpu.weight": "100"})
    _join("memory", name, {"memory.limit_in_bytes": str(WORKER_MEMORY_MB * MB),
                           "memory.max": str(WORKER_MEMORY_MB * MB)})  # fmt: skip


def remove_stale_cgroups(min_age: float = 60.0) -> None:
    """Remove empty cgroups left by sandboxes and workers that have exited. A sandbox's group
    younger than ``min_age`` seconds stays: a warm kernel joins the group its grader made for
    it a moment later (autograder.forkserver), maybe in another worker, which a removal
    meanwhile would leave without one."""
    now = time.time()
    for controller in ("pids", "memory", "cpu"):
        root = _controller(controller)
        for group in root.glob("gradkit-*") if root else []:
            try:
                if SANDBOX_GROUP.fullmatch(group.name) and now - group.stat().st_mtime < min_age:
                    continue
                group.rmdir()  # fails while a process is still in it
            except OSError:
                pass


def _die_with(parent: int) -> None:
    """Be killed when the grader's process that started us dies, and end now if it already
    has. bwrap's --die-with-parent ties the sandbox to that process only once bwrap runs: a
    worker killed while a launcher started (a Dask worker lost mid-job) left bwrap and its
    kernel running, orphaned, for good. The signal is kept through the exec into bwrap."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the signal was set
        os._exit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="autograder/sandbox.py")
    for name in ("--memory-mb", "--cpu-seconds", "--processes", "--file-size-mb", "--disk-mb"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--profile", choices=("kernel", "calls"), default="kernel")
    parser.add_argument("--rw", action="append", default=[])
    parser.add_argument("--ro", action="append", default=[])
    parser.add_argument("--hide", action="append", default=[], help="a folder shown empty")
    parser.add_argument("--log", required=True)
    parser.add_argument("--bwrap", help="a bwrap the grader found working (probed once there)")
    parser.add_argument("--parent", type=int, help="the grader's process: the sandbox dies with it")
    parser.add_argument("--zygote", action="store_true", help="gradkit's fork server: stays root")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.parent:
        _die_with(args.parent)
    _set_limits(args)
    # The sandboxed process's own terminal output goes to a log the grader reads (capped);
    # a kernel's stdout too: what student code prints reaches the grader as messages.
    log = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.dup2(log, 2)
    if args.profile == "kernel":
        os.dup2(log, 1)
        # An interrupt (SIGINT to the process group) must reach the cell, not kill bwrap.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.close(log)
    if not args.bwrap:  # --no-sandbox: limits and a clean environment only
        os.execve(cmd[0], cmd, _environment(args.profile))
    if os.getuid() == 0 and not args.zygote:
        cmd = [python_of("calls"), "-I", "-S", "-c", _DROP, str(NOBODY), *cmd]
    # Arguments through a pipe, environment empty: /proc/1 inside shows neither.
    read, write = os.pipe()
    os.write(write, b"".join(a.encode() + b"\0" for a in _bwrap_args(args)))
    os.close(write)
    os.set_inheritable(read, True)
    os.execve(args.bwrap, [args.bwrap, "--args", str(read), "--", *cmd], {})


if __name__ == "__main__":
    main()
