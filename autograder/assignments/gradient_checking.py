"""03-gradient-checking: the relative difference, the grad-check loop, verdicts, a planted bug.

Every answer is judged against gradlib: ``relative_diff`` against
``gradlib.relative_difference``, ``grad_check`` against ``gradlib.numerical_gradient`` (same
ε) on a secret cost J(θ) = Σ tanh(Aθ + d) + c‖θ‖² built in the kernel, ``verdict`` against
``gradlib.thresholds()``. The kernel also logs every θ at which the student's loop evaluated
J, so the feedback can say *how* the loop went wrong (one-sided, θ_i not restored, wrong step).
"""

from __future__ import annotations

import re

import numpy as np

from autograder.harness import Unreadable
from autograder.tasks import Score, Task, case_answers, kind_of, not_implemented, per_case_call
from gradlib import nn, numerical_gradient, relative_difference, thresholds
from gradlib.unroll import grads_to_vector, params_to_vector

ASSIGNMENT = "03-gradient-checking"

RTOL = 1e-9  # relative_diff, and the two-sided loop against gradlib's, agree to rounding
DIFFERENCE_RTOL = 1e-6  # the difference returned by grad_check against the one recomputed
MOVED = 1e-12  # an entry of θ (|θ_i| < 1) further than this from its value was moved

# What would answer for the student in each task (see Task.forbidden).
NO_RELATIVE_DIFFERENCE = (
    "gradlib.relative_difference",
    "gradlib.gradcheck.relative_difference",
    "gradlib.verdicts.relative_difference",
)
NO_CHECK_GRADIENTS = ("gradlib.check_gradients", "gradlib.gradcheck.check_gradients")
NO_THRESHOLDS = (
    "gradlib.thresholds",
    "gradlib.gradcheck.thresholds",
    "gradlib.verdicts",
    "gradlib.report.Thresholds.verdict",
)


# --- relative_diff ----------------------------------------------------------------------


def _draw_relative(seed: int) -> dict:
    """Five pairs: close vectors, matrices, large column vectors, one zero, both zero."""
    rng = np.random.default_rng(seed)
    n, k, z = (int(v) for v in rng.integers(4, 9, size=3))
    rows, cols = int(rng.integers(2, 4)), int(rng.integers(4, 6))
    a0 = rng.normal(size=n)
    a1 = rng.normal(size=(rows, cols))
    a2 = 1e3 * rng.normal(size=(k, 1))
    pairs = [
        (a0, a0 * (1 + 1e-6 * rng.normal(size=n))),
        (a1, a1 + 0.3 * rng.normal(size=(rows, cols))),
        (a2, a2 + rng.normal(size=(k, 1))),
        (np.zeros(z), rng.normal(size=z)),
        (np.zeros(z), np.zeros(z)),
    ]
    return {
        "a": {str(i): a for i, (a, _) in enumerate(pairs)},
        "b": {str(i): b for i, (_, b) in enumerate(pairs)},
    }


_RELATIVE_CALL = """_res = []
for _k in sorted(_in["a"], key=int):
    try:
        _res.append(relative_diff(_in["a"][_k], _in["b"][_k]))
    except Exception as _e:
        _res.append({"error": type(_e).__name__ + ": " + str(_e)[:200]})
_out = _res"""


def _describe_pair(a: np.ndarray, b: np.ndarray) -> str:
    if not a.any() and not b.any():
        return f"a = b = 0 (shape {a.shape})"
    if not a.any():
        return f"a = 0, b ≠ 0 (shape {a.shape})"
    return f"a, b of shape {a.shape}"


def _norm_variants(a, b) -> list[tuple[str, float]]:
    """What typical slips compute instead of ‖a−b‖₂ / (‖a‖₂ + ‖b‖₂), with a hint each."""
    A, B = np.asarray(a, float), np.asarray(b, float)
    x, y = A.ravel(), B.ravel()
    n = np.linalg.norm
    with np.errstate(divide="ignore", invalid="ignore"):
        out = [
            ("you used the 1-norm (a sum of absolute values); the relative difference uses "
             "the Euclidean 2-norm", np.abs(x - y).sum() / (np.abs(x).sum() + np.abs(y).sum())),
            ("that is ‖a − b‖₂ without the denominator: divide by ‖a‖₂ + ‖b‖₂ so the "
             "number does not depend on the size of the gradient", n(x - y)),
            ("you squared the norms; use ‖·‖₂ itself, not ‖·‖₂²",
             n(x - y) ** 2 / (n(x) ** 2 + n(y) ** 2)),
            ("the denominator is ‖a‖₂ + ‖b‖₂ (two norms added), not ‖a + b‖₂",
             n(x - y) / n(x + y)),
            ("you divided by ‖b‖₂ only; divide by ‖a‖₂ + ‖b‖₂ so the result is symmetric "
             "and stays in [0, 1]", n(x - y) / n(y)),
            ("you divided by ‖a‖₂ only; divide by ‖a‖₂ + ‖b‖₂ so the result is symmetric "
             "and stays in [0, 1]", n(x - y) / n(x)),
            ("you used the max-norm; the relative difference uses the Euclidean 2-norm",
             np.abs(x - y).max() / (np.abs(x).max() + np.abs(y).max())),
            ("an average of entrywise ratios is not the ratio of norms the relative "
             "difference is", float(np.mean(np.abs(x - y) / (np.abs(x) + np.abs(y))))),
        ]  # fmt: skip
        if A.ndim == 2 and min(A.shape) > 1:
            out.append((
                "for a matrix, the norm with ord=2 is its largest singular value; the "
                "relative difference takes the 2-norm of all entries, as if unrolled",
                n(A - B, 2) / (n(A, 2) + n(B, 2)),
            ))  # fmt: skip
    return [(hint, float(v)) for hint, v in out]


def _close(x: float, y: float, rtol: float) -> bool:
    return abs(x - y) <= rtol * abs(y) + 1e-300


def _number(value, what: str) -> tuple[float | None, str]:
    """(float, "") for a number or a one-element array, else (None, why not)."""
    if isinstance(value, dict) and "error" in value:
        return None, f"✗ {what} raised {value['error']}"
    if isinstance(value, Unreadable):
        return None, f"✗ {what}: could not read a {value.type} as a number ({value.why})."
    if value is None or isinstance(value, str | dict | list | tuple | set):
        return None, f"✗ {what} should return a number, got {kind_of(value)}."
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        return None, f"✗ {what} should return one number, got an array of shape {arr.shape}."
    return float(arr.reshape(())), ""


def _score_relative_diff(value, inputs: dict, max_points: float) -> Score:
    pairs = [(inputs["a"][k], inputs["b"][k]) for k in sorted(inputs["a"], key=int)]
    if not isinstance(value, list) or len(value) != len(pairs):
        return Score(
            0.0, max_points, [f"✗ no answers came back from relative_diff ({kind_of(value)})."]
        )
    if blank := not_implemented(value, "relative_diff", max_points):
        return blank
    share, points, lines = max_points / len(pairs), 0.0, []
    for (a, b), got in zip(pairs, value, strict=True):
        truth = relative_difference(a, b)
        what = f"relative_diff for {_describe_pair(a, b)}"
        number, problem = _number(got, what)
        if problem:
            lines.append(problem)
            continue
        if np.isnan(number) and truth == 0:
            lines.append(
                f"✗ {what} returned nan (0/0): when both are zero, as when a zero gradient is "
                "checked against a zero numeric one, they agree; return 0.0 there."
            )
            continue
        if _close(number, truth, RTOL) or abs(number - truth) <= 1e-15:
            points += share
            lines.append(f"✓ {what}: {number:.6g}")
            continue
        hints = [h for h, v in _norm_variants(a, b) if np.isfinite(v) and _close(number, v, 1e-6)]
        why = f" — {hints[0]}" if hints else ""
        lines.append(f"✗ {what}: yours {number:.6g}, expected {truth:.6g}{why}.")
    return Score(points, max_points, lines)


# --- grad_check -------------------------------------------------------------------------


def _draw_grad_check(seed: int) -> dict:
    """A secret J(θ) = Σ tanh(Aθ + d) + c‖θ‖², θ, ε and a correct and a buggy gradient.

    |θ_i| < 1, so gradlib's steps ε·max(1, |θ_i|) are the plain ε of the lecture's loop.
    """
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(4, 9)), int(rng.integers(3, 7))
    inputs = {
        "A": rng.normal(scale=0.8, size=(k, n)),
        "d": rng.normal(scale=0.5, size=k),
        "c": float(np.round(rng.uniform(0.1, 1.0), 3)),
        "theta": rng.uniform(-0.9, 0.9, size=n),
        "eps": float(np.round(10 ** rng.uniform(-4.5, -3.5), 6)),
    }
    grad = _gradient_of_cost(inputs)
    bug = grad.copy()
    j = int(rng.integers(n))
    bug[j] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.5) * np.abs(grad).max()
    return inputs | {"grad_ok": grad, "grad_bug": bug}


def _cost(inputs: dict):
    """J(θ) of the draw, written exactly as the kernel writes it."""
    A, d, c = inputs["A"], inputs["d"], float(inputs["c"])

    def J(t):
        t = np.asarray(t, dtype=float).reshape(-1)
        return float(np.sum(np.tanh(A @ t + d)) + c * (t @ t))

    return J


def _gradient_of_cost(inputs: dict) -> np.ndarray:
    t = inputs["theta"]
    z = inputs["A"] @ t + inputs["d"]
    return inputs["A"].T @ (1 - np.tanh(z) ** 2) + 2 * inputs["c"] * t


_GRAD_CHECK_CALL = """import numpy as _np
_A, _d, _c = _in["A"], _in["d"], float(_in["c"])
_points = []
def _J(t):
    t = _np.asarray(t, dtype=float).reshape(-1)
    if len(_points) < 400:
        _points.append(t.copy())
    return float(_np.sum(_np.tanh(_A @ t + _d)) + _c * (t @ t))
_theta = _in["theta"].copy()
_ok = grad_check(_J, _theta, _in["grad_ok"].copy(), _in["eps"])
_log = [p for p in _points if p.shape == _theta.shape]
_bug = grad_check(_J, _in["theta"].copy(), _in["grad_bug"].copy(), _in["eps"])
_out = {"grad_ok": _ok, "grad_bug": _bug, "theta_after": _theta,
        "points": _np.array(_log, dtype=float).reshape(len(_log), _theta.size)}"""


def _pair(result, what: str) -> tuple[object, object, str]:
    """(difference, dθapprox, problem) from what grad_check returned."""
    if isinstance(result, list | tuple) and len(result) == 2:
        return result[0], result[1], ""
    return (
        None,
        None,
        f"✗ grad_check should return (difference, dtheta_approx), got {kind_of(result)} {what}.",
    )


def _in_eps(x: float, eps: float) -> str:
    return f"{x / eps:+.3g}ε"


def _loop_findings(points, theta: np.ndarray, theta_after, eps: float) -> dict[str, str]:
    """What the logged evaluation points say about the loop, by kind of slip.

    Kinds: "changed" (the caller's θ left modified), "drift" (several entries moved at
    once), "step" (a step other than eps), "one_sided", "missed" (entries never moved).
    """
    found = {}
    if isinstance(theta_after, np.ndarray) and theta_after.shape == theta.shape:
        moved = np.flatnonzero(np.abs(theta_after - theta) > MOVED)
        if moved.size:
            i = int(moved[0])
            found["changed"] = (
                f"✗ grad_check changed the θ you were given (afterwards θ[{i}] is off by "
                f"{_in_eps(theta_after[i] - theta[i], eps)}): restore θ_i after perturbing "
                "it, or perturb a copy."
            )
    if not isinstance(points, np.ndarray) or points.ndim != 2 or points.shape[1] != theta.size:
        return found
    D = points - theta
    moved = np.abs(D) > MOVED
    multi = np.flatnonzero(moved.sum(axis=1) > 1)
    if multi.size:
        r = int(multi[0])
        where = ", ".join(f"θ[{j}] by {_in_eps(D[r, j], eps)}" for j in np.flatnonzero(moved[r]))
        found["drift"] = (
            f"✗ J was evaluated with several entries moved at once ({where}): put θ_i back "
            "to its original value before moving on to θ_(i+1); otherwise the later entries "
            "are measured at a θ that has drifted."
        )
        return found
    steps = np.abs(D[moved])
    if steps.size and not np.allclose(steps, eps, rtol=1e-6, atol=0):
        used = steps[np.argmax(np.abs(steps - eps))]
        found["step"] = (
            f"✗ you moved θ_i by {used:.3g}, not by the eps={eps:.3g} you were given "
            f"({used / eps:.3g}ε): use the eps argument as the step."
        )
    single = moved.any(axis=1)
    up = {int(np.flatnonzero(row)[0]) for row in moved[single & (D.sum(axis=1) > 0)]}
    down = {int(np.flatnonzero(row)[0]) for row in moved[single & (D.sum(axis=1) < 0)]}
    if bool(up) != bool(down):
        never = "θ − εe_i" if up else "θ + εe_i"
        found["one_sided"] = (
            f"✗ J was never evaluated at {never}: that is a one-sided difference, with an "
            "error O(ε); the two-sided one, through θ + εe_i and θ − εe_i, has an error O(ε²)."
        )
    if not moved.any() and len(points):
        found["unmoved"] = (
            f"✗ all {len(points)} evaluations of J were at θ itself, never at a moved θ: are "
            "θ+ and θ− the very array θ (no copy), so that its −ε undid the +ε before J was "
            "called?"
        )
    missed = sorted(set(range(theta.size)) - up - down)
    if (up or down) and missed:
        found["missed"] = (
            f"✗ θ[{missed[0]}] was never perturbed ({len(missed)} of {theta.size} entries "
            "missed): loop over every entry of θ."
        )
    return found


_TWO_SIDED = "the two-sided one, through θ + εe_i and θ − εe_i, has an error O(ε²)."


def _approx_findings(approx: np.ndarray, inputs: dict, ref: np.ndarray) -> tuple[str, bool]:
    """(line, whether it names the slip) comparing dθapprox with what typical slips give."""
    J, theta, eps = _cost(inputs), inputs["theta"], inputs["eps"]
    j0 = J(theta)
    e = np.eye(theta.size) * eps
    up = np.array([J(theta + e[i]) for i in range(theta.size)])
    down = np.array([J(theta - e[i]) for i in range(theta.size)])
    variants = [
        ((up - j0) / eps, "that is the one-sided difference (J(θ + εe_i) − J(θ)) / ε, with an "
         f"error O(ε); {_TWO_SIDED}"),
        ((j0 - down) / eps, "that is the one-sided difference (J(θ) − J(θ − εe_i)) / ε, with "
         f"an error O(ε); {_TWO_SIDED}"),
        ((up - j0) / (2 * eps), "you computed (J(θ + εe_i) − J(θ)) / (2ε): are θ+ and θ− the "
         "same array (not copies), so that moving θ−[i] by −ε just undid the +ε?"),
        ((up - down) / eps, "you divided by ε instead of 2ε: the two points are 2ε apart."),
        (up - down, "you forgot to divide by 2ε."),
        ((up - down) / 2, "you divided by 2 but not by ε."),
        ((down - up) / (2 * eps), "the sign is flipped: the two values are subtracted in the "
         "wrong order."),
    ]  # fmt: skip
    if not approx.any():
        return "✗ dtheta_approx is all zeros: was it never filled in?", False
    for candidate, hint in variants:
        if relative_difference(approx, candidate) <= 1e-9:
            return f"✗ dtheta_approx: {hint}", True
    c = float(approx @ ref / (ref @ ref))
    if relative_difference(approx, c * ref) <= 1e-6:
        return f"✗ dtheta_approx is {c:.4g} × the two-sided difference: check the divisor 2ε.", True
    bad = np.flatnonzero(np.abs(approx - ref) > 1e-6 * np.abs(ref).max())
    i = int(bad[0]) if bad.size else int(np.argmax(np.abs(approx - ref)))
    return (
        f"✗ dtheta_approx differs from the two-sided difference in {bad.size} of "
        f"{ref.size} entries; first dtheta_approx[{i}]: yours {approx[i]:.8g} vs the "
        f"two-sided difference {ref[i]:.8g}.",
        False,
    )


def _score_grad_check(value, inputs: dict, max_points: float) -> Score:
    """Half for dθapprox, a quarter for each difference (correct and buggy gradient)."""
    if not isinstance(value, dict) or not {"grad_ok", "grad_bug"} <= set(value):
        return Score(0.0, max_points, [f"✗ nothing came back from grad_check ({kind_of(value)})."])
    theta, eps = inputs["theta"], inputs["eps"]
    ref = numerical_gradient(_cost(inputs), theta, eps=eps)
    results = {key: _pair(value[key], f"for {what}") for key, what in _CASES}
    lines, points = [line for _, _, line in results.values() if line], 0.0

    approx, problem = None, ""
    if not results["grad_ok"][2]:
        approx, problem = _vector(results["grad_ok"][1], theta.size)
    if problem:
        lines.append(problem)
    elif approx is not None:
        loop = _loop_findings(value.get("points"), theta, value.get("theta_after"), eps)
        rel = relative_difference(approx, ref)
        if rel <= RTOL and not {"drift", "step", "missed"} & set(loop):
            points += 0.5 * max_points
            lines.append(
                f"✓ dtheta_approx is the two-sided difference (relative difference {rel:.1e} "
                "to gradlib.numerical_gradient with the same ε)."
            )
        lines += [loop[k] for k in ("changed", "drift", "step", "missed") if k in loop]
        if rel > RTOL and not {"drift", "step"} & set(loop):
            line, named = _approx_findings(approx, inputs, ref)
            told = [loop[k] for k in ("unmoved", "one_sided") if k in loop]
            lines.append(line if named or not told else told[0])

    mine = approx if approx is not None else ref
    for key, what in _CASES:
        d, _, bad = results[key]
        if bad:
            continue
        grad = inputs[key]
        expected, truth = relative_difference(grad, mine), relative_difference(grad, ref)
        number, problem = _number(d, f"the difference for {what}")
        if problem:
            lines.append(problem)
        elif _close(number, expected, DIFFERENCE_RTOL):
            points += 0.25 * max_points
            note = "" if _close(number, truth, 1e-3) else (
                f" (consistent with your dtheta_approx; with the true one it is {truth:.3e})"
            )  # fmt: skip
            lines.append(f"✓ the difference for {what}: {number:.3e}{note}")
        else:
            hints = [h for h, v in _norm_variants(grad, mine) if _close(number, v, 1e-6)]
            why = (
                hints[0]
                if hints
                else ("it should be the relative difference of grad and your dtheta_approx")
            )
            lines.append(
                f"✗ the difference for {what}: yours {number:.3e}, expected {expected:.3e} — {why}."
            )
    return Score(points, max_points, lines)


_CASES = (("grad_ok", "a correct gradient"), ("grad_bug", "a buggy gradient"))


def _vector(value, n: int) -> tuple[np.ndarray | None, str]:
    if isinstance(value, Unreadable):
        return None, f"✗ dtheta_approx: could not read a {value.type} as numbers ({value.why})."
    if value is None or isinstance(value, str | dict | set):
        return None, f"✗ dtheta_approx should be an array of θ's shape, got {kind_of(value)}."
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None, f"✗ dtheta_approx should be an array of θ's shape, got {kind_of(value)}."
    if arr.size != n:
        return None, f"✗ dtheta_approx has {arr.size} entries (shape {arr.shape}); θ has {n}."
    if not np.all(np.isfinite(arr)):
        return None, "✗ dtheta_approx contains NaN or inf."
    return arr.reshape(-1), ""


# --- verdict ----------------------------------------------------------------------------


def _draw_verdict(seed: int) -> dict:
    """Differences from every band of the scale, with its two edges and 0."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([
        [0.0, 1e-7, 1e-3],
        10 ** rng.uniform(-13, -7.2, size=3),
        10 ** rng.uniform(-6.8, -3.2, size=4),
        10 ** rng.uniform(-2.8, -0.1, size=3),
    ])  # fmt: skip
    values = np.array([float(f"{v:.2g}") for v in values])
    return {"differences": rng.permutation(values)}


_VERDICT_CALL = """_res = []
for _d in _in["differences"]:
    try:
        _res.append(verdict(float(_d)))
    except Exception as _e:
        _res.append({"error": type(_e).__name__ + ": " + str(_e)[:200]})
_out = _res"""

_VERDICT_HINTS = {
    ("correct", "suspicious"): "≤ 1e-7 is correct (note the ≤: 1e-7 itself is correct)",
    ("suspicious", "correct"): "only ≤ 1e-7 is correct; between 1e-7 and 1e-3 look closer",
    ("suspicious", "wrong"): "wrong starts at 1e-3; below that and above 1e-7 is suspicious",
    ("wrong", "suspicious"): "≥ 1e-3 is wrong (note the ≥: 1e-3 itself is wrong)",
    ("correct", "wrong"): "≤ 1e-7 is correct: a small difference is good news",
    ("wrong", "correct"): "≥ 1e-3 is wrong: a large difference means a bug",
}


def _score_verdict(value, inputs: dict, max_points: float) -> Score:
    diffs = [float(d) for d in inputs["differences"]]
    if not isinstance(value, list) or len(value) != len(diffs):
        return Score(0.0, max_points, [f"✗ no answers came back from verdict ({kind_of(value)})."])
    if blank := not_implemented(value, "verdict", max_points):
        return blank
    limits = thresholds()
    right, mistakes = 0, {}
    for d, got in zip(diffs, value, strict=True):
        truth = limits.verdict(d)
        if isinstance(got, dict) and "error" in got:
            mistakes.setdefault(("raised", got["error"]), []).append(d)
        elif not isinstance(got, str):
            mistakes.setdefault(("type", kind_of(got)), []).append(d)
        elif got.strip().lower() == truth:
            right += 1
        else:
            mistakes.setdefault((truth, got.strip().lower()), []).append(d)
    lines = [f"✓ {right} of {len(diffs)} differences judged right."] if right else []
    for (first, second), ds in mistakes.items():
        shown = ", ".join(f"{d:.2g}" for d in sorted(ds))
        if first == "raised":
            lines.append(f"✗ verdict({shown}) raised {second}.")
        elif first == "type":
            lines.append(
                f'✗ verdict({shown}) returned {second}; return "correct", "suspicious" or "wrong".'
            )
        elif second not in ("correct", "suspicious", "wrong"):
            lines.append(
                f'✗ verdict({shown}) returned {second!r}; expected "{first}" (use exactly '
                '"correct", "suspicious" or "wrong").'
            )
        else:
            hint = _VERDICT_HINTS[(first, second)]
            lines.append(f'✗ verdict({shown}) returned "{second}", expected "{first}": {hint}.')
    return Score(max_points * right / len(diffs), max_points, lines)


# --- faulty_element ---------------------------------------------------------------------

# Three networks per student, each with one wrong entry of dθ, so that no fixed label and no
# shortcut finds all three:
#   case 0: the entry is in a weight matrix that is not square (so a row/column swap names
#           another entry or none), its value halved (a "clipped" entry, as the colleague's);
#   case 1: the entry is in a bias, its sign flipped;
#   case 2: the entry is in any weight matrix, doubled.
# In every case the wrong entry is neither the largest |dθ[i]| nor the largest
# |dθapprox[i]|: only the largest *gap* |dθapprox[i] − dθ[i]| names it.
_LABEL = re.compile(r"^\s*d?([A-Za-z_]+\d*)\s*\[\s*(\d+)\s*,\s*(\d+)\s*\]\s*$")


_FAULTY_CASES = (("W", 0.5), ("b", -1.0), ("any W", 2.0))
_FAULTY_CALL = per_case_call(
    'faulty_element(_J, _theta, _c["dtheta"].copy(), _spec)',
    setup='_theta, _spec = _to_vector(_c["params"])\n'
    "def _J(t, _c=_c, _spec=_spec):\n"
    '    return _cost(_to_params(t, _spec), _c["X"], _c["Y"], hidden="tanh")',
    prelude="from gradlib.nn import network_cost as _cost\n"
    "from gradlib.unroll import params_to_vector as _to_vector, vector_to_params as _to_params",
)


def _draw_faulty(seed: int) -> dict:
    """The three networks of _FAULTY_CASES, each with dθ wrong in exactly one entry."""
    rng = np.random.default_rng([seed, 4])
    cases = {}
    for k, (where, factor) in enumerate(_FAULTY_CASES):
        while True:
            n_x = int(rng.integers(3, 6))
            h1 = int(rng.choice([w for w in range(3, 7) if w != n_x]))
            h2 = int(rng.choice([w for w in range(2, 6) if w != h1]))
            m = int(rng.integers(5, 9))
            X = rng.normal(size=(n_x, m))
            Y = (rng.random((1, m)) < 0.5).astype(float)
            Y[0, :2] = [0.0, 1.0]
            params = nn.init_params([n_x, h1, h2, 1], seed=int(rng.integers(2**31)), scale="xavier")
            for name in ("b1", "b2", "b3"):
                params[name] = rng.normal(scale=0.3, size=params[name].shape)
            truth = _network_dtheta(params, X, Y)
            i = _pick_faulty(rng, truth, params, where, factor)
            if i is not None:
                break
        dtheta = truth.copy()
        dtheta[i] *= factor
        cases[str(k)] = {"params": params, "X": X, "Y": Y, "dtheta": dtheta}
    return {"cases": cases}


def _network_dtheta(params: dict, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    _, spec = params_to_vector(params)
    return grads_to_vector(nn.network_gradients(params, X, Y, hidden="tanh"), spec)


def _pick_faulty(rng, truth: np.ndarray, params: dict, where: str, factor: float) -> int | None:
    """An entry of the block kind ``where`` whose corruption only the largest gap reveals."""
    _, spec = params_to_vector(params)
    L = len(params) // 2
    square = {f"W{k}" for k in range(1, L + 1) if len(set(params[f"W{k}"].shape)) == 1}
    names = {
        "W": [f"W{k}" for k in range(1, L) if f"W{k}" not in square],
        "b": [f"b{k}" for k in range(1, L + 1)],
        "any W": [f"W{k}" for k in range(1, L + 1)],
    }[where]
    candidates = []
    for i in range(truth.size):
        name, _ = spec.locate(i)
        if name not in names:
            continue
        wrong = truth.copy()
        wrong[i] *= factor
        gap = abs(wrong[i] - truth[i])
        if gap < 1e-3 or np.argmax(np.abs(wrong)) == i or np.argmax(np.abs(truth)) == i:
            continue
        candidates.append(i)
    return int(rng.choice(candidates)) if candidates else None


def _faulty_truth(case: dict) -> tuple[int, object]:
    """(index of the wrong entry, spec) of one case, recomputed from its network."""
    truth = _network_dtheta(case["params"], case["X"], case["Y"])
    _, spec = params_to_vector(case["params"])
    return int(np.argmax(np.abs(case["dtheta"] - truth))), spec


def _score_faulty_element(value, inputs: dict, max_points: float) -> Score:
    cases, blank = case_answers(value, inputs, "faulty_element", max_points)
    if blank:
        return blank
    right, lines = 0, []
    for n, (case, got) in enumerate(zip(cases, value, strict=True), start=1):
        index, spec = _faulty_truth(case)
        ok, line = _judge_label(got, index, spec, case)
        right += ok
        lines.append(f"network {n} ({_dims(case)}): {line}")
    return Score(max_points * right / len(cases), max_points, lines)


def _dims(case: dict) -> str:
    L = len(case["params"]) // 2
    return "×".join(
        str(d)
        for d in [case["X"].shape[0]] + [case["params"][f"W{k}"].shape[0] for k in range(1, L + 1)]
    )


def _judge_label(got, index: int, spec, case: dict) -> tuple[bool, str]:
    if isinstance(got, dict) and "error" in got:
        return False, f"✗ faulty_element raised {got['error']}."
    if not isinstance(got, str) or not _LABEL.match(got):
        shown = repr(got) if isinstance(got, str) else kind_of(got)
        if isinstance(got, int | float | np.ndarray) and np.size(got) == 1:
            shown = f"the number {np.asarray(got).item():g}"
        return False, (
            f'✗ return a label such as "W1[0, 2]" (block, then row and column), got {shown}; '
            "spec.label(i) turns an index i of θ into such a label."
        )
    (block, entry), (wrong_block, wrong_entry) = _parse_label(got), spec.locate(index)
    shown, shapes = got.strip().lstrip("d"), dict(zip(spec.names, spec.shapes, strict=True))
    if (block, entry) == (wrong_block, tuple(wrong_entry)):
        return True, f"✓ d{spec.label(index)} is the wrong entry."
    if block not in shapes:
        return False, f"✗ there is no block {block!r}; the blocks are {', '.join(spec.names)}."
    swapped = block == wrong_block and entry == tuple(wrong_entry)[::-1]
    if swapped:
        return False, f"✗ not {shown}: row and column are swapped; the label is [row, column]."
    if any(i >= n for i, n in zip(entry, shapes[block], strict=True)):
        return False, f"✗ {block} has shape {shapes[block]}, so {shown} does not exist."
    at = spec.offsets[spec.names.index(block)] + int(np.ravel_multi_index(entry, shapes[block]))
    numeric = _network_dtheta(case["params"], case["X"], case["Y"])
    gap = "the largest gap |dθapprox[i] − dθ[i]|"
    if at == int(np.argmax(np.abs(case["dtheta"]))):
        why = f"that is the largest entry of dθ, not {gap}"
    elif at == int(np.argmax(np.abs(numeric))):
        why = f"that is the largest entry of dθapprox, not {gap}"
    elif block == wrong_block:
        why = f"the wrong entry is in d{block}, but d{shown} agrees with the numeric gradient"
    else:
        why = f"d{shown} agrees with the numeric gradient; find {gap}"
    return False, f"✗ not {shown}: {why}."


def _parse_label(text: str) -> tuple[str, tuple[int, int]]:
    m = _LABEL.match(text)
    return m[1], (int(m[2]), int(m[3]))


TASKS = {
    "test_relative_diff": Task(
        grade_id="test_relative_diff",
        function="relative_diff",
        call=_RELATIVE_CALL,
        forbidden=NO_RELATIVE_DIFFERENCE,
        draw=_draw_relative,
        score=_score_relative_diff,
    ),
    "test_grad_check": Task(
        grade_id="test_grad_check",
        function="grad_check",
        call=_GRAD_CHECK_CALL,
        forbidden=NO_CHECK_GRADIENTS,
        draw=_draw_grad_check,
        score=_score_grad_check,
        needs=("relative_diff",),
    ),
    "test_verdict": Task(
        grade_id="test_verdict",
        function="verdict",
        call=_VERDICT_CALL,
        forbidden=NO_THRESHOLDS,
        draw=_draw_verdict,
        score=_score_verdict,
    ),
    "test_faulty_element": Task(
        grade_id="test_faulty_element",
        function="faulty_element",
        call=_FAULTY_CALL,
        draw=_draw_faulty,
        score=_score_faulty_element,
        needs=("grad_check",),
        # what the call builds J from; the reference gradient does not exist there
        allowed=(
            "gradlib.nn.network_cost",
            "gradlib.unroll.params_to_vector",
            "gradlib.unroll.vector_to_params",
        ),
    ),
}
