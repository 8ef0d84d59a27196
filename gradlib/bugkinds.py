"""Bug kinds: hypotheses of how a typical bug turns the numeric gradient into the analytic.

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
scale                   c·N (m and 1/m named, other factors not)          any
missing_regularization  N − κ·W, κ > 0 (the L2 term λ/m·W left out)       W
extra_regularization    N + κ·W, κ > 0 (L2 on b, or twice on W)           W, b
data_scale              c·(N − κW) + k·κW, κ = λ/m: the data term off     W
                        by c (a missing 1/m), the L2 term by k
offset                  N + c (one constant added to every entry)        any
bias_reduction          one number in every entry (dZ summed over all)    b
======================  ================================================  ======

A finding says *where* (the block, the layer, the entries) and *what kind* of bug it is,
never the code of the fix: the student writes that.

"Reproduces": relative_difference(A, hypothesis) ≤ FIT × the report's "correct" threshold
and ≤ EXPLAINS × the block's own difference, i.e. the hypothesis matches A about as well
as a correct gradient matches N. A free constant (c, κ, the offset) is fitted only with
≥ MIN_FREE judged entries; smaller blocks (db of one output unit) accept a recognised
constant only: a simple factor, λ/m from the context, or one fitted in another block.

Used by gradlib.diagnose, which tries them on every failing block in order (HYPOTHESES)
and then looks at whole layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gradlib.report import GradCheckReport
from gradlib.verdicts import relative_difference as _rel

FIT = 10.0  # a hypothesis must fit within FIT × the "correct" threshold ...
EXPLAINS = 0.1  # ... and leave at most this fraction of the block's difference
MIN_FREE = 3  # judged entries needed to fit a free constant

Kind = tuple[str, str]  # (kind, detail) of a Finding


@dataclass
class Block:
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
class Case:
    """The report, the context and the constants fitted so far."""

    report: GradCheckReport
    m: float | None
    lambd: float | None
    factors: list[float] = field(default_factory=list)
    kappas: list[float] = field(default_factory=list)
    loose: set[str] = field(default_factory=set)  # blocks off by an unrecognised constant

    @property
    def tol(self) -> float:
        return FIT * self.report.thresholds.correct

    def close(self, x: float, y: float) -> bool:
        return abs(x - y) <= min(10 * self.tol, 1e-2) * abs(y)

    def fits(self, blk: Block, predicted: np.ndarray) -> bool:
        a, j = blk.A[blk.judged], blk.judged
        return _rel(a, predicted[j]) <= min(self.tol, EXPLAINS * _rel(a, blk.N[j]))


def _zero(blk: Block, case: Case) -> Kind | None:
    size = np.linalg.norm(blk.N)
    if size and np.linalg.norm(blk.A) <= case.tol * size:
        return "zero", (
            f"d{blk.name} is all zeros but the numeric gradient is not: was it left at "
            "np.zeros, or never stored in grads?"
        )


def _swapped(blk: Block, case: Case) -> Kind | None:
    for o in case.report.blocks:
        same = blk.full and o.name != blk.name and o.shape == blk.A.shape
        if same and np.isfinite(o.numeric).all() and case.fits(blk, o.numeric):
            return "swapped", (
                f"d{blk.name} holds the gradient of {o.name} (both {o.shape}): were "
                f"d{blk.name} and d{o.name} swapped when storing grads?"
            )


def _transpose(blk: Block, case: Case) -> Kind | None:
    square = blk.A.ndim == 2 and blk.A.shape[0] == blk.A.shape[1] > 1
    if square and blk.full and case.fits(blk, blk.N.T):
        return "transpose", (
            f"d{blk.name} is the transpose of the numeric gradient: the two factors of its "
            "product are in the wrong order, or one of them is transposed the wrong way."
        )


def _scale(blk: Block, case: Case) -> Kind | None:
    a, n = blk.A[blk.judged], blk.N[blk.judged]
    c = float(a @ n / (n @ n)) if n @ n else 0.0
    if blk.judged.sum() < MIN_FREE:  # too few entries to fit: a recognised factor only
        c = next((k for k in [-1.0, *_simple(c), *case.factors] if case.close(c, k)), 0.0)
    if not c or not case.fits(blk, c * blk.N):
        return None
    case.factors.append(c)
    if not _recognised(c, case):
        case.loose.add(blk.name)
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


def _recognised(c: float, case: Case) -> bool:
    """Is c a factor a typical bug makes: ±m, ±1/m, or a small whole number or its inverse?"""
    size, m = abs(c), case.m
    if m and (case.close(size, m) or case.close(size, 1 / m)):
        return True
    return bool((simple := _simple(size)) and case.close(size, abs(simple[0])))


def _factor_text(name: str, c: float, case: Case) -> str:
    """The kind of a constant factor; which factor (2, 4, ...) is left to the student, who
    reads it off the worst entries (yours vs numeric). Only m, the batch size, is named."""
    flip, size, m = (" and the opposite sign" if c < 0 else ""), abs(c), case.m
    if m and case.close(size, m):
        return f"d{name} is m = {m:g} times the numeric gradient{flip}: the 1/m is missing."
    if m and case.close(size, 1 / m):
        return f"d{name} is 1/m (m = {m:g}) of the numeric gradient{flip}: 1/m applied twice?"
    return (
        f"every entry of d{name} is the numeric gradient times one and the same constant"
        f"{flip}: a stray factor in its formula (a constant too many or too few, or a 1/m "
        "missing or applied twice)?"
    )


def _regularization(blk: Block, case: Case) -> Kind | None:
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
            "the cost has no λ term in b."
        )
    if case.lambd and case.m and case.close(kappa, (case.m - 1) * case.lambd / case.m):
        return "extra_regularization", (
            f"d{blk.name} has an extra {term}: its L2 term is λ·{blk.name}, without the 1/m."
        )
    return "extra_regularization", (
        f"d{blk.name} has an extra {term}: the L2 gradient added twice, or λ used where "
        "the cost has none?"
    )


def _kappa_text(kappa: float, case: Case) -> str:
    if not (case.lambd and case.m):
        return f"{kappa:.3g} (λ/m?)"
    ratio = kappa / (case.lambd / case.m)
    for r, text in ((1.0, "λ/m"), (0.5, "λ/(2m)"), (2.0, "2λ/m"), (case.m - 1, "(m − 1)·λ/m")):
        if case.close(ratio, r):
            return f"{kappa:.3g} (= {text}, λ = {case.lambd:g}, m = {case.m:g})"
    return f"{kappa:.3g} (= {ratio:.3g}·λ/m)"


def _data_scale(blk: Block, case: Case) -> Kind | None:
    """dW = c·(data term) + k·(λ/m)·W with the data term (N − λ/m·W) off: a missing 1/m
    with L2 on, which neither a pure factor nor a pure L2 term explains."""
    if blk.stem != "W" or not (case.lambd and case.m) or blk.judged.sum() < MIN_FREE:
        return None
    kappa = case.lambd / case.m
    j = blk.judged
    data = blk.N - kappa * blk.W
    (c, k), *_ = np.linalg.lstsq(np.stack([data[j], blk.W[j]], axis=1), blk.A[j], rcond=None)
    m = case.m
    c = next((v for v in (1.0, -1.0, m, 1 / m, -m, -1 / m, *_simple(c)) if case.close(c, v)), 0)
    r = next((v for v in (0.0, 0.5, 1.0, 2.0, m) if abs(k / kappa - v) <= 1e-6 * max(1, v)), -1)
    if not c or r < 0 or case.close(c, 1.0) or case.close(c, r):  # not this, but scale / L2
        return None
    if not case.fits(blk, c * data + r * kappa * blk.W):
        return None
    if case.close(abs(c), m):
        part = f"its data term (from dZ) is m = {m:g} times too large: its 1/m is missing"
    elif case.close(abs(c), 1 / m):
        part = f"its data term (from dZ) is divided by m = {m:g} twice"
    else:
        part = "its data term (from dZ) is off by a constant factor"
    if c < 0:
        part += ", with the opposite sign"
    term = {0.0: f"and the L2 term (λ/m)·{blk.name} is missing",
            0.5: f"and the L2 term is λ/(2m)·{blk.name}, half of (λ/m)·{blk.name}",
            1.0: f"while its L2 term (λ/m)·{blk.name} is right",
            2.0: f"and the L2 term is twice (λ/m)·{blk.name}",
            m: f"and the L2 term is λ·{blk.name}, without its 1/m"}[r]  # fmt: skip
    return "data_scale", f"d{blk.name} = data term + L2 term: {part}, {term}."


def _offset(blk: Block, case: Case) -> Kind | None:
    c = float(np.mean((blk.A - blk.N)[blk.judged]))
    if blk.judged.sum() >= MIN_FREE and c and case.fits(blk, blk.N + c):
        return "offset", (
            f"every entry of d{blk.name} is off by the same constant {c:+.4g}: something "
            "added to the gradient (a stray + 0.1, + b, + λ)?"
        )


def _bias_reduction(blk: Block, case: Case) -> Kind | None:
    A, N, v = blk.A, blk.N, float(blk.A.mean())
    if blk.stem != "b" or A.size < 2 or not blk.full or _rel(A, np.full_like(A, v)) > case.tol:
        return None
    if _rel(N, np.full_like(N, N.mean())) <= case.tol:
        return None  # N is constant too: a scale or an offset, not the reduction
    total = " (the sum of all the numeric entries)" if case.close(v, float(N.sum())) else ""
    return "bias_reduction", (
        f"every entry of d{blk.name} is the same number {v:.4g}{total}: dZ{blk.layer} was "
        "reduced over units and examples together, while each unit has its own bias "
        "gradient, reduced over the examples only."
    )


HYPOTHESES = (
    _zero,
    _swapped,
    _transpose,
    _scale,
    _regularization,
    _data_scale,
    _offset,
    _bias_reduction,
)


__all__ = ["EXPLAINS", "FIT", "HYPOTHESES", "MIN_FREE", "Block", "Case", "Kind"]
