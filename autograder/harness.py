"""The only code the grader sends into a student's kernel, and the decoding of its answer.

The grader calls the student's function on secret inputs inside the kernel and sends back
nothing but the returned values, as JSON with arrays in base64, on one stdout line that
starts with a fresh random nonce. Everything is then judged in the grader's own process
with its own numpy and gradlib, so whatever the student's code patched in its kernel
(builtins, numpy, gradlib, the grader) cannot change a verdict: at worst it garbles its
own answer.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

import numpy as np

# The harness runs in a namespace of its own whose builtins are the real ones, so a
# notebook that shadows names (abs = ..., sum = 0, isinstance = ...) cannot break it; the
# task's call runs in another fresh namespace holding only the student's names it needs.
# Arrays travel as raw float64 bytes, so no numpy comparison is involved.
_HARNESS = """
import base64 as _b64, json as _json, sys as _sys
import numpy as _np
def _dec(v):
    if isinstance(v, dict) and "__nd__" in v:
        raw = _b64.b64decode(v["data"])
        return _np.frombuffer(raw, dtype="<f8").reshape(v["__nd__"]).copy()
    if isinstance(v, dict):
        return {k: _dec(x) for k, x in v.items()}
    return v
def _enc(v, depth=0):
    if depth > 6:
        return {"__repr__": "nested too deeply"}
    if isinstance(v, dict):
        return {"__dict__": [[str(k), _enc(x, depth + 1)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return {"__seq__": [_enc(x, depth + 1) for x in v], "type": type(v).__name__}
    if isinstance(v, (set, frozenset)):
        return {"__set__": sorted(str(x) for x in v)}
    if isinstance(v, str):
        return {"__str__": v}
    if v is None:
        return None
    try:
        a = _np.asarray(v, dtype="<f8")
        return {"__nd__": list(a.shape), "data": _b64.b64encode(a.tobytes(order="C")).decode(),
                "type": type(v).__name__}
    except Exception as _e:
        return {"__repr__": repr(v)[:200], "type": type(v).__name__, "why": str(_e)[:200]}
_tripped = []
try:
    _space = {"__builtins__": __builtins__, "_tripped": _tripped,
              "_in": _dec(_json.loads(_b64.b64decode(_INPUTS).decode()))}
    _space.update({n: _user[n] for n in _NAMES if n in _user})
    exec(_CALL, _space)
    _msg = {"ok": True, "value": _enc(_space["_out"]), "tripped": _tripped}
except BaseException as _e:
    _msg = {"ok": False, "error": type(_e).__name__ + ": " + str(_e)[:500], "tripped": _tripped}
_sys.stdout.write("\\n" + _NONCE + _json.dumps(_msg) + "\\n")
_sys.stdout.flush()
"""

# What is sent: builtins.globals() called from the cell is the notebook's namespace.
_KERNEL_CODE = """import builtins as _gradkit_builtins
_gradkit_builtins.exec(_gradkit_builtins.compile({harness!r}, "<gradkit>", "exec"), {{
    "__builtins__": _gradkit_builtins, "_user": _gradkit_builtins.globals(),
    "_NAMES": {names!r}, "_CALL": {call!r}, "_INPUTS": {inputs!r}, "_NONCE": {nonce!r}}})
del _gradkit_builtins
"""


@dataclass(frozen=True)
class Answer:
    """What came back from the kernel: the value, or why there is none."""

    ok: bool
    value: object = None
    error: str = ""
    tripped: tuple[str, ...] = ()


def encode_inputs(inputs: dict) -> str:
    """JSON (base64) of a dict of arrays/dicts/floats, for the kernel to decode."""

    def enc(v):
        if isinstance(v, dict):
            return {str(k): enc(x) for k, x in v.items()}
        if isinstance(v, np.ndarray):
            a = np.ascontiguousarray(v, dtype="<f8")
            return {"__nd__": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}
        return v

    return base64.b64encode(json.dumps(enc(inputs)).encode()).decode()


def kernel_code(call: str, inputs: dict, nonce: str, names: tuple[str, ...] = ()) -> str:
    """Source to run in the kernel: ``call`` sets ``_out`` from the inputs dict ``_in``.

    ``names`` are the notebook names ``call`` uses (the student's functions); ``call`` may
    append to ``_tripped`` when it notices a forbidden function being used.
    """
    return _KERNEL_CODE.format(harness=_HARNESS, names=tuple(names), call=call,
                               inputs=encode_inputs(inputs), nonce=nonce)  # fmt: skip


def new_nonce() -> str:
    return "GRADKIT-" + secrets.token_hex(16) + ":"


def read_answer(stdout: str, nonce: str) -> Answer:
    """Find the nonce line in the kernel's stdout and decode it (never trusts its content)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(nonce):
            try:
                msg = json.loads(line[len(nonce) :])
            except ValueError:
                break
            tripped = tuple(str(t) for t in msg.get("tripped", []) if isinstance(t, str))
            if not msg.get("ok"):
                return Answer(False, error=str(msg.get("error", "unknown error")), tripped=tripped)
            try:
                return Answer(True, value=decode_value(msg.get("value")), tripped=tripped)
            except (ValueError, TypeError, KeyError) as exc:
                return Answer(False, error=f"unreadable result ({exc})", tripped=tripped)
    return Answer(
        False,
        error="the grader got no answer back from your notebook (was the kernel restarted, "
        "stdout replaced or the process killed?)",
    )


def decode_value(v):
    """Turn the kernel's JSON back into Python values and float64 arrays."""
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
