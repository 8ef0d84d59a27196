"""Layers of the reference network as forward/backward pairs, in the lectures' column layout.

One example per column: A_prev (n_{l-1}, m), W (n_l, n_{l-1}), b (n_l, 1), Z and A (n_l, m).
Each forward returns ``(out, cache)`` and each backward takes the upstream gradient and that
cache, as in cs231n. Forwards and losses also accept leading batch axes, (..., n, m): the
structured numeric gradient (gradlib.netgrad) pushes many perturbed copies through at once
with exactly the arithmetic of a single pass.

Every output layer is paired with its canonical loss, so dJ/dZ_L = (A_L − Y) / m for all three:

========  ===================================================================
sigmoid   binary cross-entropy, −(1/m) Σ [Y log A + (1−Y) log(1−A)]
softmax   cross-entropy, −(1/m) Σ Y log A, Y one-hot (n_L, m)
identity  mean squared error, (1/2m) Σ (A − Y)²  (the ½ cancels the 2 of the square)
========  ===================================================================
"""

from __future__ import annotations

import numpy as np

from gradlib.errors import GradCheckError

HIDDEN = ("relu", "leaky_relu", "sigmoid", "tanh", "identity")
OUTPUTS = ("sigmoid", "softmax", "identity")
KINKED = ("relu", "leaky_relu")  # activations with a kink at Z = 0
LEAKY_SLOPE = 0.01
# Probabilities are kept in [TINY, ONE_BELOW] before a log, so log never sees 0.
TINY = float(np.finfo(np.float64).tiny)
ONE_BELOW = float(np.nextafter(1.0, 0.0))


def check_name(name: str, valid: tuple[str, ...], what: str) -> None:
    """Raise GradCheckError listing the valid names unless ``name`` is one of them."""
    if name not in valid:
        raise GradCheckError(f"unknown {what} {name!r}; choose one of {', '.join(valid)}.")


def linear_forward(A_prev: np.ndarray, W: np.ndarray, b: np.ndarray):
    """Z = W A_prev + b.

    Parameters
    ----------
    A_prev : (n_{l-1}, m) activations of the previous layer (or (..., n_{l-1}, m))
    W : (n_l, n_{l-1}) weights (or (..., n_l, n_{l-1}))
    b : (n_l, 1) biases

    Returns
    -------
    Z : (n_l, m)
    cache : (A_prev, W, b)
    """
    return W @ A_prev + b, (A_prev, W, b)


def linear_backward(dZ: np.ndarray, cache):
    """Gradients of a linear layer.

    Parameters
    ----------
    dZ : (n_l, m) upstream gradient dJ/dZ
    cache : (A_prev, W, b) from linear_forward

    Returns
    -------
    dA_prev : (n_{l-1}, m) = Wᵀ dZ
    dW : (n_l, n_{l-1}) = dZ A_prevᵀ
    db : (n_l, 1) = Σ over examples of dZ
    """
    A_prev, W, _ = cache
    return W.T @ dZ, dZ @ A_prev.T, np.sum(dZ, axis=1, keepdims=True)


def sigmoid(Z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−Z), written so that exp never overflows; any shape."""
    e = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activation_forward(Z: np.ndarray, name: str):
    """A = g(Z) for a hidden activation, element by element.

    Parameters
    ----------
    Z : (n_l, m) pre-activations (any shape)
    name : one of HIDDEN; "relu" is max(Z, 0), "leaky_relu" max(Z, 0.01 Z)

    Returns
    -------
    A : array of Z's shape
    cache : (name, Z, A)
    """
    check_name(name, HIDDEN, "activation")
    if name == "relu":
        A = np.maximum(Z, 0.0)
    elif name == "leaky_relu":
        A = np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    elif name == "sigmoid":
        A = sigmoid(Z)
    elif name == "tanh":
        A = np.tanh(Z)
    else:
        A = Z
    return A, (name, Z, A)


def activation_backward(dA: np.ndarray, cache) -> np.ndarray:
    """dZ = dA · g'(Z); at the kink Z = 0 (ReLU, leaky ReLU) the left slope is used.

    Parameters
    ----------
    dA : (n_l, m) upstream gradient dJ/dA
    cache : (name, Z, A) from activation_forward

    Returns
    -------
    dZ : (n_l, m)
    """
    name, Z, A = cache
    if name == "relu":
        return dA * (Z > 0)
    if name == "leaky_relu":
        return dA * np.where(Z > 0, 1.0, LEAKY_SLOPE)
    if name == "sigmoid":
        return dA * (A * (1.0 - A))
    if name == "tanh":
        return dA * (1.0 - A**2)
    return dA


def output_forward(Z: np.ndarray, output: str) -> np.ndarray:
    """A_L = output activation of the logits Z, shape (n_L, m) (or (..., n_L, m)).

    "softmax" normalizes each column (the classes are the rows), shifted by the column
    maximum so that exp never overflows.
    """
    check_name(output, OUTPUTS, "output")
    if output == "sigmoid":
        return sigmoid(Z)
    if output == "softmax":
        e = np.exp(Z - np.max(Z, axis=-2, keepdims=True))
        return e / np.sum(e, axis=-2, keepdims=True)
    return Z


def loss_from_logits(Z: np.ndarray, Y: np.ndarray, output: str):
    """The data term of the cost from the logits Z_L: stable for any Z, no log(0).

    Parameters
    ----------
    Z : (n_L, m) logits (or (..., n_L, m): one loss per leading index)
    Y : (n_L, m) targets; one-hot columns for "softmax"
    output : one of OUTPUTS, naming the output layer and its loss (module docstring)

    Returns
    -------
    float64 scalar (array of the leading shape for batched Z)
    """
    m = Z.shape[-1]
    if output == "sigmoid":  # −[y log σ(z) + (1−y) log(1−σ(z))] = log(1 + e^z) − y z
        # log(1 + e^z) = max(z, 0) + log1p(e^−|z|), as np.logaddexp(0, z) computes it, but
        # with numpy's vectorized exp and log1p: 2–3× faster on the arrays grad checks pass
        if Z.dtype != np.float64 or np.result_type(Y) != np.float64:  # float32 data: as is
            softplus = np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))
            return np.sum(softplus - Y * Z, axis=(-2, -1)) / m
        # In place: the same operations and values, without four temporaries
        terms = np.abs(Z)
        np.negative(terms, out=terms)
        np.exp(terms, out=terms)
        np.log1p(terms, out=terms)
        terms += np.maximum(Z, 0.0)  # softplus
        terms -= Y * Z
        return np.sum(terms, axis=(-2, -1)) / m
    if output == "softmax":  # log softmax = Z − logsumexp(Z), with the max shifted out
        shifted = Z - np.max(Z, axis=-2, keepdims=True)
        log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-2, keepdims=True))
        return -np.sum(Y * log_p, axis=(-2, -1)) / m
    check_name(output, OUTPUTS, "output")
    return np.sum(np.square(Z - Y), axis=(-2, -1)) / (2 * m)


def loss(AL: np.ndarray, Y: np.ndarray, output: str) -> float:
    """The data term of the cost from the output A_L (the lectures' compute_cost).

    Probabilities are clipped to [TINY, 1 − 2⁻⁵³] before the log, so a saturated output
    gives a large finite cost instead of inf/nan; ``loss_from_logits`` needs no clipping.

    Parameters
    ----------
    AL : (n_L, m) network output
    Y : (n_L, m) targets
    output : one of OUTPUTS

    Returns
    -------
    float
    """
    check_name(output, OUTPUTS, "output")
    m = AL.shape[-1]
    if output == "sigmoid":
        p = np.clip(AL, TINY, ONE_BELOW)
        return float(-np.sum(Y * np.log(p) + (1.0 - Y) * np.log1p(-p)) / m)
    if output == "softmax":
        return float(-np.sum(Y * np.log(np.maximum(AL, TINY))) / m)
    return float(np.sum(np.square(AL - Y)) / (2 * m))


def output_backward(AL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """dJ/dZ_L = (A_L − Y) / m, the same for each output layer paired with its loss.

    Parameters
    ----------
    AL, Y : (n_L, m)

    Returns
    -------
    dZ_L : (n_L, m)
    """
    return (AL - Y) / AL.shape[-1]


def dropout_forward(A: np.ndarray, keep_prob: float, seed):
    """Inverted dropout: keep each unit with probability keep_prob and divide by keep_prob.

    The mask is drawn from ``np.random.default_rng(seed)``, so the same seed gives the same
    mask: a grad check holds it fixed while it perturbs the parameters.

    Parameters
    ----------
    A : (n_l, m) activations
    keep_prob : probability of keeping a unit, in (0, 1]
    seed : anything np.random.default_rng accepts (an int, or a tuple of ints)

    Returns
    -------
    A_drop : (n_l, m) = A · mask / keep_prob
    cache : (mask, keep_prob), mask a 0/1 float array of A's shape
    """
    mask = (np.random.default_rng(seed).random(A.shape) < keep_prob).astype(np.float64)
    return apply_dropout(A, mask, keep_prob), (mask, keep_prob)


def apply_dropout(A: np.ndarray, mask: np.ndarray, keep_prob: float) -> np.ndarray:
    """A · mask / keep_prob for a given 0/1 mask (broadcast over leading axes of A)."""
    return A * mask / keep_prob


def dropout_backward(dA: np.ndarray, cache) -> np.ndarray:
    """dJ/dA before dropout = dA · mask / keep_prob (shape (n_l, m))."""
    mask, keep_prob = cache
    return dA * mask / keep_prob
