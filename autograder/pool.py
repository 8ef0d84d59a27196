"""The worker processes of one autograde run: confined, stopped at once, leaving nothing.

Workers are forked by multiprocessing's fork server: a fresh interpreter, started once per
grading process, that imports what a worker's jobs need (PRELOAD: nbgrader's converters above
all) and forks each worker from that state, so that the imports are done once, not once per
worker, and while the caller does its own (``start_server``). No worker is forked from the
caller, nor from another worker; each gets the caller's environment and working directory
as they are when its pool is made, and cgroups of its own (sandbox.confine_worker).

Ctrl-C is the parent's: it kills the workers and everything they started at once (``stop``)
rather than wait for their jobs, so that neither the interrupted run nor a second Ctrl-C
hangs in multiprocessing's exit handler; a run that is done stops its workers the same way.
Everything a worker keeps in temporary folders (kernels' sockets and logs, grading sites)
goes in one folder of the run's (``run_tmp``), removed with the run, and by the next run when
this one was killed.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import forkserver
from pathlib import Path

from autograder.runner import descendants
from autograder.sandbox import confine_worker

RUN_TMP = "gradkit-run-"  # prefix of a run's temporary folder
SHORT_TMP = 48  # characters of a TMPDIR that leave room for a kernel's socket paths
POINTER = "tmp"  # file in the run's work folder naming its temporary folder


def run_tmp(work: Path) -> str:
    """A temporary folder for this run's workers, noted in ``work`` (see ``remove_run_tmp``).

    Kernels' sockets live in it (GradkitExecute), and a socket's path must fit in 107 bytes:
    a TMPDIR longer than SHORT_TMP characters gives way to /tmp.
    """
    base = tempfile.gettempdir()
    if len(base) > SHORT_TMP and os.access("/tmp", os.W_OK):
        base = "/tmp"
    tmp = tempfile.mkdtemp(prefix=RUN_TMP, dir=base)
    (work / POINTER).write_text(tmp)
    return tmp


def remove_run_tmp(work: Path) -> None:
    """Remove the workers' temporary folder of the run that used ``work``, if any."""
    try:
        tmp = Path((work / POINTER).read_text().strip())
    except OSError:
        return
    if tmp.is_absolute() and tmp.name.startswith(RUN_TMP) and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)


# What a worker's jobs import (autograder.worker): 1.5 s of CPU per interpreter, done once by
# the fork server. A module that fails to import is left to the worker, which reports it.
PRELOAD = ["autograder", "autograder.worker", "autograder.preprocessors", "nbgrader.converters",
           "nbgrader.api", "nbclient", "jupyter_client", "numpy"]  # fmt: skip


def start_server() -> None:
    """Start the workers' fork server now: its imports then overlap with the caller's own
    (the gradkit command imports nbgrader for the gradebook meanwhile; before, the workers
    started importing only once it had, with one of two cores idle for 1.4 s)."""
    _context()


def new_pool(workers: int, tmp: str) -> ProcessPoolExecutor:
    """``workers`` worker processes, forked by the fork server, whose temporary folders go in
    ``tmp``; they get this process's environment and working directory as they are now."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=_context(), initializer=_start,
                               initargs=(tmp, dict(os.environ)))  # fmt: skip


def _context():
    """The fork server's context, the server running; spawn's (a fresh interpreter per
    worker) when it cannot run: its socket lives in the temporary folder, and a TMPDIR too
    long for a socket's path (107 bytes) makes it fail to start."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # read when the server starts, not after
    try:
        forkserver.ensure_running()
    except OSError:
        return multiprocessing.get_context("spawn")
    return context


def _start(tmp: str, environ: dict[str, str]) -> None:
    """A worker's start: the caller's environment (the fork server has the one of the moment
    it started; multiprocessing passes the working folder itself), its cgroups, its
    temporary folder; Ctrl-C is the parent's to handle (``stop`` ends the worker and all it
    started, which it could not do were the worker gone first). A handler that does
    nothing, not SIG_IGN, so that the processes a worker starts keep SIGINT as it was."""
    os.environ.clear()
    os.environ.update(environ)
    confine_worker()
    signal.signal(signal.SIGINT, _ignore)
    os.environ["TMPDIR"] = tempfile.tempdir = tmp


def _ignore(signum, frame) -> None:
    pass


def stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now, and every process they started (a kernel's
    launcher halfway through its start, a kernel run without the sandbox); another Ctrl-C
    meanwhile is ignored."""
    with ignored_interrupts():
        # ProcessPoolExecutor has no public way to its processes: they are in _processes.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        workers = [p.pid for p in processes if p.pid is not None]
        _signal(workers, signal.SIGSTOP)  # frozen, they start nothing more
        _signal([*workers, *descendants(workers)], signal.SIGKILL)
        for process in processes:
            process.join(5.0)
        pool.shutdown(wait=False, cancel_futures=True)


def _signal(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass  # gone already


@contextmanager
def ignored_interrupts():
    """Ctrl-C does nothing inside the block: for short cleanups that must not be cut.

    SIGINT is ignored process-wide, not blocked in this thread: another thread would take a
    blocked SIGINT, and the main thread would still raise KeyboardInterrupt. Only the main
    thread may do so; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        if before is not None:  # None: a handler set outside Python, which we cannot restore
            signal.signal(signal.SIGINT, before)


@contextmanager
def deferred_interrupts():
    """Ctrl-C inside the block takes effect at its end (KeyboardInterrupt then): for work
    that should be done whole or not at all, and is short (recording one submission)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGINT, before)
    if pressed:
        raise KeyboardInterrupt
