"""ReplayExecute: take the notebook a worker process already sanitized and executed.

The parallel autograde runs kernels in worker processes; the parent then runs nbgrader's
real Autograde with this preprocessor in place of Execute, so that one process writes the
gradebook and the scoring is nbgrader's own (SaveAutoGrades on the executed notebook).
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class ReplayExecute(NbGraderPreprocessor):
    """Use the executed notebook at ``executed_template`` (no kernel)."""

    executed_template = Unicode(
        "",
        help="Path of the executed notebook, formatted with student, assignment and notebook.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = self.executed_template.format(
            student=info["student"], assignment=info["assignment"], notebook=info["notebook"]
        )
        # The worker sanitized the submission with this gradebook's cells (a snapshot of it)
        # and executed it: its notebook replaces this one whole, so the parent need not
        # sanitize again (Autograde.sanitize_preprocessors = [] for the replay).
        return nbformat.read(path, as_version=4), resources
