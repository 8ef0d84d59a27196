"""Is 04's L_model_backward graded on its own, whatever L_model_forward does?

Each submission is graded where grading runs (a sandboxed grading process, conftest's
in_box), its verdicts computed here.
"""

import nbformat
import pytest

from autograder.assignments.backprop import TASKS
from autograder.course import SOLUTIONS

NO_BIAS = ("Z = W @ A_prev + b", "Z = W @ A_prev")

# A forward and backward that keep their caches their own way (dicts), consistently.
OWN_LAYOUT = [
    ("caches.append((linear_cache, activation_cache))",
     'caches.append({"linear": linear_cache, "Z": activation_cache})'),
    ("linear_cache, activation_cache = caches[l - 1]",
     'linear_cache, activation_cache = caches[l - 1]["linear"], caches[l - 1]["Z"]'),
]  # fmt: skip


def _solution(*edits) -> str:
    """The notebook's solution cells up to backward, with (old, new) text replacements."""
    nb = nbformat.read(SOLUTIONS / "04-backprop" / "04-backprop.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    source = "import numpy as np\n" + "\n".join(
        cells[k] for k in ("forward_helpers", "L_model_forward", "compute_cost", "L_model_backward")
    )
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


@pytest.mark.parametrize("seed", [7, 8])
def test_a_forward_without_its_bias_costs_the_forward_points_only(in_box, seed):
    source = _solution(NO_BIAS)
    forward = in_box(TASKS["test_forward"], source, seed=seed, max_points=2.0)
    assert forward.points == 0.0
    assert "leaves out the bias b" in "\n".join(forward.lines), forward.lines
    backward = in_box(TASKS["test_backward"], source, seed=seed, max_points=6.0)
    assert backward.points == 6.0 and backward.full, backward.lines
    assert all(line.startswith("✓") for line in backward.lines), backward.lines


def test_a_forward_that_is_not_written_yet_costs_the_backward_nothing(in_box):
    source = _solution(("    for l in range(1, L + 1):", "    raise NotImplementedError\n"
                        "    for l in range(1, L + 1):"))  # fmt: skip
    backward = in_box(TASKS["test_backward"], source, max_points=6.0)
    assert backward.points == 6.0, backward.lines


def test_a_wrong_backward_still_loses_its_blocks_on_the_right_caches(in_box):
    source = _solution(NO_BIAS, ("np.sum(dZ, axis=1, keepdims=True) / m",
                                 "np.sum(dZ, axis=1, keepdims=True)"))  # fmt: skip
    backward = in_box(TASKS["test_backward"], source, max_points=6.0)
    assert backward.points == 3.0  # db1, db2, db3 wrong; every dW right
    text = "\n".join(backward.lines)
    assert "L_model_forward" not in text, text  # the forward is not to blame here


def test_caches_in_a_layout_of_ones_own_are_graded_as_they_are(in_box):
    right = in_box(TASKS["test_backward"], _solution(*OWN_LAYOUT), max_points=6.0)
    assert right.points == 6.0, right.lines
    # ... and then a wrong forward is in them, and the feedback says so
    wrong = in_box(TASKS["test_backward"], _solution(*OWN_LAYOUT, NO_BIAS), max_points=6.0)
    assert wrong.points < 6.0
    assert "layout of its own" in wrong.lines[0] and "leaves out the bias b" in wrong.lines[0]


def test_an_in_place_update_through_an_alias_is_still_seen(in_box):
    alias = "    reg = W\n    reg *= lambd / m\n    dW = dZ @ A_prev.T / m + reg"
    source = _solution(("    dW = dZ @ A_prev.T / m + lambd / m * W", alias))
    backward = in_box(TASKS["test_backward"], source, max_points=6.0)
    assert backward.points < 6.0
    assert "changed the parameters they were given" in backward.lines[0]
