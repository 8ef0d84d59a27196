"""05-in-practice: do the scorers give full marks to right answers and explain each mistake?"""

import numpy as np
import pytest

from autograder.assignments import in_practice
from autograder.harness import Unreadable
from autograder.inputs import PUBLIC_SEED
from autograder.selfcheck import _run
from gradlib import nn
from gradlib.netgrad import check_network

TASKS = in_practice.TASKS
REG, DROP, KINKS = (
    TASKS[k]
    for k in ("test_regularized_cost", "test_cost_with_fixed_dropout", "test_kinked_blocks")
)


def _text(score) -> str:
    return "\n".join(score.lines)


# --- regularized_cost ------------------------------------------------------------------


def _reg(seed=11):
    inputs = REG.draw(seed)
    params, X, Y, lambd = (inputs[k] for k in ("params", "X", "Y", "lambd"))
    m = Y.shape[1]
    data = nn.network_cost(params, X, Y)
    norms = sum(float(np.sum(params[f"W{k}"] ** 2)) for k in (1, 2, 3))
    return inputs, data, norms, lambd, m


def test_the_right_regularized_cost_earns_full_points():
    inputs, data, norms, lambd, m = _reg()
    score = REG.score(data + lambd * norms / (2 * m), inputs, 3.0)
    assert score.full and _text(score).startswith("✓")


def test_a_cost_from_AL_instead_of_the_logits_is_right_too():
    inputs, _, norms, lambd, m = _reg()
    AL, _ = nn.forward(inputs["X"], inputs["params"])
    Y = inputs["Y"]
    ce = -np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))
    assert REG.score(ce + lambd * norms / (2 * m), inputs, 3.0).full


def test_a_missing_l2_term_earns_nothing_and_says_so():
    inputs, data, *_ = _reg()
    score = REG.score(data, inputs, 3.0)
    assert score.points == 0.0
    assert "no L2 term" in _text(score)


@pytest.mark.parametrize(
    ("factor", "words"),
    [
        (lambda lambd, m: lambd / m, "λ/m·Σ‖W‖²"),
        (lambda lambd, m: lambd / 2, "without the 1/m"),
        (lambda lambd, m: lambd, "without the 1/(2m)"),
    ],
)
def test_a_wrong_l2_factor_earns_half_and_names_the_factor(factor, words):
    inputs, data, norms, lambd, m = _reg()
    score = REG.score(data + factor(lambd, m) * norms, inputs, 3.0)
    assert score.points == 1.5
    assert score.lines[0] == "✓ the cross-entropy part is right."
    assert words in score.lines[1]


def test_biases_in_the_l2_term_are_named():
    inputs, data, norms, lambd, m = _reg()
    biases = sum(float(np.sum(inputs["params"][f"b{k}"] ** 2)) for k in (1, 2, 3))
    score = REG.score(data + lambd * (norms + biases) / (2 * m), inputs, 3.0)
    assert score.points == 1.5 and "biases" in _text(score)


def test_a_summed_cross_entropy_keeps_the_l2_half():
    inputs, data, norms, lambd, m = _reg()
    score = REG.score(m * data + lambd * norms / (2 * m), inputs, 3.0)
    assert score.points == 1.5
    assert "✓ the L2 term is right." in score.lines and "not averaged" in _text(score)


def test_an_unexplained_cost_shows_both_terms():
    inputs, data, norms, lambd, m = _reg()
    score = REG.score(data + 0.123, inputs, 3.0)
    assert score.points == 0.0
    assert f"{data:.6g}" in _text(score) and "expected" in _text(score)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (np.nan, "nan"),
        (None, "got None"),
        ("0.7", "got a str"),
        (np.ones(3), "shape (3,)"),
        (Unreadable("Tensor", "tensor(0.7)", "no"), "could not read a Tensor"),
    ],
)
def test_bad_cost_values_earn_nothing_with_a_reason(value, words):
    inputs, *_ = _reg()
    score = REG.score(value, inputs, 3.0)
    assert score.points == 0.0 and words in _text(score)


# --- cost_with_fixed_dropout -----------------------------------------------------------


def _drop(seed=13):
    inputs = DROP.draw(seed)
    args = (inputs["params"], inputs["X"], inputs["Y"])
    truth = nn.network_cost(*args, keep_prob=inputs["keep_prob"], dropout_seed=inputs["seed"])
    return inputs, truth


def test_the_reference_dropout_cost_twice_earns_full_points():
    inputs, truth = _drop()
    score = DROP.score([truth, truth], inputs, 4.0)
    assert score.full
    assert score.lines[0].startswith("✓ the mask is fixed")


def test_a_mask_that_changes_between_calls_earns_nothing():
    inputs, truth = _drop()
    score = DROP.score([truth, truth * 1.01], inputs, 4.0)
    assert score.points == 0.0
    assert "mask is not fixed" in _text(score) and "from the seed it is given" in _text(score)


@pytest.mark.parametrize(
    ("how", "scale", "share", "words"),
    [
        ("reference", False, 0.25, "not divided by keep_prob"),
        ("inverted", True, 0.25, "probability 1 − keep_prob"),
        ("one_generator", True, 0.5, "one generator"),
        ("same_seed", True, 0.5, "every layer's mask"),
    ],
)
def test_typical_dropout_mistakes_are_named(how, scale, share, words):
    inputs, truth = _drop()
    value = in_practice._dropout_cost(
        inputs["params"], inputs["X"], inputs["Y"], in_practice._masks(inputs, how), scale
    )
    assert not np.isclose(value, truth, rtol=1e-6, atol=0)
    score = DROP.score([value, value], inputs, 4.0)
    assert score.points == share * 4.0
    assert words in _text(score)


def test_the_reference_masks_reproduce_gradlib():
    inputs, truth = _drop()
    masks = in_practice._masks(inputs, "reference")
    value = in_practice._dropout_cost(inputs["params"], inputs["X"], inputs["Y"], masks)
    assert value == pytest.approx(truth, rel=1e-12)


def test_no_dropout_at_all_earns_nothing():
    inputs, _ = _drop()
    plain = nn.network_cost(inputs["params"], inputs["X"], inputs["Y"])
    score = DROP.score([plain, plain], inputs, 4.0)
    assert score.points == 0.0 and "no dropout at all" in _text(score)


@pytest.mark.parametrize("value", [0.5, [0.5], [np.nan, np.nan], ["a", "a"]])
def test_bad_dropout_answers_earn_nothing_with_a_reason(value):
    inputs, _ = _drop()
    score = DROP.score(value, inputs, 4.0)
    assert score.points == 0.0 and score.lines[0].startswith("✗")


# --- kinked_blocks ---------------------------------------------------------------------

KINKS_SOLUTION = """
from gradlib.netgrad import check_network
def kinked_blocks(params, X, Y, grads):
    return {label.split("[")[0] for label in check_network(params, X, Y, grads).kinks}
"""


def test_the_notebooks_kink_is_crossed_from_below_and_leaves_db1_unchecked():
    # The notebook's recipe: a layer-2 ReLU input 1e-7 from its kink on example 3.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4, 10))
    Y = (rng.random((1, 10)) < 0.5).astype(float)
    params = nn.init_params([4, 5, 3, 1], seed=7)
    _, caches = nn.forward(X, params)
    params["b2"][1, 0] = 1e-7 - params["W2"][1] @ caches[1]["linear"][0][:, 3]
    report = check_network(params, X, Y, nn.network_gradients(params, X, Y))
    assert {label.split("[")[0] for label in report.kinks} == {"W1", "b1", "W2", "b2"}
    # db1 is all kinks: not checked, so never "correct" (a planted db1 *= 3 is not cleared)
    assert report.block("b1").verdict == "unchecked" and not report.passed
    assert {b.verdict for b in report.blocks if b.name != "b1"} == {"correct"}


def test_kinked_blocks_differ_per_student_and_a_fixed_set_fails():
    answers = []
    for seed in range(200):
        inputs = in_practice._draw_kinks(seed)
        truth = [in_practice._kinked(inputs["cases"][k]) for k in "012"]
        for layers, kinked in zip(in_practice.kink_plan(seed), truth, strict=True):
            below = {f"{p}{k}" for k in range(1, max(layers, default=0) + 1) for p in "Wb"}
            assert kinked <= below and {b[1] for b in kinked} >= set(map(str, layers))
        answers.append(tuple(map(frozenset, truth)))
        if seed % 10 == 0:
            check = _run("kinked_blocks", _namespace(KINKS_SOLUTION), seed)
            assert check.passed, check.summary()
    # the same answer for every network, or one per position, earns under half on average
    for fixed in ({"W1", "b1", "W2", "b2"}, {"W1", "b1"}, {"W2", "b2"}, set()):
        earned = [KINKS.score([fixed] * 3, {"cases": _cases(seed)}, 3.0).points
                  for seed in range(0, 200, 10)]  # fmt: skip
        assert max(earned) < 3.0 and np.mean(earned) < 1.5, (fixed, earned)
    by_position = [max(map(column.count, column)) for column in zip(*answers, strict=True)]
    assert sum(by_position) < 0.5 * 3 * len(answers)


def _cases(seed: int) -> dict:
    return in_practice._draw_kinks(seed)["cases"]


def test_kinked_blocks_scoring_explains_each_case():
    seed = next(s for s in range(50) if () in in_practice.kink_plan(s))
    inputs = in_practice._draw_kinks(seed)
    truth = [in_practice._kinked(inputs["cases"][k]) for k in "012"]
    assert KINKS.score(truth, inputs, 3.0).full
    assert KINKS.score([{"d" + b for b in t} for t in truth], inputs, 3.0).full
    none = in_practice.kink_plan(seed).index(())
    some = [k for k in range(3) if k != none]
    answer = [set()] * 3
    answer[some[0]] = truth[some[0]] | {"W3"}
    answer[some[1]] = {"Z1"}
    answer[none] = {"W1"}
    score = KINKS.score(answer, inputs, 3.0)
    assert "✗ no step in W3 crossed a kink" in score.lines[some[0]]
    assert (
        "no block Z1" in score.lines[some[1]]
        and "are missing from your set" in score.lines[some[1]]
    )
    assert "the answer is the empty set" in score.lines[none]
    assert score.points < 1.0
    assert KINKS.score(["W1", "b1", "W2"], inputs, 3.0).points == 0.0
    assert KINKS.score("W1", inputs, 3.0).points == 0.0


def test_kinked_blocks_is_graded_where_grading_runs(in_box):
    assert in_box(KINKS, KINKS_SOLUTION, seed=4, max_points=2.0).full
    fixed = "def kinked_blocks(params, X, Y, grads):\n    return {'W1', 'b1', 'W2', 'b2'}\n"
    assert in_box(KINKS, fixed, seed=4, max_points=2.0).points < 2.0


# --- shortcuts in plain sight (the self-check reads the notebook's history) ----------


def _namespace(source: str) -> dict:
    """A notebook namespace, with IPython's history (In) for the static shortcut check."""
    source = "import numpy as np\nfrom gradlib import nn\n" + source
    namespace = {"In": [source]}
    exec(source, namespace)
    return namespace


def test_calling_the_reference_cost_earns_nothing():
    ns = _namespace(
        "def regularized_cost(params, X, Y, lambd):\n"
        "    return nn.network_cost(params, X, Y, lambd=lambd)\n"
    )
    check = _run("regularized_cost", ns, PUBLIC_SEED)
    assert check.score.points == 0.0
    assert len(check.score.lines) == 1  # the reference's own helpers are not listed
    assert "gradlib.nn.network_cost" in check.score.lines[0]


def test_an_alias_of_the_reference_cost_is_found_through_helpers():
    ns = _namespace(
        "from gradlib.nn import network_cost as nc\n"
        "def helper(p, X, Y, lambd):\n"
        "    return nc(p, X, Y, lambd=lambd)\n"
        "def regularized_cost(params, X, Y, lambd):\n"
        "    return helper(params, X, Y, lambd)\n"
    )
    check = _run("regularized_cost", ns, PUBLIC_SEED)
    assert check.score.points == 0.0 and "gradlib.nn.network_cost" in _text(check.score)


def test_the_solutions_pass_in_a_kernel_namespace():
    ns = _namespace(
        "def regularized_cost(params, X, Y, lambd):\n"
        "    AL, _ = nn.forward(X, params)\n"
        "    m = Y.shape[1]\n"
        "    ce = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m\n"
        "    L = len(params) // 2\n"
        "    return ce + lambd / (2 * m) * sum(np.sum(params[f'W{l}'] ** 2) "
        "for l in range(1, L + 1))\n"
        "def cost_with_fixed_dropout(params, X, Y, keep_prob, seed):\n"
        "    L, A = len(params) // 2, X\n"
        "    for l in range(1, L):\n"
        "        A = np.maximum(0, params[f'W{l}'] @ A + params[f'b{l}'])\n"
        "        A = A * (np.random.default_rng((seed, l)).random(A.shape) < keep_prob) "
        "/ keep_prob\n"
        "    AL = 1 / (1 + np.exp(-(params[f'W{L}'] @ A + params[f'b{L}'])))\n"
        "    return -np.mean(Y * np.log(AL) + (1 - Y) * np.log(1 - AL))\n"
        "from gradlib.netgrad import check_network\n"
        "def kinked_blocks(params, X, Y, grads):\n"
        "    return {l.split('[')[0] for l in check_network(params, X, Y, grads).kinks}\n"
    )
    for name in ("regularized_cost", "cost_with_fixed_dropout", "kinked_blocks"):
        check = _run(name, ns, PUBLIC_SEED)
        assert check.passed, check.summary()


def test_a_global_generator_fails_the_two_call_check():
    ns = _namespace(
        "rng = np.random.default_rng(0)\n"
        "def cost_with_fixed_dropout(params, X, Y, keep_prob, seed):\n"
        "    return float(rng.random())\n"
    )
    check = _run("cost_with_fixed_dropout", ns, PUBLIC_SEED)
    assert check.score.points == 0.0 and "mask is not fixed" in _text(check.score)
