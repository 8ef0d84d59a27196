"""What a TA needs to know after a run: each student's points, and what went wrong.

"Graded" is not "passed": a notebook can be graded and still have hit a timeout, killed
its kernel, taken a shortcut, or had its test cells tampered with (put back silently for
nbgrader's sake). Those are read from what the grader itself wrote into the autograded
notebook: the lines of each graded test cell (``cell.metadata["gradkit"]["lines"]``), the
"Stopped" note GradkitExecute leaves in the cell where the kernel stopped, and the cells
RestoreCells restored (``nb.metadata["gradkit"]["restored"]``). Students cannot plant
these: RestoreCells drops any "gradkit" metadata a submission brings along.

The printed table stays short for any class size (the first rows with problems, then
counts); ``write_csv`` writes every student, with problems or not, to one file.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder import spreadsheet
from autograder.ledger import Ledger

# (kind, phrase): a grader's line holding the phrase is a problem of that kind. The phrases
# are the grader's own (autograder.grading, callbox, preprocessors.execute).
KINDS = (
    ("timeout", "did not finish within"),
    ("timeout", "used up its"),
    ("kernel died", "kernel died"),
    ("process died", "grading process died"),
    ("shortcut", "Shortcuts earn nothing"),
    ("left out", "were left out"),
    ("left out", "hung or stopped the grading process"),
)
CLAUSE = re.compile(r"\. |; |, | \(")
FAILED, GRADER_ERROR = "FAILED", "FAILED (grader error)"
WIDTH = 110  # characters of problems shown per row of the printed table


@dataclass
class Outcome:
    """One student's row.

    Attributes
    ----------
    student : id, as in submitted/STUDENT/ASSIGNMENT
    status : "graded", "failed" or "not graded"
    points, max_points : points recorded in the gradebook (None: none recorded), of the most
    problems : "kind: detail" strings, e.g. "tampered: test_backward points 100 → 6"
    """

    student: str
    status: str
    points: float | None
    max_points: float
    problems: list[str] = field(default_factory=list)


def notebook_problems(nb: dict) -> list[str]:
    """The problems the grader wrote into one autograded notebook (JSON as loaded), in order."""
    found = []
    gradkit = nb.get("metadata", {}).get("gradkit", {})
    for entry in gradkit.get("restored", []) if isinstance(gradkit, dict) else []:
        found.append(f"{entry.get('kind', 'restored')}: {entry.get('text', '')}")
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {})
        info = meta.get("gradkit")
        for line in info.get("lines", []) if isinstance(info, dict) else []:
            found += _classify(str(line))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") == "Stopped":
                found += _classify(str(out.get("evalue", "")))
    return list(dict.fromkeys(found))


def _classify(line: str) -> list[str]:
    """["kind: the clause that says it"] for a grader's line, [] for an ordinary one."""
    for kind, phrase in KINDS:
        if phrase in line:
            text = line.strip().removeprefix("✗").strip().strip("()")
            if kind == "shortcut":  # the sentence before "Shortcuts earn nothing" says why
                said = text.split(". ")[0]
            else:
                said = next((c for c in CLAUSE.split(text) if phrase in c), text)
            said = said.split(" and were left out")[0]  # the kind says so
            return [f"{kind}: {said.strip().removeprefix('✗ ').rstrip('.')}"]
    return []


def kind(problem: str) -> str:
    """The kind of a problem: "timeout" of "timeout: cell 4 did not finish within 3 s"."""
    return problem.split(":", 1)[0]


def table(outcomes: list[Outcome], limit: int = 20) -> str:
    """Every row when there are at most ``limit``, else the first ``limit`` rows with
    problems; then how many students had each kind of problem. A row has one line per kind
    of problem, cut to WIDTH characters (the CSV has them all), save a failure's reason."""
    if not outcomes:
        return ""
    flagged = [o for o in outcomes if o.problems]
    shown = outcomes if len(outcomes) <= limit else flagged[:limit]
    lines = []
    if shown:
        width = max(10, *(len(o.student) for o in shown))
        lines.append(f"  {'student':<{width}} {'points':>9}  problems")
        for o in shown:
            head = f"  {o.student:<{width}} {_points(o):>9}  "
            for k, said in enumerate(_by_kind(o.problems) or ["–"]):
                if o.status != "failed" and len(said) > WIDTH:
                    said = said[: WIDTH - 1] + "…"
                lines.append((head if k == 0 else " " * len(head)) + said)
        if len(flagged) > len(shown):
            lines.append(f"  … and {len(flagged) - limit} more with problems")
    counts = Counter(k for o in flagged for k in dict.fromkeys(kind(p) for p in o.problems))
    kinds = ", ".join(f"{k} {n}" for k, n in counts.most_common())
    lines.append(f"  {len(outcomes) - len(flagged)} of {len(outcomes)} without problems"
                 + (f"; students with {kinds}" if kinds else ""))  # fmt: skip
    return "\n".join(lines)


def _by_kind(problems: list[str]) -> list[str]:
    """["tampered: a, b", "timeout: c"] of ["tampered: a", "timeout: c", "tampered: b"]."""
    groups: dict[str, list[str]] = {}
    for problem in problems:
        name, _, detail = problem.partition(": ")
        groups.setdefault(name, []).append(detail)
    return [f"{name}: {', '.join(details)}" for name, details in groups.items()]


def _points(o: Outcome) -> str:
    return "—" if o.points is None else f"{o.points:g}/{o.max_points:g}"


def write_csv(path: Path, outcomes: list[Outcome]) -> Path:
    """student, status, points, max_points, problems ("; "-separated): one row each."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        writer = spreadsheet.Writer(f)
        writer.writerow(["student", "status", "points", "max_points", "problems"])
        for o in outcomes:
            points = "" if o.points is None else f"{o.points:g}"
            writer.writerow([o.student, o.status, points, f"{o.max_points:g}",
                             "; ".join(o.problems)])  # fmt: skip
    os.replace(tmp, path)
    return path


def gradebook_points(url: str, assignment: str) -> tuple[dict[str, float], float]:
    """(student -> points recorded, the assignment's most points), from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(url) as gb:
        try:
            most = float(gb.find_assignment(assignment).max_score)
        except MissingEntry:
            return {}, 0.0
        return {d["student"]: float(d["score"]) for d in gb.submission_dicts(assignment)}, most


def class_outcomes(course_dir: Path, assignment: str, students: list[str], url: str,
                   failed: dict[str, str], grader_errors: set[str]) -> list[Outcome]:  # fmt: skip
    """One row per student: points from the gradebook at ``url``, problems from the ledger
    (autograder.ledger), or from the autograded notebooks of a submission graded before
    gradkit kept one; ``failed`` (student -> why) and ``grader_errors`` are this run's."""
    points, most = gradebook_points(url, assignment)
    ledger = Ledger(course_dir, assignment)
    rows = []
    for student in students:
        entry = ledger.entries.get(student)
        if entry is None:
            problems = stored_problems(Path(course_dir) / "autograded" / student / assignment)
        else:
            problems = list(entry.problems)
        why, grader = failed.get(student, ""), student in grader_errors
        if not why and entry and entry.failed and entry.failed_sha256 != entry.sha256:
            why, grader = entry.failed, entry.grader_error  # an earlier run's, still true
        if why:  # the problems of an earlier grading would only confuse
            problems = [f"{GRADER_ERROR if grader else FAILED}: {why}"]
        status = "failed" if why else ("graded" if student in points else "not graded")
        rows.append(Outcome(student, status, points.get(student), most, problems))
    return rows


def stored_problems(folder: Path) -> list[str]:
    """The problems in the autograded notebooks of ``folder`` (written by nbgrader)."""
    problems = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            problems += notebook_problems(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return problems
