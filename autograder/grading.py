"""Grade one task: draw its inputs, score the answer, explain the score."""

from __future__ import annotations

from autograder.harness import Answer
from autograder.inputs import student_seed
from autograder.shortcuts import static_shortcuts
from autograder.tasks import Score, Task, large_gate


def secret_inputs(task: Task, secret: str, assignment: str, student: str) -> dict:
    """The task's inputs for this student: differ per student, reproducible by the grader."""
    return task.draw(student_seed(secret, assignment, task.grade_id, student))


def large_inputs(task: Task, secret: str, assignment: str, student: str) -> dict:
    """The task's large instance for this student (Task.large), on a seed of its own."""
    return task.large(student_seed(secret, assignment, task.grade_id + "/large", student))


def grade_answer(
    task: Task,
    answer: Answer,
    inputs: dict,
    max_points: float,
    sources: list[str] | None = None,
    large: tuple[Answer, dict, float] | None = None,
) -> Score:
    """Score the answer; shortcuts and errors earn 0 with a line that says why.

    ``sources`` are the notebook's code cells, for the static shortcut check (None: skip);
    ``large`` is (answer, inputs, seconds) of the task's large instance, when it has one.
    """
    functions = (task.function, *task.needs)
    reasons = (
        static_shortcuts(sources, functions, task.forbidden, task.allowed)
        if sources is not None
        else []
    )
    if reasons:
        return Score(0.0, max_points, [
            f"✗ 0 points for {task.function}: {r}. Shortcuts earn nothing; write the "
            "computation yourself." for r in sorted(set(reasons))
        ])  # fmt: skip
    if not answer.ok:
        return Score(0.0, max_points, [explain(task, answer.error)])
    score = task.score(answer.value, inputs, max_points)
    if large is not None and score.points > 0:
        big, big_inputs, seconds = large
        why = "" if big.ok else explain(task, big.error)
        score = large_gate(task, score, big.value if big.ok else None, big_inputs, seconds, why)
    return score


ABSENT = (
    "where your functions are graded only numpy and the standard library exist (no "
    "reference solution, no autodiff, no numeric differentiation)"
)


def explain(task: Task, error: str) -> str:
    """A feedback line for a call that gave no value."""
    for name in (task.function, *task.needs):
        if error.startswith("NameError") and f"'{name}'" in error:
            return (
                f"✗ {name} is not defined: define it in its cell (and run that cell) so "
                f"the grader can call it; {ABSENT}, so a name bound to a library's function "
                "is not defined there."
            )
    if error.startswith("NameError"):
        return f"✗ {task.function} raised {error}: {ABSENT}; write the computation yourself."
    if error.startswith("Stopped: "):
        return f"✗ {task.function} could not be graded: {error.removeprefix('Stopped: ')}."
    if error.startswith("Died: "):
        return f"✗ {task.function} could not be graded: {error.removeprefix('Died: ')}."
    if error.startswith("TimeoutError: did not finish"):
        return f"✗ {task.function} {error.removeprefix('TimeoutError: ')}."
    if error.startswith("NotCalled: "):
        return f"✗ {task.function} was not graded: {error.removeprefix('NotCalled: ')}."
    if error.startswith("MemoryError"):
        return (f"✗ {task.function} ran out of memory (MemoryError): the grader's sandbox "
                "caps a kernel's memory; the inputs here are small, so look for a runaway "
                "allocation.")  # fmt: skip
    if error.startswith("NotImplementedError"):
        return f"✗ {task.function} is not implemented yet (it raises NotImplementedError)."
    if error.startswith(("ModuleNotFoundError", "ImportError")):
        return f"✗ {task.function} raised {error}: {ABSENT}; write the computation yourself."
    return f"✗ {task.function} raised {error}"
