"""04-backprop: L-layer forward, cost with L2, backward, and the grad-check debugging exercise."""

from __future__ import annotations

import numpy as np

from autograder.inputs import draw_large_network, draw_network
from autograder.tasks import Score, Task, gradient_scorer, kind_of, value_scorer
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
_BUGGY_CALL = """from gradlib.nn import network_cost as _cost
_res = []
for _k in sorted(_in["cases"], key=int):
    _c = _in["cases"][_k]
    def _J(p, _c=_c):
        return _cost(p, _c["X"], _c["Y"])
    try:
        _res.append(buggy_blocks(_J, dict(_c["params"]), dict(_c["grads"])))
    except Exception as _e:
        _res.append({"error": type(_e).__name__ + ": " + str(_e)[:200]})
_out = _res"""


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
    cases = [inputs["cases"][k] for k in sorted(inputs["cases"], key=int)]
    if not isinstance(value, list) or len(value) != len(cases):
        return Score(
            0.0, max_points, [f"✗ no answers came back from buggy_blocks ({kind_of(value)})."]
        )
    if all(
        isinstance(v, dict) and str(v.get("error", "")).startswith("NotImplementedError")
        for v in value
    ):
        return Score(
            0.0,
            max_points,
            ["✗ buggy_blocks is not implemented yet (it raises NotImplementedError)."],
        )
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
        if unknown:
            parts.append(
                f"✗ no block {', '.join(sorted(unknown))} (see {', '.join(case['grads'])})"
            )
        if missed:
            parts.append(f"✗ {len(missed)} wrong block(s) not named: read every block's verdict")
        lines.append(f"backward {n}: " + "; ".join(parts) + ".")
    return Score(max_points * earned / len(cases), max_points, lines)


def _reference_grads(inputs: dict) -> dict:
    return nn.network_gradients(inputs["params"], inputs["X"], inputs["Y"], lambd=inputs["lambd"])


TASKS = {
    "test_forward": Task(
        grade_id="test_forward",
        function="L_model_forward",
        call="""_r = L_model_forward(_in["X"], _in["params"])
_out = _r[0] if type(_r) is tuple else _r""",
        draw=_network,
        score=value_scorer(lambda i: nn.forward(i["X"], i["params"])[0], "AL"),
    ),
    "test_cost": Task(
        grade_id="test_cost",
        function="compute_cost",
        call="""_out = compute_cost(_in["AL"], _in["Y"], _in["params"], _in["lambd"])""",
        draw=_cost_inputs,
        score=value_scorer(
            lambda i: nn.cost(i["AL"], i["Y"], i["params"], lambd=i["lambd"]), "the cost"
        ),
    ),
    "test_backward": Task(
        grade_id="test_backward",
        function="L_model_backward",
        call="""_AL, _caches = L_model_forward(_in["X"], _in["params"])
_out = L_model_backward(_AL, _in["Y"], _caches, _in["lambd"])""",
        draw=_network,
        score=gradient_scorer(reference=_reference_grads),
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
