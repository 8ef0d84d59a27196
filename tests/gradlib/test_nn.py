"""Does the reference MLP compute the lectures' cost and its exact gradient, for every option?"""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlib import GradCheckError, check_gradients, relative_difference
from gradlib.layers import HIDDEN, OUTPUTS
from gradlib.netgrad import numerical_network_gradient
from gradlib.nn import (
    backward,
    cost,
    forward,
    init_params,
    network_cost,
    network_gradients,
)

COMBINATIONS = list(itertools.product(HIDDEN, OUTPUTS, [0.0, 0.7], [1.0, 0.75]))
SETTINGS = settings(max_examples=5, deadline=None, derandomize=True)


@st.composite
def problems(draw, output):
    """A small random network problem: params, X, Y (shapes and values from the draw)."""
    depth = draw(st.integers(1, 3))
    dims = draw(st.lists(st.integers(1, 4), min_size=depth + 1, max_size=depth + 1))
    if output == "softmax":
        dims[-1] = draw(st.integers(2, 4))
    m = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = init_params(dims, seed=int(rng.integers(2**31)), scale=1.0)
    for layer in range(1, depth + 1):
        params[f"b{layer}"] = rng.normal(scale=0.5, size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    if output == "softmax":
        Y = np.eye(dims[-1])[:, rng.integers(0, dims[-1], m)]
    elif output == "sigmoid":
        Y = (rng.random((dims[-1], m)) < 0.5).astype(float)
    else:
        Y = rng.normal(size=(dims[-1], m))
    return params, X, Y


def _options(hidden, output, lambd, keep_prob):
    seed = 11 if keep_prob < 1 else None
    return dict(hidden=hidden, output=output, lambd=lambd, keep_prob=keep_prob, dropout_seed=seed)


# ---- an independent gold implementation: one example at a time, plain Python floats ----

GOLD = {
    "relu": (lambda z: max(z, 0.0), lambda z, a: 1.0 if z > 0 else 0.0),
    "leaky_relu": (lambda z: z if z > 0 else 0.01 * z, lambda z, a: 1.0 if z > 0 else 0.01),
    "sigmoid": (lambda z: 1 / (1 + math.exp(-z)), lambda z, a: a * (1 - a)),
    "tanh": (math.tanh, lambda z, a: 1 - a * a),
    "identity": (lambda z: z, lambda z, a: 1.0),
}


def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def gold(params, X, Y, hidden, output, lambd, keep_prob, dropout_seed):
    """(J, grads) by loops over examples and units; masks drawn as forward documents."""
    L, m = len(params) // 2, X.shape[1]
    W = {layer: params[f"W{layer}"].tolist() for layer in range(1, L + 1)}
    b = {layer: params[f"b{layer}"][:, 0].tolist() for layer in range(1, L + 1)}
    keep = {
        layer: np.random.default_rng((dropout_seed, layer)).random((len(b[layer]), m)) < keep_prob
        for layer in range(1, L)
        if keep_prob < 1
    }
    g, g_prime = GOLD[hidden]
    J, dW, db = 0.0, {k: np.zeros_like(W[k]) for k in W}, {k: np.zeros(len(b[k])) for k in b}
    for j in range(m):
        a, zs = [X[:, j].tolist()], [None]
        for layer in range(1, L + 1):
            z = [
                sum(w * x for w, x in zip(row, a[-1], strict=True)) + bias
                for row, bias in zip(W[layer], b[layer], strict=True)
            ]
            zs.append(z)
            if layer < L:
                act = [g(v) for v in z]
                if keep_prob < 1:
                    act = [v * keep[layer][r, j] / keep_prob for r, v in enumerate(act)]
                a.append(act)
        y = Y[:, j].tolist()
        z = zs[L]
        if output == "sigmoid":
            J += sum(_softplus(v) - t * v for v, t in zip(z, y, strict=True)) / m
            dz = [1 / (1 + math.exp(-v)) - t for v, t in zip(z, y, strict=True)]
        elif output == "softmax":
            top = max(z)
            lse = top + math.log(sum(math.exp(v - top) for v in z))
            J += sum(t * (lse - v) for v, t in zip(z, y, strict=True)) / m
            dz = [math.exp(v - lse) - t for v, t in zip(z, y, strict=True)]
        else:
            J += sum((v - t) ** 2 for v, t in zip(z, y, strict=True)) / (2 * m)
            dz = [v - t for v, t in zip(z, y, strict=True)]
        for layer in range(L, 0, -1):
            for r, d in enumerate(dz):
                db[layer][r] += d / m
                for c, x in enumerate(a[layer - 1]):
                    dW[layer][r, c] += d * x / m
            if layer > 1:
                n_prev = len(a[layer - 1])
                da = [sum(W[layer][r][c] * dz[r] for r in range(len(dz))) for c in range(n_prev)]
                if keep_prob < 1:
                    da = [v * keep[layer - 1][c, j] / keep_prob for c, v in enumerate(da)]
                zp = zs[layer - 1]
                dz = [da[c] * g_prime(zp[c], g(zp[c])) for c in range(n_prev)]
    grads = {}
    for layer in range(1, L + 1):
        w = np.array(W[layer])
        J += lambd / (2 * m) * float(np.sum(w * w))
        grads[f"dW{layer}"] = dW[layer] + lambd / m * w
        grads[f"db{layer}"] = db[layer][:, None]
    return J, grads


@pytest.mark.parametrize("hidden, output, lambd, keep_prob", COMBINATIONS)
@SETTINGS
@given(data=st.data())
def test_cost_and_backward_match_the_gold_loops(hidden, output, lambd, keep_prob, data):
    params, X, Y = data.draw(problems(output))
    options = _options(hidden, output, lambd, keep_prob)
    J_gold, grads_gold = gold(params, X, Y, **options)
    assert network_cost(params, X, Y, **options) == pytest.approx(J_gold, rel=1e-12, abs=1e-14)
    grads = network_gradients(params, X, Y, **options)
    assert list(grads) == list(grads_gold)
    for key, value in grads_gold.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-10, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("hidden, output, lambd, keep_prob", COMBINATIONS)
@SETTINGS
@given(data=st.data())
def test_backward_passes_the_black_box_grad_check(hidden, output, lambd, keep_prob, data):
    params, X, Y = data.draw(problems(output))
    options = _options(hidden, output, lambd, keep_prob)
    grads = network_gradients(params, X, Y, **options)
    _, kinks = numerical_network_gradient(params, X, Y, **options)  # ReLU sides crossed

    def J(p):
        return network_cost(p, X, Y, **options)

    report = check_gradients(J, params, grads, kinks=kinks)
    assert report.verdict == "correct", report.summary()
    smooth = ~kinks
    analytic = np.concatenate([b.analytic.ravel() for b in report.blocks])[smooth]
    numeric = np.concatenate([b.numeric.ravel() for b in report.blocks])[smooth]
    assert relative_difference(analytic, numeric) < 1e-6


def test_init_params_shapes_scales_and_seed():
    params = init_params([400, 300, 2], seed=5)
    assert list(params) == ["W1", "b1", "W2", "b2"]
    assert params["W1"].shape == (300, 400) and params["b1"].shape == (300, 1)
    assert params["W2"].shape == (2, 300) and not params["b2"].any()
    assert params["W1"].std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)  # He
    xavier = init_params([400, 300, 2], seed=5, scale="xavier")
    assert xavier["W1"].std() == pytest.approx(math.sqrt(1 / 400), rel=0.02)
    assert init_params([400, 300], scale=0.01)["W1"].std() == pytest.approx(0.01, rel=0.02)
    np.testing.assert_array_equal(
        init_params([3, 2], seed=5)["W1"], init_params([3, 2], seed=5)["W1"]
    )
    assert not np.array_equal(init_params([3, 2], seed=5)["W1"], init_params([3, 2], seed=6)["W1"])


def test_forward_shapes_and_caches():
    params = init_params([3, 4, 2], seed=0)
    X = np.random.default_rng(0).normal(size=(3, 5))
    AL, caches = forward(X, params, hidden="tanh", output="softmax", keep_prob=0.5, dropout_seed=2)
    assert AL.shape == (2, 5)
    np.testing.assert_allclose(AL.sum(axis=0), 1.0)
    assert len(caches) == 2
    A_prev, W, b = caches[0]["linear"]
    assert A_prev is X and W is params["W1"] and b is params["b1"]
    assert caches[0]["activation"][0] == "tanh" and caches[0]["dropout"][1] == 0.5
    assert caches[1]["activation"][0] == "softmax" and caches[1]["dropout"] is None
    assert caches[1]["activation"][2] is AL


def test_forward_is_pure_and_dropout_follows_its_seed():
    params = init_params([3, 6, 6, 1], seed=1)
    X = np.random.default_rng(1).normal(size=(3, 8))
    before = {k: v.copy() for k, v in params.items()}, X.copy()
    first = forward(X, params, keep_prob=0.5, dropout_seed=3)[0]
    np.testing.assert_array_equal(first, forward(X, params, keep_prob=0.5, dropout_seed=3)[0])
    assert not np.array_equal(first, forward(X, params, keep_prob=0.5, dropout_seed=4)[0])
    np.testing.assert_array_equal(forward(X, params)[0], forward(X, params, dropout_seed=9)[0])
    for k, v in before[0].items():
        np.testing.assert_array_equal(params[k], v)
    np.testing.assert_array_equal(X, before[1])


def test_cost_from_outputs_matches_network_cost_and_adds_the_l2_term_by_hand():
    rng = np.random.default_rng(2)
    params = init_params([3, 4, 1], seed=2)
    X, Y = rng.normal(size=(3, 6)), (rng.random((1, 6)) < 0.5).astype(float)
    AL, caches = forward(X, params)
    plain = cost(AL, Y)
    assert plain == pytest.approx(network_cost(params, X, Y), rel=1e-13)
    l2 = 0.3 / (2 * 6) * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    assert cost(AL, Y, params, lambd=0.3) == pytest.approx(plain + l2, rel=1e-14)
    assert network_cost(params, X, Y, lambd=0.3) == pytest.approx(plain + l2, rel=1e-13)
    assert backward(AL, Y, caches, lambd=0.3)["dW2"] == pytest.approx(
        backward(AL, Y, caches)["dW2"] + 0.3 / 6 * params["W2"], rel=1e-14
    )


def test_network_cost_stays_exact_when_the_output_saturates():
    params = {"W1": np.array([[100.0, -100.0]]), "b1": np.zeros((1, 1))}
    X = np.array([[10.0, -10.0], [0.0, 0.0]])  # logits 1000 and −1000
    Y = np.array([[0.0, 1.0]])  # both confidently wrong: cost (1000 + 1000) / 2
    assert network_cost(params, X, Y) == 1000.0
    AL = forward(X, params)[0]
    assert np.isfinite(cost(AL, Y))  # the lecture's formula is clipped, finite but smaller
    report = check_gradients(
        lambda p: network_cost(p, X, Y), params, network_gradients(params, X, Y)
    )
    assert report.verdict == "correct", report.summary()


def test_shape_mismatches_name_the_shapes():
    params = init_params([3, 4, 1])
    with pytest.raises(
        GradCheckError, match=r"X has shape \(5, 7\).*W1 has shape \(4, 3\).*\(4, 5\)"
    ):
        forward(np.zeros((5, 7)), params)
    with pytest.raises(GradCheckError, match=r"transposed"):
        forward(np.zeros((7, 3)), params)
    with pytest.raises(GradCheckError, match=r"X must be 2-D \(n_x, m\).*shape \(3,\)"):
        forward(np.zeros(3), params)
    bad = dict(params, W2=np.zeros((1, 5)))
    with pytest.raises(GradCheckError, match=r"W1 has shape \(4, 3\).*W2 has shape \(1, 5\)"):
        forward(np.zeros((3, 2)), bad)
    with pytest.raises(GradCheckError, match=r"b1 has shape \(4,\).*\(4, 1\)"):
        forward(np.zeros((3, 2)), dict(params, b1=np.zeros(4)))
    with pytest.raises(GradCheckError, match=r"missing: b2"):
        forward(np.zeros((3, 2)), {"W1": params["W1"], "b1": params["b1"], "W2": params["W2"]})
    with pytest.raises(GradCheckError, match=r"unexpected: beta1, gamma1"):
        forward(np.zeros((3, 2)), dict(params, gamma1=np.ones(1), beta1=np.ones(1)))
    X = np.zeros((3, 2))
    with pytest.raises(GradCheckError, match=r"Y has shape \(2,\).*output has shape \(1, 2\)"):
        network_cost(params, X, np.zeros(2))
    AL, caches = forward(X, params)
    with pytest.raises(GradCheckError, match=r"Y has shape \(1, 3\).*\(1, 2\)"):
        backward(AL, np.zeros((1, 3)), caches)
    with pytest.raises(GradCheckError, match=r"Y has shape \(1, 3\).*\(1, 2\)"):
        cost(AL, np.zeros((1, 3)))
    soft = init_params([3, 4, 3])
    with pytest.raises(GradCheckError, match="one-hot"):
        network_cost(soft, X, np.zeros((3, 2)), output="softmax")


def test_bad_options_get_clear_errors():
    params, X = init_params([3, 2, 1]), np.zeros((3, 4))
    with pytest.raises(
        GradCheckError, match="unknown hidden activation 'Relu'; choose one of relu"
    ):
        forward(X, params, hidden="Relu")
    with pytest.raises(
        GradCheckError, match="unknown output 'mse'; choose one of sigmoid, softmax"
    ):
        forward(X, params, output="mse")
    with pytest.raises(GradCheckError, match="keep_prob=0.8 needs dropout_seed"):
        forward(X, params, keep_prob=0.8)
    with pytest.raises(GradCheckError, match=r"keep_prob must be in \(0, 1\]"):
        forward(X, params, keep_prob=0.0, dropout_seed=1)
    with pytest.raises(GradCheckError, match="lambd=0.5 needs params"):
        cost(np.full((1, 4), 0.5), np.zeros((1, 4)), lambd=0.5)
    with pytest.raises(GradCheckError, match="layer_dims must be at least two positive ints"):
        init_params([3])
    with pytest.raises(GradCheckError, match="scale must be 'he', 'xavier' or a positive float"):
        init_params([3, 2], scale="glorot")
