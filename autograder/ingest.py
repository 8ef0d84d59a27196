"""The one door student files come through: regular files only, size-capped, read once.

A submission folder is read before anything else opens it: every entry is looked at
without following links, only regular files at its top level are read (opened with
O_NOFOLLOW | O_NONBLOCK and checked again on the open descriptor, so a link or FIFO swapped
in between is refused too), and only up to a size cap. What is kept is bytes in memory;
from then on the grader works on its own copy and never on the student's folder.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

FILE_CAP = 32 << 20  # bytes of one file
TOTAL_CAP = 64 << 20  # bytes of one submission
ENTRY_CAP = 200  # entries of one submission folder looked at
# Besides notebooks, what nbgrader reads of a submission: the time collect recorded, and
# the exchange's secret that release_feedback matches feedback with. Both are a line long.
KEPT = ("timestamp.txt", "submission_secret.txt")
KEPT_CAP = 4096  # bytes of one of them


@dataclass
class Intake:
    """What came through the door: file name -> bytes, and what was refused, with why.

    ``renamed`` (expected name -> the student's) and ``missing`` (why the expected notebook
    cannot be told apart) are set by ``expect``.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    missing: str = ""

    @property
    def notebooks(self) -> dict[str, bytes]:
        return {n: b for n, b in self.files.items() if n.endswith(".ipynb")}

    @property
    def notes(self) -> list[str]:
        """What the TA's table says of a renamed notebook, e.g.
        "renamed: graded 04-backprop (1).ipynb as 04-backprop.ipynb"."""
        return [f"renamed: graded {mine} as {wanted}" for wanted, mine in self.renamed.items()]


def ingest(folder: Path) -> Intake:
    """Read ``folder``'s regular notebook and timestamp files; name everything refused."""
    intake = Intake()
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        intake.refused.append(f"{folder.name}: not a readable folder ({exc.strerror})")
        return intake
    try:
        names = sorted(os.listdir(dir_fd))
        if len(names) > ENTRY_CAP:
            intake.refused.append(f"{len(names) - ENTRY_CAP} entries past the first {ENTRY_CAP}")
        total = 0
        for name in names[:ENTRY_CAP]:
            data, why = _read(dir_fd, name, TOTAL_CAP - total)
            if why:
                intake.refused.append(f"{name}: {why}")
            elif not (name.endswith(".ipynb") or name in KEPT):
                intake.refused.append(f"{name}: not part of the assignment (only the "
                                      "notebooks are graded)")  # fmt: skip
            elif name in KEPT and len(data) > KEPT_CAP:
                intake.refused.append(f"{name}: {len(data):,} bytes, more than nbgrader writes")
            else:
                intake.files[name] = data
                total += len(data)
    finally:
        os.close(dir_fd)
    return intake


def expected_notebooks(assignment: str) -> list[str]:
    """The notebook names nbgrader grades for ``assignment`` (those of its source)."""
    from autograder.course import SOLUTIONS

    return sorted(p.name for p in (SOLUTIONS / assignment).glob("*.ipynb"))


def expect(intake: Intake, assignment: str, expected: list[str] | None = None) -> Intake:
    """Match the submitted notebooks with the ones nbgrader expects (by name).

    A notebook renamed by its student (``04-backprop (1).ipynb``, ``copy.ipynb``) is graded
    as the expected one when that is unambiguous: one expected notebook missing, one other
    notebook submitted (``Intake.renamed``). When none of the expected notebooks is there
    and it cannot be told which one is meant, ``Intake.missing`` says which file was
    expected and which were found. ``expected`` defaults to the assignment's source.
    """
    expected = expected_notebooks(assignment) if expected is None else expected
    submitted = sorted(intake.notebooks)
    absent = [name for name in expected if name not in intake.files]
    others = [name for name in submitted if name not in expected]
    if not absent:
        return intake
    if len(absent) == 1 and len(others) == 1:
        intake.files[absent[0]] = intake.files.pop(others[0])
        intake.renamed[absent[0]] = others[0]
    elif len(absent) == len(expected):  # nothing to grade at all
        wanted = " and ".join(absent)
        found = ", ".join(others) if others else "no notebook"
        refused = f" (refused: {'; '.join(intake.refused)})" if intake.refused else ""
        todo = (f"rename the one to grade to {absent[0]} and resubmit" if others
                else f"resubmit with {wanted}")  # fmt: skip
        intake.missing = f"expected {wanted}, found {found}{refused}: {todo}."
    return intake


def _read(dir_fd: int, name: str, room: int) -> tuple[bytes, str]:
    """(bytes, "") of a regular file, or (b"", why it was refused)."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        return b"", f"unreadable ({exc.strerror})"
    kind = _kind(info.st_mode)
    if kind:
        return b"", f"{kind}; only regular files are accepted"
    if info.st_nlink > 1:  # the same file as another name, maybe another student's
        return b"", "a hard link; only regular files of the submission's own are accepted"
    if info.st_size > min(FILE_CAP, room):
        cap = FILE_CAP if info.st_size > FILE_CAP else room
        return b"", f"{info.st_size:,} bytes, over the {cap:,}-byte cap"
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        return b"", f"unreadable ({exc.strerror})"
    try:
        kind = _kind(os.fstat(fd).st_mode)  # what was opened, not what was listed
        if kind:
            return b"", f"{kind}; only regular files are accepted"
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > min(FILE_CAP, room):
                return b"", f"grew past the {min(FILE_CAP, room):,}-byte cap while read"
            chunks.append(chunk)
        return b"".join(chunks), ""
    except OSError as exc:
        return b"", f"unreadable ({exc.strerror})"
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    """'' for a regular file, else what it is."""
    if stat.S_ISREG(mode):
        return ""
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):  # fmt: skip
        if test(mode):
            return what
    return "a special file"


def write(intake: Intake, folder: Path) -> None:
    """Lay the kept files out in a new folder of the grader's."""
    folder.mkdir(parents=True)
    for name, data in intake.files.items():
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
