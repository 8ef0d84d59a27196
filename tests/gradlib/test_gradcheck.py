"""Does the grad check name the wrong block and element, and never blame a correct one?"""

import warnings

import numpy as np
import pytest

from gradlib import GradCheckError, PrecisionWarning, check_gradients, relative_difference
from gradlib.gradcheck import thresholds


def _net(seed, dims=(4, 5, 3, 1), m=7):
    """A small tanh/sigmoid network with an independent hand-written backward."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(1, len(dims)):
        params[f"W{layer}"] = rng.normal(size=(dims[layer], dims[layer - 1]))
        params[f"b{layer}"] = rng.normal(size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    Y = (rng.random(size=(1, m)) > 0.5).astype(float)
    L = len(dims) - 1

    def cost(p):
        A = X
        for layer in range(1, L):
            A = np.tanh(p[f"W{layer}"] @ A + p[f"b{layer}"])
        Z = p[f"W{L}"] @ A + p[f"b{L}"]
        # binary cross-entropy of sigmoid(Z), written stably
        return float(np.mean(np.logaddexp(0, Z) - Y * Z))

    def grads(p):
        As = [X]
        for layer in range(1, L):
            As.append(np.tanh(p[f"W{layer}"] @ As[-1] + p[f"b{layer}"]))
        Z = p[f"W{L}"] @ As[-1] + p[f"b{L}"]
        dZ = (1 / (1 + np.exp(-Z)) - Y) / m
        g = {}
        for layer in range(L, 0, -1):
            g[f"dW{layer}"] = dZ @ As[layer - 1].T
            g[f"db{layer}"] = dZ.sum(axis=1, keepdims=True)
            if layer > 1:
                dZ = (p[f"W{layer}"].T @ dZ) * (1 - As[layer - 1] ** 2)
        return g

    return params, cost, grads


def test_relative_difference_formula():
    a, b = np.array([3.0, 4.0]), np.array([0.0, 0.0])
    assert relative_difference(a, b) == 1.0
    assert relative_difference(b, b) == 0.0
    assert relative_difference([1.0, 1.0], [1.0, 3.0]) == pytest.approx(
        2 / (np.sqrt(2) + np.sqrt(10))
    )


def test_correct_gradient_passes_with_small_difference():
    params, cost, grads = _net(0)
    report = check_gradients(cost, params, grads(params))
    assert report.verdict == "correct"
    assert report.difference < 1e-8
    assert [b.name for b in report.blocks] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert report.evaluations == 2 * sum(p.size for p in params.values()) + 1


@pytest.mark.parametrize("eps", [None, 1e-7, 1e-4])
def test_correct_gradients_are_never_called_wrong(eps):
    for seed in range(40):
        params, cost, grads = _net(seed, dims=(6, 8, 5, 1), m=20)
        report = check_gradients(cost, params, grads(params), eps=eps)
        assert report.verdict != "wrong", report.summary()
        if eps is None:
            assert report.verdict == "correct", report.summary()


@pytest.mark.parametrize(
    "block, bug",
    [
        ("dW2", lambda g: 2 * g),  # the lecture's bug: a stray factor 2
        ("db1", lambda g: g + 0.1),  # another lecture bug: an added constant
        ("dW1", lambda g: -g),
        ("db3", lambda g: np.zeros_like(g)),
        ("dW3", lambda g: g * 1.01),
    ],
)
def test_planted_bug_is_named_by_block_and_element(block, bug):
    params, cost, grads = _net(1)
    g = grads(params)
    g[block] = bug(g[block])
    report = check_gradients(cost, params, g)
    assert report.verdict == "wrong"
    assert [b.name for b in report.failing()] == [block[1:]]
    worst_label = report.block(block).worst[0][0]
    assert worst_label.startswith(block[1:] + "[")


def test_single_wrong_element_is_located_exactly():
    params, cost, grads = _net(2)
    g = grads(params)
    g["dW2"][2, 1] += 0.05
    report = check_gradients(cost, params, g)
    wrong = report.block("W2")
    assert wrong.verdict == "wrong"
    label, analytic, numeric = wrong.worst[0]
    assert label == "W2[2, 1]"
    assert analytic - numeric == pytest.approx(0.05, rel=1e-6)
    assert "W2[2, 1]" in report.summary()
    assert "W2[2, 1]" in report._repr_html_()


def test_array_interface_uses_theta_labels():
    report = check_gradients(lambda t: float(np.sum(t**2)), np.ones(4), np.array([2, 2, 2, 3.0]))
    assert report.verdict == "wrong"
    assert report.block("theta").worst[0][0] == "theta[3]"


@pytest.mark.parametrize("method", ["forward", "backward", "richardson", "complex"])
def test_every_method_passes_a_correct_gradient_and_fails_a_bug(method):
    def complex_safe_cost(p):  # the complex step needs complex-safe operations
        A = np.tanh(p["W1"] @ X + p["b1"])
        return np.sum((p["W2"] @ A + p["b2"]) ** 2) / 2

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 6))
    params = {
        "W1": rng.normal(size=(3, 4)),
        "b1": rng.normal(size=(3, 1)),
        "W2": rng.normal(size=(1, 3)),
        "b2": rng.normal(size=(1, 1)),
    }
    Z = params["W1"] @ X + params["b1"]
    A = np.tanh(Z)
    out = params["W2"] @ A + params["b2"]
    dZ = (params["W2"].T @ out) * (1 - A**2)
    g = {
        "dW1": dZ @ X.T,
        "db1": dZ.sum(1, keepdims=True),
        "dW2": out @ A.T,
        "db2": out.sum(1, keepdims=True),
    }
    assert check_gradients(complex_safe_cost, params, g, method=method).verdict == "correct"
    g["db1"] = g["db1"] * 0.5
    assert check_gradients(complex_safe_cost, params, g, method=method).verdict == "wrong"


def test_thresholds_follow_the_lecture_in_float64_and_widen_in_float32():
    t64 = thresholds(np.float64)
    assert (t64.correct, t64.wrong) == (1e-7, 1e-3)
    t32 = thresholds(np.float32)
    assert t32.correct > 1e-5 and t32.wrong > t64.wrong


def test_suspicious_band_between_thresholds():
    theta = np.array([1.0, 2.0])
    report = check_gradients(lambda t: float(np.sum(t**2)), theta, 2 * theta * (1 + 1e-5))
    assert report.verdict == "suspicious"


def test_float32_warns_and_is_not_called_wrong():
    params, cost, grads = _net(5)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    g32 = {k: v.astype(np.float32) for k, v in grads(params).items()}
    with pytest.warns(PrecisionWarning, match="float32.*float64"):
        report = check_gradients(cost, p32, g32)
    assert report.dtype == "float32"
    assert report.verdict != "wrong", report.summary()


def test_integer_parameters_become_float64():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_gradients(
            lambda t: float(np.sum(t**2)), np.array([1, 2, 3]), np.array([2, 4, 6])
        )
    assert report.dtype == "float64" and report.verdict == "correct"


def test_nan_in_theta_names_the_element():
    params, cost, grads = _net(0)
    g = grads(params)
    params["b2"][1, 0] = np.nan
    with pytest.raises(GradCheckError, match=r"theta contains nan at b2\[1, 0\]"):
        check_gradients(cost, params, g)


def test_inf_in_grads_names_the_element():
    params, cost, grads = _net(0)
    g = grads(params)
    g["dW1"][0, 2] = np.inf
    with pytest.raises(GradCheckError, match=r"grads contains inf at dW1\[0, 2\]"):
        check_gradients(cost, params, g)


def test_nan_cost_says_where():
    theta = np.array([0.5, 1.0, 2.0])

    def J(t):
        return float(np.sum(np.log(t - 1.0 + 1e-9)))  # log of a negative number at t[0]

    with pytest.raises(GradCheckError, match="J returned nan at the given parameters"):
        with np.errstate(invalid="ignore"):
            check_gradients(J, theta, np.ones(3))

    def K(t):  # finite at theta, infinite once theta[1] moves
        return np.inf if t[1] != 1.0 else 0.0

    with pytest.raises(GradCheckError, match=r"J returned inf at theta with theta\[1\] moved"):
        check_gradients(K, theta, np.ones(3))


def test_non_scalar_cost_is_rejected():
    with pytest.raises(GradCheckError, match=r"returned an array of shape \(3,\).*np.mean"):
        check_gradients(lambda t: t**2, np.ones(3), np.ones(3))


def test_a_cost_that_raises_says_where():
    def J(t):
        if t[1] > 1:
            raise ZeroDivisionError("boom")
        return float(np.sum(t))

    with pytest.raises(ZeroDivisionError) as info:
        check_gradients(J, np.ones(3), np.ones(3))
    assert any("theta[1] moved by" in note for note in info.value.__notes__)


def test_a_cost_that_modifies_its_input_is_rejected():
    def J(t):
        t *= 1.0 + 1e-3
        return float(np.sum(t))

    with pytest.raises(GradCheckError, match="changed its input in place"):
        check_gradients(J, np.ones(3), np.ones(3))


def test_other_bad_inputs_get_clear_errors():
    with pytest.raises(GradCheckError, match="must be a function"):
        check_gradients("cost", np.ones(2), np.ones(2))
    with pytest.raises(GradCheckError, match="is empty"):
        check_gradients(np.sum, np.array([]), np.array([]))
    with pytest.raises(GradCheckError, match=r"grads has shape \(3,\) but theta has shape \(2,\)"):
        check_gradients(np.sum, np.ones(2), np.ones(3))
    with pytest.raises(GradCheckError, match="array of numbers"):
        check_gradients(np.sum, np.array(["a", "b"]), np.ones(2))
    with pytest.raises(GradCheckError, match="eps must be a positive"):
        check_gradients(np.sum, np.ones(2), np.ones(2), eps=-1.0)
    with pytest.raises(GradCheckError, match="unknown method 'secant'"):
        check_gradients(np.sum, np.ones(2), np.ones(2), method="secant")
    with pytest.raises(GradCheckError, match="not complex-safe"):
        check_gradients(
            lambda t: float(np.sum(np.abs(t))), np.ones(2), np.ones(2), method="complex"
        )


def test_entries_marked_as_kinks_are_left_out_of_the_verdict():
    theta = np.array([0.0, 2.0, -1.0])  # |t| has its kink at theta[0]

    def J(t):
        return float(np.sum(np.abs(t)))

    grads = np.sign(theta) + np.array([1.0, 0.0, 0.0])  # analytic 1 at the kink, numeric 0
    assert check_gradients(J, theta, grads).verdict == "wrong"
    report = check_gradients(J, theta, grads, kinks=np.array([True, False, False]))
    assert report.verdict == "correct"
    assert report.kinks == ("theta[0]",)
    assert [f.kind for f in report.diagnosis] == ["kink"]
    assert "theta[0]" in report.diagnosis[0].detail
    assert "Not a bug" in report.summary()


def test_the_headline_says_the_verdict_is_the_worst_blocks():
    # 05's kink example, checked black-box: the blocks together differ by far less than 1e-7,
    # but one block is suspicious, and the headline must say which and why it rules.
    params, cost, grads = _net(3)
    g = grads(params)
    g["db2"] = g["db2"] * (1 + 5e-7)
    report = check_gradients(cost, params, g)
    assert report.verdict == "suspicious" and report.difference < report.thresholds.correct
    head = report.summary().splitlines()[0]
    assert head.startswith("Gradient check: SUSPICIOUS — the verdict of its worst block, db2")
    assert f"all blocks together {report.difference:.2e}" in head
    assert "the verdict of its worst block, db2" in report._repr_html_()
    fine = check_gradients(cost, params, grads(params))
    assert fine.summary().startswith("Gradient check: CORRECT — relative difference")


def test_a_factor_2_bug_is_wrong_in_float32_and_a_correct_gradient_is_not():
    # The lecture's dW2 × 2 in a float32 check: relative difference 1/3, which the float32
    # thresholds once called only "suspicious" (wrong ≥ 0.48).
    for seed in range(10):
        params, cost, grads = _net(seed)
        p32 = {k: v.astype(np.float32) for k, v in params.items()}
        g32 = {k: v.astype(np.float32) for k, v in grads(params).items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            right = check_gradients(cost, p32, g32)
            for factor in (2.0, 0.5):
                bug = check_gradients(cost, p32, dict(g32, dW2=g32["dW2"] * factor))
                assert bug.block("W2").verdict == "wrong", bug.summary()
        assert right.verdict == "correct", right.summary()
    assert thresholds(np.float32).wrong < 1 / 3 and thresholds(np.float64).wrong == 1e-3


def test_float32_relu_network_of_05_is_not_wrong_and_its_factor_2_bug_is():
    nn = pytest.importorskip("gradlib.nn")
    rng = np.random.default_rng(1)  # 05-in-practice's float32 section
    X, Y = rng.normal(size=(5, 10)), (rng.random((1, 10)) < 0.5).astype(float)
    p32 = {k: v.astype(np.float32) for k, v in nn.init_params([5, 4, 3, 1], seed=1).items()}
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    g32 = nn.network_gradients(p32, X32, Y32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        right = check_gradients(lambda p: nn.network_cost(p, X32, Y32), p32, g32)
        bug = check_gradients(lambda p: nn.network_cost(p, X32, Y32), p32,
                              dict(g32, dW2=2 * g32["dW2"]))  # fmt: skip
    assert right.verdict == "correct", right.summary()
    assert bug.verdict == "wrong" and [b.name for b in bug.failing()] == ["W2"], bug.summary()
