"""Recording without nbgrader: the same gradebook rows nbgrader's Autograde writes."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.course import (
    CONFIG_FILE,
    course_settings,
    db_url,
    nbgrader_config,
    register,
    write_config_file,
)
from autograder.record import Recorder

pytestmark = pytest.mark.slow
SECRET = "record-test-secret"
A = demo.ASSIGNMENT


def _rows(url: str) -> dict:
    """Everything SaveAutoGrades and AssignLatePenalties write, per student."""
    from nbgrader.api import Gradebook

    rows = {}
    with Gradebook(url) as gb:
        for sub in gb.assignment_submissions(A):
            for nb in sub.notebooks:
                rows[sub.student_id] = {
                    "timestamp": sub.timestamp,
                    "grades": {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                    "penalty": nb.late_submission_penalty,
                }
    return rows


def test_recording_the_autograded_notebooks_writes_what_nbgrader_wrote(tmp_path):
    serial = tmp_path / "serial"
    (serial / CONFIG_FILE).parent.mkdir(parents=True)
    (serial / CONFIG_FILE).write_text(
        "c = get_config()\nc.LateSubmissionPlugin.penalty_method = 'zero'\n"
    )
    write_config_file(serial)
    students = {"ada": demo.STUDENTS[0], "halfix": demo.STUDENTS[5], "blank": demo.STUDENTS[1]}
    times = {"ada": "2026-03-01 11:00:00 UTC", "halfix": "2026-03-02 12:00:00 UTC", "blank": None}
    for name, story in students.items():
        folder = serial / "submitted" / name / A
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(story), folder / f"{A}.ipynb")
        if times[name]:
            (folder / "timestamp.txt").write_text(times[name])
    empty = serial / "submitted" / "nothing" / A  # a submission without the notebook
    empty.mkdir(parents=True)
    (empty / "timestamp.txt").write_text("2026-03-01 10:00:00 UTC")
    env = {**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}  # fmt: skip
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for step in (["db", "assignment", "add", A, "--duedate=2026-03-01 12:00:00 UTC"],
                 ["generate_assignment", A, "--force"], ["autograde", A]):  # fmt: skip
        run = subprocess.run([*nbgrader, *step], cwd=serial, env=env, capture_output=True,
                             text=True, timeout=600)  # fmt: skip
        assert run.returncode == 0 or step[0] == "autograde", run.stderr[-2000:]
    expected = _rows(f"sqlite:///{serial / 'gradebook.db'}")
    assert set(expected) >= {"ada", "halfix", "blank"}
    assert expected["halfix"]["penalty"] > 0 and not expected["ada"]["penalty"]

    ours = tmp_path / "ours"
    ours.mkdir()
    config = nbgrader_config(ours, settings=course_settings(serial))
    register(config, A)  # a gradebook that knows the assignment
    from nbgrader.api import Gradebook

    with Gradebook(db_url(config)) as gb:
        gb.update_or_create_assignment(A, duedate="2026-03-01 12:00:00 UTC")
    with Recorder(db_url(config), "", config) as recorder:
        for student in expected:
            folder = serial / "autograded" / student / A
            notebooks = {p.stem: p.read_text() for p in folder.glob("*.ipynb")}
            stamp = folder / "timestamp.txt"
            recorder.add(A, student, stamp.read_text() if stamp.exists() else None, notebooks)
    assert _rows(db_url(config)) == expected

    # A rerun over the recorded rows, as nbgrader's `autograde --force` does one: a TA's
    # manual score (which makes the grade need a manual look), an extension (no longer late)
    # and a new, late timestamp (a penalty) are all taken into account.
    def ta_edits(url: str) -> None:
        with Gradebook(url) as gb:
            sub = gb.find_submission(A, "ada")
            grade = sub.notebooks[0].grades[0]
            grade.manual_score = grade.max_score
            gb.grant_extension(A, "halfix", hours=48)
            gb.db.commit()

    ta_edits(f"sqlite:///{serial / 'gradebook.db'}")
    (serial / "submitted" / "ada" / A / "timestamp.txt").write_text("2026-03-03 09:00:00 UTC")
    run = subprocess.run([*nbgrader, "autograde", A, "--force"], cwd=serial, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    again = _rows(f"sqlite:///{serial / 'gradebook.db'}")
    assert again != expected  # the edits changed what nbgrader wrote
    assert again["ada"]["penalty"] > 0 and not again["halfix"]["penalty"]
    assert any(needs for _, needs in again["ada"]["grades"].values())
    ta_edits(db_url(config))
    with Recorder(db_url(config), "", config) as recorder:
        for student in again:
            folder = serial / "autograded" / student / A
            notebooks = {p.stem: p.read_text() for p in folder.glob("*.ipynb")}
            stamp = serial / "submitted" / student / A / "timestamp.txt"
            recorder.add(A, student, stamp.read_text() if stamp.exists() else None, notebooks)
    assert _rows(db_url(config)) == again


def test_a_submission_that_fails_to_record_leaves_nothing_and_the_next_one_records(tmp_path):
    """One transaction per submission: a notebook that cannot be read mid-way leaves no
    student and no submission behind, and the session goes on recording the next one."""
    from nbgrader.api import Gradebook, MissingEntry

    config = nbgrader_config(tmp_path)
    register(config, A)
    good = nbformat.writes(demo.submission(demo.STUDENTS[0]))
    with Recorder(db_url(config), "", config) as recorder:
        with pytest.raises(ValueError):
            recorder.add(A, "broken", None, {A: "{not json"})
        recorder.add(A, "ada", None, {A: good})
    with Gradebook(db_url(config)) as gb:
        assert [s.student_id for s in gb.assignment_submissions(A)] == ["ada"]
        with pytest.raises(MissingEntry):
            gb.find_student("broken")
