"""Does the visible self-check explain, block by block, what is wrong?"""

import pytest

import autograder

SHORTCUT = """
import autograder
def backward_fixed(X, Y, parameters):
    import gradlib.nn as _n  # not allowed: the reference
    return _n.network_gradients(parameters, X, Y)
result = autograder.check(backward_fixed)
"""

MINE = """
import numpy as np
import autograder

def backward_fixed(X, Y, parameters):
    m = X.shape[1]
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = W1 @ X + b1; A1 = np.maximum(0, Z1)
    Z2 = W2 @ A1 + b2; A2 = np.maximum(0, Z2)
    Z3 = W3 @ A2 + b3; A3 = 1 / (1 + np.exp(-Z3))
    dZ3 = A3 - Y
    dW3 = dZ3 @ A2.T / m; db3 = dZ3.sum(1, keepdims=True) / m
    dZ2 = (W3.T @ dZ3) * (Z2 > 0)
    dW2 = dZ2 @ A1.T / m * FACTOR; db2 = dZ2.sum(1, keepdims=True) / m
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    dW1 = dZ1 @ X.T / m; db1 = dZ1.sum(1, keepdims=True) / m
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dW3": dW3, "db3": db3}

result = autograder.check(backward_fixed)
"""


def _run(code, **names):
    namespace = dict(names)
    exec(code, namespace)
    return namespace


def test_a_correct_function_passes():
    result = _run(MINE, FACTOR=1.0)["result"]
    assert result.passed
    assert "all checks pass" in result.summary()
    assert "✓ dW2" in result._repr_html_()


def test_a_bug_is_named_with_its_block_and_diagnosis():
    result = _run(MINE, FACTOR=2.0)["result"]
    assert not result.passed
    bad = [line for line in result.score.lines if line.startswith("✗")]
    assert len(bad) == 1 and bad[0].startswith("✗ dW2:")
    assert "2" in bad[0] and "worst dW2[" in bad[0]


def test_assert_passes_raises_with_the_diagnosis():
    namespace = _run(MINE, FACTOR=2.0)
    with pytest.raises(AssertionError, match="dW2"):
        exec("autograder.assert_passes(backward_fixed)", namespace)


def test_assert_passes_refuses_to_grade_inside_plain_nbgrader(monkeypatch):
    namespace = _run(MINE, FACTOR=1.0)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(RuntimeError, match="gradkit autograde"):
        exec("autograder.assert_passes(backward_fixed)", namespace)


def test_the_self_check_reports_a_missing_function():
    namespace = {"autograder": autograder}
    exec("result = autograder.check('buggy_blocks')", namespace)
    assert "not defined" in namespace["result"].score.lines[0]


def test_calling_the_reference_earns_nothing_even_with_right_numbers(in_box):
    from autograder.assignments.backprop import TASKS

    score = in_box(TASKS["test_backward_fixed"], SHORTCUT.replace("result = ", "# "), 1, 6.0)
    assert score.points == 0.0
    assert any("gradlib.nn.network_gradients" in line for line in score.lines), score.lines


@pytest.mark.slow
@pytest.mark.parametrize("student", ["blank", "ada", "halfix"])
def test_nbgrader_validate_fails_exactly_where_points_would_be_lost(tmp_path, student):
    import subprocess
    import sys

    import nbformat

    from autograder import demo

    story = next(s for s in demo.STUDENTS if s.name == student)
    path = tmp_path / "04-backprop.ipynb"
    nbformat.write(demo.submission(story), path)
    run = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**__import__("os").environ, "MPLBACKEND": "Agg"})  # fmt: skip
    out = run.stdout + run.stderr
    lost = [k for k, v in story.expected.items() if v < demo.FULL[k]]
    if not lost:
        assert "Success! Your notebook passes all the tests." in out, out[-2000:]
    else:
        assert "VALIDATION FAILED" in out, out[-2000:]
        names = {"test_forward": "L_model_forward", "test_cost": "compute_cost",
                 "test_backward": "L_model_backward", "test_buggy_blocks": "buggy_blocks",
                 "test_backward_fixed": "backward_fixed"}  # fmt: skip
        for grade_id in lost:
            assert f"{names[grade_id]}: ✗ not yet" in out, (grade_id, out[-2000:])
        assert "selfcheck.py" not in out  # the diagnosis, not the grader's own frames
