"""Numerical derivatives: finite differences, complex step and Richardson extrapolation.

Choosing the step ε is a trade-off between two errors:

* truncation: the Taylor remainder. A one-sided difference (f(x+ε) - f(x)) / ε is off by
  ε·f''/2, i.e. O(ε); the two-sided (f(x+ε) - f(x-ε)) / 2ε by ε²·f'''/6, i.e. O(ε²).
* rounding: each value of f carries a relative error of about u (machine epsilon, 2.2e-16
  in float64); dividing the difference of two such values by ε gives an error of ~u·|f|/ε.

Balancing the two gives the default steps (for |x| ≈ 1, scaled by max(1, |x|) otherwise):
one-sided ε ≈ √u (1.5e-8 in float64), two-sided ε ≈ ∛u (6.1e-6), Richardson (error O(ε⁴))
ε ≈ u^(1/5) (7.4e-4). The complex step Im f(x+iε)/ε subtracts nothing, so there is no
rounding floor and ε can be tiny (u², 4.9e-32): the result is exact to machine precision
for any f that is analytic and written with complex-safe operations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import numpy as np

from gradlib.errors import (
    GradCheckError,
    as_float_array,
    first_call,
    require_callable,
    require_finite,
    scalar_value,
    warn_if_low_precision,
)

METHODS = ("forward", "backward", "central", "complex", "richardson")

# Evaluations of J per coordinate, beyond the one shared evaluation at theta that
# "forward" and "backward" need.
EVALUATIONS_PER_COORDINATE = {
    "forward": 1,
    "backward": 1,
    "central": 2,
    "complex": 1,
    "richardson": 4,
}


def default_eps(method: str = "central", dtype=np.float64) -> float:
    """Step that balances truncation and rounding error for ``method`` at |x| ≈ 1.

    Parameters
    ----------
    method : one of METHODS
    dtype : floating dtype the function is evaluated in

    Returns
    -------
    float : the base step; the step used at x is this times max(1, |x|).
    """
    check_method(method)
    u = float(np.finfo(np.real(np.zeros((), dtype)).dtype).eps)
    return {
        "forward": u ** (1 / 2),
        "backward": u ** (1 / 2),
        "central": u ** (1 / 3),
        "richardson": u ** (1 / 5),
        "complex": u**2,
    }[method]


def derivative(
    f: Callable[[float], float], x: float, eps: float | None = None, method: str = "central"
) -> float:
    """Numerical derivative f'(x) of a scalar function f: R -> R.

    Parameters
    ----------
    f : callable taking a float (a complex for method="complex") and returning a float
    x : point, a real scalar
    eps : step; None picks default_eps(method) · max(1, |x|)
    method : "forward", "backward", "central", "complex" or "richardson"

    Returns
    -------
    float : the estimate of f'(x)

    Examples
    --------
    >>> round(derivative(lambda t: t**3, 1.0, eps=0.01, method="central"), 10)
    3.0001
    """
    require_callable(f, "f")
    x_arr = scalar_point(x)
    warn_if_low_precision(x_arr, "x")
    g = gradient_in_place(
        lambda buf: f(buf.reshape(()).item()), x_arr.reshape(1).copy(), eps, method
    )
    return float(g[0])


def scalar_point(x) -> np.ndarray:
    """x as a finite real float array of shape () or (1,), or GradCheckError saying why not."""
    x_arr = as_float_array(x, "x")
    if x_arr.shape not in ((), (1,)):
        raise GradCheckError(
            f"derivative() takes a scalar x, got shape {x_arr.shape}; "
            "use numerical_gradient(J, theta) for arrays."
        )
    require_finite(x_arr, "x")
    return x_arr


def numerical_gradient(
    J: Callable[[np.ndarray], float],
    theta,
    eps: float | None = None,
    method: str = "central",
) -> np.ndarray:
    """Gradient of a scalar cost J at theta, one coordinate at a time.

    One working copy of theta is perturbed in place, entry by entry, and restored, so
    memory stays O(n); "central" costs 2n evaluations of J.

    Parameters
    ----------
    J : callable mapping an array of theta's shape to a scalar
    theta : array of any shape (integers are converted to float64)
    eps : base step; None picks default_eps(method, dtype); entry i uses eps · max(1, |θ_i|)
    method : "forward", "backward", "central", "complex" or "richardson"

    Returns
    -------
    ndarray of theta's shape : dJ/dθ
    """
    require_callable(J)
    theta = as_float_array(theta, "theta")
    require_finite(theta, "theta")
    warn_if_low_precision(theta, "theta")
    buffer = theta.copy()
    return gradient_in_place(J, buffer, eps, method)


def numerical_vjp(f: Callable[[np.ndarray], np.ndarray], x, df, eps: float | None = None):
    """Numeric vector-Jacobian product: the gradient of sum(f(x) * df) with respect to x.

    This is what a layer-wise check needs: for a layer out = f(x) and an upstream
    gradient dout, the correct dx equals numerical_vjp(f, x, dout).

    Parameters
    ----------
    f : callable mapping an array of x's shape to an array of df's shape
    x : array of any shape
    df : array, the upstream gradient, same shape as f(x)
    eps : base step of the central difference (None: default)

    Returns
    -------
    ndarray of x's shape
    """
    require_callable(f, "f")
    x = as_float_array(x, "x")
    require_finite(x, "x")
    warn_if_low_precision(x, "x")
    df = as_float_array(df, "df")
    require_finite(df, "df")
    buffer = x.copy()  # f never sees (or changes) the caller's array
    out = as_float_array(first_call(f, buffer, x, "f", "x"), "f(x)")
    require_finite(out, "f(x)")
    warn_if_low_precision(out, "f(x)")
    if out.shape != df.shape:
        raise GradCheckError(
            f"df has shape {df.shape} but f(x) has shape {out.shape}; the upstream gradient "
            "must have the shape of the function's output."
        )
    return gradient_in_place(
        lambda z: np.sum(f(z) * df), buffer, eps, "central", label=lambda i: f"x.flat[{i}]"
    )


def error_sweep(
    f: Callable[[float], float],
    x: float,
    true_derivative: float,
    eps_values=None,
    methods=("forward", "central", "complex"),
) -> dict[str, np.ndarray]:
    """Relative error of each method's derivative over a range of steps (the V-curve).

    Returns
    -------
    dict : "eps" -> steps, shape (k,); each method -> relative errors, shape (k,)
    """
    eps_values = np.logspace(-15, -1, 29) if eps_values is None else np.asarray(eps_values)
    scale = max(abs(true_derivative), np.finfo(float).tiny)
    table = {"eps": eps_values}
    for method in methods:
        table[method] = np.array(
            [
                abs(derivative(f, x, eps=e, method=method) - true_derivative) / scale
                for e in eps_values
            ]
        )
    return table


# The building blocks below are shared with gradcheck, fastcheck and netgrad, so that every
# numeric gradient in gradlib takes the same steps and says the same things about bad input.


def check_method(method: str) -> None:
    """Raise GradCheckError, naming the choices, unless ``method`` is one of METHODS."""
    if method not in METHODS:
        raise GradCheckError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}.")


def step_sizes(buffer: np.ndarray, eps: float | None, method: str) -> np.ndarray:
    """Per-entry steps eps · max(1, |θ_i|), flat, shape (n,), for θ = ``buffer`` (any shape).

    ``eps`` None picks default_eps(method, dtype); otherwise it must be a positive finite
    number (GradCheckError if not).
    """
    if eps is None:
        eps = default_eps(method, buffer.dtype)
    elif not (isinstance(eps, Real) and np.isfinite(eps) and eps > 0):
        raise GradCheckError(f"eps must be a positive finite number, got {eps!r}.")
    return float(eps) * np.maximum(1.0, np.abs(np.real(buffer.ravel())))


def gradient_in_place(
    J: Callable[[np.ndarray], float],
    buffer: np.ndarray,
    eps: float | None,
    method: str,
    label: Callable[[int], str] | None = None,
) -> np.ndarray:
    """Numeric gradient of J at ``buffer``, perturbing ``buffer`` in place and restoring it.

    ``J`` is called with ``buffer`` itself (callers may close over views of it), so no
    copy is made per entry; entry i moves by step_sizes(buffer, eps, method)[i]. ``label``
    names a flat index in error messages.

    Returns
    -------
    ndarray of buffer's shape (real dtype) : dJ/dθ
    """
    check_method(method)
    name = label or (lambda i: f"theta.flat[{i}]")
    original = buffer.copy()
    steps = step_sizes(buffer, eps, method)
    if method == "complex":
        if np.iscomplexobj(buffer):
            raise GradCheckError("method='complex' needs a real theta.")
        buffer = buffer.astype(np.result_type(buffer.dtype, np.complex64))
    flat = buffer.reshape(-1)  # a view: writing flat[i] perturbs what J sees
    grad = np.empty(flat.shape, dtype=np.real(original).dtype)

    def value(where: Callable[[], str]):
        # ``where`` says where θ was; it is formatted only when something needs explaining.
        try:
            out = J(buffer)
        except Exception as exc:
            exc.add_note(f"(raised by J {where()})")
            raise
        if method != "complex" and type(out) in (float, np.float64) and math.isfinite(out):
            return out  # the common case, with nothing to check
        return _checked(out, where(), method)

    j0 = value(lambda: "at theta") if method in ("forward", "backward") else None
    for i in range(flat.size):
        x = original.flat[i]
        h = steps[i]
        if method != "complex" and (x + h == x or x - h == x):
            raise GradCheckError(
                f"eps={h:.3g} is too small to move {name(i)}={x:.6g} in {original.dtype}: the "
                "perturbed value rounds back to the same number. Use a larger eps."
            )

        def at(step, i=i, x=x):
            flat[i] = x + step
            return value(lambda: f"at theta with {name(i)} moved by {step:+.3g}")

        if method == "complex":
            grad[i] = np.imag(at(1j * h)) / h
        elif method == "forward":
            hp = (x + h) - x  # the step actually taken, after rounding
            grad[i] = (at(hp) - j0) / hp
        elif method == "backward":
            hm = x - (x - h)
            grad[i] = (j0 - at(-hm)) / hm
        elif method == "central":
            grad[i] = _central(at, x, h)
        else:  # richardson: cancel the ε² term of two central differences
            grad[i] = (4 * _central(at, x, h / 2) - _central(at, x, h)) / 3
        flat[i] = x
    if not np.array_equal(buffer, original):
        raise GradCheckError(
            "J changed its input in place (theta differs from what was passed after "
            "the check); J must not modify theta: work on a copy inside J."
        )
    return grad.reshape(original.shape)


def _central(at: Callable[[float], float], x: float, h: float) -> float:
    hp = (x + h) - x
    hm = x - (x - h)
    return (at(hp) - at(-hm)) / (hp + hm)


def _checked(out, where: str, method: str):
    if method == "complex":
        if not np.iscomplexobj(np.asarray(out)):
            raise GradCheckError(
                "J returned a real value for a complex input, so the complex step sees no "
                "derivative; J is not complex-safe (abs, max, comparisons or .real drop the "
                "imaginary part). Use method='central'."
            )
        scalar_value(np.real(out), where)
        return complex(np.asarray(out).reshape(()).item())
    return scalar_value(out, where)
