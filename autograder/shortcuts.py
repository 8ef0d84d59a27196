"""Shortcuts that earn nothing: the reference solution, autograd, numeric differentiation.

Two independent lines of evidence, both judged in the grader's process:

* static: the notebook's source is parsed; every function reachable from the graded one
  (through the names it uses) must not reach forbidden names, whatever alias they were
  imported under, nor use dynamic code (eval, exec, __import__, importlib) that would hide
  them;
* in the kernel (``tripwire_code``): the live objects the graded function reaches through
  notebook names are compared with the forbidden ones, and while the call runs those are
  wrapped with tripwires (``TRIPWIRES`` plus the task's own ``forbidden``).
"""

from __future__ import annotations

import ast
import re

# Qualified names that do the student's work for them.
FORBIDDEN = {
    "gradlib.nn.backward": "the reference backward (gradlib.nn.backward)",
    "gradlib.nn.network_gradients": "the reference gradient (gradlib.nn.network_gradients)",
    "gradlib.layers": "the reference layers (gradlib.layers)",
    "gradlib.netgrad": "the reference numeric gradient (gradlib.netgrad)",
    "gradlib.numdiff": "numeric differentiation (gradlib.numdiff)",
    "gradlib.numerical_gradient": "numeric differentiation (gradlib.numerical_gradient)",
    "gradlib.numerical_vjp": "numeric differentiation (gradlib.numerical_vjp)",
    "gradlib.derivative": "numeric differentiation (gradlib.derivative)",
    "torch": "PyTorch autograd",
    "jax": "JAX autodiff",
    "autograd": "the autograd package",
    "tensorflow": "TensorFlow autodiff",
    "scipy.optimize.approx_fprime": "numeric differentiation (scipy approx_fprime)",
    "scipy.differentiate": "numeric differentiation (scipy.differentiate)",
    "numdifftools": "numeric differentiation (numdifftools)",
}
DYNAMIC = {"eval", "exec", "compile", "__import__", "importlib", "globals", "vars"}

# What the kernel watches for every task while the graded function runs (dotted names of
# modules, functions or Class.method); a task adds its own (Task.forbidden).
TRIPWIRES = (
    "gradlib.nn.backward",
    "gradlib.nn.network_gradients",
    "gradlib.netgrad",
    "gradlib.numdiff",
    "torch.autograd.grad",
    "torch.autograd.backward",
    "jax.grad",
    "jax.vjp",
    "jax.value_and_grad",
)

_MAGIC = re.compile(r"^\s*[%!]")

# Kernel code (run in the harness's call namespace, real builtins): find the forbidden
# objects, flag those the graded function reaches through notebook names (any alias, any
# helper), and wrap them — wherever gradlib/autograder re-export them — while the call runs.
# Only the outermost forbidden call is recorded (a reference calls its own helpers).
_GUARD = """import sys as _sys, types as _types
import gradlib as _gradlib  # the student may not have imported every module we watch
_fn = globals().get(__FUNCTION__)
_targets, _bad, _modules = [], {}, {}
def _raw(v):
    return v.__func__ if isinstance(v, (classmethod, staticmethod)) else v
for _name in __FORBIDDEN__:
    _parts = _name.split(".")
    _k = next((k for k in range(len(_parts), 0, -1) if ".".join(_parts[:k]) in _sys.modules), 0)
    if not _k:
        continue
    _owner, _rest = _sys.modules[".".join(_parts[:_k])], _parts[_k:]
    if not _rest:  # a whole module: its public functions and its classes' methods
        _modules[id(_owner)] = _name
        for _a, _v in list(vars(_owner).items()):
            if _a.startswith("_") or getattr(_v, "__module__", None) != _owner.__name__:
                continue
            if isinstance(_v, type):
                for _m, _mv in list(vars(_v).items()):
                    if callable(_raw(_mv)) and (_m == "__init__" or not _m.startswith("_")):
                        _targets.append((_v, _m, _mv, _name + "." + _a))
            elif callable(_v):
                _targets.append((_owner, _a, _v, _name + "." + _a))
        continue
    try:
        for _p in _rest[:-1]:
            _owner = getattr(_owner, _p)
        _v = vars(_owner)[_rest[-1]] if isinstance(_owner, type) else getattr(_owner, _rest[-1])
        _targets.append((_owner, _rest[-1], _v, _name))
    except (AttributeError, KeyError):
        continue
for _owner, _a, _v, _label in list(_targets):
    _bad[id(_raw(_v))] = _label
    if isinstance(_owner, type):
        continue
    for _mn, _mod in list(_sys.modules.items()):  # re-exports, e.g. gradlib.numerical_gradient
        if _mn.split(".")[0] in ("gradlib", "autograder") and _mod is not _owner \\
                and getattr(_mod, _a, None) is _v:
            _targets.append((_mod, _a, _v, _label))
def _flag(_v, _used):
    if id(_raw(_v)) in _bad:
        return _bad[id(_raw(_v))]
    if id(_v) in _modules:
        return _modules[id(_v)]
    if isinstance(_v, _types.ModuleType):
        for _n in _used:
            _w = getattr(_v, _n, None)
            if _w is not None and (id(_raw(_w)) in _bad or id(_w) in _modules):
                return _bad.get(id(_raw(_w))) or _modules[id(_w)]
    return None
def _scan(_f, _seen):
    if not isinstance(_f, _types.FunctionType) or id(_f) in _seen:
        return
    _seen.add(id(_f))
    _codes, _used = [_f.__code__], set()
    while _codes:
        _c = _codes.pop()
        _used |= set(_c.co_names)
        _codes += [k for k in _c.co_consts if isinstance(k, _types.CodeType)]
    _values = [_f.__globals__.get(_n) for _n in _used]
    _values += [_c.cell_contents for _c in (_f.__closure__ or ()) if _c.cell_contents is not None]
    for _v in _values:
        _label = _flag(_v, _used) if _v is not None else None
        if _label and _label not in _tripped:
            _tripped.append(_label)
        elif isinstance(_v, _types.FunctionType) and _v.__module__ == _fn.__module__:
            _scan(_v, _seen)
if _fn is not None:
    if id(_raw(_fn)) in _bad:
        _tripped.append(_bad[id(_raw(_fn))])
    _scan(_fn, set())
_depth = [0]
def _wire(_v, _label):
    _f = _raw(_v)
    def _wired(*a, **k):
        if not _depth[0] and _label not in _tripped:
            _tripped.append(_label)
        _depth[0] += 1
        try:
            return _f(*a, **k)
        finally:
            _depth[0] -= 1
    return type(_v)(_wired) if isinstance(_v, (classmethod, staticmethod)) else _wired
for _owner, _a, _v, _label in _targets:
    setattr(_owner, _a, _wire(_v, _label))
try:
__CALL__
finally:
    for _owner, _a, _v, _label in reversed(_targets):
        setattr(_owner, _a, _v)
"""


def tripwire_code(call: str, function: str = "", forbidden: tuple[str, ...] = ()) -> str:
    """Wrap the kernel ``call`` so that using a forbidden function is recorded in ``_tripped``.

    ``function`` is the graded function's name; ``forbidden`` adds dotted names (modules,
    functions, Class.method) to TRIPWIRES for this task.
    """
    return (
        _GUARD.replace("__FUNCTION__", repr(function))
        .replace("__FORBIDDEN__", repr((*TRIPWIRES, *forbidden)))
        .replace("__CALL__", _indent(call))
    )


def static_shortcuts(
    sources: list[str], functions: tuple[str, ...], forbidden: tuple[str, ...] = ()
) -> list[str]:
    """Reasons, one per forbidden thing reachable from ``functions`` in the notebook code.

    Parameters
    ----------
    sources : the source of every code cell, in order
    functions : names of the graded function and of the functions the grader calls
    forbidden : the task's own forbidden dotted names, on top of FORBIDDEN
    """
    banned = {**FORBIDDEN, **{name: f"the library's answer ({name})" for name in forbidden}}
    tree = _parse(sources)
    aliases = _aliases(tree)
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    reasons, seen, todo = [], set(), list(functions)
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        for node in ast.walk(defs[name]):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    module = node.module + "." + alias.name if isinstance(node, ast.ImportFrom) \
                        else alias.name  # fmt: skip
                    _flag(module, name, reasons, banned)
            elif isinstance(node, ast.Name | ast.Attribute):
                dotted = _dotted(node, aliases)
                if dotted:
                    _flag(dotted, name, reasons, banned)
                if isinstance(node, ast.Name):
                    if node.id in DYNAMIC:
                        reasons.append(f"{name} uses {node.id}(), which hides what it calls")
                    todo.append(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, complex):
                reasons.append(f"{name} uses complex numbers (complex-step differentiation)")
    return sorted(set(reasons))


def _flag(dotted: str, where: str, reasons: list[str], banned: dict[str, str]) -> None:
    for name, what in banned.items():
        if dotted == name or dotted.startswith(name + "."):
            reasons.append(f"{where} uses {what}")


def _parse(sources: list[str]) -> ast.Module:
    body = []
    for src in sources:
        text = "\n".join("" if _MAGIC.match(line) else line for line in src.splitlines())
        try:
            body.extend(ast.parse(text).body)
        except SyntaxError:
            continue  # a cell that does not parse defines nothing the grader calls
    return ast.Module(body=body, type_ignores=[])


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> qualified name, from every import in the notebook."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(target, ast.Name) and isinstance(value, ast.Name | ast.Attribute):
                dotted = _dotted(value, aliases)
                if dotted:
                    aliases[target.id] = dotted
    return aliases


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """Qualified name of ``a.b.c`` with ``a`` resolved through imports, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.strip("\n").splitlines())
