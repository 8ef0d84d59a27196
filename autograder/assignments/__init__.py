"""The graded tasks of each assignment, by assignment name and nbgrader grade_id."""

from __future__ import annotations

from autograder.assignments import backprop
from autograder.tasks import Task

ASSIGNMENTS: dict[str, dict[str, Task]] = {
    "04-backprop": backprop.TASKS,
}


def tasks_for(assignment: str) -> dict[str, Task]:
    """grade_id -> Task for ``assignment`` (empty for an assignment without gradkit tasks)."""
    return ASSIGNMENTS.get(assignment, {})


def find_task(function_name: str) -> tuple[str, Task]:
    """(assignment, task) of the task that grades ``function_name``."""
    for assignment, tasks in ASSIGNMENTS.items():
        for task in tasks.values():
            if task.function == function_name:
                return assignment, task
    known = sorted(t.function for tasks in ASSIGNMENTS.values() for t in tasks.values())
    raise KeyError(f"no graded task checks {function_name!r}; known: {', '.join(known)}")
