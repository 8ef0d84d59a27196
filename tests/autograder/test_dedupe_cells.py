"""Copy-pasted and mislabelled cells: does an honest mistake ever fail the whole notebook?

JupyterLab copies a cell's nbgrader metadata with the cell. The unit tests run the real
sanitize pipeline (course.SANITIZE, in nbgrader's order) on the real release notebook of
04-backprop against a real gradebook; the slow test grades a small class end to end.
"""

import copy
import warnings

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbformat.warnings import MissingIDFieldWarning
from traitlets.utils.importstring import import_item

from autograder import demo
from autograder.autograde import autograde
from autograder.course import SANITIZE, SOLUTIONS, db_url, nbgrader_config, register
from autograder.preprocessors.dedupe_cells import Original, grade_id, keepers, released
from autograder.report import collect

ASSIGNMENT = "04-backprop"
DEDUPE = "autograder.preprocessors.DedupeCells"
CHECKSUM = "0" * 32
# Cells with a grade_id in the instructor's notebook: the count a sanitized submission keeps.
NBGRADER_CELLS = sum(
    "grade_id" in c.metadata.get("nbgrader", {})
    for c in nbformat.read(SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4).cells
)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """nbgrader config of a course directory whose gradebook knows 04-backprop."""
    config = nbgrader_config(tmp_path_factory.mktemp("course"))
    register(config, ASSIGNMENT)
    return config


def sanitize(nb, config, pipeline=tuple(SANITIZE)):
    """Run the sanitize preprocessors on ``nb`` the way nbgrader's Autograde does."""
    resources = {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT,
                              "student": "s", "db_url": db_url(config)}}  # fmt: skip
    for name in pipeline:
        nb, resources = import_item(name)(config=config).preprocess(nb, resources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingIDFieldWarning)  # cells nbgrader puts back
        nbformat.validate(nb)
    return nb


def solved():
    """A correct submission, built from the release notebook."""
    return demo.submission(demo.STUDENTS[0])


def where(nb, name: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == name)


def paste(nb, name: str, at: int, source: str | None = None):
    """Insert a copy of the cell ``name`` (metadata and all) at index ``at``; return it."""
    cell = copy.deepcopy(nb.cells[where(nb, name)])
    cell.id = f"pasted-{name}-{at}"
    if source is not None:
        cell.source = source
    nb.cells.insert(at, cell)
    return cell


def owners(nb) -> dict[str, list[str]]:
    """grade_id -> ids of the cells that carry it."""
    found = {}
    for cell in nb.cells:
        if grade_id(cell) is not None:
            found.setdefault(grade_id(cell), []).append(cell.get("id"))
    return found


def ids(nb) -> list[str]:
    return [c.get("id") for c in nb.cells]


def test_nbgrader_alone_fails_the_whole_notebook_on_a_pasted_cell(config):
    nb = solved()
    paste(nb, "L_model_backward", where(nb, "L_model_backward") + 1)
    without = tuple(name for name in SANITIZE if name != DEDUPE)
    with pytest.raises(KeyError, match="grade_id"):
        sanitize(nb, config, without)


def test_an_untouched_submission_keeps_every_cell_and_id(config):
    nb = solved()
    before = owners(nb)
    out = sanitize(copy.deepcopy(nb), config)
    assert owners(out) == before and len(before) == NBGRADER_CELLS
    assert ids(out) == ids(nb)


def test_a_pasted_answer_cell_leaves_the_id_on_the_first_and_its_code_in_place(config):
    nb = solved()
    first = nb.cells[where(nb, "L_model_backward")]
    copy_ = paste(nb, "L_model_backward", where(nb, "L_model_backward") + 1, source="x = 1")
    out = sanitize(nb, config)
    assert owners(out)["L_model_backward"] == [first.id]
    assert all(len(cells) == 1 for cells in owners(out).values())
    pasted = out.cells[ids(out).index(copy_.id)]
    assert "nbgrader" not in pasted.metadata and pasted.source == "x = 1"
    assert ids(out) == ids(nb)  # nothing added, nothing lost


def test_a_test_cell_pasted_above_its_answer_does_not_take_the_grading(config):
    nb = solved()
    real = nb.cells[where(nb, "test_backward")]
    copy_ = paste(nb, "test_backward", where(nb, "L_model_backward"))
    out = sanitize(nb, config)
    assert owners(out)["test_backward"] == [real.id]
    assert ids(out).index(real.id) > where(out, "L_model_backward")
    pasted = out.cells[ids(out).index(copy_.id)]
    assert "nbgrader" not in pasted.metadata and pasted.cell_type == "code"


def test_a_test_cell_pasted_below_the_real_one_leaves_the_real_one_graded(config):
    nb = solved()
    real = nb.cells[where(nb, "test_backward")]
    paste(nb, "test_backward", len(nb.cells))
    assert owners(sanitize(nb, config))["test_backward"] == [real.id]


def test_a_pasted_locked_markdown_cell_is_kept_once_and_restored(config):
    nb = solved()
    real = nb.cells[where(nb, "md_backward")]
    real.source = "my notes"  # nbgrader puts a locked cell's source back
    paste(nb, "md_backward", where(nb, "md_backward") + 1)
    out = sanitize(nb, config)
    assert owners(out)["md_backward"] == [real.id]
    assert out.cells[ids(out).index(real.id)].source.startswith("## 3")


def test_own_cell_claiming_a_test_id_keeps_its_code_and_the_real_test_stays(config):
    nb = solved()
    real = nb.cells[where(nb, "test_backward")]
    mine = paste(nb, "test_backward", where(nb, "test_backward"), source="scratch = 42")
    out = sanitize(nb, config)
    assert owners(out)["test_backward"] == [real.id]
    assert out.cells[ids(out).index(mine.id)].source == "scratch = 42"


def test_an_answer_cell_with_another_answers_id_still_runs_and_is_stubbed(config):
    nb = solved()
    first = nb.cells[where(nb, "compute_cost")]
    backward = nb.cells[where(nb, "L_model_backward")]
    backward.metadata.nbgrader["grade_id"] = "compute_cost"
    out = sanitize(nb, config)
    assert owners(out)["compute_cost"] == [first.id]
    kept = out.cells[ids(out).index(backward.id)]
    assert "nbgrader" not in kept.metadata and kept.source == backward.source
    assert len(owners(out)["L_model_backward"]) == 1  # RestoreCells' stub, so nothing fails
    assert where(out, "test_backward") > ids(out).index(backward.id)


@pytest.mark.parametrize(
    "meta",
    [
        {"grade": False, "solution": False, "locked": False, "schema_version": 3},
        {"grade": False, "solution": True, "locked": False, "schema_version": 3},
        {"grade": True, "solution": False, "locked": True, "points": 1, "schema_version": 3},
        {"grade": False, "solution": True, "locked": False, "schema_version": 3, "grade_id": "x"},
        {"grade": False, "solution": False, "locked": False, "grade_id": "mine"},
        {"grade_id": ["not", "a", "string"]},
        {},
        "not even a dict",
    ],
)
def test_nbgrader_metadata_without_a_known_grade_id_makes_an_ordinary_cell(config, meta):
    nb = solved()
    cell = new_code_cell("y = 2")
    cell.metadata["nbgrader"] = meta
    nb.cells.insert(3, cell)
    out = sanitize(nb, config)
    assert "nbgrader" not in out.cells[3].metadata and out.cells[3].source == "y = 2"
    assert len(owners(out)) == NBGRADER_CELLS


def test_a_test_cell_that_lost_its_grade_id_is_put_back_and_graded(config):
    nb = solved()
    lost = nb.cells[where(nb, "test_cost")]
    del lost.metadata.nbgrader["grade_id"]
    out = sanitize(nb, config)
    assert "nbgrader" not in out.cells[ids(out).index(lost.id)].metadata
    back = out.cells[where(out, "test_cost")]
    assert back.metadata["nbgrader"]["grade"] and back.metadata["nbgrader"]["points"] == 2
    assert where(out, "compute_cost") < where(out, "test_cost") < where(out, "md_backward")


def test_a_kept_cell_with_broken_metadata_gets_the_gradebooks_back(config):
    nb = solved()
    meta = nb.cells[where(nb, "test_backward")].metadata.nbgrader
    del meta["points"], meta["schema_version"]
    meta.update(grade=False, colour="red", checksum=CHECKSUM)
    out = sanitize(nb, config)
    fixed = out.cells[where(out, "test_backward")].metadata.nbgrader
    assert fixed["grade"] and fixed["locked"] and fixed["points"] == 6.0
    assert "colour" not in fixed and fixed["checksum"] != CHECKSUM


def test_keepers_prefers_the_released_copy_after_the_previous_cell():
    def cell(name, source):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade_id": name}})

    cells = [cell("t", "check(f)"), cell("a", "def f(): 1"), cell("t", "mine"),
             cell("a", "def f(): 2"), cell("t", "check(f)"), cell("t", "check(f)")]  # fmt: skip
    originals = [Original("a", False), Original("t", True, frozenset({"check(f)"}))]
    assert keepers(cells, originals) == {"a": 1, "t": 4}
    assert keepers(cells[:3], originals) == {"a": 1, "t": 2}  # nothing faithful after: first after
    assert keepers(cells[:1], originals) == {"t": 0}  # nothing before it to follow
    assert keepers(cells, originals[1:]) == {"t": 0}  # unknown "a" keeps nothing


def test_released_source_drops_hidden_tests_as_nbgrader_does():
    source = "check(f)\n### BEGIN HIDDEN TESTS\nassert_passes(f)\n### END HIDDEN TESTS\nok()"
    assert released(source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS") == "check(f)\nok()"


# ---- end to end: a small class graded once by the real autograde --------------------------

CLASS = {
    # a buggy copy of the answer pasted below it: the copy's code runs, and it is the code
    # the test sees (noreg's bug: dW wrong), so the grade is that of the copy
    "paste_buggy": {**demo.FULL, "test_backward": 3.0},
    "paste_test_above": demo.FULL,  # test cell pasted above its answer cell
    "own_cell_with_test_id": demo.FULL,  # plus a locked markdown cell pasted
    "broken_metadata": demo.FULL,  # no grade_id on a test cell, unknown ids, empty metadata
}


def _submission(name: str):
    nb = solved()
    backward = where(nb, "L_model_backward")
    if name == "paste_buggy":
        bug = nb.cells[backward].source.replace("dZ @ A_prev.T / m + lambd / m * W",
                                                "dZ @ A_prev.T / m")  # fmt: skip
        assert bug != nb.cells[backward].source
        paste(nb, "L_model_backward", backward + 1, source=bug)
    elif name == "paste_test_above":
        paste(nb, "test_backward", backward)
    elif name == "own_cell_with_test_id":
        paste(nb, "test_backward", where(nb, "test_backward"), source="scratch = 42")
        paste(nb, "md_backward", backward)
    elif name == "broken_metadata":
        del nb.cells[where(nb, "test_cost")].metadata.nbgrader["grade_id"]
        for meta in ({}, {"grade": False, "solution": True, "locked": False,
                          "schema_version": 3, "grade_id": "mine"}):  # fmt: skip
            cell = new_code_cell("z = 3")
            cell.metadata["nbgrader"] = meta
            nb.cells.insert(backward, cell)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("pasting-class")
    for name in CLASS:
        folder = course / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(_submission(name), folder / f"{ASSIGNMENT}.ipynb")
    summary = autograde(ASSIGNMENT, course, workers=1, secret="dedupe-test-secret")
    return summary, collect(f"sqlite:///{course / 'gradebook.db'}")


@pytest.mark.slow
def test_pasting_and_mislabelling_cells_fail_no_notebook_and_cost_no_points(graded):
    summary, report = graded
    assert summary.failed == {}, summary.text()
    assert sorted(summary.graded) == sorted(CLASS)
    for name, expected in CLASS.items():
        assert report.scores[(name, ASSIGNMENT)] == expected, name
