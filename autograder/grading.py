"""Grade one task: draw its inputs, read the kernel's answer, score it, explain the score."""

from __future__ import annotations

from autograder.harness import Answer, kernel_code, new_nonce
from autograder.inputs import student_seed
from autograder.shortcuts import static_shortcuts, tripwire_code
from autograder.tasks import Score, Task


def secret_inputs(task: Task, secret: str, assignment: str, student: str) -> dict:
    """The task's inputs for this student: differ per student, reproducible by the grader."""
    return task.draw(student_seed(secret, assignment, task.grade_id, student))


def request(task: Task, inputs: dict) -> tuple[str, str]:
    """(code to run in the kernel, nonce that marks its answer)."""
    nonce = new_nonce()
    guarded = tripwire_code(task.call, task.function, task.forbidden)
    return kernel_code(guarded, inputs, nonce, (task.function, *task.needs)), nonce


def grade_answer(
    task: Task, answer: Answer, inputs: dict, max_points: float, sources: list[str] | None = None
) -> Score:
    """Score the answer; shortcuts and errors earn 0 with a line that says why.

    ``sources`` are the notebook's code cells, for the static shortcut check (None: skip).
    """
    functions = (task.function, *task.needs)
    reasons = static_shortcuts(sources, functions, task.forbidden) if sources is not None else []
    reasons += [f"{task.function} called {name} while being graded" for name in answer.tripped]
    if reasons:
        return Score(0.0, max_points, [
            f"✗ 0 points for {task.function}: {r}. Shortcuts earn nothing; write the "
            "computation yourself." for r in sorted(set(reasons))
        ])  # fmt: skip
    if not answer.ok:
        return Score(0.0, max_points, [_explain(task, answer.error)])
    return task.score(answer.value, inputs, max_points)


def _explain(task: Task, error: str) -> str:
    for name in (task.function, *task.needs):
        if error.startswith("NameError") and f"'{name}'" in error:
            return (
                f"✗ {name} is not defined: define it in its cell (and run that cell) so "
                "the grader can call it."
            )
    if error.startswith("Stopped: "):
        return f"✗ {task.function} could not be graded: {error.removeprefix('Stopped: ')}."
    if error.startswith("MemoryError"):
        return (f"✗ {task.function} ran out of memory (MemoryError): the grader's sandbox "
                "caps a kernel's memory; the inputs here are small, so look for a runaway "
                "allocation.")  # fmt: skip
    if error.startswith("NotImplementedError"):
        return f"✗ {task.function} is not implemented yet (it raises NotImplementedError)."
    return f"✗ {task.function} raised {error}"
