"""A notebook renamed by its student: is a single one graded as the expected notebook, with
the TA and the student told, and is an ambiguous submission one clear line, never a
traceback?

Through the real `gradkit autograde` and `gradkit feedback` (cli.main) and nbgrader.
"""

import csv
import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pytest

from autograder import cli, demo
from autograder.ingest import Intake, expect, expected_notebooks

SECRET = "renamed-test-secret"
ASSIGNMENT = "04-backprop"
EXPECTED = f"{ASSIGNMENT}.ipynb"


def _intake(*names: str) -> Intake:
    return Intake({name: b"{}" for name in names})


def test_the_expected_notebook_comes_from_the_assignments_source():
    assert expected_notebooks(ASSIGNMENT) == [EXPECTED]


def test_one_renamed_notebook_is_taken_as_the_expected_one():
    intake = expect(Intake({"copy.ipynb": b"mine", "timestamp.txt": b"t"}), ASSIGNMENT)
    assert intake.files == {EXPECTED: b"mine", "timestamp.txt": b"t"}
    assert intake.renamed == {EXPECTED: "copy.ipynb"} and intake.missing == ""
    assert intake.notes == [f"renamed: graded copy.ipynb as {EXPECTED}"]


def test_the_expected_notebook_is_left_alone():
    intake = expect(_intake(EXPECTED, "scratch.ipynb"), ASSIGNMENT)
    assert set(intake.files) == {EXPECTED, "scratch.ipynb"} and not intake.renamed
    assert intake.missing == ""


@pytest.mark.parametrize(
    ("names", "found"),
    [(("a.ipynb", "b.ipynb"), "found a.ipynb, b.ipynb: rename the one to grade to "),
     (("notes.txt",), "found no notebook: resubmit with ")],
)  # fmt: skip
def test_no_telling_which_notebook_is_meant(names, found):
    intake = expect(_intake(*names), ASSIGNMENT)
    assert intake.missing.startswith(f"expected {EXPECTED}, {found}")
    assert intake.missing.endswith(".") and intake.missing.count(EXPECTED) == 2
    assert not intake.renamed


def test_several_expected_notebooks():
    two = ["part1.ipynb", "part2.ipynb"]
    intake = expect(_intake("part1.ipynb", "mine.ipynb"), "x", two)
    assert intake.renamed == {"part2.ipynb": "mine.ipynb"}
    intake = expect(_intake("a.ipynb"), "x", two)  # one of two: which one?
    assert intake.missing.startswith("expected part1.ipynb and part2.ipynb, found a.ipynb")
    intake = expect(_intake("part1.ipynb"), "x", two)  # nbgrader grades what is there
    assert intake.missing == "" and not intake.renamed


def _submit(course: Path, student: str, files: dict[str, object]) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for name, content in files.items():
        if isinstance(content, str):
            (folder / name).write_text(content)
        else:
            nbformat.write(content, folder / name)


def _gradkit(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_renamed_and_ambiguous_submissions_through_gradkit(tmp_path):
    correct = demo.submission(demo.STUDENTS[0])
    _submit(tmp_path, "ada", {"04-backprop (1).ipynb": correct})
    _submit(tmp_path, "bob", {"draft.ipynb": correct, "final.ipynb": correct})
    _submit(tmp_path, "cy", {"answers.txt": "see attached"})
    code, printed, err = _gradkit("autograde", ASSIGNMENT, "--course-dir", str(tmp_path),
                                  "--secret", SECRET, "--workers", "1")  # fmt: skip
    assert code == 1 and "Traceback" not in err + printed
    assert "No notebooks found" not in printed
    with (tmp_path / f"autograde-{ASSIGNMENT}.csv").open(newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}

    renamed = f"renamed: graded 04-backprop (1).ipynb as {EXPECTED}"
    most = sum(demo.FULL.values())
    assert rows["ada"]["status"] == "graded" and float(rows["ada"]["points"]) == most
    assert rows["ada"]["problems"] == renamed and renamed in printed
    assert (tmp_path / "autograded" / "ada" / ASSIGNMENT / EXPECTED).is_file()

    line = (f"FAILED: expected {EXPECTED}, found draft.ipynb, final.ipynb: rename the one "
            f"to grade to {EXPECTED} and resubmit.")  # fmt: skip
    assert rows["bob"]["status"] == "failed" and rows["bob"]["points"] == ""
    assert rows["bob"]["problems"] == line and line in printed
    assert rows["cy"]["status"] == "failed" and rows["cy"]["points"] == ""
    assert rows["cy"]["problems"].startswith(f"FAILED: expected {EXPECTED}, found no notebook")
    page = tmp_path / "feedback" / "bob" / ASSIGNMENT / "gradkit-error.html"
    assert "rename the one to grade to" in page.read_text()  # the student is told, too

    code, printed, err = _gradkit("feedback", ASSIGNMENT, "--course-dir", str(tmp_path))
    assert code == 0, err
    page = (tmp_path / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    note = f"graded your notebook 04-backprop (1).ipynb as {EXPECTED}"
    assert note in page and page.index(note) < page.index("Score")  # at the top
