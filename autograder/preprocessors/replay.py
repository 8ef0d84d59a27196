"""ReplayExecute: take the outputs of a notebook a worker process already executed.

The parallel autograde runs kernels in worker processes; the parent then runs nbgrader's
real Autograde with this preprocessor in place of Execute, so that one process writes the
gradebook and the scoring is nbgrader's own.
"""

from __future__ import annotations

import copy

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class ReplayExecute(NbGraderPreprocessor):
    """Copy outputs from the executed notebook at ``executed_template`` (no kernel)."""

    executed_template = Unicode(
        "",
        help="Path of the executed notebook, formatted with student, assignment and notebook.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = self.executed_template.format(
            student=info["student"], assignment=info["assignment"], notebook=info["notebook"]
        )
        done = nbformat.read(path, as_version=4)
        if len(done.cells) != len(nb.cells):
            raise RuntimeError(
                f"replay: {path} has {len(done.cells)} cells, expected {len(nb.cells)}"
            )
        for i, (cell, executed) in enumerate(zip(nb.cells, done.cells, strict=True)):
            if cell.cell_type != executed.cell_type or cell.source != executed.source:
                raise RuntimeError(f"replay: cell {i} of {path} differs from the submission")
            if cell.cell_type == "code":
                cell.outputs = copy.deepcopy(executed.outputs)
                cell.execution_count = executed.execution_count
            if "gradkit" in executed.metadata:
                cell.metadata["gradkit"] = copy.deepcopy(executed.metadata["gradkit"])
        if "language_info" in done.metadata:
            nb.metadata["language_info"] = copy.deepcopy(done.metadata["language_info"])
        return nb, resources
