"""RestoreCells: undo what a student did to the kit's cells, before nbgrader checks them,
and keep a record of it for the TA.

nbgrader's OverwriteCells restores a locked cell's source and points, but refuses the whole
notebook ("Inconsistent checksums") when a student unticks a test cell's ``grade`` or
``locked`` flag, and its ``add_missing_cells`` (which puts deleted test cells back) fails
when the answer cell before them was deleted too. Running before it, this

* sets every cell whose grade_id the gradebook knows back to the source notebook's
  metadata (flags, points, type; nothing else, so no stray key fails CheckCellMetadata);
* appends an empty answer cell for each answer cell that was deleted, so that the test
  cells OverwriteCells puts back have their place (and the missing answer earns 0);
* puts back each deleted test cell itself, after the nearest cell before it in the source
  notebook that the submission still has: OverwriteCells would look that neighbour up
  among the answer and test cells only, and fail the whole notebook (KeyError) when it is
  a locked cell of the kit's (02's compare_theta before test_params_to_theta).

Neither nbgrader nor the student is told: the TA is. Every change is listed in the
notebook's metadata, ``nb.metadata["gradkit"]["restored"]`` (which the autograded notebook
keeps), one entry per change: ``{"cell": grade_id, "kind": "tampered" | "deleted",
"text": "test_backward points 100 → 6"}``. A locked cell whose source differs from the
released one counts as tampered too (OverwriteCells puts the source back). Any "gradkit"
metadata the submission brought along, on the notebook or a cell, is dropped first: only
the grader writes it.
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

from autograder.preprocessors.dedupe_cells import released

FLAGS = ("grade", "locked", "solution", "task")


class RestoreCells(NbGraderPreprocessor):
    """Reset flags of known cells from the gradebook; stub deleted answer cells; say what
    was restored in ``nb.metadata["gradkit"]["restored"]``."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:  # the grader's own record starts empty
            cell.metadata.pop("gradkit", None)
        nb.metadata["gradkit"] = {"restored": []}
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                source = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources
            points = {c.name: float(c.max_score) for c in source.grade_cells}
            solutions = [c.name for c in source.solution_cells]
            tasks = {c.name for c in source.task_cells}
            known = {c.name: (c.locked, c.cell_type, c.checksum) for c in source.source_cells}
            order = [c.name for c in source.source_cells]
            texts = {c.name: c.source for c in source.source_cells}
        present, restored = set(), []
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            name = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(name, str) and name in known:
                locked, cell_type, checksum = known[name]
                wanted = {"grade": name in points, "locked": locked,
                          "solution": name in solutions, "task": name in tasks}  # fmt: skip
                restored += _changes(name, meta, cell, wanted, points.get(name), cell_type,
                                     self._sources(texts[name]) if locked else None)  # fmt: skip
                meta.clear()
                meta.update(grade_id=name, schema_version=3, cell_type=cell_type,
                            checksum=checksum, **wanted)  # fmt: skip
                if name in points:
                    meta["points"] = points[name]
                present.add(name)
        for name in solutions:
            if name not in present:
                stub = new_code_cell("# this answer cell was deleted from the submission")
                stub.metadata["nbgrader"] = {"grade": False, "grade_id": name, "locked": False,
                                             "schema_version": 3, "solution": True,
                                             "task": False}  # fmt: skip
                nb.cells.append(stub)
                present.add(name)
                restored.append(_entry(name, "deleted", f"{name}: answer cell deleted (an "
                                                        "empty one stands in)"))  # fmt: skip
        for name in order:
            if name in points and name not in present:
                at = _after(nb, order[: order.index(name)])
                nb.cells.insert(at, _test_cell(name, texts[name], known[name], points[name],
                                               name in solutions))  # fmt: skip
                present.add(name)
                restored.append(_entry(name, "deleted", f"{name}: test cell deleted (put back)"))
        nb.metadata["gradkit"] = {"restored": restored}  # a copy is stored: set it last
        return nb, resources

    def _sources(self, text: str | None) -> set[str]:
        """The instructor's source of a locked cell and the released one, stripped."""
        text = text or ""
        hidden = ClearHiddenTests(config=self.config)  # its delimiters, as the course sets them
        shown = released(text, hidden.begin_test_delimeter, hidden.end_test_delimeter)
        return {text.strip(), shown.strip()}


def _changes(name: str, meta: dict, cell, wanted: dict, points: float | None, cell_type: str,
             sources: set[str] | None) -> list[dict]:  # fmt: skip
    """What the submission changed in a known cell: its points, flags, type, locked source."""
    found = []
    if points is not None and _number(meta.get("points")) != points:
        found.append(f"points {_show(meta.get('points'))} → {points:g}")
    for flag in FLAGS:
        if bool(meta.get(flag, False)) != wanted[flag]:
            found.append(f"'{flag}' {'ticked' if meta.get(flag) else 'unticked'}")
    if cell.cell_type != cell_type:
        found.append(f"cell type {cell.cell_type} → {cell_type}")
    if sources is not None and cell.cell_type == cell_type and cell.source.strip() not in sources:
        found.append("locked cell edited (its source was put back)")
    return [_entry(name, "tampered", f"{name} {change}") for change in found]


def _entry(name: str, kind: str, text: str) -> dict:
    return {"cell": name, "kind": kind, "text": text}


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _show(value) -> str:
    """A submitted points value as the TA should read it (student data: kept short)."""
    number = _number(value)
    return f"{number:g}" if number is not None else repr(value)[:20]


def _after(nb, earlier: list[str]) -> int:
    """Index just after the submission's cell of the latest of ``earlier``; 0 if none."""
    where = {}
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            where[meta["grade_id"]] = index
    for name in reversed(earlier):
        if name in where:
            return where[name] + 1
    return 0


def _test_cell(name: str, text: str, known: tuple, points: float, solution: bool):
    """A deleted test cell, as the source notebook has it (OverwriteCells checks it)."""
    locked, cell_type, checksum = known
    cell = new_code_cell(text) if cell_type == "code" else new_markdown_cell(text)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": name, "locked": locked,
                                 "solution": solution, "task": False, "schema_version": 3,
                                 "points": points, "cell_type": cell_type,
                                 "checksum": checksum}  # fmt: skip
    return cell
