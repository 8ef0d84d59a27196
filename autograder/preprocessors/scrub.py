"""ScrubHiddenTracebacks: keep hidden test source out of feedback.

An error in a hidden test quotes the failing source lines in its traceback, which
ClearHiddenTests does not touch; this reduces such tracebacks to "ename: evalue". It must
run before ClearHiddenTests, since it finds the cells by their hidden-test delimiter.
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


class ScrubHiddenTracebacks(NbGraderPreprocessor):
    """Replace tracebacks in grade cells that hold hidden tests by one line."""

    begin_test_delimeter = Unicode(
        "BEGIN HIDDEN TESTS", help="The delimiter marking the start of hidden tests."
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if (
            cell.cell_type == "code"
            and utils.is_grade(cell)
            and self.begin_test_delimeter in cell.source
        ):
            for out in cell.outputs:
                if out.output_type == "error":
                    out.traceback = [f"{out.ename}: {out.evalue}" if out.evalue else out.ename]
        return cell, resources
