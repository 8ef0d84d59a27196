"""Errors and warnings of gradlib, and the input checks that raise them."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np


class GradCheckError(ValueError):
    """Bad input to a gradlib function: the message says what was wrong and what to do."""


class PrecisionWarning(UserWarning):
    """A float32 (or smaller) input: finite differences lose most of their digits."""


FLOAT32_ADVICE = (
    "{what} is {dtype}: finite differences subtract two nearly equal values of J, and in "
    "{dtype} only ~{digits} significant digits survive, so even a correct gradient can "
    "differ from the numeric one by ~1e-3. Grad check in float64: pass arrays converted "
    "with .astype(np.float64)."
)


LOW_PRECISION_COST = (
    "J returned a {dtype} value: it computes in {dtype} (float32 data or parameters?), and a "
    "finite difference of such values keeps only a few significant digits, so even a correct "
    "gradient can look wrong. Compute J in float64: convert its arrays with .astype(np.float64)."
)


def as_float_array(x, what: str = "theta", *, allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a real floating ndarray; integers become float64 exactly.

    Parameters
    ----------
    x : array_like of any shape
    what : name used in error messages
    allow_empty : accept an array with no entries

    Returns
    -------
    ndarray of x's shape, dtype float64 for integer/bool input, else x's own float dtype.
    """
    if type(x) is np.ndarray and x.dtype.kind == "f" and (x.size or allow_empty):
        return x  # the common case, a real float array: nothing to convert or refuse
    try:
        arr = np.asarray(x)
    except ValueError as exc:  # nested lists of unequal lengths
        raise GradCheckError(
            f"{what} is a ragged nested list (rows of different lengths), not an array; "
            "make every row the same length."
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise GradCheckError(
            f"{what} must be an array of numbers, got dtype {arr.dtype} "
            f"({type(x).__name__}); pass a numpy array of floats."
        )
    if np.iscomplexobj(arr):
        raise GradCheckError(
            f"{what} is complex ({arr.dtype}), but gradlib works with real numbers; pass "
            f"{what}.real if the imaginary part is 0 (the complex step takes a real theta: "
            "method='complex')."
        )
    if arr.size == 0 and not allow_empty:
        raise GradCheckError(f"{what} is empty (shape {arr.shape}); there is nothing to check.")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        as_float = arr.astype(np.float64)
        if not np.array_equal(as_float.astype(arr.dtype), arr):
            raise GradCheckError(
                f"{what} holds integers too large for float64 to represent exactly; "
                "rescale them or pass floats."
            )
        return as_float
    return arr


def warn_if_low_precision(arr: np.ndarray, what: str) -> None:
    """Warn (PrecisionWarning) when ``arr`` (any shape, 0-d too) is a float smaller than float64."""
    if np.issubdtype(arr.dtype, np.inexact) and np.finfo(arr.dtype).bits < 64:
        real = np.finfo(arr.dtype).dtype  # float32 for float32 and complex64
        digits = int(-np.log10(np.finfo(real).eps))
        warnings.warn(
            FLOAT32_ADVICE.format(what=what, dtype=real, digits=digits),
            PrecisionWarning,
            stacklevel=3,
        )


def require_finite(arr: np.ndarray, what: str, label: Callable[[int], str] | None = None) -> None:
    """Raise GradCheckError naming the first NaN/inf entry of ``arr``.

    ``label(i)`` turns a flat index into a name such as ``"W2[3, 1]"``.
    """
    finite = np.isfinite(arr)
    if not finite.all():
        bad = ~finite
        i = int(np.flatnonzero(bad.ravel())[0])
        where = label(i) if label else _plain_label(arr.shape, i)
        value = arr.ravel()[i]
        raise GradCheckError(
            f"{what} contains {value} at {where} ({int(bad.sum())} non-finite entries in all); "
            "a grad check needs finite numbers: look for a log(0), a division by zero or an "
            "overflow upstream."
        )


def require_callable(J, what: str = "J") -> None:
    """Raise GradCheckError unless ``J`` can be called."""
    if not callable(J):
        raise GradCheckError(
            f"{what} must be a function returning the cost, got {type(J).__name__}; "
            "pass e.g. lambda theta: cost(theta)."
        )


def scalar_value(value, where: str) -> float | complex:
    """Return J's value as a Python scalar, or raise saying why it is not a finite scalar."""
    arr = np.asarray(value)
    if arr.size != 1:
        raise GradCheckError(
            f"J must return a scalar cost, but {where} it returned an array of shape "
            f"{arr.shape}; sum or average it (e.g. np.mean(losses))."
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise GradCheckError(f"J must return a number, but {where} it returned {value!r}.")
    if np.iscomplexobj(arr):
        raise GradCheckError(
            f"J must return a real cost, but {where} it returned the complex number "
            f"{arr.reshape(()).item()}; look for a complex value entering J (e.g. np.sqrt or "
            "np.log of a complex array), or return the real part if the imaginary part is 0."
        )
    if np.issubdtype(arr.dtype, np.floating) and np.finfo(arr.dtype).bits < 64:
        warnings.warn(LOW_PRECISION_COST.format(dtype=arr.dtype), PrecisionWarning, stacklevel=3)
    scalar = arr.reshape(()).item()
    if not np.isfinite(scalar):
        raise GradCheckError(
            f"J returned {scalar} {where}; a grad check needs a finite cost: look for "
            "log(0) (clip probabilities) or an overflow in exp."
        )
    return scalar


def require_count(value, name: str, meaning: str) -> None:
    """Raise GradCheckError unless ``value`` is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise GradCheckError(
            f"{name} must be a positive integer ({meaning}), got {value!r}; e.g. {name}=4."
        )


def _plain_label(shape: tuple[int, ...], i: int) -> str:
    if not shape:
        return "the scalar"
    return "[" + ", ".join(str(int(k)) for k in np.unravel_index(i, shape)) + "]"


def first_call(
    fn: Callable, buffer: np.ndarray, original: np.ndarray, who: str, what: str, at: str = ""
):
    """``fn(buffer)`` once, before any step: a note (saying ``at``) on its exceptions, and
    an error if it changed its input in place (``buffer`` must still equal ``original``)."""
    try:
        out = fn(buffer)
    except Exception as exc:
        exc.add_note(f"(raised by {who} at {at or what}, before any step)")
        raise
    if not np.array_equal(buffer, original):
        raise GradCheckError(
            f"{who} changed its input in place ({what} differs from what was passed after "
            f"the first call); {who} must not modify {what}: work on a copy inside {who}."
        )
    return out
