"""Warm kernels: a sandboxed fork server that starts each student's kernel already imported.

A cold grading kernel spends most of its CPU importing (ipykernel, numpy, matplotlib and
its font list, gradlib: 0.8 s of the 1.0 s a 04 submission's kernel uses, measured). A
gradkit worker grades many submissions, so it keeps one *zygote*: a Python that imported
all of that once, inside a sandbox of the kernel profile (autograder.sandbox), and never runs
a byte of student code. Each kernel is a fresh fork of it, used once:

============================  =====================================================
what one student could leave  why the next one cannot see it
============================  =====================================================
a module attribute, a global  each kernel is forked from the zygote, never from a
                              kernel; memory is copy-on-write, private to the fork
a file in /tmp or the home    a new mount namespace with an empty tmpfs on /tmp and
                              on the home; other kernels' folders are covered
an environment variable       a process's own; the zygote's is the allow-list
a background thread/process   a new PID namespace per kernel, whose init dies with
                              the kernel's sandbox, taking every process in it along
the zygote itself             root, undumpable, outside the kernel's PID namespace:
                              a kernel (nobody, no capabilities) cannot signal,
                              trace or even name it
============================  =====================================================

Per kernel, as the cold launcher does: its own pids and memory cgroups (joined through
``cgroup.procs`` files the grader opened), resource limits, a network namespace with a
loopback only, IPC and UTS namespaces, the home as working directory, no capabilities at all
(bounding set emptied), ``no_new_privs``, user nobody. The kernel's log is a file the grader
opened and passed over the channel; the kernel's private folder (connection file and IPC
sockets) is bound alone at its own path.

Only as root (as gradkit grades in CI and on a grading server): building namespaces needs
capabilities the zygote keeps and its kernels drop. Elsewhere the cold launcher runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import select
import signal
import socket
import sys
import threading

NOBODY = 65534
HOME = "/home/student"
MB = 1 << 20
# What a grading kernel imports anyway (ipykernel at start, the course's setup cells).
# Not pyplot nor a backend: imported inside a running IPython they hook into it (the inline
# backend shows each cell's figures), so the kernel imports them itself, as a cold one does.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "numpy", "matplotlib",
           "matplotlib.figure", "gradlib", "gradlib.nn", "gradlib.plots", "autograder")  # fmt: skip

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38


# ---------------------------------------------------------------------------------------
# Inside the sandbox: the zygote and the kernels it forks


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    result = _libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                           enc(data))  # fmt: skip
    _check(result, f"mount {target}")


def _prctl(option: int, arg: int) -> None:
    _check(_libc().prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl {option}")


def preload(profile: str = "kernel") -> None:
    """Import what a kernel would, as its kernel would (ipykernel's matplotlib backend), or
    what a grading process imports before any student code (numpy, the runner)."""
    if profile == "calls":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its site (-I: not)
        import gradkit_runner  # noqa: F401  beside this file in the grading site
        import numpy  # noqa: F401
    else:
        _preload_kernel()
    if threading.active_count() != 1 or len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError("the zygote must not run threads: forking would copy a lock held")


def _preload_kernel() -> None:
    import importlib

    if sys.path and sys.path[0] in ("", os.getcwd()):  # as ipykernel_launcher does
        del sys.path[0]
    if not os.environ.get("MPLBACKEND"):  # what IPKernelApp sets before any cell runs
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the kernel imports it, or fails to, itself
    import matplotlib.font_manager  # noqa: F401  the font list, built once here


def serve(channel: int, profile: str) -> None:
    """The zygote: import, then fork one kernel or grading process per request until the
    grader hangs up."""
    _prctl(PR_SET_DUMPABLE, 0)  # nothing of the same user may trace or read it
    sock = socket.socket(fileno=channel)
    preload(profile)
    sock.sendall(json.dumps({"ready": os.getpid()}).encode())
    while True:
        readable, _, _ = select.select([sock], [], [], 1.0)
        _reap()
        if not readable:
            continue
        message, fds, _, _ = socket.recv_fds(sock, 1 << 16, 8, socket.MSG_CMSG_CLOEXEC)
        if not message:
            return  # the grader is gone
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _fork(request, fds, sock)  # never returns
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
        os.close(pidfd)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _fork(request: dict, fds: list[int], channel: socket.socket) -> None:
    """In the fork: build its sandbox, become nobody, run the kernel or the grading process.
    ``fds``: the log, the channel's two ends for a grading process, then cgroup.procs files.
    Never returns."""
    status = 1
    try:
        io = 3 if request["profile"] == "calls" else 1
        streams, groups = fds[:io], fds[io:]
        zygote = os.getppid()
        channel.close()
        os.setsid()
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote:
            os._exit(1)
        for group in groups:  # the kernel's own cgroups, made by the grader
            os.write(group, b"0")
            os.close(group)
        for kind, value in ((resource.RLIMIT_AS, request["memory_mb"] * MB),
                            (resource.RLIMIT_CPU, request["cpu_seconds"]),
                            (resource.RLIMIT_FSIZE, request["file_size_mb"] * MB)):  # fmt: skip
            resource.setrlimit(kind, (value, value))
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
        if not request["network"]:
            flags |= CLONE_NEWNET
        _check(_libc().unshare(flags), "unshare")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        parent_alive, held = os.pipe()  # held open by this process until it ends
        init = os.fork()
        if init:  # wait for the namespace's init; its end is the kernel's
            _, code = os.waitpid(init, 0)
            os._exit(os.waitstatus_to_exitcode(code) & 0xFF)
        os.close(held)
        _init(request, streams, parent_alive)
    except BaseException:  # noqa: BLE001  say why in the kernel's log, then end
        import traceback

        try:
            os.write(fds[0] if fds else 2, traceback.format_exc().encode())
        except OSError:
            pass
    os._exit(status)


def _init(request: dict, streams: list[int], parent_alive: int) -> None:
    """PID 1 of the namespace: its filesystem, then the kernel or grading process as nobody."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # Its folders: the kernel's (connection file, sockets), or the grading process's site
    # and the server's own (numpy, the runner); opened before anything covers them.
    binds = [(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW), path, writable)
             for path, writable in request["binds"]]  # fmt: skip
    folders = list(dict.fromkeys(os.path.dirname(path) for _, path, _ in binds))
    # What the server's sandbox binds under /tmp or the home (the kit's venv, when it lives
    # in /tmp) is bound again on top of the fresh ones, read-only as it was; the folders of
    # the other kernels or sites are not.
    kept = [(os.open(point, os.O_PATH | os.O_DIRECTORY), point, not ro)
            for point, ro in _mounts_under(("/tmp", HOME), hidden=folders)]  # fmt: skip
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    size = f"size={request['disk_mb'] * MB},mode=1777"
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
    _mount("tmpfs", HOME, "tmpfs", MS_NOSUID | MS_NODEV, size)

    def bind(fd: int, path: str, writable: bool) -> None:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        if not writable:
            flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV
            _mount(None, path, None, flags)
        os.close(fd)

    for mount in kept:
        bind(*mount)
    for folder in folders:  # after the kept mounts, which might hold one (TMPDIR in a venv)
        if os.path.isdir(folder):  # visible: cover the other kernels' folders or sites
            _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for mount in binds:
        bind(*mount)
    if not request["network"]:
        _loopback_up()
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)  # the effective, permitted and ambient capabilities go with root
    _no_inheritable_capabilities()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of user cleared it
    if select.select([parent_alive], [], [], 0)[0]:  # end of file: its parent died meanwhile
        os._exit(1)
    os.close(parent_alive)
    kernel = os.fork()
    if kernel:
        for fd in streams:
            os.close(fd)
        while True:  # reap whatever is orphaned in here; end with the kernel
            pid, code = os.wait()
            if pid == kernel:
                os._exit(os.waitstatus_to_exitcode(code) & 0xFF)
    try:  # nothing raised here goes back up into the fork's own handler: it ends here
        if request["profile"] == "calls":
            _run_calls(request, *streams)
        else:
            _run_kernel(request, *streams)
    except BaseException:  # noqa: BLE001  into its log (its stderr by now), then end
        import traceback

        traceback.print_exc()
    finally:
        os._exit(1)


def _run_calls(request: dict, log: int, channel_in: int, channel_out: int) -> None:
    """The grading process: autograder.runner, its channel on 0 and 1, as the cold one."""
    _become_own(channel_in, channel_out, log)
    sys.argv = [sys.modules["gradkit_runner"].__file__, request["site"]]
    sys.modules["gradkit_runner"].main()
    os._exit(0)


def _become_own(stdin: int, stdout: int, stderr: int) -> None:
    """What an exec would give: its own /proc files (a change of user made them root's),
    a session, standard streams and signal handlers of its own, the home as working folder.
    Only its namespace's processes could trace it, and they are its own."""
    _prctl(PR_SET_DUMPABLE, 1)
    os.setsid()
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
    for fd in {stdin, stdout, stderr} - {0, 1, 2}:
        os.close(fd)
    os.chdir(HOME)
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _mounts_under(tops: tuple[str, ...], hidden: list[str]) -> list[tuple[str, bool]]:
    """(mount point, read-only) of the outermost mounts strictly below ``tops``, leaving out
    ``hidden`` folders and what lies below them (from /proc/self/mountinfo)."""
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])
            found.append((point, "ro" in fields[5].split(",")))
    below = lambda path, top: path.startswith(top.rstrip("/") + "/")  # noqa: E731
    keep: list[tuple[str, bool]] = []
    for point, ro in sorted(dict(found).items(), key=lambda m: len(m[0])):
        if not any(below(point, top) for top in tops):
            continue
        if any(point == h or below(point, h) for h in hidden):
            continue
        if any(below(point, k) for k, _ in keep):
            continue  # it comes along with the mount it lies in (a recursive bind)
        keep.append((point, ro))
    return keep


def _no_inheritable_capabilities() -> None:
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable (two words each): none
    _check(_libc().capset(header, data), "capset")


def _loopback_up() -> None:
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sh14x", b"lo", 0)
        flags = struct.unpack("16sh14x", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sh14x", b"lo", flags | iff_up))


def _run_kernel(request: dict, log: int) -> None:
    """The student's kernel: ipykernel, in this already-imported interpreter."""
    _become_own(os.open(os.devnull, os.O_RDONLY), log, os.dup(log))
    # No two kernels draw the same numbers (tests/autograder/test_forkserver.py): random
    # reseeds itself in a fork (os.register_at_fork); numpy's global generator does not,
    # should a preloaded module have imported it
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    from ipykernel.kernelapp import IPKernelApp

    launcher = os.path.join(os.path.dirname(sys.modules["ipykernel"].__file__), os.pardir,
                            "ipykernel_launcher.py")  # fmt: skip
    sys.argv = [os.path.normpath(launcher), "-f", request["connection_file"]]
    IPKernelApp.launch_instance(argv=sys.argv[1:])
    os._exit(0)


# ---------------------------------------------------------------------------------------
# The grader's side


def available(sandbox: bool) -> bool:
    """Whether warm kernels can run here: sandboxed grading as root with bubblewrap."""
    from autograder.sandbox import bwrap

    return sandbox and os.getuid() == 0 and bwrap() is not None and hasattr(os, "pidfd_open")


class WarmProcess:
    """A forked kernel's handle, as jupyter_client uses a Popen: through a pidfd, which
    names the process across the zygote's PID namespace and never a recycled pid."""

    stdin = stdout = stderr = None

    def __init__(self, pidfd: int) -> None:
        self.pidfd = pidfd
        self.pid = _host_pid(pidfd)
        self.returncode: int | None = None
        self._killed = False

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = -signal.SIGKILL if self._killed else 1
            os.close(self.pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self.pidfd], [], [], timeout)[0]:
                import subprocess

                raise subprocess.TimeoutExpired("kernel", timeout)
        return self.poll()

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            self._killed |= sig == signal.SIGKILL
            signal.pidfd_send_signal(self.pidfd, sig)
            if sig == signal.SIGKILL:  # back once it is gone (its namespace follows it by
                # the parent-death signal): the provisioner's poll then need not sleep
                select.select([self.pidfd], [], [], 1.0)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGKILL)  # a kernel's sandbox is never asked to stop


def _host_pid(pidfd: int) -> int:
    with open(f"/proc/self/fdinfo/{pidfd}") as info:
        for line in info:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise OSError("no pid for the kernel")


class Zygote:
    """One worker's fork server: a sandboxed interpreter that forks warm kernels (profile
    "kernel") or grading processes (profile "calls", see autograder.callbox)."""

    def __init__(self, limits, jobs: str, log: str, profile: str = "kernel") -> None:
        import shutil
        import subprocess

        from autograder.grading_site import binds, site
        from autograder.sandbox import command, python_of

        self.limits, self.jobs, self.profile = limits, jobs, profile
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        theirs.set_inheritable(True)
        args = [str(theirs.fileno()), profile]
        self.home = None  # the calls server's own site
        if profile == "kernel":  # the kit is visible to a kernel; jobs: the kernels' folders
            cmd = command([sys.executable, "-m", "autograder.forkserver", *args], limits,
                          rw=(jobs,), log=log, zygote=True)  # fmt: skip
        else:  # as bare as a grading process: numpy and this file; jobs: the grading sites
            home = self.home = site(())
            shutil.copy(__file__, home / "gradkit_forkserver.py")
            os.chmod(home / "gradkit_forkserver.py", 0o644)
            cmd = command([python_of("calls"), "-I", "-S", str(home / "gradkit_forkserver.py"),
                           *args], limits, profile="calls", ro=(str(home), *binds(home), jobs),
                          log=log, zygote=True)  # fmt: skip
        self.proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        theirs.close()
        self.sock = ours
        self.sock.settimeout(60)
        try:
            ready = json.loads(self.sock.recv(1 << 12) or b"{}")
        except (OSError, ValueError):
            ready = {}
        if "ready" not in ready:
            self.close()
            raise RuntimeError(f"the warm {profile} server did not start (see {log})")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, binds: list[tuple[str, bool]], log: str, streams: tuple[int, ...] = (),
              **request) -> WarmProcess:  # fmt: skip
        """Fork one sandbox that sees the folders ``binds`` ((path, writable): a kernel's own
        folder; a grading process's site) and no other of the server's, in cgroups of its
        own (autograder.sandbox.kernel_groups), writing to ``log`` (made anew; a grader's
        file, never followed through a link). ``streams``: a grading process's channel, the
        two ends it keeps; the caller closes them."""
        from autograder.sandbox import kernel_groups

        limits = self.limits
        request.update(profile=self.profile, binds=binds, memory_mb=limits.memory_mb,
                       cpu_seconds=limits.cpu_seconds, file_size_mb=limits.file_size_mb,
                       disk_mb=limits.disk_mb, network=limits.network)  # fmt: skip
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        own = [os.open(log, flags, 0o600)]
        try:
            own += kernel_groups(limits)
            socket.send_fds(self.sock, [json.dumps(request).encode()],
                            [own[0], *streams, *own[1:]])  # fmt: skip
            _, got, _, _ = socket.recv_fds(self.sock, 1 << 12, 1, socket.MSG_CMSG_CLOEXEC)
        finally:
            for fd in own:
                os.close(fd)
        if not got:
            raise RuntimeError(f"the warm {self.profile} server did not fork")
        return WarmProcess(got[0])

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()


_shared: dict[tuple, Zygote] = {}
_failed: dict[tuple, str] = {}  # a server that would not start is not tried again


def shared(limits, profile: str = "kernel") -> Zygote:
    """This process's zygote for ``limits`` and ``profile`` (and the environment it passes
    on), started on first use and again should it have died; it ends with this process."""
    import atexit
    import shutil
    import tempfile

    from autograder.grading_site import sites
    from autograder.sandbox import PASSED_ENV

    key = (limits, profile, tuple((k, os.environ.get(k)) for k in PASSED_ENV))
    if key in _failed:
        raise RuntimeError(_failed[key])
    zygote = _shared.get(key)
    if zygote is None or not zygote.alive():
        if zygote is not None:
            zygote.close()
        if profile == "kernel":
            jobs = tempfile.mkdtemp(prefix="gradkit-warm-")
            atexit.register(shutil.rmtree, jobs, True)
        else:
            jobs = str(sites())
        logs = tempfile.mkdtemp(prefix="gradkit-warm-log-")
        atexit.register(shutil.rmtree, logs, True)
        log = os.path.join(logs, "zygote.log")
        try:
            zygote = _shared[key] = Zygote(limits, jobs, log, profile)
        except (OSError, RuntimeError) as exc:
            _failed[key] = f"{exc}: {_tail(log)}"
            raise RuntimeError(_failed[key]) from None
        atexit.register(zygote.close)
    return zygote


def _tail(log: str) -> str:
    try:
        with open(log, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
