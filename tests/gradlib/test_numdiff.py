"""Do the numeric derivatives have the accuracy and the cost the lectures promise?"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from gradlib import GradCheckError, derivative, numerical_gradient, numerical_vjp
from gradlib.numdiff import METHODS, default_eps, error_sweep


def cube(t):
    return t**3


def test_seed_example_two_sided_and_one_sided():
    # The lecture: f(θ)=θ³ at θ=1 with ε=0.01: two-sided 3.0001, one-sided 3.0301.
    assert derivative(cube, 1.0, eps=0.01, method="central") == pytest.approx(3.0001, abs=1e-12)
    assert derivative(cube, 1.0, eps=0.01, method="forward") == pytest.approx(3.0301, abs=1e-12)
    assert derivative(cube, 1.0, eps=0.01, method="backward") == pytest.approx(2.9701, abs=1e-12)


def _slope(method):
    eps = np.logspace(-4, -2, 9)
    errors = [abs(derivative(np.exp, 0.5, eps=e, method=method) - np.exp(0.5)) for e in eps]
    return np.polyfit(np.log(eps), np.log(errors), 1)[0]


def test_one_sided_error_is_first_order():
    assert _slope("forward") == pytest.approx(1.0, abs=0.05)
    assert _slope("backward") == pytest.approx(1.0, abs=0.05)


def test_two_sided_error_is_second_order():
    assert _slope("central") == pytest.approx(2.0, abs=0.05)


def test_richardson_error_is_fourth_order():
    eps = np.logspace(-2, -1, 6)
    errors = [abs(derivative(np.exp, 0.5, eps=e, method="richardson") - np.exp(0.5)) for e in eps]
    assert np.polyfit(np.log(eps), np.log(errors), 1)[0] == pytest.approx(4.0, abs=0.2)


@pytest.mark.parametrize("x", [0.3, 1.0, 2.5, -4.0])
def test_complex_step_is_exact_to_machine_precision(x):
    def f(t):
        return np.exp(t) * np.sin(t) / (1 + t**2)

    def df(t):
        return (
            np.exp(t) * (np.sin(t) + np.cos(t)) * (1 + t**2) - 2 * t * np.exp(t) * np.sin(t)
        ) / (1 + t**2) ** 2

    got = derivative(f, x, method="complex")
    assert abs(got - df(x)) <= 1e-13 * abs(df(x))


def test_default_steps_balance_truncation_and_rounding():
    u = np.finfo(np.float64).eps
    assert default_eps("central") == pytest.approx(u ** (1 / 3))
    assert default_eps("forward") == pytest.approx(u ** (1 / 2))
    assert default_eps("complex") < 1e-20
    assert default_eps("central", np.float32) == pytest.approx(np.finfo(np.float32).eps ** (1 / 3))
    # The default beats both a too-large and a too-small step.
    truth = np.cos(1.0)
    best = abs(derivative(np.sin, 1.0) - truth)
    for eps in (1e-2, 1e-11):
        assert best < abs(derivative(np.sin, 1.0, eps=eps) - truth)


def test_error_sweep_shows_the_v_curve():
    table = error_sweep(np.exp, 0.7, np.exp(0.7))
    for method in ("forward", "central"):
        errors = table[method]
        k = int(np.argmin(errors))
        # Errors fall then rise again: rounding on the left, truncation on the right.
        assert errors[0] > 100 * errors[k] and errors[-1] > 100 * errors[k]
    best = table["eps"][np.argmin(table["central"])]
    assert 1e-7 < best < 1e-3  # near the cube root of machine epsilon
    assert np.max(table["complex"][table["eps"] < 1e-7]) < 1e-14  # no rounding floor


def _closed_form_cases():
    A = np.array([[3.0, 1.0, 0.5], [1.0, 2.0, -0.3], [0.5, -0.3, 4.0]])
    b = np.array([1.0, -2.0, 0.5])
    return [
        (lambda x: 0.5 * x @ A @ x - b @ x, lambda x: A @ x - b, np.array([0.3, -1.2, 2.0])),
        (
            lambda x: np.sum(np.log1p(np.exp(x))),
            lambda x: 1 / (1 + np.exp(-x)),
            np.array([[-1.0, 0.0], [2.0, 3.0]]),
        ),
        (
            lambda x: np.prod(np.sin(x)),
            lambda x: np.prod(np.sin(x)) / np.tan(x),
            np.array([0.4, 1.1, 2.0]),
        ),
    ]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", range(3))
def test_numerical_gradient_matches_closed_forms(method, case):
    J, grad, theta = _closed_form_cases()[case]
    got = numerical_gradient(J, theta, method=method)
    assert got.shape == theta.shape
    tol = {"forward": 1e-6, "backward": 1e-6}.get(method, 1e-9)
    np.testing.assert_allclose(got, grad(theta), rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
)
def test_numerical_gradient_agrees_with_scipy(seed, n):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    c = rng.normal(size=n)

    def J(x):
        return float(np.sum(np.tanh(A @ x)) + c @ x**2)

    x = rng.normal(size=n)
    ours = numerical_gradient(J, x)
    theirs = approx_fprime(x, J, np.sqrt(np.finfo(float).eps))  # SciPy's forward differences
    exact = A.T @ (1 - np.tanh(A @ x) ** 2) + 2 * c * x
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    # Central differences are the more accurate of the two.
    assert np.linalg.norm(ours - exact) <= np.linalg.norm(theirs - exact) + 1e-12


def test_numerical_gradient_costs_2n_evaluations_and_restores_theta():
    calls = []
    theta = np.arange(6.0).reshape(2, 3)
    before = theta.copy()

    def J(x):
        calls.append(x)
        return float(np.sum(x**2))

    g = numerical_gradient(J, theta)
    np.testing.assert_allclose(g, 2 * before, rtol=1e-9)
    assert len(calls) == 12
    assert all(c is calls[0] for c in calls)  # one working buffer, no copy per coordinate
    np.testing.assert_array_equal(theta, before)


def test_numerical_vjp_is_the_gradient_of_the_weighted_sum():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(4, 3))
    x = rng.normal(size=(3, 5))
    dout = rng.normal(size=(4, 5))
    got = numerical_vjp(lambda z: W @ z, x, dout)
    np.testing.assert_allclose(got, W.T @ dout, rtol=1e-8)


def test_numerical_vjp_rejects_a_mismatched_upstream_gradient():
    with pytest.raises(GradCheckError, match=r"df has shape \(2,\) but f\(x\) has shape \(3,\)"):
        numerical_vjp(lambda z: 2 * z, np.ones(3), np.ones(2))


def test_integer_theta_is_converted_without_truncation():
    g = numerical_gradient(lambda x: float(np.sum(x**3)), np.array([1, 2, 3]))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [3.0, 12.0, 27.0], rtol=1e-8)
