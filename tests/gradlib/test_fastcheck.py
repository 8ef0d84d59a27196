"""Does the fast grad check catch and localize bugs in O(k + log n) evaluations of J?"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlib import GradCheckError, GradCheckReport, PrecisionWarning, check_gradients


def _net(seed, dims=(4, 5, 3, 2), m=7, lam=0.0):
    """A tanh network, squared loss + (λ/2m)·Σ‖W‖², with a hand-written backward."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(1, len(dims)):
        params[f"W{layer}"] = rng.normal(size=(dims[layer], dims[layer - 1]))
        params[f"b{layer}"] = rng.normal(size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    Y = rng.normal(size=(dims[-1], m))
    L = len(dims) - 1

    def cost(p):
        A = X
        for layer in range(1, L):
            A = np.tanh(p[f"W{layer}"] @ A + p[f"b{layer}"])
        Z = p[f"W{L}"] @ A + p[f"b{L}"]
        penalty = sum(np.sum(p[f"W{layer}"] ** 2) for layer in range(1, L + 1))
        return float(0.5 * np.sum((Z - Y) ** 2) / m + lam / (2 * m) * penalty)

    def grads(p, regularize=True):
        As = [X]
        for layer in range(1, L):
            As.append(np.tanh(p[f"W{layer}"] @ As[-1] + p[f"b{layer}"]))
        dZ = (p[f"W{L}"] @ As[-1] + p[f"b{L}"] - Y) / m
        g = {}
        for layer in range(L, 0, -1):
            g[f"dW{layer}"] = dZ @ As[layer - 1].T
            if regularize:
                g[f"dW{layer}"] = g[f"dW{layer}"] + lam / m * p[f"W{layer}"]
            g[f"db{layer}"] = dZ.sum(axis=1, keepdims=True)
            if layer > 1:
                dZ = (p[f"W{layer}"].T @ dZ) * (1 - As[layer - 1] ** 2)
        return g

    return params, cost, grads


def _tanh_cost(n, seed=0):
    """J(θ) = Σ wᵢ tanh(θᵢ) with its closed-form gradient, one block of n entries."""
    rng = np.random.default_rng(seed)
    theta, w = rng.normal(size=n), rng.uniform(0.5, 1.5, size=n)
    return theta, (lambda t: float(w @ np.tanh(t))), w * (1 - np.tanh(theta) ** 2)


def _quadratic_cost(n, seed=0):
    """J(θ) = ½ Σ cᵢ θᵢ² with gradient c·θ, one block of n entries."""
    rng = np.random.default_rng(seed)
    theta, c = rng.normal(size=n), rng.uniform(0.5, 2.0, size=n)
    return theta, (lambda t: 0.5 * float(c @ (t * t))), c * theta


@pytest.mark.parametrize("dims", [(4, 5, 3, 2), (6, 8, 5, 1), (3, 10, 10, 4)])
def test_correct_gradients_pass(dims):
    for seed in range(15):
        params, cost, grads = _net(seed, dims=dims, m=9, lam=0.3)
        report = check_gradients(cost, params, grads(params), mode="fast", seed=seed)
        assert isinstance(report, GradCheckReport) and report.mode == "fast"
        assert report.verdict == "correct", report.summary()
        assert report.difference < 1e-7
        assert all(b.worst == () and np.isnan(b.numeric).all() for b in report.blocks)
        assert report.evaluations == 1 + 2 * 4 * len(params)  # 4 directions per block


def _swap(g):
    g["db1"], g["db2"] = g["db2"], g["db1"]
    return g


def _scaled(block, f):
    def plant(g):
        g[block] = f(g[block])
        return g

    return plant


def _one_element(g):
    g["dW2"][2, 1] += 0.05
    return g


BUGS = {
    "factor 2 on a block": (_scaled("dW2", lambda x: 2 * x), {"W2"}),
    "single wrong element": (_one_element, {"W2"}),
    "sign flip": (_scaled("dW1", lambda x: -x), {"W1"}),
    "zero block": (_scaled("db3", np.zeros_like), {"b3"}),
    "added constant": (_scaled("db1", lambda x: x + 0.1), {"b1"}),
    "swapped blocks": (_swap, {"b1", "b2"}),
}


@pytest.mark.parametrize("kind", BUGS)
def test_every_planted_bug_kind_is_caught_and_named(kind):
    plant, blocks = BUGS[kind]
    for seed in range(3):
        params, cost, grads = _net(seed, dims=(4, 3, 3, 2))  # b1 and b2 share a shape
        g = plant(grads(params))
        fast = check_gradients(cost, params, g, mode="fast", seed=seed)
        full = check_gradients(cost, params, g)
        assert fast.verdict == full.verdict == "wrong", fast.summary()
        assert {b.name for b in fast.failing()} == {b.name for b in full.failing()} == blocks
        for name in blocks:
            block = fast.block(name)
            assert block.worst and block.worst[0][0].startswith(name + "[")
            # every named element was measured exactly: it equals the full mode's numeric
            measured = ~np.isnan(block.numeric)
            assert measured.sum() == len(block.worst)
            np.testing.assert_allclose(
                block.numeric[measured], full.block(name).numeric[measured], rtol=1e-6, atol=1e-9
            )
        assert fast.evaluations < full.evaluations


def test_missing_regularization_term_is_caught():
    params, cost, grads = _net(4, dims=(5, 6, 4, 2), m=8, lam=0.5)
    g = grads(params, regularize=False)  # forgot (λ/m)·W in every dW
    fast = check_gradients(cost, params, g, mode="fast", seed=0)
    assert {b.name for b in fast.failing()} == {"W1", "W2", "W3"}
    for name in ("W1", "W2", "W3"):
        label, analytic, numeric = fast.block(name).worst[0]
        index = tuple(int(k) for k in label[len(name) + 1 : -1].split(", "))
        assert numeric - analytic == pytest.approx(0.5 / 8 * params[name][index], rel=1e-5)


def test_single_wrong_element_is_named_exactly():
    params, cost, grads = _net(2)
    g = grads(params)
    g["dW2"][2, 1] += 0.05
    report = check_gradients(cost, params, g, mode="fast", seed=7)
    label, analytic, numeric = report.block("W2").worst[0]
    assert label == "W2[2, 1]"
    assert analytic - numeric == pytest.approx(0.05, rel=1e-6)
    assert "W2[2, 1]" in report.summary() and "W2[2, 1]" in report._repr_html_()


@pytest.mark.parametrize("make_cost", [_quadratic_cost, _tanh_cost])
def test_evaluations_grow_like_log_n(make_cost):
    counts = {}
    for n in (1_000, 100_000):
        theta, J, grad = make_cost(n)
        i = n // 3 + 17
        wrong = grad.copy()
        wrong[i] += 2.0
        report = check_gradients(J, theta, wrong, mode="fast", directions=4, seed=1)
        block = report.block("theta")
        assert block.verdict == "wrong"
        assert block.worst[0][0] == f"theta[{i}]"
        assert block.worst[0][2] == pytest.approx(grad[i], rel=1e-7, abs=1e-9)
        counts[n] = report.evaluations
        # J(θ), 2 per direction, 2 per bisection level, 2 for the exact measurement
        assert counts[n] <= 1 + 2 * 4 + 2 * math.ceil(math.log2(n)) + 2
    assert counts[100_000] - counts[1_000] <= 2 * (17 - 10)
    assert counts[100_000] < 100


def test_bug_on_every_entry_of_a_large_block_still_costs_log_n():
    theta, J, grad = _tanh_cost(100_000, seed=3)
    report = check_gradients(J, theta, 2 * grad, mode="fast", seed=0, worst=3)
    block = report.block("theta")
    assert block.verdict == "wrong" and len(block.worst) == 3
    for _, analytic, numeric in block.worst:
        assert analytic / numeric == pytest.approx(2.0, rel=1e-6)
    assert report.evaluations <= 1 + 2 * 4 + 3 * (2 * 17 + 2)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5_000), where=st.floats(0, 1, exclude_max=True), seed=st.integers(0, 99))
def test_any_single_wrong_element_is_found(n, where, seed):
    theta, J, grad = _quadratic_cost(n, seed)
    i = int(where * n)
    wrong = grad.copy()
    wrong[i] += 1.0 + np.linalg.norm(grad) / 100
    block = check_gradients(J, theta, wrong, mode="fast", seed=seed).block("theta")
    assert block.verdict == "wrong"
    assert block.worst[0][0] == f"theta[{i}]"


def test_same_seed_same_report_and_directions_change_with_the_seed():
    params, cost, grads = _net(5)
    g = grads(params)
    g["dW1"] *= 1.5

    def run(seed):
        r = check_gradients(cost, params, g, mode="fast", seed=seed)
        return [(b.relative_difference, b.verdict, b.worst) for b in r.blocks], r.evaluations

    assert run(11) == run(11)
    assert run(11)[0] != run(12)[0]


def test_evaluations_count_every_call_and_theta_is_never_copied():
    theta, J, grad = _tanh_cost(500)
    seen, original = [], theta.copy()
    grad[42] += 1.0

    def counting(t):
        seen.append(t)
        return J(t)

    report = check_gradients(counting, theta, grad, mode="fast", directions=3, seed=0)
    assert report.evaluations == len(seen)
    assert all(t is seen[0] for t in seen)  # one working buffer, perturbed in place
    np.testing.assert_array_equal(seen[0], original)  # and restored afterwards
    np.testing.assert_array_equal(theta, original)


def test_bad_arguments_get_clear_errors():
    theta, J, grad = _tanh_cost(10)
    for directions in (0, -2, 2.5, True):
        with pytest.raises(GradCheckError, match="directions must be a positive integer"):
            check_gradients(J, theta, grad, mode="fast", directions=directions)
    with pytest.raises(GradCheckError, match="unknown mode 'quick'; choose 'full' or 'fast'"):
        check_gradients(J, theta, grad, mode="quick")
    with pytest.raises(GradCheckError, match="worst must be a positive integer"):
        check_gradients(J, theta, grad, mode="fast", worst=0)
    with pytest.raises(GradCheckError, match="seed must be None, a non-negative integer"):
        check_gradients(J, theta, grad, mode="fast", seed=-1)
    with pytest.raises(GradCheckError, match="eps must be a positive"):
        check_gradients(J, theta, grad, mode="fast", eps=0.0)


def test_errors_in_J_say_where():
    def J(t):
        if t[3] > 1.0:
            raise ZeroDivisionError("boom")
        return float(np.sum(t))

    with pytest.raises(ZeroDivisionError) as info:
        check_gradients(J, np.ones(5), np.ones(5), mode="fast", seed=0)
    assert any("random direction" in note for note in info.value.__notes__)

    def modifies(t):
        t[0] += 1.0
        return float(np.sum(t))

    with pytest.raises(GradCheckError, match="changed its input in place"):
        check_gradients(modifies, np.ones(5), np.ones(5), mode="fast", seed=0)


def test_float32_is_not_called_wrong():
    params, cost, grads = _net(6)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    g32 = {k: v.astype(np.float32) for k, v in grads(params).items()}
    with pytest.warns(PrecisionWarning):
        report = check_gradients(cost, p32, g32, mode="fast", seed=0)
    assert report.dtype == "float32" and report.verdict != "wrong", report.summary()


def test_differences_below_rounding_noise_are_never_wrong():
    # a huge constant in J makes rounding swamp the tiny gradient: nothing can be concluded
    theta = np.random.default_rng(0).normal(size=50)

    def J(t):
        return 1e6 + 1e-9 * float(t @ t)

    for eps in (None, 1e-7):
        fast = check_gradients(J, theta, 2e-9 * theta, eps=eps, mode="fast", seed=0)
        full = check_gradients(J, theta, 2e-9 * theta, eps=eps)
        assert fast.verdict == full.verdict == "correct", fast.summary()


def test_suspicious_blocks_are_localized_too():
    params, cost, grads = _net(3)
    g = grads(params)
    g["dW3"] = g["dW3"] * (1 + 1e-5)
    report = check_gradients(cost, params, g, mode="fast", seed=0)
    assert [(b.name, b.verdict) for b in report.failing()] == [("W3", "suspicious")]
    assert report.block("W3").worst and "dW3[" in report.summary()
