"""Tampered and deleted cells: is each one put back, and does the TA learn of it?

The real sanitize pipeline (course.SANITIZE, in nbgrader's order) runs on the real release
notebook of 04-backprop against a real gradebook; the end-to-end run is in test_ta_view.py.
"""

import warnings

import nbformat
import pytest
from nbformat.warnings import MissingIDFieldWarning
from traitlets.utils.importstring import import_item

from autograder import demo
from autograder.course import SANITIZE, db_url, nbgrader_config, register

ASSIGNMENT = "04-backprop"


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    config = nbgrader_config(tmp_path_factory.mktemp("course"))
    register(config, ASSIGNMENT)
    return config


def sanitize(nb, config):
    resources = {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT,
                              "student": "s", "db_url": db_url(config)}}  # fmt: skip
    for name in SANITIZE:
        nb, resources = import_item(name)(config=config).preprocess(nb, resources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)
        nbformat.validate(nb)
    return nb


def cell(nb, name):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == name)


def restored(nb) -> list[str]:
    return [entry["text"] for entry in nb.metadata["gradkit"]["restored"]]


def test_an_honest_submission_has_nothing_restored(config):
    out = sanitize(demo.submission(demo.STUDENTS[0]), config)
    assert out.metadata["gradkit"] == {"restored": []}


def test_points_raised_to_100_are_put_back_and_recorded(config):
    nb = demo.submission(demo.STUDENTS[0])
    cell(nb, "test_backward").metadata.nbgrader["points"] = 100
    out = sanitize(nb, config)
    assert cell(out, "test_backward").metadata.nbgrader["points"] == 6.0
    assert restored(out) == ["test_backward points 100 → 6"]
    assert out.metadata["gradkit"]["restored"][0]["kind"] == "tampered"


def test_unticked_flags_and_an_edited_locked_cell_are_recorded(config):
    nb = demo.submission(demo.STUDENTS[0])
    test = cell(nb, "test_forward")
    test.metadata.nbgrader.update(grade=False, locked=False)
    test.source = "print('all good')"
    cell(nb, "setup").source += "\nimport os"
    out = sanitize(nb, config)
    assert cell(out, "test_forward").source.startswith("# Self-check")  # OverwriteCells did it
    assert sorted(restored(out)) == [
        "setup locked cell edited (its source was put back)",
        "test_forward 'grade' unticked",
        "test_forward 'locked' unticked",
        "test_forward locked cell edited (its source was put back)",
    ]


def test_deleted_cells_are_recorded_as_deleted(config):
    nb = demo.submission(demo.STUDENTS[0])
    gone = {"test_cost", "compute_cost"}
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in gone]
    out = sanitize(nb, config)
    entries = out.metadata["gradkit"]["restored"]
    assert {(e["cell"], e["kind"]) for e in entries} == {("test_cost", "deleted"),
                                                        ("compute_cost", "deleted")}  # fmt: skip


def test_gradkit_metadata_brought_by_the_student_is_dropped(config):
    nb = demo.submission(demo.STUDENTS[0])
    nb.metadata["gradkit"] = {"restored": [{"cell": "x", "kind": "tampered", "text": "fake"}]}
    cell(nb, "test_backward").metadata["gradkit"] = {"lines": ["✓ all correct"], "points": 6}
    out = sanitize(nb, config)
    assert out.metadata["gradkit"] == {"restored": []}
    assert all("gradkit" not in c.metadata for c in out.cells)
