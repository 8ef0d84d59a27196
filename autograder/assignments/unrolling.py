"""02-unrolling: parameters into one vector θ, gradients into dθ in the same order, and back.

Every scorer compares with gradlib.unroll (the reference order W1, b1, ..., WL, bL, each
block flattened row-major) and, when an answer is wrong, rebuilds it under the usual
mistakes (string order, b before W, column-major reshape, the dict's own order, ...) to
name the one that was made. The in-kernel call gives nothing for answers that use
gradlib.unroll itself (Task.forbidden).
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import numpy as np

import gradlib
from autograder.harness import Unreadable
from autograder.tasks import Score, Task
from autograder.tasks import array_of_shape as _as_array
from gradlib.unroll import ParamSpec, params_to_vector, vector_to_params

ASSIGNMENT = "02-unrolling"

# Secret networks are this deep, so that a hidden W10 exists and string order shows.
MIN_LAYERS, MAX_LAYERS = 11, 13
# Unrolling only copies numbers: an answer equals the reference to rounding, or is wrong.
EXACT = 1e-12

# The reference unrolling answers every question here: using it earns nothing, under its
# own module or under the names gradlib re-exports (from gradlib import params_to_vector).
NO_REFERENCE = ("gradlib.unroll",) + tuple(
    f"gradlib.{name}" for name in gradlib.__all__
    if getattr(getattr(gradlib, name), "__module__", "") == "gradlib.unroll"
)  # fmt: skip
# Said wherever a wrong θ order shows: the order comes from exercise 1.
FROM_ORDER = (
    " (if this builds on your theta_order, fix that one first: its own check, exercise 1, "
    "names the same mistake)"
)


# ---------------------------------------------------------------- orders, right and wrong


def _layer(name: str) -> int:
    digits = name.lstrip("dWb")
    return int(digits) if digits.isdigit() else 0


def theta_names(names) -> list[str]:
    """Names in θ order, as gradlib.unroll places them: W1, b1, W2, b2, ..., WL, bL."""
    return list(ParamSpec.from_shapes({n: (1,) for n in names}).names)


# Each usual mistake as (name -> the order it produces, what the student did).
MISORDERS: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "sorted": (
        lambda ns: sorted(ns),
        "string order (the names compared as text): every W before every b, and W10 before W2",
    ),
    "string_layer": (
        lambda ns: sorted(ns, key=lambda n: (n.lstrip("dWb"), n.lstrip("d")[0] != "W")),
        "the layer numbers compared as strings: W10 and W11 come right after W1, before W2",
    ),
    "W_then_b": (
        lambda ns: sorted(ns, key=lambda n: (n.lstrip("d")[0] != "W", _layer(n))),
        "all the W blocks first, then all the b blocks; θ alternates W1, b1, W2, b2, …",
    ),
    "b_before_W": (
        lambda ns: sorted(ns, key=lambda n: (_layer(n), n.lstrip("d")[0] == "W")),
        "b before W in each layer; θ holds W1 first, then b1",
    ),
    "reversed": (
        lambda ns: sorted(ns, key=lambda n: (-_layer(n), n.lstrip("d")[0] != "W")),
        "the layers backwards (L first), the order in which a backward pass fills its dict",
    ),
}


def _order_mistake(got: list[str], names: list[str], given: list[str]) -> str:
    """What produced the order ``got`` of ``names`` ('' when no known mistake fits)."""
    if got == given:
        return (
            "the order of the dict's keys: a dict keeps the order in which its keys were "
            "inserted (a backward pass inserts layer L first), and θ's order must not "
            "depend on how a dict was built"
        )
    for order, what in MISORDERS.values():
        if got == order(names):
            return what
    return ""


def _spec(shapes: dict, names: list[str]) -> ParamSpec:
    """A ParamSpec that places the blocks in the order ``names`` (right or wrong)."""
    offsets, total = [], 0
    for n in names:
        offsets.append(total)
        total += prod(shapes[n])
    return ParamSpec(tuple(names), tuple(tuple(shapes[n]) for n in names), tuple(offsets), total)


# ---------------------------------------------------------------- inputs


def _network_shapes(rng: np.random.Generator) -> dict[str, list[int]]:
    """Shapes of W1, b1, ..., WL, bL for a random deep, narrow network (natural order)."""
    layers = int(rng.integers(MIN_LAYERS, MAX_LAYERS + 1))
    dims = [int(rng.integers(2, 5))] + [int(d) for d in rng.integers(2, 5, size=layers - 1)] + [1]
    shapes = {}
    for k in range(1, layers + 1):
        shapes[f"W{k}"] = [dims[k], dims[k - 1]]
        shapes[f"b{k}"] = [dims[k], 1]
    return shapes


def _shuffled(d: dict, rng: np.random.Generator) -> dict:
    keys = list(d)
    return {keys[i]: d[keys[i]] for i in rng.permutation(len(keys))}


def _draw_order(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"names": list(_shuffled(_network_shapes(rng), rng))}


def _draw_params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = _shuffled(_network_shapes(rng), rng)
    return {"params": {n: rng.normal(size=s) for n, s in shapes.items()}}


def _draw_theta(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = _shuffled(_network_shapes(rng), rng)
    size = sum(prod(s) for s in shapes.values())
    return {"theta": rng.normal(size=size), "shapes": shapes}


def _draw_grads(seed: int) -> dict:
    """Gradients as a backward pass stores them: dA{l-1}, dWl, dbl for l = L, ..., 1."""
    rng = np.random.default_rng(seed)
    shapes = _network_shapes(rng)
    m = int(rng.integers(3, 6))
    grads = {}
    for k in range(len(shapes) // 2, 0, -1):
        grads[f"dA{k - 1}"] = rng.normal(size=(shapes[f"W{k}"][1], m))
        grads[f"dW{k}"] = rng.normal(size=shapes[f"W{k}"])
        grads[f"db{k}"] = rng.normal(size=shapes[f"b{k}"])
    return {"grads": grads}


def _draw_locate(seed: int) -> dict:
    """Shapes and six indices: inside W10 or later, at block edges, the last, interior ones.

    Hidden layers are at least 2 wide, so every hidden W has entries whose row-major and
    column-major places differ, and W10 (at least) is a hidden layer.
    """
    rng = np.random.default_rng(seed)
    shapes = _network_shapes(rng)
    spec = ParamSpec.from_shapes({n: tuple(s) for n, s in shapes.items()})
    L = len(shapes) // 2

    def inside(name: str) -> int:  # an entry whose row-major and column-major places differ
        shape = spec.shapes[spec.names.index(name)]
        flats = [
            k for k in range(prod(shape))
            if np.unravel_index(k, shape) != np.unravel_index(k, shape, order="F")
        ]  # fmt: skip
        return spec.block(name).start + int(rng.choice(flats))

    late, early = int(rng.integers(10, L)), int(rng.integers(2, 10))  # hidden layers
    edge = int(rng.integers(2, L + 1))
    bias = int(rng.integers(1, L))
    indices = [
        inside(f"W{late}"),
        spec.block(f"b{edge}").start,  # the first entry of a bias
        spec.block(f"b{edge}").start - 1,  # the last entry of the W before it
        inside(f"W{early}"),
        spec.block(f"b{bias}").stop - 1,
        spec.size - 1,
    ]
    return {"shapes": _shuffled(shapes, rng), "indices": np.array(indices, dtype=float)}


# ---------------------------------------------------------------- scoring θ and dθ


def _vector(value, n: int, what: str) -> tuple[np.ndarray | None, str]:
    """(flat array, "") when ``value`` is a finite vector, else (None, why not)."""
    if value is None:
        return None, f"✗ {what} is missing: your function returned None (forgot to return?)."
    if isinstance(value, Unreadable):
        return None, f"✗ could not read {what}, a {value.type}, as numbers ({value.why})."
    if isinstance(value, dict | str | set):
        return None, f"✗ {what} should be one flat array, got a {type(value).__name__}."
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None, (
            f"✗ {what} should be one flat array, got a {type(value).__name__} of pieces: θ "
            "holds the blocks' entries end to end, in one array."
        )
    if arr.ndim == 2 and 1 in arr.shape:  # a column (n, 1) as in the lectures is fine
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        return None, (
            f"✗ {what} should be a vector of shape ({n},), got shape {arr.shape}: each "
            "block goes into θ flattened, its entries one after the other."
        )
    if not np.all(np.isfinite(arr)):
        return None, f"✗ {what} contains NaN or inf."
    return arr, ""


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= EXACT * (1 + np.abs(b))))


def _find(got: np.ndarray, part: np.ndarray) -> int | None:
    """First offset where ``part`` sits in ``got``, else None."""
    for start in np.flatnonzero(np.abs(got - part[0]) <= EXACT * (1 + abs(part[0]))):
        if start + part.size <= got.size and _same(got[start : start + part.size], part):
            return int(start)
    return None


def _place(spec: ParamSpec, name: str, what: str = "θ") -> str:
    s = spec.block(name)
    return f"{what}[{s.start}:{s.stop}]"


def _explain_vector(
    got: np.ndarray, blocks: dict, given: list[str], prefix: str, what: str, extras: dict
) -> tuple[list[str], list[str]]:
    """(names of the blocks in their place, feedback lines) for a θ-like vector.

    ``blocks`` maps parameter names (W1, b1, ...) to arrays; ``given`` is the key order of
    the student's input dict (keys are ``prefix`` + name, e.g. "dW3"); ``extras`` are
    arrays of that dict that are not parameters (dA1, ...).
    """
    truth, spec = params_to_vector(blocks)  # the reference θ (or dθ)
    names = list(spec.names)
    right = [
        n for n in names
        if spec.block(n).stop <= got.size and _same(got[spec.block(n)], truth[spec.block(n)])
    ]  # fmt: skip
    lines = []
    if got.size != spec.size:
        sizes = [f"{prod(s)} ({prefix}{n})" for n, s in zip(names, spec.shapes, strict=True)]
        sizes = " + ".join(sizes if len(sizes) <= 6 else [*sizes[:4], "…", sizes[-1]])
        lines.append(f"✗ {what} has {got.size} entries but should have {spec.size} = {sizes}.")
    found = [k for k, a in extras.items() if _find(got, np.ravel(a)) is not None]
    if found:
        lines.append(
            f"✗ {what} contains {', '.join(found)}: only the parameters' gradients belong "
            f"in it ({prefix}W…, {prefix}b…); skip the other keys."
        )
    mistake = _vector_mistake(got, blocks, names, given, prefix)
    if mistake:
        lines.append(f"✗ your {what} {mistake}.")
    wrong = [n for n in names if n not in right]
    for name in wrong[:3]:
        flat = blocks[name].ravel()
        at = _find(got, flat)
        if at is not None:
            lines.append(
                f"✗ {prefix}{name} belongs at {_place(spec, name, what)} but sits at "
                f"{what}[{at}:{at + flat.size}]."
            )
        elif _find(got, blocks[name].ravel(order="F")) is not None:
            lines.append(f"✗ {prefix}{name} is flattened column by column (order='F').")
        else:
            lines.append(f"✗ {prefix}{name} is not in your {what} (a missing block?).")
    if len(wrong) > 3:
        lines.append(f"✗ … and {len(wrong) - 3} more blocks out of place.")
    if right:
        listing = ", ".join(prefix + n for n in right[:6]) + (", …" if len(right) > 6 else "")
        lines.insert(0, f"✓ {len(right)} of {len(names)} blocks in their place ({listing}).")
    return right, lines


def _vector_mistake(got, blocks: dict, names: list[str], given: list[str], prefix: str) -> str:
    """The known mistake that rebuilds ``got`` exactly, said as 'follows …' ('' if none)."""
    keyed = [prefix + n for n in names]
    in_dict = [k for k in given if k.removeprefix(prefix) in blocks]
    orders = [[k.removeprefix(prefix) for k in in_dict]]
    orders += [[k.removeprefix(prefix) for k in f(keyed)] for f, _ in MISORDERS.values()]
    for ravel in ("C", "F"):
        for order in [names, *orders]:
            guess = np.concatenate([blocks[n].ravel(order=ravel) for n in order])
            if guess.size != got.size or not _same(got, guess):
                continue
            parts = []
            if order != names:
                shown = [prefix + n for n in order]
                mistake = _order_mistake(shown, keyed, in_dict)
                note = FROM_ORDER if "dict's keys" not in mistake else ""
                parts.append(f"follows {mistake} ({', '.join(shown[:5])}, …){note}")
            if ravel == "F":
                parts.append(
                    "flattens each block column by column (order='F', or a transpose); θ "
                    "holds each block row by row, NumPy's default order"
                )
            return "; and ".join(parts)
    return ""


def _score_vector(value, blocks: dict, given: list, prefix: str, what: str, max_points, extras):
    size = sum(a.size for a in blocks.values())
    got, problem = _vector(value, size, what)
    if problem:
        return Score(0.0, max_points, [problem])
    right, lines = _explain_vector(got, blocks, given, prefix, what, extras)
    if got.size != size:
        lines.append(f"✗ 0 points: a {what} of the wrong length cannot be rolled back.")
        return Score(0.0, max_points, lines)
    if len(right) == len(blocks):
        return Score(max_points, max_points, [
            f"✓ {what} is right: {len(blocks)} blocks, {size} entries, in θ order "
            f"{prefix}W1, {prefix}b1, {prefix}W2, …, each flattened row by row."
        ])  # fmt: skip
    return Score(max_points * len(right) / len(blocks), max_points, lines)


def _score_params_to_theta(value, inputs: dict, max_points: float) -> Score:
    params = inputs["params"]
    return _score_vector(value, params, list(params), "", "θ", max_points, {})


def _score_grads_to_theta(value, inputs: dict, max_points: float) -> Score:
    grads = inputs["grads"]
    blocks = {k[1:]: v for k, v in grads.items() if k[:2] in ("dW", "db")}
    extras = {k: v for k, v in grads.items() if k[1:] not in blocks}
    return _score_vector(value, blocks, list(grads), "d", "dθ", max_points, extras)


# ---------------------------------------------------------------- scoring θ -> dict


def _score_theta_to_params(value, inputs: dict, max_points: float) -> Score:
    theta = np.asarray(inputs["theta"], dtype=float)
    shapes = {n: tuple(int(k) for k in s) for n, s in inputs["shapes"].items()}
    spec = ParamSpec.from_shapes(shapes)
    truth = vector_to_params(theta, spec)
    if not isinstance(value, dict):
        kind = value.type if isinstance(value, Unreadable) else type(value).__name__
        return Score(0.0, max_points, [
            f"✗ expected a dict name -> array (W1, b1, …), got a {kind}."
        ])  # fmt: skip
    share = max_points / len(spec.names)
    lines, right, wrong = [], [], {}
    for name in spec.names:
        arr, problem = _as_array(value.get(name), shapes[name], name)
        if problem:
            lines.append(problem)
        elif _same(arr, truth[name]):
            right.append(name)
        else:
            wrong[name] = arr
    extra = sorted(set(value) - set(spec.names))
    if extra:
        lines.append(
            f"✗ extra keys {', '.join(map(str, extra))}: the dict should hold exactly the "
            "names in shapes (each costs one block's points)."
        )
    mistake = _dict_mistake(wrong, theta, shapes, list(spec.names))
    if mistake:
        lines.append(f"✗ you {mistake}.")
    for k, (name, arr) in enumerate(wrong.items()):
        if k == 3:
            lines.append(f"✗ … and {len(wrong) - 3} more blocks wrong.")
            break
        at, how = _find(theta, arr.ravel()), ""
        if at is None:
            at, how = _find(theta, arr.ravel(order="F")), " filled column by column"
        where = f"θ[{at}:{at + arr.size}]{how}" if at is not None else "no slice of θ"
        lines.append(f"✗ {name} should be {_place(spec, name)} reshaped, but holds {where}.")
    points = share * max(0, len(right) - len(extra))
    if len(right) == len(spec.names) and not extra:
        lines = [f"✓ all {len(right)} blocks have the right shape and the right part of θ."]
    elif right:
        lines.insert(0, f"✓ {len(right)} of {len(spec.names)} blocks are right.")
    return Score(points, max_points, lines)


def _dict_mistake(wrong: dict, theta: np.ndarray, shapes: dict, names: list[str]) -> str:
    """The known mistake that rebuilds every wrong block exactly ('' if none)."""
    if not wrong:
        return ""
    orders = [list(shapes)] + [f(names) for f, _ in MISORDERS.values()]
    for ravel in ("C", "F"):
        for order in [names, *orders]:
            spec = _spec(shapes, order)
            if not all(
                _same(a, theta[spec.block(n)].reshape(shapes[n], order=ravel))
                for n, a in wrong.items()
            ):
                continue
            parts = []
            if order != names:
                mistake = _order_mistake(order, names, list(shapes))
                note = FROM_ORDER if "dict's keys" not in mistake else ""
                parts.append(
                    f"read the blocks out of θ in {mistake} ({', '.join(order[:5])}, …){note}"
                )
            if ravel == "F":
                parts.append(
                    "filled each block column by column (order='F'); θ holds each block row "
                    "by row, NumPy's default order"
                )
            return "; and ".join(parts)
    return ""


# ---------------------------------------------------------------- scoring the order


def _score_theta_order(value, inputs: dict, max_points: float) -> Score:
    names = list(inputs["names"])
    truth = theta_names(names)
    if isinstance(value, Unreadable) or not isinstance(value, list | tuple):
        kind = value.type if isinstance(value, Unreadable) else type(value).__name__
        return Score(0.0, max_points, [f"✗ expected a list of names, got a {kind}."])
    got = [str(v) for v in value]
    if got == truth:
        return Score(max_points, max_points, [
            f"✓ the order is right for {len(truth) // 2} layers: {', '.join(truth[:4])}, …, "
            f"{', '.join(truth[-2:])}."
        ])  # fmt: skip
    lines = []
    if sorted(got) != sorted(names):
        missing = sorted(set(names) - set(got))
        extra = sorted(set(got) - set(names))
        if missing:
            lines.append(f"✗ missing {', '.join(missing)}: return every name, once.")
        if extra:
            lines.append(f"✗ {', '.join(extra)} were not among the names given.")
        if len(got) != len(set(got)):
            lines.append("✗ some names appear twice.")
    else:
        mistake = _order_mistake(got, names, names)
        k = next(i for i, (a, b) in enumerate(zip(got, truth, strict=True)) if a != b)
        lines.append(
            f"✗ position {k} holds {got[k]} but θ has {truth[k]} there "
            f"(θ order: {', '.join(truth[max(0, k - 2) : k + 3])}, …)."
        )
        if mistake:
            lines.append(f"✗ your order is {mistake}.")
    return Score(0.0, max_points, lines)


# ---------------------------------------------------------------- scoring locate


def _pair(answer) -> tuple[str | None, tuple[int, ...] | None, str]:
    """(name, index, "") from an answer (name, index tuple), else (None, None, why)."""
    if answer is None:
        return (
            None,
            None,
            (
                "is None: no block was found for it (a missing return, or block offsets that do "
                "not add up to θ's positions?)"
            ),
        )
    if not isinstance(answer, list | tuple) or len(answer) != 2:
        return None, None, "should be a pair (name, index), e.g. ('W2', (1, 0))"
    name, index = answer
    if not isinstance(name, str):
        return None, None, f"the name should be a string like 'W2', got a {type(name).__name__}"
    if isinstance(index, Unreadable):
        return name, None, f"could not read the index ({index.why})"
    try:
        flat = np.asarray(index, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return name, None, "the index should be a tuple of ints like (1, 0)"
    if not np.all(np.isfinite(flat)) or not np.all(flat == np.round(flat)):
        return name, None, "the index should be whole numbers"
    return name, tuple(int(v) for v in flat), ""


def _locate_mistake(i: int, name: str, index: tuple, shapes: dict, spec: ParamSpec) -> str:
    """Why (name, index) is a wrong answer for θ[i] (the first known mistake that fits)."""
    true_name, true_index = spec.locate(i)
    shape = shapes[true_name]
    flat = i - spec.block(true_name).start
    if name == true_name:
        if index == tuple(int(v) for v in np.unravel_index(flat, shape, order="F")):
            return "column-major unravel (order='F'); θ is filled row by row"
        if index == (flat,):
            return f"that is the position inside {name}; give the (row, column) of that entry"
        if index == tuple(v + 1 for v in true_index):
            return "1-based; numpy indices start at 0"
    inside = len(index) == len(shape) and all(
        0 <= k < n for k, n in zip(index, shape, strict=False)
    )
    if name == true_name and inside:
        start = spec.block(name).start
        counted = i - int(np.ravel_multi_index(index, shape))
        return (
            f"you counted its entries from θ[{counted}], while {name} starts at θ[{start}]: "
            "the offset of the block in θ (the sizes of the blocks before it) is off"
        )
    for step in (-1, 1):
        if 0 <= i + step < spec.size and (name, index) == spec.locate(i + step):
            edge = " (is your block edge test < or ≤?)" if name != true_name else ""
            return f"that is θ[{i + step}], off by one{edge}"
    for f, what in MISORDERS.values():
        wrong = _spec(shapes, f(list(spec.names)))
        if (name, index) == wrong.locate(i):
            return (f"that is where θ[{i}] sits with the blocks laid out in {what}: from "
                    "your theta_order (fix exercise 1 first), or a running offset that skips "
                    "some blocks' sizes?")  # fmt: skip
    return ""


def _score_locate(value, inputs: dict, max_points: float) -> Score:
    shapes = {n: tuple(int(k) for k in s) for n, s in inputs["shapes"].items()}
    spec = ParamSpec.from_shapes(shapes)
    indices = [int(i) for i in np.asarray(inputs["indices"]).reshape(-1)]
    if not isinstance(value, list | tuple) or len(value) != len(indices):
        return Score(0.0, max_points, ["✗ locate_index should return one (name, index) pair."])
    share, points, lines = max_points / len(indices), 0.0, []
    for i, answer in zip(indices, value, strict=True):
        true_name, true_index = spec.locate(i)
        right = f"{true_name}[{', '.join(map(str, true_index))}]"
        name, index, problem = _pair(answer)
        if problem:
            if name == true_name:  # the block is right: half of this entry, as below
                points += share / 2
                problem += f" (the block, {name}, is right)"
            lines.append(f"✗ θ[{i}] is {right}: your answer {problem}.")
            continue
        shown = f"{name}[{', '.join(map(str, index or ()))}]"
        if (name, index) == (true_name, true_index):
            points += share
            lines.append(f"✓ θ[{i}] is {right}.")
            continue
        why = _locate_mistake(i, name, index, shapes, spec)
        if name == true_name:
            points += share / 2
            lines.append(
                f"✗ θ[{i}] is {right}: the block is right, the index is not (you said "
                f"{shown}{'; ' + why if why else ''})."
            )
        else:
            lines.append(f"✗ θ[{i}] is {right}, not {shown}{' — ' + why if why else ''}.")
    return Score(points, max_points, lines)


# ---------------------------------------------------------------- the tasks


TASKS = {
    "test_theta_order": Task(
        grade_id="test_theta_order",
        function="theta_order",
        call="""_out = list(theta_order(list(_in["names"])))""",
        forbidden=NO_REFERENCE,
        draw=_draw_order,
        score=_score_theta_order,
    ),
    "test_params_to_theta": Task(
        grade_id="test_params_to_theta",
        function="params_to_theta",
        call="""_out = params_to_theta(_in["params"])""",
        forbidden=NO_REFERENCE,
        draw=_draw_params,
        score=_score_params_to_theta,
    ),
    "test_theta_to_params": Task(
        grade_id="test_theta_to_params",
        function="theta_to_params",
        call="""_out = theta_to_params(_in["theta"], _in["shapes"])""",
        forbidden=NO_REFERENCE,
        draw=_draw_theta,
        score=_score_theta_to_params,
    ),
    "test_grads_to_theta": Task(
        grade_id="test_grads_to_theta",
        function="grads_to_theta",
        call="""_out = grads_to_theta(_in["grads"])""",
        forbidden=NO_REFERENCE,
        draw=_draw_grads,
        score=_score_grads_to_theta,
    ),
    "test_locate_index": Task(
        grade_id="test_locate_index",
        function="locate_index",
        call="""_out = [locate_index(int(_i), _in["shapes"]) for _i in _in["indices"]]""",
        forbidden=NO_REFERENCE,
        draw=_draw_locate,
        score=_score_locate,
    ),
}
