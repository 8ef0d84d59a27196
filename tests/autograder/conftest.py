"""Shared fixtures: grade a task the way the grader does, in a sandboxed grading process."""

import pytest

from autograder.callbox import CallBox
from autograder.grading import grade_answer
from autograder.sandbox import Limits


def grade_in_box(task, source: str, seed: int = 7, max_points: float = 4.0):
    """Score of ``source`` (the notebook's code) for ``task``, called where grading runs."""
    box = CallBox([source], task.allowed, Limits(), cell_timeout=30.0)
    try:
        inputs = task.draw(seed)
        answer, _ = box.call(task.call, (task.function, *task.needs), inputs, timeout=30.0)
    finally:
        box.close()
    return grade_answer(task, answer, inputs, max_points, sources=[source])


@pytest.fixture
def in_box():
    return grade_in_box
