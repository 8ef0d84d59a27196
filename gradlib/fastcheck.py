"""Fast grad check: random directional derivatives per block, then bisection to the bug.

The full check costs 2n evaluations of J. Here each block gets k random directions δ
(Rademacher signs times the full mode's per-entry step εᵢ = ε·max(1, |θᵢ|), restricted
to the block) and one central difference along each:

    (J(θ + δ) − J(θ − δ)) / 2  ≈  ∇J · δ,   compared with  dθ · δ.

Moving every entry by its full-mode step keeps the truncation error of the full mode,
the rounding error is that of one entry (≈ u·|J|), and the signal grows to ≈ ‖dθ‖·ε,
so the test is as sensitive as the full one. Rademacher signs (not Gaussian) make a
single wrong entry shift every directional derivative by exactly its error times εᵢ.

A failing block is searched by bisection along the direction that disagreed most: the
discrepancy d(S) = numeric − analytic restricted to an index range S is additive, so
measuring the left half gives the right half by subtraction (2 evaluations per level).
The search follows the half with the larger normalized discrepancy |d(S)| / ‖δ_S‖ (an
estimate of the typical error per entry) and always commits to one half, so a bug that
touches every entry (dW scaled by 2) costs log₂ n levels like a single wrong entry,
instead of opening every branch. The element reached is measured exactly with a central
difference; further searches subtract what was measured, and stop once the residual
discrepancy of the block is within noise. Cost: 2k per block, 2⌈log₂ n⌉ + 2 per named
element of a failing block.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gradlib.diagnose import diagnose
from gradlib.errors import GradCheckError, require_count, scalar_value
from gradlib.numdiff import default_eps, step_sizes
from gradlib.report import BlockResult, GradCheckReport
from gradlib.unroll import ParamSpec
from gradlib.verdicts import NOISE_FACTOR, relative_difference, thresholds

_CHANGED = (
    "J changed its input in place (theta differs from what was passed after the call); "
    "J must not modify theta: work on a copy inside J."
)


def fast_check(
    J_vec: Callable[[np.ndarray], float],
    buffer: np.ndarray,
    spec: ParamSpec,
    dtheta: np.ndarray,
    j0: float,
    eps: float | None = None,
    *,
    directions: int = 4,
    seed=None,
    worst: int = 3,
    context: dict | None = None,
) -> GradCheckReport:
    """Grad check with k random directional derivatives per block; O(k + log n) evaluations.

    Parameters
    ----------
    J_vec : the cost as a function of the flat working buffer, shape (n,) -> scalar
    buffer : θ, shape (n,); perturbed in place during the check and restored
    spec : ParamSpec of the blocks in θ
    dtheta : the analytic gradient, shape (n,)
    j0 : J(θ), already evaluated (counted in ``evaluations``)
    eps : base step of the central differences; None picks default_eps("central")
    directions : random directions per block (k ≥ 1)
    seed : seed (or numpy Generator) of the random directions
    worst : at most this many elements are localized and measured per failing block
    context : optional facts for the diagnosis ({"m": batch size, "lambd": L2 strength})

    Returns
    -------
    GradCheckReport with mode="fast": per block, the relative difference of the k
    directional derivatives; ``numeric`` holds NaN except at the measured elements.
    """
    require_count(directions, "directions", "random directions per block")
    require_count(worst, "worst", "elements named per failing block")
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise GradCheckError(
            f"seed must be None, a non-negative integer or a numpy Generator, got {seed!r}."
        ) from exc
    theta = buffer.copy()  # the one copy: what every perturbation is restored from
    steps = step_sizes(theta, eps, "central")  # ε·max(1, |θᵢ|), shape (n,); validates eps
    base = default_eps("central", theta.dtype) if eps is None else float(eps)
    stuck = np.flatnonzero((theta + steps == theta) | (theta - steps == theta))
    if stuck.size:
        i = int(stuck[0])
        raise GradCheckError(
            f"eps={steps[i]:.3g} is too small to move {spec.label(i)}={theta[i]:.6g} in "
            f"{theta.dtype}: the perturbed value rounds back to the same number. Use a larger eps."
        )
    probe = _Probe(J_vec, buffer, theta, dtheta, steps, spec)
    noise = NOISE_FACTOR * float(np.finfo(theta.dtype).eps) * abs(j0)  # per difference, J units
    limits = thresholds(theta.dtype, base, "central")
    blocks, numeric_all, analytic_all = [], [], []
    for name, shape in zip(spec.names, spec.shapes, strict=True):
        part = spec.block(name)
        numeric, analytic, delta = _directional(probe, rng, part, directions, name)
        gap = numeric - analytic
        rel = relative_difference(analytic, numeric)
        above_noise = np.linalg.norm(gap) > noise * np.sqrt(directions)
        verdict = limits.verdict(rel) if above_noise else "correct"
        found = {}
        if verdict != "correct":
            b = int(np.argmax(np.abs(gap)))
            tol = max(noise, limits.correct * (abs(numeric[b]) + abs(analytic[b])))
            found = _localize(probe, part.start, delta, gap[b], worst, tol)
        measured = np.full(part.stop - part.start, np.nan)
        for i, (_, value, _) in found.items():
            measured[i] = value
        ranked = sorted(found.items(), key=lambda item: -abs(item[1][0] - item[1][1]))
        blocks.append(
            BlockResult(
                name=name,
                shape=shape,
                relative_difference=rel,
                verdict=verdict,
                worst=tuple((spec.label(part.start + i), a, n) for i, (a, n, _) in ranked),
                analytic=dtheta[part].reshape(shape),
                numeric=measured.reshape(shape),
            )
        )
        numeric_all.append(numeric)
        analytic_all.append(analytic)
    if not np.array_equal(buffer, theta):
        raise GradCheckError(_CHANGED)
    report = GradCheckReport(
        difference=relative_difference(np.concatenate(analytic_all), np.concatenate(numeric_all)),
        blocks=tuple(blocks),
        eps=base,
        method="central",
        dtype=str(theta.dtype),
        thresholds=limits,
        evaluations=probe.evaluations,
        spec=spec,
        theta=theta,
        mode="fast",
    )
    report.diagnosis.extend(diagnose(report, context))
    return report


class _Probe:
    """Central differences of J at θ, perturbing the working buffer in place; counts calls."""

    def __init__(self, J_vec, buffer, theta, dtheta, steps, spec: ParamSpec):
        self.J, self.buffer, self.theta, self.dtheta = J_vec, buffer, theta, dtheta
        self.steps, self.spec = steps, spec  # per-entry steps, shape (n,)
        self.evaluations = 1  # J(θ), evaluated by the caller

    def value(self, where: str) -> float:
        try:
            out = self.J(self.buffer)
        except Exception as exc:
            exc.add_note(f"(raised by J at theta {where})")
            raise
        self.evaluations += 1
        return scalar_value(out, f"at theta {where}")

    def along(self, part: slice, delta: np.ndarray, where: str) -> tuple[float, float]:
        """(numeric, analytic) ∇J·δ for a perturbation δ, shape (len(part),), of θ[part]."""
        x, view = self.theta[part], self.buffer[part]
        plus = x + delta
        try:
            view[...] = plus
            j_plus = self.value(where)
            if not np.array_equal(view, plus):
                raise GradCheckError(_CHANGED)
            np.subtract(x, delta, out=view)
            j_minus = self.value(where)
            plus -= view  # 2δ as actually taken, after rounding θ ± δ
        finally:
            view[...] = x
        return (j_plus - j_minus) / 2, float(self.dtheta[part] @ plus) / 2

    def entry(self, i: int) -> tuple[float, float]:
        """(analytic, numeric) dJ/dθᵢ, the numeric one by the full mode's central difference."""
        x, h, label = self.theta[i], self.steps[i], self.spec.label(i)
        hp, hm = (x + h) - x, x - (x - h)
        try:
            self.buffer[i] = x + hp
            j_plus = self.value(f"with {label} moved by {hp:+.3g}")
            self.buffer[i] = x - hm
            j_minus = self.value(f"with {label} moved by {-hm:+.3g}")
        finally:
            self.buffer[i] = x
        return float(self.dtheta[i]), float((j_plus - j_minus) / (hp + hm))


def _directional(probe, rng, part: slice, k: int, name: str):
    """k random directional differences on θ[part].

    Returns
    -------
    numeric, analytic : shape (k,), ∇J·δⱼ and dθ·δⱼ (J units)
    delta : shape (len(part),), the direction with the largest |numeric − analytic|
    """
    numeric, analytic, delta, largest = np.empty(k), np.empty(k), None, -1.0
    for j in range(k):
        signs = rng.integers(0, 2, part.stop - part.start, dtype=np.int8)
        trial = np.where(signs, probe.steps[part], -probe.steps[part])
        numeric[j], analytic[j] = probe.along(
            part, trial, f"moved along random direction {j} of {name}"
        )
        if abs(numeric[j] - analytic[j]) > largest:
            delta, largest = trial, abs(numeric[j] - analytic[j])
    return numeric, analytic, delta


def _localize(probe, start, delta, d_block, count, tol) -> dict:
    """Bisect the block at θ[start:start+len(delta)] down to the elements that disagree.

    ``delta`` (shape (m,)) is the direction whose discrepancy ``d_block`` (numeric −
    analytic, J units) is largest. Returns {index in block: (analytic, numeric, share)}
    for up to ``count`` elements, ``share`` being the element's part of the discrepancy.
    """
    m = delta.size
    weight = np.concatenate(([0.0], np.cumsum(delta.astype(np.float64) ** 2)))  # (m + 1,)
    known = {(0, m): d_block}  # discrepancy of the index range [lo, hi) along delta
    found: dict[int, tuple[float, float, float]] = {}

    def residual(lo, hi):
        return known[lo, hi] - sum(s for i, (_, _, s) in found.items() if lo <= i < hi)

    def score(lo, hi):  # |d(S)| / ‖δ_S‖ over the entries not measured yet
        inside = [i for i in found if lo <= i < hi]
        if len(inside) == hi - lo:
            return -1.0
        norm2 = weight[hi] - weight[lo] - sum(float(delta[i]) ** 2 for i in inside)
        return abs(residual(lo, hi)) / np.sqrt(max(norm2, np.finfo(float).tiny))

    while len(found) < min(count, m) and (not found or abs(residual(0, m)) > tol):
        lo, hi = 0, m
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (lo, mid) not in known:
                label = probe.spec.label
                where = f"moved along {label(start + lo)} … {label(start + mid - 1)}"
                numeric, analytic = probe.along(
                    slice(start + lo, start + mid), delta[lo:mid], where
                )
                known[lo, mid] = numeric - analytic
                known[mid, hi] = known[lo, hi] - known[lo, mid]
            lo, hi = (lo, mid) if score(lo, mid) >= score(mid, hi) else (mid, hi)
        analytic, numeric = probe.entry(start + lo)
        found[lo] = (analytic, numeric, (numeric - analytic) * float(delta[lo]))
    return found
