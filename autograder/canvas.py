"""Grades for Canvas: a CSV that Canvas's gradebook import accepts.

Canvas's import reads the layout of its own gradebook export: the columns Student, ID, SIS
User ID, SIS Login ID and Section, then one column per assignment, and an optional
"Points Possible" row. Its students are matched by ID, SIS User ID or SIS Login ID. The TA's
roster is that export itself (Grades > Export in Canvas): a student of the course directory
is the roster row whose SIS Login ID, SIS User ID or ID equals the nbgrader student id, or
whose ``gradkit_id`` column (added by the TA where the ids differ) does. Without a roster the
nbgrader id goes in as the SIS Login ID.
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder import spreadsheet
from autograder.course import CourseError

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MATCHED_BY = ("gradkit_id", "SIS Login ID", "SIS User ID", "ID")


def write_canvas(report, path: Path, roster: Path | None = None) -> list[str]:
    """Write ``report``'s totals (after late penalties) as a Canvas import CSV at ``path``;
    return the students the roster has no row for (left out of the file)."""
    assignments = sorted({a for _, a in report.scores})
    students = sorted({s for s, _ in report.scores})
    rows = _roster(roster) if roster is not None else None
    unmatched = []
    with Path(path).open("w", newline="") as f:
        writer = spreadsheet.Writer(f)
        writer.writerow([*IDENTITY, *assignments])
        writer.writerow(["Points Possible", "", "", "", "",
                         *(f"{_most(report, a):g}" for a in assignments)])  # fmt: skip
        totals = {a: report.totals(a) for a in assignments}
        for student in students:
            if rows is None:
                identity = [student, "", "", student, ""]
            elif student in rows:
                identity = [rows[student].get(k, "") for k in IDENTITY]
            else:
                unmatched.append(student)
                continue
            points = [_points(totals[a].get(student)) for a in assignments]
            writer.writerow([*identity, *points])
    return unmatched


def _roster(path: Path) -> dict[str, dict[str, str]]:
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as f:
            table = list(csv.DictReader(f))
    except OSError as exc:
        raise CourseError(f"cannot read the roster {path} ({exc.strerror}).") from None
    if not table or not any(k in table[0] for k in MATCHED_BY):
        raise CourseError(
            f"{path} is not a Canvas gradebook export: it needs one of the columns "
            f"{', '.join(MATCHED_BY)} (export it from Canvas: Grades > Export)."
        )
    found = {}
    for row in table:
        if row.get("Student", "").strip() == "Points Possible":
            continue
        for key in MATCHED_BY:
            value = (row.get(key) or "").strip()
            if value:
                found.setdefault(value, row)
    return found


def _most(report, assignment: str) -> float:
    return sum(m for a, _, m in report.questions if a == assignment)


def _points(value) -> str:
    return "" if value is None else f"{round(value, 3):g}"
