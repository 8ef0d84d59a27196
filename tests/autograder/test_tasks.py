"""Are gradients scored block by block against the reference, with honest feedback?"""

import numpy as np
import pytest

from autograder.assignments import backprop, find_task, tasks_for
from autograder.harness import Unreadable
from autograder.inputs import SecretError, course_secret, draw_network, student_seed
from gradlib import nn, numerical_gradient, params_to_vector, vector_to_params

TASK = backprop.TASKS["test_backward"]


def _inputs(seed=5):
    return TASK.draw(seed)


def _reference(inputs):
    return nn.network_gradients(inputs["params"], inputs["X"], inputs["Y"], lambd=inputs["lambd"])


def test_correct_gradients_earn_every_block():
    inputs = _inputs()
    score = TASK.score(_reference(inputs), inputs, 6.0)
    assert score.points == 6.0 and score.full
    assert set(score.blocks) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert all(line.startswith("✓") for line in score.lines)


@pytest.mark.parametrize("block", ["dW1", "db2", "dW3"])
def test_a_bug_loses_exactly_its_block(block):
    inputs = _inputs()
    grads = _reference(inputs)
    grads[block] = 2 * grads[block]
    score = TASK.score(grads, inputs, 6.0)
    assert score.points == 5.0
    assert score.blocks[block[1:]] == 0.0
    bad = [line for line in score.lines if line.startswith("✗")]
    assert len(bad) == 1 and bad[0].startswith(f"✗ {block}:")


def test_missing_nan_and_misshapen_blocks_get_zero_with_a_reason():
    inputs = _inputs()
    grads = _reference(inputs)
    del grads["db1"]
    grads["dW2"] = grads["dW2"].T
    grads["db3"] = np.full_like(grads["db3"], np.nan)
    score = TASK.score(grads, inputs, 6.0)
    assert score.points == 3.0
    text = "\n".join(score.lines)
    assert "db1 is missing" in text
    assert "dW2 has shape" in text and "transposed" in text
    assert "db3 contains NaN" in text


def test_many_blocks_with_one_problem_share_one_line():
    """02's theta_to_params answered with θ's slices, none reshaped: one line for all 20-odd
    blocks, naming a few and how many more, not one line per block."""
    from autograder.assignments.unrolling import TASKS as UNROLLING
    from gradlib.unroll import ParamSpec

    task = UNROLLING["test_theta_to_params"]
    inputs = task.draw(7)
    theta = np.asarray(inputs["theta"])
    spec = ParamSpec.from_shapes({n: tuple(s) for n, s in inputs["shapes"].items()})
    flat = {n: theta[spec.block(n)] for n in spec.names}
    score = task.score(flat, inputs, 4.0)
    assert score.points == 0.0
    (line,) = score.lines
    n = len(spec.names)
    assert line.startswith(f"✗ {n} blocks (W1, b1, W2 and {n - 3} more) hold the right number ")
    assert "reshape" in line and line.count(" has shape ") == 1  # one example, W1's
    # a few blocks with the problem are still named one by one
    few = {n: theta[spec.block(n)].reshape(s) for n, s in zip(spec.names, spec.shapes, strict=True)}
    few["W1"], few["W2"] = flat["W1"], flat["W2"]
    lines = task.score(few, inputs, 4.0).lines
    assert [line for line in lines if "has shape" in line] == [
        f"✗ W1 has shape {flat['W1'].shape}, expected {spec.shapes[0]} (reshape it).",
        f"✗ W2 has shape {flat['W2'].shape}, expected {spec.shapes[2]} (reshape it).",
    ]


def test_every_gradient_block_missing_is_said_once():
    inputs = _inputs()
    score = TASK.score({"dW1": None}, inputs, 6.0)
    assert score.points == 0.0
    assert score.lines == ["✗ 6 blocks (dW1, db1, dW2 and 3 more) are missing (got None)."]


def test_wrong_types_earn_nothing():
    inputs = _inputs()
    assert TASK.score([1, 2], inputs, 6.0).points == 0.0
    assert TASK.score({"dW1": Unreadable("Fake", "Fake()", "no")}, inputs, 6.0).points == 0.0


def test_numeric_differentiation_instead_of_backprop_earns_nothing():
    inputs = _inputs()
    theta, spec = params_to_vector(inputs["params"])

    def J(t):
        return nn.network_cost(vector_to_params(t, spec), inputs["X"], inputs["Y"],
                               lambd=inputs["lambd"])  # fmt: skip

    numeric = vector_to_params(numerical_gradient(J, theta), spec)
    score = TASK.score({"d" + k: v for k, v in numeric.items()}, inputs, 6.0)
    assert score.points == 0.0
    assert "Numeric differentiation" in score.lines[-1]


def test_value_tasks_compare_with_the_reference():
    task = backprop.TASKS["test_cost"]
    inputs = task.draw(3)
    truth = nn.cost(inputs["AL"], inputs["Y"], inputs["params"], lambd=inputs["lambd"])
    assert task.score(truth, inputs, 2.0).points == 2.0
    wrong = task.score(truth + 0.01, inputs, 2.0)
    assert wrong.points == 0.0 and "expected" in wrong.lines[0]


BUGGY_SOLUTION = """
from gradlib import check_gradients
def buggy_blocks(cost, parameters, grads):
    return {"d" + block.name for block in check_gradients(cost, parameters, grads).failing()}
"""


def _buggy_answers(source: str, seed: int) -> tuple[list, dict]:
    from autograder.harness import call_here

    task = backprop.TASKS["test_buggy_blocks"]
    namespace = {}
    exec(source, namespace)
    inputs = task.draw(seed)
    answer = call_here(task.call, (task.function,), namespace, inputs)
    assert answer.ok, answer.error
    return answer.value, inputs


def test_buggy_blocks_differ_per_student_and_only_a_check_finds_them():
    wrong_sets = []
    for seed in range(200):
        inputs = backprop._draw_buggy(seed)
        truth = [backprop._wrong_blocks(inputs["cases"][k]) for k in "012"]
        assert [len(t) for t in truth] == [2, 1, 1]
        assert [{b[1] for b in t} for t in truth] == [{"W", "b"}, {"b"}, {"W"}]
        wrong_sets.append(truth)
    for seed in range(0, 200, 10):  # the check itself is slower: every tenth student
        value, inputs = _buggy_answers(BUGGY_SOLUTION, seed)
        assert backprop._score_buggy_blocks(value, inputs, 2.0).full, seed
    # a guesser who names, case by case, what is most often wrong earns under half
    guessed = 0.0
    for case in zip(*wrong_sets, strict=True):
        common = max(case, key=case.count)
        guessed += sum(max(0, len(common & t) - len(common - t)) / len(t) for t in case)
    assert guessed < 0.5 * 3 * len(wrong_sets)


def test_buggy_blocks_scoring_names_misses_and_false_alarms():
    inputs = backprop._draw_buggy(4)
    truth = [backprop._wrong_blocks(inputs["cases"][k]) for k in "012"]
    task = backprop.TASKS["test_buggy_blocks"]
    assert task.score(truth, inputs, 3.0).full
    bare = [{b[1:] for b in t} for t in truth]  # "W2" for "dW2" is accepted
    assert task.score(bare, inputs, 3.0).full
    one = sorted(truth[0])[:1]
    extra = ({"dW1", "db1", "dW2", "db2", "dW3", "db3"} - truth[1]).pop()
    score = task.score([set(one), truth[1] | {extra}, {"dZ9"}], inputs, 3.0)
    assert score.points == 0.5
    assert "1 wrong block(s) not named" in score.lines[0]
    assert f"✗ {extra}: passed the check" in score.lines[1]
    assert "no block dZ9" in score.lines[2]
    lower = [{b.lower() for b in t} for t in truth]  # "dw2" for "dW2"
    score = task.score(lower, inputs, 3.0)
    assert (
        "names are case-sensitive" in score.lines[0] and "computed correctly" not in score.lines[0]
    )
    assert task.score("dW2", inputs, 3.0).points == 0.0
    assert task.score([{"error": "NotImplementedError: "}] * 3, inputs, 3.0).lines == [
        "✗ buggy_blocks is not implemented yet (it raises NotImplementedError)."
    ]


def test_buggy_blocks_is_graded_where_grading_runs(in_box):
    task = backprop.TASKS["test_buggy_blocks"]
    assert in_box(task, BUGGY_SOLUTION, seed=2, max_points=2.0).full
    constant = 'def buggy_blocks(cost, parameters, grads):\n    return {"dW2", "db1"}\n'
    assert in_box(task, constant, seed=2, max_points=2.0).points < 1.0


def test_inputs_differ_per_student_and_need_the_secret():
    a = student_seed("s3cret", "04-backprop", "test_backward", "ada")
    b = student_seed("s3cret", "04-backprop", "test_backward", "bob")
    assert a != b and a == student_seed("s3cret", "04-backprop", "test_backward", "ada")
    assert a != student_seed("other", "04-backprop", "test_backward", "ada")
    da, db = draw_network(a), draw_network(b)
    assert da.X.shape != db.X.shape or not np.array_equal(da.X, db.X)
    with pytest.raises(SecretError, match="GRADKIT_SECRET"):
        course_secret("")


def test_every_graded_cell_of_the_source_has_a_task():
    import nbformat

    from autograder.course import SOLUTIONS

    nb = nbformat.read(SOLUTIONS / "04-backprop" / "04-backprop.ipynb", as_version=4)
    graded = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")}  # fmt: skip
    assert graded == set(tasks_for("04-backprop"))
    assert find_task("L_model_backward")[0] == "04-backprop"


@pytest.mark.parametrize("factor, points", [(1.0, 6.0), (3.0, 5.0)])
def test_a_block_no_finite_difference_can_check_is_graded_against_exact_backprop(factor, points):
    params = nn.init_params([3, 5, 2, 1], seed=2)
    X = np.random.default_rng(2).normal(size=(3, 4))
    X[:, 1] = 0.0  # every entry of b1 crosses a kink
    inputs = {"params": params, "X": X, "Y": np.ones((1, 4)), "lambd": 0.0}
    grads = nn.network_gradients(params, X, inputs["Y"])
    grads["db1"] = grads["db1"] * factor
    score = backprop.TASKS["test_backward"].score(grads, inputs, 6.0)
    assert score.points == pytest.approx(points)
    assert any("db1: every entry crosses a ReLU kink" in line for line in score.lines)


# --- what the feedback of 04 says about typical mistakes (issue 11) --------------------


def _solution(*edits) -> str:
    """The notebook's solution cells up to backward, with (old, new) text replacements."""
    import nbformat

    from autograder.course import SOLUTIONS

    nb = nbformat.read(SOLUTIONS / "04-backprop" / "04-backprop.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    source = "import numpy as np\n" + "\n".join(
        cells[k] for k in ("forward_helpers", "L_model_forward", "compute_cost", "L_model_backward")
    )
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


def _graded(task_id: str, source: str, seed: int = 7):
    from autograder.grading import grade_answer
    from autograder.harness import call_here

    task = backprop.TASKS[task_id]
    namespace = {}
    exec(source, namespace)
    inputs = task.draw(seed)
    answer = call_here(task.call, (task.function, *task.needs), namespace, inputs)
    return grade_answer(task, answer, inputs, 6.0)


@pytest.mark.parametrize(
    ("l2", "words"),
    [
        (lambda lambd, m: lambd / m, "twice the right one"),
        (lambda lambd, m: lambd / 2, "without the 1/m"),
        (lambda lambd, m: lambd, "without the 1/(2m)"),
        (lambda lambd, m: lambd / (2 * m * m), "divided by m twice"),
        (lambda lambd, m: 0.0, "no L2 term"),
    ],
)
def test_compute_cost_names_each_l2_mistake_as_05_does(l2, words):
    task = backprop.TASKS["test_cost"]
    inputs = task.draw(3)
    AL, Y, params, lambd = (inputs[k] for k in ("AL", "Y", "params", "lambd"))
    m = Y.shape[1]
    norms = sum(float(np.sum(params[f"W{k}"] ** 2)) for k in (1, 2, 3))
    score = task.score(nn.cost(AL, Y) + l2(lambd, m) * norms, inputs, 2.0)
    assert score.points == 0.0  # in 04 the cost is right or wrong: no half points
    assert words in "\n".join(score.lines), score.lines


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (("relu(Z) if l < L else sigmoid(Z)", "relu(Z)"), "the output layer applies ReLU"),
        (("relu(Z) if l < L else sigmoid(Z)", "sigmoid(Z)"), "hidden layers apply the sigmoid"),
        (("Z = W @ A_prev + b", "Z = W @ A_prev"), "leaves out the bias b"),
        (("for l in range(1, L + 1):", "for l in range(1, L):"), "the loop stops before"),
        (("relu(Z) if l < L else sigmoid(Z)", "relu(Z) if l < L else (Z, Z)"), "not the sigmoid"),
    ],
)
def test_a_wrong_forward_says_what_it_did(edit, words):
    source = _solution(edit)
    if "(Z, Z)" in edit[1]:  # an output the sigmoid cannot give: Z itself, beyond (0, 1)
        source = source.replace("(Z, Z)", "(2 + np.abs(Z), Z)")
    score = _graded("test_forward", source)
    assert score.points == 0.0
    assert words in "\n".join(score.lines), score.lines


def test_a_backward_is_graded_on_right_caches_whatever_the_forward_does():
    # a forward without + b costs the forward's points, not the backward's (more in
    # test_assignment_backprop.py, where grading runs)
    score = _graded("test_backward", _solution(("Z = W @ A_prev + b", "Z = W @ A_prev")))
    assert score.points == 6.0, score.lines


def test_a_missing_1_over_m_in_dW_with_l2_on_is_named():
    source = _solution(("dZ @ A_prev.T / m + lambd", "dZ @ A_prev.T + lambd"))
    score = _graded("test_backward", source)
    text = "\n".join(score.lines)
    assert score.points == 3.0 and "no simple pattern" not in text
    assert text.count("its 1/m is missing, while its L2 term") == 3


def test_an_l2_gradient_without_its_1_over_m_is_named():
    score = _graded("test_backward", _solution(("lambd / m * W", "lambd * W")))
    text = "\n".join(score.lines)
    assert score.points == 3.0 and text.count("its L2 term is λ·W") == 3, text


def test_an_in_place_update_through_an_alias_is_named():
    alias = "    reg = W\n    reg *= lambd / m\n    dW = dZ @ A_prev.T / m + reg"
    source = _solution(("    dW = dZ @ A_prev.T / m + lambd / m * W", alias))
    score = _graded("test_backward", source)
    assert score.points < 6.0
    assert "changed the parameters they were given" in score.lines[0]


@pytest.mark.parametrize(
    ("edit", "words", "not_words"),
    [
        (('    ### END SOLUTION\n    return grads',
          '    grads["dW1"], grads["dW2"] = grads["dW2"], grads["dW1"]\n    return grads'),
         "dW1 and dW2 are swapped", "transposed?"),
        (('grads[f"dW{l}"], grads[f"db{l}"]', 'grads[f"dW{l - 1}"], grads[f"db{l - 1}"]'),
         "dW1 holds the gradient of W2", "transposed?"),
        (("for l in range(L, 0, -1):", "for l in range(L, 1, -1):"),
         "stop before it reaches layer 1", "np.zeros"),
    ],
)  # fmt: skip
def test_gradients_under_the_wrong_key_say_where_they_went(edit, words, not_words):
    score = _graded("test_backward", _solution(edit))
    text = "\n".join(score.lines)
    assert words in text and not_words not in text, text
    if "l - 1" in edit[1]:
        assert "off by one" in text


@pytest.mark.parametrize(
    "mask",
    ["dA * (Z < 0)", "dA * (dA > 0)", "np.maximum(0, dA)", "dA * (Z > 1)", "dA * Z"],
)
def test_relu_mask_bugs_point_at_dZ_not_at_zeros_or_indices(mask):
    source = _solution(("dZ = dA * (Z > 0)", f"dZ = {mask}"))
    for seed in range(6):
        text = "\n".join(_graded("test_backward", source, seed).lines)
        assert "error enters at dZ" in text, text
        assert "np.zeros" not in text and "loop-bound" not in text, text
