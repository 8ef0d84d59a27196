"""The graded tasks of each assignment, by assignment name and nbgrader grade_id.

Each module here defines ``ASSIGNMENT`` (the folder name in solutions/) and ``TASKS``
(grade_id -> Task); they are found by scanning this package.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from autograder.tasks import Task


@cache
def registry() -> dict[str, dict[str, Task]]:
    """assignment -> grade_id -> Task, for every module of this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[module.ASSIGNMENT] = module.TASKS
    return found


def tasks_for(assignment: str) -> dict[str, Task]:
    """grade_id -> Task for ``assignment`` (empty for an assignment without gradkit tasks)."""
    return registry().get(assignment, {})


def find_task(function_name: str) -> tuple[str, Task]:
    """(assignment, task) of the task that grades ``function_name``."""
    for assignment, tasks in registry().items():
        for task in tasks.values():
            if task.function == function_name:
                return assignment, task
    known = sorted(t.function for tasks in registry().values() for t in tasks.values())
    raise KeyError(f"no graded task checks {function_name!r}; known: {', '.join(known)}")
