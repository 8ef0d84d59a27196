"""autograder.preprocessors.CheckCellMetadata accepts and rejects exactly what nbgrader's does."""

from __future__ import annotations

import copy

import nbformat
import pytest
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheck

from autograder.course import SOLUTIONS
from autograder.preprocessors import CheckCellMetadata

NOTEBOOK = next(SOLUTIONS.glob("04-*/*.ipynb"))


def _outcome(check, nb) -> str:
    try:
        check().preprocess(copy.deepcopy(nb), {})
    except Exception as exc:  # noqa: BLE001 - the outcome is what we compare
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _graded(nb):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))


def _mutations():
    def meta(nb):
        return _graded(nb).metadata["nbgrader"]

    yield "unchanged", lambda nb: None
    yield "too old", lambda nb: meta(nb).update(schema_version=1)
    yield "too new", lambda nb: meta(nb).update(schema_version=99)
    yield "points as text", lambda nb: meta(nb).update(points="ten")
    yield "grade as text", lambda nb: meta(nb).update(grade="yes")
    yield "no grade_id", lambda nb: meta(nb).pop("grade_id")
    yield "empty grade_id", lambda nb: meta(nb).update(grade_id="")
    yield "no points", lambda nb: meta(nb).pop("points")
    yield "unknown key", lambda nb: meta(nb).update(surprise=1)
    yield "metadata not a dict", lambda nb: _graded(nb).metadata.update(nbgrader=[1, 2])

    def duplicate(nb):
        cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")]
        cells[1].metadata["nbgrader"]["grade_id"] = cells[0].metadata["nbgrader"]["grade_id"]

    yield "duplicate grade_id", duplicate


@pytest.mark.parametrize("name,mutate", list(_mutations()), ids=[n for n, _ in _mutations()])
def test_same_verdict_as_nbgrader(name, mutate):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    mutate(nb)
    ours, theirs = _outcome(CheckCellMetadata, nb), _outcome(NbgraderCheck, nb)
    assert ours == theirs
    if name == "unchanged":
        assert ours == "ok"
    elif name != "unknown key":  # nbgrader's schema allows extra keys
        assert ours != "ok", name


def test_every_kit_notebook_passes():
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert _outcome(CheckCellMetadata, nb) == "ok", path
