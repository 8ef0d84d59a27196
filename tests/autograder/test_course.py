"""A real nbgrader course: gradkit's block in the TA's config, the same grades and late
penalties from gradkit, plain nbgrader and the formgrader's API, one grading run at a time."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde
from autograder.course import (
    AFTER_EXECUTE,
    BLOCK_START,
    CONFIG_FILE,
    EXECUTE,
    CourseError,
    course_settings,
    load_course_config,
    nbgrader_config,
    write_config_file,
)
from autograder.lock import course_lock
from autograder.report import write_report

SECRET = "course-config-test-secret"
TA_CONFIG = """c = get_config()
c.CourseDirectory.course_id = "phys101"
c.Exchange.root = {exchange!r}
c.LateSubmissionPlugin.penalty_method = "zero"
c.Execute.timeout = 25
"""


def _ta_course(tmp_path: Path) -> Path:
    (tmp_path / CONFIG_FILE).write_text(TA_CONFIG.format(exchange=str(tmp_path / "exchange")))
    return tmp_path


def test_a_new_course_gets_a_config_that_grades_the_gradkit_way(tmp_path):
    assert write_config_file(tmp_path) == f"wrote {tmp_path / CONFIG_FILE}"
    c = load_course_config(tmp_path)
    assert c.Autograde.autograde_preprocessors == [EXECUTE, *AFTER_EXECUTE]
    assert c.Execute.timeout == 30
    text = (tmp_path / CONFIG_FILE).read_text()
    assert str(Path(demo.__file__).parent) not in text  # no path of the kit: it may move
    assert write_config_file(tmp_path) == ""  # once


def test_a_tas_config_keeps_its_settings_and_gets_the_block(tmp_path):
    course = _ta_course(tmp_path)
    before = (course / CONFIG_FILE).read_text()
    note = write_config_file(course)
    assert "added gradkit's block" in note
    assert (course / f"{CONFIG_FILE}.before-gradkit").read_text() == before
    text = (course / CONFIG_FILE).read_text()
    assert text.startswith(before) and text.count(BLOCK_START) == 1
    settings = course_settings(course)
    config = nbgrader_config(course, settings=settings)
    assert config.CourseDirectory.course_id == "phys101"
    assert config.LateSubmissionPlugin.penalty_method == "zero"
    assert config.Exchange.root == str(course / "exchange")
    assert config.Execute.timeout == 25
    assert config.Autograde.autograde_preprocessors == [EXECUTE, *AFTER_EXECUTE]
    assert write_config_file(course) == "" and (course / CONFIG_FILE).read_text() == text


def test_the_database_goes_into_the_config_and_a_different_one_is_refused(tmp_path):
    course = _ta_course(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    write_config_file(course, url)
    assert load_course_config(course).CourseDirectory.db_url == url
    write_config_file(course, url)  # the same again is fine
    with pytest.raises(CourseError, match="grades into .*elsewhere.db.*drop --db-url"):
        write_config_file(course, f"sqlite:///{tmp_path / 'other.db'}")


def test_a_setting_that_undoes_the_pipeline_after_the_block_is_named(tmp_path):
    course = _ta_course(tmp_path)
    write_config_file(course)
    with (course / CONFIG_FILE).open("a") as f:
        f.write("c.Autograde.autograde_preprocessors = ['nbgrader.preprocessors.Execute']\n")
    with pytest.raises(CourseError, match=r"c\.Autograde\.autograde_preprocessors after"):
        write_config_file(course)


def test_a_config_that_does_not_load_or_is_a_link_is_refused(tmp_path):
    (tmp_path / CONFIG_FILE).write_text("c = get_config()\nc.Execute.timeout = 1 / 0\n")
    with pytest.raises(CourseError, match="does not load .*ZeroDivisionError"):
        write_config_file(tmp_path)
    (tmp_path / CONFIG_FILE).unlink()
    (tmp_path / CONFIG_FILE).symlink_to(tmp_path / "elsewhere.py")
    with pytest.raises(CourseError, match="not a regular file"):
        write_config_file(tmp_path)


def test_a_course_dir_gradkit_cannot_write_in_is_one_clear_error(tmp_path):
    (tmp_path / ".gradkit").write_text("")  # as a read-only dir would, for root as well
    with pytest.raises(CourseError, match=r"cannot write in .*\.gradkit"):
        with course_lock(tmp_path, "test"):
            pass


# --- one real course, graded three ways --------------------------------------------------


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def _submit(course: Path, student: str, when: str) -> None:
    folder = course / "submitted" / student / demo.ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(demo.submission(demo.STUDENTS[0]), folder / f"{demo.ASSIGNMENT}.ipynb")
    (folder / "timestamp.txt").write_text(when)


def _grades(course: Path) -> dict[str, tuple[float, float]]:
    """student -> (score, late penalty), as plain nbgrader's API reads the gradebook."""
    from nbgrader.api import Gradebook

    named = load_course_config(course).CourseDirectory.get("db_url")
    url = named or f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url, course_id="phys101") as gb:
        return {s.student_id: (s.score, s.late_submission_penalty)
                for s in gb.assignment_submissions(demo.ASSIGNMENT)}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("gradebook", ["sqlite", "postgresql"])
def test_gradkit_plain_nbgrader_and_the_formgrader_agree_on_grades_and_penalties(
    tmp_path, request, gradebook
):
    course = _ta_course(tmp_path)
    url = (f"sqlite:///{tmp_path / 'phys101.db'}" if gradebook == "sqlite"
           else request.getfixturevalue("database"))  # fmt: skip
    with (course / CONFIG_FILE).open("a") as f:  # the TA's own line, before gradkit comes
        f.write(f"c.CourseDirectory.db_url = {url!r}\n")
    write_config_file(course)
    due = _nbgrader(course, "db", "assignment", "add", demo.ASSIGNMENT,
                    "--duedate=2026-03-01 12:00:00 UTC")  # fmt: skip
    assert due.returncode == 0, due.stderr[-2000:]
    _submit(course, "ontime", "2026-03-01 11:00:00.000000 UTC")
    _submit(course, "late", "2026-03-02 12:00:00.000000 UTC")
    full = sum(demo.FULL.values())

    summary = autograde(demo.ASSIGNMENT, course, workers=2, secret=SECRET)
    assert sorted(summary.graded) == ["late", "ontime"], summary.text()
    expected = {"ontime": (full, 0.0), "late": (full, full)}  # penalty "zero": all of it
    assert _grades(course) == expected
    report = write_report(course)
    assert report.totals(demo.ASSIGNMENT) == {"ontime": full, "late": 0.0}
    rows = report.totals_csv.read_text().splitlines()
    assert rows[1:] == [f"late,0.0,{full},0.0", f"ontime,{full},0.0,{full}"]

    plain = _nbgrader(course, "autograde", demo.ASSIGNMENT, "--force")
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert _grades(course) == expected

    api = subprocess.run([sys.executable, "-c", (
        "from nbgrader.apps import NbGraderAPI\n"
        "from nbgrader.coursedir import CourseDirectory\n"
        "from autograder.course import load_course_config\n"
        "config = load_course_config('.')\n"
        "api = NbGraderAPI(CourseDirectory(config=config), config=config)\n"
        f"result = api.autograde({demo.ASSIGNMENT!r}, 'late', force=True)\n"
        "assert result['success'], result\n"
    )], cwd=course, env={**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600)  # fmt: skip
    assert api.returncode == 0, api.stderr[-3000:]
    assert _grades(course) == expected


@pytest.mark.slow
def test_plain_nbgrader_waits_its_turn_while_gradkit_grades(tmp_path):
    course = _ta_course(tmp_path)
    write_config_file(course)
    _submit(course, "ontime", "2026-03-01 11:00:00.000000 UTC")
    assert _nbgrader(course, "generate_assignment", demo.ASSIGNMENT, "--force").returncode == 0
    with course_lock(course, "gradkit autograde 04-backprop"):
        plain = _nbgrader(course, "autograde", demo.ASSIGNMENT)
    out = plain.stdout + plain.stderr
    assert plain.returncode != 0
    assert "gradkit autograde 04-backprop (pid" in out and "wait for it to finish" in out
    assert _grades(course) in ({}, {"ontime": (0.0, 0.0)})  # nothing graded
    with pytest.raises(CourseError, match="is grading in"):
        with course_lock(course, "nbgrader autograde"):
            with course_lock(course, "gradkit autograde 04-backprop"):
                pass
