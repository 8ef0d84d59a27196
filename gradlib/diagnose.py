"""What kind of bug: findings attached to a GradCheckReport as ``report.diagnosis``.

Each block that is not "correct" is tried against hypotheses, each a way a typical bug
turns the numeric gradient N into the analytic A; the first one that reproduces A names
the kind (W is the block's parameter):

======================  ================================================  ======
kind                    A ≈ ...                                           blocks
======================  ================================================  ======
zero                    0, while N is not                                 any
swapped                 N of another block of the same shape              any
transpose               N.T                                               square
sign                    −N                                                any
scale                   c·N (c named: 2, ½, m, 1/m, ...)                  any
missing_regularization  N − κ·W, κ > 0 (the L2 term λ/m·W left out)       W
extra_regularization    N + κ·W, κ > 0 (L2 on b, or twice on W)           W, b
offset                  N + c (one constant added to every entry)        any
bias_reduction          one number in every entry (np.sum(dZ))            b
======================  ================================================  ======

"Reproduces": relative_difference(A, hypothesis) ≤ FIT × the report's "correct" threshold
and ≤ EXPLAINS × the block's own difference, i.e. the hypothesis matches A about as well
as a correct gradient matches N. A free constant (c, κ, the offset) is fitted only with
≥ MIN_FREE judged entries; smaller blocks (db of one output unit) accept a recognised
constant only: a simple factor, λ/m from the context, or one fitted in another block.

Then, for "wrong" blocks no hypothesis explains (a "suspicious" one may be mere noise):
when every block of the topmost such layer ℓ is wrong, the error enters at dZℓ (kind
``dZ``: activation derivative, dropout mask) and such blocks below are ``propagated``.
Left over: ``elements`` when a few entries are off and the rest match, else ``other``.

Choices: a db off by exactly m (np.mean for np.sum, a missing 1/m) is ``scale``, not
bias_reduction; a db taken from one column of dZ has no signature in N alone (``other``).
Entries with a NaN numeric value (fast mode) or marked as kinks are not judged; the
whole-block hypotheses (swapped, transpose, bias_reduction, elements) need a numeric value
for every entry, and a block with no judged entry gets no finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradlib.kinks import kink_findings, kink_mask, listing
from gradlib.report import Finding, GradCheckReport
from gradlib.unroll import sort_key
from gradlib.verdicts import relative_difference as _rel

FIT = 10.0  # a hypothesis must fit within FIT × the "correct" threshold ...
EXPLAINS = 0.1  # ... and leave at most this fraction of the block's difference
MIN_FREE = 3  # judged entries needed to fit a free constant

_Kind = tuple[str, str]  # (kind, detail) of a Finding


@dataclass
class _Block:
    """A failing block: analytic A, numeric N (0 where not judged), parameter W."""

    name: str
    stem: str  # "W", "b", ... ("" for names without a layer number)
    layer: int | None
    start: int  # offset in θ
    A: np.ndarray
    N: np.ndarray
    W: np.ndarray
    judged: np.ndarray  # bool: finite numeric value and not a kink
    full: bool  # every entry has a numeric value (kinks aside): no NaN from fast mode


@dataclass
class _Case:
    """The report, the context and the constants fitted so far."""

    report: GradCheckReport
    m: float | None
    lambd: float | None
    factors: list[float] = field(default_factory=list)
    kappas: list[float] = field(default_factory=list)

    @property
    def tol(self) -> float:
        return FIT * self.report.thresholds.correct

    def close(self, x: float, y: float) -> bool:
        return abs(x - y) <= min(10 * self.tol, 1e-2) * abs(y)

    def fits(self, blk: _Block, predicted: np.ndarray) -> bool:
        a, j = blk.A[blk.judged], blk.judged
        return _rel(a, predicted[j]) <= min(self.tol, EXPLAINS * _rel(a, blk.N[j]))


def diagnose(report: GradCheckReport, context: dict | None = None) -> list[Finding]:
    """Findings for a report: one per failing block (its bug kind), then the kinks.

    ``context`` may hold "m" (batch size) and "lambd" (L2 strength) to name constants.
    """
    context = context or {}
    case = _Case(report, context.get("m"), context.get("lambd"))
    kinks = kink_mask(report)
    blocks = [
        b for b in (_block(report, r.name, kinks) for r in report.failing()) if b.judged.any()
    ]
    found: dict[str, _Kind] = {}
    for blk in sorted(blocks, key=lambda b: -int(b.judged.sum())):  # big blocks fit first
        for hypothesis in _HYPOTHESES:
            if kind := hypothesis(blk, case):
                found[blk.name] = kind
                break
    # Without a fitting hypothesis only "wrong" blocks get a finding: "suspicious" may be noise.
    rest = [b for b in blocks if b.name not in found and report.block(b.name).verdict == "wrong"]
    found.update(_layer_kinds(rest, case))
    for blk in (b for b in rest if b.name not in found):
        found[blk.name] = _elements(blk, case) or _other(blk, case)
    ordered = [Finding(b.name, *found[b.name]) for b in report.blocks if b.name in found]
    return ordered + kink_findings(report)


def _block(report: GradCheckReport, name: str, kinks: np.ndarray) -> _Block:
    result, part = report.block(name), report.spec.block(name)
    judged = np.isfinite(result.numeric) & ~kinks[part].reshape(result.shape)
    key = sort_key(name)
    layered = key[0] == 0 and key[3] in ("W", "b")
    return _Block(
        name=name,
        stem=key[3] if layered else "",
        layer=key[1] if layered else None,
        start=part.start,
        A=result.analytic,
        N=np.where(judged, result.numeric, 0.0),
        W=report.theta[part].reshape(result.shape),
        judged=judged,
        full=bool(np.isfinite(result.numeric).all()),
    )


def _zero(blk: _Block, case: _Case) -> _Kind | None:
    size = np.linalg.norm(blk.N)
    if size and np.linalg.norm(blk.A) <= case.tol * size:
        return "zero", (
            f"d{blk.name} is all zeros but the numeric gradient is not: was it left at "
            "np.zeros, or never stored in grads?"
        )


def _swapped(blk: _Block, case: _Case) -> _Kind | None:
    for o in case.report.blocks:
        same = blk.full and o.name != blk.name and o.shape == blk.A.shape
        if same and np.isfinite(o.numeric).all() and case.fits(blk, o.numeric):
            return "swapped", (
                f"d{blk.name} holds the gradient of {o.name} (both {o.shape}): were "
                f"d{blk.name} and d{o.name} swapped when storing grads?"
            )


def _transpose(blk: _Block, case: _Case) -> _Kind | None:
    square = blk.A.ndim == 2 and blk.A.shape[0] == blk.A.shape[1] > 1
    if square and blk.full and case.fits(blk, blk.N.T):
        return "transpose", (
            f"d{blk.name} is the transpose of the numeric gradient: the product is in the "
            "wrong order (dW = dZ @ A_prev.T, not A_prev @ dZ.T)."
        )


def _scale(blk: _Block, case: _Case) -> _Kind | None:
    a, n = blk.A[blk.judged], blk.N[blk.judged]
    c = float(a @ n / (n @ n)) if n @ n else 0.0
    if blk.judged.sum() < MIN_FREE:  # too few entries to fit: a recognised factor only
        c = next((k for k in [-1.0, *_simple(c), *case.factors] if case.close(c, k)), 0.0)
    if not c or not case.fits(blk, c * blk.N):
        return None
    case.factors.append(c)
    if case.close(c, -1.0):
        return "sign", (
            f"d{blk.name} has the right size but the opposite sign: a flipped minus "
            "(e.g. Y − A for A − Y)?"
        )
    return "scale", _factor_text(blk.name, c, case)


def _simple(c: float) -> list[float]:
    """The k or 1/k (integer k ≥ 2, with c's sign) nearest to c, as a candidate."""
    if not c:
        return []
    k = round(abs(c)) if abs(c) >= 1 else round(1 / abs(c))
    return [np.sign(c) * (k if abs(c) >= 1 else 1 / k)] if 2 <= k <= 10_000 else []


def _factor_text(name: str, c: float, case: _Case) -> str:
    flip, size, m = (" with the opposite sign" if c < 0 else ""), abs(c), case.m
    if m and case.close(size, m):
        return f"d{name} is m = {m:g} times the numeric gradient{flip}: the 1/m is missing."
    if m and case.close(size, 1 / m):
        return f"d{name} is 1/m (m = {m:g}) of the numeric gradient{flip}: 1/m applied twice?"
    if (simple := _simple(size)) and case.close(size, simple[0]):
        k = round(max(size, 1 / size))
        if size > 1:
            guess = "a factor" if m else f"is a 1/m missing (m = {k}?) or a factor"
            return f"d{name} is {k}× the numeric gradient{flip} — {guess} {k} extra?"
        guess = "a factor" if m else f"is an extra 1/m (m = {k}?) or a factor"
        return f"d{name} is 1/{k} of the numeric gradient{flip} — {guess} {k} missing?"
    return f"d{name} is {c:.4g}× the numeric gradient: a wrong constant in its formula?"


def _regularization(blk: _Block, case: _Case) -> _Kind | None:
    w, d = blk.W[blk.judged], (blk.A - blk.N)[blk.judged]
    if blk.stem not in ("W", "b") or not w @ w:
        return None
    kappa = float(d @ w / (w @ w))
    if blk.judged.sum() < MIN_FREE:  # a κ seen elsewhere, or ±λ/m, only
        lm = [case.lambd / case.m, -case.lambd / case.m] if case.lambd and case.m else []
        kappa = next((k for k in [*case.kappas, *lm] if case.close(kappa, k)), 0.0)
    wrong_way = kappa < 0 and blk.stem == "b"  # nothing subtracts λ/m·b
    if not kappa or wrong_way or not case.fits(blk, blk.N + kappa * blk.W):
        return None
    case.kappas.append(kappa)
    term = f"{_kappa_text(abs(kappa), case)}·{blk.name}"
    if kappa < 0:
        return "missing_regularization", (
            f"d{blk.name} lacks the L2 term {term}: the cost's λ/(2m)·Σ‖W‖² adds "
            f"(λ/m)·{blk.name} to d{blk.name}."
        )
    if blk.stem == "b":
        return "extra_regularization", (
            f"d{blk.name} contains {term}, but L2 regularization sums the weights W only: "
            "drop the λ term from db."
        )
    return "extra_regularization", (
        f"d{blk.name} has an extra {term}: the L2 gradient added twice, or λ used where "
        "the cost has none?"
    )


def _kappa_text(kappa: float, case: _Case) -> str:
    if not (case.lambd and case.m):
        return f"{kappa:.3g} (λ/m?)"
    ratio = kappa / (case.lambd / case.m)
    for r, text in ((1.0, "λ/m"), (0.5, "λ/(2m)"), (2.0, "2λ/m")):
        if case.close(ratio, r):
            return f"{kappa:.3g} (= {text}, λ = {case.lambd:g}, m = {case.m:g})"
    return f"{kappa:.3g} (= {ratio:.3g}·λ/m)"


def _offset(blk: _Block, case: _Case) -> _Kind | None:
    c = float(np.mean((blk.A - blk.N)[blk.judged]))
    if blk.judged.sum() >= MIN_FREE and c and case.fits(blk, blk.N + c):
        return "offset", (
            f"every entry of d{blk.name} is off by the same constant {c:+.4g}: something "
            "added to the gradient (a stray + 0.1, + b, + λ)?"
        )


def _bias_reduction(blk: _Block, case: _Case) -> _Kind | None:
    A, N, v = blk.A, blk.N, float(blk.A.mean())
    if blk.stem != "b" or A.size < 2 or not blk.full or _rel(A, np.full_like(A, v)) > case.tol:
        return None
    if _rel(N, np.full_like(N, N.mean())) <= case.tol:
        return None  # N is constant too: a scale or an offset, not the reduction
    total = " (the sum of all the numeric entries)" if case.close(v, float(N.sum())) else ""
    return "bias_reduction", (
        f"every entry of d{blk.name} is the same number {v:.4g}{total}: dZ{blk.layer} was "
        f"reduced over units and examples together; use np.sum(dZ{blk.layer}, axis=1, "
        "keepdims=True)."
    )


_HYPOTHESES = (_zero, _swapped, _transpose, _scale, _regularization, _offset, _bias_reduction)


def _layer_kinds(rest: list[_Block], case: _Case) -> dict[str, _Kind]:
    """``dZ`` for the topmost layer whose every block fails unexplained; ``propagated`` below."""
    layered = {b.name: b.layer for b in rest if b.layer is not None}
    if not layered:
        return {}
    top = max(layered.values())
    names = [b.name for b in case.report.blocks if sort_key(b.name)[:2] == (0, top)]
    below = [n for n, layer in layered.items() if layer < top]
    if any(n not in layered for n in names) or (len(names) < 2 and not below):
        return {}
    last = max(sort_key(b.name)[1] for b in case.report.blocks)
    dz = (
        f"wrong in no simple pattern, like every block of layer {top}, while the layers "
        f"above are right: the error enters at dZ{top} — check g'(Z{top}) (tanh: 1 − A², "
        "ReLU: Z > 0) and the dropout mask."
        if top < last
        else f"wrong in no simple pattern, like every block of the output layer {top}: the "
        f"error is in dZ{top}, which is (A{top} − Y)/m for each output paired with its loss."
    )
    found = {n: ("dZ", f"d{n} is {dz}") for n in names}
    why = f"inherits the error at dZ{top} (layer {top}); fix that first."
    return found | {n: ("propagated", f"d{n} {why}") for n in below}


def _elements(blk: _Block, case: _Case) -> _Kind | None:
    judged = blk.judged.ravel()
    d = np.where(judged, np.abs(blk.A - blk.N).ravel(), 0.0)
    off, n = d > 1e-3 * d.max(), int(judged.sum())
    if n < 4 or not blk.full or off.sum() > n // 2:
        return None
    if _rel(blk.A.ravel()[judged & ~off], blk.N.ravel()[judged & ~off]) > case.tol:
        return None  # the rest does not match either
    labels = [case.report.spec.label(blk.start + int(i)) for i in np.argsort(-d)[: off.sum()]]
    verb = "is" if len(labels) == 1 else "are"
    return "elements", (
        f"only {len(labels)} of {n} entries of d{blk.name} {verb} off "
        f"({listing(labels)}); the rest match: an index or loop-bound slip?"
    )


def _other(blk: _Block, case: _Case) -> _Kind:
    d = np.where(blk.judged, np.abs(blk.A - blk.N), -1.0).ravel()
    i = int(np.argmax(d))
    return "other", (
        f"d{blk.name} differs from the numeric gradient in no simple pattern (worst "
        f"d{case.report.spec.label(blk.start + i)}: {blk.A.ravel()[i]:.4g} vs "
        f"{blk.N.ravel()[i]:.4g}); recheck each factor of its chain rule."
    )
