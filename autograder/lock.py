"""One grading run at a time per course directory, whether gradkit's or plain nbgrader's.

``gradkit autograde`` holds the lock for its whole run; the notebook pipeline it writes into
the course's nbgrader_config.py (autograder.preprocessors.GradkitExecute) takes the same
lock for each notebook that plain ``nbgrader autograde`` or the formgrader grades. Whoever
comes second stops with a message that names the first, and nothing is written.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from autograder.course import STATE_DIR, CourseError

LOCK_FILE = "autograde.lock"


@contextmanager
def course_lock(course_dir: Path, holder: str):
    """Hold ``course_dir``'s grading lock; CourseError at once if another run holds it.

    ``holder`` says who holds it (e.g. "gradkit autograde 04-backprop"), for the message the
    other run prints.
    """
    state = Path(course_dir) / STATE_DIR
    try:
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644)  # fmt: skip
    except OSError as exc:
        raise CourseError(
            f"cannot write in {course_dir} ({exc.strerror}): grading keeps its lock and work "
            f"files in {state}. Grade in a course directory you can write to."
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another run"
            raise CourseError(
                f"{other} is grading in {course_dir}; wait for it to finish, then run again."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)
