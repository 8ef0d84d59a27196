"""Does each layer pair compute what the lectures say, and its backward the true gradient?"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, softmax

from gradlib import GradCheckError, numerical_gradient, numerical_vjp, relative_difference
from gradlib.layers import (
    HIDDEN,
    OUTPUTS,
    activation_backward,
    activation_forward,
    apply_dropout,
    dropout_backward,
    dropout_forward,
    linear_backward,
    linear_forward,
    loss,
    loss_from_logits,
    output_backward,
    output_forward,
    sigmoid,
)

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
shapes = st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 6))
seeds = st.integers(0, 2**32 - 1)


def _away_from_zero(rng, shape, margin=1e-2):
    """Normal values with |z| ≥ margin, so a central difference never straddles a kink."""
    Z = rng.normal(size=shape)
    return np.where(np.abs(Z) < margin, np.copysign(margin, Z) + Z, Z)


def test_linear_layer_worked_by_hand():
    A_prev = np.array([[1.0, 2.0], [3.0, 4.0]])
    W, b = np.array([[1.0, -1.0]]), np.array([[0.5]])
    Z, cache = linear_forward(A_prev, W, b)
    np.testing.assert_array_equal(Z, [[-1.5, -1.5]])
    dA_prev, dW, db = linear_backward(np.array([[1.0, 2.0]]), cache)
    np.testing.assert_array_equal(dW, [[5.0, 11.0]])  # [1·1 + 2·2, 1·3 + 2·4]
    np.testing.assert_array_equal(db, [[3.0]])
    np.testing.assert_array_equal(dA_prev, [[1.0, 2.0], [-1.0, -2.0]])


@SETTINGS
@given(shape=shapes, seed=seeds)
def test_linear_backward_matches_numeric_vjp(shape, seed):
    n_l, n_prev, m = shape
    rng = np.random.default_rng(seed)
    A_prev, W = rng.normal(size=(n_prev, m)), rng.normal(size=(n_l, n_prev))
    b, dZ = rng.normal(size=(n_l, 1)), rng.normal(size=(n_l, m))
    dA_prev, dW, db = linear_backward(dZ, linear_forward(A_prev, W, b)[1])
    assert relative_difference(dA_prev, numerical_vjp(lambda a: W @ a + b, A_prev, dZ)) < 1e-9
    assert relative_difference(dW, numerical_vjp(lambda w: w @ A_prev + b, W, dZ)) < 1e-9
    assert relative_difference(db, numerical_vjp(lambda v: W @ A_prev + v, b, dZ)) < 1e-9


def test_activations_worked_by_hand():
    Z = np.array([[-2.0, 0.0, 3.0]])
    expected = {
        "relu": [0.0, 0.0, 3.0],
        "leaky_relu": [-0.02, 0.0, 3.0],
        "sigmoid": [1 / (1 + np.exp(2.0)), 0.5, 1 / (1 + np.exp(-3.0))],
        "tanh": [np.tanh(-2.0), 0.0, np.tanh(3.0)],
        "identity": [-2.0, 0.0, 3.0],
    }
    for name, values in expected.items():
        A, cache = activation_forward(Z, name)
        np.testing.assert_allclose(A, [values], rtol=1e-15, err_msg=name)
        assert cache[0] == name and cache[1] is Z


@pytest.mark.parametrize("name", HIDDEN)
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_activation_backward_matches_numeric_vjp(name, shape, seed):
    rng = np.random.default_rng(seed)
    Z = _away_from_zero(rng, shape[1:])
    dA = rng.normal(size=Z.shape)
    dZ = activation_backward(dA, activation_forward(Z, name)[1])
    numeric = numerical_vjp(lambda z: activation_forward(z, name)[0], Z, dA)
    assert relative_difference(dZ, numeric) < 1e-8, name


def test_kinked_activations_take_the_left_slope_at_zero():
    Z, dA = np.zeros((1, 1)), np.ones((1, 1))
    assert activation_backward(dA, activation_forward(Z, "relu")[1])[0, 0] == 0.0
    assert activation_backward(dA, activation_forward(Z, "leaky_relu")[1])[0, 0] == 0.01


def test_sigmoid_and_softmax_are_stable_for_huge_logits():
    Z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0], [0.0, 1.0, 2.0, 3.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(sigmoid(Z), expit(Z), rtol=1e-15, atol=0)
        np.testing.assert_allclose(output_forward(Z, "softmax"), softmax(Z, axis=0), rtol=1e-14)
    assert np.allclose(output_forward(Z, "softmax").sum(axis=0), 1.0)


def test_losses_worked_by_hand():
    m = 2
    zeros = np.zeros((3, m))
    # σ(0) = 1/2: each of the 3 units costs log 2 per example, whatever Y
    assert loss_from_logits(zeros, np.ones((3, m)), "sigmoid") == pytest.approx(3 * np.log(2))
    # softmax of equal logits is uniform: cross-entropy log 3 per example
    one_hot = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert loss_from_logits(zeros, one_hot, "softmax") == pytest.approx(np.log(3))
    # MSE is (1/2m) Σ (A − Y)²: ((1 − 0)² + (2 − 0)²) / (2·2) = 1.25
    assert loss_from_logits(np.array([[1.0, 2.0]]), np.zeros((1, 2)), "identity") == 1.25
    assert loss(np.array([[1.0, 2.0]]), np.zeros((1, 2)), "identity") == 1.25


@pytest.mark.parametrize("output", OUTPUTS)
def test_loss_from_logits_equals_the_lectures_loss_from_outputs(output):
    rng = np.random.default_rng(3)
    Z = rng.normal(scale=3, size=(4, 9))
    Y = np.eye(4)[:, rng.integers(0, 4, 9)] if output == "softmax" else rng.random((4, 9))
    from_logits = loss_from_logits(Z, Y, output)
    assert from_logits == pytest.approx(loss(output_forward(Z, output), Y, output), rel=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_sigmoid_loss_is_the_softplus_formula_to_the_last_bit_batched_or_not(dtype):
    # Computed in place for float64: the same operations as the formula, the same values
    rng = np.random.default_rng(4)
    Y = (rng.random((1, 50)) > 0.5).astype(float)
    for Z in (rng.normal(scale=4, size=(1, 50)), rng.normal(scale=4, size=(6, 1, 50))):
        Z = Z.astype(dtype)
        softplus = np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))
        expected = np.sum(softplus - Y * Z, axis=(-2, -1)) / 50
        got = loss_from_logits(Z, Y, "sigmoid")
        assert np.array_equal(got, expected) and np.result_type(got) == np.result_type(expected)


def test_losses_never_take_log_of_zero():
    Z = np.array([[1000.0, -1000.0]])
    Y = np.array([[0.0, 1.0]])  # both examples confidently wrong
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss_from_logits(Z, Y, "sigmoid") == 1000.0  # exact: log(1 + e^1000) = 1000
        assert np.isfinite(loss(output_forward(Z, "sigmoid"), Y, "sigmoid"))
        Z2 = np.array([[1000.0], [-1000.0]])
        assert loss_from_logits(Z2, np.array([[0.0], [1.0]]), "softmax") == 2000.0
        assert np.isfinite(loss(output_forward(Z2, "softmax"), np.array([[0.0], [1.0]]), "softmax"))


@pytest.mark.parametrize("output", OUTPUTS)
@SETTINGS
@given(shape=shapes, seed=seeds)
def test_output_backward_is_the_gradient_of_the_loss(output, shape, seed):
    n_L, _, m = shape
    rng = np.random.default_rng(seed)
    Z = rng.normal(scale=2, size=(n_L, m))
    if output == "softmax":
        Y = np.eye(n_L)[:, rng.integers(0, n_L, m)]
    else:
        Y = rng.random((n_L, m))
    dZ = output_backward(output_forward(Z, output), Y)
    numeric = numerical_gradient(lambda z: loss_from_logits(z, Y, output), Z)
    assert relative_difference(dZ, numeric) < 1e-8


def test_batched_forwards_equal_single_passes_bit_for_bit():
    # gradlib.netgrad relies on this: leading batch axes change no rounding.
    rng = np.random.default_rng(0)
    A, W, b = rng.normal(size=(5, 7)), rng.normal(size=(4, 3, 5)), rng.normal(size=(3, 1))
    Z = linear_forward(A, W, b)[0]
    for k in range(4):
        np.testing.assert_array_equal(Z[k], linear_forward(A, W[k], b)[0])
    Y = np.eye(3)[:, [0, 2, 1, 1, 0, 2, 2]]
    for output in OUTPUTS:
        batched = loss_from_logits(Z, Y, output)
        assert batched.shape == (4,)
        assert all(batched[k] == loss_from_logits(Z[k], Y, output) for k in range(4))
    for name in HIDDEN:
        np.testing.assert_array_equal(
            activation_forward(Z, name)[0][2], activation_forward(Z[2], name)[0]
        )


def test_dropout_mask_comes_from_the_seed():
    A = np.ones((50, 40))
    first, (mask, keep_prob) = dropout_forward(A, 0.8, seed=7)
    again, _ = dropout_forward(A, 0.8, seed=7)
    other, _ = dropout_forward(A, 0.8, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert set(np.unique(mask)) == {0.0, 1.0} and keep_prob == 0.8
    assert mask.mean() == pytest.approx(0.8, abs=0.03)
    np.testing.assert_array_equal(first, A * mask / 0.8)  # inverted: kept units scaled up
    assert first.mean() == pytest.approx(1.0, abs=0.04)  # the expectation is unchanged
    expected = (np.random.default_rng(7).random(A.shape) < 0.8).astype(float)
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(dropout_forward(A, 1.0, seed=1)[0], A)


def test_dropout_backward_matches_numeric_vjp_with_the_mask_held_fixed():
    rng = np.random.default_rng(1)
    A, dA = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    _, cache = dropout_forward(A, 0.6, seed=3)
    numeric = numerical_vjp(lambda a: dropout_forward(a, 0.6, seed=3)[0], A, dA)
    assert relative_difference(dropout_backward(dA, cache), numeric) < 1e-9
    np.testing.assert_array_equal(apply_dropout(A, cache[0], 0.6), dropout_forward(A, 0.6, 3)[0])


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        GradCheckError, match="unknown activation 'rleu'; choose one of relu, leaky"
    ):
        activation_forward(np.zeros((1, 1)), "rleu")
    with pytest.raises(
        GradCheckError, match="unknown output 'softmaxx'; choose one of sigmoid, softmax"
    ):
        output_forward(np.zeros((1, 1)), "softmaxx")
    with pytest.raises(GradCheckError, match="choose one of sigmoid, softmax, identity"):
        loss_from_logits(np.zeros((1, 1)), np.zeros((1, 1)), "mse")
    with pytest.raises(GradCheckError, match="choose one of sigmoid, softmax, identity"):
        loss(np.zeros((1, 1)), np.zeros((1, 1)), "mse")
