"""Does the diagnosis name the kind of each planted bug, and stay silent on correct gradients?"""

from dataclasses import replace

import numpy as np
import pytest

from gradlib import check_gradients
from gradlib.diagnose import diagnose

M = 8  # batch size of the test network


def _net(seed=0, dims=(5, 5, 5, 1), m=M, hidden="tanh", lambd=0.0, keep_prob=1.0):
    """A small MLP (sigmoid output, cross-entropy, L2, fixed dropout masks) with a hand-written
    backward that can plant a bug inside the chain rule.

    Returns params, cost(params), grads(params, bug=None, at=None) and the context dict.
    """
    rng = np.random.default_rng(seed)
    L = len(dims) - 1
    params = {}
    for layer in range(1, L + 1):
        params[f"W{layer}"] = rng.normal(size=(dims[layer], dims[layer - 1]))
        params[f"b{layer}"] = rng.normal(size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    Y = (rng.random(size=(1, m)) > 0.5).astype(float)
    masks = {layer: rng.random((dims[layer], m)) < keep_prob for layer in range(1, L)}

    def g(Z):
        return np.tanh(Z) if hidden == "tanh" else np.maximum(Z, 0)

    def forward(p):
        As, Zs = [X], [None]
        for layer in range(1, L):
            Zs.append(p[f"W{layer}"] @ As[-1] + p[f"b{layer}"])
            As.append(g(Zs[-1]) * masks[layer] / keep_prob)
        return p[f"W{L}"] @ As[-1] + p[f"b{L}"], As, Zs

    def cost(p):
        Z, _, _ = forward(p)
        l2 = sum(np.sum(p[f"W{layer}"] ** 2) for layer in range(1, L + 1))
        return float(np.mean(np.logaddexp(0, Z) - Y * Z) + lambd / (2 * m) * l2)

    def grads(p, bug=None, at=None):
        """Backprop; ``bug`` is planted in layer ``at`` (every layer when None)."""
        Z, As, Zs = forward(p)
        dZ = (1 / (1 + np.exp(-Z)) - Y) / m
        out = {}
        for layer in range(L, 0, -1):
            here = at in (None, layer)
            W, b = p[f"W{layer}"], p[f"b{layer}"]
            reg = {"no_reg": 0, "half_reg": 0.5, "double_reg": 2}.get(bug, 1) * lambd / m
            out[f"dW{layer}"] = dZ @ As[layer - 1].T + reg * W
            out[f"db{layer}"] = dZ.sum(axis=1, keepdims=True)
            if bug == "reg_b":
                out[f"db{layer}"] += lambd / m * b
            if bug == "db_total" and here:
                out[f"db{layer}"] = np.full_like(b, dZ.sum())
            if layer == 1:
                break
            dA = W.T @ dZ
            here = at in (None, layer - 1)  # the bugs below are in dZ of layer - 1
            if not (bug == "no_dropout_mask" and here):
                dA = dA * masks[layer - 1] / keep_prob
            Zp = Zs[layer - 1]
            if hidden == "tanh":
                A = np.tanh(Zp)
                dZ = dA * ((1 - A) if bug == "tanh_1_minus_A" and here else (1 - A**2))
            else:
                dZ = dA if bug == "relu_no_mask" and here else dA * (Zp > 0)
        return out

    return params, cost, grads, {"m": m, "lambd": lambd}


def _swap(g, a, b):
    g[a], g[b] = g[b], g[a]
    return g


def _set(g, key, f):
    g[key] = f(g[key])
    return g


# Each entry: (net options, bug as (grads, params) -> grads, {block: kind}, text in a detail).
# Blocks not listed must pass.
CATALOG = {
    "factor 2 in dW2 (the lecture's bug)": (
        {},
        lambda g, p: _set(g, "dW2", lambda x: 2 * x),
        {"W2": "scale"},
        "2× the numeric",
    ),
    "missing 1/m in dW2": (
        {},
        lambda g, p: _set(g, "dW2", lambda x: M * x),
        {"W2": "scale"},
        "m = 8",
    ),
    "extra 1/m in dW1": ({}, lambda g, p: _set(g, "dW1", lambda x: x / M), {"W1": "scale"}, "1/m"),
    "missing 1/m in the output dZ": (
        {},
        lambda g, p: {k: M * v for k, v in g.items()},
        {n: "scale" for n in ("W1", "b1", "W2", "b2", "W3", "b3")},
        "m = 8",
    ),
    "db2 off by m (mean for sum)": (
        {},
        lambda g, p: _set(g, "db2", lambda x: x / M),
        {"b2": "scale"},
        "1/m",
    ),
    "sign flip in dW3": ({}, lambda g, p: _set(g, "dW3", lambda x: -x), {"W3": "sign"}, "sign"),
    "dW2 transposed": (
        {},
        lambda g, p: _set(g, "dW2", lambda x: x.T),
        {"W2": "transpose"},
        "A_prev",
    ),
    "dW1 left at zero": ({}, lambda g, p: _set(g, "dW1", np.zeros_like), {"W1": "zero"}, "zeros"),
    "dW1 and dW2 swapped": (
        {},
        lambda g, p: _swap(g, "dW1", "dW2"),
        {"W1": "swapped", "W2": "swapped"},
        "swapped",
    ),
    "the lecture's db1 bug: a constant added": (
        {},
        lambda g, p: _set(g, "db1", lambda x: x + 0.1),
        {"b1": "offset"},
        "+0.1",
    ),
    "db1 summed over units and examples": (
        {"bug": "db_total", "at": 1},
        None,
        {"b1": "bias_reduction"},
        "axis=1",
    ),
    "single wrong element in dW2": (
        {},
        lambda g, p: _set(g, "dW2", lambda x: x + 0.05 * (np.arange(x.size) == 7).reshape(x.shape)),
        {"W2": "elements"},
        "W2[1, 2]",
    ),
    "missing L2 gradient": (
        {"lambd": 0.7, "bug": "no_reg"},
        None,
        {
            "W1": "missing_regularization",
            "W2": "missing_regularization",
            "W3": "missing_regularization",
        },
        "λ/m",
    ),
    "L2 gradient with λ/(2m)": (
        {"lambd": 0.7, "bug": "half_reg"},
        None,
        {
            "W1": "missing_regularization",
            "W2": "missing_regularization",
            "W3": "missing_regularization",
        },
        "λ/(2m)",
    ),
    "L2 gradient added twice": (
        {"lambd": 0.7, "bug": "double_reg"},
        None,
        {"W1": "extra_regularization", "W2": "extra_regularization", "W3": "extra_regularization"},
        "twice",
    ),
    "L2 applied to b as well": (
        {"lambd": 0.7, "bug": "reg_b"},
        None,
        {"b1": "extra_regularization", "b2": "extra_regularization", "b3": "extra_regularization"},
        "weights W only",
    ),
    "tanh' written 1 - A in layer 1": (
        {"bug": "tanh_1_minus_A", "at": 1},
        None,
        {"W1": "dZ", "b1": "dZ"},
        "dZ1",
    ),
    "tanh' written 1 - A in layer 2": (
        {"bug": "tanh_1_minus_A", "at": 2},
        None,
        {"W2": "dZ", "b2": "dZ", "W1": "propagated", "b1": "propagated"},
        "dZ2",
    ),
    "ReLU mask missing in backward": (
        {"hidden": "relu", "bug": "relu_no_mask", "at": 2},
        None,
        {"W2": "dZ", "b2": "dZ", "W1": "propagated", "b1": "propagated"},
        "ReLU",
    ),
    "dropout mask not applied in backward": (
        {"keep_prob": 0.6, "bug": "no_dropout_mask", "at": 1},
        None,
        {"W1": "dZ", "b1": "dZ"},
        "dropout",
    ),
}


def _planted(name, seed=1):
    options, mutate, expected, text = CATALOG[name]
    options = dict(options)
    bug, at = options.pop("bug", None), options.pop("at", None)
    params, cost, grads, context = _net(seed, **options)
    g = grads(params, bug=bug, at=at)
    if mutate is not None:
        g = mutate(g, params)
    return check_gradients(cost, params, g, context=context), expected, text


@pytest.mark.parametrize("name", list(CATALOG))
def test_each_planted_bug_is_wrong_and_gets_its_kind(name):
    report, expected, text = _planted(name)
    assert report.verdict == "wrong", report.summary()
    assert {b.name for b in report.failing()} == set(expected), report.summary()
    kinds = {f.block: f.kind for f in report.diagnosis}
    assert kinds == expected, report.summary()
    assert len(report.diagnosis) == len(expected), "one finding per failing block"
    assert any(text in f.detail for f in report.diagnosis), report.summary()


def test_catalog_has_a_dozen_distinct_bugs_and_every_kind():
    kinds = {k for _, _, expected, _ in CATALOG.values() for k in expected.values()}
    assert len(CATALOG) >= 12
    assert kinds >= {
        "scale", "sign", "transpose", "zero", "swapped", "offset", "bias_reduction",
        "missing_regularization", "extra_regularization", "elements", "dZ", "propagated",
    }  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [{}, {"hidden": "relu"}, {"lambd": 0.7}, {"keep_prob": 0.6, "hidden": "relu", "lambd": 0.3}],
)
def test_correct_gradients_get_no_findings(options):
    for seed in range(25):
        params, cost, grads, context = _net(seed, **options)
        report = check_gradients(cost, params, grads(params), context=context)
        assert report.verdict == "correct", report.summary()
        assert report.diagnosis == [], report.summary()


def test_factor_2_without_context_asks_about_m():
    params, cost, grads, _ = _net(3)
    g = grads(params)
    g["dW2"] = 2 * g["dW2"]
    report = check_gradients(cost, params, g)
    (finding,) = report.diagnosis
    assert finding.kind == "scale"
    assert "is a 1/m missing (m = 2?) or a factor 2 extra" in finding.detail


def test_regularization_is_named_against_lambda_over_m():
    report, _, _ = _planted("missing L2 gradient")
    assert all("(= λ/m, λ = 0.7, m = 8)" in f.detail for f in report.diagnosis)


def test_suspicious_block_with_a_tiny_factor_is_a_scale_not_a_crash():
    params, cost, grads, context = _net(4)
    g = grads(params)
    g["dW1"] = g["dW1"] * (1 + 1e-5)
    report = check_gradients(cost, params, g, context=context)
    assert report.verdict == "suspicious"
    assert [(f.block, f.kind) for f in report.diagnosis] == [("W1", "scale")]


def test_blocks_without_numeric_values_are_skipped():
    """Fast mode leaves NaN where it measured nothing: judge what is there, never crash."""
    params, cost, grads, context = _net(5)
    g = grads(params)
    g["dW2"] = 2 * g["dW2"]
    g["db1"] = g["db1"] + 0.1
    full = check_gradients(cost, params, g, context=context)
    blocks = []
    for b in full.blocks:
        numeric = np.full(b.shape, np.nan)
        if b.name == "W2":  # a few entries measured
            numeric.flat[:4] = b.numeric.flat[:4]
        blocks.append(replace(b, numeric=numeric))
    report = replace(full, blocks=tuple(blocks), mode="fast", diagnosis=[])
    assert [(f.block, f.kind) for f in diagnose(report)] == [("W2", "scale")]
    (f,) = diagnose(report, {"m": 2})
    assert "m = 2" in f.detail


def test_kink_entries_are_not_judged():
    params, cost, grads, context = _net(6)
    g = grads(params)
    g["dW3"] = -g["dW3"]
    g["dW3"][0, 1] = 5.0  # would spoil the sign pattern, but it is marked as a kink
    mask = np.zeros(sum(v.size for v in params.values()), bool)
    mask[30 + 30 + 1] = True  # W3[0, 1] follows W1, b1, W2, b2 (25 + 5 + 25 + 5 entries)
    report = check_gradients(cost, params, g, kinks=mask, context=context)
    assert report.kinks == ("W3[0, 1]",)
    assert [(f.block, f.kind) for f in report.diagnosis] == [("W3", "sign"), ("W3", "kink")]
