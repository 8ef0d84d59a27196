"""The grading site: the only packages a grading process can import.

A folder holding the runner (autograder/runner.py), mount points for numpy, and a
``gradlib`` cut down to the functions a task allows (``Task.allowed``) and what they need,
found by reading the source: a name that is not allowed and not needed is not in the
files at all. The reference backward, the numeric gradient and autodiff packages cannot
be called where they do not exist.
"""

from __future__ import annotations

import ast
import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import numpy

GRADLIB = Path(__file__).resolve().parents[1] / "gradlib"
RUNNER = Path(__file__).with_name("runner.py")


@cache
def sites() -> Path:
    """The folder of this process's grading sites (a warm server binds it whole, read-only,
    and each grading process it forks sees its own site alone: autograder.forkserver)."""
    root = Path(tempfile.mkdtemp(prefix="gradkit-sites-"))
    atexit.register(shutil.rmtree, root, True)
    os.chmod(root, 0o755)
    return root


@cache
def site(allowed: tuple[str, ...] = ()) -> Path:
    """A grading site for ``allowed`` dotted names (e.g. "gradlib.nn.forward"), made once."""
    root = Path(tempfile.mkdtemp(prefix="gradkit-site-", dir=sites()))
    shutil.copy(RUNNER, root / "gradkit_runner.py")
    for name in ("numpy", "numpy.libs"):
        (root / name).mkdir()  # mount points: see binds()
    modules = shake(allowed)
    if modules:
        (root / "gradlib").mkdir()
        for module, source in modules.items():
            (root / "gradlib" / f"{module}.py").write_text(source)
        exports = [f"from gradlib import {', '.join(sorted(modules))}"]
        exports += [f"from gradlib.{d.split('.')[1]} import {d.split('.')[2]}" for d in allowed]
        (root / "gradlib" / "__init__.py").write_text("\n".join(exports) + "\n")
    for path in [root, *root.rglob("*")]:  # readable by the sandbox's unprivileged user
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return root


def binds(root: Path) -> tuple[str, ...]:
    """Read-only binds (SRC=DEST) that put this interpreter's numpy into the site."""
    numpy_dir = Path(numpy.__file__).parent
    pairs = [(numpy_dir, root / "numpy"), (numpy_dir.with_name("numpy.libs"), root / "numpy.libs")]
    return tuple(f"{src}={dest}" for src, dest in pairs if src.is_dir())


def shake(allowed: tuple[str, ...]) -> dict[str, str]:
    """Module name -> source holding only the ``allowed`` names of gradlib and their needs."""
    want: dict[str, set[str]] = {}
    todo = [tuple(d.split(".")[1:]) for d in allowed]
    for dotted in allowed:
        if dotted.count(".") != 2 or not dotted.startswith("gradlib."):
            raise ValueError(f"allowed names are gradlib.MODULE.NAME, not {dotted!r}")
    while todo:
        module, name = todo.pop()
        if name in want.setdefault(module, set()):
            continue
        want[module].add(name)
        defs, imports = _index(module)
        if name not in defs:
            raise ValueError(f"gradlib.{module} has no top-level {name!r}")
        for used in _names(defs[name]):
            if used in defs:
                todo.append((module, used))
            elif used in imports and imports[used][0].startswith("gradlib."):
                todo.append((imports[used][0].split(".")[1], imports[used][1]))
    return {module: _source(module, names) for module, names in want.items()}


@cache
def _tree(module: str) -> ast.Module:
    return ast.parse((GRADLIB / f"{module}.py").read_text())


def _index(module: str) -> tuple[dict[str, ast.stmt], dict[str, tuple[str, str]]]:
    """(top-level name -> its statement, imported name -> (module, name or ""))."""
    defs, imports = {}, {}
    for node in _tree(module).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            defs[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        defs[n.id] = node
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                imports[a.asname or a.name] = (node.module, a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                imports[a.asname or a.name.split(".")[0]] = (a.name, "")
    return defs, imports


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _source(module: str, names: set[str]) -> str:
    """The module's source cut to ``names``: their statements and the imports they use."""
    defs, imports = _index(module)
    keep = {id(defs[n]) for n in names}
    used = set().union(*(_names(defs[n]) for n in names))
    lines = ["from __future__ import annotations"]
    for node in _tree(module).body:
        if isinstance(node, ast.Import | ast.ImportFrom) and not (
            isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ):
            kept = [a for a in node.names if (a.asname or a.name.split(".")[0]) in used]
            if kept:
                node = type(node)(**{**node.__dict__, "names": kept})
                lines.append(ast.unparse(node))
        elif id(node) in keep:
            lines.append(ast.unparse(node))
    return "\n\n".join(lines) + "\n"
