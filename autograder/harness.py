"""What travels between the grader and student code: inputs in, returned values out.

Inputs go as JSON with float64 arrays as raw bytes after it; a returned value comes back as
JSON with float64 arrays in base64 (encoded by autograder.runner), and only as numbers,
strings and containers of them: no object of the student's ever reaches the grader's
process, so nothing the student's code patched can change a verdict.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import numpy as np

from autograder.runner import call as run_call


@dataclass(frozen=True)
class Answer:
    """What came back from the student's function: the value, or why there is none."""

    ok: bool
    value: object = None
    error: str = ""


def encode_inputs(inputs: dict) -> tuple[dict, bytes]:
    """A dict of arrays/dicts/floats for autograder.runner.decode: the tree as JSON holds
    each array's shape and where its entries start in the bytes ("<f8"), which go raw
    (a large instance's 2 MB of entries once took 20 ms to wrap in base64 and JSON, and
    as long to unwrap)."""
    parts, size = [], 0

    def enc(v):
        nonlocal size
        if isinstance(v, dict):
            return {str(k): enc(x) for k, x in v.items()}
        if isinstance(v, np.ndarray):
            a = np.asarray(v, dtype="<f8", order="C")  # a 0-d array stays one
            parts.append(a.tobytes())
            size += a.nbytes
            return {"__nd__": list(a.shape), "at": size - a.nbytes}
        return v

    return enc(inputs), b"".join(parts)


def call_here(source: str, names: tuple[str, ...], namespace: dict, inputs: dict) -> Answer:
    """Run a task's call in this interpreter (self-checks), its value passed as the grader's is."""
    message = json.loads(json.dumps(run_call(source, list(names), namespace, inputs)))
    if not message.get("ok"):
        return Answer(False, error=str(message.get("error", "unknown error")))
    try:
        return Answer(True, value=decode_value(message.get("value")))
    except (ValueError, TypeError, KeyError) as exc:
        return Answer(False, error=f"unreadable result ({exc})")


def decode_value(v):
    """Turn the encoded value back into Python values and float64 arrays."""
    if v is None or isinstance(v, bool | int | float):
        return v
    if not isinstance(v, dict):
        raise TypeError(f"unexpected {type(v).__name__}")
    if "__nd__" in v:
        shape = tuple(int(n) for n in v["__nd__"])
        raw = base64.b64decode(v["data"])
        if len(raw) != 8 * int(np.prod(shape, dtype=np.int64)):
            raise ValueError("array data does not match its shape")
        return np.frombuffer(raw, dtype="<f8").reshape(shape).copy()
    if "__dict__" in v:
        return {str(k): decode_value(x) for k, x in v["__dict__"]}
    if "__seq__" in v:
        items = [decode_value(x) for x in v["__seq__"]]
        return tuple(items) if v.get("type") == "tuple" else items
    if "__set__" in v:
        return {str(x) for x in v["__set__"]}
    if "__str__" in v:
        return str(v["__str__"])
    if "__repr__" in v:
        return Unreadable(str(v.get("type", "?")), str(v["__repr__"]), str(v.get("why", "")))
    raise ValueError("unknown encoding")


@dataclass(frozen=True)
class Unreadable:
    """A returned object that could not be turned into numbers."""

    type: str
    repr: str
    why: str
