"""The grading process's program: define the student's functions, then answer the grader's calls.

It runs inside the sandbox (profile "calls") as ``python -I -S runner.py SITE``, in an
interpreter where only the standard library, numpy and what the grader put in SITE exist:
no reference solution, no autodiff, no numeric differentiation to call. It starts before
any student code and keeps its channel to the grader (stdin, stdout) on descriptors of its
own; 0, 1 and 2 point at /dev/null, so nothing the student prints reaches the grader.

Student code that runs here can still rewrite anything in this interpreter, this program
included; the grader therefore reads from the channel nothing but values, and treats what
comes back as the student's answer and nothing more.

Messages are JSON lines. In: ``{"cells": [source, ...], "skip": [index, ...]}`` once,
then per call ``{"id": str, "call": source, "names": [...], "inputs": tree, "bytes": n}``
followed by n raw bytes, the inputs' arrays ("<f8"), which the tree places by offset
(autograder.harness.encode_inputs). Out: ``{"cell": i}`` before each cell,
``{"ready": true}`` after the last one, and ``{"id": str, "ok": bool, "value" | "error":
...}`` per call.

Only the standard library and numpy are imported here: the grader copies this file into
the grading site, where no other package exists.
"""

from __future__ import annotations

import ast
import base64
import builtins
import json
import os
import re
import signal
import sys
import threading

_MAGIC = re.compile(r"^\s*[%!]")


def decode(v, data: bytes):
    """Inputs from the grader: dicts, floats and float64 arrays, each an array's shape and
    where its entries ("<f8") start in ``data``, the bytes that followed the request."""
    import numpy as np

    if isinstance(v, dict) and "__nd__" in v:
        shape = v["__nd__"]
        count = 1
        for n in shape:
            count *= n
        array = np.frombuffer(data, dtype="<f8", count=count, offset=v["at"])
        return array.reshape(shape).copy()
    if isinstance(v, dict):
        return {k: decode(x, data) for k, x in v.items()}
    return v


def encode(v, depth: int = 0):
    """A returned value as JSON: numbers become float64 arrays, the rest a tagged dict."""
    import numpy as np

    if depth > 6:
        return {"__repr__": "nested too deeply"}
    if isinstance(v, dict):
        return {"__dict__": [[str(k), encode(x, depth + 1)] for k, x in v.items()]}
    if isinstance(v, list | tuple):
        return {"__seq__": [encode(x, depth + 1) for x in v], "type": type(v).__name__}
    if isinstance(v, set | frozenset):
        return {"__set__": sorted(str(x) for x in v)}
    if isinstance(v, str):
        return {"__str__": v}
    if v is None:
        return None
    try:
        raw = np.asarray(v)
        if np.iscomplexobj(raw):
            raise TypeError("complex numbers: a gradient is real")
        a = np.asarray(raw, dtype="<f8")
        return {"__nd__": list(a.shape), "data": base64.b64encode(a.tobytes(order="C")).decode(),
                "type": type(v).__name__}  # fmt: skip
    except Exception as exc:
        return {"__repr__": repr(v)[:200], "type": type(v).__name__, "why": str(exc)[:200]}


def call(source: str, names: list[str], space: dict, inputs, watch=None) -> dict:
    """Run ``source`` (sets ``_out`` from ``_in``) with the student's ``names``; its message.

    ``watch`` is (seconds, report): if the call still runs after that long, report(name) is
    told which function of the notebook it is running (a loop in a helper the graded
    function calls is then named as such).
    """
    local = {"__builtins__": builtins, "_in": inputs}
    local.update({n: space[n] for n in names if n in space})
    timer = None
    if watch is not None:
        target = threading.get_ident()
        timer = threading.Timer(watch[0], lambda: watch[1](running(target)))
        timer.daemon = True
        timer.start()
    try:
        exec(source, local)
        return {"ok": True, "value": encode(local["_out"])}
    except BaseException as exc:  # the student's error is the answer
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
    finally:
        if timer is not None:
            timer.cancel()


def running(thread: int) -> str:
    """The innermost function of the notebook's cells that ``thread`` is in ("" if none)."""
    frame = sys._current_frames().get(thread)
    while frame is not None:
        if frame.f_code.co_filename == "<cell>" and frame.f_code.co_name != "<module>":
            return frame.f_code.co_name
        frame = frame.f_back
    return ""


def statements(source: str) -> list[ast.Module]:
    """A cell's top-level statements, each compilable alone (magics and ! lines dropped).

    An import of several names becomes one import per name, so that a name that does not
    exist here (a library function) does not take the others with it.
    """
    text = "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    nodes = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom) and len(node.names) > 1:
            nodes += [ast.copy_location(type(node)(**{**node.__dict__, "names": [a]}), node)
                      for a in node.names]  # fmt: skip
        else:
            nodes.append(node)
    return [ast.Module(body=[node], type_ignores=[]) for node in nodes]


def run_cell(source: str, space: dict) -> None:
    """Run one cell statement by statement: a failing import does not hide the defs after it."""
    for module in statements(source):
        try:
            exec(compile(module, "<cell>", "exec"), space)
        except BaseException:  # noqa: S110 - the student's errors are not the grader's
            pass


def become_subreaper() -> None:
    """Orphans of student code become this process's children (Linux prctl), so that
    reap() finds every process the student started, however it was detached."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def descendants(pids: list[int]) -> list[int]:
    """Every live process below ``pids``, from /proc (children, theirs, and so on)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read().decode(errors="replace")
            except OSError:
                continue  # gone meanwhile
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reap(owner: int) -> None:
    """Kill and collect every process student code started (a fork bomb keeps forking while
    it is killed: sweep until none is left)."""
    for _ in range(200):
        found = descendants([owner])
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not found:
            return


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    become_subreaper()
    channel_in = os.fdopen(os.dup(0), "rb")
    channel_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)

    owner = os.getpid()

    def send(message: dict) -> None:
        if os.getpid() != owner:  # a process the student forked: it does not speak for us
            os._exit(0)
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(channel_out, data) :]

    import numpy  # noqa: F401 - imported before student code, as in a notebook

    start = json.loads(channel_in.readline())
    space = {"__name__": "__main__", "__builtins__": builtins}
    for index, source in enumerate(start["cells"]):
        send({"cell": index})
        if index not in start.get("skip", []):
            run_cell(source, space)
            if os.getpid() != owner:  # a process the student forked: it does not go on
                os._exit(0)
            reap(owner)  # nothing the cell started outlives it
    send({"ready": True})
    for line in channel_in:
        if os.getpid() != owner:
            os._exit(0)
        request = json.loads(line)
        inputs = decode(request["inputs"], channel_in.read(request["bytes"]))
        ident = request["id"]
        seconds = request.get("watch")
        watch = None
        if isinstance(seconds, int | float) and seconds > 0:
            watch = (seconds, lambda where, ident=ident: send({"watch": ident, "where": where}))
        answer = call(request["call"], request["names"], space, inputs, watch)
        if os.getpid() != owner:
            os._exit(0)
        reap(owner)
        send({"id": request["id"], **answer})


if __name__ == "__main__":
    main()
