"""Does unrolling put W1, b1, ..., WL, bL into θ in the lecture's order, and back?"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradlib import GradCheckError, grads_to_vector, params_to_vector, vector_to_params
from gradlib.unroll import ParamSpec


def _params(dims, seed=0):
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(1, len(dims)):
        params[f"W{layer}"] = rng.normal(size=(dims[layer], dims[layer - 1]))
        params[f"b{layer}"] = rng.normal(size=(dims[layer], 1))
    return params


@settings(max_examples=60, deadline=None)
@given(dims=st.lists(st.integers(1, 5), min_size=2, max_size=13), seed=st.integers(0, 1000))
def test_round_trip_for_any_depth(dims, seed):
    params = _params(dims, seed)
    theta, spec = params_to_vector(params)
    assert theta.shape == (sum(p.size for p in params.values()),)
    back = vector_to_params(theta, spec)
    assert back.keys() == params.keys()
    for name in params:
        np.testing.assert_array_equal(back[name], params[name])
    grads = {"d" + k: 2 * v for k, v in params.items()}
    np.testing.assert_array_equal(grads_to_vector(grads, spec), 2 * theta)


def test_order_is_by_layer_number_not_lexicographic():
    params = _params([2] * 12)  # W1 ... W11
    _, spec = params_to_vector(dict(sorted(params.items())))  # feed them shuffled
    expected = [n for layer in range(1, 12) for n in (f"W{layer}", f"b{layer}")]
    assert list(spec.names) == expected


def test_extra_names_follow_the_documented_order():
    shapes = {
        "gamma1": (2, 1),
        "b1": (2, 1),
        "beta1": (2, 1),
        "W1": (2, 2),
        "scale": (1,),
        "W2": (1, 2),
    }
    spec = ParamSpec.from_shapes(shapes)
    assert spec.names == ("W1", "b1", "beta1", "gamma1", "W2", "scale")


def test_locate_is_right_for_every_index():
    params = _params([3, 4, 2, 1])
    theta, spec = params_to_vector(params)
    for i in range(theta.size):
        name, index = spec.locate(i)
        assert params[name][index] == theta[i]
    assert spec.locate(12) == ("b1", (0, 0))
    assert spec.label(17) == "W2[0, 1]"
    with pytest.raises(IndexError, match="outside"):
        spec.locate(theta.size)


def test_blocks_are_flattened_in_row_major_order():
    W = np.arange(6.0).reshape(2, 3)
    theta, _ = params_to_vector({"W1": W, "b1": np.zeros((2, 1))})
    np.testing.assert_array_equal(theta[:6], [0, 1, 2, 3, 4, 5])


def test_grads_accept_plain_names_and_ignore_intermediates():
    params = _params([2, 2])
    theta, spec = params_to_vector(params)
    grads = {"W1": params["W1"], "b1": params["b1"], "dA0": np.ones(3), "dZ1": np.ones(2)}
    np.testing.assert_array_equal(grads_to_vector(grads, spec), theta)


def test_errors_name_the_key_and_the_shapes():
    params = _params([3, 2, 1])
    theta, spec = params_to_vector(params)
    grads = {"d" + k: v for k, v in params.items()}
    with pytest.raises(GradCheckError, match="missing db2"):
        grads_to_vector({k: v for k, v in grads.items() if k != "db2"}, spec)
    with pytest.raises(GradCheckError, match="'dW3' that matches no parameter"):
        grads_to_vector({**grads, "dW3": np.ones(1)}, spec)
    with pytest.raises(
        GradCheckError,
        match=r"dW1 has shape \(3, 2\) but W1 has shape \(2, 3\) "
        r"\(transposed\?\)",
    ):
        grads_to_vector({**grads, "dW1": grads["dW1"].T}, spec)
    with pytest.raises(GradCheckError, match=r"theta has 10 entries .* expects 11"):
        vector_to_params(theta[:-1], spec)
    with pytest.raises(GradCheckError, match="both 'W1' and 'dW1'"):
        grads_to_vector({**grads, "W1": params["W1"]}, spec)
    with pytest.raises(GradCheckError, match="non-empty dict"):
        params_to_vector({})


def test_column_vector_theta_is_accepted():
    params = _params([2, 3])
    theta, spec = params_to_vector(params)
    back = vector_to_params(theta.reshape(-1, 1), spec)
    np.testing.assert_array_equal(back["W1"], params["W1"])
