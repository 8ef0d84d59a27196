"""Shortcuts that earn nothing: the reference solution, autograd, numeric differentiation.

Two independent lines of evidence, both judged in the grader's process:

* static: the notebook's source is parsed; every function reachable from the graded one
  (through the names it uses) must not reach forbidden names, whatever alias they were
  imported under, nor use dynamic code (eval, exec, __import__, importlib) that would hide
  them;
* dynamic: while the graded call runs, the kernel wraps the forbidden functions with
  tripwires (see ``TRIPWIRES``) and reports which ones were called.
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

# (module, attribute) pairs the kernel wraps while the graded function runs.
TRIPWIRES = (
    ("gradlib.nn", "backward"),
    ("gradlib.nn", "network_gradients"),
    ("gradlib.netgrad", "numerical_network_gradient"),
    ("gradlib.numdiff", "numerical_gradient"),
    ("gradlib.numdiff", "_gradient"),
    ("gradlib", "numerical_gradient"),
    ("torch.autograd", "grad"),
    ("torch.autograd", "backward"),
    ("jax", "grad"),
    ("jax", "vjp"),
    ("jax", "value_and_grad"),
)

_MAGIC = re.compile(r"^\s*[%!]")


def tripwire_code(call: str) -> str:
    """Wrap the kernel ``call`` so that calls of TRIPWIRES are recorded in ``_tripped``."""
    return f"""import sys as _sys
_saved = []
for _mod, _name in {TRIPWIRES!r}:
    _m = _sys.modules.get(_mod)
    _f = getattr(_m, _name, None) if _m is not None else None
    if callable(_f):
        def _wire(*a, _f=_f, _label=_mod + "." + _name, **k):
            _tripped.append(_label)
            return _f(*a, **k)
        _saved.append((_m, _name, _f))
        setattr(_m, _name, _wire)
try:
{_indent(call)}
finally:
    for _m, _name, _f in _saved:
        setattr(_m, _name, _f)
"""


def static_shortcuts(sources: list[str], functions: tuple[str, ...]) -> list[str]:
    """Reasons, one per forbidden thing reachable from ``functions`` in the notebook code.

    Parameters
    ----------
    sources : the source of every code cell, in order
    functions : names of the graded function and of the functions the grader calls
    """
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
                    _flag(module, name, reasons)
            elif isinstance(node, ast.Name | ast.Attribute):
                dotted = _dotted(node, aliases)
                if dotted:
                    _flag(dotted, name, reasons)
                if isinstance(node, ast.Name):
                    if node.id in DYNAMIC:
                        reasons.append(f"{name} uses {node.id}(), which hides what it calls")
                    todo.append(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, complex):
                reasons.append(f"{name} uses complex numbers (complex-step differentiation)")
    return sorted(set(reasons))


def _flag(dotted: str, where: str, reasons: list[str]) -> None:
    for name, what in FORBIDDEN.items():
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
