"""gradkit's autograder: grade student backprop by gradient checking, through nbgrader.

In a notebook, ``autograder.check(fn)`` runs the grader's own check of ``fn`` on public
inputs and shows, per gradient block, what is right and what is wrong.
"""

from autograder.selfcheck import SelfCheck, assert_passes, check

__all__ = ["SelfCheck", "assert_passes", "check"]
