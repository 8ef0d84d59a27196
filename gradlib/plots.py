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
from matplotlib.patches import FancyBboxPatch, Rectangle

from gradlib import nn
from gradlib.errors import GradCheckError
from gradlib.layers import activation_backward
from gradlib.netgrad import check_network
from gradlib.numdiff import METHODS, error_sweep, scalar_point
from gradlib.report import VERDICT_COLORS, GradCheckReport  # the colors of the HTML view
from gradlib.unroll import params_to_vector
from gradlib.verdicts import UNCHECKED, VERDICTS

# Errors and differences below this are drawn at this value: a log axis has no place for
# the exact zeros that the complex step (or a perfect gradient) produces.
FLOOR = 1e-17

# The truncation guides are drawn this many times above the data they follow.
GUIDE_OFFSET = 3.0

# A method whose relative error stays within this many machine epsilons (2.2e-16) over
# several steps is flat there: which of those steps has the smallest error is noise, so no
# single best ε is claimed (the complex step, for every small ε).
ROUNDOFF_FLOOR = 10.0

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
    2 for two-sided and complex step), on the left the rounding error grows as ε_mach/ε
    (slope −1) for every method that subtracts two values of f. Dashed reference lines of
    those slopes are drawn beside the data. Each method's best step (the largest ε with the
    smallest error) is marked with a star, and its value is in the legend; a method whose
    error sits at roundoff (≤ ROUNDOFF_FLOOR·ε_mach) for several steps, as the complex step does
    for every small ε, has no single best step: the range of those steps is marked instead
    ("any ε ≤ 1e-07"). Errors that are exactly zero, as the complex step often gives, are
    drawn at FLOOR (1e-17) so the log axis can show them. The legend sits to the right of
    the axes, off the curves.

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
    fig, ax = _figure_and_axes(ax, figsize=(10, 4.5))

    errors = {m: np.maximum(table[m][order], FLOOR) for m in methods}
    for method in methods:
        label = f"{LABEL[method]}: {_best_text(eps, errors[method])}"
        ax.plot(eps, errors[method], "o-", ms=3, color=COLOR[method], label=label)
        ax.lines[-1].set_gid(f"error:{method}")
    _draw_guides(ax, eps, errors, rounding=_rounding_scale(f, x, true_derivative))
    for method in methods:  # after every curve, so no curve hides a star
        _mark_best(ax, eps, errors[method], method)

    ax.set_xscale("log")
    ax.set_yscale("log")
    lowest = min(e.min() for e in errors.values())
    highest = max(e.max() for e in errors.values())
    ax.set_ylim(lowest / 1e3, max(highest * 10, 1.0))
    ax.set_xlabel("step ε")
    ax.set_ylabel("relative error |approx − f′(x)| / |f′(x)|")
    ax.set_title(f"ε sweep: d/dx {name}(x) at x = {x:g} (errors of 0 drawn at {FLOOR:.0e})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # off the curves
    return fig


def plot_report(report: GradCheckReport, ax: Axes | None = None) -> Figure:
    """Bars of each block's relative difference (log y) over the verdict bands.

    Bars are colored by the block's verdict; the background bands are the report's
    thresholds: correct below ``report.thresholds.correct``, wrong above
    ``report.thresholds.wrong``, suspicious in between. A difference of exactly 0 is
    drawn at FLOOR (1e-17). A block that was not checked (every entry crossed a kink, see
    gradlib.kinks) has no difference to draw: it gets a hatched gray bar over the whole
    height, labelled "unchecked: kinks", never a value at the floor. A block of which only
    some entries were left out as kinks says how many under its value ("2 excused: kink").

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
    checked = np.array([b.verdict != UNCHECKED for b in report.blocks])
    heights = np.maximum([b.relative_difference for b in report.blocks], FLOOR)
    correct, wrong = report.thresholds.correct, report.thresholds.wrong
    low = min(correct / 100, np.min(heights[checked], initial=np.inf) / 10)
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
    blocks = [b for b, c in zip(report.blocks, checked, strict=True) if c]
    bars = ax.bar(
        positions[checked],
        heights[checked],
        color=[VERDICT_COLORS[b.verdict] for b in blocks],
        edgecolor="k",
        linewidth=0.5,
    )
    for bar, block in zip(bars, blocks, strict=True):
        bar.set_gid(f"bar:{block.name}")
    excused = _kinks_per_block(report)
    labels = [
        f"{b.relative_difference:.1e}"
        + (f"\n{excused[b.name]} excused: kink" if excused.get(b.name) else "")
        for b in blocks
    ]
    ax.bar_label(bars, labels=labels, fontsize=8, padding=2)
    _draw_unchecked(ax, report, positions[~checked], (low, high))

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


def _kinks_per_block(report: GradCheckReport) -> dict[str, int]:
    """How many entries of each block were left out of its verdict as kinks."""
    counts: dict[str, int] = {}
    for label in report.kinks:
        name = label.split("[")[0]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _draw_unchecked(ax: Axes, report: GradCheckReport, positions, span) -> None:
    """Hatched full-height bars for the blocks no entry of which was checked."""
    unchecked = [b for b in report.blocks if b.verdict == UNCHECKED]
    if not unchecked:
        return
    low, high = span
    color = VERDICT_COLORS[UNCHECKED]
    bars = ax.bar(positions, high - low, bottom=low, fill=False, hatch="//", edgecolor=color,
                  linewidth=0.8)  # fmt: skip
    bars.set_label("unchecked: every entry crossed a kink")
    middle = np.sqrt(low * high)  # the middle of a log axis
    for bar, block, x in zip(bars, unchecked, positions, strict=True):
        bar.set_gid(f"bar:{block.name}")
        box = {"fc": "white", "ec": "none", "pad": 1}
        text = ax.text(x, middle, "unchecked: kinks", rotation=90, ha="center", va="center",
                       fontsize=8, color=color, bbox=box)  # fmt: skip
        text.set_gid(f"unchecked:{block.name}")


def _draw_guides(ax: Axes, eps: np.ndarray, errors: dict, rounding: float) -> None:
    """Dashed truncation guides (slope = order) and the dotted rounding guide rounding/ε."""
    methods = list(errors)
    # Truncation: parallel to the data right of the anchor method's best ε, drawn
    # GUIDE_OFFSET times above it so the guide does not hide the data.
    for slope in sorted({ORDER[m] for m in methods}):
        anchor = next(m for m in methods if ORDER[m] == slope)
        right = eps >= eps[_best_range(errors[anchor])[1]]
        guide = GUIDE_OFFSET * errors[anchor][-1] * (eps[right] / eps[-1]) ** slope
        power = {1: "", 2: "²", 4: "⁴"}[slope]
        label = f"O(ε{power}) truncation: slope {slope}"
        ax.plot(eps[right], guide, "--", lw=1, color="0.4", label=label)
        ax.lines[-1].set_gid(f"reference:slope{slope}")
    subtracting = [m for m in methods if m != "complex"]  # the complex step has no floor
    if subtracting:
        left = eps <= 10 * max(eps[_best_range(errors[m])[1]] for m in subtracting)
        label = "rounding ε_mach·|f|/(ε·|f′|): slope −1"
        ax.plot(eps[left], rounding / eps[left], ":", lw=1.5, color="0.2", label=label)
        ax.lines[-1].set_gid("reference:rounding")


def _mark_best(ax: Axes, eps: np.ndarray, errors: np.ndarray, method: str) -> None:
    """A star at the method's best step; where its error is flat at roundoff, a band under
    the whole flat range instead (gid "flat:METHOD"). The step itself is in the legend."""
    low, high = _best_range(errors)
    if low < high:
        level = FLOOR / 3  # just under the floor, where no curve runs
        ax.plot(eps[[low, high]], [level, level], "-", lw=6, alpha=0.5, color=COLOR[method],
                solid_capstyle="butt", zorder=4)  # fmt: skip
        ax.lines[-1].set_gid(f"flat:{method}")
        ax.lines[-1].set_label(f"_flat range of {method}")  # leading "_": not in the legend
        return
    ax.plot(eps[high], errors[high], "*", ms=14, color=COLOR[method], mec="k", zorder=4)
    ax.lines[-1].set_gid(f"best:{method}")
    ax.lines[-1].set_label(f"_best ε for {method}")


def _best_text(eps: np.ndarray, errors: np.ndarray) -> str:
    """ "best ε ≈ 1e-05", or "any ε ≤ 1e-07 (flat at roundoff)" for a flat method."""
    low, high = _best_range(errors)
    if low == high:
        return f"best ε ≈ {eps[high]:.0e}"
    if low == 0:
        return f"any ε ≤ {eps[high]:.0e} (flat at roundoff)"
    return f"any ε from {eps[low]:.0e} to {eps[high]:.0e} (flat at roundoff)"


def _rounding_scale(f: Callable, x: float, true_derivative: float) -> float:
    """ε_mach·|f(x)| / |f′(x)|: rounding error of a difference quotient times ε (relative):
    f(x ± ε) and f(x) each rounded by up to u = ε_mach / 2 (01-derivatives' names)."""
    eps_mach = float(np.finfo(float).eps)
    return eps_mach * abs(float(np.real(f(x)))) / abs(true_derivative)


def _figure_and_axes(ax: Axes | None, figsize=(7, 4.5)) -> tuple[Figure, Axes]:
    if ax is not None:
        if not isinstance(ax, Axes):
            raise GradCheckError(
                f"ax must be a matplotlib Axes (e.g. fig.add_subplot()) or None, got "
                f"{type(ax).__name__}."
            )
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _best_range(errors: np.ndarray) -> tuple[int, int]:
    """(first, last) index of the best steps (errors sorted by step).

    One step, first == last, the largest with the smallest error, when the error has a
    minimum; when two or more steps are at roundoff (≤ ROUNDOFF_FLOOR·u), the minimum among
    them is noise, and the range runs over the contiguous steps at roundoff around the
    smallest error.
    """
    best = _best(errors)
    at_floor = errors <= ROUNDOFF_FLOOR * np.finfo(float).eps
    if not at_floor[best]:
        return best, best
    low = high = best
    while low > 0 and at_floor[low - 1]:
        low -= 1
    while high < len(errors) - 1 and at_floor[high + 1]:
        high += 1
    return low, high


def _best(errors: np.ndarray) -> int:
    """Index of the largest step with the smallest error (errors sorted by step)."""
    return int(np.flatnonzero(errors == errors.min())[-1])


__all__ = ["FLOOR", "plot_eps_sweep", "plot_report"]


# --- the layout of θ (02) ----------------------------------------------------------------

# One color per parameter block, in θ order (cycled past eight blocks).
BLOCK_COLORS = (
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:olive",
)


def plot_theta_layout(params: dict, axes: tuple[Axes, Axes] | None = None) -> Figure:
    """Where each parameter lands in θ: the blocks cell by cell (top), θ as a strip (bottom).

    Each cell of a block shows its index in θ; each cell of the strip names the parameter
    it holds (``spec.label(i)``, e.g. "W1[2, 0]"). The layout is params_to_vector's own:
    blocks flattened row by row, stacked in θ order (W1, b1, W2, b2, ...). Meant for small
    networks (a few dozen parameters): every entry gets a labelled cell.

    Cells carry gids "cell:W1[0, 1]" (top) and "theta:7" (bottom).

    Parameters
    ----------
    params : dict name -> array, W1 (n_1, n_0), b1 (n_1, 1), ..., WL, bL
    axes : (top, bottom) axes to draw into; None creates a figure

    Returns
    -------
    Figure : the figure holding the axes
    """
    _, spec = params_to_vector(params)
    if axes is None:
        fig = Figure(figsize=(10, 4.4), layout="constrained")
        top, bottom = fig.subplots(2, 1, height_ratios=[3, 1.6])
    else:
        pair = tuple(axes) if isinstance(axes, tuple | list) else ()
        if len(pair) != 2 or not all(isinstance(a, Axes) for a in pair):
            raise GradCheckError(
                f"axes must be a pair (top, bottom) of matplotlib Axes or None, got {axes!r}; "
                "e.g. fig.subplots(2, 1)."
            )
        (top, bottom), fig = pair, pair[0].figure
    colors = {name: BLOCK_COLORS[k % len(BLOCK_COLORS)] for k, name in enumerate(spec.names)}
    grids = {name: _rows_cols(shape) for name, shape in zip(spec.names, spec.shapes, strict=True)}
    height = max(rows for rows, _ in grids.values())

    left = 0
    for name, offset in zip(spec.names, spec.offsets, strict=True):
        rows, cols = grids[name]
        for r in range(rows):
            for c in range(cols):
                i = offset + r * cols + c
                cell = top.add_patch(
                    Rectangle(
                        (left + c, height - 1 - r),
                        1,
                        1,
                        facecolor=colors[name],
                        alpha=0.35,
                        edgecolor="black",
                    )
                )
                cell.set_gid(f"cell:{spec.label(i)}")
                top.text(
                    left + c + 0.5,
                    height - 0.5 - r,
                    f"θ[{i}]",
                    ha="center",
                    va="center",
                    fontsize=9,
                )
        top.text(
            left + cols / 2,
            height + 0.25,
            f"{name}  {tuple(spec.shapes[spec.names.index(name)])}",
            ha="center",
            fontsize=11,
        )
        left += cols + 1
    top.set_xlim(-0.2, left - 0.8)
    top.set_ylim(-0.1, height + 0.7)
    top.set_aspect("equal")
    top.axis("off")

    for i in range(spec.size):
        name, _ = spec.locate(i)
        cell = bottom.add_patch(
            Rectangle((i, 0), 1, 1, facecolor=colors[name], alpha=0.35, edgecolor="black")
        )
        cell.set_gid(f"theta:{i}")
        bottom.text(
            i + 0.5, 0.5, spec.label(i), ha="center", va="center", fontsize=7.5, rotation=90
        )
        bottom.text(i + 0.5, -0.25, f"θ[{i}]", ha="center", va="center", fontsize=8)
    bottom.set_xlim(-0.2, spec.size + 0.2)
    bottom.set_ylim(-0.5, 1.05)
    bottom.axis("off")
    parts = [f"{n} row by row" if grids[n][1] > 1 else n for n in spec.names]
    fig.suptitle(f"θ = [{', '.join(parts)}]", fontsize=12)
    return fig


def _rows_cols(shape: tuple[int, ...]) -> tuple[int, int]:
    """A block's shape as the (rows, columns) of its drawing; 1-D blocks are one row."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    return 1, int(np.prod(shape))


# --- backprop's error flow (04) ----------------------------------------------------------

# Bugs plot_error_flow can plant at one step of layer l's backward pass, with their labels.
BUGS = {
    "dW": "dW[l] × 2",
    "db": "db[l] × 2",
    "dZ": "dZ[l] × 2",
    "mask": "dZ[l] = dA[l] (g′ forgotten)",
    "dA_prev": "dA[l−1] × 2",
}


def backprop_steps(
    params: dict,
    X,
    Y,
    hidden: str = "relu",
    lambd: float = 0.0,
    bug: str | None = None,
    layer: int | None = None,
) -> list[dict]:
    """The lectures' backward pass, one layer at a time, with every intermediate kept.

    Conventions of notebook 04 (sigmoid output, cross-entropy): dZ[L] = A[L] − Y;
    dZ[l] = dA[l] ⊙ g′(Z[l]); dW[l] = dZ[l] A[l−1]ᵀ / m + (λ/m) W[l];
    db[l] = Σ_examples dZ[l] / m; dA[l−1] = W[l]ᵀ dZ[l]. The forward pass is gradlib.nn's.

    Parameters
    ----------
    params : W1 (n_1, n_x), b1 (n_1, 1), ..., WL (1, n_{L-1}), bL (1, 1)
    X : (n_x, m) inputs; Y : (1, m) labels in {0, 1}
    hidden : activation of the hidden layers (gradlib.layers.HIDDEN)
    lambd : L2 strength λ ≥ 0
    bug : None, or a key of BUGS, planted in layer ``layer``'s step

    Returns
    -------
    list of L dicts, entry l − 1 for layer l: "dA" (n_l, m) (None for layer L), "dZ" (n_l, m),
    "dW" (n_l, n_{l-1}), "db" (n_l, 1), "dA_prev" (n_{l-1}, m)
    """
    AL, caches = nn.forward(X, params, hidden=hidden)
    Y = np.asarray(Y, dtype=float)
    L, m = len(caches), AL.shape[1]
    if bug is not None:
        _check_bug(bug, layer, L)
    steps: list[dict] = [{} for _ in range(L)]
    dA = None
    for j in range(L, 0, -1):
        planted = bug if j == layer else None
        A_prev, W, _ = caches[j - 1]["linear"]
        if j == L:
            dZ = AL - Y
        elif planted == "mask":
            dZ = dA
        else:
            dZ = activation_backward(dA, caches[j - 1]["activation"])
        if planted == "dZ":
            dZ = 2 * dZ
        dW = dZ @ A_prev.T / m + lambd / m * W
        db = np.sum(dZ, axis=1, keepdims=True) / m
        dA_prev = W.T @ dZ
        factor = {k: 2.0 if planted == k else 1.0 for k in ("dW", "db", "dA_prev")}
        steps[j - 1] = {
            "dA": dA,
            "dZ": dZ,
            "dW": factor["dW"] * dW,
            "db": factor["db"] * db,
            "dA_prev": factor["dA_prev"] * dA_prev,
        }
        dA = steps[j - 1]["dA_prev"]
    return steps


def _check_bug(bug: str, layer, L: int) -> None:
    if bug not in BUGS:
        raise GradCheckError(f"unknown bug {bug!r}; choose one of {', '.join(BUGS)}.")
    lowest, highest = (2 if bug == "dA_prev" else 1), (L - 1 if bug == "mask" else L)
    if not (isinstance(layer, int) and lowest <= layer <= highest):
        why = {"mask": " (layer L has no hidden activation)", "dA_prev": " (dA[0] goes nowhere)"}
        raise GradCheckError(
            f"bug {bug!r} needs a layer from {lowest} to {highest}{why.get(bug, '')} in this "
            f"{L}-layer network, got layer={layer!r}."
        )


def _grads(steps: list[dict]) -> dict[str, np.ndarray]:
    return {f"d{k}{j}": steps[j - 1][f"d{k}"] for j in range(1, len(steps) + 1) for k in ("W", "b")}


def plot_backprop_flow(
    params: dict, X, Y, hidden: str = "relu", lambd: float = 0.0, ax: Axes | None = None
) -> Figure:
    """A diagram of backprop on this network, with the size of every signal it passes back.

    One box per layer, the input X on the left and the cost J on the right. Gray arrows run
    the forward pass left to right (each layer keeps its cache: A[l−1], W[l], b[l], Z[l]);
    red arrows carry the error signal back, right to left: dZ[L] = A[L] − Y from the cost,
    then dA[l−1] = W[l]ᵀ dZ[l] from layer to layer. Below each box, the gradients the
    layer hands out, dW[l] and db[l]. The Frobenius norms ‖·‖ are those of backprop_steps
    on (X, Y): how large the error signal is at each stage.

    Artists carry gids "layer:2", "forward:A1", "backward:dA1", "backward:dZ3", "grads:2", and
    each norm's text "norm:dZ2", "norm:dA1", "norm:dW2", "norm:db2".

    Parameters
    ----------
    params : W1 (n_1, n_x), b1 (n_1, 1), ..., WL (1, n_{L-1}), bL (1, 1)
    X : (n_x, m) inputs; Y : (1, m) labels
    hidden : activation of the hidden layers; lambd : L2 strength λ
    ax : axes to draw into; None creates a figure

    Returns
    -------
    Figure : the figure holding the axes
    """
    steps = backprop_steps(params, X, Y, hidden=hidden, lambd=lambd)
    L = len(steps)
    if ax is None:
        fig = Figure(figsize=(3.0 * (L + 2), 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig, ax = _figure_and_axes(ax)
    width, gap = 2.6, 2.4  # a box, and the room for the arrows between boxes
    x = {j: j * (width + gap) for j in range(0, L + 2)}  # left edges; 0 is X, L+1 is J
    top, bottom = 1.9, 0.0
    red, gray = "tab:red", "0.45"

    def norm(name, value, xy, **kw):
        text = ax.text(*xy, f"‖{name}‖ = {np.linalg.norm(value):.2e}", fontsize=8, **kw)
        text.set_gid("norm:" + name.replace("[", "").replace("]", "").replace("−", ""))

    def arrow(start, end, color, gid, style="-|>"):
        a = ax.annotate(
            "", xy=end, xytext=start, arrowprops={"arrowstyle": style, "color": color, "lw": 2}
        )
        a.set_gid(gid)

    ax.text(
        x[0] + width - 0.6,
        (top + bottom) / 2,
        "X = A[0]",
        ha="center",
        va="center",
        fontsize=11,
        bbox={"boxstyle": "round", "fc": "white", "ec": gray},
    )
    ax.text(
        x[L + 1] + 0.9,
        (top + bottom) / 2,
        "J(θ)",
        ha="center",
        va="center",
        fontsize=12,
        bbox={"boxstyle": "round", "fc": "white", "ec": gray},
    )
    for j in range(1, L + 1):
        g = "σ" if j == L else hidden
        box = ax.add_patch(
            FancyBboxPatch(
                (x[j], bottom),
                width,
                top - bottom,
                boxstyle="round,pad=0.05",
                fc="#f6f8fa",
                ec="0.3",
            )
        )
        box.set_gid(f"layer:{j}")
        ax.text(
            x[j] + width / 2,
            top - 0.12,
            f"layer {j}",
            ha="center",
            va="top",
            fontsize=10,
            weight="bold",
        )
        ax.text(
            x[j] + width / 2,
            top - 0.45,
            f"Z = W A + b,  A = {g}(Z)\ncache: A[{j - 1}], W, b, Z",
            ha="center",
            va="top",
            fontsize=8,
            color=gray,
        )
        rule = "dZ = A − Y" if j == L else f"dZ = dA ⊙ {g}′(Z)"
        ax.text(
            x[j] + width / 2, bottom + 0.75, rule, ha="center", va="center", fontsize=8, color=red
        )
        norm(
            f"dZ[{j}]",
            steps[j - 1]["dZ"],
            (x[j] + width / 2, bottom + 0.45),
            ha="center",
            va="center",
            color=red,
        )
        # forward: A[l-1] into layer l
        y_fwd = top - 0.25
        arrow((x[j - 1] + width + 0.05, y_fwd), (x[j] - 0.08, y_fwd), gray, f"forward:A{j - 1}")
        ax.text(
            (x[j - 1] + width + x[j]) / 2,
            y_fwd + 0.08,
            f"A[{j - 1}]",
            ha="center",
            va="bottom",
            fontsize=8,
            color=gray,
        )
        # backward: dA[l-1] out of layer l (dA[0] is computed but goes nowhere)
        if j > 1:
            y_bwd = bottom + 0.3
            arrow(
                (x[j] - 0.08, y_bwd), (x[j - 1] + width + 0.08, y_bwd), red, f"backward:dA{j - 1}"
            )
            ax.text(
                (x[j - 1] + width + x[j]) / 2,
                y_bwd + 0.1,
                f"dA[{j - 1}] = W[{j}]ᵀ dZ[{j}]",
                ha="center",
                va="bottom",
                fontsize=7,
                color=red,
            )
            norm(
                f"dA[{j - 1}]",
                steps[j - 1]["dA_prev"],
                ((x[j - 1] + width + x[j]) / 2, y_bwd - 0.1),
                ha="center",
                va="top",
                color=red,
            )
        # the gradients this layer hands out
        arrow(
            (x[j] + width / 2, bottom - 0.08), (x[j] + width / 2, bottom - 0.55), red, f"grads:{j}"
        )
        reg = " + λW/m" if lambd else ""
        ax.text(
            x[j] + width / 2,
            bottom - 0.62,
            f"dW[{j}] = dZ A[{j - 1}]ᵀ/m{reg}\ndb[{j}] = Σ dZ / m",
            ha="center",
            va="top",
            fontsize=8,
        )
        norm(
            f"dW[{j}]", steps[j - 1]["dW"], (x[j] + width / 2, bottom - 1.05), ha="center", va="top"
        )
        norm(
            f"db[{j}]", steps[j - 1]["db"], (x[j] + width / 2, bottom - 1.3), ha="center", va="top"
        )
    y_fwd = top - 0.25
    arrow((x[L] + width + 0.08, y_fwd), (x[L + 1] + 0.5, y_fwd), gray, f"forward:A{L}")
    ax.text(
        (x[L] + width + x[L + 1] + 0.5) / 2,
        y_fwd + 0.08,
        f"A[{L}]",
        ha="center",
        va="bottom",
        fontsize=8,
        color=gray,
    )
    y_bwd = bottom + 0.3
    arrow((x[L + 1] + 0.5, y_bwd), (x[L] + width + 0.08, y_bwd), red, f"backward:dZ{L}")
    ax.text(
        (x[L] + width + x[L + 1] + 0.5) / 2,
        y_bwd + 0.1,
        "dA[L] = −Y/A + (1−Y)/(1−A)",
        ha="center",
        va="bottom",
        fontsize=7,
        color=red,
    )

    ax.set_xlim(x[0] + width - 1.4, x[L + 1] + 1.5)
    ax.set_ylim(bottom - 1.6, top + 0.5)
    ax.axis("off")
    ax.set_title(
        "Backprop: the forward pass (gray) keeps a cache per layer; the error signal (red) "
        "flows back from J to layer 1",
        fontsize=10,
    )
    return fig


def plot_error_flow(
    params: dict,
    X,
    Y,
    layer: int = 2,
    bugs=tuple(BUGS),
    hidden: str = "relu",
    lambd: float = 0.0,
    ax: Axes | None = None,
) -> Figure:
    """Where a bug planted in one step of backprop shows up in a gradient check.

    Row by row, one bug of BUGS is planted in layer ``layer``'s step of backprop_steps
    (the first row plants none), and the gradient is checked with gradlib.netgrad's
    check_network (the numeric gradient of the reference network, which knows where ReLU's
    kinks are and never calls a kink wrong). Each cell is one block's relative
    difference, colored by its verdict; the block where the bug was planted is framed.
    A bug in dW[l] or db[l] stays in its block; a bug in dZ[l] reaches dW[l], db[l] and
    every layer below; a bug in dA[l−1] only the layers below: errors flow backward along
    dA and dZ, the way backprop's signal does.

    Cells carry gids "cell:dZ:dW1" (bug, block; bug "none" for the first row) and the frames
    "planted:dZ".

    Parameters
    ----------
    params : W1 (n_1, n_x), b1 (n_1, 1), ..., WL (1, n_{L-1}), bL (1, 1)
    X : (n_x, m) inputs; Y : (1, m) labels
    layer : the layer l whose step gets the bug
    bugs : keys of BUGS, one row each
    hidden : activation of the hidden layers; lambd : L2 strength λ
    ax : axes to draw into; None creates a figure

    Returns
    -------
    Figure : the figure holding the axes
    """
    L = len(nn.forward(X, params, hidden=hidden)[1])
    if not isinstance(bugs, tuple | list) or not bugs:
        raise GradCheckError(f"bugs must be a tuple of some of {', '.join(BUGS)}, got {bugs!r}.")
    for bug in bugs:
        _check_bug(bug, layer, L)

    rows = [("none", "no bug")] + [
        (b, BUGS[b].replace("[l", f"[{layer}").replace(f"[{layer}−1]", f"[{layer - 1}]"))
        for b in bugs
    ]
    blocks = [f"{k}{j}" for j in range(1, L + 1) for k in ("W", "b")]
    if ax is None:
        fig = Figure(figsize=(1.1 * len(blocks) + 3, 0.55 * len(rows) + 1.6), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig, ax = _figure_and_axes(ax)
    for r, (bug, _) in enumerate(rows):
        steps = backprop_steps(
            params, X, Y, hidden, lambd, bug=None if bug == "none" else bug, layer=layer
        )
        report = check_network(params, X, Y, _grads(steps), hidden=hidden, lambd=lambd)
        for c, name in enumerate(blocks):
            result = report.block(name)
            color = VERDICT_COLORS[result.verdict]
            cell = ax.add_patch(Rectangle((c, r), 1, 1, fc=color, alpha=0.3, ec="white"))
            cell.set_gid(f"cell:{bug}:d{name}")
            difference = max(result.relative_difference, FLOOR)
            ax.text(
                c + 0.5,
                r + 0.5,
                f"{difference:.0e}",
                ha="center",
                va="center",
                fontsize=8,
                color=color,
                weight="bold",
            )
        where = {"dW": f"W{layer}", "db": f"b{layer}", "dZ": f"W{layer}", "mask": f"W{layer}"}
        if bug in where:
            span = 1 if bug in ("dW", "db") else 2  # dZ feeds both dW[l] and db[l]
            frame = ax.add_patch(
                Rectangle((blocks.index(where[bug]), r), span, 1, fill=False, ec="k", lw=2)
            )
            frame.set_gid(f"planted:{bug}")
        elif bug == "dA_prev":  # dA[l-1] enters layer l-1: frame its left edge
            frame = ax.add_patch(
                Rectangle(
                    (blocks.index(f"W{layer - 1}"), r), 2, 1, fill=False, ec="k", lw=2, ls="--"
                )
            )
            frame.set_gid(f"planted:{bug}")
    ax.set_xlim(0, len(blocks))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks(np.arange(len(blocks)) + 0.5, [f"d{b}" for b in blocks])
    ax.set_yticks(np.arange(len(rows)) + 0.5, [label for _, label in rows])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_xlabel("← toward the input            block of the gradient            output →")
    handles = [Rectangle((0, 0), 1, 1, fc=VERDICT_COLORS[v], alpha=0.3) for v in VERDICTS]
    ax.legend(
        handles,
        VERDICTS,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        title="grad check",
        title_fontsize=8,
    )
    ax.set_title(
        f"One bug in layer {layer}'s backward step: which blocks does the check flag?", fontsize=10
    )
    return fig


__all__ += ["BUGS", "backprop_steps", "plot_backprop_flow", "plot_error_flow", "plot_theta_layout"]
