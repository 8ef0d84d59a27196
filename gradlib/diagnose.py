"""What kind of bug: findings attached to a GradCheckReport as ``report.diagnosis``."""

from __future__ import annotations

from gradlib.report import Finding, GradCheckReport


def diagnose(report: GradCheckReport) -> list[Finding]:
    """Findings for a report: one per evident bug class or kink, per block."""
    return kink_findings(report)


def kink_findings(report: GradCheckReport) -> list[Finding]:
    """One ``kink`` finding per block whose perturbations crossed a kink (not a bug)."""
    by_block: dict[str, list[str]] = {}
    for label in report.kinks:
        by_block.setdefault(label.split("[")[0], []).append(label)
    return [
        Finding(
            block=name,
            kind="kink",
            detail=(
                f"{len(labels)} entr{'y' if len(labels) == 1 else 'ies'} ({', '.join(labels[:3])}"
                f"{', …' if len(labels) > 3 else ''}) moved a ReLU/max input across its kink, "
                "where the numeric derivative is meaningless; they were left out of the "
                "verdict. Not a bug."
            ),
        )
        for name, labels in by_block.items()
    ]
