"""What kind of bug: findings attached to a GradCheckReport as ``report.diagnosis``.

Each failing block is tried against the hypotheses of gradlib.bugkinds (zero, swapped,
transpose, sign, scale, missing or extra regularization, data_scale, offset,
bias_reduction); the first that reproduces it names its kind.

Then, for "wrong" blocks no hypothesis explains (a "suspicious" one may be mere noise),
and blocks that are all zeros or off by an unrecognised constant (what an error at dZ does
to a small block): when every block of the topmost such layer ℓ is one of them, the error
enters at dZℓ (kind ``dZ``: activation derivative, dropout mask, or nothing reaching it)
and such blocks below are ``propagated``. Left over: ``elements`` when a few entries are
off and the rest match, else ``other``.

Choices: a db off by exactly m (np.mean for np.sum, a missing 1/m) is ``scale``, not
bias_reduction; a db taken from one column of dZ has no signature in N alone (``other``).
Entries with a NaN numeric value (fast mode) or marked as kinks are not judged; the
whole-block hypotheses (swapped, transpose, bias_reduction, elements) need a numeric value
for every entry, and a block with no judged entry gets no finding.
"""

from __future__ import annotations

import numpy as np

from gradlib.bugkinds import HYPOTHESES, Block, Case, Kind
from gradlib.kinks import kink_findings, kink_mask, listing
from gradlib.report import Finding, GradCheckReport
from gradlib.unroll import sort_key
from gradlib.verdicts import relative_difference as _rel


def diagnose(report: GradCheckReport, context: dict | None = None) -> list[Finding]:
    """Findings for a report: one per failing block (its bug kind), then the kinks.

    ``context`` may hold "m" (batch size) and "lambd" (L2 strength) to name constants.
    """
    context = context or {}
    case = Case(report, context.get("m"), context.get("lambd"))
    kinks = kink_mask(report)
    blocks = [
        b for b in (_block(report, r.name, kinks) for r in report.failing()) if b.judged.any()
    ]
    found: dict[str, Kind] = {}
    for blk in sorted(blocks, key=lambda b: -int(b.judged.sum())):  # big blocks fit first
        for hypothesis in HYPOTHESES:
            if kind := hypothesis(blk, case):
                found[blk.name] = kind
                break
    # Without a fitting hypothesis only "wrong" blocks get a finding: "suspicious" may be noise.
    rest = [b for b in blocks if b.name not in found and report.block(b.name).verdict == "wrong"]
    # All zeros, or a constant no simple bug explains: in a layer whose every block fails,
    # that is what an error entering at dZ does to a block, not a bug of its own; so is a
    # "suspicious" block next to a wrong one.
    vague = [b for b in blocks if found.get(b.name, ("",))[0] == "zero" or b.name in case.loose]
    unsure = [b for b in blocks if b.name not in found and b not in rest]
    zero = {b.name for b in vague if found[b.name][0] == "zero"}
    found.update(_layer_kinds(rest + vague + unsure, case, zero))
    for blk in (b for b in rest if b.name not in found):
        found[blk.name] = _elements(blk, case) or _other(blk, case)
    ordered = [Finding(b.name, *found[b.name]) for b in report.blocks if b.name in found]
    return ordered + kink_findings(report)


def _block(report: GradCheckReport, name: str, kinks: np.ndarray) -> Block:
    result, part = report.block(name), report.spec.block(name)
    judged = np.isfinite(result.numeric) & ~kinks[part].reshape(result.shape)
    key = sort_key(name)
    layered = key[0] == 0 and key[3] in ("W", "b")
    return Block(
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


def _layer_kinds(rest: list[Block], case: Case, zero: set[str]) -> dict[str, Kind]:
    """``dZ`` for the topmost layer whose every block fails unexplained; ``propagated`` below.

    ``rest`` are the failing blocks without a telling finding, ``zero`` those of them that
    are all zeros: when the top layer is all zeros, nothing reached its dZ at all.
    """
    layered = {b.name: b.layer for b in rest if b.layer is not None}
    # the top layer has a wrong block: one that is only "suspicious" may be noise (a kink)
    wrong = [layer for n, layer in layered.items() if case.report.block(n).verdict == "wrong"]
    if not wrong:
        return {}
    top = max(wrong)
    names = [b.name for b in case.report.blocks if sort_key(b.name)[:2] == (0, top)]
    below = [n for n, layer in layered.items() if layer < top]
    if any(n not in layered for n in names) or (len(names) < 2 and not below):
        return {}
    last = max(sort_key(b.name)[1] for b in case.report.blocks)
    where = f"of layer {top}, while the layers above are right" if top < last else (
        f"of the output layer {top}")  # fmt: skip
    if all(n in zero for n in names):
        dz = (
            f"all zeros, like every block {where}: nothing reaches dZ{top}. Is layer {top} "
            f"never computed (a loop that stops early), or dZ{top} multiplied by a mask that "
            "is zero everywhere (the activation's derivative, a dropout mask)?"
        )
    elif top < last:
        dz = (
            f"wrong in no simple pattern, like every block {where}: the error enters at "
            f"dZ{top} — check what turns dA{top} into dZ{top} (the activation's derivative, "
            "a dropout mask) and the cached values it uses."
        )
    else:
        dz = (
            f"wrong in no simple pattern, like every block {where}: the error is already in "
            f"dZ{top}, the gradient of the loss at the output — check it, and the forward "
            "values it is computed from."
        )
    found = {n: ("dZ", f"d{n} is {dz}") for n in names}
    why = f"inherits the error at dZ{top} (layer {top}); fix that first."
    return found | {n: ("propagated", f"d{n} {why}") for n in below}


def _elements(blk: Block, case: Case) -> Kind | None:
    judged = blk.judged.ravel()
    d = np.where(judged, np.abs(blk.A - blk.N).ravel(), 0.0)
    off, n = d > 1e-3 * d.max(), int(judged.sum())
    if n < 4 or not blk.full or off.sum() > n // 2:
        return None
    if _rel(blk.A.ravel()[judged & ~off], blk.N.ravel()[judged & ~off]) > case.tol:
        return None  # the rest does not match either
    labels = [case.report.spec.label(blk.start + int(i)) for i in np.argsort(-d)[: off.sum()]]
    verb = "is" if len(labels) == 1 else "are"
    guess = "an index or loop-bound slip?"
    if blk.layer is not None:  # a mask wrong on a few units or examples does this too
        guess = (f"an index or loop-bound slip, or dZ{blk.layer} wrong on a few units or "
                 "examples (the activation's derivative, a mask)?")  # fmt: skip
    return "elements", (
        f"only {len(labels)} of {n} entries of d{blk.name} {verb} off "
        f"({listing(labels)}); the rest match: {guess}"
    )


def _other(blk: Block, case: Case) -> Kind:
    d = np.where(blk.judged, np.abs(blk.A - blk.N), -1.0).ravel()
    i = int(np.argmax(d))
    return "other", (
        f"d{blk.name} differs from the numeric gradient in no simple pattern (worst "
        f"d{case.report.spec.label(blk.start + i)}: {blk.A.ravel()[i]:.4g} vs "
        f"{blk.N.ravel()[i]:.4g}); recheck each factor of its chain rule."
    )
