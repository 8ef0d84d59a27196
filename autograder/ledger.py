"""What gradkit graded of an assignment, by content, and what went wrong: the run's ledger.

nbgrader tells a new submission from an old one by its timestamp.txt, which a submission
collected without one (zip_collect, a folder copied by hand) does not have: replaced, it
would never be graded again. So every grading is noted in
``COURSE/.gradkit/ledger-ASSIGNMENT.jsonl`` with a fingerprint of the files that came
through the door (autograder.ingest), and a submission whose fingerprint changed is graded
again. Each line also keeps what the TA should know of that grading (the problems of
autograder.outcomes) or why it failed, so that the full list of a class can be written
without opening 2,000 notebooks again.

One JSON object per line, appended as each submission is recorded (a killed run loses at
most the line of the submission being recorded, which is then judged by its timestamp, as
nbgrader would); the last line of a student wins; ``compact`` keeps one line per student.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.course import STATE_DIR


def fingerprint(files: dict[str, bytes]) -> str:
    """SHA-256 of a submission's ingested files (names and bytes), in name order."""
    digest = hashlib.sha256()
    for name, data in sorted(files.items()):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass
class Entry:
    """One student's line.

    Attributes
    ----------
    sha256 : fingerprint of the submission as last graded ("" if gradkit never graded it)
    problems : what went wrong in that grading (autograder.outcomes), for the TA
    failed : why the latest attempt failed ("" when it was graded)
    grader_error : the failure was the grader's (a worker, the gradebook), not the student's
    failed_sha256 : fingerprint of the submission that failed (the recorded grades still
        stand for ``sha256``: a failed regrade of the same files leaves them right)
    """

    sha256: str = ""
    problems: list[str] = field(default_factory=list)
    failed: str = ""
    grader_error: bool = False
    failed_sha256: str = ""


class Ledger:
    """The ledger of one assignment in one course directory."""

    def __init__(self, course_dir: Path, assignment: str) -> None:
        self.path = Path(course_dir) / STATE_DIR / f"ledger-{assignment}.jsonl"
        self.entries: dict[str, Entry] = {}
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                item = json.loads(line)
                student = item.pop("student")
                self.entries[student] = Entry(**item)
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # a line cut short by a kill

    def graded(self, student: str, sha256: str, problems: list[str]) -> None:
        self._note(student, Entry(sha256, list(problems)))

    def failed(self, student: str, reason: str, grader_error: bool, sha256: str) -> None:
        old = self.entries.get(student, Entry())
        self._note(student, Entry(old.sha256, old.problems, reason, grader_error, sha256))

    def _note(self, student: str, entry: Entry) -> None:
        self.entries[student] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"student": student, **asdict(entry)}, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line)

    def compact(self) -> None:
        """Rewrite the file with one line per student (atomically)."""
        if not self.entries:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            for student, entry in sorted(self.entries.items()):
                f.write(json.dumps({"student": student, **asdict(entry)}, ensure_ascii=False))
                f.write("\n")
        os.replace(tmp, self.path)
