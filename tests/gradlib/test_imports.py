"""Do gradlib's modules stack in layers, each importing only the public names of those below?

The imports are read from the source with ``ast`` (those inside functions too: a lazy import
hides a cycle, it does not remove it), so a cycle fails here and not as an ImportError in
whichever order a notebook happens to import things.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gradlib

PACKAGE = Path(gradlib.__file__).resolve().parent


def _sources() -> dict[str, str]:
    """Dotted module name -> source, for every module of the gradlib package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path.read_text(encoding="utf-8")
    return found


def _imports(name: str, source: str, modules: set[str]):
    """Yield (imported module, imported name or None, line) for each gradlib import.

    ``from gradlib.x import y`` yields ("gradlib.x", "y"), and ("gradlib.x.y", None) too
    when y is a module; ``import gradlib.x`` yields ("gradlib.x", None).
    """
    is_package = name == "gradlib" or any(m.startswith(name + ".") for m in modules)
    here = name if is_package else name.rpartition(".")[0]  # what "." means in name
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x, from .x import y
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target not in modules:
                continue
            for alias in node.names:
                yield target, alias.name, node.lineno
                if f"{target}.{alias.name}" in modules:
                    yield f"{target}.{alias.name}", None, node.lineno


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the gradlib modules it imports (itself excluded)."""
    modules = set(sources)
    return {
        name: {target for target, _, _ in _imports(name, src, modules) if target != name}
        for name, src in sources.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None when it is acyclic."""
    state: dict[str, str] = {}  # "open" while on the path, "done" once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def private_imports(sources: dict[str, str]) -> list[str]:
    """ "module:line imports other._name" for each private name taken from another module.

    Both ``from gradlib.x import _y`` and ``gradlib.x._y`` / ``x._y`` (x bound to a gradlib
    module by an import) count; dunder names such as ``__version__`` do not.
    """
    modules = set(sources)
    found = []
    for name, src in sources.items():
        bound = {}  # local name -> gradlib module it refers to
        for target, imported, line in _imports(name, src, modules):
            if imported is not None and _private(imported) and target != name:
                found.append(f"{name}:{line} imports {target}.{imported}")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in modules and a.asname:
                        bound[a.asname] = a.name
                    elif a.name in modules:  # `import gradlib.x` binds the name gradlib
                        bound[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if f"{node.module}.{a.name}" in modules:
                        bound[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(ast.parse(src)):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            owner = _dotted(node.value, bound)
            if owner in modules and owner != name:
                found.append(f"{name}:{node.lineno} uses {owner}.{node.attr}")
    return sorted(found)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _dotted(node: ast.AST, bound: dict[str, str]) -> str | None:
    """ "gradlib.numdiff" for ``numdiff`` or ``gradlib.numdiff`` when bound by an import."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    return ".".join([bound[node.id], *reversed(parts)])


# --- gradlib itself ---------------------------------------------------------------------


def test_the_import_graph_of_gradlib_has_no_cycle():
    graph = import_graph(_sources())
    assert "gradlib.numdiff" in graph["gradlib.gradcheck"]  # the graph was read at all
    cycle = find_cycle(graph)
    assert cycle is None, "gradlib modules import each other in a circle: " + " → ".join(cycle)


def test_no_gradlib_module_takes_a_private_name_from_another():
    assert private_imports(_sources()) == []


def test_gradlib_imports_gradlib_only_at_the_top_of_a_module():
    """The grading site (autograder.grading_site.shake) copies a function with the modules
    its module imports at the top: a gradlib import inside a function would be missing there
    and fail only when that branch runs (as kinks and fastcheck once did in check_gradients).
    """
    modules = set(_sources())
    nested = []
    for name, src in _sources().items():
        tree = ast.parse(src)
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top:
                if any(
                    target in modules for target, _, _ in _imports(name, ast.unparse(node), modules)
                ):
                    nested.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert nested == []


def test_the_check_sits_on_top_of_its_helpers():
    """gradcheck orchestrates; the helpers and the verdict scale never reach back up."""
    graph = import_graph(_sources())
    below = {"gradlib.verdicts", "gradlib.diagnose", "gradlib.fastcheck", "gradlib.kinks"}
    assert below <= graph["gradlib.gradcheck"]
    for helper in below:
        assert "gradlib.gradcheck" not in _reachable(graph, helper), helper


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_moved_names_still_import_from_where_they_did():
    from gradlib import gradcheck, report, verdicts

    assert gradcheck.relative_difference is gradlib.relative_difference
    assert gradcheck.relative_difference is verdicts.relative_difference
    assert gradcheck.thresholds is gradlib.thresholds is verdicts.thresholds
    assert gradcheck.NOISE_FACTOR == verdicts.NOISE_FACTOR
    assert report.Thresholds is verdicts.Thresholds
    assert report.VERDICTS == verdicts.VERDICTS == ("correct", "suspicious", "wrong")
    assert report.UNCHECKED == verdicts.UNCHECKED
    assert gradlib.thresholds().verdict(gradlib.relative_difference([1.0], [1.0])) == "correct"


# --- the checks catch what they are meant to catch ---------------------------------------


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),  # a diamond is no cycle
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_find_cycle_on_small_graphs(graph, cycle):
    assert find_cycle(graph) == cycle


def test_a_lazy_import_inside_a_function_still_closes_a_cycle():
    sources = {
        "gradlib": "",
        "gradlib.a": "from gradlib.b import g\n",
        "gradlib.b": "def g():\n    from gradlib.a import f  # lazy\n    return f\n",
    }
    assert find_cycle(import_graph(sources)) == ["gradlib.a", "gradlib.b", "gradlib.a"]


def test_relative_imports_and_the_package_count_as_edges():
    sources = {
        "gradlib": "from gradlib.a import f\n",
        "gradlib.a": "from . import b\n",
        "gradlib.b": "from gradlib import f\n",
    }
    graph = import_graph(sources)
    assert graph["gradlib.a"] == {"gradlib", "gradlib.b"}
    assert find_cycle(graph) is not None


@pytest.mark.parametrize(
    "source",
    [
        "from gradlib.a import _helper\n",
        "from gradlib.a import public, _helper as helper\n",
        "from .a import _helper\n",
        "from gradlib import a\nx = a._helper\n",
        "import gradlib.a\nx = gradlib.a._helper\n",
        "import gradlib.a as a\nx = a._helper()\n",
        "def f():\n    from gradlib.a import _helper\n",
    ],
)
def test_a_private_name_taken_from_another_module_is_caught(source):
    sources = {"gradlib": "", "gradlib.a": "_helper = 1\npublic = 2\n", "gradlib.b": source}
    assert [f.split(":")[0] for f in private_imports(sources)] == ["gradlib.b"]


def test_public_names_dunders_and_own_privates_pass():
    sources = {
        "gradlib": "",
        "gradlib.a": "_helper = 1\npublic = 2\nx = _helper\n",
        "gradlib.b": "from gradlib.a import public as _public\nfrom gradlib import a\n"
        "y = a.__doc__, a.public, _public\nclass C:\n    def m(self):\n        return self._x\n",
    }
    assert private_imports(sources) == []
