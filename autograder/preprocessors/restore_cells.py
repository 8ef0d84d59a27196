"""RestoreCells: undo what a student did to the kit's cells, before nbgrader checks them.

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
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor


class RestoreCells(NbGraderPreprocessor):
    """Reset flags of known cells from the gradebook; stub deleted answer cells."""

    def preprocess(self, nb, resources):
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
        present = set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            name = meta.get("grade_id") if isinstance(meta, dict) else None
            if isinstance(name, str) and name in known:
                locked, cell_type, checksum = known[name]
                meta.clear()
                meta.update(grade=name in points, grade_id=name, locked=locked,
                            solution=name in solutions, task=name in tasks, schema_version=3,
                            cell_type=cell_type, checksum=checksum)  # fmt: skip
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
        for name in order:
            if name in points and name not in present:
                at = _after(nb, order[: order.index(name)])
                nb.cells.insert(at, _test_cell(name, texts[name], known[name], points[name],
                                               name in solutions))  # fmt: skip
                present.add(name)
        return nb, resources


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
