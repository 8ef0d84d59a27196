"""RestoreCells: undo what a student did to the kit's cells, before nbgrader checks them.

nbgrader's OverwriteCells restores a locked cell's source and points, but refuses the whole
notebook ("Inconsistent checksums") when a student unticks a test cell's ``grade`` or
``locked`` flag, and its ``add_missing_cells`` (which puts deleted test cells back) fails
when the answer cell before them was deleted too. Running before it, this

* sets every cell whose grade_id the gradebook knows back to the source notebook's flags;
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
            graded = {c.name for c in source.grade_cells}
            solutions = [c.name for c in source.solution_cells]
            locked = {c.name: c.locked for c in source.source_cells}
        present = set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            name = meta.get("grade_id")
            if name in locked:
                meta["grade"] = name in graded
                meta["solution"] = name in solutions
                meta["locked"] = locked[name]
                present.add(name)
        for name in solutions:
            if name not in present:
                stub = new_code_cell("# this answer cell was deleted from the submission")
                stub.metadata["nbgrader"] = {"grade": False, "grade_id": name, "locked": False,
                                             "schema_version": 3, "solution": True,
                                             "task": False}  # fmt: skip
                nb.cells.append(stub)
        return nb, resources
