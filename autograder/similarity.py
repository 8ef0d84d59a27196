"""Near-copies for the TA to look at: submissions that share code with each other or with gradlib.

A student who pastes gradlib's reference source, or a classmate's notebook, has written
"backprop" as far as the grader can tell; the TA can see it. Each graded notebook's own code
(its answer cells and the cells the student added) is fingerprinted with copydetect (the
winnowing of MOSS), with the release's code as boilerplate, and compared with every other
submission and with gradlib's source. A pair is listed when the share of one side's
fingerprinted code found in the other reaches the threshold.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import spreadsheet
from autograder.course import RELEASE, check_assignment

GRADLIB = Path(__file__).resolve().parents[1] / "gradlib"
K, WINDOW = 25, 1  # k-gram length (tokens) and winnowing window, copydetect's defaults
THRESHOLD = 0.5
MIN_TOKENS = 100  # shared tokens below this are too few to mean anything (short answers)


@dataclass(frozen=True)
class Pair:
    """Two sources that share code: ``share`` of ``first``'s code is found in ``second``."""

    first: str
    second: str
    share: float
    shared_tokens: int


def notebook_code(nb: nbformat.NotebookNode) -> str:
    """The student's own code: answer cells and cells without nbgrader metadata."""
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or not meta.get("grade_id")):
            cells.append(cell.source)
    return "\n\n".join(cells)


def similar(assignment: str, course_dir, threshold: float = THRESHOLD) -> list[Pair]:
    """Pairs (student, student or gradlib/MODULE.py) sharing at least ``threshold``, most first."""
    from copydetect import CodeFingerprint, compare_files

    check_assignment(assignment)
    course_dir = Path(course_dir)

    def fingerprint(name: str, code: str, boilerplate=None):
        return CodeFingerprint(name + ".py", K, WINDOW, boilerplate, language="python",
                               fp=io.StringIO(code))  # fmt: skip

    release = nbformat.read(RELEASE / assignment / f"{assignment}.ipynb", as_version=4)
    starter = "\n\n".join(c.source for c in release.cells if c.cell_type == "code")
    boilerplate = list(fingerprint("release", starter).hashes)
    students = {}
    for path in sorted((course_dir / "autograded").glob(f"*/{assignment}/{assignment}.ipynb")):
        code = notebook_code(nbformat.read(path, as_version=4))
        students[path.parent.parent.name] = fingerprint(path.parent.parent.name, code, boilerplate)
    library = {f"gradlib/{p.name}": fingerprint(p.stem, p.read_text(), boilerplate)
               for p in sorted(GRADLIB.glob("*.py"))}  # fmt: skip
    pairs = []
    others = list(itertools.combinations(students, 2)) + list(itertools.product(students, library))
    for a, b in others:
        fa, fb = students[a], students.get(b) or library[b]
        if not fa.hashes or not fb.hashes:
            continue
        tokens, (share_a, share_b), _ = compare_files(fa, fb)
        share = share_a if b in library else max(share_a, share_b)
        if share >= threshold and tokens >= MIN_TOKENS:
            pairs.append(Pair(a, b, float(share), int(tokens)))
    return sorted(pairs, key=lambda p: (-p.share, p.first, p.second))


def write_similarity(
    assignment: str, course_dir, threshold: float = THRESHOLD
) -> tuple[Path, list[Pair]]:
    """course_dir/similarity-ASSIGNMENT.csv with the pairs of ``similar``; (path, pairs)."""
    pairs = similar(assignment, course_dir, threshold)
    path = Path(course_dir) / f"similarity-{assignment}.csv"
    with open(path, "w", newline="") as f:
        writer = spreadsheet.Writer(f)
        writer.writerow(["student", "shares_code_with", "share", "shared_tokens"])
        for p in pairs:
            writer.writerow([p.first, p.second, f"{p.share:.2f}", p.shared_tokens])
    return path, pairs
