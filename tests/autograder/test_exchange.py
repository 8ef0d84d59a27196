"""A whole term through nbgrader's exchange, with gradkit grading: release, fetch, submit,
collect, autograde, feedback (released and fetched back), export."""

import csv
import getpass
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.course import assignments

pytestmark = pytest.mark.slow
SECRET = "exchange-test-secret"
A = demo.ASSIGNMENT


def test_a_term_through_the_exchange(tmp_path):
    course, home, exchange = tmp_path / "course", tmp_path / "student", tmp_path / "exchange"
    for folder in (course, home, exchange):
        folder.mkdir()
    exchange.chmod(0o777)  # nbgrader's exchange is shared by the TA and the students
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'phys101'\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
    )
    (home / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n"
    )
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg",
           "PATH": bin_dir + os.pathsep + os.environ["PATH"]}  # fmt: skip

    def run(where: Path, *cmd: str) -> str:
        done = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        assert done.returncode == 0, (cmd, done.stdout[-1500:], done.stderr[-2500:])
        return done.stdout + done.stderr

    nbgrader = (sys.executable, "-m", "nbgrader")
    gradkit = (str(Path(bin_dir) / "gradkit"),)
    # The TA: gradkit's block in the course's config, then nbgrader's release.
    run(course, *gradkit, "init", "--course-dir", ".")
    run(course, *nbgrader, "generate_assignment", A, "--force")
    run(course, *nbgrader, "release_assignment", A)
    # A student fetches, answers, submits.
    run(home, *nbgrader, "fetch_assignment", A, "--course", "phys101")
    fetched = home / A / f"{A}.ipynb"
    assert fetched.is_file()
    nbformat.write(demo.submission(demo.STUDENTS[0]), fetched)
    run(home, *nbgrader, "submit", A, "--course", "phys101")
    # The TA collects and grades with gradkit, writes feedback, releases it, exports.
    run(course, *nbgrader, "collect", A)
    student = getpass.getuser()
    assert (course / "submitted" / student / A / "timestamp.txt").is_file()
    out = run(course, *gradkit, "autograde", A, "--course-dir", ".")
    assert "graded 1, failed 0" in out, out
    run(course, *gradkit, "feedback", A, "--course-dir", ".")
    run(course, *nbgrader, "release_feedback", A)
    run(home, *nbgrader, "fetch_feedback", A, "--course", "phys101")
    pages = list((home / A / "feedback").glob("*/*.html"))
    assert pages and "✓" in pages[0].read_text()
    run(course, *nbgrader, "export")
    with (course / "grades.csv").open() as f:
        rows = list(csv.DictReader(f))
    graded = [(r["student_id"], float(r["score"])) for r in rows if r["assignment"] == A]
    assert graded == [(student, sum(demo.FULL.values()))]
    assert {r["assignment"] for r in rows} == set(assignments())  # gradkit init knows all
