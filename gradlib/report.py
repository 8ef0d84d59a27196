"""GradCheckReport: the result of a grad check as data, with text and HTML views."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from gradlib.unroll import ParamSpec
from gradlib.verdicts import UNCHECKED, VERDICTS, Thresholds  # re-exported: the scale

_ORDER = ("correct", UNCHECKED, "suspicious", "wrong")  # worst last, for a report's verdict
_MARK = {"correct": "✓", UNCHECKED: "–", "suspicious": "?", "wrong": "✗"}
VERDICT_COLORS = {
    "correct": "#1a7f37",
    UNCHECKED: "#57606a",
    "suspicious": "#9a6700",
    "wrong": "#cf222e",
}
# Inline styles of the HTML table: a notebook's CSS would otherwise wrap the narrow cells.
_NOWRAP = "white-space: nowrap"
_WORST = "min-width: 16em; text-align: left"


@dataclass(frozen=True)
class Finding:
    """One diagnosis: which block, what kind of bug (or kink), a sentence for a student."""

    block: str
    kind: str
    detail: str


@dataclass(frozen=True)
class BlockResult:
    """Grad check of one parameter block (W1, b1, ...).

    ``worst`` lists the largest element differences as (label, analytic, numeric), e.g.
    ("W2[3, 1]", 0.52, 0.26). ``analytic`` and ``numeric`` have the block's shape.
    """

    name: str
    shape: tuple[int, ...]
    relative_difference: float
    verdict: str
    worst: tuple[tuple[str, float, float], ...]
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)


@dataclass(repr=False)
class GradCheckReport:
    """Result of check_gradients: overall difference, verdict, one entry per block."""

    difference: float
    blocks: tuple[BlockResult, ...]
    eps: float
    method: str
    dtype: str
    thresholds: Thresholds
    evaluations: int
    spec: ParamSpec = field(repr=False)
    theta: np.ndarray = field(repr=False)
    kinks: tuple[str, ...] = ()
    mode: str = "full"
    diagnosis: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The worst block verdict: one wrong block makes the whole gradient wrong, and a
        block that could not be checked (every entry on a kink) keeps it from "correct"."""
        return max((b.verdict for b in self.blocks), key=_ORDER.index)

    @property
    def passed(self) -> bool:
        return self.verdict == "correct"

    def block(self, name: str) -> BlockResult:
        """The result of block ``name`` (accepts "dW1" for "W1")."""
        for b in self.blocks:
            if name in (b.name, "d" + b.name):
                return b
        raise KeyError(f"no block {name!r}; blocks are {', '.join(b.name for b in self.blocks)}")

    def failing(self) -> list[BlockResult]:
        """Blocks whose verdict is not "correct"."""
        return [b for b in self.blocks if b.verdict != "correct"]

    def worst_block(self) -> BlockResult:
        """The block whose verdict is the report's: the worst verdict, then the largest
        relative difference."""
        return max(self.blocks, key=lambda b: (_ORDER.index(b.verdict), b.relative_difference))

    def headline(self) -> str:
        """The verdict in words: the worst block's, and why it is not the overall number's.

        A report takes the verdict of its worst block, so a gradient whose blocks together
        differ by 9e-08 is still "suspicious" when one block differs by 3e-06: the headline
        names that block next to the overall difference.
        """
        overall = f"relative difference {self.difference:.2e}"
        if self.verdict != "correct" and (len(self.blocks) > 1 or self.verdict == UNCHECKED):
            b = self.worst_block()
            what = (
                ", which was not checked: every entry crossed a kink"
                if b.verdict == UNCHECKED
                else f" (relative difference {b.relative_difference:.2e})"
            )
            overall = (
                f"the verdict of its worst block, d{b.name}{what}; all blocks together "
                f"{self.difference:.2e}"
            )
        return f"Gradient check: {self.verdict.upper()} — {overall}"

    def summary(self) -> str:
        """A few lines of text: overall verdict, then each block, then findings.

        The block lines are a table: names and shapes are padded to the longest of the
        report, so the differences and verdicts line up (dW10 of shape (1024, 512) too).
        """
        limits = self.thresholds
        lines = [
            f"{self.headline()} ({self.method} differences, eps={self.eps:.1e}, {self.dtype}; "
            f"correct ≤ {_short(limits.correct)}, wrong ≥ {_short(limits.wrong)})"
        ]
        name_width = max(len("d" + b.name) for b in self.blocks)
        shape_width = max(len(str(b.shape)) for b in self.blocks)
        for b in self.blocks:
            line = (
                f"  {_MARK[b.verdict]} {'d' + b.name:<{name_width}}  {str(b.shape):<{shape_width}}"
                f"  {b.relative_difference:.2e}  {b.verdict}"
            )
            if b.verdict == UNCHECKED:
                line += " (every entry crossed a kink: check it with another point or step)"
            elif b.verdict != "correct":
                label, a, n = b.worst[0]
                line += f"; worst d{label}: analytic {a:.6g} vs numeric {n:.6g}"
            lines.append(line)
        lines += [f"  → d{f.block}: {f.detail}" for f in self.diagnosis]
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)

    __str__ = summary
    __repr__ = summary

    def _repr_html_(self) -> str:
        """The summary as an HTML table. Marks, verdicts, numbers and each worst element
        never wrap ("✓ correct" on one line); the worst-elements column is given room."""
        e = html.escape
        rows = []
        for b in self.blocks:
            worst = (
                "".join(
                    f"<div style='{_NOWRAP}'><code>d{e(lab)}</code>: {a:.6g} vs {n:.6g}</div>"
                    for lab, a, n in b.worst
                )
                if b.verdict in ("suspicious", "wrong")
                else ""
            )
            findings = "".join(
                f"<div>{e(f.detail)}</div>" for f in self.diagnosis if f.block == b.name
            )
            color = VERDICT_COLORS[b.verdict]
            rows.append(
                f"<tr><td style='{_NOWRAP}'><code>d{e(b.name)}</code></td>"
                f"<td style='{_NOWRAP}'>{e(str(b.shape))}</td>"
                f"<td style='{_NOWRAP}'>{b.relative_difference:.2e}</td>"
                f"<td class='verdict' style='{_NOWRAP}; color:{color}'>"
                f"{_MARK[b.verdict]}&nbsp;{b.verdict}</td>"
                f"<td class='worst' style='{_WORST}'>{worst}</td><td>{findings}</td></tr>"
            )
        notes = "".join(f"<p>⚠ {e(w)}</p>" for w in self.warnings)
        return (
            f"<div class='gradcheck-report'><p><b style='color:{VERDICT_COLORS[self.verdict]}'>"
            f"{_MARK[self.verdict]} Gradient check: {self.verdict}</b> — "
            f"{e(self.headline().partition(' — ')[2])} ({e(self.method)}, ε={self.eps:.1e}, "
            f"{e(self.dtype)})</p>"
            f"<table><thead><tr><th style='{_NOWRAP}'>block</th><th>shape</th>"
            "<th>relative difference</th><th>verdict</th>"
            f"<th style='{_WORST}'>worst elements (analytic vs numeric)</th><th>diagnosis</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{notes}</div>"
        )


def _short(x: float) -> str:
    """1e-07, 4.8e-04, 2.5e-01: one decimal, and none where it is 0."""
    return f"{x:.1e}".replace(".0e", "e")


__all__ = [
    "UNCHECKED",
    "VERDICTS",
    "VERDICT_COLORS",
    "BlockResult",
    "Finding",
    "GradCheckReport",
    "Thresholds",
]
