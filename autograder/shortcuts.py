"""Shortcuts in plain sight: a teaching message for the student who calls the reference.

What makes shortcuts earn nothing is that they do not exist where grading runs (see
autograder.grading_site and autograder.runner). This check reads the notebook's source so
that the honest student who calls the reference solution, autograd or numeric
differentiation from the graded function is *told* so: every function reachable from the
graded one (through the names it uses) must not reach forbidden names, whatever alias they
were imported under, nor use dynamic code (eval, exec, __import__, importlib) that would
hide them.
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
_MAGIC = re.compile(r"^\s*[%!]")


def static_shortcuts(
    sources: list[str],
    functions: tuple[str, ...],
    forbidden: tuple[str, ...] = (),
    allowed: tuple[str, ...] = (),
) -> list[str]:
    """Why the graded call is a shortcut: one sentence in a list, or [] when it is none.

    Every forbidden thing reachable from ``functions`` is said once, however many
    functions reach it and under however many names (an import and a call, two aliases):
    "L_model_backward and helper use PyTorch autograd; helper uses numeric
    differentiation (gradlib.numdiff, gradlib.numerical_gradient)".

    Parameters
    ----------
    sources : the source of every code cell, in order
    functions : names of the graded function and of the functions the grader calls
    forbidden : the task's own forbidden dotted names, on top of FORBIDDEN
    allowed : dotted names the task asks the student to use (``Task.allowed``), never flagged,
        e.g. "gradlib.netgrad.check_network" where the question is about its report
    """
    found = shortcut_uses(sources, functions, forbidden, allowed)
    return [said_once(found)] if found else []


def shortcut_uses(
    sources: list[str],
    functions: tuple[str, ...],
    forbidden: tuple[str, ...] = (),
    allowed: tuple[str, ...] = (),
) -> list[tuple[str, str]]:
    """(function, what it uses) for every forbidden thing reachable from ``functions``, each
    pair once, functions in the order they are reached (see static_shortcuts)."""
    banned = {**FORBIDDEN, **{name: f"the library's answer ({name})" for name in forbidden}}
    tree = _parse(sources)
    aliases = _aliases(tree)
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    found: dict[tuple[str, str], None] = {}  # an ordered set
    seen, todo = set(), list(reversed(functions))
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        called = []
        for node in ast.walk(defs[name]):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    module = node.module + "." + alias.name if isinstance(node, ast.ImportFrom) \
                        else alias.name  # fmt: skip
                    found.update(dict.fromkeys((name, w) for w in _flag(module, banned, allowed)))
            elif isinstance(node, ast.Name | ast.Attribute):
                dotted = _dotted(node, aliases)
                if dotted:
                    found.update(dict.fromkeys((name, w) for w in _flag(dotted, banned, allowed)))
                if isinstance(node, ast.Name):
                    if node.id in DYNAMIC:
                        found[(name, f"{node.id}(), which hides what it calls")] = None
                    called.append(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, complex):
                found[(name, "complex numbers (complex-step differentiation)")] = None
        todo.extend(reversed(called))
    return list(found)


def said_once(found: list[tuple[str, str]]) -> str:
    """One sentence for (function, what) pairs: each thing once, with every function that
    uses it; kinds named twice ("numeric differentiation (gradlib.numdiff)" and "(… .derivative)")
    merged into one with both names."""
    kinds: dict[str, list[str]] = {}  # "numeric differentiation" -> ["gradlib.numdiff", ...]
    users: dict[str, list[str]] = {}  # the same kind -> the functions that use it
    for function, what in found:
        kind, _, name = what.partition(" (")
        if name.endswith(")") and "." in name:  # "kind (dotted.name)": the name is a detail
            kinds.setdefault(kind, [])
            if name[:-1] not in kinds[kind]:
                kinds[kind].append(name[:-1])
        else:
            kind = what
            kinds.setdefault(kind, [])
        if function not in users.setdefault(kind, []):
            users[kind].append(function)
    clauses: dict[tuple[str, ...], list[str]] = {}  # functions -> what they use
    for kind, names in kinds.items():
        what = f"{kind} ({', '.join(names)})" if names else kind
        clauses.setdefault(tuple(users[kind]), []).append(what)
    return "; ".join(
        f"{_and(list(who))} {'use' if len(who) > 1 else 'uses'} {_and(whats)}"
        for who, whats in clauses.items()
    )


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _flag(dotted: str, banned: dict[str, str], allowed: tuple[str, ...]) -> list[str]:
    """What ``dotted`` uses of ``banned`` (none when ``allowed`` holds it or leads to it)."""
    if any(
        dotted == a or dotted.startswith(a + ".") or a.startswith(dotted + ".") for a in allowed
    ):
        return []  # the allowed name itself, or the module path that leads to it
    return [
        what for name, what in banned.items() if dotted == name or dotted.startswith(name + ".")
    ]


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
