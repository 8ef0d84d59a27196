"""The verdict scale: the relative difference, and the thresholds that judge it.

The lecture's scale for the relative difference ‖dθapprox − dθ‖₂ / (‖dθapprox‖₂ + ‖dθ‖₂):
≤ 1e-7 great, ~1e-5 look closer, ≥ 1e-3 almost certainly a bug. Those numbers assume
float64 and a well-chosen ε, so the thresholds here scale with the error the numeric
gradient itself is expected to have (see ``thresholds``), and a difference below the
rounding noise of J (≈ NOISE_FACTOR · u·|J|/ε per entry) is never called wrong: with
ε = 1e-7 rounding alone reaches ~2e-7 on perfectly correct gradients.

Everything that judges a difference (gradcheck, fastcheck, kinks, diagnose, the report)
takes the scale from here, so their verdicts agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradlib.errors import GradCheckError, as_float_array, require_finite
from gradlib.numdiff import default_eps

VERDICTS = ("correct", "suspicious", "wrong")  # the lecture's scale for a relative difference
# A block whose every entry crossed a kink was not checked at all: never "correct".
UNCHECKED = "unchecked"

# How many times the estimated rounding error of one entry a difference must exceed
# before it can count as a bug (J is a sum of many terms, each rounded).
NOISE_FACTOR = 100.0
# "wrong" never starts above this: a gradient off by a factor 2 (or ½) has a relative
# difference of 1/3, and that is a bug in any precision. In float32 the numeric gradient's
# own error sets the scale near 5e-4, and an undetected ReLU kink crossing can reach ~0.15,
# so the cap sits between the two.
WRONG_CAP = 0.25


@dataclass(frozen=True)
class Thresholds:
    """Relative differences at or below ``correct`` pass; at or above ``wrong`` fail."""

    correct: float
    wrong: float

    def verdict(self, relative_difference: float) -> str:
        if relative_difference <= self.correct:
            return "correct"
        if relative_difference >= self.wrong:
            return "wrong"
        return "suspicious"


def relative_difference(a, b) -> float:
    """‖a − b‖₂ / (‖a‖₂ + ‖b‖₂); 0 when both are zero.

    Parameters
    ----------
    a, b : arrays of the same shape

    Returns
    -------
    float in [0, 1]
    """
    a = as_float_array(a, "a", allow_empty=True).astype(np.float64, copy=False)
    b = as_float_array(b, "b", allow_empty=True).astype(np.float64, copy=False)
    if a.shape != b.shape:
        raise GradCheckError(
            f"cannot compare arrays of shapes {a.shape} and {b.shape}; pass two arrays of the "
            "same shape (reshape one, e.g. b.reshape(a.shape), if they hold the same entries)."
        )
    require_finite(a, "a")
    require_finite(b, "b")
    scale = max(_largest(a), _largest(b))
    if scale > 1e150 or 0 < scale < 1e-150:  # squares would overflow or underflow
        a, b = a / scale, b / scale
    denominator = _norm(a) + _norm(b)
    if denominator == 0:
        return 0.0
    return _norm(a - b) / denominator


def _largest(a: np.ndarray) -> float:
    """max |a_i| (0 for an empty array)."""
    return float(np.maximum.reduce(np.abs(a), axis=None, initial=0.0))


def _norm(a: np.ndarray) -> float:
    """‖a‖₂ of a real array, as np.linalg.norm computes it (√(a·a)), without its dispatch
    (relative_difference of two 17-entry vectors: 17.5 µs with np.linalg.norm, 7.5 µs so)."""
    flat = a.ravel(order="K")
    return math.sqrt(flat.dot(flat))


def thresholds(dtype=np.float64, eps: float | None = None, method: str = "central") -> Thresholds:
    """Verdict thresholds for a numeric gradient computed in ``dtype`` with step ``eps``.

    The expected relative error of the numeric gradient (rounding u/ε plus truncation
    ε, ε² or ε⁴ by method) sets the scale; in float64 with the default ε this gives the
    lecture's 1e-7 and 1e-3; "wrong" never starts above WRONG_CAP, so that a gradient off
    by a factor 2 is wrong in float32 too.
    """
    u = float(np.finfo(dtype).eps)
    h = default_eps(method, dtype) if eps is None else float(eps)
    truncation = {
        "forward": h,
        "backward": h,
        "central": h**2,
        "richardson": h**4,
        "complex": h**2,
    }[method]
    expected = (u if method == "complex" else u / h) + truncation
    correct = max(1e-7, 10 * expected)
    wrong = min(max(1e-3, 1e4 * expected), WRONG_CAP)
    return Thresholds(correct=correct, wrong=max(wrong, correct))


__all__ = [
    "NOISE_FACTOR",
    "UNCHECKED",
    "VERDICTS",
    "WRONG_CAP",
    "Thresholds",
    "relative_difference",
    "thresholds",
]
