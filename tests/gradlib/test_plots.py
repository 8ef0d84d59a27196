"""Do the plots draw the V-curve and the per-block differences that the numbers say?"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from gradlib import BlockResult, GradCheckError, GradCheckReport, check_gradients  # noqa: E402
from gradlib.gradcheck import thresholds  # noqa: E402
from gradlib.numdiff import error_sweep  # noqa: E402
from gradlib.plots import FLOOR, plot_eps_sweep, plot_report  # noqa: E402
from gradlib.report import VERDICT_COLORS  # noqa: E402
from gradlib.unroll import ParamSpec  # noqa: E402


@pytest.fixture
def figures():
    """Figures made by a test, closed afterwards even when it fails."""
    made = []
    yield made
    for fig in made:
        plt.close(fig)
        fig.clear()


def _by_gid(ax, prefix):
    return {a.get_gid(): a for a in ax.get_children() if (a.get_gid() or "").startswith(prefix)}


def _slope(xs, ys):
    return np.polyfit(np.log10(xs), np.log10(ys), 1)[0]


# --- the ε sweep -------------------------------------------------------------------------


def test_sweep_draws_one_curve_per_method_and_the_three_guides(figures):
    fig = plot_eps_sweep()
    figures.append(fig)
    (ax,) = fig.axes
    assert sorted(_by_gid(ax, "error:")) == ["error:central", "error:complex", "error:forward"]
    assert sorted(_by_gid(ax, "reference:")) == [
        "reference:rounding",
        "reference:slope1",
        "reference:slope2",
    ]
    assert sorted(_by_gid(ax, "best:")) == ["best:central", "best:forward"]
    assert sorted(_by_gid(ax, "flat:")) == ["flat:complex"]  # flat at roundoff: no best
    assert len(ax.lines) == 9  # 3 curves + 3 guides + 2 best-ε stars + 1 flat range
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "one-sided (f(x+ε) − f(x)) / ε: best ε ≈ 3e-09",
        "two-sided (f(x+ε) − f(x−ε)) / 2ε: best ε ≈ 1e-05",
        "complex step Im f(x+iε) / ε: any ε ≤ 1e-07 (flat at roundoff)",
        "O(ε) truncation: slope 1",
        "O(ε²) truncation: slope 2",
        "rounding ε_mach·|f|/(ε·|f′|): slope −1",
    ]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "ε" in ax.get_xlabel() and "relative error" in ax.get_ylabel()


def _four_methods():
    def wobble(x):
        return np.exp(x / 2) * np.sin(2 * x)

    exact = np.exp(0.35) * (0.5 * np.sin(1.4) + 2 * np.cos(1.4))
    methods = ("forward", "central", "richardson", "complex")
    return plot_eps_sweep(wobble, 0.7, true_derivative=exact, methods=methods)


def test_four_methods_put_their_best_steps_in_the_legend_not_on_top_of_each_other(figures):
    # Four "best ε≈…" texts next to the stars overlapped: the steps are in the legend, which
    # sits outside the axes, and the axes carry no text of their own.
    fig = _four_methods()
    figures.append(fig)
    ax = fig.axes[0]
    assert len(ax.texts) == 0  # annotate() adds its labels to ax.texts too
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for method in ("one-sided", "two-sided", "Richardson"):
        (entry,) = [t for t in legend if t.startswith(method)]
        assert ": best ε ≈ " in entry, entry
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    box, frame = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.x0 >= frame.x1  # beside the axes, over no curve
    stars = _by_gid(ax, "best:")
    assert sorted(stars) == ["best:central", "best:forward", "best:richardson"]


def test_a_method_flat_at_roundoff_claims_no_single_best_step(figures):
    # The complex step's error is 0 or one rounding unit for every ε ≤ 3e-8: any of those
    # steps is as good, and the argmin among them is noise.
    fig = _four_methods()
    figures.append(fig)
    ax = fig.axes[0]
    assert "best:complex" not in _by_gid(ax, "best:")
    curve = _by_gid(ax, "error:")["error:complex"]
    xs, ys = curve.get_xdata(), curve.get_ydata()
    at_roundoff = xs[ys <= 10 * np.finfo(float).eps]
    band = _by_gid(ax, "flat:")["flat:complex"]
    assert tuple(band.get_xdata()) == (xs[0], at_roundoff.max())  # the whole flat range
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    (entry,) = [t for t in legend if t.startswith("complex")]
    assert entry.endswith(f"any ε ≤ {at_roundoff.max():.0e} (flat at roundoff)"), entry
    assert "best" not in entry


def test_a_sweep_that_stops_above_roundoff_still_has_a_best_step(figures):
    # Above 1e-6 the complex step's error is its truncation error, a clear minimum.
    fig = plot_eps_sweep(methods=("complex",), eps_values=np.logspace(-6, -1, 11))
    figures.append(fig)
    ax = fig.axes[0]
    assert sorted(_by_gid(ax, "best:")) == ["best:complex"] and not _by_gid(ax, "flat:")


def test_sweep_curves_are_the_numbers_of_error_sweep(figures):
    eps = np.logspace(-12, -2, 11)
    fig = plot_eps_sweep(np.sin, 1.2, np.cos(1.2), eps_values=eps[::-1])  # any order
    figures.append(fig)
    table = error_sweep(np.sin, 1.2, np.cos(1.2), eps_values=eps)
    curves = _by_gid(fig.axes[0], "error:")
    for method in ("forward", "central", "complex"):
        np.testing.assert_array_equal(curves[f"error:{method}"].get_xdata(), eps)
        np.testing.assert_array_equal(
            curves[f"error:{method}"].get_ydata(), np.maximum(table[method], FLOOR)
        )


def test_best_steps_are_where_the_lectures_put_them(figures):
    # One-sided: ε* ≈ √u ≈ 1e-8; two-sided: ε* ≈ ∛u ≈ 1e-5 (exp at 0.7: f = f′ = f″).
    fig = plot_eps_sweep()
    figures.append(fig)
    ax = fig.axes[0]
    curves, stars = _by_gid(ax, "error:"), _by_gid(ax, "best:")
    for method, expected in [("forward", 1e-8), ("central", 1e-5)]:
        xs, ys = curves[f"error:{method}"].get_xdata(), curves[f"error:{method}"].get_ydata()
        at_minimum = xs[np.argmin(ys)]
        assert abs(np.log10(at_minimum) - np.log10(expected)) <= 1, (method, at_minimum)
        star_x, star_y = stars[f"best:{method}"].get_xdata(), stars[f"best:{method}"].get_ydata()
        assert star_y[0] == ys.min() and star_x[0] in xs


def test_truncation_side_has_slopes_one_and_two(figures):
    fig = plot_eps_sweep()
    figures.append(fig)
    ax = fig.axes[0]
    curves = _by_gid(ax, "error:")
    for method, order, start in [("forward", 1, 1e-4), ("central", 2, 1e-3), ("complex", 2, 1e-3)]:
        xs, ys = curves[f"error:{method}"].get_xdata(), curves[f"error:{method}"].get_ydata()
        right = xs >= start
        assert _slope(xs[right], ys[right]) == pytest.approx(order, abs=0.1), method
    guides = _by_gid(ax, "reference:")
    for gid, slope in [("slope1", 1), ("slope2", 2), ("rounding", -1)]:
        line = guides[f"reference:{gid}"]
        assert _slope(line.get_xdata(), line.get_ydata()) == pytest.approx(slope, abs=1e-9)


def test_rounding_guide_follows_the_one_sided_floor(figures):
    # Left of the best step, the one-sided error is rounding noise of size ~u/ε.
    fig = plot_eps_sweep()
    figures.append(fig)
    ax = fig.axes[0]
    forward = _by_gid(ax, "error:")["error:forward"]
    guide = _by_gid(ax, "reference:")["reference:rounding"]
    xs, ys = forward.get_xdata(), forward.get_ydata()
    left = xs <= 1e-10
    expected = np.interp(np.log10(xs[left]), np.log10(guide.get_xdata()), guide.get_ydata())
    ratio = np.median(ys[left] / expected)
    assert 0.1 < ratio < 30, ratio


def test_exact_complex_step_does_not_break_the_log_axis(figures):
    fig = plot_eps_sweep()
    figures.append(fig)
    ax = fig.axes[0]
    ys = _by_gid(ax, "error:")["error:complex"].get_ydata()
    assert np.all(np.isfinite(ys)) and ys.min() == FLOOR  # exact results sit on the floor
    assert ax.get_ylim()[0] < FLOOR
    fig.canvas.draw()  # renders without a log-scale error


def test_sweep_draws_into_a_given_axes(figures):
    fig, (left, right) = plt.subplots(1, 2)
    figures.append(fig)
    returned = plot_eps_sweep(np.sin, 0.3, np.cos(0.3), methods=("central",), ax=right)
    assert returned is fig
    assert len(left.lines) == 0 and len(_by_gid(right, "error:")) == 1
    assert sorted(_by_gid(right, "reference:")) == ["reference:rounding", "reference:slope2"]


def test_complex_step_alone_has_no_rounding_guide(figures):
    fig = plot_eps_sweep(methods=("complex",))
    figures.append(fig)
    assert sorted(_by_gid(fig.axes[0], "reference:")) == ["reference:slope2"]


def test_plotting_does_not_register_a_pyplot_figure(figures):
    before = plt.get_fignums()
    figures.append(plot_eps_sweep())
    assert plt.get_fignums() == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"f": np.sin, "x": 1.0}, "true_derivative"),
        ({"methods": ("central", "secant")}, "methods must be"),
        ({"eps_values": [1e-3, -1e-3]}, "positive"),
    ],
)
def test_sweep_errors_say_what_to_pass(kwargs, message):
    with pytest.raises(GradCheckError, match=message):
        plot_eps_sweep(**kwargs)


# --- the per-block report ----------------------------------------------------------------


def _report(differences, verdicts=None):
    """A report with the given relative difference per block, verdicts from the thresholds."""
    limits = thresholds()
    shapes = {"W1": (3, 2), "b1": (3, 1), "W2": (1, 3), "b2": (1, 1), "W3": (1, 1)}
    names = list(shapes)[: len(differences)]
    spec = ParamSpec.from_shapes({n: shapes[n] for n in names})
    blocks = tuple(
        BlockResult(
            name=n,
            shape=shapes[n],
            relative_difference=d,
            verdict=limits.verdict(d),
            worst=(),
            analytic=np.zeros(shapes[n]),
            numeric=np.zeros(shapes[n]),
        )
        for n, d in zip(names, differences, strict=True)
    )
    return GradCheckReport(
        difference=max(differences),
        blocks=blocks,
        eps=6e-6,
        method="central",
        dtype="float64",
        thresholds=limits,
        evaluations=1,
        spec=spec,
        theta=np.zeros(spec.size),
    )


def test_bars_are_the_block_differences_colored_by_verdict(figures):
    report = _report([2e-11, 3e-5, 0.4, 5e-9])
    fig = plot_report(report)
    figures.append(fig)
    ax = fig.axes[0]
    bars = _by_gid(ax, "bar:")
    assert list(bars) == ["bar:W1", "bar:b1", "bar:W2", "bar:b2"]
    for block in report.blocks:
        bar = bars[f"bar:{block.name}"]
        assert bar.get_height() == block.relative_difference
        assert bar.get_facecolor() == to_rgba(VERDICT_COLORS[block.verdict])
    assert [b.verdict for b in report.blocks] == ["correct", "suspicious", "wrong", "correct"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["dW1", "db1", "dW2", "db2"]
    assert ax.get_yscale() == "log"


def test_bands_are_the_report_thresholds(figures):
    report = _report([1e-9, 1e-2])
    fig = plot_report(report)
    figures.append(fig)
    ax = fig.axes[0]
    bands = _by_gid(ax, "band:")
    low, high = ax.get_ylim()

    def span(name):
        y0, y1 = bands[f"band:{name}"].get_y(), bands[f"band:{name}"].get_y()
        return y0, y1 + bands[f"band:{name}"].get_height()

    correct, wrong = report.thresholds.correct, report.thresholds.wrong
    assert span("correct") == pytest.approx((low, correct))
    assert span("suspicious") == pytest.approx((correct, wrong))
    assert span("wrong") == pytest.approx((wrong, high))
    for verdict in ("correct", "suspicious", "wrong"):
        assert bands[f"band:{verdict}"].get_facecolor()[:3] == to_rgba(VERDICT_COLORS[verdict])[:3]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["correct ≤ 1e-07", "suspicious", "wrong ≥ 1e-03"]


def test_exact_block_is_drawn_on_the_floor(figures):
    fig = plot_report(_report([0.0, 1e-3]))
    figures.append(fig)
    ax = fig.axes[0]
    assert _by_gid(ax, "bar:")["bar:W1"].get_height() == FLOOR
    assert ax.get_ylim()[0] < FLOOR
    fig.canvas.draw()


def test_an_unchecked_block_is_a_hatched_bar_not_a_value_at_the_floor(figures):
    # Every entry of b1 crossed a kink (given as kinks=): nothing of it was checked, so it
    # gets no difference to draw; two entries of W1 were left out, the rest checked.
    rng = np.random.default_rng(0)
    params = {"W1": rng.normal(size=(3, 2)), "b1": rng.normal(size=(3, 1))}
    grads = {"d" + k: v.copy() for k, v in params.items()}
    kinks = np.zeros(9, bool)
    kinks[[0, 1, 6, 7, 8]] = True  # W1[0, 0], W1[0, 1] and all of b1

    def cost(p):
        return float(sum(np.sum(v**2) / 2 for v in p.values()))

    report = check_gradients(cost, params, grads, kinks=kinks)
    assert report.block("b1").verdict == "unchecked"
    fig = plot_report(report)
    figures.append(fig)
    ax = fig.axes[0]
    bar = _by_gid(ax, "bar:")["bar:b1"]
    low, high = ax.get_ylim()
    assert (bar.get_y(), bar.get_y() + bar.get_height()) == pytest.approx((low, high))
    assert bar.get_hatch() and not bar.get_fill()
    assert _by_gid(ax, "unchecked:")["unchecked:b1"].get_text() == "unchecked: kinks"
    assert low < report.thresholds.correct / 10 and low > FLOOR  # no room made for a floor value
    labels = [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_legend().get_texts()]
    assert "unchecked: every entry crossed a kink" in labels
    assert not any("1.0e-17" in t for t in labels)
    value = f"{report.block('W1').relative_difference:.1e}"
    assert [t for t in labels if t.startswith(value)] == [f"{value}\n2 excused: kink"]
    fig.canvas.draw()


def test_report_of_a_real_check_with_a_planted_bug(figures):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(3, 6))
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1))}

    def cost(p):
        return float(np.sum(np.tanh(p["W1"] @ X + p["b1"]) ** 2) / 2)

    A = np.tanh(params["W1"] @ X + params["b1"])
    dZ = A * (1 - A**2)
    grads = {"dW1": dZ @ X.T, "db1": 2 * dZ.sum(axis=1, keepdims=True)}  # bug: factor 2
    report = check_gradients(cost, params, grads)
    _, ax = plt.subplots()
    figures.append(ax.figure)
    assert plot_report(report, ax=ax) is ax.figure
    bars = _by_gid(ax, "bar:")
    assert bars["bar:W1"].get_facecolor() == to_rgba(VERDICT_COLORS["correct"])
    assert bars["bar:b1"].get_facecolor() == to_rgba(VERDICT_COLORS["wrong"])
    assert bars["bar:b1"].get_height() == report.block("b1").relative_difference
    assert "wrong" in ax.get_title()


# --- the layout of θ, backprop's flow and where a bug's error goes -------------------------

import re  # noqa: E402

from gradlib import nn, params_to_vector  # noqa: E402
from gradlib.plots import (  # noqa: E402
    backprop_steps,
    plot_backprop_flow,
    plot_error_flow,
    plot_theta_layout,
)


def _texts_at(ax, patch):
    """Texts drawn inside a Rectangle patch."""
    x, y = patch.get_xy()
    w, h = patch.get_width(), patch.get_height()
    return [
        t.get_text()
        for t in ax.texts
        if x < t.get_position()[0] < x + w and y < t.get_position()[1] < y + h
    ]


def test_theta_layout_shows_where_params_to_vector_puts_each_entry(figures):
    params = nn.init_params([2, 3, 1], seed=0)
    theta, spec = params_to_vector(params)
    fig = plot_theta_layout(params)
    figures.append(fig)
    top, bottom = fig.axes
    cells = _by_gid(top, "cell:")
    assert len(cells) == theta.size == 13
    for name, block in params.items():
        for (r, c), value in np.ndenumerate(block):
            (text,) = _texts_at(top, cells[f"cell:{name}[{r}, {c}]"])
            i = int(re.fullmatch(r"θ\[(\d+)\]", text)[1])
            assert theta[i] == value  # the cell's index in θ holds the cell's parameter
    strip = _by_gid(bottom, "theta:")
    assert sorted(strip, key=lambda g: int(g.split(":")[1])) == [f"theta:{i}" for i in range(13)]
    for i in range(theta.size):
        assert spec.label(i) in _texts_at(bottom, strip[f"theta:{i}"])
    assert fig._suptitle.get_text() == "θ = [W1 row by row, b1, W2 row by row, b2]"


def test_theta_layout_draws_into_given_axes_and_refuses_one_axes(figures):
    fig, axes = plt.subplots(2, 1)
    figures.append(fig)
    assert plot_theta_layout(nn.init_params([3, 2, 1], seed=1), axes=tuple(axes)) is fig
    assert len(_by_gid(axes[0], "cell:")) == 3 * 2 + 2 + 2 + 1
    with pytest.raises(GradCheckError, match="pair"):
        plot_theta_layout(nn.init_params([3, 2, 1], seed=1), axes=axes[0])


def _problem(seed=1, dims=(5, 4, 3, 1), m=8):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    return nn.init_params(list(dims), seed=seed), X, Y


def test_backprop_steps_give_the_reference_gradients_and_signals():
    params, X, Y = _problem()
    steps = backprop_steps(params, X, Y, lambd=0.7)
    reference = nn.network_gradients(params, X, Y, lambd=0.7)  # gradlib's own backward
    for layer in (1, 2, 3):
        np.testing.assert_allclose(steps[layer - 1]["dW"], reference[f"dW{layer}"], rtol=1e-12)
        np.testing.assert_allclose(steps[layer - 1]["db"], reference[f"db{layer}"], rtol=1e-12)
    AL, _ = nn.forward(X, params)
    np.testing.assert_allclose(steps[2]["dZ"], AL - Y)  # the lectures' dZ[L], without 1/m
    np.testing.assert_allclose(steps[1]["dA"], params["W3"].T @ (AL - Y))
    assert steps[2]["dA"] is None


@pytest.mark.parametrize(
    "bug, layer, message",
    [("dW", 4, "from 1 to 3"), ("mask", 3, "no hidden activation"), ("dA_prev", 1, "goes nowhere"),
     ("sign", 2, "unknown bug")],
)  # fmt: skip
def test_planting_a_bug_where_it_cannot_be_says_where_it_can(bug, layer, message):
    params, X, Y = _problem()
    with pytest.raises(GradCheckError, match=message):
        backprop_steps(params, X, Y, bug=bug, layer=layer)


def test_flow_diagram_prints_the_norms_of_the_signals_backprop_passes(figures):
    params, X, Y = _problem()
    fig = plot_backprop_flow(params, X, Y, lambd=0.7)
    figures.append(fig)
    (ax,) = fig.axes
    assert sorted(_by_gid(ax, "layer:")) == ["layer:1", "layer:2", "layer:3"]
    assert sorted(_by_gid(ax, "backward:")) == ["backward:dA1", "backward:dA2", "backward:dZ3"]
    assert sorted(_by_gid(ax, "forward:")) == [
        "forward:A0",
        "forward:A1",
        "forward:A2",
        "forward:A3",
    ]
    norms = {g[5:]: float(t.get_text().split("=")[1]) for g, t in _by_gid(ax, "norm:").items()}
    reference = nn.network_gradients(params, X, Y, lambd=0.7)
    AL, _ = nn.forward(X, params)
    expected = {f"d{k}{layer}": np.linalg.norm(reference[f"d{k}{layer}"])
                for layer in (1, 2, 3) for k in ("W", "b")}  # fmt: skip
    expected["dZ3"] = np.linalg.norm(AL - Y)
    expected["dA2"] = np.linalg.norm(params["W3"].T @ (AL - Y))
    for name, value in expected.items():
        assert norms[name] == pytest.approx(value, rel=5e-3), name
    assert {"dZ1", "dZ2", "dA1"} <= set(norms)
    fig.canvas.draw()


def test_error_flow_shows_which_blocks_each_planted_bug_reaches(figures):
    params, X, Y = _problem(seed=2, dims=(4, 5, 3, 2, 1), m=9)  # no unit at an exact kink
    fig = plot_error_flow(params, X, Y, layer=3, lambd=0.5)
    figures.append(fig)
    (ax,) = fig.axes
    cells = _by_gid(ax, "cell:")
    blocks = [f"d{k}{layer}" for layer in (1, 2, 3, 4) for k in ("W", "b")]
    wrong = {
        "none": set(),
        "dW": {"dW3"},
        "db": {"db3"},
        "dZ": {"dW1", "db1", "dW2", "db2", "dW3", "db3"},  # its layer and every layer below
        "mask": {"dW1", "db1", "dW2", "db2", "dW3", "db3"},
        "dA_prev": {"dW1", "db1", "dW2", "db2"},  # only the layers below
    }
    for bug, expected in wrong.items():
        for block in blocks:
            color = cells[f"cell:{bug}:{block}"].get_facecolor()[:3]
            verdict = "wrong" if block in expected else "correct"
            assert color == to_rgba(VERDICT_COLORS[verdict])[:3], (bug, block)
    assert sorted(_by_gid(ax, "planted:")) == sorted(f"planted:{b}" for b in wrong if b != "none")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["no bug", "dW[3] × 2", "db[3] × 2", "dZ[3] × 2",
                      "dZ[3] = dA[3] (g′ forgotten)", "dA[2] × 2"]  # fmt: skip
    fig.canvas.draw()


def test_error_flow_rows_can_be_chosen_and_drawn_into_an_axes(figures):
    params, X, Y = _problem()
    fig, ax = plt.subplots()
    figures.append(fig)
    assert plot_error_flow(params, X, Y, layer=1, bugs=("dW", "dZ"), ax=ax) is fig
    assert len(_by_gid(ax, "cell:")) == 3 * 6
    with pytest.raises(GradCheckError, match="needs a layer"):
        plot_error_flow(params, X, Y, layer=1, bugs=("dA_prev",))
