"""Black-box kink detection: is a failing entry a bug, or did its step cross a kink of J?

A central difference with step h spans [θᵢ − h, θᵢ + h]. When a ReLU, max or |·| inside J
switches in there, the difference mixes the slopes of both sides and disagrees with a
correct analytic derivative. For each suspect entry (the largest differences of each
failing block) J is evaluated at θᵢ ± s, with s = h / SHRINK (2 evaluations), giving

* the one-sided slopes L = (J(θ) − J(θ − s)) / s and R = (J(θ + s) − J(θ)) / s, and
* their mean, the central difference at step s, to compare with the one at step h.

For a smooth J all of them agree up to O(s·J'') and O(h²·J'''). The entry is a kink
crossing, not a bug, when

1. the central difference moves with the step by at least half the gap |analytic −
   numeric| (a kink within h of θᵢ; for a smooth J it moves by O(h²), for a bug not at
   all), and
2. the analytic value lies in [min(L, R), max(L, R)] up to noise: it is the slope on
   θᵢ's own side of the kink (or between, when the kink is within s).

A wrong value next to a kink fails (2) and stays in the verdict. An entry sitting exactly
on a kink (|t| at t = 0) has no derivative: its central difference does not move with the
step, so (1) keeps it in the verdict; pass ``kinks=`` to check_gradients to leave it out
knowingly. Kinks closer than about s/2 to θᵢ are likewise not recognised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradlib.errors import scalar_value
from gradlib.report import Finding, GradCheckReport
from gradlib.verdicts import NOISE_FACTOR, UNCHECKED

PER_BLOCK = 16  # suspects examined per failing block
SHRINK = 100.0  # the small step is h / SHRINK
RTOL = 1e-6  # relative tolerance of the one-sided slopes (their truncation error)


def kink_findings(report: GradCheckReport) -> list[Finding]:
    """One ``kink`` finding per block whose perturbations crossed a kink: not a bug where the
    rest of the block was checked; where nothing was, the block is unchecked, not cleared."""
    by_block: dict[str, list[str]] = {}
    for label in report.kinks:
        by_block.setdefault(label.split("[")[0], []).append(label)
    findings = []
    for name, labels in by_block.items():
        crossed = (f"{len(labels)} entr{'y' if len(labels) == 1 else 'ies'} ({listing(labels)}) "
                   "moved a ReLU/max input across its kink, where the numeric derivative is "
                   "meaningless; ")  # fmt: skip
        if report.block(name).verdict == UNCHECKED:
            rest = (f"that is every entry of d{name}, so it was not checked at all: check it "
                    "again at a point away from the kink (other data or parameters).")  # fmt: skip
        else:
            which = "it was" if len(labels) == 1 else "they were"
            rest = f"{which} left out of the verdict. Not a bug."
        findings.append(Finding(name, "kink", crossed + rest))
    return findings


def kink_mask(report: GradCheckReport) -> np.ndarray:
    """Boolean mask over θ, shape (n,), of the entries named in ``report.kinks``."""
    mask = np.zeros(report.spec.size, bool)
    for label in report.kinks:
        name, _, rest = label.partition("[")
        index = tuple(int(t) for t in rest.rstrip("]").split(",") if t.strip())
        shape = report.spec.shapes[report.spec.names.index(name)]
        mask[report.spec.block(name).start + int(np.ravel_multi_index(index, shape))] = True
    return mask


def listing(labels: list[str]) -> str:
    """Up to three labels, then "…": "W1[2, 0], W1[2, 1], b1[2, 0], …"."""
    return ", ".join(labels[:3]) + (", …" if len(labels) > 3 else "")


def suspects(report: GradCheckReport, per_block: int = PER_BLOCK) -> np.ndarray:
    """Flat θ indices of the largest differences in each failing block, ``per_block`` each.

    Entries already marked as kinks, without a numeric value (NaN), or whose difference is
    below 1e-3 of the block's largest are skipped.

    Returns
    -------
    ndarray of int, shape (k,), k ≤ per_block × (number of failing blocks)
    """
    known = kink_mask(report)
    found = []
    for b in report.failing():
        part = report.spec.block(b.name)
        diff = np.abs(b.analytic - b.numeric).ravel()
        diff = np.where(np.isfinite(diff) & ~known[part], diff, 0.0)
        order = np.argsort(-diff, kind="stable")[:per_block]
        # entries below 1e-3 of the largest difference cannot change the verdict
        found.extend(part.start + int(i) for i in order if diff[i] > 1e-3 * diff.max())
    return np.array(found, dtype=int)


def crossed_kinks(
    J: Callable[[np.ndarray], float],
    theta: np.ndarray,
    analytic: np.ndarray,
    numeric: np.ndarray,
    candidates,
    *,
    j0: float,
    eps: float,
    label: Callable[[int], str] = "theta.flat[{}]".format,
) -> np.ndarray:
    """Which candidate entries disagree only because their step crossed a kink of J.

    Parameters
    ----------
    J : cost taking an array of θ's shape, shape (n,)
    theta, analytic, numeric : θ, the analytic and the numeric gradient, shape (n,)
    candidates : flat indices to examine, shape (k,)
    j0 : J(θ)
    eps : base step h of the numeric gradient; entry i used h · max(1, |θᵢ|)
    label : names a flat index in error messages, e.g. spec.label

    Returns
    -------
    ndarray of bool, shape (n,): True where the mismatch is a kink crossing (2k calls of J)
    """
    u = float(np.finfo(theta.dtype).eps)
    buffer = theta.copy()
    mask = np.zeros(theta.shape, bool)
    for i in np.asarray(candidates, dtype=int):
        x = theta[i]
        scale = max(1.0, abs(float(x)))
        s = max(eps * scale / SHRINK, np.sqrt(u) * scale)
        values = []
        for step in (s, -s):
            buffer[i] = x + step
            where = f"at theta with {label(int(i))} moved by {step:+.3g}"
            try:
                out = J(buffer)
            except Exception as exc:
                exc.add_note(f"(raised by J {where}, while probing for a kink)")
                raise
            values.append(scalar_value(out, where))
        buffer[i] = x
        right = (values[0] - j0) / ((x + s) - x)
        left = (j0 - values[1]) / (x - (x - s))
        noise = NOISE_FACTOR * u * abs(j0) / s
        mask[i] = _crossing(analytic[i], numeric[i], left, right, noise)
    return mask


def black_box_kinks(J: Callable[[np.ndarray], float], report: GradCheckReport, j0: float):
    """Kink crossings among the suspects of a full-mode report.

    Returns
    -------
    mask : ndarray of bool, shape (n,)
    evaluations : int, the extra calls of J
    """
    analytic = np.concatenate([b.analytic.ravel() for b in report.blocks])
    numeric = np.concatenate([b.numeric.ravel() for b in report.blocks])
    candidates = suspects(report)
    mask = crossed_kinks(
        J, report.theta, analytic, numeric, candidates, j0=j0, eps=report.eps,
        label=report.spec.label,
    )  # fmt: skip
    return mask, 2 * len(candidates)


def _crossing(a: float, numeric: float, left: float, right: float, noise: float) -> bool:
    """Rules (1) and (2) of the module docstring for one entry."""
    tol = noise + RTOL * (abs(left) + abs(right) + abs(a))
    gap = abs(a - numeric)
    if gap <= 4 * tol:
        return False  # nothing to explain above the noise
    moves = abs(numeric - (left + right) / 2) >= gap / 2
    return bool(moves and min(left, right) - tol <= a <= max(left, right) + tol)
