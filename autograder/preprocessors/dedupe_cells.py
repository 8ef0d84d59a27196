"""DedupeCells: one cell per grade_id, so that a copy-pasted cell cannot fail a notebook.

JupyterLab copies a cell's metadata with the cell, so a pasted cell carries the same
nbgrader grade_id as the original. nbgrader 0.9.6 then refuses the whole notebook: its
DeduplicateIds keeps the *last* copy and empties the metadata of the others, which makes
OverwriteCells' ``add_missing_cells`` fail with ``KeyError: 'grade_id'``; so does any
nbgrader metadata without a grade_id, or with one the gradebook does not know (even
unflagged: OverwriteCells deletes the unknown grade_id and the same lookup fails).

Running first among the sanitize preprocessors, this leaves nbgrader metadata on exactly
one cell per grade_id the gradebook knows, and takes it off every other cell: those
become ordinary student cells, and their code still runs. The copy that keeps the id is

* for an answer cell, the first one (which copy the student meant is ambiguous; the code
  of the others runs anyway, in place);
* for a locked cell (a test cell, a provided cell, a markdown cell), the first copy after
  the cell that precedes it in the source notebook, preferring a copy whose source is the
  one released: a test cell pasted above its answer cell would run before the answer is
  defined, and nbgrader overwrites the kept copy's source, which a student's own cell that
  merely carries the id should not lose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor


@dataclass(frozen=True)
class Original:
    """A cell of the source notebook, as the gradebook knows it.

    Attributes
    ----------
    name : the cell's grade_id
    locked : whether nbgrader overwrites its source (test, provided, markdown cells)
    sources : the sources a faithful copy has: the released one (hidden tests removed)
        and the instructor's one, each stripped of surrounding whitespace
    """

    name: str
    locked: bool
    sources: frozenset[str] = frozenset()


def grade_id(cell: NotebookNode) -> str | None:
    """The cell's nbgrader grade_id, or None when it has none (or no usable metadata)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    if not isinstance(meta, dict):
        return None
    name = meta.get("grade_id")
    return name if isinstance(name, str) else None


def released(source: str, begin: str, end: str) -> str:
    """``source`` without its hidden-test regions (the lines from ``begin`` to ``end``), as
    nbgrader's ClearHiddenTests releases it."""
    lines, hidden = [], False
    for line in source.split("\n"):
        if begin in line:
            hidden = True
        elif end in line:
            hidden = False
        elif not hidden:
            lines.append(line)
    return "\n".join(lines)


def keepers(cells: Sequence[NotebookNode], originals: Sequence[Original]) -> dict[str, int]:
    """grade_id -> index in ``cells`` of the one cell that keeps it.

    ``originals`` are in source-notebook order; ids not among them keep no cell.
    """
    claims: dict[str, list[int]] = {}
    for index, cell in enumerate(cells):
        name = grade_id(cell)
        if name is not None:
            claims.setdefault(name, []).append(index)
    kept: dict[str, int] = {}
    anchor = -1  # where the previous cell of the source notebook was kept
    for original in originals:
        found = claims.get(original.name)
        if not found:
            continue
        if original.locked:
            placed = [i for i in found if i > anchor] or found
            faithful = [i for i in placed if cells[i].source.strip() in original.sources]
            kept[original.name] = (faithful or placed)[0]
        else:
            kept[original.name] = found[0]
        anchor = kept[original.name]
    return kept


class DedupeCells(NbGraderPreprocessor):
    """Leave nbgrader metadata on one cell per known grade_id; make the rest ordinary cells."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                source = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                return nb, resources
            originals = [Original(c.name, c.locked, self._sources(c)) for c in source.source_cells]
        kept = set(keepers(nb.cells, originals).values())
        for index, cell in enumerate(nb.cells):
            if "nbgrader" in cell.metadata and index not in kept:
                self.log.warning("cell %d (grade_id %r): nbgrader metadata removed, as it is "
                                 "a copy or has no known grade_id; it runs as an ordinary cell",
                                 index, grade_id(cell))  # fmt: skip
                del cell.metadata["nbgrader"]
        return nb, resources

    def _sources(self, source_cell) -> frozenset[str]:
        """The instructor's source of a cell, and the released one (hidden tests removed)."""
        text = source_cell.source or ""
        hidden = ClearHiddenTests(config=self.config)  # its delimiters, as the course sets them
        shown = released(text, hidden.begin_test_delimeter, hidden.end_test_delimeter)
        return frozenset({text.strip(), shown.strip()})
