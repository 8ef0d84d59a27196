"""Inputs the graded functions run on: public ones for self-checks, secret ones per student.

Secret inputs are drawn from a seed derived from the course secret, the assignment, the
task and the student id, so every student gets different layer sizes, X, Y, parameters
and λ, and nobody without the secret can reproduce them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from gradlib import nn

SECRET_ENV = "GRADKIT_SECRET"
PUBLIC_SEED = 2024


class SecretError(RuntimeError):
    """No course secret is configured where one is needed."""


@dataclass(frozen=True)
class NetworkInputs:
    """One draw of a grading problem for an L-layer network.

    Attributes
    ----------
    X : ndarray, shape (n_x, m)
    Y : ndarray, shape (1, m), labels in {0, 1}
    params : dict W1 (n1, n_x), b1 (n1, 1), ..., WL (1, n_{L-1}), bL (1, 1)
    lambd : L2 regularization strength λ ≥ 0
    """

    X: np.ndarray
    Y: np.ndarray
    params: dict
    lambd: float

    @property
    def layer_dims(self) -> list[int]:
        L = len(self.params) // 2
        return [self.X.shape[0]] + [self.params[f"W{k}"].shape[0] for k in range(1, L + 1)]


def course_secret(secret: str | None = None) -> str:
    """The course secret: the argument, else $GRADKIT_SECRET; an error if neither is set."""
    secret = secret if secret is not None else os.environ.get(SECRET_ENV)
    if not secret:
        raise SecretError(
            f"no course secret: set the environment variable {SECRET_ENV} (any long random "
            "string kept out of the students' reach) or pass --secret to gradkit."
        )
    return secret


def student_seed(secret: str, assignment: str, task: str, student: str) -> int:
    """A 63-bit seed from the secret and the (assignment, task, student) triple."""
    text = "\x1f".join([secret, assignment, task, student]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def draw_network(seed: int, layers: int = 3, lambd: bool = True) -> NetworkInputs:
    """A random binary-classification problem for a ``layers``-layer network.

    Widths, batch size, data, parameters and λ all come from ``seed``, drawn so that the
    classic backprop bugs cannot hide on any student's inputs:

    * m is odd (7, 9 or 11): examples processed in pairs, dropping the last, show;
    * n_x < m: ``m = X.shape[0]`` instead of ``X.shape[1]`` shows;
    * no two consecutive layer sizes are equal: ``W @ dZ`` without the transpose fails;
    * every hidden unit is active on some examples and inactive on others, and no bias is
      zero: a wrong or missing ReLU mask, or a missing entry of db, changes the gradient;
    * λ ≥ 0.1 where L2 is graded (``lambd=True``).

    ReLU kinks crossed by the numeric gradient are handled by the reference check
    (gradlib.netgrad).
    """
    rng = np.random.default_rng(seed)
    while True:
        n_x = int(rng.integers(3, 7))
        m = int(rng.choice([7, 9, 11]))
        dims = [n_x]
        for _ in range(layers - 1):
            dims.append(int(rng.choice([w for w in range(2, 7) if w != dims[-1]])))
        dims.append(1)
        X = rng.normal(size=(n_x, m))
        Y = (rng.random(size=(1, m)) < 0.5).astype(float)
        Y[0, :2] = [0.0, 1.0]  # both classes present
        params = nn.init_params(dims, seed=int(rng.integers(2**31)))
        for k in range(1, layers + 1):  # non-zero biases so db carries information
            params[f"b{k}"] = rng.normal(scale=0.5, size=params[f"b{k}"].shape)
        if _units_alive_and_gated(X, params):
            break
    value = float(np.round(rng.uniform(0.1, 1.0), 3)) if lambd else 0.0
    return NetworkInputs(X=X, Y=Y, params=params, lambd=value)


def _units_alive_and_gated(X: np.ndarray, params: dict) -> bool:
    """Every hidden ReLU unit is on for some example and off for another, not near 0."""
    _, caches = nn.forward(X, params)
    for cache in caches[:-1]:
        Z = cache["activation"][1]
        on = Z > 0
        if not (on.any(axis=1) & (~on).any(axis=1)).all() or np.abs(Z).min() < 1e-3:
            return False
    return True


# The large instance of a backward question: 147,841 parameters. Backprop answers it in about
# a tenth of a second; 2n cost evaluations (central differences) or n (complex step) take
# minutes (benchmarks/bench_large_instance.py measures both against Task.time_limit).
LARGE_DIMS = (512, 256, 64, 1)
LARGE_M = 255  # odd, like the small draws


def draw_large_network(seed: int, lambd: bool = True) -> NetworkInputs:
    """A problem too large for numeric differentiation: LARGE_DIMS, LARGE_M examples."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(LARGE_DIMS[0], LARGE_M))
    Y = (rng.random(size=(1, LARGE_M)) < 0.5).astype(float)
    params = nn.init_params(list(LARGE_DIMS), seed=int(rng.integers(2**31)))
    for k in range(1, len(LARGE_DIMS)):
        params[f"b{k}"] = rng.normal(scale=0.1, size=params[f"b{k}"].shape)
    value = float(np.round(rng.uniform(0.1, 1.0), 3)) if lambd else 0.0
    return NetworkInputs(X=X, Y=Y, params=params, lambd=value)
