"""Structured numeric gradient of the reference network: fast, and equal to the black box.

The black box, ``numerical_gradient`` applied to ``nn.network_cost``, runs a whole forward
pass for each of the 2n perturbations θ_i ± h_i. Moving one entry of W_l or b_l changes
nothing below layer l and only one row of Z_l, so here

* the activations below layer l come from one unperturbed pass;
* the perturbed rows of Z_l come from one product per column c of W_l: W_l with all of
  column c perturbed gives, in row r, exactly row r of the product the black box computes
  for W_l[r, c] alone (rows of a product do not mix, and the product has the same shape);
* many perturbations go through the layers above at once, stacked along a leading batch
  axis, each with the operations of a single pass (same product shapes, same element-wise
  functions, same sums over the same m columns);
* the L2 term needs only the perturbed row's square sum (nn.square_norm sums row by row).

Central differences use the black box's steps, h_i = ε·max(1, |θ_i|), and its effective
steps (θ_i + h_i) − θ_i, so the two agree to the last bit on the BLAS tested (the tests
hold them to ≤ 1e-12). Each perturbed pass also shows whether a ReLU or leaky-ReLU
pre-activation changed side: those entries are kinks, where no finite difference is
meaningful.
"""

from __future__ import annotations

from math import ceil

import numpy as np

from gradlib.errors import GradCheckError, require_count, require_finite, warn_if_low_precision
from gradlib.gradcheck import make_report
from gradlib.layers import KINKED, activation_forward, apply_dropout, linear_forward
from gradlib.layers import loss_from_logits as data_loss
from gradlib.nn import (
    check_forward,
    check_lambd,
    check_targets,
    forward_checked,
    l2_penalty,
    square_norm,
)
from gradlib.numdiff import step_sizes
from gradlib.report import GradCheckReport
from gradlib.unroll import grads_to_vector, params_to_vector

# Most array elements one batch of perturbed passes may hold (B · n_l · m): 1 MB of float64.
# Measured on the course's networks (benchmarks/bench_gradcheck.py): twice this was up to 4×
# slower on [64, 32, 10] (arrays past the cache), a quarter of it 1.5× slower on [2, 20, 3, 1].
BATCH_ELEMENTS = 1 << 17


def numerical_network_gradient(
    params: dict,
    X,
    Y,
    *,
    hidden: str = "relu",
    output: str = "sigmoid",
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    dropout_seed: int | None = None,
    eps: float | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Central-difference gradient of nn.network_cost, computed layer by layer.

    Parameters
    ----------
    params : W1 (n_1, n_x), b1 (n_1, 1), ..., WL, bL
    X : (n_x, m) inputs; Y : (n_L, m) targets
    hidden, output, lambd, keep_prob, dropout_seed : as in nn.network_cost
    eps : base step (None: the default of central differences); θ_i moves by ε·max(1, |θ_i|)

    Returns
    -------
    grads : dict dW1, db1, ... of the parameters' shapes
    kinks : bool array, shape (n,), in θ order (W1, b1, W2, ...): True where θ_i ± h_i moves
        a ReLU/leaky-ReLU pre-activation of a kept unit across 0 (Z > 0 changes)
    """
    result = _differences(params, X, Y, hidden, output, lambd, keep_prob, dropout_seed, eps)
    spec, numeric, kinks = result["spec"], result["numeric"], result["kinks"]
    return {f"d{k}": v.copy() for k, v in spec.views(numeric).items()}, kinks


def check_network(
    params: dict,
    X,
    Y,
    grads: dict,
    *,
    hidden: str = "relu",
    output: str = "sigmoid",
    lambd: float = 0.0,
    keep_prob: float = 1.0,
    dropout_seed: int | None = None,
    eps: float | None = None,
    worst: int = 3,
) -> GradCheckReport:
    """Grad check of ``grads`` against the reference network's structured numeric gradient.

    Entries whose perturbation crosses a ReLU kink are reported as kinks, never as wrong.
    Arguments as in numerical_network_gradient; ``grads`` has keys dW1, db1, ...;
    ``worst`` is how many elements each block names. ``report.evaluations`` counts the
    work in equivalent forward passes.
    """
    require_count(worst, "worst", "elements named per failing block")
    theta, spec = params_to_vector(params)
    dtheta = grads_to_vector(grads, spec)
    require_finite(dtheta, "grads", lambda i: "d" + spec.label(i))
    r = _differences(params, X, Y, hidden, output, lambd, keep_prob, dropout_seed, eps)
    return make_report(
        spec,
        theta,
        dtheta,
        r["numeric"],
        r["j0"],
        eps,
        "central",
        r["evaluations"],
        kinks=r["kinks"],
        worst=worst,
        context={"m": np.shape(X)[-1], "lambd": lambd},
    )


def _differences(params, X, Y, hidden, output, lambd, keep_prob, dropout_seed, eps) -> dict:
    """θ's spec, numeric gradient and kinks (shape (n,)), J(θ) and the work done."""
    # Validated here, once: the passes below run on checked arrays (X and every block
    # finite, shapes that fit, known activations, Y of the output's shape).
    check_lambd(lambd)
    X, L = check_forward(X, params, hidden, output, keep_prob, dropout_seed)
    theta, spec = params_to_vector(params)
    warn_if_low_precision(theta, "params")
    _, caches = forward_checked(X, params, L, hidden, output, keep_prob, dropout_seed)
    Y = check_targets(Y, caches[-1]["activation"][1].shape, output)
    run = _Run(caches, Y, hidden, output, lambd)
    steps = step_sizes(theta, eps, "central")
    stuck = np.flatnonzero((theta + steps == theta) | (theta - steps == theta))
    if stuck.size:
        i = int(stuck[0])
        raise GradCheckError(
            f"eps={steps[i]:.3g} is too small to move {spec.label(i)}={theta[i]:.6g} in "
            f"{theta.dtype}: the perturbed value rounds back to the same number. Use a larger eps."
        )
    hp, hm = (theta + steps) - theta, theta - (theta - steps)  # the steps taken, as numdiff
    numeric, kinks = np.empty(spec.size), np.zeros(spec.size, bool)
    for idx, jp, jm, kink in run.all_layers(spec, theta + hp, theta - hm):
        numeric[idx] = (jp - jm) / (hp[idx] + hm[idx])
        kinks[idx] = kink
    return {
        "spec": spec,
        "numeric": numeric,
        "kinks": kinks,
        "j0": float(run.cost()),
        "evaluations": ceil(run.macs / run.forward_macs),
    }


class _Run:
    """One unperturbed pass and the batched perturbed passes built on it."""

    def __init__(self, caches, Y, hidden, output, lambd):
        self.caches, self.Y, self.hidden, self.output, self.lambd = caches, Y, hidden, output, lambd
        self.L, self.m = len(caches), Y.shape[1]
        self.norms = [square_norm(c["linear"][1]) for c in caches]
        sizes = [c["linear"][1].size * self.m for c in caches]  # multiply-adds of each product
        self.above = [sum(sizes[k:]) for k in range(1, self.L + 1)]  # of layers above l
        self.forward_macs = sum(sizes)
        self.macs = 2 * self.forward_macs  # the unperturbed pass, and W_l A_{l-1} for the b_l
        widest = max(c["linear"][1].shape[0] for c in caches)
        self.batch = max(1, BATCH_ELEMENTS // (widest * self.m))
        self.buffers: dict = {}

    def cost(self):
        """J at θ: nn.cost_from_caches of the unperturbed pass, without checking again."""
        J = data_loss(self.caches[-1]["activation"][1], self.Y, self.output)
        return J + l2_penalty(self.norms, self.lambd, self.m) if self.lambd else J

    def all_layers(self, spec, plus, minus):
        """Yield (θ indices, J at θ + h, J at θ − h, kink) batch by batch, for every block.

        ``plus`` and ``minus`` are the perturbed values θ + h and θ − h of every entry.
        """
        for layer in range(1, self.L + 1):
            yield from self._weights(layer, spec.block(f"W{layer}"), plus, minus)
            yield self._biases(layer, spec.block(f"b{layer}"), plus, minus)

    def _weights(self, layer, at, plus, minus):
        """Batches of W_layer's entries (slice ``at`` of θ), a group of columns at a time,
        each entry moved both ways in the same batch."""
        A_prev, W, b = self.caches[layer - 1]["linear"]
        n_l, n_prev = W.shape
        row_sums = np.sum(np.square(W), axis=-1)  # the inner sums of nn.square_norm
        group = max(1, self.batch // (2 * n_l))
        for start in range(0, n_prev, group):
            cols = np.arange(start, min(start + group, n_prev))
            rows = np.tile(np.arange(n_l), cols.size)  # entry (rows[k], cols[k // n_l])
            idx = at.start + rows * n_prev + np.repeat(cols, n_l)
            Z_rows, norms = [], []
            for values in (plus, minus):
                # W_layer with all of column c moved: row r of its product is the black
                # box's row r of Z_layer when W_layer[r, c] alone moves.
                moved = np.repeat(W[None], cols.size, axis=0)
                moved[np.arange(cols.size), :, cols] = values[at].reshape(W.shape)[:, cols].T
                Z_rows.append(linear_forward(A_prev, moved, b)[0].reshape(-1, self.m))
                if self.lambd:  # nn.square_norm of each moved W_layer, from its row sums
                    sums = np.repeat(row_sums[None], idx.size, axis=0)
                    sums[np.arange(idx.size), rows] = np.sum(np.square(moved), axis=-1).ravel()
                    norms.append(np.sum(sums, axis=-1))
            self.macs += 2 * cols.size * W.size * self.m + 2 * idx.size * self.above[layer - 1]
            yield self._both_ways(layer, idx, rows, Z_rows, norms)

    def _biases(self, layer, at, plus, minus):
        """One batch of b_layer's entries (slice ``at`` of θ), moved both ways."""
        A_prev, W, b = self.caches[layer - 1]["linear"]
        product = W @ A_prev  # linear_forward's product, before b is added
        rows = np.arange(b.shape[0])
        Z_rows = [product + values[at].reshape(b.shape) for values in (plus, minus)]
        self.macs += 2 * rows.size * self.above[layer - 1]
        return self._both_ways(layer, at.start + rows, rows, Z_rows, [])

    def _both_ways(self, layer, idx, rows, Z_rows, norms):
        """(θ indices, J at θ + h, J at θ − h, kink) from the rows moved each way."""
        J, kink = self._evaluate(layer, np.concatenate([rows, rows]), np.concatenate(Z_rows),
                                 np.concatenate(norms) if norms else None)  # fmt: skip
        n = idx.size
        return idx, J[:n], J[n:], kink[:n] | kink[n:]

    def _evaluate(self, layer, rows, Z_rows, norm):
        """J and kink flags, shape (B,), for B passes that differ from the unperturbed one
        in row rows[k] of Z_layer, which is Z_rows[k] (shape (m,)); ``norm`` (B,) is the
        perturbed ‖W_layer‖²_F, None when W_layer is unchanged."""
        J, kink = [], []
        for s in range(0, rows.size, self.batch):
            part = slice(s, s + self.batch)
            j, k = self._passes(
                layer, rows[part], Z_rows[part], None if norm is None else norm[part]
            )
            J.append(j)
            kink.append(k)
        return np.concatenate(J), np.concatenate(kink)

    def _passes(self, layer, rows, Z_rows, norm):
        """J and kinks of rows.size passes; the (B, n, m) arrays of the layers above live in
        buffers kept across batches (allocating them anew each time made the check
        page-fault bound: a third of its time in the kernel on the 8×8-digits network)."""
        B = rows.size
        at = np.arange(B)
        cache = self.caches[layer - 1]
        Z_base = cache["activation"][1]
        kink = np.zeros(B, bool)
        if layer == self.L:
            Z = self._buffer(("Z", layer), (B, *Z_base.shape))
            Z[...] = Z_base
            Z[at, rows] = Z_rows
        else:
            mask = cache["dropout"][0][rows] if cache["dropout"] else None
            kink |= self._crossed(Z_rows, Z_base[rows], mask)
            A_rows = activation_forward(Z_rows, self.hidden)[0]
            if mask is not None:
                A_rows = apply_dropout(A_rows, mask, cache["dropout"][1])
            A = self._buffer(("A", layer), (B, *Z_base.shape))
            A[...] = self.caches[layer]["linear"][0]
            A[at, rows] = A_rows
            for k in range(layer + 1, self.L + 1):
                above = self.caches[k - 1]
                _, W, b = above["linear"]
                Z = self._buffer(("Z", k), (B, W.shape[0], self.m))
                np.matmul(W, A, out=Z)  # linear_forward's W @ A + b, into the buffer
                Z += b
                if k == self.L:
                    break
                mask = above["dropout"][0] if above["dropout"] else None
                kink |= self._crossed(Z, above["activation"][1], mask, axes=(-2, -1))
                A = self._buffer(("A", k), Z.shape)
                self._activate(Z, A)
                if mask is not None:
                    A[...] = apply_dropout(A, mask, above["dropout"][1])
        J = data_loss(Z, self.Y, self.output)
        if self.lambd:
            norms = list(self.norms)
            if norm is not None:
                norms[layer - 1] = norm
            J = J + l2_penalty(norms, self.lambd, self.m)
        return J, kink

    def _buffer(self, key, shape):
        """A float64 array of ``shape`` kept under ``key`` (the first batch is the largest)."""
        size = int(np.prod(shape))
        buffer = self.buffers.get(key)
        if buffer is None or buffer.size < size:
            buffer = self.buffers[key] = np.empty(size)
        return buffer[:size].reshape(shape)

    def _activate(self, Z, out):
        """activation_forward(Z, hidden)[0], written into ``out``: the same values."""
        if self.hidden == "relu":
            np.maximum(Z, 0.0, out=out)
        elif self.hidden == "tanh":
            np.tanh(Z, out=out)
        else:
            out[...] = activation_forward(Z, self.hidden)[0]

    def _crossed(self, Z, Z_base, mask, axes=-1):
        """Whether any kept pre-activation changed side of the kink at 0, per pass."""
        if self.hidden not in KINKED:
            return np.zeros(Z.shape[0], bool)
        moved = (Z > 0) != (Z_base > 0)
        if mask is not None:
            moved &= mask != 0
        return np.any(moved, axis=axes)
