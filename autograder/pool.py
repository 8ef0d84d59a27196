"""The worker processes of one autograde run: confined, stopped at once, leaving nothing.

Workers are spawned (a fresh interpreter each), each in cgroups of its own
(sandbox.confine_worker). Ctrl-C is the parent's alone: it kills the workers at once
(``stop``) rather than wait for their jobs, so that neither the interrupted run nor a
second Ctrl-C hangs in multiprocessing's exit handler. Everything a worker keeps in
temporary folders (kernels' sockets and logs, grading sites) goes in one folder of the
run's (``run_tmp``), removed with the run, and by the next run when this one was killed.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

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


def new_pool(workers: int, tmp: str) -> ProcessPoolExecutor:
    """``workers`` spawned worker processes whose temporary folders go in ``tmp``."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start, initargs=(tmp,))  # fmt: skip


def _start(tmp: str) -> None:
    """A worker's start: its cgroups, its temporary folder; Ctrl-C is the parent's."""
    confine_worker()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["TMPDIR"] = tempfile.tempdir = tmp


def stop(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes now (their sandboxes die with them: bubblewrap's
    --die-with-parent). Another Ctrl-C meanwhile waits until they are gone."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        # ProcessPoolExecutor has no public way to its processes: they are in _processes.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        for process in processes:
            process.kill()
        for process in processes:
            process.join(5.0)
        pool.shutdown(wait=False, cancel_futures=True)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
