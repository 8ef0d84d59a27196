"""The reference MLP: init_params, forward, cost, backward — pure functions with caches.

Layers 1..L-1 use the ``hidden`` activation (optionally followed by inverted dropout), layer L
the ``output`` activation with its loss (see gradlib.layers). The cost is

    J = data term + (λ / 2m) Σ_l ‖W_l‖²_F

``network_cost`` computes the data term from the logits Z_L, which is exact for any Z_L;
``cost`` computes it from A_L as the lectures do. Both agree to rounding unless A_L saturates.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from gradlib.errors import GradCheckError, as_float_array, require_finite
from gradlib.layers import (
    HIDDEN,
    OUTPUTS,
    activation_backward,
    activation_forward,
    check_name,
    dropout_backward,
    dropout_forward,
    linear_backward,
    linear_forward,
    loss,
    loss_from_logits,
    output_backward,
    output_forward,
)


def init_params(layer_dims, seed: int = 0, scale: str | float = "he") -> dict[str, np.ndarray]:
    """Random weights and zero biases for layers of sizes ``layer_dims`` = [n_x, n_1, ..., n_L].

    Parameters
    ----------
    layer_dims : sizes of the input and of each layer, at least two positive ints
    seed : seed of np.random.default_rng
    scale : "he" (std √(2/n_{l-1}), for ReLU), "xavier" (std √(1/n_{l-1}), for tanh) or a
        float std

    Returns
    -------
    dict with W_l of shape (n_l, n_{l-1}) and b_l of shape (n_l, 1), l = 1..L
    """
    dims = list(layer_dims) if isinstance(layer_dims, list | tuple | np.ndarray) else None
    if (
        dims is None
        or len(dims) < 2
        or not all(
            isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 1 for d in dims
        )
    ):
        raise GradCheckError(
            "layer_dims must be at least two positive ints [n_x, n_1, ..., n_L] (a list), "
            f"got {layer_dims!r}."
        )
    named = isinstance(scale, str) and scale in ("he", "xavier")
    number = isinstance(scale, Real) and not isinstance(scale, bool)
    if not (named or (number and np.isfinite(scale) and scale > 0)):
        raise GradCheckError(
            f"scale must be 'he', 'xavier' or a positive float (finite), got {scale!r}."
        )
    try:
        rng = np.random.default_rng(seed)
    except (TypeError, ValueError) as exc:
        raise GradCheckError(f"seed must be an int >= 0 (or None), got {seed!r}.") from exc
    params = {}
    for layer in range(1, len(dims)):
        fan_in = dims[layer - 1]
        std = {"he": np.sqrt(2 / fan_in), "xavier": np.sqrt(1 / fan_in)}.get(scale, scale)
        params[f"W{layer}"] = rng.standard_normal((dims[layer], fan_in)) * std
        params[f"b{layer}"] = np.zeros((dims[layer], 1))
    return params


def forward(
    X,
    params: dict,
    hidden: str = "relu",
    output: str = "sigmoid",
    keep_prob: float = 1.0,
    dropout_seed: int | None = None,
):
    """Forward pass.

    Parameters
    ----------
    X : (n_x, m) inputs, one example per column
    params : W1 (n_1, n_x), b1 (n_1, 1), ..., WL (n_L, n_{L-1}), bL (n_L, 1)
    hidden, output : activation names (gradlib.layers.HIDDEN, gradlib.layers.OUTPUTS)
    keep_prob : dropout keep probability of the hidden layers; 1.0 means no dropout
    dropout_seed : int ≥ 0, required when keep_prob < 1; layer l's mask comes from
        np.random.default_rng((dropout_seed, l)), so a seed fixes every mask

    Returns
    -------
    AL : (n_L, m) output
    caches : list of L dicts, one per layer: "linear" (A_prev, W, b), "activation"
        (name, Z, A) — for layer L (output name, Z_L, A_L) — and "dropout" (mask, keep_prob)
        or None
    """
    X, L = check_forward(X, params, hidden, output, keep_prob, dropout_seed)
    return forward_checked(X, params, L, hidden, output, keep_prob, dropout_seed)


def check_forward(
    X, params, hidden="relu", output="sigmoid", keep_prob=1.0, dropout_seed=None, *, blocks=True
):
    """Validate forward's arguments once (GradCheckError naming what is wrong); X and L.

    ``blocks=False`` leaves out the check that each block of params is finite, for a caller
    that checks them all at once (gradlib.netgrad, on θ) and calls check_shapes for the
    message when one is not.
    """
    X, L = check_shapes(X, params, blocks=blocks)
    check_name(hidden, HIDDEN, "hidden activation")
    check_name(output, OUTPUTS, "output")
    _check_dropout(keep_prob, dropout_seed)
    return X, L


def forward_checked(X, params, L, hidden, output, keep_prob=1.0, dropout_seed=None):
    """forward on arguments check_forward has accepted (X as it returned, L layers).

    For callers that validate at the door and then run many passes (gradlib.netgrad).
    """
    A, caches = X, []
    for layer in range(1, L + 1):
        Z, linear = linear_forward(A, params[f"W{layer}"], params[f"b{layer}"])
        drop = None
        if layer < L:
            A, act = activation_forward(Z, hidden)
            if keep_prob < 1:
                A, drop = dropout_forward(A, keep_prob, (dropout_seed, layer))
        else:
            A = output_forward(Z, output)
            act = (output, Z, A)
        caches.append({"linear": linear, "activation": act, "dropout": drop})
    return A, caches


def cost(AL, Y, params: dict | None = None, lambd: float = 0.0, output: str = "sigmoid") -> float:
    """J = loss(A_L, Y) + (λ/2m) Σ ‖W_l‖²_F, the data term computed from A_L.

    Parameters
    ----------
    AL : (n_L, m) network output; Y : (n_L, m) targets (one-hot columns for softmax)
    params : needed when lambd > 0
    lambd : L2 strength λ ≥ 0
    output : the output layer, which fixes the loss

    Returns
    -------
    float
    """
    check_lambd(lambd)
    AL = check_output(AL, output)
    Y = check_targets(Y, AL.shape, output)
    J = loss(AL, Y, output)
    if lambd:
        if params is None:
            raise GradCheckError(f"lambd={lambd} needs params for the L2 term; pass params=.")
        weights = [as_float_array(params[k], k) for k in _weights(params)]
        J = J + l2_penalty([square_norm(W) for W in weights], lambd, Y.shape[1])
    return float(J)


def backward(AL, Y, caches: list, lambd: float = 0.0) -> dict[str, np.ndarray]:
    """Backward pass: the gradient of the cost with respect to every W_l and b_l.

    Parameters
    ----------
    AL : (n_L, m) output of forward; Y : (n_L, m) targets
    caches : from forward (they carry the output kind and the dropout masks)
    lambd : L2 strength λ, adding (λ/m) W_l to dW_l

    Returns
    -------
    dict with dW_l (n_l, n_{l-1}) and db_l (n_l, 1), l = 1..L
    """
    check_lambd(lambd)
    _check_caches(caches)
    output, _, cached_AL = caches[-1]["activation"]
    AL = check_output(AL, output)
    if AL.shape != cached_AL.shape:
        raise GradCheckError(
            f"AL has shape {AL.shape} but caches come from a forward pass whose output has "
            f"shape {cached_AL.shape}; pass the AL and caches of the same forward call."
        )
    Y = check_targets(Y, AL.shape, output)
    m = Y.shape[1]
    L, grads, dZ = len(caches), {}, output_backward(AL, Y)
    for layer in range(L, 0, -1):
        dA_prev, dW, db = linear_backward(dZ, caches[layer - 1]["linear"])
        if lambd:
            dW = dW + (lambd / m) * caches[layer - 1]["linear"][1]
        grads[f"dW{layer}"], grads[f"db{layer}"] = dW, db
        if layer > 1:
            below = caches[layer - 2]
            if below["dropout"] is not None:
                dA_prev = dropout_backward(dA_prev, below["dropout"])
            dZ = activation_backward(dA_prev, below["activation"])
    return {k: grads[k] for layer in range(1, L + 1) for k in (f"dW{layer}", f"db{layer}")}


def network_cost(
    params: dict,
    X,
    Y,
    hidden: str = "relu",
    output: str = "sigmoid",
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    dropout_seed: int | None = None,
) -> float:
    """J(params): forward, then the loss from the logits Z_L plus the L2 term (a float).

    This is the function a grad check differentiates; arguments as in forward and cost.
    """
    _, caches = forward(X, params, hidden, output, keep_prob, dropout_seed)
    return float(cost_from_caches(caches, Y, lambd))


def network_gradients(
    params: dict,
    X,
    Y,
    hidden: str = "relu",
    output: str = "sigmoid",
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    dropout_seed: int | None = None,
) -> dict[str, np.ndarray]:
    """The reference gradient of network_cost: forward then backward (dW1, db1, ...)."""
    AL, caches = forward(X, params, hidden, output, keep_prob, dropout_seed)
    return backward(AL, Y, caches, lambd)


def cost_from_caches(caches: list, Y, lambd: float):
    """Loss from the logits Z_L in ``caches`` plus the L2 term (float64 scalar)."""
    check_lambd(lambd)
    output, ZL, _ = caches[-1]["activation"]
    Y = check_targets(Y, ZL.shape, output)
    J = loss_from_logits(ZL, Y, output)
    if lambd:
        J = J + l2_penalty([square_norm(c["linear"][1]) for c in caches], lambd, Y.shape[1])
    return J


def square_norm(W: np.ndarray):
    """‖W‖²_F summed row by row (sum over the last axis, then over rows); W (..., n_l, n_{l-1}).

    The order is part of the reference: a change of one entry changes only its row's sum,
    which lets gradlib.netgrad reproduce the value exactly.
    """
    return np.sum(np.sum(np.square(W), axis=-1), axis=-1)


def l2_penalty(norms: list, lambd: float, m: int):
    """(λ / 2m) Σ_l ‖W_l‖²_F from the list of per-layer square norms (scalars or arrays)."""
    total = norms[0]
    for norm in norms[1:]:
        total = total + norm
    return lambd * total / (2 * m)


def check_shapes(X, params, *, blocks=True) -> tuple[np.ndarray, int]:
    """Check that X (n_x, m) and params W1, b1, ..., WL, bL fit together; return X and L.

    X and (unless ``blocks`` is False) every block of params must be finite.
    """
    X = as_float_array(X, "X")
    if X.ndim != 2:
        raise GradCheckError(
            f"X must be 2-D (n_x, m), one example per column, got shape {X.shape}; "
            "use X.reshape(n_x, m)."
        )
    if not isinstance(params, dict) or not params:
        raise GradCheckError("params must be a non-empty dict {'W1': ..., 'b1': ..., ...}.")
    numbered = [k[1:] for k in params if isinstance(k, str) and k[:1] in ("W", "b")]
    L = max((int(n) for n in numbered if n.isdigit()), default=1)
    expected = {f"{p}{layer}" for layer in range(1, L + 1) for p in "Wb"}
    if set(params) != expected:
        missing, extra = sorted(expected - set(params)), sorted(set(params) - expected, key=str)
        raise GradCheckError(
            f"params has keys {', '.join(map(str, params))}; the reference network needs W1, "
            f"b1, ..., WL, bL numbered without gaps (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(map(str, extra)) or 'none'})."
        )
    require_finite(X, "X")
    for key in sorted(expected, key=lambda k: (int(k[1:]), k[0])):
        block = as_float_array(params[key], key)
        if blocks:
            require_finite(block, key)
    rows = X.shape[0]
    for layer in range(1, L + 1):
        W, b = np.shape(params[f"W{layer}"]), np.shape(params[f"b{layer}"])
        if len(W) != 2 or W[1] != rows:
            if layer == 1:
                what = f"X has shape {X.shape} ({X.shape[0]} features)"
            else:
                below = np.shape(params[f"W{layer - 1}"])
                what = f"W{layer - 1} has shape {below} ({below[0]} units)"
            hint = " (X transposed?)" if layer == 1 and len(W) == 2 and W[1] == X.shape[1] else ""
            unit = "feature" if layer == 1 else f"unit of layer {layer - 1}"
            raise GradCheckError(
                f"{what} but W{layer} has shape {W}: W{layer} needs one column per {unit}, "
                f"i.e. shape ({W[0] if len(W) == 2 else 'n'}, {rows}){hint}."
            )
        if b != (W[0], 1):
            raise GradCheckError(
                f"b{layer} has shape {b} but W{layer} has shape {W}: b{layer} must be a column "
                f"of shape ({W[0]}, 1), one bias per unit (use b.reshape(-1, 1))."
            )
        rows = W[0]
    return X, L


def check_targets(Y, shape: tuple[int, ...], output: str) -> np.ndarray:
    """Y as a float array of the output's ``shape`` (n_L, m); softmax needs one-hot columns."""
    Y = as_float_array(Y, "Y")
    require_finite(Y, "Y")
    if Y.shape != tuple(shape):
        raise GradCheckError(
            f"Y has shape {Y.shape} but the network's output has shape {tuple(shape)}: Y needs "
            "one row per output unit and one column per example"
            + (" (one-hot for softmax)." if output == "softmax" else " (e.g. Y.reshape(1, m)).")
        )
    if output == "softmax" and not np.all(np.abs(np.sum(Y, axis=0) - 1) <= 1e-9):
        raise GradCheckError(
            "softmax cross-entropy needs one-hot Y: every column of Y must sum to 1 "
            "(Y[k, i] = 1 for the class k of example i)."
        )
    return Y


def check_output(AL, output: str) -> np.ndarray:
    """AL as a finite float array of shape (n_L, m); probabilities in [0, 1] unless identity."""
    AL = as_float_array(AL, "AL")
    if AL.ndim != 2:
        raise GradCheckError(
            f"AL must be 2-D (n_L, m), one column per example, got shape {AL.shape}; "
            "use AL.reshape(1, m) for a single output unit."
        )
    require_finite(AL, "AL")
    check_name(output, OUTPUTS, "output")
    if output != "identity" and not np.all((AL >= 0) & (AL <= 1)):
        raise GradCheckError(
            f"AL must hold {output} probabilities in [0, 1], but it ranges over "
            f"[{AL.min():.3g}, {AL.max():.3g}]: did you pass the logits Z_L instead of A_L? "
            "(network_cost computes the loss from the logits itself.)"
        )
    return AL


def check_lambd(lambd) -> None:
    """Raise GradCheckError unless the L2 strength λ is a finite real number ≥ 0."""
    if isinstance(lambd, bool) or not (
        isinstance(lambd, Real) and np.isfinite(lambd) and lambd >= 0
    ):
        raise GradCheckError(f"lambd (the L2 strength λ) must be a number >= 0, got {lambd!r}.")


def _check_caches(caches) -> None:
    ok = isinstance(caches, list) and caches and all(isinstance(c, dict) for c in caches)
    if not ok or not all({"linear", "activation", "dropout"} <= set(c) for c in caches):
        raise GradCheckError(
            f"caches must be the list of per-layer dicts that forward returns, got "
            f"{type(caches).__name__}; use AL, caches = forward(X, params)."
        )


def _weights(params) -> list[str]:
    """W1, ..., WL of a params dict, for the L2 term."""
    if not isinstance(params, dict):
        raise GradCheckError(
            f"params must be a dict {{'W1': ..., 'b1': ..., ...}} for the L2 term, got "
            f"{type(params).__name__}."
        )
    names = [f"W{layer}" for layer in range(1, max(1, len(params) // 2) + 1)]
    missing = [n for n in names if n not in params]
    if missing:
        raise GradCheckError(
            f"the L2 term needs every weight W1, ..., WL in params; missing "
            f"{', '.join(missing)} (params has {', '.join(map(str, params))})."
        )
    return names


def _check_dropout(keep_prob: float, dropout_seed) -> None:
    if not (isinstance(keep_prob, Real) and 0 < keep_prob <= 1):
        raise GradCheckError(f"keep_prob must be in (0, 1], got {keep_prob!r}.")
    seed_ok = isinstance(dropout_seed, int | np.integer) and dropout_seed >= 0
    if keep_prob < 1 and not seed_ok:
        raise GradCheckError(
            f"keep_prob={keep_prob} needs dropout_seed, an int >= 0 (got {dropout_seed!r}): "
            "the masks must be fixed so that every cost in a grad check drops the same units."
        )
