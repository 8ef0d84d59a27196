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
  functions, same sums over the same m columns): all entries of W_l and b_l, each moved
  both ways, make one batch unless it would pass BATCH_ELEMENTS, so a small network costs
  one batch per layer whatever its n (the Python work per batch, not the arithmetic, is
  what a small network's check spends its time on);
* the L2 term needs only the perturbed row's square sum (nn.square_norm sums row by row).

The inputs are checked once, at the door (nn.check_forward, nn.check_targets), never per
perturbation. Central differences use the black box's steps, h_i = ε·max(1, |θ_i|), and
its effective steps (θ_i + h_i) − θ_i, so the two agree to the last bit on the BLAS tested
(the tests hold them to ≤ 1e-12). Each perturbed pass also shows whether a ReLU or
leaky-ReLU pre-activation changed side: those entries are kinks, where no finite
difference is meaningful.
"""

from __future__ import annotations

from functools import lru_cache
from math import ceil, prod

import numpy as np

from gradlib.errors import GradCheckError, require_count, require_finite, warn_if_low_precision
from gradlib.gradcheck import make_report
from gradlib.layers import KINKED, activation_forward, apply_dropout
from gradlib.layers import loss_from_logits as data_loss
from gradlib.nn import (
    check_forward,
    check_lambd,
    check_shapes,
    check_targets,
    forward_checked,
    l2_penalty,
    square_norm,
)
from gradlib.numdiff import step_sizes
from gradlib.report import GradCheckReport
from gradlib.unroll import ParamSpec, grads_to_vector, params_to_vector

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
    ends = (*spec.offsets[1:], spec.size)
    blocks = zip(spec.names, spec.shapes, spec.offsets, ends, strict=True)
    return {f"d{name}": numeric[a:b].reshape(shape) for name, shape, a, b in blocks}, kinks


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
        r["run"].cost(),
        eps,
        "central",
        r["run"].evaluations(),
        kinks=r["kinks"],
        worst=worst,
        context={"m": np.shape(X)[-1], "lambd": lambd},
    )


def _differences(params, X, Y, hidden, output, lambd, keep_prob, dropout_seed, eps) -> dict:
    """θ's spec, numeric gradient and kinks (shape (n,)), and the _Run that computed them."""
    # Validated here, once: the passes below run on checked arrays (X and every block
    # finite, shapes that fit, known activations, Y of the output's shape).
    check_lambd(lambd)
    X, L = check_forward(X, params, hidden, output, keep_prob, dropout_seed, blocks=False)
    theta, spec = _unrolled(params, L)
    if not np.logical_and.reduce(np.isfinite(theta)):  # every block at once
        check_shapes(X, params)  # raises, naming the block and the entry
    # The loss comes from the logits Z_L: the output activation A_L is not needed
    _, caches = forward_checked(X, params, L, hidden, "identity", keep_prob, dropout_seed)
    if theta.dtype != np.float64:
        warn_if_low_precision(theta, "params")
    Y = check_targets(Y, caches[-1]["activation"][1].shape, output)
    run = _Run(caches, Y, hidden, output, lambd)
    steps = step_sizes(theta, eps, "central")
    plus, minus = theta + steps, theta - steps
    stuck = (plus == theta) | (minus == theta)
    if stuck.any():
        i = int(np.flatnonzero(stuck)[0])
        raise GradCheckError(
            f"eps={steps[i]:.3g} is too small to move {spec.label(i)}={theta[i]:.6g} in "
            f"{theta.dtype}: the perturbed value rounds back to the same number. Use a larger eps."
        )
    hp, hm = plus - theta, theta - minus  # the steps taken, as numdiff
    width = hp + hm
    numeric, kinks = np.empty(spec.size), np.zeros(spec.size, bool)
    for idx, jp, jm, kink in run.all_layers(spec, np.stack([theta + hp, theta - hm])):
        numeric[idx] = (jp - jm) / width[idx]
        if kink is not None:
            kinks[idx] = kink
    return {"spec": spec, "numeric": numeric, "kinks": kinks, "run": run}


def _unrolled(params, L) -> tuple[np.ndarray, ParamSpec]:
    """params_to_vector of params W1, b1, ..., WL, bL, without checking them again.

    check_forward has checked them (arrays of real numbers, of shapes that fit), so only its
    conversion is left: integers and booleans become float64, floats keep their type.
    """
    names = _block_names(L)
    arrays = [np.asarray(params[name]) for name in names]
    offsets, size = [], 0
    for a in arrays:
        offsets.append(size)
        size += a.size
    dtype = np.result_type(*[a.dtype if a.dtype.kind == "f" else np.float64 for a in arrays])
    theta = np.concatenate([a.ravel() for a in arrays])
    if theta.dtype != dtype:
        theta = theta.astype(dtype)
    return theta, ParamSpec(names, tuple(a.shape for a in arrays), tuple(offsets), size)


class _Run:
    """One unperturbed pass and the batched perturbed passes built on it."""

    def __init__(self, caches, Y, hidden, output, lambd):
        self.caches, self.Y, self.hidden, self.output, self.lambd = caches, Y, hidden, output, lambd
        self.L, self.m = len(caches), Y.shape[1]
        self.kinked = hidden in KINKED
        self.norms = [square_norm(c["linear"][1]) for c in caches] if lambd else []
        shapes = [c["linear"][1].shape for c in caches]  # (n_l, n_{l-1})
        sizes = [n * n_prev * self.m for n, n_prev in shapes]  # multiply-adds of each product
        self.above = [sum(sizes[k:]) for k in range(1, self.L + 1)]  # of layers above l
        self.forward_macs = sum(sizes)
        self.macs = 2 * self.forward_macs  # the unperturbed pass, and W_l A_{l-1} for the b_l
        widest = max(n for n, _ in shapes)
        self.batch = max(1, BATCH_ELEMENTS // (widest * self.m))
        # The most passes one batch holds: a layer's group of columns of [W_l | b_l] (see
        # _layer), or self.batch when one column is more
        most = max(
            min(2 * n * min(max(1, self.batch // (2 * n)), n_prev + 1), self.batch)
            for n, n_prev in shapes
        )
        # The logits Z_L of passes whose loss is still to compute: all of them at once (one
        # loss for every layer of a small network) up to a quarter of BATCH_ELEMENTS (the
        # loss's temporaries stay in the cache), or one batch when that is more
        self.passes = 2 * sum(n * (n_prev + 1) for n, n_prev in shapes)
        n_L = shapes[-1][0]
        self.capacity = min(self.passes, max(self.batch, BATCH_ELEMENTS // (4 * n_L * self.m)))
        # Where each buffer, A_k and Z_k (B, n_k, m) below layer L and Z_L, starts in the
        # workspace
        self.starts, end = {}, 0
        for k, (n, _) in enumerate(shapes, 1):
            kinds = ("A",) * (k < self.L) + ("Z",) * (1 < k < self.L)
            for kind in kinds:
                self.starts[kind, k], end = end, end + most * n * self.m
        self.starts["Z", self.L], end = end, end + self.capacity * n_L * self.m
        self.workspace_size, self.workspace = end, None

    def cost(self) -> float:
        """J at θ: nn.cost_from_caches of the unperturbed pass, without checking again."""
        J = data_loss(self.caches[-1]["activation"][1], self.Y, self.output)
        return float(J + l2_penalty(self.norms, self.lambd, self.m) if self.lambd else J)

    def evaluations(self) -> int:
        """The work done so far, in equivalent forward passes (rounded up)."""
        return ceil(self.macs / self.forward_macs)

    def all_layers(self, spec, moved):
        """Yield (θ indices, J at θ + h, J at θ − h, kink) batch by batch, for every layer;
        kink is None where no pre-activation of a kink moved across it.

        ``moved`` (2, n) holds the perturbed values θ + h and θ − h of every entry. The
        loss of the passes waits until their logits fill the pending buffer (``capacity``
        passes) or the passes end: one call of the loss for every layer of a small network.
        """
        data = np.empty(self.passes)  # each pass's data term, in the order computed
        self.filled = self.done = 0  # passes pending; passes whose data term is in ``data``
        batches = []  # (θ indices, first pass, passes, ‖W_layer‖²_F, kink, layer)
        for layer in range(1, self.L + 1):
            at = spec.block(f"W{layer}").start
            for where, Z_rows, norm in self._layer(layer, at, moved):
                B, kinks = Z_rows.shape[0], []
                first = self.done + self.filled
                for s in range(0, B, self.batch):
                    part = Z_rows[s : s + self.batch]
                    if self.filled + part.shape[0] > self.capacity:
                        self._flush(data)
                    out = self._pending()[self.filled : self.filled + part.shape[0]]
                    kinks.append(self._passes(layer, s, part, out))
                    self.filled += part.shape[0]
                kink = None if kinks[0] is None else np.concatenate(kinks)
                batches.append((where, first, B, norm, kink, layer))
        self._flush(data)
        for where, first, B, norm, kink, layer in batches:
            J = data[first : first + B]
            if self.lambd:
                norms = list(self.norms)
                norms[layer - 1] = norm
                J = J + l2_penalty(norms, self.lambd, self.m)
            half = B // 2
            yield where, J[:half], J[half:], None if kink is None else kink[:half] | kink[half:]

    def _flush(self, data):
        """The data term of the pending passes, into ``data``."""
        if self.filled:
            pending = self._pending()[: self.filled]
            data[self.done : self.done + self.filled] = data_loss(pending, self.Y, self.output)
            self.done, self.filled = self.done + self.filled, 0

    def _layer(self, layer, at, moved):
        """Batches (θ indices, Z_rows, ‖W_layer‖²_F per pass or None) of the entries of
        W_layer and b_layer (θ[at:] on), a group of columns of [W_layer | b_layer] at a time
        (b_layer is the column after W_layer's last), each entry moved both ways in the same
        batch: one batch for all of a small layer. Pass k of a batch differs from the
        unperturbed one in row k mod n_layer of Z_layer, which is Z_rows[k] (shape (m,))."""
        A_prev, W, b = self.caches[layer - 1]["linear"]
        n_l, n_prev = W.shape
        W_moved = moved[:, at : at + W.size].reshape(2, n_l, n_prev)
        b_moved = moved[:, at + W.size : at + W.size + n_l].reshape(2, n_l, 1)
        where = at + _column_order(n_l, n_prev)  # the θ index of each pass, way aside
        group = max(1, self.batch // (2 * n_l))
        for start in range(0, n_prev + 1, group):
            stop = min(start + group, n_prev + 1)
            cols = min(stop, n_prev) - start  # the columns of W_layer in this batch
            Z_rows = np.empty((2, stop - start, n_l, self.m))  # [way, column, row moved]
            norm = np.empty((2, stop - start, n_l)) if self.lambd else None
            if cols:
                # W_layer with all of column c moved, for each column c of the batch: row r
                # of its product is the black box's row r of Z_layer when W_layer[r, c]
                # alone moves.
                chosen = _single_column(n_prev)[start : start + cols]
                moved_W = np.where(chosen, W_moved[:, None], W)
                np.add(moved_W @ A_prev, b, out=Z_rows[:, :cols])  # linear_forward
                if self.lambd:  # nn.square_norm of each moved W_layer, from its row sums
                    sums = np.empty((2, cols, n_l, n_l))
                    sums[...] = np.sum(np.square(W), axis=-1)  # square_norm's inner sums
                    diagonal = np.arange(n_l)
                    sums[..., diagonal, diagonal] = np.sum(np.square(moved_W), axis=-1)
                    norm[:, :cols] = np.sum(sums, axis=-1)
            if stop > n_prev:  # b_layer moved: linear_forward's product W A_prev, plus b
                np.add(W @ A_prev, b_moved, out=Z_rows[:, -1])
                if self.lambd:
                    norm[:, -1] = self.norms[layer - 1]
            self.macs += 2 * cols * W.size * self.m + Z_rows[..., 0].size * self.above[layer - 1]
            yield (
                where[start * n_l : stop * n_l],
                Z_rows.reshape(-1, self.m),
                None if norm is None else norm.ravel(),
            )

    def _passes(self, layer, first, Z_rows, out):
        """Z_L, into ``out`` (B, n_L, m), of B passes that differ from the unperturbed one
        in row (first + k) mod n_layer of Z_layer, which is Z_rows[k]; their kink flags
        (None without a kink). The (B, n, m) arrays of the layers between live in buffers
        kept across batches (allocating them anew each time made the check page-fault
        bound: a third of its time in the kernel on the 8×8-digits network)."""
        B = Z_rows.shape[0]
        cache = self.caches[layer - 1]
        Z_base = cache["activation"][1]
        if layer == self.L:
            if Z_base.shape[0] == 1:
                out[:, 0] = Z_rows  # the moved row is all of Z_L
            else:
                passes, rows = _rows(B, first, Z_base.shape[0])
                out[...] = Z_base
                out[passes, rows] = Z_rows
            return None
        passes, rows = _rows(B, first, Z_base.shape[0])
        mask = cache["dropout"][0][rows] if cache["dropout"] else None
        kink = self._crossed(Z_rows, Z_base[rows], mask) if self.kinked else None
        A_rows = self._activate(Z_rows, Z_rows)  # Z_rows is not needed after this
        if mask is not None:
            A_rows = apply_dropout(A_rows, mask, cache["dropout"][1])
        A = self._buffer(("A", layer), (B, *Z_base.shape))
        A[...] = self.caches[layer]["linear"][0]
        A[passes, rows] = A_rows
        for k in range(layer + 1, self.L + 1):
            above = self.caches[k - 1]
            _, W, b = above["linear"]
            Z = out if k == self.L else self._buffer(("Z", k), (B, W.shape[0], self.m))
            np.matmul(W, A, out=Z)  # linear_forward's W @ A + b, into the buffer
            Z += b
            if k == self.L:
                break
            mask = above["dropout"][0] if above["dropout"] else None
            if self.kinked:
                kink |= self._crossed(Z, above["activation"][1], mask, axes=(-2, -1))
            A = self._buffer(("A", k), Z.shape)
            self._activate(Z, A)
            if mask is not None:
                A[...] = apply_dropout(A, mask, above["dropout"][1])
        return kink

    def _buffer(self, key, shape):
        """A float64 array of ``shape`` (B, n_k, m) for buffer ``key``, a view of the workspace.

        One block for all buffers, allocated once per run and reused by every batch: many
        separate blocks, each freed at the end of the run, made glibc return the memory to
        the system and fault it in again on every call (twice the time on [2, 4, 1]); one
        large block raises its threshold for returning memory above the run's peak.
        """
        if self.workspace is None:
            self.workspace = np.empty(self.workspace_size)
        start = self.starts[key]
        return self.workspace[start : start + prod(shape)].reshape(shape)

    def _pending(self):
        """The workspace's Z_L buffer, (capacity, n_L, m): the logits of the pending passes."""
        shape = (self.capacity, *self.caches[-1]["activation"][1].shape)
        return self._buffer(("Z", self.L), shape)

    def _activate(self, Z, out):
        """activation_forward(Z, hidden)[0], written into ``out`` (the same values); out."""
        if self.hidden == "relu":
            np.maximum(Z, 0.0, out=out)
        elif self.hidden == "tanh":
            np.tanh(Z, out=out)
        else:
            out[...] = activation_forward(Z, self.hidden)[0]
        return out

    def _crossed(self, Z, Z_base, mask, axes=-1):
        """Whether any kept pre-activation changed side of the kink at 0, per pass."""
        moved = (Z > 0) != (Z_base > 0)
        if mask is not None:
            moved &= mask != 0
        return np.any(moved, axis=axes)


@lru_cache(maxsize=16)
def _block_names(L: int) -> tuple[str, ...]:
    """("W1", "b1", ..., "WL", "bL")."""
    return tuple(f"{p}{layer}" for layer in range(1, L + 1) for p in "Wb")


@lru_cache(maxsize=64)
def _column_order(n_l: int, n_prev: int) -> np.ndarray:
    """Where each entry of [W_l | b_l], column by column, is in θ from W_l's start."""
    order = np.empty((n_prev + 1, n_l), dtype=np.intp)
    order[:n_prev] = np.arange(n_l * n_prev).reshape(n_l, n_prev).T
    order[n_prev] = n_l * n_prev + np.arange(n_l)
    return _frozen(order.ravel())


@lru_cache(maxsize=64)
def _single_column(n: int) -> np.ndarray:
    """(n, 1, n) bool: entry c selects column c of an (·, n) matrix (np.where's mask)."""
    return _frozen(np.eye(n, dtype=bool)[:, None, :])


@lru_cache(maxsize=256)
def _rows(B: int, first: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pass k of a batch and the row (first + k) mod n of Z_l it moves, for k < B."""
    passes = np.arange(B)
    return _frozen(passes), _frozen((passes + first) % n)


def _frozen(a: np.ndarray) -> np.ndarray:
    """``a``, read-only: the cached index arrays above are shared by every run."""
    a.flags.writeable = False
    return a
