"""nbgrader preprocessors of the kit, one per module."""

from autograder.preprocessors.check_metadata import CheckCellMetadata
from autograder.preprocessors.dedupe_cells import DedupeCells
from autograder.preprocessors.execute import GradkitExecute
from autograder.preprocessors.restore_cells import RestoreCells
from autograder.preprocessors.sanitize_outputs import SanitizeOutputs
from autograder.preprocessors.scrub import ScrubHiddenTracebacks

__all__ = [
    "CheckCellMetadata",
    "DedupeCells",
    "GradkitExecute",
    "RestoreCells",
    "SanitizeOutputs",
    "ScrubHiddenTracebacks",
]
