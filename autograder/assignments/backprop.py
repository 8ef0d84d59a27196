"""04-backprop: L-layer forward, cost with L2, backward, and the grad-check debugging exercise."""

from __future__ import annotations

import numpy as np

from autograder.inputs import draw_large_network, draw_network
from autograder.tasks import (
    Score,
    Task,
    array_of_shape,
    case_answers,
    gradient_scorer,
    judge_l2_cost,
    kind_of,
    per_case_call,
    value_scorer,
)
from gradlib import nn, relative_difference

ASSIGNMENT = "04-backprop"


def _network(seed: int, lambd: bool = True) -> dict:
    draw = draw_network(seed, layers=3, lambd=lambd)
    return {"X": draw.X, "Y": draw.Y, "params": draw.params, "lambd": draw.lambd}


def _large(seed: int, lambd: bool = True) -> dict:
    draw = draw_large_network(seed, lambd=lambd)
    return {"X": draw.X, "Y": draw.Y, "params": draw.params, "lambd": draw.lambd}


def _with_factors(inputs: dict, seed: int) -> dict:
    """The factors the colleague's bugs have while backward_fixed is graded (not 2 and 4)."""
    rng = np.random.default_rng([seed, 2])
    inputs["f2"], inputs["f1"] = (float(rng.choice([3.0, 5.0, 6.0, 7.0])) for _ in range(2))
    return inputs


# While backward_fixed is graded, the colleague's backward_with_bugs (under every name the
# notebook gave it) has other factors than the visible 2 and 4: a "fix" that calls it and
# divides dW2 by 2 and db1 by 4 is then wrong, while rewritten lines are unaffected.
_FIXED_CALL = """_g = backward_fixed.__globals__
_orig = _g.get("backward_with_bugs")
def _planted(X, Y, parameters):
    _grads = dict(_orig(X, Y, parameters))
    _grads["dW2"] = _grads["dW2"] / 2 * _in["f2"]
    _grads["db1"] = _grads["db1"] / 4 * _in["f1"]
    return _grads
_bound = [k for k, v in list(_g.items()) if _orig is not None and v is _orig]
for _k in _bound:
    _g[_k] = _planted
try:
    _out = backward_fixed(_in["X"], _in["Y"], _in["params"])
finally:
    for _k in _bound:
        _g[_k] = _orig"""


def _cost_inputs(seed: int) -> dict:
    inputs = _network(seed)
    rng = np.random.default_rng(seed + 1)
    inputs["AL"] = rng.uniform(0.05, 0.95, size=inputs["Y"].shape)
    return inputs


# Three backward passes per student, each with other wrong blocks, so that no fixed set and
# no reading of the notebook's colleague answers them:
#   case 0: a weight and a bias of different layers are wrong (two bugs at once);
#   case 1: only a bias is wrong (a missing 1/m or a factor: the small blocks matter too);
#   case 2: only a weight matrix is wrong.
# Every wrong block is off by a factor (2, 3, ½, −1 or m) that the check cannot miss; the
# networks have no unit near a ReLU kink (autograder.inputs.draw_network).
_BUGGY_CASES = (("W", "b"), ("b",), ("W",))
_BUGGY_CALL = per_case_call(
    'buggy_blocks(_J, dict(_c["params"]), dict(_c["grads"]))',
    setup='def _J(p, _c=_c):\n    return _cost(p, _c["X"], _c["Y"])',
    prelude="from gradlib.nn import network_cost as _cost",
)


def _draw_buggy(seed: int) -> dict:
    """The backward passes of _BUGGY_CASES: correct gradients with some blocks scaled."""
    rng = np.random.default_rng([seed, 3])
    cases = {}
    for k, kinds in enumerate(_BUGGY_CASES):
        draw = draw_network(int(rng.integers(2**62)), layers=3, lambd=False)
        grads = nn.network_gradients(draw.params, draw.X, draw.Y)
        layers = rng.permutation([1, 2, 3])
        for kind, layer in zip(kinds, layers, strict=False):
            factor = float(rng.choice([2.0, 3.0, 0.5, -1.0, draw.X.shape[1]]))
            grads[f"d{kind}{layer}"] = grads[f"d{kind}{layer}"] * factor
        cases[str(k)] = {"params": draw.params, "X": draw.X, "Y": draw.Y, "grads": grads}
    return {"cases": cases}


def _wrong_blocks(case: dict) -> set[str]:
    """The blocks of a case's grads that differ from backprop (recomputed, not stored)."""
    truth = nn.network_gradients(case["params"], case["X"], case["Y"])
    return {k for k, v in truth.items() if relative_difference(case["grads"][k], v) > 1e-12}


def _score_buggy_blocks(value, inputs: dict, max_points: float) -> Score:
    cases, blank = case_answers(value, inputs, "buggy_blocks", max_points)
    if blank:
        return blank
    earned, lines = 0.0, []
    for n, (case, got) in enumerate(zip(cases, value, strict=True), start=1):
        truth = _wrong_blocks(case)
        if isinstance(got, dict) and "error" in got:
            lines.append(f"backward {n}: ✗ buggy_blocks raised {got['error']}.")
            continue
        if not isinstance(got, set | list | tuple) or not all(isinstance(b, str) for b in got):
            lines.append(
                f'backward {n}: ✗ return a set of names such as {{"dW1"}}, got {kind_of(got)}.'
            )
            continue
        named = {b if b.startswith("d") else "d" + b for b in got}
        right, wrong, missed = named & truth, named - truth, truth - named
        unknown = {b for b in wrong if b not in case["grads"]}
        earned += max(0, len(right) - len(wrong)) / len(truth)
        parts = [f"✓ {', '.join(sorted(right))}: indeed wrong"] if right else []
        if wrong - unknown:
            parts.append(f"✗ {', '.join(sorted(wrong - unknown))}: passed the check")
        cased = {b: k for b in unknown for k in case["grads"] if b.lower() == k.lower()}
        if cased:
            parts.append("✗ " + ", ".join(f"{b} is not {k}" for b, k in sorted(cased.items()))
                         + ": names are case-sensitive")  # fmt: skip
        if unknown - set(cased):
            parts.append(
                f"✗ no block {', '.join(sorted(unknown - set(cased)))} (see "
                f"{', '.join(case['grads'])})"
            )
        if missed:
            parts.append(f"✗ {len(missed)} wrong block(s) not named: read every block's verdict")
        lines.append(f"backward {n}: " + "; ".join(parts) + ".")
    return Score(max_points * earned / len(cases), max_points, lines)


# --- L_model_forward -------------------------------------------------------------------


def _layers(X, params: dict, hidden, output, bias: bool = True, upto: int | None = None):
    """The activations A1, ..., A_upto of a forward pass with the given activations."""
    A, out, L = np.asarray(X, float), [], len(params) // 2
    for k in range(1, (upto or L) + 1):
        Z = params[f"W{k}"] @ A + (params[f"b{k}"] if bias else 0.0)
        A = (hidden if k < L else output)(Z)
        out.append(A)
    return out


def _relu(Z):
    return np.maximum(0.0, Z)


def _sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


# Forward passes a student may write instead of ReLU hidden layers and a sigmoid output.
_FORWARD_MISTAKES = (
    (dict(hidden=_relu, output=_relu), "the output layer applies ReLU: the output of the "
     "network must be a probability, which only the sigmoid gives (ReLU is for the hidden "
     "layers)"),
    (dict(hidden=_relu, output=lambda Z: Z), "the output layer has no activation: AL is "
     "Z of the last layer, not its sigmoid"),
    (dict(hidden=_sigmoid, output=_sigmoid), "the hidden layers apply the sigmoid; the "
     "lectures' network uses ReLU there and the sigmoid only at the output"),
    (dict(hidden=np.tanh, output=_sigmoid), "the hidden layers apply tanh, not ReLU"),
    (dict(hidden=_relu, output=_sigmoid, bias=False), "the linear part leaves out the "
     "bias b"),
)  # fmt: skip


def forward_mistake(AL: np.ndarray, X, params: dict) -> str:
    """What the forward pass that made ``AL`` (shape (1, m)) did wrong ('' if unknown)."""
    for options, why in _FORWARD_MISTAKES:
        guess = _layers(X, params, **options)[-1]
        if guess.shape == AL.shape and relative_difference(AL, guess) <= 1e-9:
            return why
    if np.any(AL <= 0) or np.any(AL >= 1):
        return (f"AL has values from {AL.min():.3g} to {AL.max():.3g}, outside (0, 1): the "
                "output layer's activation is not the sigmoid")  # fmt: skip
    return ""


def _score_forward(value, inputs: dict, max_points: float) -> Score:
    X, params = inputs["X"], inputs["params"]
    score = value_scorer(lambda i: nn.forward(X, params)[0], "AL")(value, inputs, max_points)
    if score.full:
        return score
    got, _ = array_of_shape(value, np.shape(value) if value is not None else (), "AL")
    if got is None or got.ndim != 2:
        return score
    hidden = _layers(X, params, _relu, _sigmoid)[:-1]
    early = [k for k, A in enumerate(hidden, 1) if A.shape == got.shape and np.allclose(A, got)]
    if early:
        why = (f"your AL is A{early[-1]}, a hidden layer's output: the loop stops before "
               "the output layer")  # fmt: skip
    elif got.shape == (1, X.shape[1]):
        why = forward_mistake(got, X, params)
    else:
        why = ""
    return Score(score.points, max_points, score.lines + ([f"✗ {why}."] if why else []))


# --- compute_cost ----------------------------------------------------------------------


def _score_cost(value, inputs: dict, max_points: float) -> Score:
    """The cost by value; a wrong one is explained as in 05's regularized_cost, and earns 0."""
    AL, Y, params, lambd = inputs["AL"], inputs["Y"], inputs["params"], inputs["lambd"]
    score = value_scorer(lambda i: nn.cost(AL, Y, params, lambd=lambd), "the cost")(
        value, inputs, max_points
    )
    try:
        got = float(np.asarray(value, dtype=float).reshape(()))
    except (TypeError, ValueError):
        return score  # not one number: value_scorer said what it is
    if score.full or not np.isfinite(got):
        return score
    judged = judge_l2_cost(got, nn.cost(AL, Y), params, lambd, Y.shape[1], max_points)
    return Score(0.0, max_points, judged.lines)


# --- L_model_backward ------------------------------------------------------------------

# L_model_backward is graded on the caches of a right forward pass, built here in the
# notebook's layout (caches[l - 1] = ((A_prev, W, b), Z)) from a copy of the parameters, so
# that a wrong L_model_forward (one without + b, say) costs the forward's points only. The
# student's forward runs too, on a copy of its own: only when its caches are not in that
# layout (a student's own, consistent with their backward) is the backward graded on them.
# What comes back besides the gradients: which caches were used, the forward's AL then, and
# the parameters the calls changed in place (an alias of W updated with += or *= changes W
# itself, and every gradient computed from it afterwards).
_BACKWARD_CALL = """import numpy as _np
def _copy():
    return {_k: _np.array(_v, copy=True) for _k, _v in _in["params"].items()}
def _right_forward(X, p):
    A, caches, L = X, [], len(p) // 2
    for l in range(1, L + 1):
        W, b = p["W" + str(l)], p["b" + str(l)]
        Z = W @ A + b
        caches.append(((A, W, b), Z))
        A = _np.maximum(0, Z) if l < L else 1 / (1 + _np.exp(-Z))
    return A, caches
def _notebook_layout(caches):
    try:
        return all(isinstance(c, tuple | list) and len(c) == 2 and len(c[0]) == 3 for c in caches)
    except Exception:
        return False
_given, _mine = _copy(), _copy()
_AL, _caches = _right_forward(_in["X"], _given)
try:
    _own = L_model_forward(_in["X"], _mine)
except Exception:
    _own = None
_theirs = type(_own) is tuple and len(_own) == 2 and not _notebook_layout(_own[1])
if _theirs:
    _AL, _caches = _own
_out = L_model_backward(_AL, _in["Y"], _caches, _in["lambd"])
if type(_out) is dict:
    _out = dict(_out)
    _out["_own_caches"] = _theirs
    _out["_forward_AL"] = _AL if _theirs else None
    _out["_changed"] = [_k for _k in _in["params"] if not (
        _np.array_equal(_given[_k], _in["params"][_k])
        and _np.array_equal(_mine[_k], _in["params"][_k]))]"""


def _score_backward(value, inputs: dict, max_points: float) -> Score:
    forward_AL = changed = None
    own = False
    if isinstance(value, dict):
        value = dict(value)
        forward_AL, changed = value.pop("_forward_AL", None), value.pop("_changed", None)
        flag = value.pop("_own_caches", None)  # True comes back as the array 1.0
        own = isinstance(flag, np.ndarray | bool) and np.shape(flag) == () and bool(flag)
    score = _GRADIENTS(value, inputs, max_points)
    if score.full:
        return score
    lines = []
    if changed and isinstance(changed, list | tuple):
        names = ", ".join(map(str, changed))
        lines.append(
            f"✗ your forward and backward changed the parameters they were given ({names} "
            "differ after the call): an update in place (+=, *=, a slice assignment) on an "
            "array that is the parameter itself, not a copy of it? Every gradient computed "
            "from it afterwards is off."
        )
    if own:  # graded on the student's own caches: a wrong forward is to blame too
        X, params = inputs["X"], inputs["params"]
        truth = nn.forward(X, params)[0]
        got, _ = array_of_shape(forward_AL, truth.shape, "AL")
        wrong = got is None or relative_difference(got, truth) > 1e-9
        why = forward_mistake(got, X, params) if got is not None and wrong else ""
        lines.append(
            "✗ your L_model_forward keeps its caches in a layout of its own (not one "
            "((A_prev, W, b), Z) per layer), so L_model_backward was graded on them"
            + (f", and its AL is wrong{' (' + why + ')' if why else ''}: every block below "
               "inherits that. Fix the forward first (its own check says more)."
               if wrong else ".")
        )  # fmt: skip
    return Score(score.points, max_points, lines + score.lines, score.blocks, score.report)


def _reference_grads(inputs: dict) -> dict:
    return nn.network_gradients(inputs["params"], inputs["X"], inputs["Y"], lambd=inputs["lambd"])


_GRADIENTS = gradient_scorer(reference=_reference_grads)


TASKS = {
    "test_forward": Task(
        grade_id="test_forward",
        function="L_model_forward",
        call="""_r = L_model_forward(_in["X"], _in["params"])
_out = _r[0] if type(_r) is tuple else _r""",
        draw=_network,
        score=_score_forward,
    ),
    "test_cost": Task(
        grade_id="test_cost",
        function="compute_cost",
        call="""_out = compute_cost(_in["AL"], _in["Y"], _in["params"], _in["lambd"])""",
        draw=_cost_inputs,
        score=_score_cost,
    ),
    "test_backward": Task(
        grade_id="test_backward",
        function="L_model_backward",
        call=_BACKWARD_CALL,
        draw=_network,
        score=_score_backward,
        needs=("L_model_forward",),
        large=_large,
        exact=_reference_grads,
    ),
    "test_backward_fixed": Task(
        grade_id="test_backward_fixed",
        function="backward_fixed",
        call=_FIXED_CALL,
        draw=lambda seed: _with_factors(_network(seed, lambd=False), seed),
        score=gradient_scorer(reference=_reference_grads),
        large=lambda seed: _with_factors(_large(seed, lambd=False), seed),
        exact=_reference_grads,
    ),
    "test_buggy_blocks": Task(
        grade_id="test_buggy_blocks",
        function="buggy_blocks",
        call=_BUGGY_CALL,
        draw=_draw_buggy,
        score=_score_buggy_blocks,
        allowed=("gradlib.gradcheck.check_gradients", "gradlib.nn.network_cost"),
    ),
}
