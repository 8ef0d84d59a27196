"""What the TA sees after a run: does every student's row say what went wrong, and whose
fault it was, without the student's feedback ever showing the grader's own errors?

Through the real `gradkit autograde` (cli.main) and the real nbgrader. The fast tests fail
submissions before any kernel starts (a broken notebook, an executor standing in for a
worker that fails); the slow ones grade a class of three in sandboxed kernels.
"""

import csv
import io
import json
import shutil
from concurrent.futures import Future
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pytest

from autograder import cli, demo
from autograder.autograde import autograde
from autograder.report import collect
from autograder.worker import Executed

SECRET = "ta-view-test-secret"
ASSIGNMENT = "04-backprop"
MOST = sum(demo.FULL.values())


def _submit(course: Path, student: str, nb, timestamp: str | None = None) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        (folder / f"{ASSIGNMENT}.ipynb").write_text(nb)
    else:
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return folder


def _gradkit(course: Path, *options: str) -> tuple[int, str]:
    """`gradkit autograde ASSIGNMENT --course-dir course OPTIONS`: (exit code, stdout)."""
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = cli.main(["autograde", ASSIGNMENT, "--course-dir", str(course), "--secret",
                         SECRET, "--workers", "2", *options])  # fmt: skip
    return code, out.getvalue()


def _rows(course: Path) -> dict[str, dict[str, str]]:
    with (course / f"autograde-{ASSIGNMENT}.csv").open(newline="") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def _page(course: Path, student: str) -> str:
    return (course / "feedback" / student / ASSIGNMENT / "gradkit-error.html").read_text()


def test_a_broken_notebook_has_a_row_with_its_reason(tmp_path):
    _submit(tmp_path, "bob", "{ this is not json")
    code, printed = _gradkit(tmp_path)
    assert code == 1
    row = _rows(tmp_path)["bob"]
    assert row["status"] == "failed" and row["points"] == "" and row["max_points"] == f"{MOST:g}"
    assert row["problems"].startswith("FAILED: 04-backprop.ipynb is not a valid notebook")
    assert "bob" in printed and "FAILED: 04-backprop.ipynb is not a valid notebook" in printed
    assert "resubmit" in _page(tmp_path, "bob")  # the student's own fault: they are told why


class _FailingWorker:
    """An executor whose worker fails: it raises (e.g. could not read its job), or
    returns the error it met (e.g. nbgrader stopped on a gradebook it could not open)."""

    def __init__(self, how: str):
        self.how = how

    def submit(self, fn, job):
        future = Future()
        if self.how == "raises":
            future.set_exception(OSError(f"could not read the job of {job.student} at "
                                         "/srv/grading/secret-path"))  # fmt: skip
        else:
            error = "OperationalError: unable to open database file /srv/grading/gradebook.db"
            future.set_result(Executed(job.student, False, error=error))
        return future


@pytest.mark.parametrize("how", ["raises", "returns"])
def test_a_grader_error_goes_to_the_ta_never_to_the_student(tmp_path, how):
    _submit(tmp_path, "carol", demo.submission(demo.STUDENTS[0]))
    summary = autograde(ASSIGNMENT, tmp_path, secret=SECRET, executor=_FailingWorker(how))
    assert summary.graded == [] and summary.grader_errors == {"carol"}
    detail = "/srv/grading/"
    assert detail in summary.failed["carol"] and detail in summary.text()
    assert "FAILED (grader error)" in summary.text()
    page = _page(tmp_path, "carol")
    assert "not graded" in page and "a grader error, your TA has been told" in page
    assert detail not in page and "Error" not in page
    row = _rows(tmp_path)["carol"]
    assert row["status"] == "failed" and row["problems"].startswith("FAILED (grader error): ")
    assert detail in row["problems"]


TAMPERED_POINTS = 100


def _carol():
    """Raises test_backward to 100 points, unticks test_forward's flags, calls the
    reference backward, and kills her kernel."""
    edits = {"L_model_backward": demo.REFERENCE_BACKWARD}
    nb = demo.submission(demo.Student("carol", "", {}, edits, extra=("import os\nos._exit(1)",)))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "test_backward":
            meta["points"] = TAMPERED_POINTS
        if meta.get("grade_id") == "test_forward":
            meta["grade"], meta["locked"] = False, False
    return nb


def _dave():
    """An endless loop in a cell of his own."""
    return demo.submission(demo.Student("dave", "", {}, extra=("while True:\n    pass",)))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    course = tmp_path_factory.mktemp("ta-view")
    _submit(course, "ada", demo.submission(demo.STUDENTS[0]))  # collected without timestamps
    _submit(course, "carol", _carol())
    _submit(course, "dave", _dave())
    code, printed = _gradkit(course, "--timeout", "3")
    return course, code, printed


@pytest.mark.slow
def test_the_printed_table_says_what_went_wrong(graded_class):
    course, code, printed = graded_class
    assert code == 0, printed
    assert printed.startswith("graded 3, failed 0, skipped 0")
    rows, student = {}, None
    for line in printed.splitlines()[2:]:  # a row's first line names the student
        if not line.startswith("   "):
            student = line.split()[0]
        rows[student] = rows.get(student, "") + line.strip() + "\n"
    assert f"{MOST:g}/{MOST:g}" in rows["ada"] and rows["ada"].endswith("–\n")
    assert "tampered: test_forward 'grade' unticked, test_forward 'locked' unticked, " \
           "test_backward points 100 → 6" in rows["carol"]  # fmt: skip
    assert "\nshortcut: 0 points for L_model_backward" in rows["carol"]
    assert "\nkernel died: the kernel died in cell" in rows["carol"]
    assert "timeout: cell" in rows["dave"] and "did not finish within 3 s" in rows["dave"]
    assert "1 of 3 without problems; students with" in printed
    assert f"autograde-{ASSIGNMENT}.csv" in printed


@pytest.mark.slow
def test_the_csv_has_every_problem_of_every_student(graded_class):
    course, _, _ = graded_class
    rows = _rows(course)
    assert set(rows) == {"ada", "carol", "dave"}
    assert rows["ada"]["problems"] == "" and rows["ada"]["points"] == f"{MOST:g}"
    carol = rows["carol"]["problems"].split("; ")
    assert "tampered: test_backward points 100 → 6" in carol
    assert "tampered: test_forward 'grade' unticked" in carol
    assert "tampered: test_forward 'locked' unticked" in carol
    assert any(p.startswith("shortcut: 0 points for L_model_backward") for p in carol)
    assert any(p.startswith("kernel died: the kernel died in cell") for p in carol)
    dave = rows["dave"]["problems"].split("; ")
    assert any(p.startswith("timeout: cell ") for p in dave)
    assert any(
        p.startswith("left out: notebook cell(s) ") and p.endswith("grading process") for p in dave
    )  # where his functions were graded: the rest was graded anyway
    scores = collect(f"sqlite:///{course / 'gradebook.db'}").scores
    assert float(rows["carol"]["points"]) == sum(scores[("carol", ASSIGNMENT)].values())
    assert scores[("carol", ASSIGNMENT)]["test_backward"] == 0.0
    assert rows["carol"]["max_points"] == f"{MOST:g}"  # 100 points were never on offer


@pytest.mark.slow
def test_the_autograded_notebook_keeps_what_was_restored(graded_class):
    course, _, _ = graded_class
    path = course / "autograded" / "carol" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    restored = json.loads(path.read_text())["metadata"]["gradkit"]["restored"]
    assert {"cell": "test_backward", "kind": "tampered",
            "text": "test_backward points 100 → 6"} in restored  # fmt: skip


@pytest.mark.slow
def test_one_student_is_regraded_and_a_replaced_submission_without_timestamp_too(
    graded_class, tmp_path
):
    course = tmp_path / "course"
    shutil.copytree(graded_class[0], course)
    before = {s: (course / "autograded" / s / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat().st_mtime_ns
              for s in ("ada", "carol", "dave")}  # fmt: skip

    code, printed = _gradkit(course, "--student", "ada")
    assert code == 0 and printed.startswith("graded 0, failed 0, skipped 1")

    code, printed = _gradkit(course, "--student", "ada", "--force")
    assert code == 0 and printed.startswith("graded 1, failed 0, skipped 0")
    assert "ada" in printed and "carol" not in printed  # the table is this run's
    after = {s: (course / "autograded" / s / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").stat().st_mtime_ns
             for s in ("ada", "carol", "dave")}  # fmt: skip
    assert after["ada"] != before["ada"]
    assert after["carol"] == before["carol"] and after["dave"] == before["dave"]
    assert set(_rows(course)) == {"ada", "carol", "dave"}  # the file still lists everyone

    # dave hands in a fixed notebook, collected without timestamp.txt (zip_collect)
    _submit(course, "dave", demo.submission(demo.STUDENTS[0]))
    code, printed = _gradkit(course)
    assert code == 0 and printed.startswith("graded 1, failed 0, skipped 2"), printed
    scores = collect(f"sqlite:///{course / 'gradebook.db'}").scores
    assert scores[("dave", ASSIGNMENT)] == demo.FULL
    assert _rows(course)["dave"]["problems"] == ""
    assert "tampered" in _rows(course)["carol"]["problems"]  # kept from the first run
