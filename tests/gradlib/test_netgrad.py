"""Does the structured numeric gradient equal the black box, and find every kink?"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlib import (
    GradCheckError,
    PrecisionWarning,
    netgrad,
    numerical_gradient,
    params_to_vector,
    relative_difference,
    vector_to_params,
)
from gradlib.layers import HIDDEN, OUTPUTS
from gradlib.netgrad import check_network, numerical_network_gradient
from gradlib.nn import forward, init_params, network_cost, network_gradients
from gradlib.numdiff import default_eps
from gradlib.unroll import grads_to_vector

COMBINATIONS = list(itertools.product(HIDDEN, OUTPUTS, [0.0, 0.7], [1.0, 0.75]))
SETTINGS = settings(max_examples=5, deadline=None, derandomize=True)
# The agreement asked of the structured gradient; on the tested BLAS it is exact (0).
AGREEMENT = 1e-12


@st.composite
def problems(draw, output, max_width=4):
    depth = draw(st.integers(1, 3))
    dims = draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1))
    if output == "softmax":
        dims[-1] = draw(st.integers(2, 4))
    m = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = init_params(dims, seed=int(rng.integers(2**31)), scale=float(rng.uniform(0.3, 2)))
    for layer in range(1, depth + 1):
        params[f"b{layer}"] = rng.normal(scale=0.5, size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    if output == "softmax":
        Y = np.eye(dims[-1])[:, rng.integers(0, dims[-1], m)]
    else:
        Y = (rng.random((dims[-1], m)) < 0.5).astype(float)
    return params, X, Y


def _options(hidden, output, lambd, keep_prob):
    seed = 5 if keep_prob < 1 else None
    return dict(hidden=hidden, output=output, lambd=lambd, keep_prob=keep_prob, dropout_seed=seed)


def black_box(params, X, Y, eps=None, **options):
    """gradlib.numerical_gradient of network_cost over θ, in θ order."""
    theta, spec = params_to_vector(params)
    return numerical_gradient(
        lambda t: network_cost(vector_to_params(t, spec), X, Y, **options), theta, eps=eps
    )


def brute_force_kinks(params, X, Y, eps=None, **options):
    """One full forward pass per θ_i ± h_i; a kink where a kept ReLU input changes side."""
    theta, spec = params_to_vector(params)
    h = (default_eps() if eps is None else eps) * np.maximum(1.0, np.abs(theta))
    steps = ((theta + h) - theta, -(theta - (theta - h)))
    kinks = np.zeros(theta.size, bool)
    if options["hidden"] not in ("relu", "leaky_relu"):
        return kinks
    base = forward(X, params, **{k: v for k, v in options.items() if k != "lambd"})[1]
    for i, step in itertools.product(range(theta.size), steps):
        moved = theta.copy()
        moved[i] += step[i]
        caches = forward(
            X, vector_to_params(moved, spec), **{k: v for k, v in options.items() if k != "lambd"}
        )[1]
        for before, after in zip(base[:-1], caches[:-1], strict=True):
            crossed = (after["activation"][1] > 0) != (before["activation"][1] > 0)
            if before["dropout"] is not None:
                crossed &= before["dropout"][0] != 0
            kinks[i] |= bool(crossed.any())
    return kinks


@pytest.mark.parametrize("hidden, output, lambd, keep_prob", COMBINATIONS)
@SETTINGS
@given(data=st.data())
def test_structured_gradient_equals_the_black_box(hidden, output, lambd, keep_prob, data):
    params, X, Y = data.draw(problems(output))
    eps = data.draw(st.sampled_from([None, 1e-7, 1e-4, 1e-2]))
    options = _options(hidden, output, lambd, keep_prob)
    grads, kinks = numerical_network_gradient(params, X, Y, eps=eps, **options)
    theta, spec = params_to_vector(params)
    structured = grads_to_vector(grads, spec)
    reference = black_box(params, X, Y, eps=eps, **options)
    assert relative_difference(structured, reference) <= AGREEMENT
    np.testing.assert_allclose(structured, reference, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(kinks, brute_force_kinks(params, X, Y, eps=eps, **options))


def test_structured_gradient_is_exact_at_course_size():
    params = init_params([20, 16, 8, 1], seed=1)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 32)), (rng.random((1, 32)) < 0.5).astype(float)
    for options in ({}, {"hidden": "tanh", "lambd": 0.7, "keep_prob": 0.8, "dropout_seed": 0}):
        structured = grads_to_vector(
            numerical_network_gradient(params, X, Y, **options)[0], params_to_vector(params)[1]
        )
        reference = black_box(params, X, Y, **options)
        assert relative_difference(structured, reference) <= AGREEMENT


def _one_active_example(delta):
    """A ReLU net whose unit 0 of layer 1 is active on example j only, with Z1[0, j] ≈ delta."""
    rng = np.random.default_rng(4)
    params = init_params([3, 4, 1], seed=4, scale=1.0)
    X = rng.normal(size=(3, 6))
    scores = params["W1"][0] @ X
    j = int(np.argmax(scores))
    # the other units: active on every example, at least 1 away from their kinks
    params["b1"] = 1.0 + np.max(np.abs(params["W1"] @ X), axis=1, keepdims=True)
    params["b1"][0, 0] = delta - scores[j]
    AL, caches = forward(X, params)
    Y = (AL < 0.5).astype(float)  # every example misclassified: dJ/dZ2 is never tiny
    return params, X, Y, j, caches[0]["activation"][1]


def test_a_pre_activation_within_eps_of_zero_marks_exactly_its_entries():
    params, X, Y, j, Z1 = _one_active_example(1e-9)
    assert 0 < Z1[0, j] < 1e-8 and np.all(Z1[0, np.arange(6) != j] < -1e-3)
    assert np.all(Z1[1:] >= 1.0)
    _, kinks = numerical_network_gradient(params, X, Y)
    _, spec = params_to_vector(params)
    marked = [spec.label(i) for i in np.flatnonzero(kinks)]
    # moving W1[0, c] shifts Z1[0, j] by ~6e-6·X[c, j] ≫ 1e-9; b1[0] shifts it by ~6e-6
    assert marked == ["W1[0, 0]", "W1[0, 1]", "W1[0, 2]", "b1[0, 0]"]
    np.testing.assert_array_equal(kinks, brute_force_kinks(params, X, Y, hidden="relu"))


def test_check_network_reports_kinks_and_never_calls_the_correct_gradient_wrong():
    params, X, Y, _, _ = _one_active_example(1e-9)
    grads = network_gradients(params, X, Y)
    numeric, _ = numerical_network_gradient(params, X, Y)
    # Across the kink the central difference sees the unit on for +h and off for −h: half
    # the one-sided derivative backprop gives, a difference a plain check would call wrong.
    assert numeric["db1"][0, 0] == pytest.approx(grads["db1"][0, 0] / 2, rel=1e-3)
    assert relative_difference(grads["db1"], numeric["db1"]) > 1e-3
    report = check_network(params, X, Y, grads)
    assert report.verdict == "correct", report.summary()
    assert set(report.kinks) == {"W1[0, 0]", "W1[0, 1]", "W1[0, 2]", "b1[0, 0]"}
    assert any(f.kind == "kink" and f.block == "b1" for f in report.diagnosis)
    assert "Not a bug" in report.summary()
    far = _one_active_example(0.5)  # the same net with unit 0 well inside its active side
    assert not numerical_network_gradient(*far[:3])[1].any()


def test_exact_zero_pre_activations_are_kinks_of_the_bias_only():
    params = init_params([3, 5, 2, 1], seed=2)
    X = np.random.default_rng(2).normal(size=(3, 4))
    X[:, 1] = 0.0  # with zero biases every Z1[:, 1] is exactly 0
    _, kinks = numerical_network_gradient(params, X, np.ones((1, 4)))
    _, spec = params_to_vector(params)
    b1 = spec.block("b1")
    assert kinks[b1].all()
    assert not kinks[spec.block("W1")].any()  # W1 cannot move Z1[:, 1]: X[:, 1] is 0
    np.testing.assert_array_equal(
        kinks, brute_force_kinks(params, X, np.ones((1, 4)), hidden="relu")
    )


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu"])
def test_correct_relu_networks_are_never_called_wrong(hidden):
    with_kinks = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        dims = [int(d) for d in rng.integers(1, 5, size=int(rng.integers(2, 5)))]
        output = ["sigmoid", "softmax", "identity"][seed % 3]
        if output == "softmax":
            dims[-1] = max(dims[-1], 2)
        m = int(rng.integers(1, 6))
        params = init_params(dims, seed=seed)
        X = rng.normal(size=(dims[0], m))
        if seed % 2:
            X[:, 0] = 0.0  # zero biases: a column of exact kinks
        if output == "softmax":
            Y = np.eye(dims[-1])[:, rng.integers(0, dims[-1], m)]
        else:
            Y = (rng.random((dims[-1], m)) < 0.5).astype(float)
        options = dict(
            hidden=hidden,
            output=output,
            lambd=[0.0, 0.5][seed % 2],
            keep_prob=[1.0, 0.8][(seed // 2) % 2],
            dropout_seed=seed,
        )
        report = check_network(params, X, Y, network_gradients(params, X, Y, **options), **options)
        # Never wrong; "unchecked" only for a block whose every entry crossed a kink.
        kinked = {label.split("[")[0] for label in report.kinks}
        for block in report.blocks:
            expected = (
                "unchecked"
                if block.name in kinked
                and all(label in report.kinks for label in _labels(report, block.name))
                else "correct"
            )
            assert block.verdict == expected, (seed, report.summary())
        with_kinks += bool(report.kinks)
    assert with_kinks >= 20  # the seeds do exercise the kink mask


def _labels(report, name):
    part = report.spec.block(name)
    return [report.spec.label(i) for i in range(part.start, part.stop)]


def test_check_network_names_a_planted_bug():
    params = init_params([4, 5, 3, 1], seed=3)
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(4, 7)), (rng.random((1, 7)) < 0.5).astype(float)
    grads = network_gradients(params, X, Y, hidden="tanh", lambd=0.4)
    grads["dW2"] = grads["dW2"].copy()
    grads["dW2"][2, 1] += 0.05
    report = check_network(params, X, Y, grads, hidden="tanh", lambd=0.4)
    assert report.verdict == "wrong"
    assert [b.name for b in report.failing()] == ["W2"]
    assert report.block("W2").worst[0][0] == "W2[2, 1]"


def test_check_network_diagnoses_a_missing_l2_term():
    params = init_params([4, 5, 3, 1], seed=6, scale=1.0)
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(4, 7)), (rng.random((1, 7)) < 0.5).astype(float)
    grads = network_gradients(params, X, Y, hidden="tanh", lambd=0.0)  # λ forgotten
    report = check_network(params, X, Y, grads, hidden="tanh", lambd=0.9)
    assert {b.name for b in report.failing()} == {"W1", "W2", "W3"}
    assert {f.kind for f in report.diagnosis if f.block.startswith("W")} == {
        "missing_regularization"
    }


@pytest.mark.parametrize("budget", [1, 40, 300])
@pytest.mark.parametrize("hidden, output", [("relu", "softmax"), ("tanh", "sigmoid")])
def test_small_batches_give_the_same_gradient(monkeypatch, budget, hidden, output):
    params = init_params([6, 5, 4, 3], seed=8, scale=1.0)
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(6, 4)), np.eye(3)[:, [0, 2, 1, 2]]
    options = dict(hidden=hidden, output=output, lambd=0.3, keep_prob=0.7, dropout_seed=1)
    whole = numerical_network_gradient(params, X, Y, **options)
    monkeypatch.setattr(netgrad, "BATCH_ELEMENTS", budget)
    grads, kinks = numerical_network_gradient(params, X, Y, **options)
    for key, value in whole[0].items():
        np.testing.assert_array_equal(grads[key], value)
    np.testing.assert_array_equal(kinks, whole[1])
    reference = black_box(params, X, Y, **options)
    assert (
        relative_difference(grads_to_vector(grads, params_to_vector(params)[1]), reference)
        <= AGREEMENT
    )


# (layers, m, hidden, output, λ, keep_prob): the course's sizes, with odd m and every path
# of a batch (hidden layers above, a last layer of one unit or of several, L2, dropout)
COURSE_SIZES = [
    ([2, 4, 1], 400, "tanh", "sigmoid", 0.0, 1.0),
    ([2, 4, 1], 401, "relu", "sigmoid", 0.7, 1.0),
    ([4, 5, 3, 1], 3, "relu", "sigmoid", 0.0, 1.0),
    ([2, 20, 3, 1], 211, "relu", "sigmoid", 0.7, 1.0),
    ([3, 7, 2], 37, "leaky_relu", "softmax", 0.3, 0.8),
    ([5, 3], 9, "tanh", "identity", 0.5, 1.0),
]


@pytest.mark.parametrize("dims, m, hidden, output, lambd, keep_prob", COURSE_SIZES)
def test_batched_passes_equal_the_black_box_at_course_sizes(
    dims, m, hidden, output, lambd, keep_prob
):
    # Each layer's entries, both ways, go through one batch here (the black box: one pass
    # per entry and way); the batch must change no rounding.
    rng = np.random.default_rng(sum(dims) + m)
    params = init_params(dims, seed=m, scale=1.0)
    for layer in range(1, len(dims)):
        params[f"b{layer}"] = rng.normal(scale=0.5, size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    if output == "softmax":
        Y = np.eye(dims[-1])[:, rng.integers(0, dims[-1], m)]
    else:
        Y = (rng.random((dims[-1], m)) < 0.5).astype(float)
    options = _options(hidden, output, lambd, keep_prob)
    grads, kinks = numerical_network_gradient(params, X, Y, **options)
    structured = grads_to_vector(grads, params_to_vector(params)[1])
    reference = black_box(params, X, Y, **options)
    np.testing.assert_allclose(structured, reference, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(kinks, brute_force_kinks(params, X, Y, **options))


@pytest.mark.parametrize("budget", [1, 5000, 20000])
def test_a_batch_split_anywhere_gives_the_same_gradient(monkeypatch, budget):
    # On [2, 4, 1], m = 401: one pass per batch; 3 (batches end inside a column and inside
    # one way of moving it); 12 (one column of W1 per batch, all of layer 2 in one)
    dims, m, hidden, output, lambd, keep_prob = COURSE_SIZES[1]
    params = init_params(dims, seed=2, scale=1.0)
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(dims[0], m)), (rng.random((1, m)) < 0.5).astype(float)
    options = _options(hidden, output, lambd, keep_prob)
    whole = numerical_network_gradient(params, X, Y, **options)
    monkeypatch.setattr(netgrad, "BATCH_ELEMENTS", budget)
    grads, kinks = numerical_network_gradient(params, X, Y, **options)
    for key, value in whole[0].items():
        np.testing.assert_array_equal(grads[key], value)
    np.testing.assert_array_equal(kinks, whole[1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_theta_is_unrolled_as_params_to_vector_does(dtype):
    params = {k: (v * 3).astype(dtype) for k, v in init_params([3, 4, 2, 1], seed=1).items()}
    theta, spec = netgrad._unrolled(params, 3)
    expected, expected_spec = params_to_vector(params)
    assert theta.dtype == expected.dtype and spec == expected_spec
    np.testing.assert_array_equal(theta, expected)


def test_evaluations_count_equivalent_forward_passes():
    params = init_params([20, 16, 8, 1], seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 32)), (rng.random((1, 32)) < 0.5).astype(float)
    report = check_network(params, X, Y, network_gradients(params, X, Y))
    n = params_to_vector(params)[0].size
    # forward: 16·20 + 8·16 + 8 = 456 multiply-adds per example. Work: 2 passes (the
    # unperturbed one and W_l A_{l-1}), 2·n_{l-1} products W_l A_{l-1} per layer, and the
    # layers above each of the 2n perturbations.
    per_example = 2 * 456 + 2 * (20 * 320 + 16 * 128 + 8 * 8) + 2 * (336 * 136 + 136 * 8)
    assert report.evaluations == -(-per_example // 456)
    assert report.evaluations < 2 * n + 1  # the black box's count


def test_a_tiny_eps_is_rejected_like_the_black_box_does():
    params = {"W1": np.array([[0.0, 5.0]]), "b1": np.zeros((1, 1))}
    X, Y = np.ones((2, 3)), np.ones((1, 3))
    with pytest.raises(GradCheckError, match=r"too small to move W1\[0, 1\]=5") as ours:
        numerical_network_gradient(params, X, Y, eps=1e-17)
    with pytest.raises(GradCheckError, match=r"too small to move") as theirs:
        black_box(params, X, Y, eps=1e-17, hidden="relu")
    assert str(ours.value) == str(theirs.value).replace("theta.flat[1]", "W1[0, 1]")


def test_float32_params_warn_and_a_correct_gradient_is_not_called_wrong():
    params = init_params([3, 4, 1], seed=0)
    X, Y = np.random.default_rng(0).normal(size=(3, 5)), np.ones((1, 5))
    grads = network_gradients(params, X, Y, hidden="tanh")
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    with pytest.warns(PrecisionWarning, match="float32"):
        report = check_network(p32, X, Y, grads, hidden="tanh")
    assert report.verdict != "wrong", report.summary()


def test_bad_inputs_name_what_is_wrong():
    params = init_params([3, 4, 1], seed=0)
    X, Y = np.zeros((3, 5)), np.zeros((1, 5))
    grads = network_gradients(params, X, Y)
    with pytest.raises(GradCheckError, match=r"X has shape \(4, 5\).*W1 has shape \(4, 3\)"):
        check_network(params, np.zeros((4, 5)), Y, grads)
    with pytest.raises(GradCheckError, match=r"Y has shape \(5,\).*\(1, 5\)"):
        numerical_network_gradient(params, X, np.zeros(5))
    with pytest.raises(GradCheckError, match=r"dW1 has shape \(3, 4\).*\(4, 3\) \(transposed\?\)"):
        check_network(params, X, Y, dict(grads, dW1=grads["dW1"].T))
    with pytest.raises(GradCheckError, match="grads is missing db2"):
        check_network(params, X, Y, {k: v for k, v in grads.items() if k != "db2"})
    with pytest.raises(GradCheckError, match=r"X contains nan"):
        numerical_network_gradient(params, np.full((3, 5), np.nan), Y)
    broken = params["W2"].copy()
    broken[0, 2] = np.inf  # the blocks are checked at once, on θ: the message still names it
    with pytest.raises(GradCheckError, match=r"^W2 contains inf at \[0, 2\]"):
        numerical_network_gradient(dict(params, W2=broken), X, Y)
    with pytest.raises(
        GradCheckError, match="unknown hidden activation 'ReLU'; choose one of relu"
    ):
        numerical_network_gradient(params, X, Y, hidden="ReLU")


def _all_kinks_in_b1():
    """A net where every entry of b1 crosses a kink (Z1[:, 1] is exactly 0)."""
    params = init_params([3, 5, 2, 1], seed=2)
    X = np.random.default_rng(2).normal(size=(3, 4))
    X[:, 1] = 0.0
    return params, X, np.ones((1, 4))


@pytest.mark.parametrize("factor", [1.0, 3.0])
def test_a_block_whose_every_entry_is_a_kink_is_unchecked_never_correct(factor):
    params, X, Y = _all_kinks_in_b1()
    grads = network_gradients(params, X, Y)
    grads["db1"] = grads["db1"] * factor  # 05's kink example with db1 *= 3 planted
    report = check_network(params, X, Y, grads)
    assert report.block("b1").verdict == "unchecked"
    assert report.verdict == "unchecked" and not report.passed
    assert "every entry crossed a kink" in report.summary()
    assert "unchecked" in report._repr_html_()
