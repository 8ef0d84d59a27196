"""01-derivatives: one-sided vs two-sided differences, their error orders, the best step ε.

The secret function of every task is f(t) = c0 + c1 t + c2 t² + c3 t³ + c4 sin(c5 t) with
secret coefficients c. The kernel builds it from the same source as the grader
(``_poly_sin``), so both sides evaluate exactly the same f.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from autograder.harness import Unreadable
from autograder.tasks import Score, Task
from gradlib import derivative
from gradlib.numdiff import default_eps

ASSIGNMENT = "01-derivatives"

# A difference quotient that agrees with the formula to this relative tolerance is right:
# with ε ≥ 0.02 rounding moves it by ~1e-14, a wrong formula by ≥ 1e-6 (see _separated).
MATCH = 1e-9
# best_eps: an answer within this many decades of the bottom of the V is right ...
BAND_DECADES = 1.0
# ... and so is any ε whose error is at most this many times the V's (smoothed) minimum.
BOTTOM_FACTOR = 3.0
U = float(np.finfo(float).eps)


def _poly_sin(c, t, np):
    """The secret function: c0 + c1 t + c2 t² + c3 t³ + c4 sin(c5 t)."""
    return c[0] + c[1] * t + c[2] * t**2 + c[3] * t**3 + c[4] * np.sin(c[5] * t)


def _poly_sin_prime(c, t, np):
    """Its exact derivative."""
    return c[1] + 2 * c[2] * t + 3 * c[3] * t**2 + c[4] * c[5] * np.cos(c[5] * t)


def _poly_sin_higher(c, t):
    """(f'', f''') at t: the constants of the truncation errors."""
    f2 = 2 * c[2] + 6 * c[3] * t - c[4] * c[5] ** 2 * np.sin(c[5] * t)
    f3 = 6 * c[3] - c[4] * c[5] ** 3 * np.cos(c[5] * t)
    return float(f2), float(f3)


def _functions(inputs: dict):
    """f and f' of the inputs: the secret P, or (with ``scale``) t -> P(x0 + (t - x) / scale)."""
    c = np.asarray(inputs["coef"], dtype=float)
    s, arg = _stretch(inputs)
    return (lambda t: _poly_sin(c, arg(t), np)), (lambda t: _poly_sin_prime(c, arg(t), np) / s)


def _stretch(inputs: dict):
    """(scale, t -> argument of P): the identity unless the draw stretched the function."""
    if "scale" not in inputs:
        return 1.0, lambda t: t
    s, x0, x = float(inputs["scale"]), float(inputs["x0"]), float(inputs["x"])
    return s, lambda t: x0 + (t - x) / s


# In-kernel source: the same two functions, then _f and _df built from the secret coef.
_KERNEL_FUNCTIONS = (
    inspect.getsource(_poly_sin)
    + inspect.getsource(_poly_sin_prime)
    + """import numpy as _np
def _arg(_t):
    if "scale" not in _in:
        return _t
    return float(_in["x0"]) + (_t - float(_in["x"])) / float(_in["scale"])
_f = lambda _t: _poly_sin(_in["coef"], _arg(_t), _np)
_df = lambda _t: _poly_sin_prime(_in["coef"], _arg(_t), _np) / float(_in.get("scale", 1.0))
"""
)


def _coefficients(rng: np.random.Generator) -> np.ndarray:
    c = rng.uniform(-2.0, 2.0, size=6)
    c[5] = rng.uniform(0.5, 3.0) * rng.choice([-1.0, 1.0])
    return c


# --- one_sided_difference / two_sided_difference -------------------------------------


def _variants(f, x: float, e: float) -> dict[str, float]:
    """Every formula a student may write for a difference quotient, right or wrong."""
    fp, f0, fm = f(x + e), f(x), f(x - e)
    forward, backward, central = (fp - f0) / e, (f0 - fm) / e, (fp - fm) / (2 * e)
    return {
        "forward": forward,
        "backward": backward,
        "central": central,
        "forward/2": forward / 2,
        "-forward": -forward,
        "forward*eps": fp - f0,
        "precedence forward": fp - f0 / e,
        "2*central": 2 * central,
        "-central": -central,
        "central*eps": fp - fm,
        "precedence central": (fp - fm) / 2 * e,
        "half step": (f(x + e / 2) - f(x - e / 2)) / e,
    }


# What each wrong formula is, and where it goes wrong; never the formula to type instead.
_DIAGNOSIS = {
    "forward": {
        "backward": "this is the backward difference, through x − ε and x; the one-sided "
        "difference asked for steps forward, through x and x + ε.",
        "central": "this is the two-sided difference, through x − ε and x + ε; here the "
        "one-sided one, through x and x + ε, is asked for.",
        "forward/2": "half the right value: the divisor is the distance between the two "
        "points, and x and x + ε are ε apart, not 2ε.",
        "-forward": "the right size but the wrong sign: the two values are subtracted in "
        "the wrong order.",
        "forward*eps": "you forgot to divide by ε: f(x+ε) − f(x) is a rise, the slope is "
        "rise / run.",
        "precedence forward": "operator precedence: without parentheses around the "
        "difference, only f(x) is divided by ε.",
    },
    "central": {
        "2*central": "twice the right value: the divisor is the distance between the two "
        "points, and x − ε and x + ε are 2ε apart.",
        "forward": "this is the one-sided difference, through x and x + ε; the two-sided "
        "one goes through x − ε and x + ε.",
        "backward": "this is the backward difference, through x − ε and x; the two-sided "
        "one goes through x − ε and x + ε.",
        "-central": "the right size but the wrong sign: the two values are subtracted in "
        "the wrong order.",
        "central*eps": "you forgot to divide by 2ε: f(x+ε) − f(x−ε) is a rise over a run of 2ε.",
        "precedence central": "operator precedence: Python reads a / 2 * eps as "
        "(a / 2) * eps, so ε multiplies instead of dividing.",
    },
}
HALF_STEP = (
    "a valid two-sided difference, but through x ± ε/2 rather than the lecture's x ± ε "
    "(half points)."
)
NAMES = {"forward": "one_sided_difference", "central": "two_sided_difference"}
TRUNCATION = {"forward": "ε·f''/2", "central": "ε²·f'''/6"}


def _draw_difference(seed: int) -> dict:
    """Secret f (coef), three points x in [-1, 1] and steps ε in [0.02, 0.2].

    Redrawn until every wrong formula of _variants is far (relative 1e-6) from the right
    ones and from the exact derivative, so that a diagnosis is never ambiguous.
    """
    rng = np.random.default_rng(seed)
    while True:
        c = _coefficients(rng)
        x = rng.uniform(0.2, 1.0, size=3) * np.array([1.0, -1.0, rng.choice([-1.0, 1.0])])
        eps = 10 ** rng.uniform(-1.7, -0.7, size=3)
        inputs = {"coef": c, "x": x, "eps": eps}
        if _separated(inputs):
            return inputs


def _separated(inputs: dict) -> bool:
    f, df = _functions(inputs)
    for x, e in zip(inputs["x"], inputs["eps"], strict=True):
        values = [*_variants(f, float(x), float(e)).values(), df(x)]
        scale = max(abs(v) for v in values)
        gaps = np.abs(np.subtract.outer(values, values))[np.triu_indices(len(values), 1)]
        if scale < 0.3 or gaps.min() < 1e-6 * scale or abs(df(x)) < 0.3:
            return False
    return True


def _scalar(value, what: str) -> tuple[float | None, str]:
    """(float, "") for one finite number, else (None, why not)."""
    if value is None:
        return None, f"✗ {what} returned None: did you forget the `return`?"
    if isinstance(value, Unreadable):
        return None, f"✗ {what} returned a {value.type}, not a number ({value.why})."
    if isinstance(value, str | dict | set):
        return None, f"✗ {what} should return one number, got a {type(value).__name__}."
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None, f"✗ {what} should return one number, got a {type(value).__name__}."
    if arr.size != 1:
        return None, (
            f"✗ {what} should return one number, got {arr.size} numbers (shape {arr.shape})."
        )
    number = float(arr.reshape(()))
    if not math.isfinite(number):
        return None, f"✗ {what} returned {number}."
    return number, ""


def _close(a: float, b: float, rtol: float = MATCH) -> bool:
    return abs(a - b) <= rtol * max(abs(b), 1e-300)


def difference_scorer(method: str):
    """Score a difference quotient ("forward" or "central") at the three secret points."""
    name = NAMES[method]

    def score(value, inputs: dict, max_points: float) -> Score:
        f, df = _functions(inputs)
        points = list(zip(inputs["x"], inputs["eps"], strict=True))
        if not isinstance(value, list | tuple) or len(value) != len(points):
            return Score(0.0, max_points, [f"✗ {name} could not be called on the test points."])
        half = 0
        for (x, e), got in zip(points, value, strict=True):
            x, e = float(x), float(e)
            where = f"at x = {x:.4g}, ε = {e:.3g}"
            number, problem = _scalar(got, name)
            if problem:
                return Score(0.0, max_points, [f"{problem} ({where})"])
            right = derivative(f, x, eps=e, method=method)  # gradlib's reference
            if _close(number, right):
                continue
            variants = _variants(f, x, e)
            if method == "central" and _close(number, variants["half step"]):
                half += 1
                continue
            return Score(0.0, max_points, [_wrong(method, number, right, variants, df(x), where)])
        if half:
            return Score(max_points / 2, max_points, [f"? {name}: {HALF_STEP}"])
        x, e = points[0]
        return Score(max_points, max_points, [
            f"✓ {name} is right at all {len(points)} test points (e.g. at x = {x:.4g}, "
            f"ε = {e:.3g}: {derivative(f, float(x), eps=float(e), method=method):.10g})."
        ])  # fmt: skip

    return score


def _wrong(method: str, got: float, right: float, variants: dict, exact: float, where: str):
    name = NAMES[method]
    head = f"✗ {name} {where}: yours {got:.10g}, expected {right:.10g}"
    for key, why in _DIAGNOSIS[method].items():
        if _close(got, variants[key]):
            return f"{head} — {why}"
    if abs(got - exact) < 1e-3 * abs(right - exact):
        return (
            f"{head} — yours is (almost) the exact derivative {exact:.10g}, closer than any "
            f"difference with this ε can be (its truncation error is {TRUNCATION[method]}). "
            "Use the ε you are given, not a step of your own."
        )
    return f"{head} (relative difference {abs(got - right) / abs(right):.1e}). Check the formula."


def _call_difference(function: str) -> str:
    return _KERNEL_FUNCTIONS + (
        f'_out = [{function}(_f, float(_x), float(_e)) for _x, _e in zip(_in["x"], _in["eps"])]'
    )


# --- loglog_slope ------------------------------------------------------------------


def _draw_slope(seed: int) -> dict:
    """Errors C·ε^p with 15% noise over 1 to 3 decades of ε, in either order."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 15))
    eps = np.logspace(rng.uniform(-6.0, -4.0), rng.uniform(-2.5, -1.0), n)
    if rng.random() < 0.5:
        eps = eps[::-1].copy()
    p, C = rng.uniform(0.7, 4.5), 10 ** rng.uniform(-3.0, 1.0)
    errors = C * eps**p * np.exp(rng.normal(scale=0.15, size=n))
    return {"eps": eps, "errors": errors}


def _fits(inputs: dict) -> dict[str, float]:
    eps, errors = np.asarray(inputs["eps"]), np.asarray(inputs["errors"])
    lx, ly = np.log10(eps), np.log10(errors)
    slope, intercept = np.polyfit(lx, ly, 1)
    return {
        "slope": float(slope),
        "intercept": float(intercept),
        "-slope": -float(slope),
        "ln/log10": float(slope) * np.log(10),
        "log10/ln": float(slope) / np.log(10),
        "swapped": float(np.polyfit(ly, lx, 1)[0]),
        "no logs": float(np.polyfit(eps, errors, 1)[0]),
        "ends": float((ly[-1] - ly[0]) / (lx[-1] - lx[0])),
    }


_SLOPE_DIAGNOSIS = {
    "intercept": "that is the intercept: np.polyfit(x, y, 1) returns [slope, intercept].",
    "-slope": "the right size but the wrong sign: fit log(errors) against log(ε), both "
    "in the order given.",
    "ln/log10": "mixed logarithms: log of the errors with one base, of ε with another "
    "(np.log vs np.log10); use the same base for both.",
    "log10/ln": "mixed logarithms: log of the errors with one base, of ε with another "
    "(np.log vs np.log10); use the same base for both.",
    "swapped": "the axes are swapped: you fitted log ε against log error; fit "
    "log(errors) = slope · log(ε) + b.",
    "no logs": "a straight line through the raw values: fit the logarithms, "
    "log(errors) against log(ε).",
}


def _score_slope(value, inputs: dict, max_points: float) -> Score:
    fits = _fits(inputs)
    right = fits["slope"]
    if isinstance(value, list | tuple | np.ndarray) and np.size(value) == 2:
        first = float(np.ravel(np.asarray(value, dtype=float))[0])
        hint = " ([0] is the slope)" if _close(first, right, 1e-6) else ""
        return Score(0.0, max_points, [
            f"✗ loglog_slope returned two numbers; np.polyfit gives [slope, intercept]: "
            f"return the slope only{hint}."
        ])  # fmt: skip
    number, problem = _scalar(value, "loglog_slope")
    if problem:
        return Score(0.0, max_points, [problem])
    head = f"loglog_slope: yours {number:.6g}, least-squares slope {right:.6g}"
    if _close(number, right, 1e-6):
        return Score(max_points, max_points, [f"✓ {head}."])
    if _close(number, fits["ends"], 1e-6):
        return Score(max_points / 2, max_points, [
            f"? {head} — you used only the two end points; fit all the points by least "
            "squares, on the logs, so that one noisy point weighs less (half "
            "points)."
        ])  # fmt: skip
    for key, why in _SLOPE_DIAGNOSIS.items():
        if _close(number, fits[key], 1e-6):
            return Score(0.0, max_points, [f"✗ {head} — {why}"])
    return Score(0.0, max_points, [
        f"✗ {head}. Fit a straight line to (log ε, log error) by least squares."
    ])  # fmt: skip


# --- best_eps ------------------------------------------------------------------------

METHOD = {"one-sided": "forward", "two-sided": "central"}
RULE = {"forward": ("√u", default_eps("forward")), "central": ("∛u", default_eps("central"))}
GRID = np.logspace(-15, -1, 701)  # 50 steps per decade
SMOOTH = 25  # ± this many grid steps (half a decade) in the running mean of log errors


CASES = 3  # stretched functions per student: one constant step cannot fit them all
STRETCH = (1.3, 3.0)  # decades the bottom of the V moves from the rules of thumb, either way


def _draw_best(seed: int) -> dict:
    """CASES secret functions ("0", "1", ...), each stretched by its own 10^±(1.3..3)."""
    rng = np.random.default_rng(seed)
    return {str(k): _draw_case(rng) for k in range(CASES)}


def _draw_case(rng: np.random.Generator) -> dict:
    """Secret f (coef) and x0 with |x0| in [0.3, 1] and |f|, |f''|, |f'''| ≥ 0.3 there."""
    while True:
        c = _coefficients(rng)
        x = float(rng.uniform(0.3, 1.0) * rng.choice([-1.0, 1.0]))
        f, df = _functions({"coef": c})
        f2, f3 = _poly_sin_higher(c, x)
        if min(abs(f(x)), abs(df(x)), abs(f2), abs(f3)) >= 0.3:
            # Stretched around a point of size ~1: the bottom of the V moves that many
            # decades from √u and ∛u (and from √u·|x|), so only a sweep finds it.
            scale = float(10 ** (rng.choice([-1.0, 1.0]) * rng.uniform(*STRETCH)))
            at = float(rng.uniform(0.3, 1.0) * rng.choice([-1.0, 1.0]))
            case = {"coef": c, "x": at, "x0": x, "scale": scale}
            if not _a_rule_fits(case):
                return case


def _a_rule_fits(case: dict) -> bool:
    """Would a rule of thumb (√u, ∛u, 1e-8, 1e-5, or those times |x|) pass on this case?"""
    f, df = _functions(case)
    for method, rules in (("forward", (RULE["forward"][1], 1e-8)),
                          ("central", (RULE["central"][1], 1e-5))):  # fmt: skip
        _, _, best, bottom = v_curve(case, method)
        steps = [r * k for r in rules for k in (1.0, max(1.0, abs(case["x"])))]
        errors = _relative_errors(f, df, case["x"], np.array(steps), method)
        if any(fits(eps, error, best, bottom) for eps, error in zip(steps, errors, strict=True)):
            return True
    return False


def fits(eps: float, error: float, best: float, bottom: float) -> bool:
    """Is a step right: within BAND_DECADES of the V's bottom, or as good as the bottom?"""
    return abs(math.log10(eps / best)) <= BAND_DECADES or error <= BOTTOM_FACTOR * bottom


def _relative_errors(f, df, x: float, steps: np.ndarray, method: str) -> np.ndarray:
    """|difference - f'(x)| / |f'(x)| for each step, shape (k,).

    The plain formulas the students write, not gradlib's derivative (which rounds the step
    to the one actually taken): on the rounding side the errors depend on the last bits,
    and the student's lucky steps must be lucky here too.
    """
    formula = _FORMULAS[method]
    return np.array([abs(formula(f, x, e) - df(x)) for e in steps]) / abs(df(x))


_FORMULAS = {
    "forward": lambda f, x, e: (f(x + e) - f(x)) / e,
    "central": lambda f, x, e: (f(x + e) - f(x - e)) / (2 * e),
}


def v_curve(inputs: dict, method: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(steps, relative errors, ε at the bottom of the V, smoothed error there).

    The bottom is the argmin of a running mean of log errors over ±half a decade: the
    raw errors on the rounding side jitter, and a lucky step can be far from the bottom.
    """
    f, df = _functions(inputs)
    errors = _relative_errors(f, df, inputs["x"], GRID, method)
    logs = np.log10(np.maximum(errors, 1e-17))
    kernel = np.ones(2 * SMOOTH + 1) / (2 * SMOOTH + 1)
    smooth = np.convolve(np.pad(logs, SMOOTH, mode="edge"), kernel, mode="valid")
    k = int(np.argmin(smooth))
    return GRID, errors, float(GRID[k]), float(10 ** smooth[k])


def _score_best(value, inputs: dict, max_points: float) -> Score:
    """Each method's half of the points when its step is right for every one of the cases."""
    cases = [inputs[k] for k in sorted(inputs)]
    if not isinstance(value, list | tuple) or len(value) != len(cases):
        return Score(0.0, max_points, ["✗ best_eps could not be called for every function."])
    scores = [_score_case(v, c, max_points) for v, c in zip(value, cases, strict=True)]
    points = sum(max_points / 2 for label in METHOD if all(sc.blocks.get(label) for sc in scores))
    lines = [f"f{k + 1}: {line}" for k, sc in enumerate(scores) for line in sc.lines]
    if 0 < sum(sc.points for sc in scores) and points < max_points:
        lines.append(f"✗ a method earns its point only when its step is right for all "
                     f"{len(cases)} functions: each has its own best step.")  # fmt: skip
    return Score(points, max_points, lines)


def _score_case(value, inputs: dict, max_points: float) -> Score:
    """One function: each method's step judged; ``blocks`` says which methods were right."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return Score(0.0, max_points, ["✗ best_eps could not be called for both methods."])
    f, df = _functions(inputs)
    x = inputs["x"]
    points, lines, right = 0.0, [], {}
    for label, got in zip(METHOD, value, strict=True):
        number, problem = _scalar(got, f'best_eps(f, df, x, "{label}")')
        if problem:
            lines.append(problem)
            continue
        good, line = _judge_step(number, f, df, x, METHOD[label], inputs)
        points += max_points / 2 if good else 0.0
        right[label] = good
        lines.append(line)
    answers = [_scalar(v, "")[0] for v in value]
    if points < max_points and answers[0] is not None and answers[0] == answers[1]:
        lines.append(
            "✗ you returned the same ε for both methods: their best steps differ by about "
            "two decades (√u ≈ 1.5e-8 vs ∛u ≈ 6e-6 times a scale of f)."
        )
    return Score(points, max_points, lines, right)


def _judge_step(eps: float, f, df, x: float, method: str, inputs: dict) -> tuple[bool, str]:
    """(right?, feedback line) for one method's answer ``eps``."""
    label = {"forward": "one-sided", "central": "two-sided"}[method]
    rule, rule_eps = RULE[method]
    _, _, best, bottom = v_curve(inputs, method)
    head = f"{label}: your ε = {eps:.2g}"
    where = (
        f"The bottom of the V is near ε ≈ {best:.1g} (relative error ≈ {bottom:.1g}; "
        f"{rule} ≈ {rule_eps:.1g})."
    )
    if eps <= 0 or eps >= 1:
        index = eps >= 1 and float(eps).is_integer()
        kind = " (an index into your grid of steps? Return the step itself)" if index else ""
        return False, f"✗ {head} is not a small positive step{kind}. {where}"
    if x + eps == x or x - eps == x:
        return False, (
            f"✗ {head} is so small that x ± ε rounds back to x = {x:.6g}: the difference is 0 "
            f"and says nothing about f'. {where}"
        )
    error = float(_relative_errors(f, df, x, np.array([eps]), method)[0])
    decades = math.log10(eps / best)
    if fits(eps, error, best, bottom):
        return True, f"✓ {head} gives a relative error of {error:.1g}. {where}"
    if decades < 0:
        pair = "f(x+ε) and f(x)" if method == "forward" else "f(x+ε) and f(x−ε)"
        why = (
            "on the rounding side of the V: there the error ≈ u·|f|/ε grows as ε shrinks, "
            f"because {pair} agree in more and more digits. Try larger steps."
        )
    else:
        trunc = "ε·|f''|/2" if method == "forward" else "ε²·|f'''|/6"
        why = f"on the truncation side of the V: there the error ≈ {trunc} grows with ε. "
        why += "Try smaller steps."
    mine = NAMES[method]
    return False, (
        f"✗ {head} gives a relative error of {error:.1g}, {error / bottom:.0f}× the bottom: "
        f"it is {why} {where} (If best_eps uses your {mine}, make sure that one passes its "
        "own check first.)"
    )


TASKS = {
    "test_one_sided": Task(
        grade_id="test_one_sided",
        function="one_sided_difference",
        call=_call_difference("one_sided_difference"),
        draw=_draw_difference,
        score=difference_scorer("forward"),
    ),
    "test_two_sided": Task(
        grade_id="test_two_sided",
        function="two_sided_difference",
        call=_call_difference("two_sided_difference"),
        draw=_draw_difference,
        score=difference_scorer("central"),
    ),
    "test_loglog_slope": Task(
        grade_id="test_loglog_slope",
        function="loglog_slope",
        call="""_out = loglog_slope(_in["eps"], _in["errors"])""",
        draw=_draw_slope,
        score=_score_slope,
    ),
    "test_best_eps": Task(
        grade_id="test_best_eps",
        function="best_eps",
        call=_KERNEL_FUNCTIONS
        + """_out = []
for _in in [_in[_k] for _k in sorted(_in)]:  # _f and _df read the current _in
    _out.append([best_eps(_f, _df, float(_in["x"]), "one-sided"),
                 best_eps(_f, _df, float(_in["x"]), "two-sided")])""",
        draw=_draw_best,
        score=_score_best,
        needs=("one_sided_difference", "two_sided_difference"),
    ),
}
