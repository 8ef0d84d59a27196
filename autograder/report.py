"""Grades out of the gradebook: grades.csv, per-question statistics, a score histogram."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder import spreadsheet
from autograder.course import course_settings, nbgrader_environment


@dataclass
class Report:
    """Scores by (student, assignment) and question, and where they were written."""

    questions: list[tuple[str, str, float]]  # (assignment, grade_id, max points)
    scores: dict[tuple[str, str], dict[str, float]]  # (student, assignment) -> grade_id -> score
    penalties: dict[tuple[str, str], float] = field(default_factory=dict)  # late, nbgrader's
    csv: Path | None = None
    totals_csv: Path | None = None
    stats_csv: Path | None = None
    histogram: Path | None = None

    def totals(self, assignment: str) -> dict[str, float]:
        """student -> points for ``assignment``, less the late penalty nbgrader assigned."""
        return {s: max(0.0, sum(q.values()) - self.penalties.get((s, a), 0.0))
                for (s, a), q in self.scores.items() if a == assignment}  # fmt: skip

    def stats(self) -> list[tuple[str, str, float, float, float, float]]:
        """(assignment, question, max, mean, min, max scored) per question."""
        rows = []
        for assignment, question, most in self.questions:
            got = [q[question] for (s, a), q in self.scores.items() if a == assignment]
            if got:
                rows.append((assignment, question, most, round(float(np.mean(got)), 3),
                             round(min(got), 3), round(max(got), 3)))  # fmt: skip
        return rows

    def text(self) -> str:
        lines = [f"{'assignment':<14}{'question':<22}{'points':>7}{'mean':>7}{'min':>6}{'max':>6}"]
        for assignment, question, most, mean, low, high in self.stats():
            lines.append(f"{assignment:<14}{question:<22}{most:>7g}{mean:>7.2f}{low:>6g}{high:>6g}")
        return "\n".join(lines)


def collect(db_url: str) -> Report:
    """Read every autograded score from the gradebook."""
    from nbgrader.api import Gradebook

    nbgrader_environment()
    questions, scores, penalties = [], {}, {}
    with Gradebook(db_url) as gb:
        for assignment in gb.assignments:
            for notebook in assignment.notebooks:
                questions += [(assignment.name, c.name, float(c.max_score))
                              for c in notebook.grade_cells]  # fmt: skip
            for sub in gb.assignment_submissions(assignment.name):
                row = scores.setdefault((sub.student_id, assignment.name), {})
                for nb in sub.notebooks:
                    row.update({g.name: float(g.score) for g in nb.grades})
                if sub.late_submission_penalty:
                    penalties[(sub.student_id, assignment.name)] = float(
                        sub.late_submission_penalty
                    )
    return Report(questions, scores, penalties)


def write_report(course_dir, db_url: str | None = None) -> Report:
    """grades.csv, question_stats.csv and score_histogram.png in ``course_dir``."""
    course_dir = Path(course_dir).resolve()
    db_url = db_url or course_settings(course_dir).get("CourseDirectory", {}).get("db_url")
    db_url = db_url or f"sqlite:///{course_dir / 'gradebook.db'}"
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///") :]).is_file():
        raise FileNotFoundError(
            f"no gradebook at {db_url[len('sqlite:///') :]}: run `gradkit autograde` first "
            "(or pass --db-url)."
        )
    report = collect(db_url)
    report.csv = course_dir / "grades.csv"
    with report.csv.open("w", newline="") as f:
        writer = spreadsheet.Writer(f)
        writer.writerow(["student", "assignment", "question", "score", "max_score"])
        limits = {(a, q): m for a, q, m in report.questions}
        for (student, assignment), row in sorted(report.scores.items()):
            for question, score in sorted(row.items()):
                writer.writerow([student, assignment, question, score,
                                 limits.get((assignment, question), "")])  # fmt: skip
    report.totals_csv = _totals_table(report, course_dir / "totals.csv")
    report.stats_csv = course_dir / "question_stats.csv"
    with report.stats_csv.open("w", newline="") as f:
        writer = spreadsheet.Writer(f)
        writer.writerow(["assignment", "question", "max_points", "mean", "min", "max"])
        writer.writerows(report.stats())
    report.histogram = _histogram(report, course_dir / "score_histogram.png")
    return report


def _totals_table(report: Report, path: Path) -> Path:
    """One row per student: each assignment's points after its late penalty, the penalty,
    and the total."""
    assignments = sorted({a for _, a in report.scores})
    students = sorted({s for s, _ in report.scores})
    totals = {a: report.totals(a) for a in assignments}
    with path.open("w", newline="") as f:
        writer = spreadsheet.Writer(f)
        writer.writerow(["student", *assignments, *(f"{a} late penalty" for a in assignments),
                         "total"])  # fmt: skip
        for student in students:
            points = [totals[a].get(student, "") for a in assignments]
            late = [report.penalties.get((student, a), 0.0) if (student, a) in report.scores
                    else "" for a in assignments]  # fmt: skip
            writer.writerow([student, *points, *late,
                             sum(p for p in points if p != "")])  # fmt: skip
    return path


HISTOGRAM_COLUMNS = 3  # assignments side by side; more go on further rows


def histogram_bins(most: float) -> np.ndarray:
    """Bin edges for totals out of ``most`` points: one bar per whole point (centred on it),
    or per a few points when there are more than 40, so that 17 and 18 never share a bar."""
    width = max(1, int(np.ceil(max(most, 1) / 40)))
    return np.arange(-0.5, max(most, 1) + width, width)


def _histogram(report: Report, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assignments = sorted({a for _, a in report.scores})
    n = max(1, len(assignments))
    cols = min(n, HISTOGRAM_COLUMNS)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, assignment in zip(axes.flat, assignments, strict=False):
        totals = list(report.totals(assignment).values())
        most = sum(m for a, _, m in report.questions if a == assignment)
        ax.hist(totals, bins=histogram_bins(most), color="#4c72b0", edgecolor="white")
        ax.set_title(f"{assignment}: total scores")
        ax.set_xlabel(f"points (of {most:g})")
        ax.set_ylabel("students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def diagnoses(course_dir, assignment: str) -> dict[str, dict[str, str]]:
    """student -> grade_id -> the first ✗ line of gradkit's feedback (empty when all ✓)."""
    found = {}
    for path in sorted(Path(course_dir).glob(f"autograded/*/{assignment}/*.ipynb")):
        student = path.parent.parent.name
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            info = cell.get("metadata", {}).get("gradkit")
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if info and grade_id:
                bad = [line for line in info.get("lines", []) if line.startswith("✗")]
                found.setdefault(student, {})[grade_id] = bad[0] if bad else ""
    return found
