"""Does the diagnosis name the kind of each planted bug, and stay silent on correct gradients?"""

from dataclasses import replace
from functools import partial

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
        AL = 1 / (1 + np.exp(-Z))
        dZ = (AL - Y) / m
        if bug == "output_sigmoid_twice":  # σ' applied on top of the combined A − Y
            dZ = dZ * AL * (1 - AL)
        out = {}
        for layer in range(L, 0, -1):
            here = at in (None, layer)
            W, b = p[f"W{layer}"], p[f"b{layer}"]
            reg = {"no_reg": 0, "half_reg": 0.5, "double_reg": 2}.get(bug, 1) * lambd / m
            data = dZ @ As[layer - 1].T * (m if bug == "data_no_m" else 1)
            out[f"dW{layer}"] = data + reg * W
            out[f"db{layer}"] = dZ.sum(axis=1, keepdims=True)
            if bug == "reg_b":
                out[f"db{layer}"] += lambd / m * b
            if bug == "db_total" and here:
                out[f"db{layer}"] = np.full_like(b, dZ.sum())
            if bug == "db_one_column" and here:
                out[f"db{layer}"] = dZ[:, :1]
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
                if bug == "relu_mask_never" and here:  # A ≥ 0 after a ReLU: never true
                    dZ = dA * (np.maximum(Zp, 0) < 0)
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
        "one and the same constant",
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
        "wrong order",
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
        "over the examples only",
    ),
    "db1 from one column of dZ (no signature in N: other)": (
        {"bug": "db_one_column", "at": 1},
        None,
        {"b1": "other"},
        "no simple pattern",
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
    "output dZ times the sigmoid derivative again": (
        {"bug": "output_sigmoid_twice"},
        None,
        {
            "W3": "dZ",
            "b3": "dZ",
            "W2": "propagated",
            "b2": "propagated",
            "W1": "propagated",
            "b1": "propagated",
        },
        "output layer 3",
    ),  # fmt: skip
    "ReLU mask missing in backward": (
        {"hidden": "relu", "bug": "relu_no_mask", "at": 2},
        None,
        {"W2": "dZ", "b2": "dZ", "W1": "propagated", "b1": "propagated"},
        "the activation's derivative",
    ),
    "ReLU mask inverted (A < 0, never true): nothing flows below layer 2": (
        {"hidden": "relu", "bug": "relu_mask_never", "at": 2},
        None,
        {"W2": "dZ", "b2": "dZ", "W1": "propagated", "b1": "propagated"},
        "nothing reaches dZ2",
    ),
    "missing 1/m in the data term of dW, with L2 on": (
        {"lambd": 0.7, "bug": "data_no_m"},
        None,
        {"W1": "data_scale", "W2": "data_scale", "W3": "data_scale"},
        "its 1/m is missing, while its L2 term (λ/m)·W1 is right",
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


def test_a_factor_is_named_by_kind_not_by_value():
    """The where and the kind, not the fix: "a stray factor", never "2×" (the student reads
    the ratio off the worst entries); only m, the batch size, is named."""
    params, cost, grads, context = _net(3)
    for factor in (2.0, 4.0, 0.5, 3.7):
        g = grads(params)
        g["dW2"] = factor * g["dW2"]
        for ctx in (None, context):
            (finding,) = check_gradients(cost, params, g, context=ctx).diagnosis
            assert finding.kind == "scale"
            assert "one and the same constant" in finding.detail, finding.detail
            assert "×" not in finding.detail and "(m = " not in finding.detail


@pytest.mark.parametrize("m", [6, 5, 7])
def test_the_batch_size_is_never_guessed_from_a_ratio(m):
    """04's colleague (m = 6) has db1 × 4 and dW2 × 2: the report once guessed "(m = 4?)".
    A factor is named as m only when the caller says what m is and the factor is m (or 1/m);
    no m is read off a ratio, odd or even."""
    params, cost, grads, context = _net(2, m=m)
    assert context["m"] == m
    for factor in (2.0, 3.0, 4.0, float(m), 1 / m):
        g = grads(params)
        g["db1"] = factor * g["db1"]
        for ctx in (None, context):
            (finding,) = check_gradients(cost, params, g, context=ctx).diagnosis
            assert finding.kind == "scale", finding
            named = f"m = {m:g}" in finding.detail
            assert named == (ctx is not None and factor in (m, 1 / m)), (factor, ctx, finding)
            guessed = [f"m = {k}" for k in range(2, 20) if k != m]
            assert not any(g in finding.detail for g in guessed), finding.detail


def test_a_zero_block_below_a_wrong_layer_is_propagated_not_left_at_zeros():
    # A ReLU mask taken from dA zeroes a whole bias gradient now and then: that db1 is the
    # error at dZ2 flowing down, not a db1 "left at np.zeros".
    params, cost, grads, context = _net(1, hidden="relu")
    g = grads(params, bug="relu_no_mask", at=2)
    g["db1"] = np.zeros_like(g["db1"])
    report = check_gradients(cost, params, g, context=context)
    kinds = {f.block: f.kind for f in report.diagnosis}
    assert kinds == {"W2": "dZ", "b2": "dZ", "W1": "propagated", "b1": "propagated"}, kinds
    assert "np.zeros" not in report.summary()
    # alone, with its layer's other block right, a zero block is still "left at zeros?"
    g = grads(params)
    g["db1"] = np.zeros_like(g["db1"])
    (finding,) = check_gradients(cost, params, g, context=context).diagnosis
    assert finding.kind == "zero" and "np.zeros" in finding.detail


def test_a_few_wrong_entries_in_a_layer_may_be_a_mask_too():
    report, _, _ = _planted("single wrong element in dW2")
    (finding,) = report.diagnosis
    assert "loop-bound slip, or dZ2 wrong on a few units or examples" in finding.detail


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


def test_a_suspicious_block_with_no_pattern_gets_no_finding():
    params, cost, grads, context = _net(7)
    g = grads(params)
    noise = np.random.default_rng(0).normal(size=g["dW2"].shape)
    g["dW2"] = g["dW2"] * (1 + 1e-5 * noise)  # looks like noise, not like a bug
    report = check_gradients(cost, params, g, context=context)
    assert report.verdict == "suspicious"
    assert report.diagnosis == []


@pytest.mark.parametrize(
    "bug, kind",
    [(lambda x: -x, "sign"), (lambda x: 2 * x, "scale"), (lambda x: x / M, "scale"),
     (lambda x: x + 0.1, "other"), (np.zeros_like, "zero")],
)  # fmt: skip
def test_a_single_entry_block_accepts_only_recognised_factors(bug, kind):
    """db3 has one entry: any wrong value is "a constant ratio", so only 2, 1/m, −1... count."""
    params, cost, grads, context = _net(8)
    g = grads(params)
    g["db3"] = bug(g["db3"])
    report = check_gradients(cost, params, g, context=context)
    assert [(f.block, f.kind) for f in report.diagnosis] == [("b3", kind)]


# The same bugs planted into the reference network (gradlib.nn): grads from nn.backward
# mutated, or a backward rebuilt from gradlib.layers with one line wrong.


def _nn_net(seed=0, dims=(5, 5, 5, 1), m=M, hidden="tanh", lambd=0.7, keep_prob=1.0):
    nn = pytest.importorskip("gradlib.nn")
    rng = np.random.default_rng(seed)
    params = nn.init_params(list(dims), seed=seed, scale="xavier")
    for layer in range(1, len(dims)):  # non-zero biases, so that an L2 term on b shows
        params[f"b{layer}"] = 0.3 * rng.normal(size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    options = {"hidden": hidden, "lambd": lambd, "keep_prob": keep_prob}
    options["dropout_seed"] = 3 if keep_prob < 1 else None
    return nn, params, X, Y, options


def _layers_backward(AL, Y, caches, lambd, bug=None):
    """nn.backward rebuilt from gradlib.layers; ``bug`` makes one line wrong."""
    from gradlib import layers

    m, L = Y.shape[1], len(caches)
    grads, dZ, dA = {}, layers.output_backward(AL, Y), None
    for layer in range(L, 0, -1):
        cache = caches[layer - 1]
        if layer < L:
            if cache["dropout"] is not None and bug != "no_dropout_mask":
                dA = layers.dropout_backward(dA, cache["dropout"])
            if bug == "relu_no_mask":
                dZ = dA
            elif bug == "tanh_1_minus_A":
                dZ = dA * (1 - cache["activation"][2])
            else:
                dZ = layers.activation_backward(dA, cache["activation"])
        dA, dW, db = layers.linear_backward(dZ, cache["linear"])
        _, W, b = cache["linear"]
        dW = dW + (0 if bug == "no_reg" else lambd / m) * W
        if bug == "reg_b":
            db = db + lambd / m * b
        if bug == "db_total" and layer == 1:
            db = np.full_like(b, dZ.sum())
        grads[f"dW{layer}"], grads[f"db{layer}"] = dW, db
    return grads


_ALL_W = dict.fromkeys(("W1", "W2", "W3"), "missing_regularization")
_DZ2 = {"W2": "dZ", "b2": "dZ", "W1": "propagated", "b1": "propagated"}

NN_CATALOG = {  # name: (network options, mutation of nn.backward's grads or a bug, kinds)
    "factor 2 in dW2": ({}, lambda g: _set(g, "dW2", lambda x: 2 * x), {"W2": "scale"}),
    "missing 1/m in dW1": ({}, lambda g: _set(g, "dW1", lambda x: M * x), {"W1": "scale"}),
    "sign flip in dW3": ({}, lambda g: _set(g, "dW3", lambda x: -x), {"W3": "sign"}),
    "dW2 transposed": ({}, lambda g: _set(g, "dW2", lambda x: x.T), {"W2": "transpose"}),
    "dW1 left at zero": ({}, lambda g: _set(g, "dW1", np.zeros_like), {"W1": "zero"}),
    "dW1, dW2 swapped": ({}, lambda g: _swap(g, "dW1", "dW2"), {"W1": "swapped", "W2": "swapped"}),
    "db1 + 0.1": ({}, lambda g: _set(g, "db1", lambda x: x + 0.1), {"b1": "offset"}),
    "L2 gradient missing": ({}, "no_reg", _ALL_W),
    "L2 applied to b": ({}, "reg_b", dict.fromkeys(("b1", "b2", "b3"), "extra_regularization")),
    "db1 summed over all of dZ1": ({}, "db_total", {"b1": "bias_reduction"}),
    "tanh' written 1 - A": ({}, "tanh_1_minus_A", _DZ2),
    "ReLU mask missing": ({"hidden": "relu"}, "relu_no_mask", _DZ2),
    "dropout mask not applied": ({"keep_prob": 0.7}, "no_dropout_mask", _DZ2),
}  # fmt: skip


def _nn_planted(name, seed=1):
    setup, bug, expected = NN_CATALOG[name]
    nn, params, X, Y, options = _nn_net(seed, **setup)
    AL, caches = nn.forward(X, params, options["hidden"], "sigmoid", options["keep_prob"],
                            options["dropout_seed"])  # fmt: skip
    if callable(bug):
        grads = bug(nn.backward(AL, Y, caches, lambd=options["lambd"]))
    else:
        grads = _layers_backward(AL, Y, caches, options["lambd"], bug)
    return nn, params, X, Y, options, grads, expected


def test_layers_backward_without_a_bug_is_the_reference_backward():
    for setup in ({}, {"hidden": "relu"}, {"keep_prob": 0.7}):
        nn, params, X, Y, options = _nn_net(2, **setup)
        AL, caches = nn.forward(X, params, options["hidden"], "sigmoid", options["keep_prob"],
                                options["dropout_seed"])  # fmt: skip
        mine = _layers_backward(AL, Y, caches, options["lambd"])
        theirs = nn.backward(AL, Y, caches, lambd=options["lambd"])
        assert all(np.allclose(mine[k], theirs[k], rtol=1e-12, atol=0) for k in theirs)


@pytest.mark.parametrize("name", list(NN_CATALOG))
def test_bugs_planted_in_the_reference_network_get_their_kind(name):
    nn, params, X, Y, options, grads, expected = _nn_planted(name)

    def J(p):
        return nn.network_cost(p, X, Y, **options)

    report = check_gradients(J, params, grads, context={"m": M, "lambd": options["lambd"]})
    assert report.verdict == "wrong", report.summary()
    assert {f.block: f.kind for f in report.diagnosis if f.kind != "kink"} == expected, (
        report.summary()
    )


@pytest.mark.parametrize("name", list(NN_CATALOG))
def test_check_network_reports_the_same_kinds(name):
    netgrad = pytest.importorskip("gradlib.netgrad")
    _, params, X, Y, options, grads, expected = _nn_planted(name)
    report = netgrad.check_network(params, X, Y, grads, **options)
    assert report.verdict == "wrong", report.summary()
    assert {f.block: f.kind for f in report.diagnosis if f.kind != "kink"} == expected, (
        report.summary()
    )


@pytest.mark.parametrize("setup", [{}, {"hidden": "relu", "keep_prob": 0.7}])
def test_correct_reference_gradients_get_no_findings(setup):
    for seed in range(15):
        nn, params, X, Y, options = _nn_net(seed, **setup)
        grads = nn.network_gradients(params, X, Y, **options)
        J = partial(nn.network_cost, X=X, Y=Y, **options)
        report = check_gradients(J, params, grads, context={"m": M})
        assert report.verdict == "correct", report.summary()
        assert [f for f in report.diagnosis if f.kind != "kink"] == [], report.summary()
