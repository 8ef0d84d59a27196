"""04-backprop: L-layer forward, cost with L2, backward, and the grad-check debugging exercise."""

from __future__ import annotations

import numpy as np

from autograder.inputs import draw_large_network, draw_network
from autograder.tasks import Score, Task, gradient_scorer, value_scorer
from gradlib import nn

ASSIGNMENT = "04-backprop"

# The bugs planted in the notebook's backward_with_bugs, as in the lecture.
BUGGY_BLOCKS = {"dW2", "db1"}


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


def _reference_grads(inputs: dict) -> dict:
    return nn.network_gradients(inputs["params"], inputs["X"], inputs["Y"], lambd=inputs["lambd"])


def _score_buggy_blocks(value, inputs: dict, max_points: float) -> Score:
    if not isinstance(value, set | list | tuple):
        return Score(
            0.0,
            max_points,
            [
                f"✗ buggy_blocks should be a set of names like "
                f"{{'dW1'}}, got a {type(value).__name__}."
            ],
        )
    named = {v if str(v).startswith("d") else "d" + str(v) for v in value}
    right, wrong = named & BUGGY_BLOCKS, named - BUGGY_BLOCKS
    points = max_points * max(0, len(right) - len(wrong)) / len(BUGGY_BLOCKS)
    lines = [f"✓ {b} was indeed wrong." for b in sorted(right)]
    lines += [f"✗ {b} was computed correctly." for b in sorted(wrong)]
    if len(right) < len(BUGGY_BLOCKS):
        lines.append(
            f"✗ {len(BUGGY_BLOCKS) - len(right)} wrong block(s) not named; run the grad "
            "check and look at each block's relative difference."
        )
    return Score(points, max_points, lines)


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
        call="""_out = buggy_blocks""",
        draw=lambda seed: {},
        score=_score_buggy_blocks,
    ),
}
