"""Through the real nbgrader, no mocks: does the demo class get exactly the expected grades?"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde
from autograder.course import assignments, write_config_file
from autograder.report import collect

pytestmark = pytest.mark.slow
SECRET = "end-to-end-test-secret"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    os.environ["GRADKIT_SECRET"] = SECRET
    course = tmp_path_factory.mktemp("demo-class")
    printed = []
    scores = demo.run_demo(course, workers=2, out=printed.append)
    return course, scores, "\n".join(printed)


def test_every_student_gets_exactly_the_expected_points(graded):
    course, scores, _ = graded
    for student in demo.STUDENTS:
        assert scores[(student.name, "04-backprop")] == student.expected, student.story
    limits = collect(f"sqlite:///{course / 'gradebook.db'}").questions
    for assignment in assignments():  # the demo covers every assignment
        full = {q: m for a, q, m in limits if a == assignment}
        assert scores[("ada", assignment)] == full
        assert scores[("blank", assignment)] == dict.fromkeys(full, 0.0)


def test_the_demo_prints_the_table_with_diagnoses(graded):
    _, _, printed = graded
    assert "graded 9, failed 0" in printed
    assert "MISMATCH" not in printed
    assert "noreg" in printed and "dW1" in printed


def test_feedback_names_blocks_and_never_shows_hidden_tests(graded):
    course, _, _ = graded
    pages = sorted(course.glob("feedback/*/04-backprop/04-backprop.html"))
    assert len(pages) == len(demo.STUDENTS)  # 04-backprop
    for page in pages:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "assert_passes" not in text
    noreg = (course / "feedback/noreg/04-backprop/04-backprop.html").read_text()
    assert "✗ dW1" in noreg and "✓ db1" in noreg
    tamper = (course / "feedback/tamper/04-backprop/04-backprop.html").read_text()
    assert "✗ dW1" in tamper
    shortcut = (course / "feedback/shortcut/04-backprop/04-backprop.html").read_text()
    assert "Shortcuts earn nothing" in shortcut
    crash = (course / "feedback/crash/04-backprop/04-backprop.html").read_text()
    assert "kernel died" in crash


def test_report_files(graded):
    course, _, _ = graded
    rows = (course / "grades.csv").read_text().strip().splitlines()
    assert rows[0] == "student,assignment,question,score,max_score"
    assert sum(",04-backprop," in r for r in rows) == len(demo.STUDENTS) * len(demo.FULL)
    assert "ada,04-backprop,test_backward,6.0,6.0" in rows
    stats = (course / "question_stats.csv").read_text()
    assert "04-backprop,test_backward,6.0," in stats
    assert (course / "score_histogram.png").read_bytes()[:4] == b"\x89PNG"
    from autograder import cli

    assert cli.main(["report", "--course-dir", str(course), "--canvas",
                     str(course / "canvas.csv")]) == 0  # fmt: skip
    canvas = (course / "canvas.csv").read_text().splitlines()
    assert canvas[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section,")
    assert len(canvas) == 2 + len(demo.STUDENTS)  # header, points possible, a row each


def test_serial_nbgrader_autograde_gives_the_same_gradebook(graded, tmp_path):
    course, _, _ = graded
    shutil.copytree(course / "submitted", tmp_path / "submitted")
    write_config_file(tmp_path)
    nbgrader = [sys.executable, "-m", "nbgrader"]
    env = {
        **os.environ,
        "GRADKIT_SECRET": SECRET,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
    }
    for step in (["generate_assignment", "04-backprop"], ["autograde", "04-backprop"]):
        subprocess.run([*nbgrader, *step, "--force"], cwd=tmp_path, env=env, check=True,
                       capture_output=True)  # fmt: skip
    serial = collect(f"sqlite:///{tmp_path / 'gradebook.db'}").scores
    parallel = collect(f"sqlite:///{course / 'gradebook.db'}").scores
    assert serial == {k: v for k, v in parallel.items() if k[1] == "04-backprop"}


def test_rerunning_skips_graded_submissions_and_keeps_grades(graded):
    course, scores, _ = graded
    summary = autograde("04-backprop", course, workers=2)
    assert summary.graded == [] and sorted(summary.skipped) == sorted(s.name for s in demo.STUDENTS)
    assert collect(f"sqlite:///{course / 'gradebook.db'}").scores == scores


def test_an_endless_loop_hits_the_timeout_and_the_rest_is_graded(tmp_path):
    looping = demo.Student("loop", "loops forever in backward", {},
                           edits={"L_model_backward": "def L_model_backward(*a):\n    while True:\n"
                                  "        pass\n"})  # fmt: skip
    for student in (demo.STUDENTS[0], looping):
        folder = tmp_path / "submitted" / student.name / "04-backprop"
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(student), folder / "04-backprop.ipynb")
    summary = autograde("04-backprop", tmp_path, workers=2, timeout=4, secret=SECRET)
    assert sorted(summary.graded) == ["ada", "loop"]
    scores = collect(f"sqlite:///{tmp_path / 'gradebook.db'}").scores
    assert scores[("loop", "04-backprop")] == {**demo.FULL, "test_backward": 0.0}
    assert scores[("ada", "04-backprop")] == demo.FULL
    graded_nb = nbformat.read(tmp_path / "autograded/loop/04-backprop/04-backprop.ipynb", 4)
    lines = [c.metadata["gradkit"]["lines"] for c in graded_nb.cells if "gradkit" in c.metadata]
    assert any("did not finish within 4 s" in line for group in lines for line in group)


def test_a_looping_helper_is_named_and_not_called_again(tmp_path):
    looping = demo.Student("loopfwd", "loops forever in L_model_forward", {},
                           edits={"L_model_forward": "def L_model_forward(X, parameters):\n"
                                  "    while True:\n        pass\n"})  # fmt: skip
    folder = tmp_path / "submitted" / looping.name / "04-backprop"
    folder.mkdir(parents=True)
    nbformat.write(demo.submission(looping), folder / "04-backprop.ipynb")
    summary = autograde("04-backprop", tmp_path, workers=1, timeout=4, secret=SECRET)
    assert summary.graded == ["loopfwd"], summary.text()
    scores = collect(f"sqlite:///{tmp_path / 'gradebook.db'}").scores[("loopfwd", "04-backprop")]
    assert scores == {**demo.FULL, "test_forward": 0.0, "test_backward": 0.0}
    graded_nb = nbformat.read(tmp_path / "autograded/loopfwd/04-backprop/04-backprop.ipynb", 4)
    lines = {c.metadata["nbgrader"]["grade_id"]: "\n".join(c.metadata["gradkit"]["lines"])
             for c in graded_nb.cells if "gradkit" in c.metadata}  # fmt: skip
    assert "did not finish within 4 s (it was running L_model_forward)" in lines["test_forward"]
    assert (
        "L_model_backward was not graded: L_model_forward did not finish when "
        "L_model_forward was graded, so it was not called again"
    ) in lines["test_backward"]
