"""Unrolling parameters W1, b1, ..., WL, bL into one vector θ, and back.

Order of the blocks in θ (and in dθ, which must use the same order):

1. names ending in a layer number, by that number (W10 after W9, not after W1);
2. within a layer, W first, then b, then any other names alphabetically
   (W1, b1, beta1, gamma1, W2, ...);
3. names without a layer number last, alphabetically.

Each block is flattened in C (row-major) order, the order of ``np.reshape``.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from math import prod

import numpy as np

from gradlib.errors import GradCheckError, as_float_array

_LAYERED = re.compile(r"^(?P<stem>.*?)(?P<layer>\d+)$")
# Keys of intermediate gradients that backward() returns next to dW/db; not parameters.
_INTERMEDIATE = re.compile(r"^d(A|Z)\d+$")


def sort_key(name: str) -> tuple:
    """Position of a parameter name in θ (see the module docstring)."""
    match = _LAYERED.match(name)
    if not match or not match["stem"]:
        return (1, 0, 0, name)
    stem = match["stem"]
    rank = {"W": 0, "b": 1}.get(stem, 2)
    return (0, int(match["layer"]), rank, stem)


@dataclass(frozen=True)
class ParamSpec:
    """Where each parameter block lives in θ.

    Attributes
    ----------
    names : block names in θ order, e.g. ("W1", "b1", "W2", "b2")
    shapes : shape of each block
    offsets : index in θ of each block's first entry
    size : total length of θ
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]
    size: int

    @classmethod
    def from_shapes(cls, shapes: dict[str, tuple[int, ...]]) -> ParamSpec:
        """Spec for blocks of the given shapes, placed in θ order."""
        names = tuple(sorted(shapes, key=sort_key))
        offsets, total = [], 0
        for name in names:
            offsets.append(total)
            total += prod(shapes[name])
        return cls(names, tuple(tuple(shapes[n]) for n in names), tuple(offsets), total)

    def block(self, name: str) -> slice:
        """Slice of θ that holds block ``name``."""
        k = self.names.index(name)
        return slice(self.offsets[k], self.offsets[k] + prod(self.shapes[k]))

    def locate(self, i: int) -> tuple[str, tuple[int, ...]]:
        """Block name and index within the block of θ[i], e.g. ("W2", (3, 1))."""
        try:
            i = operator.index(i)  # ints and numpy integers; not 1.5, "3" or arrays
        except TypeError:
            raise GradCheckError(
                f"locate takes an integer index into θ, got {i!r}; e.g. "
                "spec.locate(int(np.argmax(np.abs(dtheta - dtheta_approx))))."
            ) from None
        if not 0 <= i < self.size:
            raise IndexError(
                f"index {i} is outside θ, which has {self.size} entries (0 … {self.size - 1})."
            )
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        index = np.unravel_index(i - self.offsets[k], self.shapes[k])
        return self.names[k], tuple(int(j) for j in index)

    def label(self, i: int) -> str:
        """θ[i] as a readable name, e.g. "W2[3, 1]"."""
        name, index = self.locate(i)
        return f"{name}[{', '.join(map(str, index))}]"

    def views(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Blocks as views into θ (no copy): writing θ changes them."""
        return {
            n: theta[self.block(n)].reshape(s) for n, s in zip(self.names, self.shapes, strict=True)
        }


def params_to_vector(params: dict) -> tuple[np.ndarray, ParamSpec]:
    """Unroll a dict of parameter arrays into one vector θ.

    Parameters
    ----------
    params : dict name -> array, e.g. {"W1": (n1, n0), "b1": (n1, 1), ...}

    Returns
    -------
    theta : ndarray, shape (n,), a copy (float64 unless the inputs are another float)
    spec : ParamSpec to undo the unrolling
    """
    if not isinstance(params, dict) or not params:
        raise GradCheckError(
            f"params must be a non-empty dict of arrays such as {{'W1': ..., 'b1': ...}}, "
            f"got {type(params).__name__}."
        )
    arrays = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise GradCheckError(f"parameter names must be strings, got {name!r}.")
        arrays[name] = as_float_array(value, name)
    spec = ParamSpec.from_shapes({n: a.shape for n, a in arrays.items()})
    dtype = np.result_type(*arrays.values())
    theta = np.concatenate([arrays[n].ravel() for n in spec.names]).astype(dtype, copy=False)
    return theta, spec


def vector_to_params(theta, spec: ParamSpec) -> dict[str, np.ndarray]:
    """Roll θ back into a dict of arrays (copies) with the shapes of ``spec``.

    Parameters
    ----------
    theta : array, shape (spec.size,) (or (spec.size, 1))
    spec : ParamSpec from params_to_vector

    Returns
    -------
    dict name -> ndarray of the block's shape
    """
    _require_spec(spec)
    theta = as_float_array(theta, "theta")
    if theta.ndim == 2 and 1 in theta.shape:  # a column vector θ of the lectures
        theta = theta.reshape(-1)
    if theta.ndim != 1:
        raise GradCheckError(
            f"theta must be a vector of shape ({spec.size},) or a column ({spec.size}, 1), got "
            f"shape {theta.shape}; unroll with params_to_vector (or flatten with theta.ravel())."
        )
    if theta.size != spec.size:
        raise GradCheckError(
            f"theta has {theta.size} entries (shape {theta.shape}) but the spec expects "
            f"{spec.size} ({_describe(spec)}); did you unroll the same parameters?"
        )
    return {n: v.copy() for n, v in spec.views(theta).items()}


def grads_to_vector(grads: dict, spec: ParamSpec) -> np.ndarray:
    """Unroll gradients into dθ, in the same order as θ.

    Parameters
    ----------
    grads : dict with keys dW1, db1, ... (or W1, b1, ...); intermediate gradients such as
        dA1 or dZ2 are ignored
    spec : ParamSpec of the parameters

    Returns
    -------
    dtheta : ndarray, shape (spec.size,)
    """
    _require_spec(spec)
    if not isinstance(grads, dict):
        raise GradCheckError(
            f"grads must be a dict such as {{'dW1': ..., 'db1': ...}}, got {type(grads).__name__}."
        )
    found = {}
    for key, value in grads.items():
        if isinstance(key, str) and _INTERMEDIATE.match(key):
            continue
        name = key[1:] if isinstance(key, str) and key[:1] == "d" and key[1:] in spec.names else key
        if name not in spec.names:
            raise GradCheckError(
                f"grads has a key {key!r} that matches no parameter; expected d + one of "
                f"{', '.join(spec.names)}."
            )
        if name in found:
            raise GradCheckError(f"grads has both {name!r} and 'd{name}'; keep only one.")
        found[name] = (key, value)
    missing = [f"d{n}" for n in spec.names if n not in found]
    if missing:
        raise GradCheckError(
            f"grads is missing {', '.join(missing)}; backward must return a gradient for "
            "every parameter."
        )
    parts = []
    for name, shape in zip(spec.names, spec.shapes, strict=True):
        key, value = found[name]
        arr = as_float_array(value, key)
        if arr.shape != shape:
            hint = " (transposed?)" if arr.shape == shape[::-1] else ""
            raise GradCheckError(
                f"{key} has shape {arr.shape} but {name} has shape {shape}{hint}; a gradient "
                "must have the shape of its parameter."
            )
        parts.append(arr.ravel())
    return np.concatenate(parts)


def _require_spec(spec) -> None:
    if not isinstance(spec, ParamSpec):
        raise GradCheckError(
            f"spec must be the ParamSpec that params_to_vector returned, got "
            f"{type(spec).__name__}; e.g. theta, spec = params_to_vector(params)."
        )


def _describe(spec: ParamSpec) -> str:
    return ", ".join(f"{n} {s}" for n, s in zip(spec.names, spec.shapes, strict=True))
