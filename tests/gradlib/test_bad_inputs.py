"""Does every bad input to gradlib's public functions get the answer docs/bad-inputs.md promises?

Each case is one row of the table in docs/bad-inputs.md (its id is the row's last column),
with one or more variants of the bad input. A case expects an exception (type and message
fragment, and for a J that raises, the note saying where θ was), a warning, or an accepted
input with a checked result. The last test keeps the table and this file in step.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from gradlib import (
    GradCheckError,
    PrecisionWarning,
    check_gradients,
    derivative,
    grads_to_vector,
    nn,
    numerical_gradient,
    numerical_vjp,
    params_to_vector,
    relative_difference,
    vector_to_params,
)
from gradlib.netgrad import check_network, numerical_network_gradient
from gradlib.plots import plot_eps_sweep, plot_report

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"
MODES = ("full", "fast")


# --- what a case expects ----------------------------------------------------------------


class Raises:
    """The call raises ``exc`` with ``match`` in its message (and ``note`` in a note)."""

    def __init__(self, match: str, exc=GradCheckError, note: str | None = None, warns=None):
        self.match, self.exc, self.note, self.warns = match, exc, note, warns

    def check(self, call):
        if self.warns:
            with pytest.warns(self.warns), pytest.raises(self.exc, match=self.match) as info:
                call()
        else:
            with pytest.raises(self.exc, match=self.match) as info:
                call()
        assert type(info.value) is self.exc  # the type is kept, not wrapped
        if self.note:
            notes = getattr(info.value, "__notes__", [])
            assert any(re.search(self.note, n) for n in notes), notes


class Warns:
    """The call warns ``category`` with ``match``; ``then`` checks the result."""

    def __init__(self, match: str, category=PrecisionWarning, then=None):
        self.match, self.category, self.then = match, category, then

    def check(self, call):
        with pytest.warns(self.category, match=self.match):
            result = call()
        if self.then:
            assert self.then(result), result


class Returns:
    """The input is accepted and ``ok(result)`` holds."""

    def __init__(self, ok):
        self.ok = ok

    def check(self, call):
        result = call()
        assert self.ok(result), result


CASES = []


def case(row: str, expect, **variants):
    """Register one table row: each keyword is a variant of the bad input (a 0-arg call)."""
    for label, call in variants.items():
        CASES.append(pytest.param(call, expect, id=f"{row}:{label}"))


# --- shared inputs ----------------------------------------------------------------------

rng = np.random.default_rng(0)
THETA = np.array([1.0, 2.0])
DTHETA = 3 * THETA**2
X_NET = rng.normal(size=(3, 4))


def J_cube(t):
    return float(np.sum(t**3))


def params():
    return {"W1": np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]), "b1": np.array([[0.1], [-0.1]])}


def J_net(p):
    return float(np.sum(np.tanh(p["W1"] @ X_NET + p["b1"])))


def grads(p):
    slope = 1 - np.tanh(p["W1"] @ X_NET + p["b1"]) ** 2
    return {"dW1": slope @ X_NET.T, "db1": slope.sum(axis=1, keepdims=True)}


_, SPEC = params_to_vector(params())  # W1 (2, 3), b1 (2, 1): 8 entries
NN_PARAMS = nn.init_params([3, 4, 1], seed=1)
NN_X = rng.normal(size=(3, 5))
NN_Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
NN_AL, NN_CACHES = nn.forward(NN_X, NN_PARAMS)
NN_GRADS = nn.network_gradients(NN_PARAMS, NN_X, NN_Y)


def nn_params(**changes):
    return {**{k: v.copy() for k, v in NN_PARAMS.items()}, **changes}


def square(x):
    return x**2


def raise_key_error(*_):
    raise KeyError("boom")


def raises_off_theta(t):
    """Raises once θ[1] has moved (a later call), fine at θ."""
    if np.ravel(t)[1] != 2.0:
        raise KeyError("boom")
    return J_cube(t)


def adds_one(t):
    t += 1.0
    return float(np.sum(t))


def sets_entry(t):
    t[0] = 5.0
    return float(np.sum(t))


def sorts(t):
    t.sort()
    return float(t[0])


def changes_only_first_call(t):
    """Modifies θ once, at the unperturbed point; every later call sees the changed θ."""
    if np.array_equal(t, THETA):
        t[0] = 1.5
    return J_cube(t)


def changes_dict_block(p):
    p["W1"] += 1e-3
    return J_net(p)


NOTE = r"\(raised by J at theta with theta\.flat\[1\] moved by \+1\.21e-05\)"
NONFINITE = "a grad check needs finite numbers"
NOT_NUMBERS = "must be an array of numbers"
COMPLEX = "is complex .*works with real numbers"
EMPTY = "is empty .*nothing to check"
CHANGED = "changed its input in place"
RAGGED = "ragged nested list"
EPS = "eps must be a positive finite number"


# --- gradlib.numdiff.derivative ---------------------------------------------------------

case(
    "derivative/x-nonfinite",
    Raises(r"x contains (nan|-inf) at the scalar.*" + NONFINITE),
    nan=lambda: derivative(square, np.nan),
    inf=lambda: derivative(square, -np.inf),
)
case(
    "derivative/x-shape",
    Raises(
        r"derivative\(\) takes a scalar x, got shape \(2,\); use "
        r"numerical_gradient"
    ),
    array=lambda: derivative(square, np.array([1.0, 2.0])),
)
case(
    "derivative/x-not-numbers",
    Raises("x " + NOT_NUMBERS),
    str=lambda: derivative(square, "1.0"),
    object=lambda: derivative(square, object()),
    none=lambda: derivative(square, None),
)
case(
    "derivative/x-complex",
    Raises(r"x is complex \(complex128\).*pass x\.real"),
    central=lambda: derivative(square, 1 + 1j),
    complex_step=lambda: derivative(square, 1 + 1j, method="complex"),
)
case(
    "derivative/x-float32",
    Warns("x is float32", then=lambda d: abs(d - 2.0) < 1e-3),
    float32=lambda: derivative(square, np.float32(1.0)),
)
case(
    "derivative/x-int",
    Returns(lambda d: isinstance(d, float) and abs(d - 6.0) < 1e-8),
    int=lambda: derivative(square, 3),
    bool=lambda: derivative(lambda t: 6 * t, True),
)
case("derivative/x-empty", Raises("x " + EMPTY), empty=lambda: derivative(square, np.array([])))
case(
    "derivative/f-not-callable",
    Raises("f must be a function returning the cost, got int"),
    int=lambda: derivative(3, 1.0),
)
case(
    "derivative/f-raises",
    Raises("boom", exc=KeyError, note=r"raised by J at theta with theta\.flat\[0\] moved by"),
    central=lambda: derivative(raise_key_error, 1.0),
)


def _f_rebinds_its_argument():
    x = np.array([1.0])

    def f(t):
        t += 1.0  # t is a Python float: this rebinds a local name, x cannot change
        return t**2

    return derivative(f, x), x


case(
    "derivative/f-side-effects",
    Returns(lambda r: abs(r[0] - 4.0) < 1e-6 and r[1][0] == 1.0),
    float_copy=_f_rebinds_its_argument,
)
case(
    "derivative/f-non-scalar",
    Raises(r"J must return a scalar cost, .*shape \(2,\)"),
    vector=lambda: derivative(lambda t: np.array([t, t]), 1.0),
)
case(
    "derivative/f-non-finite",
    Raises(r"J returned (nan|-inf) at theta with theta\.flat\[0\]"),
    nan=lambda: derivative(lambda t: np.nan, 1.0),
    inf=lambda: derivative(lambda t: -np.inf if t < 1 else 0.0, 1.0),
)
case(
    "derivative/f-not-number",
    Raises("J must return a number, but .* returned"),
    none=lambda: derivative(lambda t: None, 1.0),
    str=lambda: derivative(lambda t: "a", 1.0),
)
case(
    "derivative/f-complex",
    Raises(r"J must return a real cost, .*complex number"),
    complex=lambda: derivative(lambda t: t + 1j, 1.0),
)
case(
    "derivative/f-float32",
    Warns("J returned a float32 value"),
    float32=lambda: derivative(lambda t: np.float32(t * t), 1.0, eps=1e-2),
)
case(
    "derivative/eps",
    Raises(EPS),
    nan=lambda: derivative(square, 1.0, eps=np.nan),
    inf=lambda: derivative(square, 1.0, eps=np.inf),
    negative=lambda: derivative(square, 1.0, eps=-1e-3),
    zero=lambda: derivative(square, 1.0, eps=0),
    complex=lambda: derivative(square, 1.0, eps=1e-3 + 0j),
    str=lambda: derivative(square, 1.0, eps="1e-3"),
    array=lambda: derivative(square, 1.0, eps=np.array([1e-3])),
)
case(
    "derivative/eps-too-small",
    Raises(r"eps=1e-20 is too small to move .* Use a larger eps"),
    tiny=lambda: derivative(square, 1.0, eps=1e-20),
)
case(
    "derivative/method",
    Raises("unknown method 'Central'; choose one of forward, backward"),
    typo=lambda: derivative(square, 1.0, method="Central"),
)

# --- gradlib.numdiff.numerical_gradient -------------------------------------------------

case(
    "numerical_gradient/theta-nonfinite",
    Raises(r"theta contains (nan|inf) at \[(1|0, 1)\]"),
    nan=lambda: numerical_gradient(J_cube, np.array([1.0, np.nan])),
    inf=lambda: numerical_gradient(J_cube, np.array([[1.0, np.inf]])),
)
case(
    "numerical_gradient/theta-not-numbers",
    Raises("theta " + NOT_NUMBERS),
    str=lambda: numerical_gradient(J_cube, ["a", "b"]),
    object=lambda: numerical_gradient(J_cube, np.array([1.0, None])),
    none=lambda: numerical_gradient(J_cube, None),
    dict=lambda: numerical_gradient(J_cube, {"W1": THETA}),
)
case(
    "numerical_gradient/theta-ragged",
    Raises("theta is a " + RAGGED),
    ragged=lambda: numerical_gradient(J_cube, [[1.0], [1.0, 2.0]]),
)
case(
    "numerical_gradient/theta-complex",
    Raises("theta " + COMPLEX),
    central=lambda: numerical_gradient(J_cube, THETA + 1j),
    complex_step=lambda: numerical_gradient(J_cube, THETA + 0j, method="complex"),
)
case(
    "numerical_gradient/theta-float32",
    Warns(r"theta is float(32|16)"),
    float32=lambda: numerical_gradient(J_cube, THETA.astype(np.float32)),
    float16=lambda: numerical_gradient(J_cube, THETA.astype(np.float16)),
    float32_0d=lambda: numerical_gradient(lambda t: float(t**3), np.float32(2.0)),
)
case(
    "numerical_gradient/theta-int",
    Returns(lambda g: g.dtype == np.float64 and np.allclose(g, [3.0, 12.0], rtol=1e-8)),
    int=lambda: numerical_gradient(J_cube, np.array([1, 2])),
    list=lambda: numerical_gradient(J_cube, [1, 2]),
)
case(
    "numerical_gradient/theta-huge-int",
    Raises("integers too large for float64"),
    int64=lambda: numerical_gradient(J_cube, np.array([2**62 + 1])),
)
case(
    "numerical_gradient/theta-0d",
    Returns(lambda g: g.shape == () and abs(g - 12.0) < 1e-3),
    array=lambda: numerical_gradient(lambda t: float(t**3), np.array(2.0)),
    scalar=lambda: numerical_gradient(lambda t: float(t**3), 2.0),
)
case(
    "numerical_gradient/theta-empty",
    Raises("theta " + EMPTY),
    empty=lambda: numerical_gradient(J_cube, np.array([])),
    no_columns=lambda: numerical_gradient(J_cube, np.zeros((3, 0))),
)
case(
    "numerical_gradient/J-not-callable",
    Raises("J must be a function returning the cost"),
    array=lambda: numerical_gradient(THETA, THETA),
    none=lambda: numerical_gradient(None, THETA),
)
case(
    "numerical_gradient/J-raises",
    Raises("boom", exc=KeyError, note=NOTE),
    later=lambda: numerical_gradient(raises_off_theta, THETA),
)


def _caller_theta_after(J):
    theta = THETA.copy()
    try:
        numerical_gradient(J, theta)
    finally:
        assert np.array_equal(theta, THETA)  # the caller's θ is never touched


case(
    "numerical_gradient/J-side-effects",
    Raises("J " + CHANGED + r".*work on a copy inside J"),
    add=lambda: _caller_theta_after(adds_one),
    set=lambda: _caller_theta_after(sets_entry),
    sort=lambda: numerical_gradient(sorts, np.array([2.0, 1.0])),
)
case(
    "numerical_gradient/J-non-scalar",
    Raises(r"J must return a scalar cost.*shape \((2|0),\)"),
    vector=lambda: numerical_gradient(lambda t: t**2, THETA),
    empty=lambda: numerical_gradient(lambda t: np.array([]), THETA),
)
case(
    "numerical_gradient/J-non-finite",
    Raises(r"J returned (nan|inf) at theta with theta\.flat\[0\] moved by.*finite cost"),
    nan=lambda: numerical_gradient(lambda t: np.nan, THETA),
    inf=lambda: numerical_gradient(lambda t: np.inf, THETA),
)
case(
    "numerical_gradient/J-not-number",
    Raises("J must return a number"),
    none=lambda: numerical_gradient(lambda t: None, THETA),
    str=lambda: numerical_gradient(lambda t: "1.0", THETA),
    object=lambda: numerical_gradient(lambda t: np.array([1.0], dtype=object), THETA),
)
case(
    "numerical_gradient/J-complex",
    Raises(r"J must return a real cost.*\(1\+2j\)"),
    complex=lambda: numerical_gradient(lambda t: 1.0 + 2j, THETA),
)
case(
    "numerical_gradient/J-float32",
    Warns("J returned a float32 value.*float64"),
    float32=lambda: numerical_gradient(lambda t: np.float32(J_cube(t)), THETA),
)
case(
    "numerical_gradient/J-not-complex-safe",
    Raises("J is not complex-safe"),
    abs=lambda: numerical_gradient(lambda t: float(np.sum(np.abs(t))), THETA, method="complex"),
)
case(
    "numerical_gradient/eps",
    Raises(EPS),
    nan=lambda: numerical_gradient(J_cube, THETA, eps=np.nan),
    zero=lambda: numerical_gradient(J_cube, THETA, eps=0),
    complex=lambda: numerical_gradient(J_cube, THETA, eps=1e-3 + 0j),
    list=lambda: numerical_gradient(J_cube, THETA, eps=[1e-3]),
)
case(
    "numerical_gradient/method",
    Raises("unknown method 'foo'"),
    unknown=lambda: numerical_gradient(J_cube, THETA, method="foo"),
)

# --- gradlib.numdiff.numerical_vjp ------------------------------------------------------

DF = np.array([1.0, 1.0])
case(
    "numerical_vjp/nonfinite",
    Raises(r"(x|df|f\(x\)) contains (nan|inf) at \[0\]"),
    x=lambda: numerical_vjp(square, np.array([np.nan, 1.0]), DF),
    df=lambda: numerical_vjp(square, THETA, np.array([np.inf, 1.0])),
    f_of_x=lambda: numerical_vjp(lambda z: z * np.nan, THETA, DF),
)
case(
    "numerical_vjp/shape",
    Raises(r"df has shape \(3,\) but f\(x\) has shape \(2,\)"),
    df=lambda: numerical_vjp(square, THETA, np.ones(3)),
)
case(
    "numerical_vjp/not-numbers",
    Raises(r"(x|df|f\(x\)) " + NOT_NUMBERS),
    x=lambda: numerical_vjp(square, "ab", DF),
    df=lambda: numerical_vjp(square, THETA, "ab"),
    f_returns_none=lambda: numerical_vjp(lambda z: None, THETA, DF),
)
case(
    "numerical_vjp/complex",
    Raises(r"(x|f\(x\)) " + COMPLEX),
    x=lambda: numerical_vjp(square, THETA + 1j, DF),
    f_of_x=lambda: numerical_vjp(lambda z: z * 1j, THETA, DF),
)
case(
    "numerical_vjp/float32",
    Warns(r"(x|f\(x\)) is float32"),
    x=lambda: numerical_vjp(square, THETA.astype(np.float32), DF),
    f_of_x=lambda: numerical_vjp(lambda z: (z**2).astype(np.float32), THETA, DF),
)
case(
    "numerical_vjp/int",
    Returns(lambda g: np.allclose(g, [2.0, 4.0])),
    x=lambda: numerical_vjp(square, np.array([1, 2]), DF),
    df=lambda: numerical_vjp(square, THETA, np.array([1, 1])),
)
case(
    "numerical_vjp/0d",
    Returns(lambda g: g.shape == () and abs(g - 4.0) < 1e-8),
    scalar=lambda: numerical_vjp(square, np.array(2.0), np.array(1.0)),
)
case(
    "numerical_vjp/empty",
    Raises(r"(x|df) " + EMPTY),
    x=lambda: numerical_vjp(square, np.array([]), DF),
    df=lambda: numerical_vjp(square, THETA, np.array([])),
)
case(
    "numerical_vjp/f-not-callable",
    Raises("f must be a function"),
    str=lambda: numerical_vjp("f", THETA, DF),
)
case(
    "numerical_vjp/f-raises",
    Raises(
        "boom",
        exc=KeyError,
        note=r"raised by (f at x, before "
        r"any step|J at theta with x\.flat\[1\] moved by)",
    ),
    first_call=lambda: numerical_vjp(raise_key_error, THETA, DF),
    later=lambda: numerical_vjp(lambda z: raises_off_theta(z) * z, THETA, DF),
)


def _vjp_changes_x():
    x = THETA.copy()

    def f(z):
        z *= 2
        return z

    try:
        numerical_vjp(f, x, DF)
    finally:
        assert np.array_equal(x, THETA)  # the caller's x is never touched


case(
    "numerical_vjp/f-side-effects",
    Raises("f " + CHANGED + r".*work on a copy inside f"),
    in_place=_vjp_changes_x,
)

# --- gradlib.unroll ---------------------------------------------------------------------

case(
    "params_to_vector/nonfinite",
    Returns(lambda r: np.isnan(r[0][0]) and np.isinf(r[0][1])),
    nan_inf=lambda: params_to_vector({"W1": np.array([[np.nan, np.inf]])}),
)
case(
    "params_to_vector/not-dict",
    Raises("params must be a non-empty dict of arrays"),
    list=lambda: params_to_vector([THETA]),
    none=lambda: params_to_vector(None),
    empty_dict=lambda: params_to_vector({}),
)
case(
    "params_to_vector/key-not-str",
    Raises("parameter names must be strings, got 1"),
    int_key=lambda: params_to_vector({1: THETA}),
)
case(
    "params_to_vector/not-numbers",
    Raises("W1 " + NOT_NUMBERS),
    str=lambda: params_to_vector({"W1": "abc"}),
    object=lambda: params_to_vector({"W1": [None]}),
)
case(
    "params_to_vector/ragged",
    Raises("W1 is a " + RAGGED),
    ragged=lambda: params_to_vector({"W1": [[1.0], [1.0, 2.0]]}),
)
case(
    "params_to_vector/complex",
    Raises("W1 " + COMPLEX),
    complex=lambda: params_to_vector({"W1": np.array([1j])}),
)
case(
    "params_to_vector/float32-int",
    Returns(lambda dtype: dtype in (np.float32, np.float64)),
    float32=lambda: params_to_vector({"W1": np.ones(2, np.float32)})[0].dtype,
    mixed=lambda: params_to_vector({"W1": np.ones(2, np.float32), "b1": np.ones(1)})[0].dtype,
    int=lambda: params_to_vector({"W1": np.ones(2, int)})[0].dtype,
)
case(
    "params_to_vector/empty",
    Raises("W1 " + EMPTY),
    empty=lambda: params_to_vector({"W1": np.zeros((0, 3))}),
)

THETA8 = np.arange(8.0)
case(
    "vector_to_params/nonfinite",
    Returns(lambda p: np.isnan(p["W1"]).all()),
    nan=lambda: vector_to_params(np.full(8, np.nan), SPEC),
)
case(
    "vector_to_params/size",
    Raises(
        r"theta has 7 entries \(shape \(7,\)\) but the spec expects "
        r"8 \(W1 \(2, 3\), b1 \(2, 1\)\); did you unroll"
    ),
    short=lambda: vector_to_params(THETA8[:-1], SPEC),
)
case(
    "vector_to_params/ndim",
    Raises(
        r"theta must be a vector of shape \(8,\) or a column "
        r"\(8, 1\), got shape \((2, 4|)\)"
    ),
    matrix=lambda: vector_to_params(THETA8.reshape(2, 4), SPEC),
    scalar=lambda: vector_to_params(np.array(1.0), SPEC),
)
case(
    "vector_to_params/column",
    Returns(lambda p: p["b1"][1, 0] == 7.0),
    column=lambda: vector_to_params(THETA8.reshape(-1, 1), SPEC),
)
case(
    "vector_to_params/not-numbers",
    Raises("theta " + NOT_NUMBERS),
    str=lambda: vector_to_params("abc", SPEC),
)
case(
    "vector_to_params/complex",
    Raises("theta " + COMPLEX),
    complex=lambda: vector_to_params(THETA8 + 0j, SPEC),
)
case(
    "vector_to_params/float32-int",
    Returns(lambda dtype: dtype in (np.float32, np.float64)),
    float32=lambda: vector_to_params(THETA8.astype(np.float32), SPEC)["W1"].dtype,
    int=lambda: vector_to_params(np.arange(8), SPEC)["W1"].dtype,
)
case(
    "vector_to_params/empty",
    Raises("theta " + EMPTY),
    empty=lambda: vector_to_params(np.array([]), SPEC),
)
case(
    "vector_to_params/spec",
    Raises("spec must be the ParamSpec that params_to_vector returned"),
    dict=lambda: vector_to_params(THETA8, {"W1": (2, 3)}),
    none=lambda: vector_to_params(THETA8, None),
)

G8 = {"dW1": np.ones((2, 3)), "db1": np.ones((2, 1))}
case(
    "grads_to_vector/nonfinite",
    Returns(lambda d: np.isnan(d[:6]).all()),
    nan=lambda: grads_to_vector({**G8, "dW1": np.full((2, 3), np.nan)}, SPEC),
)
case(
    "grads_to_vector/shape",
    Raises(r"d(W|b)1 has shape \((3, 2|2,)\) but (W|b)1 has shape"),
    transposed=lambda: grads_to_vector({**G8, "dW1": np.ones((3, 2))}, SPEC),
    flat_bias=lambda: grads_to_vector({**G8, "db1": np.ones(2)}, SPEC),
)
case(
    "grads_to_vector/missing-key",
    Raises("grads is missing db1; backward must return"),
    missing=lambda: grads_to_vector({"dW1": G8["dW1"]}, SPEC),
)
case(
    "grads_to_vector/unknown-key",
    Raises("grads has a key (.dW2.|3) that matches no parameter"),
    extra=lambda: grads_to_vector({**G8, "dW2": 1.0}, SPEC),
    int_key=lambda: grads_to_vector({**G8, 3: 1.0}, SPEC),
)
case(
    "grads_to_vector/duplicate-key",
    Raises("grads has both 'W1' and 'dW1'; keep only one"),
    both=lambda: grads_to_vector({**G8, "W1": G8["dW1"]}, SPEC),
)
case(
    "grads_to_vector/not-dict",
    Raises("grads must be a dict such as"),
    list=lambda: grads_to_vector([1, 2], SPEC),
    array=lambda: grads_to_vector(np.ones(8), SPEC),
)
case(
    "grads_to_vector/not-numbers",
    Raises("dW1 " + NOT_NUMBERS),
    str=lambda: grads_to_vector({**G8, "dW1": "x"}, SPEC),
    none=lambda: grads_to_vector({**G8, "dW1": None}, SPEC),
)
case(
    "grads_to_vector/complex",
    Raises("dW1 " + COMPLEX),
    complex=lambda: grads_to_vector({**G8, "dW1": G8["dW1"] * 1j}, SPEC),
)
case(
    "grads_to_vector/float32-int",
    Returns(lambda dtype: dtype in (np.float32, np.float64)),
    float32=lambda: grads_to_vector({k: v.astype(np.float32) for k, v in G8.items()}, SPEC).dtype,
    int=lambda: grads_to_vector({k: v.astype(int) for k, v in G8.items()}, SPEC).dtype,
)
case(
    "grads_to_vector/empty",
    Raises("dW1 " + EMPTY),
    empty=lambda: grads_to_vector({**G8, "dW1": np.zeros(0)}, SPEC),
)
case(
    "grads_to_vector/spec",
    Raises("spec must be the ParamSpec"),
    none=lambda: grads_to_vector(G8, None),
)

case(
    "ParamSpec.locate/out-of-range",
    Raises(r"index (-1|8) is outside θ, which has 8 entries \(0 … 7\)", exc=IndexError),
    negative=lambda: SPEC.locate(-1),
    size=lambda: SPEC.locate(8),
    label=lambda: SPEC.label(8),
)
case(
    "ParamSpec.locate/not-integer",
    Raises("locate takes an integer index into θ"),
    float=lambda: SPEC.locate(1.5),
    whole_float=lambda: SPEC.locate(2.0),
    nan=lambda: SPEC.locate(np.nan),
    inf=lambda: SPEC.locate(np.inf),
    str=lambda: SPEC.locate("3"),
    none=lambda: SPEC.locate(None),
    array=lambda: SPEC.locate(np.array([1])),
    complex=lambda: SPEC.locate(1 + 0j),
)
case(
    "ParamSpec.locate/numpy-int",
    Returns(lambda r: r == ("W1", (1, 0))),
    int64=lambda: SPEC.locate(np.int64(3)),
    zero_d=lambda: SPEC.locate(np.array(3)),
)

# --- gradlib.gradcheck.relative_difference ----------------------------------------------

case(
    "relative_difference/nonfinite",
    Raises(r"(a|b) contains (nan|inf) at \[(0|1)\]"),
    nan=lambda: relative_difference([1.0, np.nan], [1.0, 2.0]),
    inf=lambda: relative_difference([1.0, 2.0], [np.inf, 2.0]),
    both_inf=lambda: relative_difference([np.inf], [np.inf]),
)
case(
    "relative_difference/shape",
    Raises(
        r"cannot compare arrays of shapes \(3,\) and \(3, 1\); "
        "pass two arrays of the same shape"
    ),
    column=lambda: relative_difference(np.ones(3), np.ones((3, 1))),
)
case(
    "relative_difference/not-numbers",
    Raises("a " + NOT_NUMBERS),
    str=lambda: relative_difference("a", "b"),
    none=lambda: relative_difference([None], [1.0]),
    dict=lambda: relative_difference({"a": 1}, {"a": 1}),
    function=lambda: relative_difference(np.sin, np.cos),
)
case(
    "relative_difference/ragged",
    Raises("a is a " + RAGGED),
    ragged=lambda: relative_difference([[1.0], [1.0, 2.0]], [1.0]),
)
case(
    "relative_difference/complex",
    Raises("a " + COMPLEX),
    complex=lambda: relative_difference([1j], [0.0]),
)
case(
    "relative_difference/float32-int",
    Returns(lambda r: r in (0.0, 1.0)),
    float32=lambda: relative_difference(np.ones(2, np.float32), np.ones(2)),
    int=lambda: relative_difference([3, 4], [0, 0]),
)
case(
    "relative_difference/empty",
    Returns(lambda r: r == 0.0),
    empty=lambda: relative_difference([], []),
)
case(
    "relative_difference/extreme",
    Returns(lambda r: abs(r - 1 / np.sqrt(2)) < 1e-12),
    huge=lambda: relative_difference([1e300, 1e300], [1e300, -1e300]),
    tiny=lambda: relative_difference([1e-200, 1e-200], [1e-200, -1e-200]),
)

# --- gradlib.gradcheck.check_gradients, mode="full" and mode="fast" ---------------------


def check(J, p, g, mode, **kw):
    return check_gradients(J, p, g, mode=mode, **kw)


for m in MODES:
    case(
        "check_gradients/theta-nonfinite",
        Raises(r"theta contains (nan|inf) at (theta\[1\]|b1\[0, 0\]).*" + NONFINITE),
        **{
            f"nan-{m}": lambda m=m: check(J_cube, np.array([1.0, np.nan]), DTHETA, m),
            f"inf-{m}": lambda m=m: check(
                J_net, {**params(), "b1": np.full((2, 1), np.inf)}, grads(params()), m
            ),
        },
    )
    case(
        "check_gradients/grads-nonfinite",
        Raises(r"grads contains nan at d(b1\[0, 0\]|theta\[1\])"),
        **{
            f"dict-{m}": lambda m=m: check(
                J_net, params(), {**grads(params()), "db1": np.full((2, 1), np.nan)}, m
            ),
            f"array-{m}": lambda m=m: check(J_cube, THETA, np.array([1.0, np.nan]), m),
        },
    )
    case(
        "check_gradients/grads-shape",
        Raises(
            r"(grads has shape \(1,\) but theta has shape \(2,\)|dW1 has shape \(3, 2\) but "
            r"W1 has shape \(2, 3\) \(transposed\?\))"
        ),
        **{
            f"array-{m}": lambda m=m: check(J_cube, THETA, DTHETA[:1], m),
            f"transposed-{m}": lambda m=m: check(
                J_net, params(), {**grads(params()), "dW1": grads(params())["dW1"].T}, m
            ),
        },
    )
    case(
        "check_gradients/grads-kind",
        Raises("(theta is an array but grads is a dict|grads must be a dict such as)"),
        **{
            f"dict-for-array-{m}": lambda m=m: check(J_cube, THETA, {"dtheta": DTHETA}, m),
            f"array-for-dict-{m}": lambda m=m: check(J_net, params(), np.ones(8), m),
        },
    )
    case(
        "check_gradients/not-numbers",
        Raises("(theta|grads) " + NOT_NUMBERS),
        **{
            f"theta-str-{m}": lambda m=m: check(J_cube, "ab", DTHETA, m),
            f"theta-none-{m}": lambda m=m: check(J_cube, None, DTHETA, m),
            f"grads-none-{m}": lambda m=m: check(J_cube, THETA, None, m),
        },
    )
    case(
        "check_gradients/complex",
        Raises("(theta|grads|b1) " + COMPLEX),
        **{
            f"theta-{m}": lambda m=m: check(J_cube, THETA + 1j, DTHETA, m),
            f"grads-{m}": lambda m=m: check(J_cube, THETA, DTHETA + 1j, m),
            f"params-{m}": lambda m=m: check(
                J_net, {**params(), "b1": params()["b1"] + 0j}, grads(params()), m
            ),
        },
    )
    case(
        "check_gradients/float32",
        Warns(r"(theta|W1|b1) is float32.*float64", then=lambda r: r.dtype == "float32"),
        **{
            f"theta-{m}": lambda m=m: check(J_cube, THETA.astype(np.float32), DTHETA, m),
            f"params-{m}": lambda m=m: check(
                J_net, {k: v.astype(np.float32) for k, v in params().items()}, grads(params()), m
            ),
        },
    )
    case(
        "check_gradients/int",
        Returns(lambda r: r.dtype == "float64" and r.passed),
        **{f"theta-{m}": lambda m=m: check(J_cube, np.array([1, 2]), np.array([3, 12]), m)},
    )
    case(
        "check_gradients/theta-0d",
        Returns(lambda r: r.passed and r.blocks[0].shape == ()),
        **{f"float64-{m}": lambda m=m: check(lambda t: float(t**3), np.array(2.0), 12.0, m)},
    )
    case(
        "check_gradients/theta-2d",
        Returns(lambda r: r.passed),
        **{
            f"matrix-{m}": lambda m=m: check(
                lambda t: float(t[0, 1] ** 3),
                np.ones((2, 2)),
                np.array([[0.0, 3.0], [0.0, 0.0]]),
                m,
            )
        },
    )
    case(
        "check_gradients/empty",
        Raises("(theta is empty|params must be a non-empty dict|W1 is empty)"),
        **{
            f"theta-{m}": lambda m=m: check(J_cube, np.array([]), np.array([]), m),
            f"params-{m}": lambda m=m: check(J_net, {}, {}, m),
            f"block-{m}": lambda m=m: check(J_net, {"W1": np.zeros((0, 3))}, {}, m),
        },
    )
    case(
        "check_gradients/J-not-callable",
        Raises("J must be a function returning the cost"),
        **{f"float-{m}": lambda m=m: check(3.0, THETA, DTHETA, m)},
    )
    case(
        "check_gradients/J-raises",
        Raises(
            "boom",
            exc=KeyError,
            note=r"raised by J at (the given parameters, before any step|theta with "
            r"theta\[1\] moved by|theta moved along random direction 0 of theta)",
        ),
        **{
            f"first-call-{m}": lambda m=m: check(raise_key_error, THETA, DTHETA, m),
            f"later-{m}": lambda m=m: check(raises_off_theta, THETA, DTHETA, m),
        },
    )
    case(
        "check_gradients/J-side-effects",
        Raises("J " + CHANGED),
        **{
            f"every-call-{m}": lambda m=m: check(adds_one, THETA, DTHETA, m),
            f"first-call-only-{m}": lambda m=m: check(changes_only_first_call, THETA, DTHETA, m),
            f"dict-block-{m}": lambda m=m: check(changes_dict_block, params(), grads(params()), m),
        },
    )
    case(
        "check_gradients/J-non-scalar",
        Raises(r"J must return a scalar cost, but at the given parameters .*shape \(2,\)"),
        **{f"vector-{m}": lambda m=m: check(lambda t: t**3, THETA, DTHETA, m)},
    )
    case(
        "check_gradients/J-non-finite",
        Raises(r"J returned (nan at the given parameters|inf at theta (with|moved along))"),
        **{
            f"nan-{m}": lambda m=m: check(lambda t: np.nan, THETA, DTHETA, m),
            f"inf-later-{m}": lambda m=m: check(
                lambda t: np.inf if t[1] != 2 else 1.0, THETA, DTHETA, m
            ),
        },
    )
    case(
        "check_gradients/J-not-number",
        Raises("J must return a number"),
        **{f"none-{m}": lambda m=m: check(lambda t: None, THETA, DTHETA, m)},
    )
    case(
        "check_gradients/J-complex",
        Raises("J must return a real cost"),
        **{f"complex-{m}": lambda m=m: check(lambda t: 1 + 1j, THETA, DTHETA, m)},
    )
    case(
        "check_gradients/J-float32",
        Warns("J returned a float32 value"),
        **{f"float32-{m}": lambda m=m: check(lambda t: np.float32(J_cube(t)), THETA, DTHETA, m)},
    )
    case(
        "check_gradients/eps",
        Raises(EPS),
        **{
            f"nan-{m}": lambda m=m: check(J_cube, THETA, DTHETA, m, eps=np.nan),
            f"negative-{m}": lambda m=m: check(J_cube, THETA, DTHETA, m, eps=-1e-3),
            f"complex-{m}": lambda m=m: check(J_cube, THETA, DTHETA, m, eps=1e-3 + 0j),
        },
    )
    case(
        "check_gradients/method",
        Raises("unknown method 'foo'"),
        **{f"unknown-{m}": lambda m=m: check(J_cube, THETA, DTHETA, m, method="foo")},
    )
    case(
        "check_gradients/worst",
        Raises("worst must be a positive integer"),
        **{
            f"zero-{m}": lambda m=m: check(J_cube, THETA, 2 * DTHETA, m, worst=0),
            f"str-{m}": lambda m=m: check(J_cube, THETA, 2 * DTHETA, m, worst="a"),
        },
    )
    case(
        "check_gradients/context",
        Raises("context must be a dict such as"),
        **{f"int-{m}": lambda m=m: check(J_cube, THETA, 2 * DTHETA, m, context=3)},
    )

case(
    "check_gradients/mode",
    Raises("unknown mode 'quick'; choose 'full' or 'fast'"),
    unknown=lambda: check(J_cube, THETA, DTHETA, "quick"),
)
case(
    "check_gradients/kinks-shape",
    Raises("kinks must be a mask of 2 entries"),
    full=lambda: check(J_cube, THETA, DTHETA, "full", kinks=[True]),
)
case(
    "check_gradients/fast-unsupported",
    Raises("mode='fast' .*cannot honour (kinks|method)"),
    method=lambda: check(J_cube, THETA, DTHETA, "fast", method="complex"),
    kinks=lambda: check(J_cube, THETA, DTHETA, "fast", kinks=np.zeros(2, bool)),
)
case(
    "check_gradients/fast-options",
    Raises("(directions|seed) must be"),
    directions=lambda: check(J_cube, THETA, DTHETA, "fast", directions=0),
    seed=lambda: check(J_cube, THETA, DTHETA, "fast", seed="x"),
)

# --- gradlib.nn -------------------------------------------------------------------------

case(
    "nn.init_params/layer_dims",
    Raises("layer_dims must be at least two positive ints"),
    nan=lambda: nn.init_params([3, np.nan, 1]),
    float=lambda: nn.init_params([3.0, 4, 1]),
    str=lambda: nn.init_params("341"),
    int=lambda: nn.init_params(341),
    none=lambda: nn.init_params(None),
    one=lambda: nn.init_params([3]),
    zero=lambda: nn.init_params([3, 0, 1]),
    bool=lambda: nn.init_params([True, True]),
)
case(
    "nn.init_params/scale",
    Raises("scale must be 'he', 'xavier' or a positive float"),
    nan=lambda: nn.init_params([3, 1], scale=np.nan),
    inf=lambda: nn.init_params([3, 1], scale=np.inf),
    negative=lambda: nn.init_params([3, 1], scale=-1),
    name=lambda: nn.init_params([3, 1], scale="glorot"),
    complex=lambda: nn.init_params([3, 1], scale=1j),
)
case(
    "nn.init_params/seed",
    Raises(r"seed must be an int >= 0 \(or None\)"),
    str=lambda: nn.init_params([3, 1], seed="a"),
    negative=lambda: nn.init_params([3, 1], seed=-1),
    float=lambda: nn.init_params([3, 1], seed=1.5),
)
case(
    "nn.init_params/numpy-types",
    Returns(lambda p: p["W1"].shape == (4, 3)),
    array_dims=lambda: nn.init_params(np.array([3, 4, 1])),
    float32_scale=lambda: nn.init_params([3, 4], scale=np.float32(0.1)),
)

case(
    "nn.forward/nonfinite",
    Raises(r"(X|W1) contains (nan|inf) at \[0, 0\]"),
    X_nan=lambda: nn.forward(np.full((3, 5), np.nan), NN_PARAMS),
    X_inf=lambda: nn.forward(np.full((3, 5), np.inf), NN_PARAMS),
    W_nan=lambda: nn.forward(NN_X, nn_params(W1=np.full((4, 3), np.nan))),
)
case(
    "nn.forward/X-shape",
    Raises(r"(X must be 2-D \(n_x, m\)|W1 needs one column per feature.*\(X transposed\?\))"),
    flat=lambda: nn.forward(NN_X[0], NN_PARAMS),
    transposed=lambda: nn.forward(NN_X.T, NN_PARAMS),
)
case(
    "nn.forward/param-shape",
    Raises(r"(W1 needs one column per feature|b1 must be a column of shape \(4, 1\)|missing: b2)"),
    W_transposed=lambda: nn.forward(NN_X, nn_params(W1=NN_PARAMS["W1"].T)),
    b_flat=lambda: nn.forward(NN_X, nn_params(b1=np.zeros(4))),
    missing=lambda: nn.forward(NN_X, {k: v for k, v in NN_PARAMS.items() if k != "b2"}),
)
case(
    "nn.forward/not-numbers",
    Raises(f"((X|W1) {NOT_NUMBERS}|params must be a non-empty dict)"),
    X_str=lambda: nn.forward("abc", NN_PARAMS),
    W_str=lambda: nn.forward(NN_X, nn_params(W1="abc")),
    W_object=lambda: nn.forward(NN_X, nn_params(W1=np.array([[None] * 3] * 4))),
    params_list=lambda: nn.forward(NN_X, [NN_PARAMS["W1"]]),
)
case(
    "nn.forward/complex",
    Raises("(X|W1) " + COMPLEX),
    X=lambda: nn.forward(NN_X + 0j, NN_PARAMS),
    W=lambda: nn.forward(NN_X, nn_params(W1=NN_PARAMS["W1"] + 0j)),
)
case(
    "nn.forward/float32-int",
    Returns(lambda out: out[0].dtype == np.float64),
    X_float32=lambda: nn.forward(NN_X.astype(np.float32), NN_PARAMS),
    X_int=lambda: nn.forward(np.ones((3, 5), int), NN_PARAMS),
    W_int=lambda: nn.forward(NN_X, nn_params(W1=np.ones((4, 3), int))),
)
case(
    "nn.forward/empty",
    Raises("(X|W1) " + EMPTY),
    X=lambda: nn.forward(np.zeros((3, 0)), NN_PARAMS),
    W=lambda: nn.forward(NN_X, nn_params(W1=np.zeros((0, 3)), b1=np.zeros((0, 1)))),
)
case(
    "nn.forward/options",
    Raises(
        r"(unknown (hidden activation|output) .*choose one of|keep_prob must be in \(0, 1\]"
        "|needs dropout_seed)"
    ),
    hidden=lambda: nn.forward(NN_X, NN_PARAMS, hidden="softplus"),
    hidden_function=lambda: nn.forward(NN_X, NN_PARAMS, hidden=np.tanh),
    output=lambda: nn.forward(NN_X, NN_PARAMS, output="relu"),
    keep_prob=lambda: nn.forward(NN_X, NN_PARAMS, keep_prob=np.nan),
    no_seed=lambda: nn.forward(NN_X, NN_PARAMS, keep_prob=0.5),
)

case(
    "nn.cost/nonfinite",
    Raises(r"(AL|Y) contains (nan|inf) at \[0, 0\]"),
    AL_nan=lambda: nn.cost(np.full_like(NN_AL, np.nan), NN_Y),
    AL_inf=lambda: nn.cost(np.full_like(NN_AL, np.inf), NN_Y),
    Y_nan=lambda: nn.cost(NN_AL, np.full_like(NN_Y, np.nan)),
)
case(
    "nn.cost/logits",
    Raises(r"AL must hold sigmoid probabilities in \[0, 1\].*logits Z_L"),
    above=lambda: nn.cost(NN_AL + 3, NN_Y),
    below=lambda: nn.cost(-NN_AL, NN_Y),
)
case(
    "nn.cost/AL-shape",
    Raises(r"AL must be 2-D \(n_L, m\)"),
    flat=lambda: nn.cost(NN_AL.ravel(), NN_Y.ravel()),
    scalar=lambda: nn.cost(0.5, 1.0),
)
case(
    "nn.cost/Y-shape",
    Raises(
        r"Y has shape \((5,|5, 1)\) but the network's output has shape "
        r"\(1, 5\)"
    ),
    flat=lambda: nn.cost(NN_AL, NN_Y.ravel()),
    transposed=lambda: nn.cost(NN_AL, NN_Y.T),
)
case(
    "nn.cost/softmax-Y",
    Raises("softmax cross-entropy needs one-hot Y"),
    not_one_hot=lambda: nn.cost(np.full((2, 5), 0.5), np.ones((2, 5)), output="softmax"),
)
case(
    "nn.cost/not-numbers",
    Raises(f"(AL|Y) {NOT_NUMBERS}"),
    AL=lambda: nn.cost("a", NN_Y),
    Y=lambda: nn.cost(NN_AL, "a"),
)
case("nn.cost/complex", Raises("AL " + COMPLEX), AL=lambda: nn.cost(NN_AL + 0j, NN_Y))
case(
    "nn.cost/float32-int",
    Returns(lambda J: isinstance(J, float) and 0 < J < 10),
    AL_float32=lambda: nn.cost(NN_AL.astype(np.float32), NN_Y),
    Y_int=lambda: nn.cost(NN_AL, NN_Y.astype(int)),
    Y_bool=lambda: nn.cost(NN_AL, NN_Y.astype(bool)),
)
case("nn.cost/empty", Raises("AL " + EMPTY), empty=lambda: nn.cost(np.zeros((1, 0)), NN_Y[:, :0]))
case(
    "nn.cost/lambd",
    Raises(r"lambd \(the L2 strength λ\) must be a number >= 0"),
    nan=lambda: nn.cost(NN_AL, NN_Y, NN_PARAMS, lambd=np.nan),
    negative=lambda: nn.cost(NN_AL, NN_Y, NN_PARAMS, lambd=-1),
    str=lambda: nn.cost(NN_AL, NN_Y, NN_PARAMS, lambd="0.1"),
)
case(
    "nn.cost/lambd-params",
    Raises(
        "(needs params for the L2 term|params must be a dict .* for the L2 term|W1 "
        + NOT_NUMBERS
        + ")"
    ),
    missing=lambda: nn.cost(NN_AL, NN_Y, lambd=0.1),
    list=lambda: nn.cost(NN_AL, NN_Y, [1], lambd=0.1),
    str_weight=lambda: nn.cost(NN_AL, NN_Y, {"W1": "x"}, lambd=0.1),
)

case(
    "nn.backward/nonfinite",
    Raises(r"(AL|Y) contains nan at \[0, 0\]"),
    AL=lambda: nn.backward(np.full_like(NN_AL, np.nan), NN_Y, NN_CACHES),
    Y=lambda: nn.backward(NN_AL, np.full_like(NN_Y, np.nan), NN_CACHES),
)
case(
    "nn.backward/AL-shape",
    Raises(
        r"AL has shape \((5, 1|1, 3)\) but caches come from a forward "
        r"pass whose output has shape \(1, 5\)"
    ),
    transposed=lambda: nn.backward(NN_AL.T, NN_Y, NN_CACHES),
    other_batch=lambda: nn.backward(np.full((1, 3), 0.5), np.ones((1, 3)), NN_CACHES),
)
case(
    "nn.backward/Y-shape",
    Raises(r"Y has shape \(5,\) but the network's output"),
    flat=lambda: nn.backward(NN_AL, NN_Y.ravel(), NN_CACHES),
)
case(
    "nn.backward/caches",
    Raises("caches must be the list of per-layer dicts that forward returns"),
    none=lambda: nn.backward(NN_AL, NN_Y, None),
    empty=lambda: nn.backward(NN_AL, NN_Y, []),
    tuple=lambda: nn.backward(NN_AL, NN_Y, (NN_AL, NN_CACHES)),
    dict=lambda: nn.backward(NN_AL, NN_Y, {"a": 1}),
    tuples=lambda: nn.backward(NN_AL, NN_Y, [(NN_X, NN_PARAMS["W1"], NN_PARAMS["b1"])]),
)
case(
    "nn.backward/not-numbers",
    Raises("AL " + NOT_NUMBERS),
    str=lambda: nn.backward("a", NN_Y, NN_CACHES),
)
case(
    "nn.backward/complex",
    Raises("AL " + COMPLEX),
    complex=lambda: nn.backward(NN_AL + 0j, NN_Y, NN_CACHES),
)
case(
    "nn.backward/logits",
    Raises(r"AL must hold sigmoid probabilities in \[0, 1\]"),
    logits=lambda: nn.backward(NN_AL + 3, NN_Y, NN_CACHES),
)
case(
    "nn.backward/lambd",
    Raises("lambd .* must be a number >= 0"),
    nan=lambda: nn.backward(NN_AL, NN_Y, NN_CACHES, lambd=np.nan),
    str=lambda: nn.backward(NN_AL, NN_Y, NN_CACHES, lambd="a"),
)
case(
    "nn.backward/list-int",
    Returns(lambda g: g["dW1"].shape == (4, 3)),
    AL_list=lambda: nn.backward(NN_AL.tolist(), NN_Y, NN_CACHES),
    Y_int=lambda: nn.backward(NN_AL, NN_Y.astype(int), NN_CACHES),
)

case(
    "nn.network_cost/nonfinite",
    Raises(r"(X|W2|Y) contains (nan|inf) at \[0, 0\]"),
    X=lambda: nn.network_cost(NN_PARAMS, np.full_like(NN_X, np.nan), NN_Y),
    W=lambda: nn.network_cost(nn_params(W2=np.full((1, 4), np.inf)), NN_X, NN_Y),
    Y=lambda: nn.network_cost(NN_PARAMS, NN_X, np.full_like(NN_Y, np.nan)),
)
case(
    "nn.network_cost/shapes",
    Raises(r"(\(X transposed\?\)|Y has shape \(5, 1\))"),
    X=lambda: nn.network_cost(NN_PARAMS, NN_X.T, NN_Y),
    Y=lambda: nn.network_cost(NN_PARAMS, NN_X, NN_Y.T),
)
case(
    "nn.network_cost/not-numbers",
    Raises(f"(X {NOT_NUMBERS}.*|params must be a non-empty dict)"),
    X=lambda: nn.network_cost(NN_PARAMS, "X", NN_Y),
    swapped=lambda: nn.network_cost(NN_X, NN_PARAMS, NN_Y),
    params=lambda: nn.network_cost("P", NN_X, NN_Y),
)
case(
    "nn.network_cost/complex",
    Raises("X " + COMPLEX),
    X=lambda: nn.network_cost(NN_PARAMS, NN_X + 0j, NN_Y),
)
case(
    "nn.network_cost/float32-int",
    Returns(lambda J: isinstance(J, float) and 0 < J < 10),
    X_float32=lambda: nn.network_cost(NN_PARAMS, NN_X.astype(np.float32), NN_Y),
    params_float32=lambda: nn.network_cost(
        {k: v.astype(np.float32) for k, v in NN_PARAMS.items()}, NN_X, NN_Y
    ),
    X_int=lambda: nn.network_cost(NN_PARAMS, NN_X.astype(int), NN_Y),
)
case(
    "nn.network_cost/empty",
    Raises("X " + EMPTY),
    X=lambda: nn.network_cost(NN_PARAMS, np.zeros((3, 0)), NN_Y[:, :0]),
)
case(
    "nn.network_cost/lambd",
    Raises("lambd .* must be a number >= 0"),
    str=lambda: nn.network_cost(NN_PARAMS, NN_X, NN_Y, lambd="a"),
    nan=lambda: nn.network_cost(NN_PARAMS, NN_X, NN_Y, lambd=np.nan),
)

# --- gradlib.netgrad --------------------------------------------------------------------


def nng(p=None, X=None, Y=None, **kw):
    p = NN_PARAMS if p is None else p
    return numerical_network_gradient(p, NN_X if X is None else X, NN_Y if Y is None else Y, **kw)


case(
    "netgrad.numerical_network_gradient/nonfinite",
    Raises(r"(X|W1|Y) contains nan at \[0, 0\]"),
    X=lambda: nng(X=np.full_like(NN_X, np.nan)),
    W=lambda: nng(nn_params(W1=np.full((4, 3), np.nan))),
    Y=lambda: nng(Y=np.full_like(NN_Y, np.nan)),
)
case(
    "netgrad.numerical_network_gradient/shapes",
    Raises(r"\(X transposed\?\)"),
    X=lambda: nng(X=NN_X.T),
)
case(
    "netgrad.numerical_network_gradient/not-numbers",
    Raises("W1 " + NOT_NUMBERS),
    W=lambda: nng(nn_params(W1="abc")),
)
case(
    "netgrad.numerical_network_gradient/complex",
    Raises("(X|W1) " + COMPLEX),
    X=lambda: nng(X=NN_X + 0j),
    W=lambda: nng(nn_params(W1=NN_PARAMS["W1"] + 0j)),
)
case(
    "netgrad.numerical_network_gradient/float32",
    Warns("params is float32"),
    params=lambda: nng({k: v.astype(np.float32) for k, v in NN_PARAMS.items()}),
)
case(
    "netgrad.numerical_network_gradient/int",
    Returns(lambda r: r[0]["dW1"].dtype == np.float64),
    X=lambda: nng(X=NN_X.astype(int)),
    params=lambda: nng({k: np.ones(v.shape, int) for k, v in NN_PARAMS.items()}),
)
case(
    "netgrad.numerical_network_gradient/empty",
    Raises("X " + EMPTY),
    X=lambda: nng(X=np.zeros((3, 0)), Y=NN_Y[:, :0]),
)
case(
    "netgrad.numerical_network_gradient/options",
    Raises(f"({EPS}|lambd .* must be a number >= 0|unknown hidden activation)"),
    eps=lambda: nng(eps=np.nan),
    lambd=lambda: nng(lambd="a"),
    hidden_function=lambda: nng(hidden=np.tanh),
)

case(
    "netgrad.check_network/grads",
    Raises(
        r"(grads contains nan at db2\[0, 0\]|\(transposed\?\)|grads is missing db2"
        f"|grads must be a dict|dW1 {NOT_NUMBERS}|dW1 {COMPLEX})"
    ),
    nan=lambda: check_network(NN_PARAMS, NN_X, NN_Y, {**NN_GRADS, "db2": np.full((1, 1), np.nan)}),
    transposed=lambda: check_network(NN_PARAMS, NN_X, NN_Y, {**NN_GRADS, "dW1": NN_GRADS["dW1"].T}),
    missing=lambda: check_network(
        NN_PARAMS, NN_X, NN_Y, {k: v for k, v in NN_GRADS.items() if k != "db2"}
    ),
    none=lambda: check_network(NN_PARAMS, NN_X, NN_Y, None),
    str=lambda: check_network(NN_PARAMS, NN_X, NN_Y, {**NN_GRADS, "dW1": "x"}),
    complex=lambda: check_network(NN_PARAMS, NN_X, NN_Y, {**NN_GRADS, "dW1": NN_GRADS["dW1"] + 0j}),
)
case(
    "netgrad.check_network/float32",
    Warns("params is float32", then=lambda r: r.passed),
    params=lambda: check_network(
        {k: v.astype(np.float32) for k, v in NN_PARAMS.items()}, NN_X, NN_Y, NN_GRADS, hidden="relu"
    ),
)
case(
    "netgrad.check_network/grads-float32-int",
    Returns(lambda r: r.verdict in ("correct", "wrong")),
    float32=lambda: check_network(
        NN_PARAMS, NN_X, NN_Y, {k: v.astype(np.float32) for k, v in NN_GRADS.items()}
    ),
    int_zeros=lambda: check_network(
        NN_PARAMS, NN_X, NN_Y, {k: np.zeros(v.shape, int) for k, v in NN_GRADS.items()}
    ),
)
case(
    "netgrad.check_network/worst",
    Raises("worst must be a positive integer"),
    zero=lambda: check_network(NN_PARAMS, NN_X, NN_Y, NN_GRADS, worst=0),
    str=lambda: check_network(NN_PARAMS, NN_X, NN_Y, NN_GRADS, worst="a"),
)

# --- gradlib.plots ----------------------------------------------------------------------

case(
    "plots.plot_eps_sweep/x",
    Raises(
        r"(x contains (nan|inf) at the scalar|derivative\(\) takes "
        f"a scalar x|x {NOT_NUMBERS}|x {COMPLEX})"
    ),
    nan=lambda: plot_eps_sweep(x=np.nan),
    inf=lambda: plot_eps_sweep(x=np.inf),
    array=lambda: plot_eps_sweep(np.sin, np.array([0.5, 0.6]), true_derivative=0.8),
    str=lambda: plot_eps_sweep(x="0.5"),
    complex=lambda: plot_eps_sweep(np.sin, 0.5 + 1j, true_derivative=0.8),
)
case(
    "plots.plot_eps_sweep/x-float32",
    Raises(r"eps=1e-15 is too small to move .* in float32", warns=PrecisionWarning),
    float32=lambda: plot_eps_sweep(np.sin, np.float32(0.5), true_derivative=np.cos(0.5)),
)
case(
    "plots.plot_eps_sweep/x-int",
    Returns(lambda fig: isinstance(fig, Figure)),
    int=lambda: plot_eps_sweep(np.sin, 1, true_derivative=np.cos(1), methods=("central",)),
)
case(
    "plots.plot_eps_sweep/true_derivative",
    Raises(
        r"(needs true_derivative with your own f|true_derivative must be a finite real "
        r"number|true_derivative is 0)"
    ),
    missing=lambda: plot_eps_sweep(np.sin, 0.5),
    nan=lambda: plot_eps_sweep(np.sin, 0.5, true_derivative=np.nan),
    inf=lambda: plot_eps_sweep(np.sin, 0.5, true_derivative=np.inf),
    str=lambda: plot_eps_sweep(np.sin, 0.5, true_derivative="0.8"),
    array=lambda: plot_eps_sweep(np.sin, 0.5, true_derivative=np.array([0.8, 0.9])),
    complex=lambda: plot_eps_sweep(np.sin, 0.5, true_derivative=0.8 + 1j),
    zero=lambda: plot_eps_sweep(np.sin, np.pi / 2, true_derivative=0.0),
)
case(
    "plots.plot_eps_sweep/f-not-callable",
    Raises("f must be a function"),
    float=lambda: plot_eps_sweep(3.0, 0.5, true_derivative=1.0),
)
case(
    "plots.plot_eps_sweep/f-raises",
    Raises("boom", exc=KeyError, note=r"raised by J at theta"),
    raises=lambda: plot_eps_sweep(raise_key_error, 0.5, true_derivative=1.0),
)
case(
    "plots.plot_eps_sweep/f-bad-value",
    Raises("(J returned nan|J must return a scalar cost|J is not complex-safe)"),
    nan=lambda: plot_eps_sweep(lambda t: np.nan, 0.5, true_derivative=1.0),
    vector=lambda: plot_eps_sweep(lambda t: np.array([t, t]), 0.5, true_derivative=1.0),
    not_complex_safe=lambda: plot_eps_sweep(abs, 0.5, true_derivative=1.0),
)
case(
    "plots.plot_eps_sweep/eps_values",
    Raises("eps_values must be at least two positive finite"),
    nan=lambda: plot_eps_sweep(eps_values=[1e-3, np.nan]),
    str=lambda: plot_eps_sweep(eps_values=["a", "b"]),
    complex=lambda: plot_eps_sweep(eps_values=[1e-3 + 0j, 1e-4]),
    empty=lambda: plot_eps_sweep(eps_values=[]),
    matrix=lambda: plot_eps_sweep(eps_values=[[1e-3, 1e-4]]),
)
case(
    "plots.plot_eps_sweep/methods",
    Raises("methods must be a tuple of some of forward"),
    str=lambda: plot_eps_sweep(methods="central"),
    none=lambda: plot_eps_sweep(methods=None),
    empty=lambda: plot_eps_sweep(methods=()),
    unknown=lambda: plot_eps_sweep(methods=("foo",)),
)
case(
    "plots.plot_eps_sweep/ax",
    Raises("ax must be a matplotlib Axes"),
    str=lambda: plot_eps_sweep(ax="ax"),
)

REPORT = check_gradients(J_cube, THETA, DTHETA)
case(
    "plots.plot_report/report",
    Raises("plot_report takes the GradCheckReport"),
    none=lambda: plot_report(None),
    dict=lambda: plot_report({"verdict": "correct"}),
    summary_text=lambda: plot_report(REPORT.summary()),
)
case(
    "plots.plot_report/ax",
    Raises("ax must be a matplotlib Axes"),
    int=lambda: plot_report(REPORT, ax=3),
)
case(
    "plots.plot_report/fast-report",
    Returns(lambda fig: isinstance(fig, Figure)),
    fast=lambda: plot_report(check_gradients(J_cube, THETA, DTHETA, mode="fast", seed=0)),
)


# --- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "expect"), CASES)
def test_bad_input_gets_what_the_table_says(call, expect):
    expect.check(call)


def test_every_row_of_the_table_has_a_test_and_every_test_a_row():
    documented = re.findall(r"^\|.*\|\s*`([^`]+)`\s*\|\s*$", DOC.read_text(), flags=re.M)
    tested = {p.id.split(":")[0] for p in CASES}
    assert len(documented) == len(set(documented)), "a row id appears twice in the table"
    assert set(documented) == tested, {
        "rows without a test": sorted(set(documented) - tested),
        "tests without a row": sorted(tested - set(documented)),
    }
