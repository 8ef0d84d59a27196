"""Pictures of a grad check: the ε sweep (V-curve) and the per-block relative differences.

Both functions return a matplotlib Figure and draw into ``ax`` when one is given. Without
``ax`` they create a ``matplotlib.figure.Figure`` that pyplot does not track: it shows once
when it is the last value of a notebook cell (``display(fig)`` elsewhere) and saves with
``fig.savefig("sweep.png")``; nothing is shown, printed or kept behind the caller's back.

Every drawn artist carries a ``gid`` saying what it is ("error:central", "reference:slope2",
"best:forward", "band:wrong", "bar:W1"), so code and tests can find it with
``[a for a in ax.get_children() if a.get_gid() == ...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gradlib.errors import GradCheckError
from gradlib.numdiff import METHODS, error_sweep, scalar_point
from gradlib.report import VERDICT_COLORS, GradCheckReport  # the colors of the HTML view
from gradlib.verdicts import VERDICTS

# Errors and differences below this are drawn at this value: a log axis has no place for
# the exact zeros that the complex step (or a perfect gradient) produces.
FLOOR = 1e-17

# The truncation guides are drawn this many times above the data they follow.
GUIDE_OFFSET = 3.0

# Order of the truncation error of each method: its slope on a log-log plot.
ORDER = {"forward": 1, "backward": 1, "central": 2, "complex": 2, "richardson": 4}
LABEL = {
    "forward": "one-sided (f(x+ε) − f(x)) / ε",
    "backward": "one-sided (f(x) − f(x−ε)) / ε",
    "central": "two-sided (f(x+ε) − f(x−ε)) / 2ε",
    "complex": "complex step Im f(x+iε) / ε",
    "richardson": "Richardson (two central differences)",
}
COLOR = {
    "forward": "tab:blue",
    "backward": "tab:cyan",
    "central": "tab:orange",
    "complex": "tab:green",
    "richardson": "tab:purple",
}


def plot_eps_sweep(
    f: Callable[[float], float] | None = None,
    x: float = 0.7,
    true_derivative: float | None = None,
    eps_values=None,
    methods=("forward", "central", "complex"),
    ax: Axes | None = None,
) -> Figure:
    """Relative error of each method's f'(x) against the step ε, on log-log axes.

    The V-curve: on the right the truncation error falls with ε (slope 1 for one-sided,
    2 for two-sided and complex step), on the left the rounding error grows as u/ε
    (slope −1) for every method that subtracts two values of f. Dashed reference lines of
    those slopes are drawn beside the data, and each method's best step (the largest ε
    with the smallest error) is marked. Errors that are exactly zero, as the complex step
    often gives, are drawn at FLOOR (1e-17) so the log axis can show them.

    Parameters
    ----------
    f : scalar function R -> R (complex-safe for method "complex"); None: np.exp
    x : point; 0.7 by default
    true_derivative : f'(x); needed with your own f (None with f=None: exp(x))
    eps_values : steps, shape (k,); None: 29 steps from 1e-15 to 1e-1
    methods : methods of gradlib.numdiff.derivative to compare
    ax : axes to draw into; None creates a figure

    Returns
    -------
    Figure : the figure holding the axes
    """
    scalar_point(x)  # a finite real scalar, before exp(x) or f(x) is computed
    if f is None:
        f, name = np.exp, "exp"
        true_derivative = float(np.exp(x)) if true_derivative is None else true_derivative
    else:
        name = getattr(f, "__name__", "f")
        if true_derivative is None:
            raise GradCheckError(
                "plot_eps_sweep needs true_derivative with your own f: the error of each "
                "method is measured against it (e.g. true_derivative=np.cos(x) for np.sin)."
            )
    if not (isinstance(true_derivative, Real) and np.isfinite(true_derivative)):
        raise GradCheckError(
            f"true_derivative must be a finite real number, f'(x), got {true_derivative!r}."
        )
    if true_derivative == 0:
        raise GradCheckError(
            "true_derivative is 0, so the relative error |approx − f'(x)| / |f'(x)| is "
            "undefined; pick an x where f'(x) ≠ 0."
        )
    ok = isinstance(methods, tuple | list) and methods and all(m in METHODS for m in methods)
    if not ok:
        raise GradCheckError(
            f"methods must be a tuple of some of {', '.join(METHODS)}, got {methods!r}."
        )
    try:
        eps = np.logspace(-15, -1, 29) if eps_values is None else np.asarray(eps_values, float)
    except (TypeError, ValueError):
        eps = np.array([np.nan])  # rejected just below, with the same message
    if eps.ndim != 1 or eps.size < 2 or not np.all(np.isfinite(eps) & (eps > 0)):
        raise GradCheckError(
            f"eps_values must be at least two positive finite steps, got {eps_values!r}."
        )
    order = np.argsort(eps)
    table = error_sweep(f, x, true_derivative, eps_values=eps, methods=tuple(methods))
    eps = eps[order]
    fig, ax = _figure_and_axes(ax)

    errors = {m: np.maximum(table[m][order], FLOOR) for m in methods}
    for method in methods:
        ax.plot(eps, errors[method], "o-", ms=3, color=COLOR[method], label=LABEL[method])
        ax.lines[-1].set_gid(f"error:{method}")
    _draw_guides(ax, eps, errors, rounding=_rounding_scale(f, x, true_derivative))
    for method in methods:  # after every curve, so no curve hides a star
        _mark_best(ax, eps, errors[method], method)

    ax.set_xscale("log")
    ax.set_yscale("log")
    lowest = min(e.min() for e in errors.values())
    highest = max(e.max() for e in errors.values())
    ax.set_ylim(lowest / 1e3, max(highest * 10, 1.0))  # room for the legend
    ax.set_xlabel("step ε")
    ax.set_ylabel("relative error |approx − f′(x)| / |f′(x)|")
    ax.set_title(f"ε sweep: d/dx {name}(x) at x = {x:g} (errors of 0 drawn at {FLOOR:.0e})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_report(report: GradCheckReport, ax: Axes | None = None) -> Figure:
    """Bars of each block's relative difference (log y) over the verdict bands.

    Bars are colored by the block's verdict; the background bands are the report's
    thresholds: correct below ``report.thresholds.correct``, wrong above
    ``report.thresholds.wrong``, suspicious in between. A difference of exactly 0 is
    drawn at FLOOR (1e-17).

    Parameters
    ----------
    report : GradCheckReport from check_gradients
    ax : axes to draw into; None creates a figure

    Returns
    -------
    Figure : the figure holding the axes
    """
    if not isinstance(report, GradCheckReport):
        raise GradCheckError(
            f"plot_report takes the GradCheckReport that check_gradients returns, got "
            f"{type(report).__name__}; e.g. plot_report(check_gradients(J, params, grads))."
        )
    fig, ax = _figure_and_axes(ax)
    names = [b.name for b in report.blocks]
    heights = np.maximum([b.relative_difference for b in report.blocks], FLOOR)
    correct, wrong = report.thresholds.correct, report.thresholds.wrong
    low = min(correct / 100, np.nanmin(heights) / 10)
    high = 2.0  # a relative difference never exceeds 1

    spans = {"correct": (low, correct), "suspicious": (correct, wrong), "wrong": (wrong, high)}
    labels = {
        "correct": f"correct ≤ {correct:.0e}",
        "suspicious": "suspicious",
        "wrong": f"wrong ≥ {wrong:.0e}",
    }
    for verdict in VERDICTS:
        band = ax.axhspan(*spans[verdict], color=VERDICT_COLORS[verdict], alpha=0.12, lw=0)
        band.set_gid(f"band:{verdict}")
        band.set_label(labels[verdict])

    positions = np.arange(len(names))
    bars = ax.bar(
        positions,
        heights,
        color=[VERDICT_COLORS[b.verdict] for b in report.blocks],
        edgecolor="k",
        linewidth=0.5,
    )
    for bar, block in zip(bars, report.blocks, strict=True):
        bar.set_gid(f"bar:{block.name}")
    ax.bar_label(bars, labels=[f"{h:.1e}" for h in heights], fontsize=8, padding=2)

    ax.set_yscale("log")
    ax.set_ylim(low, high)
    ax.set_xticks(positions, [f"d{n}" for n in names])
    ax.set_xlabel("parameter block")
    ax.set_ylabel("relative difference ‖dθ − dθapprox‖ / (‖dθ‖ + ‖dθapprox‖)")
    ax.set_title(
        f"Grad check: {report.verdict} (overall {report.difference:.1e}, "
        f"{report.method}, ε={report.eps:.0e})"
    )
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _draw_guides(ax: Axes, eps: np.ndarray, errors: dict, rounding: float) -> None:
    """Dashed truncation guides (slope = order) and the dotted rounding guide rounding/ε."""
    methods = list(errors)
    # Truncation: parallel to the data right of the anchor method's best ε, drawn
    # GUIDE_OFFSET times above it so the guide does not hide the data.
    for slope in sorted({ORDER[m] for m in methods}):
        anchor = next(m for m in methods if ORDER[m] == slope)
        right = eps >= eps[_best(errors[anchor])]
        guide = GUIDE_OFFSET * errors[anchor][-1] * (eps[right] / eps[-1]) ** slope
        power = {1: "", 2: "²", 4: "⁴"}[slope]
        label = f"O(ε{power}) truncation: slope {slope}"
        ax.plot(eps[right], guide, "--", lw=1, color="0.4", label=label)
        ax.lines[-1].set_gid(f"reference:slope{slope}")
    subtracting = [m for m in methods if m != "complex"]  # the complex step has no floor
    if subtracting:
        left = eps <= 10 * max(eps[_best(errors[m])] for m in subtracting)
        label = "rounding u·|f|/(ε·|f′|): slope −1"
        ax.plot(eps[left], rounding / eps[left], ":", lw=1.5, color="0.2", label=label)
        ax.lines[-1].set_gid("reference:rounding")


def _mark_best(ax: Axes, eps: np.ndarray, errors: np.ndarray, method: str) -> None:
    """A star at the method's best step, with the step written next to it."""
    best = _best(errors)
    ax.plot(eps[best], errors[best], "*", ms=14, color=COLOR[method], mec="k", zorder=4)
    ax.lines[-1].set_gid(f"best:{method}")
    ax.lines[-1].set_label(f"_best ε for {method}")  # leading "_": not in the legend
    ax.annotate(
        f"best ε≈{eps[best]:.0e}",
        (eps[best], errors[best]),
        textcoords="offset points",
        xytext=(6, -12),
        fontsize=8,
        color=COLOR[method],
    )


def _rounding_scale(f: Callable, x: float, true_derivative: float) -> float:
    """u·|f(x)| / |f′(x)|: rounding error of a difference quotient times ε (relative)."""
    u = float(np.finfo(float).eps)
    return u * abs(float(np.real(f(x)))) / abs(true_derivative)


def _figure_and_axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise GradCheckError(
                f"ax must be a matplotlib Axes (e.g. fig.add_subplot()) or None, got "
                f"{type(ax).__name__}."
            )
        return ax.figure, ax
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    return fig, fig.add_subplot()


def _best(errors: np.ndarray) -> int:
    """Index of the largest step with the smallest error (errors sorted by step)."""
    return int(np.flatnonzero(errors == errors.min())[-1])


__all__ = ["FLOOR", "plot_eps_sweep", "plot_report"]
