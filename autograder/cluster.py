"""A Dask cluster as autograde's executor: one job per submission, on machines of its own.

A job carries bytes only (autograder.worker.Job), so a worker needs the kit installed and
bubblewrap, nothing of the TA's disk; it refuses to run student code without isolation, as
on one machine. Start one process per core with one thread each (`dask worker ADDRESS
--nthreads 1 --nworkers N`): nbgrader sets process-wide environment variables while it grades.
Dask runs a job again elsewhere when its worker dies; a lost scheduler ends the run
(``SchedulerLost``), and the next run grades what is missing.
"""

from __future__ import annotations

from autograder.course import CourseError


class SchedulerLost(CourseError):
    """The Dask scheduler went away during a run."""


def connect(address: str, timeout: float = 30.0):
    """A Dask client of the scheduler at ``address`` (e.g. tcp://host:8786)."""
    try:
        from distributed import Client
    except ImportError:
        raise CourseError(
            "--scheduler needs Dask's distributed: pip install 'gradcheck-kit[cluster]' "
            "(on the TA's machine and on every worker)."
        ) from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except OSError as exc:
        raise CourseError(f"no Dask scheduler answers at {address} ({exc}).") from None


def lost(client) -> bool:
    """Whether ``client`` has lost its scheduler."""
    return client is not None and client.status != "running"
