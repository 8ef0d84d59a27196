"""Warm kernels (autograder.forkserver): as sandboxed as a cold kernel, and apart.

Each test runs real notebooks through GradkitExecute with warm kernels on, as a gradkit
worker does, and reads what the kernels printed about themselves.
"""

import ast
import asyncio
import functools
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from autograder import forkserver
from autograder.preprocessors.execute import GradkitExecute
from autograder.sandbox import Limits

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not forkserver.available(True), reason="warm kernels need root + bwrap"),
]

SELF = """
import os, resource, socket
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
fds = sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
             if os.path.exists(f"/proc/self/fd/{fd}"))
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    net = "reached"
except OSError:
    net = "blocked"
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
spawned = []
try:
    for _ in range(100):
        pid = os.fork()
        if pid == 0:
            import time
            time.sleep(30)
            os._exit(0)
        spawned.append(pid)
except OSError:
    pass
for pid in spawned:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print("SELF", {
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "caps": {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "no_new_privs": status["NoNewPrivs"].strip(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "zygote": b"autograder.forkserver" in open("/proc/1/cmdline", "rb").read(),
    "env": sorted(os.environ), "cwd": os.getcwd(), "tmp": os.listdir("/tmp"),
    "home": sorted(os.listdir(os.path.expanduser("~"))),
    "links": sorted(set(os.path.dirname(f) for f in fds if f.startswith("/"))),
    "net": net, "interfaces": [name for _, name in socket.if_nameindex()],
    "as": resource.getrlimit(resource.RLIMIT_AS)[0],
    "cpu": resource.getrlimit(resource.RLIMIT_CPU)[0], "processes": len(spawned),
    "sees": [p for p in (%r, %r) if os.path.exists(p)],
    "own environ": b"HOME=/home/student" in open("/proc/self/environ", "rb").read(),
})
"""


def run(tmp_path: Path, *cells: str, limits: Limits | None = None, timeout: int = 60,
        warm: bool = True) -> list[str]:  # fmt: skip
    """The text each cell printed, its kernel forked by this process's zygote (or started
    cold: ``warm`` False)."""
    limits = limits or Limits()
    nb = new_notebook(cells=[new_code_cell(source) for source in cells])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ex = GradkitExecute(warm_kernels=warm, course_lock=False, timeout=timeout,
                        memory_limit_mb=limits.memory_mb, process_limit=limits.processes,
                        cpu_limit_seconds=limits.cpu_seconds)  # fmt: skip
    done, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return ["".join(o.get("text", "") or o.get("evalue", "") for o in cell.outputs)
            for cell in done.cells]  # fmt: skip


def said(text: str, tag: str):
    (line,) = [line for line in text.splitlines() if line.startswith(tag + " ")]
    return ast.literal_eval(line.removeprefix(tag + " "))


def test_a_warm_kernel_is_sandboxed_as_a_cold_one_is(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADKIT_SECRET", "do-not-leak-me")
    course = tmp_path / "gradebook.db"
    course.write_text("grades")
    solutions = str(Path(__file__).parents[2] / "solutions")
    limits = Limits(memory_mb=1500, cpu_seconds=77, processes=20)
    (out,) = run(tmp_path, SELF % (str(course), solutions), limits=limits)
    me = said(out, "SELF")
    assert me["zygote"], "the kernel was not forked by the fork server"
    assert (me["uid"], me["gid"], me["groups"]) == (65534, 65534, [])
    assert set(me["caps"].values()) == {"0000000000000000"} and me["no_new_privs"] == "1"
    assert me["pids"] == [1, 2]  # its init and itself: no zygote, no other kernel
    assert "GRADKIT_SECRET" not in me["env"] and me["sees"] == []
    assert me["own environ"]  # its own /proc files are its own, as in a cold kernel
    assert me["cwd"] == "/home/student" and me["net"] == "blocked" and me["interfaces"] == ["lo"]
    assert (me["as"], me["cpu"]) == (1500 << 20, 77)
    assert me["processes"] < 20  # its own pids cgroup
    # its descriptors: its own log, its history, its home; nothing of the zygote or the grader
    assert all(link.startswith(("/dev", "/tmp/gradkit-log-", "/home/student")) for link in
               me["links"]), me["links"]  # fmt: skip


PLANT = """
import os, sys, threading, time, numpy, matplotlib
numpy.LEFT = matplotlib.LEFT = 1
os.environ["LEFT"] = "1"
for path in ("/tmp/left", os.path.expanduser("~/left"), "left"):
    open(path, "w").write("x")
open(os.path.join(os.path.dirname(sys.argv[-1]), "left"), "w").write("x")  # by its sockets
def keep_writing():
    while True:
        open("/tmp/left-by-thread", "w").write("x")
        time.sleep(0.05)
threading.Thread(target=keep_writing, name="left-thread", daemon=True).start()
if os.fork() == 0:  # a daemon, out of the kernel's reach
    os.setsid()
    if os.fork() == 0:
        open("/tmp/left-by-daemon", "w").write("x")
        os.execv("/bin/sleep", ["sleep", "%s"])
    os._exit(0)
time.sleep(0.3)
print("PLANTED", sorted(os.listdir("/tmp")))
"""

LOOK = """
import os, sys, numpy, matplotlib, threading
private = os.path.dirname(sys.argv[-1])
print("SEEN", [what for what, seen in [
    ("numpy", hasattr(numpy, "LEFT")), ("matplotlib", hasattr(matplotlib, "LEFT")),
    ("environment", "LEFT" in os.environ),
    ("thread", any(t.name == "left-thread" for t in threading.enumerate())),
    ("processes", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()) != [1, 2]),
    *[(path, os.path.exists(path)) for path in ("/tmp/left", os.path.expanduser("~/left"),
      "left", os.path.join(private, "left"), "/tmp/left-by-thread", "/tmp/left-by-daemon")],
    ("other kernels' folders", os.listdir(os.path.dirname(private)) != [os.path.basename(private)]),
] if seen])
"""


def test_the_next_kernel_from_the_same_zygote_sees_nothing_of_the_last(tmp_path):
    marker = f"300.{os.getpid()}1"
    planted, looked = run(tmp_path, PLANT % marker, LOOK)
    assert "left-by-daemon" in planted and "left-by-thread" in planted
    # the control: the look finds what its own kernel left
    assert {"numpy", "matplotlib", "environment", "thread", "processes", "/tmp/left",
            "/tmp/left-by-daemon"} <= set(said(looked, "SEEN"))  # fmt: skip
    zygote = next(iter(forkserver._shared.values()))
    (after,) = run(tmp_path, LOOK)
    assert said(after, "SEEN") == []  # the next kernel finds none of it
    assert next(iter(forkserver._shared.values())) is zygote and zygote.alive()
    assert not _processes_with(marker)  # the daemon ended with its kernel


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if _alive(pid)]


KILL_ALL = """
import os, signal, time
os.kill(-1, signal.SIGKILL)  # every process this kernel may signal, but itself
time.sleep(0.5)
print("ALIVE")
"""


def test_a_kernel_that_kills_all_it_can_leaves_the_zygote_serving(tmp_path):
    (out,) = run(tmp_path, KILL_ALL)
    zygote = next(iter(forkserver._shared.values()))
    assert zygote.alive()
    (after,) = run(tmp_path, "print('NEXT', 1)")
    assert said(after, "NEXT") == 1 and next(iter(forkserver._shared.values())) is zygote


WORKER = """
import os, sys, time
from autograder import forkserver
from autograder.sandbox import Limits
zygote = forkserver.shared(Limits())
private = os.path.join(zygote.jobs, "k")
os.mkdir(private)
os.chown(private, 65534, 65534)
kernel = zygote.spawn([(private, True)], os.path.join(sys.argv[1], "log"),
                      connection_file=os.path.join(private, "missing.json"))
print(zygote.proc.pid, kernel.pid, flush=True)
time.sleep(300)
"""


def test_the_zygote_and_its_kernels_die_with_the_worker(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        launcher, kernel = map(int, worker.stdout.readline().split())
        assert _alive(launcher) and _alive(kernel)
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 10
    while (_alive(launcher) or _alive(kernel)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(launcher) and not _alive(kernel)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_a_warm_kernel_stopped_by_the_grader_ends_with_everything_in_it(tmp_path):
    """What the grader does to a cell past its time (GradkitExecute._stop): the kernel, its
    namespace's init and the daemon it started all end."""
    marker = f"300.{os.getpid()}2"
    (out,) = run(tmp_path, PLANT % marker + "\ntime.sleep(100)", timeout=5)
    assert "did not finish within" in out
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _processes_with(marker)


@pytest.fixture(autouse=True)
def _agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.mark.parametrize("backend", [None, "Agg"])
def test_warm_and_cold_kernels_show_a_student_the_same_notebook(tmp_path, monkeypatch, backend):
    """The release notebook of 04, with its figures: without MPLBACKEND (as a TA runs it)
    ipykernel's inline backend shows them, and it must hook into the warm kernel too."""
    if backend is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", backend)
    release = Path(__file__).parents[2] / "course" / "04-backprop" / "04-backprop.ipynb"
    nb = nbformat.read(release, as_version=4)
    outputs = {}
    for warm in (True, False):
        ex = GradkitExecute(warm_kernels=warm, course_lock=False, timeout=60)
        done, _ = ex.preprocess(nbformat.from_dict(nb), {"metadata": {"path": str(tmp_path)}})
        outputs[warm] = [[(o.output_type, o.get("name"), sorted(o.get("data", {})),
                           o.get("ename")) for o in c.get("outputs", [])]
                         for c in done.cells if c.cell_type == "code"]  # fmt: skip
    assert outputs[True] == outputs[False]
    figures = sum("image/png" in kinds for cell in outputs[True] for _, _, kinds, _ in cell)
    assert figures >= (2 if backend is None else 0)


def test_forks_of_one_zygote_do_not_share_random_draws(tmp_path):
    """An unseeded draw differs from kernel to kernel, as it does between cold kernels."""
    cell = "import numpy, random; print('DRAW', (numpy.random.rand(), random.random()))"
    draws = [said(run(tmp_path, cell)[0], "DRAW") for _ in range(2)]
    assert draws[0][0] != draws[1][0] and draws[0][1] != draws[1][1]


CALLS_LOOK = """
import os, sys
def look():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    site = sys.path[0]
    return repr({
        "uid": os.getuid(), "no_new_privs": status["NoNewPrivs"].strip(),
        "caps": sorted({status[k].strip() for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb")}),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "sites": sorted(os.listdir(os.path.dirname(site))),
        "gradlib": sorted(os.listdir(os.path.join(site, "gradlib"))),
        "numpy": float(__import__("numpy").linalg.norm([3.0, 4.0])),
        "tmp": sorted(os.listdir("/tmp")),
        "zygote": "gradkit_forkserver" in open("/proc/1/cmdline").read(),
    })
open(f"/tmp/left-{os.urandom(4).hex()}", "w").write("x")
"""


def test_a_warm_grading_process_sees_its_own_site_alone(tmp_path):
    """A grading process forked by the calls server: sandboxed as a cold one, its site the
    only one it sees, so the names another task allows (here the reference forward) are
    absent; a second process forked next finds nothing of the first."""
    from autograder.callbox import CallBox
    from autograder.grading_site import site

    site(("gradlib.nn.forward",))  # another task's site, with more of gradlib in it
    zygote = forkserver.shared(Limits(), "calls")
    looks = []
    for _ in range(2):
        box = CallBox([CALLS_LOOK], ("gradlib.nn.network_cost",), Limits(), warm=zygote)
        try:
            answer, _ = box.call("_out = look()", ("look",), {}, timeout=30.0)
        finally:
            box.close()
        assert answer.ok, answer.error
        looks.append(ast.literal_eval(answer.value))
    first, second = looks
    assert first["zygote"] and (first["uid"], first["no_new_privs"]) == (65534, "1")
    assert first["caps"] == ["0000000000000000"] and first["pids"] == [1, 2]
    assert first["numpy"] == 5.0  # numpy, imported by the server, works (lazy parts too)
    own = os.path.basename(str(site(("gradlib.nn.network_cost",))))
    assert own in first["sites"] and os.path.basename(str(site(("gradlib.nn.forward",)))) \
        not in first["sites"]  # fmt: skip
    assert "nn.py" in first["gradlib"]
    # its own file in /tmp, none of the first one's
    assert [len([f for f in look["tmp"] if f.startswith("left-")]) for look in looks] == [1, 1]


@pytest.mark.parametrize("warm", [True, False])
def test_a_kernel_that_dies_in_a_cell_is_seen_dead_at_once(tmp_path, monkeypatch, warm):
    # nbclient's own watch (it asks once a second) made blind: what sees the death now is
    # GradkitExecute's, by the kernel's pidfd, or else the cell's timeout, 30 s on
    async def blind(self):
        await asyncio.Event().wait()

    monkeypatch.setattr(NotebookClient, "_async_poll_kernel_alive", blind)
    start = time.monotonic()
    outputs = run(tmp_path, "import os\nos._exit(1)", "print('after')", timeout=30, warm=warm)
    assert "the kernel died in cell 0" in outputs[0] and outputs[1] == ""
    assert time.monotonic() - start < 15  # long before the cell's timeout


def test_a_warm_grading_process_killed_by_a_cell_is_forked_again(tmp_path):
    from autograder.callbox import CallBox

    zygote = forkserver.shared(Limits(), "calls")
    box = CallBox(["import os\nos._exit(3)", "def f():\n    return 4.0\n"], (), Limits(),
                  warm=zygote)  # fmt: skip
    try:
        answer, _ = box.call("_out = f()", ("f",), {}, timeout=30.0)
    finally:
        box.close()
    assert answer.ok and answer.value == 4.0 and box.skipped == {0: "ended the process"}
    assert zygote.alive()


def test_no_sibling_shows_when_the_grader_works_outside_tmp(tmp_path, monkeypatch):
    """With TMPDIR elsewhere than /tmp (a cluster's scratch), the kernels' folders and the
    grading sites are not under the fork's fresh /tmp: each fork covers its siblings."""
    import shutil
    import tempfile

    from autograder import callbox, grading_site
    from autograder.callbox import CallBox

    base = tempfile.mkdtemp(prefix="gradkit-test-", dir="/var/tmp")
    monkeypatch.setattr(tempfile, "tempdir", base)
    monkeypatch.setattr(grading_site, "sites", functools.cache(grading_site.sites.__wrapped__))
    monkeypatch.setattr(grading_site, "site", functools.cache(grading_site.site.__wrapped__))
    monkeypatch.setattr(callbox, "site", grading_site.site)
    limits = Limits(disk_mb=200)  # servers of their own, started here
    try:
        kernels = forkserver.shared(limits, "kernel")
        os.mkdir(os.path.join(kernels.jobs, "gradkit-kernel-sibling"))
        (looked,) = run(tmp_path, LOOK, limits=limits)
        assert kernels.jobs.startswith(base) and said(looked, "SEEN") == []
        grading_site.site(("gradlib.nn.forward",))
        box = CallBox([CALLS_LOOK], ("gradlib.nn.network_cost",), limits,
                      warm=forkserver.shared(limits, "calls"))  # fmt: skip
        try:
            answer, _ = box.call("_out = look()", ("look",), {}, timeout=30.0)
        finally:
            box.close()
        seen = ast.literal_eval(answer.value)["sites"]
        own = grading_site.site(("gradlib.nn.network_cost",))
        assert str(own).startswith(base) and os.path.basename(str(own)) in seen
        assert os.path.basename(str(grading_site.site(("gradlib.nn.forward",)))) not in seen
    finally:
        for key in [k for k in forkserver._shared if k[0] == limits]:
            forkserver._shared.pop(key).close()
        shutil.rmtree(base, ignore_errors=True)


def test_a_server_that_died_is_replaced_and_a_failed_fork_starts_the_kernel_cold(
    tmp_path, monkeypatch
):
    (out,) = run(tmp_path, "print('ONE', 1)")
    zygote = next(z for k, z in forkserver._shared.items() if k[1] == "kernel" and z.alive())
    os.killpg(zygote.proc.pid, 9)
    zygote.proc.wait()
    (out,) = run(tmp_path, "print('TWO', b'forkserver' in open('/proc/1/cmdline', 'rb').read())")
    assert said(out, "TWO") is True  # forked by a new server
    assert any(k[1] == "kernel" and z.alive() and z is not zygote
               for k, z in forkserver._shared.items())  # fmt: skip

    def refuse(*args, **kwargs):
        raise OSError("the server is gone")

    monkeypatch.setattr(forkserver.Zygote, "spawn", refuse)
    (out,) = run(tmp_path, "print('THREE', b'forkserver' in open('/proc/1/cmdline', 'rb').read())")
    assert said(out, "THREE") is False  # a cold kernel: bwrap is its namespace's init


UNCOVER = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
read, write = os.pipe()
if os.fork() == 0:  # single-threaded, as a user namespace needs
    found = [libc.unshare(0x10000000 | 0x00020000)]  # a user and a mount namespace: root there
    for target in (b"/tmp", b"/home/student", b"/proc"):
        found.append(libc.umount2(target, 2))  # detach what covers the server's mounts
    found.append(sorted(os.listdir("/tmp")))
    os.write(write, repr(found).encode())
    os._exit(0)
os.close(write)
os.wait()
print("UNCOVER", os.read(read, 1 << 16).decode())
"""


def test_root_in_a_user_namespace_cannot_uncover_the_servers_mounts(tmp_path):
    """What covers the server's /tmp (every kernel's folder), home and /proc in a fork stays:
    mounts that came from a more privileged namespace are locked together."""
    (out,) = run(tmp_path, UNCOVER)
    made, *detached, listing = said(out, "UNCOVER")
    assert made == 0  # the namespace is made: the attack is real
    assert detached == [-1, -1, -1]
    # /tmp holds its own folder's path alone, and the kit's own read-only binds when the kit
    # lives under /tmp (a checkout there, its .venv, autograder and gradlib: nothing else)
    kit = {Path(p).parts[2] for p in (sys.prefix, forkserver.__file__) if Path(p).parts[1] == "tmp"}
    (own,) = [name for name in listing if name not in kit]
    assert own.startswith("gradkit-warm-")
