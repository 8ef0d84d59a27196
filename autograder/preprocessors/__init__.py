"""nbgrader preprocessors of the kit, one per module."""

from autograder.preprocessors.dedupe_cells import DedupeCells
from autograder.preprocessors.execute import GradkitExecute
from autograder.preprocessors.restore_cells import RestoreCells
from autograder.preprocessors.sanitize_outputs import SanitizeOutputs
from autograder.preprocessors.scrub import ScrubHiddenTracebacks

__all__ = [
    "DedupeCells",
    "GradkitExecute",
    "RestoreCells",
    "SanitizeOutputs",
    "ScrubHiddenTracebacks",
]
