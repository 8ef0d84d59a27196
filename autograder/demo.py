"""The demo class: a few students, each showing one thing the grader does, graded end to end.

Submissions are made from the release notebook with answers taken from solutions/, then
changed as each student's story says (a planted bug, a tampering cell, a crash).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.autograde import autograde, terminal_progress
from autograder.course import RELEASE, SOLUTIONS, assignments
from autograder.feedback import feedback
from autograder.report import diagnoses, write_report

ASSIGNMENT = "04-backprop"
DEMO_SECRET = "demo-class-secret-not-for-real-courses"

TAMPER_CELL = """\
import builtins, numpy, gradlib, autograder
builtins.abs = lambda v: 0.0                      # every |difference| is now 0
numpy.allclose = lambda *a, **k: True
numpy.linalg.norm = lambda *a, **k: 0.0
gradlib.check_gradients = lambda *a, **k: "correct"
autograder.check = lambda *a, **k: "all checks pass"
"""

ZERO_BACKWARD = """\
def L_model_backward(AL, Y, caches, lambd):
    grads = {}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        grads[f"dW{l}"], grads[f"db{l}"] = numpy.zeros_like(W), numpy.zeros_like(b)
    return grads
"""

REFERENCE_BACKWARD = """\
def L_model_backward(AL, Y, caches, lambd):
    import gradlib.nn
    params = {}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        params[f"W{l}"], params[f"b{l}"] = W, b
    return gradlib.nn.network_gradients(params, caches[0][0][0], Y, lambd=lambd)
"""


@dataclass(frozen=True)
class Student:
    """A demo submission: answers from solutions/, then ``edits`` to answer cells (by
    grade_id: (old, new) text replacements or a whole new source), ``extra`` cells
    inserted after the setup cell; ``expected`` = grade_id -> points."""

    name: str
    story: str
    expected: dict[str, float]
    edits: dict[str, list[tuple[str, str]] | str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    blank: bool = False


FULL = {"test_forward": 2.0, "test_cost": 2.0, "test_backward": 6.0, "test_buggy_blocks": 2.0,
        "test_backward_fixed": 6.0}  # fmt: skip
ZERO = dict.fromkeys(FULL, 0.0)

STUDENTS = (
    Student("ada", "correct everywhere", FULL),
    Student("blank", "submitted the release untouched", ZERO, blank=True),
    Student("noreg", "forgot the L2 term in dW: dW1, dW2, dW3 wrong",
            {**FULL, "test_backward": 3.0},
            edits={"L_model_backward": [("dZ @ A_prev.T / m + lambd / m * W",
                                         "dZ @ A_prev.T / m")]}),
    Student("dbsum", "db summed, not averaged: db1, db2, db3 wrong", {**FULL, "test_backward": 3.0},
            edits={"L_model_backward": [("np.sum(dZ, axis=1, keepdims=True) / m",
                                         "np.sum(dZ, axis=1, keepdims=True)")]}),
    Student("nomask", "ReLU mask missing in backward: W1, b1, W2, b2 wrong",
            {**FULL, "test_backward": 2.0},
            edits={"L_model_backward": [("dZ = dA * (Z > 0)", "dZ = dA")]}),
    Student("halfix", "names only wrong weights, fixed only dW2 of the colleague's bugs",
            {**FULL, "test_buggy_blocks": 1.0, "test_backward_fixed": 5.0},
            edits={"buggy_blocks": [("report.failing()}",
                                     'report.failing() if block.name.startswith("W")}')],
                   "backward_fixed": [("db1 = 1.0 / m", "db1 = 4.0 / m")]}),
    Student("tamper", "patches abs, numpy and the grader, returns zero gradients: fools "
            "only its own grad check (buggy_blocks)",
            {**FULL, "test_backward": 0.0, "test_buggy_blocks": 0.0},
            edits={"L_model_backward": ZERO_BACKWARD},
            extra=(TAMPER_CELL,)),
    Student("shortcut", "calls the reference backward instead of writing one",
            {**FULL, "test_backward": 0.0}, edits={"L_model_backward": REFERENCE_BACKWARD}),
    Student("crash", "kills the kernel with os._exit in a cell: that cell is left out where "
            "the functions are graded", FULL, extra=("import os\nos._exit(1)",)),
)  # fmt: skip

_SOLUTION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


def answers(assignment: str = ASSIGNMENT) -> dict[str, str]:
    """grade_id -> the solution source of each answer cell, without the markers."""
    nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: _SOLUTION.sub("", c.source)
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}  # fmt: skip


def submission(student: Student, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    """The notebook ``student`` hands in, built from the release."""
    nb = nbformat.read(RELEASE / assignment / f"{assignment}.ipynb", as_version=4)
    if student.blank:
        return nb
    solved = answers(assignment)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solved:
            cell.source = solved[grade_id]
        edit = student.edits.get(grade_id)
        if isinstance(edit, str):
            cell.source = edit
        for old, new in edit if isinstance(edit, list) else []:
            if old not in cell.source:
                raise ValueError(f"demo edit for {student.name}: {old!r} not in {grade_id}")
            cell.source = cell.source.replace(old, new)
    setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    for k, text in enumerate(student.extra, 1):
        nb.cells.insert(setup + k, nbformat.v4.new_code_cell(text))
    return nb


def build_class(course_dir: Path) -> dict[str, list[Student]]:
    """Write every demo submission into course_dir/submitted/: all the stories for
    04-backprop; for every other assignment, the solutions (ada) and the release (blank)."""
    classes = {}
    for assignment in assignments():
        students = list(STUDENTS) if assignment == ASSIGNMENT else [STUDENTS[0], STUDENTS[1]]
        for student in students:
            folder = course_dir / "submitted" / student.name / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(submission(student, assignment), folder / f"{assignment}.ipynb")
            (folder / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
        classes[assignment] = students
    return classes


def run_demo(course_dir=None, workers: int = 2, out=print) -> dict:
    """Build the demo class, autograde every assignment in parallel, write feedback and the
    report, print the tables.

    Returns (student, assignment) -> grade_id -> points, as recorded in the gradebook.
    """
    course_dir = Path(course_dir or tempfile.mkdtemp(prefix="gradkit-demo-")).resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GRADKIT_SECRET", DEMO_SECRET)
    out(f"Demo class in {course_dir}")
    classes = build_class(course_dir)
    pages = 0
    for assignment, students in classes.items():
        out(f"\n== {assignment}: {len(students)} submissions")
        summary = autograde(assignment, course_dir, workers=workers, force=True,
                            progress=terminal_progress)  # fmt: skip
        out(summary.text())
        pages += len(feedback(assignment, course_dir))
    report = write_report(course_dir)
    out(f"\nfeedback: {pages} HTML files in {course_dir / 'feedback'}")
    out(f"report: {report.csv}, {report.stats_csv}, {report.histogram}")
    out("\n" + overview(report, classes))
    backprop = {s: q for (s, a), q in report.scores.items() if a == ASSIGNMENT}
    out(
        f"\n{ASSIGNMENT}, question by question:\n"
        + table(backprop, diagnoses(course_dir, ASSIGNMENT))
    )
    return report.scores


def overview(report, classes: dict) -> str:
    """Student × assignment totals against what each submission deserves."""
    names = list(classes)
    most = {a: sum(m for aa, _, m in report.questions if aa == a) for a in names}
    head = f"{'student':<10}" + "".join(f"{a:>22}" for a in names)
    lines = [head, "-" * len(head)]
    for student in STUDENTS:
        cells = []
        for a in names:
            if student not in classes[a]:
                cells.append(f"{'':>22}")
                continue
            got = sum(report.scores.get((student.name, a), {}).values())
            cells.append(f"{got:>17g}/{most[a]:<4g}")
        lines.append(f"{student.name:<10}" + "".join(cells))
    return "\n".join(lines)


def table(scores: dict, notes: dict) -> str:
    """Student × question scores, with each student's first diagnosis line."""
    questions = list(FULL)
    short = [q.removeprefix("test_") for q in questions]
    head = f"{'student':<10}" + "".join(f"{s:>16}" for s in short) + f"{'total':>8}  expected"
    lines = [head, "-" * len(head)]
    for student in STUDENTS:
        got = scores.get(student.name, {})
        total = sum(got.get(q, 0.0) for q in questions)
        ok = all(abs(got.get(q, 0.0) - student.expected[q]) < 1e-9 for q in questions)
        cells = "".join(f"{got.get(q, 0.0):>11g}/{FULL[q]:<4g}" for q in questions)
        lines.append(f"{student.name:<10}{cells}{total:>8g}  {'✓' if ok else '✗ MISMATCH'}")
        lines.append(f"{'':<10}{student.story}")
        first = next((n for n in notes.get(student.name, {}).values() if n), "")
        if first:
            lines.append(f"{'':<10}{first[:150]}")
    return "\n".join(lines)
