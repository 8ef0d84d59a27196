"""RestoreCells: undo what a student did to the kit's cells, before nbgrader checks them.

nbgrader's OverwriteCells restores a locked cell's source and points, but refuses the whole
notebook ("Inconsistent checksums") when a student unticks a test cell's ``grade`` or
``locked`` flag, and its ``add_missing_cells`` (which puts deleted test cells back) fails
when the answer cell before them was deleted too. Running before it, this

* sets every cell whose grade_id the gradebook knows back to the source notebook's
  metadata (flags, points, type; nothing else, so no stray key fails CheckCellMetadata);
* appends an empty answer cell for each answer cell that was deleted, so that the test
  cells OverwriteCells puts back have their place (and the missing answer earns 0).
"""

from __future__ import annotations

from nbformat.v4 import new_code_cell
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
        return nb, resources
