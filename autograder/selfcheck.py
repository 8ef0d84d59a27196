"""Visible self-checks for notebooks: the grader's own check, on public inputs, in your kernel.

    autograder.check(L_model_backward)

runs the same task the autograder runs (with public instead of secret inputs) and shows,
per gradient block, ✓/✗, the relative difference and the diagnosis.
"""

from __future__ import annotations

import html
import os
import sys
from dataclasses import dataclass

from autograder.assignments import find_task
from autograder.grading import grade_answer
from autograder.harness import call_here
from autograder.inputs import PUBLIC_SEED
from autograder.tasks import Score, Task


@dataclass
class SelfCheck:
    """Result of a self-check: the score and its explanation."""

    task: Task
    score: Score

    @property
    def passed(self) -> bool:
        return self.score.full

    def summary(self) -> str:
        head = "✓ all checks pass" if self.passed else "✗ not yet"
        return "\n".join([f"{self.task.function}: {head}", *self.score.lines])

    __str__ = summary

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.passed else "#cf222e"
        head = "all checks pass" if self.passed else "not yet right"
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.score.lines)
        return (
            f"<div><b style='color:{color}'>{html.escape(self.task.function)}: {head}</b>"
            f"<ul style='list-style:none;padding-left:0.5em'>{items}</ul></div>"
        )


class NotYetRight(AssertionError):
    """A self-check that does not pass: IPython (and so nbgrader's Validate dialog) shows
    its diagnosis alone, not the grader's frames it was raised from."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def check(function_or_name, seed: int = PUBLIC_SEED) -> SelfCheck:
    """Run the graded task for a function (or variable name) of your notebook on public inputs.

    Under nbgrader's Validate button (``nbgrader validate``), a check that does not pass
    raises AssertionError with its diagnosis, so that validation fails exactly where the
    grader would take points, and says which function.
    """
    name = function_or_name if isinstance(function_or_name, str) else function_or_name.__name__
    # The caller's globals are the notebook's, where the graded functions live.
    result = _run(name, sys._getframe(1).f_globals, seed)
    if os.environ.get("NBGRADER_VALIDATING") and not result.passed:
        raise NotYetRight(result.summary())
    return result


def _run(name: str, namespace: dict, seed: int) -> SelfCheck:
    _, task = find_task(name)
    inputs = task.draw(seed)
    answer = call_here(task.call, (task.function, *task.needs), namespace, inputs)
    history = namespace.get("In")  # IPython's list of executed cells, for the shortcut check
    sources = list(history) if isinstance(history, list) else None
    return SelfCheck(task, grade_answer(task, answer, inputs, 1.0, sources))


def assert_passes(function_or_name, seed: int = PUBLIC_SEED) -> None:
    """Raise AssertionError with the diagnosis unless the self-check passes.

    Hidden test cells call this: gradkit never runs them (it grades the function outside
    the kernel), but a plain ``nbgrader autograde`` without the kit's configuration would,
    and must not hand out points for a check that runs inside the student's kernel.
    """
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        raise RuntimeError(
            "this cell is graded by gradkit outside the student's kernel: run `gradkit "
            "autograde`, or nbgrader with the nbgrader_config.py that gradkit writes."
        )
    name = function_or_name if isinstance(function_or_name, str) else function_or_name.__name__
    result = _run(name, sys._getframe(1).f_globals, seed)
    if not result.passed:
        raise NotYetRight(result.summary())
