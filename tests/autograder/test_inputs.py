"""Do the secret inputs leave the classic backprop bugs nowhere to hide, on every student?

Each bug is a student's L_model_backward (or backward_fixed) as beginners write it; over
200 students' secret inputs every one must lose points, while the correct answer keeps
them all.
"""

import numpy as np
import pytest

from autograder import demo
from autograder.assignments.backprop import TASKS
from autograder.harness import call_here
from autograder.inputs import LARGE_DIMS, LARGE_M, draw_large_network, draw_network, student_seed

STUDENTS = 200
ANSWERS = demo.answers()
FORWARD = ANSWERS["forward_helpers"] + "\n" + ANSWERS["L_model_forward"] + "\n"
BACKWARD = ANSWERS["L_model_backward"]

PAIRS = BACKWARD.replace(
    "    dZ = AL - Y\n",
    "    m = Y.shape[1]\n    keep = m - m % 2  # examples in pairs: the odd one out is lost\n"
    "    dZ = AL - Y\n    dZ[:, keep:] = 0\n",
)
BUGS = {
    "pairs, dropping the last example": PAIRS,
    "m = A_prev.shape[0]": BACKWARD.replace("m = A_prev.shape[1]", "m = A_prev.shape[0]"),
    "W @ dZ without the transpose": BACKWARD.replace("dA_prev = W.T @ dZ", "dA_prev = W @ dZ"),
    "one missing entry of db": BACKWARD.replace(
        "    return dA_prev, dW, db", "    db[-1] = 0.0\n    return dA_prev, dW, db"
    ),
    "L2 added in place through an alias": BACKWARD.replace(
        "    dW = dZ @ A_prev.T / m + lambd / m * W",
        "    reg = W\n    reg *= lambd / m  # scales W itself, used below\n"
        "    dW = dZ @ A_prev.T / m + reg",
    ),
    "ReLU mask taken from dA": BACKWARD.replace("dZ = dA * (Z > 0)", "dZ = dA * (dA > 0)"),
}


def _points(task_id: str, source: str, seed: int) -> float:
    task = TASKS[task_id]
    namespace = {"np": np}
    exec(source, namespace)
    inputs = task.draw(seed)
    answer = call_here(task.call, (task.function, *task.needs), namespace, inputs)
    if not answer.ok:  # the bug made the student's code raise: no points either
        return 0.0
    return task.score(answer.value, inputs, 6.0).points


def _seeds():
    return [student_seed("course-secret", "04-backprop", "test_backward", f"s{k}")
            for k in range(STUDENTS)]  # fmt: skip


def test_the_draws_have_what_each_bug_needs_to_show():
    for seed in _seeds():
        draw = draw_network(seed)
        dims, m = draw.layer_dims, draw.X.shape[1]
        assert m % 2 == 1 and dims[0] != m and draw.lambd >= 0.1
        assert all(a != b for a, b in zip(dims, dims[1:], strict=False))
    assert LARGE_M % 2 == 1 and LARGE_DIMS[0] != LARGE_M


def test_the_correct_backward_keeps_every_point_on_every_students_inputs():
    assert all(_points("test_backward", FORWARD + BACKWARD, s) == 6.0 for s in _seeds())


@pytest.mark.parametrize("bug", list(BUGS))
def test_every_classic_bug_loses_points_on_every_students_inputs(bug):
    kept = [s for s in _seeds() if _points("test_backward", FORWARD + BUGS[bug], s) == 6.0]
    assert kept == [], f"{bug}: full marks on {len(kept)} of {STUDENTS} students"


def _provided() -> str:
    """The notebook's locked cell with the colleague's forward_3layer and backward_with_bugs."""
    import nbformat

    from autograder.course import RELEASE

    nb = nbformat.read(RELEASE / "04-backprop" / "04-backprop.ipynb", as_version=4)
    grade_id = "provided_3layer"
    return next(c.source for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id) + "\n"  # fmt: skip


def test_the_unfixed_colleague_function_loses_points_on_every_students_inputs():
    unfixed = _provided() + "backward_fixed = backward_with_bugs\n"
    seeds = [student_seed("course-secret", "04-backprop", "test_backward_fixed", f"s{k}")
             for k in range(STUDENTS)]  # fmt: skip
    assert all(_points("test_backward_fixed", unfixed, s) < 6.0 for s in seeds)


def test_the_large_instance_is_odd_and_has_live_units():
    draw = draw_large_network(3)
    assert draw.X.shape == (LARGE_DIMS[0], LARGE_M)


RESCALED = """
def backward_fixed(X, Y, parameters):
    grads = backward_with_bugs(X, Y, parameters)
    grads["dW2"] = grads["dW2"] / 2
    grads["db1"] = grads["db1"] / 4
    return grads
"""
ALIASED = "bwb = backward_with_bugs\n" + RESCALED.replace("backward_with_bugs(X", "bwb(X")
RECOMPUTED = """
def backward_fixed(X, Y, parameters):
    grads = backward_with_bugs(X, Y, parameters)  # keep the right blocks, redo the wrong ones
    m = X.shape[1]
    _, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3) = forward_3layer(X, parameters)
    dZ2 = (W3.T @ (A3 - Y)) * (A2 > 0)
    dZ1 = (W2.T @ dZ2) * (A1 > 0)
    grads["dW2"] = dZ2 @ A1.T / m
    grads["db1"] = np.sum(dZ1, axis=1, keepdims=True) / m
    return grads
"""


@pytest.mark.parametrize("trick", [RESCALED, ALIASED])
def test_dividing_the_colleagues_output_by_its_factors_is_not_a_fix(trick):
    source = _provided() + trick
    seeds = [student_seed("course-secret", "04-backprop", "test_backward_fixed", f"s{k}")
             for k in range(20)]  # fmt: skip
    assert all(_points("test_backward_fixed", source, s) < 6.0 for s in seeds)


def test_redoing_the_wrong_lines_on_top_of_the_colleagues_call_is_a_fix():
    seeds = [student_seed("course-secret", "04-backprop", "test_backward_fixed", f"s{k}")
             for k in range(20)]  # fmt: skip
    assert all(_points("test_backward_fixed", _provided() + RECOMPUTED, s) == 6.0 for s in seeds)
    solution = _provided() + ANSWERS["backward_fixed"]
    assert all(_points("test_backward_fixed", solution, s) == 6.0 for s in seeds)
