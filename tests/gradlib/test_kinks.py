"""Does the grad check tell a step that crossed a ReLU kink from a bug, without being told?"""

import numpy as np
import pytest

from gradlib import check_gradients
from gradlib.kinks import crossed_kinks


def relu_sum(t):
    return float(np.sum(np.maximum(t, 0.0)))


def _theta(near_kink, seed=0, n=10):
    """θ away from 0 except entry 3, which sits ``near_kink`` from the kink at 0."""
    rng = np.random.default_rng(seed)
    theta = rng.choice([-1, 1], size=n) * rng.uniform(0.2, 2.0, size=n)
    theta[3] = near_kink
    return theta


@pytest.mark.parametrize("near_kink", [1e-6, -1e-6, 3e-6, -5e-7, 2e-7])
def test_one_sided_derivative_within_eps_of_a_kink_is_a_kink_not_a_bug(near_kink):
    theta = _theta(near_kink)
    grads = (theta > 0).astype(float)  # the derivative on θ's own side of the kink
    report = check_gradients(relu_sum, theta, grads)
    assert report.verdict == "correct", report.summary()
    assert report.kinks == ("theta[3]",)
    assert [f.kind for f in report.diagnosis] == ["kink"]
    assert "theta[3]" in report.summary() and "Not a bug" in report.summary()
    assert report.evaluations > 2 * theta.size + 1  # the kink check cost extra calls


def test_a_step_that_does_not_reach_the_kink_needs_no_excuse():
    theta = _theta(1e-6)
    grads = (theta > 0).astype(float)
    # a step of 1e-6 does not reach the kink: no crossing, nothing to excuse
    assert check_gradients(relu_sum, theta, grads, eps=1e-8).kinks == ()
    report = check_gradients(relu_sum, theta, grads)
    assert report.block("theta").relative_difference < 1e-7  # with the entry left out


def test_a_genuine_bug_next_to_a_kink_is_still_wrong():
    theta = _theta(1e-6)
    grads = (theta > 0).astype(float)
    grads[5] += 0.5  # a real bug on a smooth entry
    report = check_gradients(relu_sum, theta, grads)
    assert report.verdict == "wrong"
    assert report.kinks == ("theta[3]",)
    assert report.block("theta").worst[0][0] == "theta[5]"
    assert [f.kind for f in report.diagnosis] == ["elements", "kink"]
    assert "theta[5]" in report.diagnosis[0].detail


def test_a_wrong_value_at_the_kink_entry_itself_is_still_wrong():
    theta = _theta(1e-6)  # θ₃ > 0: the slope there is 1
    grads = (theta > 0).astype(float)
    grads[3] = 0.0  # the other side's slope: wrong at θ₃ = 1e-6
    report = check_gradients(relu_sum, theta, grads)
    assert report.verdict == "wrong"
    assert report.kinks == ()
    grads[3] = 0.8  # between the two slopes, but not the slope at θ₃
    assert check_gradients(relu_sum, theta, grads).verdict == "wrong"


def test_an_entry_exactly_on_the_kink_stays_in_the_verdict():
    """At t = 0 relu has no derivative: the check cannot vouch for either slope."""
    theta = _theta(0.0)
    grads = (theta > 0).astype(float)
    report = check_gradients(relu_sum, theta, grads)
    assert report.verdict == "wrong" and report.kinks == ()


def test_smooth_bugs_are_never_excused():
    rng = np.random.default_rng(1)
    theta = rng.normal(size=12)

    def J(t):
        return float(np.sum(np.tanh(t) ** 2))

    grads = 2 * np.tanh(theta) * (1 - np.tanh(theta) ** 2)
    grads[[2, 7]] *= [2.0, -1.0]
    report = check_gradients(J, theta, grads)
    assert report.verdict == "wrong" and report.kinks == ()
    assert report.evaluations == 2 * theta.size + 1 + 2 * 2  # 2 suspects examined, none kept


def test_a_correct_check_costs_nothing_extra():
    theta = _theta(0.7)
    report = check_gradients(relu_sum, theta, (theta > 0).astype(float))
    assert report.verdict == "correct"
    assert report.evaluations == 2 * theta.size + 1


def test_given_kinks_and_found_kinks_are_combined():
    theta = _theta(1e-6)
    theta[6] = 0.0  # exactly on a kink: only the caller can excuse it
    grads = (theta > 0).astype(float)
    given = np.zeros(theta.size, bool)
    given[6] = True
    report = check_gradients(relu_sum, theta, grads, kinks=given)
    assert report.verdict == "correct"
    assert report.kinks == ("theta[3]", "theta[6]")


def _relu_net(seed=0, m=6):
    """A ReLU/sigmoid network with pre-activation Z1[2, 4] placed 1e-7 from its kink."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4, m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    p = {
        "W1": rng.normal(size=(5, 4)),
        "b1": rng.normal(size=(5, 1)),
        "W2": rng.normal(size=(1, 5)),
        "b2": rng.normal(size=(1, 1)),
    }
    p["b1"][2] += 1e-7 - (p["W1"] @ X + p["b1"])[2, 4]

    def cost(q):
        A1 = np.maximum(q["W1"] @ X + q["b1"], 0)
        Z2 = q["W2"] @ A1 + q["b2"]
        return float(np.mean(np.logaddexp(0, Z2) - Y * Z2))

    def grads(q):
        Z1 = q["W1"] @ X + q["b1"]
        A1 = np.maximum(Z1, 0)
        dZ2 = (1 / (1 + np.exp(-(q["W2"] @ A1 + q["b2"]))) - Y) / m
        dZ1 = (q["W2"].T @ dZ2) * (Z1 > 0)
        return {
            "dW1": dZ1 @ X.T,
            "db1": dZ1.sum(axis=1, keepdims=True),
            "dW2": dZ2 @ A1.T,
            "db2": dZ2.sum(axis=1, keepdims=True),
        }

    return p, cost, grads


def test_a_correct_relu_network_with_a_unit_at_its_kink_passes():
    params, cost, grads = _relu_net()
    report = check_gradients(cost, params, grads(params))
    assert report.verdict == "correct", report.summary()
    assert report.kinks and all(k.startswith(("W1[2,", "b1[2,")) for k in report.kinks)
    assert [f.kind for f in report.diagnosis] == ["kink"] * len(report.diagnosis)


def test_a_bug_in_a_relu_network_with_a_kink_is_still_wrong_and_diagnosed():
    params, cost, grads = _relu_net()
    g = grads(params)
    g["dW2"] = 2 * g["dW2"]
    report = check_gradients(cost, params, g, context={"m": 6})
    assert report.verdict == "wrong"
    assert [b.name for b in report.failing()] == ["W2"]
    assert ("W2", "scale") in [(f.block, f.kind) for f in report.diagnosis]


def test_crossed_kinks_examines_only_the_candidates():
    theta = _theta(1e-6)
    analytic = (theta > 0).astype(float)
    numeric = analytic.copy()
    numeric[3] = 0.5833  # what a central difference with h = 6e-6 sees
    mask = crossed_kinks(relu_sum, theta, analytic, numeric, [3, 5], j0=relu_sum(theta), eps=6e-6)
    assert np.flatnonzero(mask).tolist() == [3]
    none = crossed_kinks(relu_sum, theta, analytic, numeric, [5], j0=relu_sum(theta), eps=6e-6)
    assert not none.any()
