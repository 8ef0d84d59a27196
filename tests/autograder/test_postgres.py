"""A PostgreSQL gradebook, on a real server started here: every verb, and plain nbgrader."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde
from autograder.course import CONFIG_FILE, DEFAULT_COURSE_ID, load_course_config
from autograder.feedback import feedback
from autograder.report import write_report

pytestmark = pytest.mark.slow
SECRET = "postgres-test-secret"
STUDENTS = [s for s in demo.STUDENTS if s.name in ("ada", "blank", "halfix")]


def test_every_verb_and_plain_nbgrader_use_the_postgresql_gradebook(tmp_path, database):
    course = tmp_path / "course"
    for student in STUDENTS:
        folder = course / "submitted" / student.name / demo.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(student), folder / f"{demo.ASSIGNMENT}.ipynb")

    summary = autograde(demo.ASSIGNMENT, course, workers=2, secret=SECRET, db_url=database)
    assert sorted(summary.graded) == sorted(s.name for s in STUDENTS), summary.text()
    config = load_course_config(course).CourseDirectory  # what plain nbgrader reads
    assert config.db_url == database and config.course_id == DEFAULT_COURSE_ID
    assert not (course / "gradebook.db").exists()  # nothing went to SQLite

    again = autograde(demo.ASSIGNMENT, course, workers=2, secret=SECRET, db_url=database)
    assert again.graded == [] and sorted(again.skipped) == sorted(s.name for s in STUDENTS)

    pages = feedback(demo.ASSIGNMENT, course)
    assert sorted(p.parent.parent.name for p in pages) == sorted(s.name for s in STUDENTS)

    totals = write_report(course).totals(demo.ASSIGNMENT)
    assert totals == {s.name: sum(s.expected.values()) for s in STUDENTS}

    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    export = subprocess.run([sys.executable, "-m", "nbgrader", "export"], cwd=course, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert export.returncode == 0, export.stderr[-2000:]
    with (course / "grades.csv").open() as f:
        rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert rows == totals
    assert "db_url" in (course / CONFIG_FILE).read_text()
