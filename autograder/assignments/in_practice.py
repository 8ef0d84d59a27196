"""05-in-practice: the J a grad check must differentiate (L2 term, fixed dropout mask), kinks.

The two cost functions are graded by value against gradlib.nn.network_cost; the scorers
recognise the usual mistakes (L2 term missing or with the wrong factor, a dropout mask that
changes between calls, no 1/keep_prob) and say so. Nothing answers for the student
where a graded cost runs: gradlib.nn's cost functions do not exist (regularized_cost
may use gradlib.nn.forward, nothing else of gradlib), and calling them in plain sight is
named in the feedback.
"""

from __future__ import annotations

import numpy as np

from autograder.harness import Unreadable
from autograder.inputs import draw_network
from autograder.tasks import Score, Task, case_answers, judge_l2_cost, kind_of, per_case_call
from gradlib import nn
from gradlib.netgrad import check_network

ASSIGNMENT = "05-in-practice"

# Two floats that should be equal agree to this relative difference (rounding of a different
# but equivalent order of operations, e.g. the cross-entropy from A_L instead of from Z_L).
RTOL = 1e-9

# gradlib.nn functions that compute the graded costs for the student.
COST_SHORTCUTS = tuple(
    f"gradlib.nn.{name}" for name in ("network_cost", "cost", "cost_from_caches", "l2_penalty")
)
FORWARD_SHORTCUTS = (*COST_SHORTCUTS, "gradlib.nn.forward", "gradlib.layers")


# --- regularized_cost ------------------------------------------------------------------


def _regularized_inputs(seed: int) -> dict:
    draw = draw_network(seed, layers=3, lambd=True)
    return {"X": draw.X, "Y": draw.Y, "params": draw.params, "lambd": draw.lambd}


def _score_regularized_cost(value, inputs: dict, max_points: float) -> Score:
    params, X, Y, lambd = inputs["params"], inputs["X"], inputs["Y"], inputs["lambd"]
    got, problem = _scalar(value, "the cost")
    if problem:
        return Score(0.0, max_points, [problem])
    data = nn.network_cost(params, X, Y)
    return judge_l2_cost(got, data, params, lambd, Y.shape[1], max_points)


# --- cost_with_fixed_dropout -----------------------------------------------------------


def _dropout_inputs(seed: int) -> dict:
    draw = draw_network(seed, layers=3, lambd=False)
    rng = np.random.default_rng(seed + 1)
    keep = float(np.round(rng.uniform(0.5, 0.9), 2))
    return {"X": draw.X, "Y": draw.Y, "params": draw.params, "keep_prob": keep,
            "seed": int(rng.integers(1000))}  # fmt: skip


def _dropout_cost(params: dict, X, Y, masks, scale: bool = True) -> float:
    """Cross-entropy of a ReLU/sigmoid network whose hidden layer l is multiplied by
    ``masks[l - 1]`` (shape (n_l, m)), divided by keep_prob when ``scale``; masks carry
    keep_prob as their second element: masks[l - 1] = (mask, keep_prob)."""
    A, L = np.asarray(X, float), len(params) // 2
    for k in range(1, L):
        A = np.maximum(0, params[f"W{k}"] @ A + params[f"b{k}"])
        mask, keep = masks[k - 1]
        A = A * mask / (keep if scale else 1.0)
    Z = params[f"W{L}"] @ A + params[f"b{L}"]
    return float(np.mean(np.logaddexp(0, Z) - Y * Z))  # cross-entropy from the logits


def _masks(inputs: dict, how: str) -> list:
    """The masks of the hidden layers, drawn the reference way or a typical wrong way."""
    params, keep, seed = inputs["params"], inputs["keep_prob"], int(inputs["seed"])
    shared, m, masks = np.random.default_rng(seed), inputs["X"].shape[1], []
    for k in range(1, len(params) // 2):
        shape = (params[f"W{k}"].shape[0], m)
        if how == "one_generator":
            u = shared.random(shape)
        elif how == "same_seed":
            u = np.random.default_rng(seed).random(shape)
        else:
            u = np.random.default_rng((seed, k)).random(shape)
        kept = u >= keep if how == "inverted" else u < keep  # inverted keeps w.p. 1 − keep
        masks.append((kept.astype(float), keep))
    return masks


def _score_dropout_cost(value, inputs: dict, max_points: float) -> Score:
    params, X, Y, keep, seed = (inputs[k] for k in ("params", "X", "Y", "keep_prob", "seed"))
    if not isinstance(value, list | tuple) or len(value) != 2:
        return Score(0.0, max_points, [
            f"✗ expected the cost as a number (the grader calls your function twice), got "
            f"{kind_of(value)}."
        ])  # fmt: skip
    first, problem = _scalar(value[0], "the cost")
    second, problem2 = _scalar(value[1], "the cost of the second call")
    if problem or problem2:
        return Score(0.0, max_points, [problem or problem2])
    if not _close(first, second, rtol=1e-12):
        return Score(0.0, max_points, [
            f"✗ two calls with the same seed gave different costs ({first:.8g} and "
            f"{second:.8g}): the mask is not fixed, so J changes between the two costs of "
            "every central difference and the grad check measures noise. Each call must "
            "draw the same masks from the seed it is given, as the task says, not from the "
            "global random state or a generator made outside the function."
        ])  # fmt: skip
    fixed = "✓ the mask is fixed: two calls with the same seed give the same cost."
    truth = nn.network_cost(params, X, Y, keep_prob=keep, dropout_seed=int(seed))
    if _close(first, truth):
        return Score(max_points, max_points, [
            fixed, f"✓ J = {first:.6g}, the reference's cost with keep_prob = {keep:g} and "
            f"seed = {seed}."
        ])  # fmt: skip
    plain = nn.network_cost(params, X, Y)
    variants = [
        (plain, 0.0, "✗ your J has no dropout at all: it equals the cost with keep_prob = 1; "
         "the hidden layers' activations are neither masked nor scaled."),
        (_dropout_cost(params, X, Y, _masks(inputs, "reference"), scale=False), 0.25,
         f"✗ the masks are right but A_l is not divided by keep_prob = {keep:g}: inverted "
         "dropout scales the kept units up so that E[A_l] does not change (and the "
         "backward pass divides by keep_prob too)."),
        (_dropout_cost(params, X, Y, _masks(inputs, "inverted")), 0.25,
         f"✗ your mask keeps a unit with probability 1 − keep_prob, not keep_prob = {keep:g}: "
         "the comparison is the wrong way round."),
        (_dropout_cost(params, X, Y, _masks(inputs, "one_generator")), 0.5,
         "✗ your masks come from one generator, seeded with seed and drawn layer after "
         "layer; in the task each layer l has a generator of its own, seeded with (seed, l)."),
        (_dropout_cost(params, X, Y, _masks(inputs, "same_seed")), 0.5,
         "✗ every layer's mask comes from a generator seeded with seed alone, so the layers "
         "share one pattern; in the task layer l's generator is seeded with (seed, l)."),
    ]  # fmt: skip
    for expected, share, line in variants:
        if _close(first, expected):
            return Score(share * max_points, max_points, [fixed, line])
    return Score(0.0, max_points, [
        fixed,
        f"✗ J = {first:.6g}, expected {truth:.6g} (without dropout it would be {plain:.6g}): "
        "check the forward pass (ReLU hidden layers, sigmoid output, mean cross-entropy) "
        "and that only the hidden layers get masks.",
    ])  # fmt: skip


# --- kinked_blocks ---------------------------------------------------------------------

# Three networks per student, each checked at a point chosen for it, so that no fixed set and
# no reading of the notebook's report answers them. Three of these four, in a random order:
#   1: one ReLU input of layer 1 lies within a step of its kink on one example;
#   2: one ReLU input of layer 2 does (its kink is crossed from the layers below too);
#   (1, 2): one of each;
#   (): no input lies near a kink (the answer is the empty set).
# What the answer is comes from gradlib.netgrad.check_network, recomputed when scoring.
_KINK_PLANS = ((1,), (2,), (1, 2), ())
_KINKS_CALL = per_case_call(
    'kinked_blocks(dict(_c["params"]), _c["X"], _c["Y"], dict(_c["grads"]))'
)


def kink_plan(seed: int) -> list[tuple[int, ...]]:
    """The layers with a kink in each of a student's three networks (see _KINK_PLANS)."""
    rng = np.random.default_rng([seed, 5])
    return [_KINK_PLANS[i] for i in rng.permutation(len(_KINK_PLANS))[:3]]


def _draw_kinks(seed: int) -> dict:
    """The networks of kink_plan(seed), with correct gradients."""
    rng = np.random.default_rng([seed, 6])
    cases = {}
    for k, layers in enumerate(kink_plan(seed)):
        while True:
            draw = draw_network(int(rng.integers(2**62)), layers=3, lambd=False)
            params = {name: value.copy() for name, value in draw.params.items()}
            for layer in layers:
                _, caches = nn.forward(draw.X, params)
                A_prev = caches[layer - 1]["linear"][0]
                unit = int(rng.integers(params[f"b{layer}"].shape[0]))
                example = int(rng.integers(draw.X.shape[1]))
                offset = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.8) * 1e-7)
                params[f"b{layer}"][unit, 0] = (
                    offset - params[f"W{layer}"][unit] @ A_prev[:, example]
                )
            case = {"params": params, "X": draw.X, "Y": draw.Y,
                    "grads": nn.network_gradients(params, draw.X, draw.Y)}  # fmt: skip
            kinked = _kinked(case)
            if all(f"b{layer}" in kinked or f"W{layer}" in kinked for layer in layers) and (
                layers or not kinked
            ):
                break
        cases[str(k)] = case
    return {"cases": cases}


def _kinked(case: dict) -> set[str]:
    """Blocks with entries whose steps crossed a kink, by the reference check."""
    report = check_network(case["params"], case["X"], case["Y"], case["grads"])
    return {label.split("[")[0] for label in report.kinks}


def _score_kinked_blocks(value, inputs: dict, max_points: float) -> Score:
    cases, blank = case_answers(value, inputs, "kinked_blocks", max_points)
    if blank:
        return blank
    earned, lines = 0.0, []
    for n, (case, got) in enumerate(zip(cases, value, strict=True), start=1):
        earned_here, line = _judge_kinks(got, _kinked(case), list(case["params"]))
        earned += earned_here
        lines.append(f"network {n}: {line}")
    return Score(max_points * earned / len(cases), max_points, lines)


def _judge_kinks(got, truth: set[str], blocks: list[str]) -> tuple[float, str]:
    if isinstance(got, dict) and "error" in got:
        return 0.0, f"✗ kinked_blocks raised {got['error']}."
    if not isinstance(got, set | list | tuple) or not all(isinstance(v, str) for v in got):
        return 0.0, f"✗ return a set of block names such as {{'W3'}}, got {kind_of(got)}."
    named = {v[1:] if v.startswith("d") else v for v in got}
    right, wrong = named & truth, named - truth
    if not truth:
        if not named:
            return 1.0, "✓ no step crossed a kink: the empty set."
        return 0.0, (
            f"✗ no step crossed a kink here, so the answer is the empty set, not "
            f"{', '.join(sorted(named))}."
        )
    parts = [f"✓ {', '.join(sorted(right))}: steps crossed the kink"] if right else []
    if known := sorted(b for b in wrong if b in blocks):
        parts.append(f"✗ no step in {', '.join(known)} crossed a kink")
    cased = {v: b for v in wrong - set(blocks) for b in blocks if v.lower() == b.lower()}
    if cased:
        parts.append("✗ " + ", ".join(f"{v} is not {b}" for v, b in sorted(cased.items()))
                     + ": names are case-sensitive")  # fmt: skip
    if unknown := sorted(wrong - set(blocks) - set(cased)):
        parts.append(f"✗ no block {', '.join(unknown)} (the blocks are {', '.join(blocks)})")
    if missed := truth - named:
        parts.append(f"✗ {len(missed)} block(s) whose entries the check left out as kinks "
                     "are missing from your set")  # fmt: skip
    return max(0, len(right) - len(wrong)) / len(truth), "; ".join(parts) + "."


# --- helpers ---------------------------------------------------------------------------


def _close(a: float, b: float, rtol: float = RTOL) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300)


def _scalar(value, what: str) -> tuple[float, str]:
    """(value as a float, "") when it is one finite number, else (nan, why not)."""
    if isinstance(value, Unreadable):
        return np.nan, f"✗ {what}: could not read a {value.type} as a number ({value.why})."
    if value is None or isinstance(value, dict | str | set | bool):
        return np.nan, f"✗ {what} should be a number (a float), got {kind_of(value)}."
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return np.nan, f"✗ {what} should be a number (a float), got {kind_of(value)}."
    if arr.size != 1:
        return np.nan, (
            f"✗ {what} should be one number, got an array of shape {arr.shape}: the cost is "
            "the mean of the per-example losses (plus the L2 term, where there is one)."
        )
    number = float(arr.reshape(()))
    if not np.isfinite(number):
        return np.nan, f"✗ {what} is {number}: look for log(0) or an overflow in exp."
    return number, ""


TASKS = {
    "test_regularized_cost": Task(
        grade_id="test_regularized_cost",
        function="regularized_cost",
        call="""_out = regularized_cost(_in["params"], _in["X"], _in["Y"], _in["lambd"])""",
        forbidden=COST_SHORTCUTS,
        draw=_regularized_inputs,
        score=_score_regularized_cost,
        allowed=("gradlib.nn.forward",),  # the notebook's forward; no cost exists there
    ),
    "test_cost_with_fixed_dropout": Task(
        grade_id="test_cost_with_fixed_dropout",
        function="cost_with_fixed_dropout",
        call="""_args = (_in["params"], _in["X"], _in["Y"], _in["keep_prob"], int(_in["seed"]))
_out = [cost_with_fixed_dropout(*_args), cost_with_fixed_dropout(*_args)]""",
        forbidden=FORWARD_SHORTCUTS,
        draw=_dropout_inputs,
        score=_score_dropout_cost,
    ),
    "test_kinked_blocks": Task(
        grade_id="test_kinked_blocks",
        function="kinked_blocks",
        call=_KINKS_CALL,
        draw=_draw_kinks,
        score=_score_kinked_blocks,
        allowed=("gradlib.netgrad.check_network",),
    ),
}
