"""nbgrader preprocessors of the kit, one per module."""

from autograder.preprocessors.execute import GradkitExecute
from autograder.preprocessors.replay import ReplayExecute
from autograder.preprocessors.restore_cells import RestoreCells
from autograder.preprocessors.scrub import ScrubHiddenTracebacks

__all__ = ["GradkitExecute", "ReplayExecute", "RestoreCells", "ScrubHiddenTracebacks"]
