"""01-derivatives: are differences, slopes and best steps scored right, with the right reason?"""

import numpy as np
import pytest

from autograder.assignments import derivatives
from autograder.harness import Unreadable

TASKS = derivatives.TASKS
ONE, TWO = TASKS["test_one_sided"], TASKS["test_two_sided"]
SLOPE, BEST = TASKS["test_loglog_slope"], TASKS["test_best_eps"]
SEEDS = [2024, 1, 7, 123456789]


def _at_points(inputs, formula):
    """A student's answer: ``formula(f, x, eps)`` at each secret point."""
    f, _ = derivatives._functions(inputs)
    return [formula(f, float(x), float(e)) for x, e in zip(inputs["x"], inputs["eps"], strict=True)]


def forward(f, x, e):
    return (f(x + e) - f(x)) / e


def central(f, x, e):
    return (f(x + e) - f(x - e)) / (2 * e)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_right_formulas_earn_full_points(seed):
    inputs = ONE.draw(seed)
    for task, formula in [(ONE, forward), (TWO, central)]:
        score = task.score(_at_points(inputs, formula), inputs, 2.0)
        assert score.points == 2.0 and score.full, score.lines
        assert score.lines[0].startswith("✓") and "all 3 test points" in score.lines[0]


MISTAKES = [
    (ONE, lambda f, x, e: (f(x) - f(x - e)) / e, "backward difference"),
    (ONE, lambda f, x, e: (f(x + e) - f(x - e)) / (2 * e), "this is the two-sided difference"),
    (ONE, lambda f, x, e: (f(x + e) - f(x)) / (2 * e), "ε apart, not 2ε"),
    (ONE, lambda f, x, e: (f(x) - f(x + e)) / e, "wrong sign"),
    (ONE, lambda f, x, e: f(x + e) - f(x), "forgot to divide by ε"),
    (ONE, lambda f, x, e: f(x + e) - f(x) / e, "operator precedence"),
    (TWO, lambda f, x, e: (f(x + e) - f(x - e)) / e, "2ε apart"),
    (TWO, lambda f, x, e: (f(x + e) - f(x)) / e, "this is the one-sided difference"),
    (TWO, lambda f, x, e: (f(x) - f(x - e)) / e, "this is the backward difference"),
    (TWO, lambda f, x, e: (f(x - e) - f(x + e)) / (2 * e), "wrong sign"),
    (TWO, lambda f, x, e: (f(x + e) - f(x - e)) / 2 * e, "operator precedence"),
    (TWO, lambda f, x, e: f(x + e) - f(x - e), "forgot to divide by 2ε"),
]


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize(("task", "formula", "reason"), MISTAKES)
def test_each_typical_mistake_earns_nothing_and_is_named(task, formula, reason, seed):
    inputs = task.draw(seed)
    score = task.score(_at_points(inputs, formula), inputs, 2.0)
    assert score.points == 0.0
    assert len(score.lines) == 1 and score.lines[0].startswith("✗")
    assert reason in score.lines[0], score.lines[0]
    assert "yours" in score.lines[0] and "expected" in score.lines[0]


def test_a_two_sided_difference_with_half_steps_earns_half():
    inputs = TWO.draw(3)
    score = TWO.score(_at_points(inputs, lambda f, x, e: central(f, x, e / 2)), inputs, 2.0)
    assert score.points == 1.0
    assert "x ± ε/2" in score.lines[0]


@pytest.mark.parametrize("task", [ONE, TWO])
def test_a_step_of_ones_own_instead_of_eps_is_named(task):
    inputs = task.draw(4)
    _, df = derivatives._functions(inputs)
    score = task.score([df(x) for x in inputs["x"]], inputs, 2.0)
    assert score.points == 0.0
    assert "Use the ε you are given" in score.lines[0]


def test_an_unrecognised_value_still_says_how_far_off_it_is():
    inputs = ONE.draw(5)
    answer = [v * 1.01 for v in _at_points(inputs, forward)]
    line = ONE.score(answer, inputs, 2.0).lines[0]
    assert line.startswith("✗") and "relative difference 1.0e-02" in line


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "forget the `return`"),
        (float("nan"), "returned nan"),
        ((1.0, 2.0), "got 2 numbers"),
        ("3.0", "got a str"),
        (Unreadable("Thing", "Thing()", "no float"), "returned a Thing"),
    ],
)
def test_values_that_are_not_one_finite_number_earn_zero(bad, reason):
    inputs = ONE.draw(6)
    answer = _at_points(inputs, forward)
    answer[1] = bad
    score = ONE.score(answer, inputs, 2.0)
    assert score.points == 0.0 and reason in score.lines[0], score.lines


def test_a_call_that_returned_nothing_usable_earns_zero():
    inputs = ONE.draw(6)
    assert ONE.score(None, inputs, 2.0).points == 0.0
    assert BEST.score(Unreadable("X", "X()", "no"), BEST.draw(6), 2.0).points == 0.0


# --- loglog_slope -------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_the_least_squares_slope_earns_full_points(seed):
    inputs = SLOPE.draw(seed)
    mine = np.polyfit(np.log(inputs["eps"]), np.log(inputs["errors"]), 1)[0]  # any one base
    score = SLOPE.score(float(mine), inputs, 2.0)
    assert score.full and score.lines[0].startswith("✓")


def _slope_variants(inputs):
    lx, ly = np.log10(inputs["eps"]), np.log10(inputs["errors"])
    return {
        "intercept": (np.polyfit(lx, ly, 1)[1], "that is the intercept"),
        "ln/log10": (np.polyfit(lx, np.log(inputs["errors"]), 1)[0], "mixed logarithms"),
        "log10/ln": (np.polyfit(np.log(inputs["eps"]), ly, 1)[0], "mixed logarithms"),
        "swapped": (np.polyfit(ly, lx, 1)[0], "the axes are swapped"),
        "no logs": (np.polyfit(inputs["eps"], inputs["errors"], 1)[0], "fit the logarithms"),
        "sign": (-np.polyfit(lx, ly, 1)[0], "wrong sign"),
    }


@pytest.mark.parametrize(
    "mistake", ["intercept", "ln/log10", "log10/ln", "swapped", "no logs", "sign"]
)
def test_each_slope_mistake_earns_nothing_and_is_named(mistake):
    inputs = SLOPE.draw(11)
    value, reason = _slope_variants(inputs)[mistake]
    score = SLOPE.score(float(value), inputs, 2.0)
    assert score.points == 0.0 and reason in score.lines[0], score.lines


def test_both_polyfit_coefficients_earn_nothing_but_point_at_the_slope():
    inputs = SLOPE.draw(12)
    coefficients = np.polyfit(np.log10(inputs["eps"]), np.log10(inputs["errors"]), 1)
    score = SLOPE.score(coefficients, inputs, 2.0)
    assert score.points == 0.0
    assert "return the slope only ([0] is the slope)" in score.lines[0]


def test_a_slope_from_the_two_end_points_earns_half():
    inputs = SLOPE.draw(13)
    e, E = inputs["eps"], inputs["errors"]
    ends = np.log10(E[-1] / E[0]) / np.log10(e[-1] / e[0])
    score = SLOPE.score(float(ends), inputs, 2.0)
    assert score.points == 1.0 and "two end points" in score.lines[0]


def test_slope_draws_mix_orders_and_directions():
    draws = [SLOPE.draw(s) for s in range(40)]
    slopes = [derivatives._fits(d)["slope"] for d in draws]
    assert min(slopes) < 1.5 and max(slopes) > 3.0
    assert {bool(d["eps"][0] < d["eps"][-1]) for d in draws} == {True, False}


# --- best_eps -----------------------------------------------------------------------


def _sweep(inputs, formula, per_decade=10):
    """What a student writes: the step of smallest error on a grid from 1e-15 to 1e-1."""
    f, df = derivatives._functions(inputs)
    x = inputs["x"]
    steps = np.logspace(-15, -1, 14 * per_decade + 1)
    errors = [abs(formula(f, x, e) - df(x)) for e in steps]
    return float(steps[np.argmin(errors)])


def _cases(inputs):
    return [inputs[k] for k in sorted(inputs)]


@pytest.mark.parametrize("seed", range(12))
def test_a_sweep_of_either_density_finds_the_best_steps(seed):
    inputs = BEST.draw(seed)
    for per_decade in (5, 20):
        answer = [[_sweep(case, forward, per_decade), _sweep(case, central, per_decade)]
                  for case in _cases(inputs)]  # fmt: skip
        score = BEST.score(answer, inputs, 2.0)
        assert score.full, score.lines


def test_no_rule_of_thumb_passes_on_any_students_draw():
    # √u and ∛u, their round numbers and their |x|-scaled forms: no sweep, no points.
    u = derivatives.U
    for seed in range(200):
        inputs = BEST.draw(seed)
        for rule in ([np.sqrt(u), np.cbrt(u)], [1e-8, 1e-5]):
            answer = [[rule[0] * scale, rule[1] * scale] for case in _cases(inputs)
                      for scale in [1.0, max(1.0, abs(case["x"]))]][::2]  # fmt: skip
            for scaled in (False, True):
                if scaled:
                    answer = [[r * max(1.0, abs(c["x"])) for r in rule] for c in _cases(inputs)]
                score = BEST.score(answer, inputs, 2.0)
                assert score.points == 0.0, (seed, answer, score.lines)


def test_no_constant_step_passes_for_more_than_a_few_students():
    # For each method, the share of 200 students for whom one constant step is right on all
    # their functions (the scorer's own criterion), for constants half a decade apart.
    steps = np.logspace(-14, -2, 25)
    for method in ("forward", "central"):
        hits = np.zeros(steps.size, int)
        for seed in range(200):
            right = np.ones(steps.size, bool)
            for case in _cases(BEST.draw(seed)):
                grid, errors, best, bottom = derivatives.v_curve(case, method)
                err = np.interp(np.log10(steps), np.log10(grid), errors)
                right &= [derivatives.fits(e, r, best, bottom)
                          for e, r in zip(steps, err, strict=True)]  # fmt: skip
            hits += right
        # measured: at most 22 of 200 (11 %) for the luckiest constant, vs all before
        assert hits.max() <= 25, (method, steps[hits.argmax()], hits.max())


@pytest.mark.parametrize(
    ("answer", "points", "reasons"),
    [
        ([1e-4, 1e-7], 0.0, ["one-sided: your ε = 0.0001", "truncation side", "rounding side"]),
        ([1e-12, 1e-2], 0.0, ["rounding side", "truncation side", "ε²·|f'''|/6"]),
        ([6e-6, 1.5e-8], 0.0, ["one-sided: your ε = 6e-06", "truncation side", "rounding"]),
        ([1e-4, 1e-4], 0.0, ["the same ε for both methods"]),
        ([17.0, 1e-5], 1.0, ["an index into your grid"]),
        ([-1e-8, 1e-5], 1.0, ["not a small positive step"]),
        ([1e-20, 1e-5], 1.0, ["rounds back to x"]),
        ([1e-8, float("nan")], 1.0, ["returned nan"]),
    ],
)
def test_a_wrong_step_says_which_side_of_the_v_it_is_on(answer, points, reasons):
    inputs = _cases(BEST.draw(21))[0]
    inputs["x"] = inputs.pop("x0")  # the unstretched function: its V sits at the rules of thumb
    inputs.pop("scale")
    score = derivatives._score_case(answer, inputs, 2.0)
    assert score.points == points, score.lines
    text = "\n".join(score.lines)
    for reason in reasons:
        assert reason in text, text
    assert "The bottom of the V is near ε ≈" in text or "nan" in text


def test_the_bottom_of_the_v_follows_the_rules_of_thumb():
    # One-sided near √u·sqrt(|f|/|f''|), two-sided near ∛u·cbrt(|f|/|f'''|): within a decade.
    for inputs in (case for seed in range(3) for case in _cases(BEST.draw(seed))):
        f, _ = derivatives._functions(inputs)
        s = inputs["scale"]
        f2, f3 = derivatives._poly_sin_higher(inputs["coef"], inputs["x0"])
        f2, f3 = f2 / s**2, f3 / s**3  # the chain rule through the stretch
        u, fx = derivatives.U, abs(f(inputs["x"]))
        model = {"forward": 2 * np.sqrt(u * fx / abs(f2)), "central": np.cbrt(3 * u * fx / abs(f3))}
        for method, expected in model.items():
            best = derivatives.v_curve(inputs, method)[2]
            assert abs(np.log10(best / expected)) < 1.0, (inputs, method, best, expected)


# --- the draws and the in-kernel calls -------------------------------------------------


def _flat(inputs: dict, prefix: str = "") -> dict:
    """A draw with its nested cases spelled out as "0.coef", "0.x", ..."""
    out = {}
    for key, value in inputs.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict)
                   else {prefix + key: value})  # fmt: skip
    return out


@pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))
def test_draws_are_reproducible_per_seed_and_differ_between_students(task):
    a, b, c = (_flat(task.draw(seed)) for seed in (99, 99, 100))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        assert isinstance(a[key], float | np.ndarray)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


SOLUTION = """
import numpy as np
import autograder
import gradlib

def one_sided_difference(f, x, eps):
    return (f(x + eps) - f(x)) / eps

def two_sided_difference(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)

def loglog_slope(eps, errors):
    return np.polyfit(np.log10(eps), np.log10(errors), 1)[0]

def best_eps(f, df, x, method):
    d = {"one-sided": one_sided_difference, "two-sided": two_sided_difference}[method]
    steps = np.logspace(-15, -1, 141)
    return steps[np.argmin([abs(d(f, x, e) - df(x)) for e in steps])]

results = {name: autograder.check(name) for name in
           ["one_sided_difference", "two_sided_difference", "loglog_slope", "best_eps"]}
"""


def _self_checks(code, **names):
    namespace = dict(names)
    exec(code, namespace)
    return namespace["results"]


def test_the_kernel_builds_the_graders_function_and_a_solution_passes():
    results = _self_checks(SOLUTION)
    assert all(r.passed for r in results.values()), {k: r.summary() for k, r in results.items()}


def test_the_self_check_in_the_kernel_names_the_mistake():
    code = SOLUTION.replace("/ (2 * eps)", "/ eps")
    results = _self_checks(code)
    assert results["one_sided_difference"].passed
    assert not results["two_sided_difference"].passed
    assert "2ε apart" in results["two_sided_difference"].summary()


def test_gradlib_numeric_derivatives_inside_best_eps_earn_nothing(in_box):
    code = SOLUTION.replace(
        "d(f, x, e) - df(x)",
        "gradlib.derivative(f, x, eps=e, method={'one-sided': 'forward'}.get(method, 'central'))"
        " - df(x)",
    )
    score = in_box(TASKS["test_best_eps"], code, 3, 2.0)
    assert score.points == 0.0
    assert "Shortcuts earn nothing" in "\n".join(score.lines)
