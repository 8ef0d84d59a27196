"""02-unrolling: do the scorers give full marks to right answers and name each mistake?

The right answers here are built with explicit loops over layers 1..L, independently of
gradlib.unroll (which the scorers use as their reference).
"""

import json

import nbformat
import numpy as np
import pytest

from autograder.assignments import unrolling
from autograder.course import SOLUTIONS
from autograder.harness import Unreadable, encode_inputs
from autograder.inputs import PUBLIC_SEED
from autograder.selfcheck import _run

TASKS = unrolling.TASKS
ORDER, TO_THETA, TO_PARAMS, GRADS, LOCATE = (
    TASKS[k]
    for k in (
        "test_theta_order",
        "test_params_to_theta",
        "test_theta_to_params",
        "test_grads_to_theta",
        "test_locate_index",
    )
)
SEEDS = [PUBLIC_SEED, 1, 7, 123456789]


def _text(score) -> str:
    return "\n".join(score.lines)


def _layers(names) -> int:
    return len(list(names)) // 2


def _natural(names) -> list[str]:
    """θ order written out: W1, b1, ..., WL, bL."""
    return [f"{p}{k}" for k in range(1, _layers(names) + 1) for p in ("W", "b")]


def _unroll(arrays: dict, order: list[str], ravel: str = "C") -> np.ndarray:
    return np.concatenate([np.asarray(arrays[n]).reshape(-1, order=ravel) for n in order])


def _locate(i: int, shapes: dict, order: list[str], ravel: str = "C"):
    start = 0
    for name in order:
        size = int(np.prod(shapes[name]))
        if i < start + size:
            index = np.unravel_index(i - start, shapes[name], order=ravel)
            return name, tuple(int(k) for k in index)
        start += size
    raise IndexError(i)


def _string_layer(names):
    return sorted(names, key=lambda n: (n.lstrip("dWb"), n.lstrip("d")[0] != "W"))


def _b_before_w(names):
    return sorted(names, key=lambda n: (int(n.lstrip("dWb")), n.lstrip("d")[0] == "W"))


# --- the secret inputs --------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_inputs_are_deep_shuffled_and_travel_as_json(seed):
    for task in TASKS.values():
        inputs = task.draw(seed)
        json.loads(json.dumps(encode_inputs(inputs)[0]))
    names = ORDER.draw(seed)["names"]
    assert unrolling.MIN_LAYERS <= _layers(names) <= unrolling.MAX_LAYERS
    assert names != _natural(names) and sorted(names) == sorted(_natural(names))
    params = TO_THETA.draw(seed)["params"]
    assert list(params) != _natural(params)
    grads = GRADS.draw(seed)["grads"]
    L = _layers(k for k in grads if k[1] != "A")
    assert list(grads)[:3] == [f"dA{L - 1}", f"dW{L}", f"db{L}"]


@pytest.mark.parametrize("seed", SEEDS)
def test_locate_indices_tell_row_major_from_column_major(seed):
    inputs = LOCATE.draw(seed)
    shapes, natural = inputs["shapes"], _natural(inputs["shapes"])
    answers = [_locate(int(i), shapes, natural) for i in inputs["indices"]]
    by_f = [_locate(int(i), shapes, natural, "F") for i in inputs["indices"]]
    assert sum(a != f for a, f in zip(answers, by_f, strict=True)) >= 2
    assert any(int(name[1:]) >= 10 and name[0] == "W" for name, _ in answers)


def test_different_seeds_give_different_networks():
    sizes = {TO_THETA.draw(s)["params"]["W1"].shape + (len(TO_THETA.draw(s)["params"]),)
             for s in range(8)}  # fmt: skip
    assert len(sizes) > 1


# --- theta_order --------------------------------------------------------------------------


def test_the_right_order_earns_full_points():
    inputs = ORDER.draw(PUBLIC_SEED)
    score = ORDER.score(_natural(inputs["names"]), inputs, 2.0)
    assert score.full and _text(score).startswith("✓")


@pytest.mark.parametrize(
    ("mistake", "said"),
    [
        (sorted, "string order"),
        (_string_layer, "compared as strings"),
        (_b_before_w, "b before W"),
        (lambda ns: sorted(ns, key=lambda n: (n[0] != "W", int(n[1:]))), "all the W blocks"),
        (lambda ns: sorted(ns, key=lambda n: (-int(n[1:]), n[0] != "W")), "backwards"),
        (lambda ns: list(ns), "dict's keys"),
    ],
)
def test_each_wrong_order_earns_nothing_and_is_named(mistake, said):
    inputs = ORDER.draw(PUBLIC_SEED)
    score = ORDER.score(mistake(inputs["names"]), inputs, 2.0)
    assert score.points == 0.0
    assert said in _text(score) and "position" in _text(score)


def test_missing_names_and_wrong_types_earn_nothing():
    inputs = ORDER.draw(PUBLIC_SEED)
    short = ORDER.score(_natural(inputs["names"])[:-1], inputs, 2.0)
    assert short.points == 0.0 and "missing b" in _text(short)
    for bad in ("W1 b1", None, Unreadable("generator", "<generator>", "not numbers")):
        score = ORDER.score(bad, inputs, 2.0)
        assert score.points == 0.0 and "expected a list" in _text(score)


# --- params_to_theta and grads_to_theta ---------------------------------------------------


def _params():
    inputs = TO_THETA.draw(PUBLIC_SEED)
    return inputs, inputs["params"], _natural(inputs["params"])


def test_the_right_theta_earns_full_points_as_a_row_or_a_column():
    inputs, params, natural = _params()
    theta = _unroll(params, natural)
    assert TO_THETA.score(theta, inputs, 3.0).full
    assert TO_THETA.score(theta.reshape(-1, 1), inputs, 3.0).full
    assert TO_THETA.score(list(theta), inputs, 3.0).full


@pytest.mark.parametrize(
    ("order", "said"),
    [
        (sorted, "string order"),
        (_string_layer, "compared as strings"),
        (_b_before_w, "b before W"),
        (lambda ns: list(ns), "dict's keys"),
    ],
)
def test_a_theta_in_a_wrong_order_loses_points_and_says_which_order(order, said):
    inputs, params, natural = _params()
    score = TO_THETA.score(_unroll(params, order(list(params))), inputs, 3.0)
    assert score.points < 0.5
    assert said in _text(score)
    assert "belongs at θ[0:" in _text(score) or "W2 belongs at" in _text(score)


def test_column_major_blocks_keep_only_the_vectors():
    inputs, params, natural = _params()
    score = TO_THETA.score(_unroll(params, natural, ravel="F"), inputs, 3.0)
    vectors = sum(1 for n in natural if min(params[n].shape) == 1)
    assert score.points == pytest.approx(3.0 * vectors / len(natural))
    assert "column by column" in _text(score)


def test_a_missing_layer_earns_nothing_and_is_named():
    inputs, params, natural = _params()
    L = _layers(natural)
    score = TO_THETA.score(_unroll(params, natural[:-2]), inputs, 3.0)
    assert score.points == 0.0
    text = _text(score)
    assert f"W{L} is not in your θ" in text and f"b{L} is not in your θ" in text
    assert "wrong length" in text


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (None, "returned None"),
        ("theta", "one flat array"),
        (Unreadable("Tensor", "tensor(...)", "no float"), "could not read"),
        (np.ones((3, 4)), "each block goes into θ flattened"),
    ],
)
def test_unusable_thetas_earn_nothing_with_a_reason(value, said):
    inputs, _, _ = _params()
    score = TO_THETA.score(value, inputs, 3.0)
    assert score.points == 0.0 and said in _text(score)


def test_a_list_of_pieces_or_nan_earns_nothing():
    inputs, params, natural = _params()
    pieces = TO_THETA.score([params[n].reshape(-1) for n in natural], inputs, 3.0)
    assert pieces.points == 0.0 and "end to end, in one array" in _text(pieces)
    theta = _unroll(params, natural)
    theta[3] = np.nan
    nan = TO_THETA.score(theta, inputs, 3.0)
    assert nan.points == 0.0 and "NaN" in _text(nan)


def _grads():
    inputs = GRADS.draw(PUBLIC_SEED)
    grads = inputs["grads"]
    return inputs, grads, ["d" + n for n in _natural(k[1:] for k in grads if k[1] != "A")]


def test_the_right_dtheta_earns_full_points():
    inputs, grads, natural = _grads()
    assert GRADS.score(_unroll(grads, natural), inputs, 2.0).full


def test_dtheta_in_the_order_backward_filled_the_dict_is_explained():
    inputs, grads, _ = _grads()
    in_dict = [k for k in grads if k[1] != "A"]
    score = GRADS.score(_unroll(grads, in_dict), inputs, 2.0)
    assert score.points == 0.0
    assert "backward pass inserts layer L first" in _text(score)
    assert "dW1 belongs at dθ[0:" in _text(score)


def test_activation_gradients_in_dtheta_are_named():
    inputs, grads, natural = _grads()
    score = GRADS.score(_unroll(grads, [*natural, "dA0"]), inputs, 2.0)
    assert score.points == 0.0
    assert "contains dA0" in _text(score) and "wrong length" in _text(score)


def test_a_half_right_dtheta_earns_half():
    inputs, grads, natural = _grads()
    flipped = _unroll(grads, natural, ravel="F")  # only the vectors survive
    score = GRADS.score(flipped, inputs, 2.0)
    assert 0.0 < score.points < 2.0 and "column by column" in _text(score)


# --- theta_to_params ----------------------------------------------------------------------


def _rolled(theta, shapes, order, ravel="C"):
    out, start = {}, 0
    for name in order:
        size = int(np.prod(shapes[name]))
        out[name] = theta[start : start + size].reshape(shapes[name], order=ravel)
        start += size
    return out


def _theta():
    inputs = TO_PARAMS.draw(PUBLIC_SEED)
    return inputs, inputs["theta"], inputs["shapes"], _natural(inputs["shapes"])


def test_the_right_dict_earns_full_points():
    inputs, theta, shapes, natural = _theta()
    score = TO_PARAMS.score(_rolled(theta, shapes, natural), inputs, 3.0)
    assert score.full and _text(score).startswith("✓")


def test_reading_theta_in_the_dicts_order_is_explained():
    inputs, theta, shapes, _ = _theta()
    score = TO_PARAMS.score(_rolled(theta, shapes, list(shapes)), inputs, 3.0)
    assert score.points < 0.5
    assert "dict's keys" in _text(score) and "reshaped, but holds θ[" in _text(score)


def test_reading_theta_in_string_order_is_explained():
    inputs, theta, shapes, _ = _theta()
    score = TO_PARAMS.score(_rolled(theta, shapes, _string_layer(list(shapes))), inputs, 3.0)
    assert score.points < 1.0 and "compared as strings" in _text(score)


def test_column_major_reshape_is_explained_and_keeps_only_the_vectors():
    inputs, theta, shapes, natural = _theta()
    score = TO_PARAMS.score(_rolled(theta, shapes, natural, "F"), inputs, 3.0)
    vectors = sum(1 for n in natural if min(shapes[n]) == 1)
    assert score.points == pytest.approx(3.0 * vectors / len(natural))
    assert "column by column" in _text(score)


def test_misshapen_missing_extra_and_nan_blocks_lose_their_share():
    inputs, theta, shapes, natural = _theta()
    share = 3.0 / len(natural)
    answer = _rolled(theta, shapes, natural)
    oblong = next(n for n in natural if n[0] == "W" and len(set(shapes[n])) == 2 and n != "W4")
    answer[oblong] = answer[oblong].T.copy()
    del answer["b3"]
    answer["W4"] = np.full(shapes["W4"], np.nan)
    answer["dA1"] = np.zeros(3)
    score = TO_PARAMS.score(answer, inputs, 3.0)
    assert score.points == pytest.approx(share * (len(natural) - 3 - 1))
    text = _text(score)
    assert f"{oblong} has shape" in text and "transposed" in text
    assert "b3 is missing" in text and "W4 contains NaN" in text and "extra keys dA1" in text


def test_not_a_dict_earns_nothing():
    inputs, theta, _, _ = _theta()
    for bad in (theta, None, Unreadable("Params", "Params()", "no")):
        score = TO_PARAMS.score(bad, inputs, 3.0)
        assert score.points == 0.0 and "expected a dict" in _text(score)


# --- locate_index -------------------------------------------------------------------------


def _locate_inputs():
    inputs = LOCATE.draw(PUBLIC_SEED)
    shapes = inputs["shapes"]
    return inputs, shapes, [int(i) for i in inputs["indices"]], _natural(shapes)


def test_right_locations_earn_full_points_whatever_the_index_type():
    inputs, shapes, indices, natural = _locate_inputs()
    answers = [_locate(i, shapes, natural) for i in indices]
    assert LOCATE.score(answers, inputs, 3.0).full
    as_arrays = [(n, np.array(ix, dtype=float)) for n, ix in answers]  # how the kernel sends
    assert LOCATE.score(as_arrays, inputs, 3.0).full
    as_lists = [[n, list(ix)] for n, ix in answers]
    assert LOCATE.score(as_lists, inputs, 3.0).full


def test_column_major_unravel_loses_half_of_each_entry_it_gets_wrong():
    inputs, shapes, indices, natural = _locate_inputs()
    answers = [_locate(i, shapes, natural, "F") for i in indices]
    wrong = sum(a != _locate(i, shapes, natural) for a, i in zip(answers, indices, strict=True))
    score = LOCATE.score(answers, inputs, 3.0)
    assert score.points == pytest.approx(3.0 - wrong * 3.0 / len(indices) / 2)
    assert "column-major" in _text(score)


def test_string_order_and_off_by_one_are_named():
    inputs, shapes, indices, natural = _locate_inputs()
    lexi = LOCATE.score([_locate(i, shapes, sorted(shapes)) for i in indices], inputs, 3.0)
    assert lexi.points < 1.5 and "string order" in _text(lexi)
    shifted = [_locate(max(i - 1, 0), shapes, natural) for i in indices]
    off = LOCATE.score(shifted, inputs, 3.0)
    assert off.points < 3.0 and "off by one" in _text(off)


def test_flat_and_one_based_indices_are_named():
    inputs, shapes, indices, natural = _locate_inputs()
    i = indices[0]  # inside a W with at least two rows and columns
    name, index = _locate(i, shapes, natural)
    start = indices[0] - (index[0] * shapes[name][1] + index[1])
    rest = [_locate(j, shapes, natural) for j in indices[1:]]
    flat = LOCATE.score([(name, (i - start,)), *rest], inputs, 3.0)
    assert "(row, column)" in _text(flat)
    one_based = LOCATE.score([(name, tuple(k + 1 for k in index)), *rest], inputs, 3.0)
    assert "1-based" in _text(one_based)


def test_unusable_answers_earn_nothing_for_their_entry():
    inputs, shapes, indices, natural = _locate_inputs()
    answers = [_locate(i, shapes, natural) for i in indices]
    answers[0] = "W1[0, 0]"
    answers[1] = (3, (0, 0))
    answers[2] = (answers[2][0], (np.nan, 0.0))
    score = LOCATE.score(answers, inputs, 3.0)
    assert score.points == pytest.approx(3.0 * 3 / 6 + 0.25)
    assert "should be a pair" in _text(score) and "should be a string" in _text(score)
    assert "whole numbers" in _text(score)


# --- in the kernel: the notebook's answers pass, the reference earns nothing --------------


def _solution_namespace() -> dict:
    nb = nbformat.read(SOLUTIONS / "02-unrolling" / "02-unrolling.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    exec("import numpy as np", namespace)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, namespace)
    return namespace


@pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))
@pytest.mark.parametrize("seed", [PUBLIC_SEED, 99])
def test_the_solutions_pass_every_check(task, seed):
    result = _run(task.function, _solution_namespace(), seed)
    assert result.passed, result.summary()


@pytest.mark.parametrize(
    "source",
    [
        "from gradlib import params_to_vector\n"
        "def params_to_theta(params):\n    return params_to_vector(params)[0]\n",
        "import gradlib\n"
        "def params_to_theta(params):\n    return gradlib.unroll.params_to_vector(params)[0]\n",
        "from gradlib.unroll import sort_key\n"
        "def theta_order(names):\n    return sorted(names, key=sort_key)\n",
        "import gradlib\n"
        "_, spec = gradlib.params_to_vector({'W1': [[1.0]]})\n"
        "make = type(spec).from_shapes\n"
        "def locate_index(i, shapes):\n"
        "    return make({k: tuple(v) for k, v in shapes.items()}).locate(i)\n",
    ],
)
def test_the_reference_unrolling_earns_nothing(source, in_box):
    task = next(t for t in TASKS.values() if f"def {t.function}(" in source)
    score = in_box(task, source, PUBLIC_SEED, 2.0)
    assert score.points == 0.0
    text = "\n".join(score.lines)
    assert "Shortcuts earn nothing" in text or "only numpy" in text


def test_the_guard_puts_paramspec_back():
    from gradlib.unroll import ParamSpec

    before = {a: ParamSpec.__dict__[a] for a in ("__init__", "from_shapes", "locate")}
    namespace = {"__name__": "__main__"}
    exec("import gradlib\ndef theta_order(n):\n    raise ValueError('boom')\n", namespace)
    _run("theta_order", namespace, PUBLIC_SEED)
    assert {a: ParamSpec.__dict__[a] for a in before} == before


# --- feedback that points the right way (issue 11) ------------------------------------


def test_a_missing_block_offset_is_named_not_blamed_on_the_order():
    inputs, shapes, indices, natural = _locate_inputs()
    answers = []
    for i in indices:  # the right block, its entries counted from a wrong offset
        name, index = _locate(i, shapes, natural)
        flat = (int(np.ravel_multi_index(index, shapes[name])) + 1) % int(np.prod(shapes[name]))
        answers.append((name, tuple(int(k) for k in np.unravel_index(flat, shapes[name]))))
    text = _text(LOCATE.score(answers, inputs, 3.0))
    assert "the offset of the block in θ" in text and "b before W" not in text, text
    none = LOCATE.score([None] * len(indices), inputs, 3.0)
    assert "no block was found" in _text(none)


def test_a_wrong_order_in_later_exercises_points_back_at_theta_order():
    inputs, params, _ = _params()
    score = TO_THETA.score(_unroll(params, _string_layer(list(params))), inputs, 3.0)
    assert "fix that one first: its own check, exercise 1" in _text(score)
    inputs, theta, shapes, _ = _theta()
    score = TO_PARAMS.score(_rolled(theta, shapes, sorted(shapes)), inputs, 3.0)
    assert "exercise 1" in _text(score)
    # the dict's own order is not theta_order's mistake
    score = TO_PARAMS.score(_rolled(theta, shapes, list(shapes)), inputs, 3.0)
    assert "exercise 1" not in _text(score)


def test_the_static_check_sees_gradlibs_reexports_of_the_reference():
    from autograder.grading import grade_answer
    from autograder.harness import Answer

    source = (
        "from gradlib import params_to_vector\n"
        "def params_to_theta(params):\n    return params_to_vector(params)[0]\n"
    )
    inputs, params, natural = _params()
    right = Answer(True, _unroll(params, natural))  # what the runtime would not stop
    score = grade_answer(TO_THETA, right, inputs, 3.0, sources=[source])
    assert score.points == 0.0
    assert "gradlib.params_to_vector" in _text(score) and "Shortcuts earn nothing" in _text(score)
