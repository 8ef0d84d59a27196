"""GradkitExecute: nbgrader's Execute, with gradkit's test cells graded outside the kernel.

Ordinary cells run as usual. A test cell whose grade_id names a gradkit task (see
autograder.assignments) is not run: instead the student's function is called in the
kernel on this student's secret inputs, only its returned values come back, and the
score is computed here, in the grader's process. The cell's outputs are replaced by the
feedback lines and the score as the cell's value, which nbgrader's SaveAutoGrades reads as
(partial) credit.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import List, Unicode, default

from autograder.assignments import tasks_for
from autograder.grading import grade_answer, request, secret_inputs
from autograder.harness import Answer, read_answer
from autograder.inputs import SECRET_ENV, course_secret


class GradkitExecute(Execute):
    """Execute the notebook; grade gradkit test cells by calling the student's function."""

    secret = Unicode(
        help=f"Course secret the per-student inputs derive from (default: ${SECRET_ENV})."
    ).tag(config=True)
    hidden_environment = List(
        Unicode(),
        default_value=[SECRET_ENV],
        help="Environment variables removed from the kernel's environment.",
    ).tag(config=True)

    @default("secret")
    def _secret_default(self):
        return os.environ.get(SECRET_ENV, "")

    @contextmanager
    def setup_kernel(self, **kwargs):
        env = {k: v for k, v in os.environ.items() if k not in self.hidden_environment}
        kwargs.setdefault("env", env)
        self._dead_at = None
        with super().setup_kernel(**kwargs):
            yield

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        task = self._task(cell, resources)
        if task is not None:
            self._grade(cell, task, index)
        elif self._dead_at is None:
            try:
                cell = self.execute_cell(cell, index, store_history=True)
            except DeadKernelError:
                self._dead_at = index
                cell.outputs.append(new_output("error", ename="DeadKernelError", evalue=(
                    "the kernel died while running this cell (os._exit, a crash or out of "
                    "memory); nothing after it could run"), traceback=[]))  # fmt: skip
        return cell, self.resources

    def _task(self, cell, resources):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return None
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        return tasks_for(assignment).get(cell.metadata["nbgrader"].get("grade_id"))

    def _grade(self, cell, task, index) -> None:
        info = self.resources["nbgrader"]
        max_points = float(cell.metadata["nbgrader"].get("points", 0))
        inputs = secret_inputs(
            task, course_secret(self.secret), info["assignment"], info["student"]
        )
        answer = self._ask(task, inputs)
        sources = [c.source for c in self.nb.cells[:index] if c.cell_type == "code"]
        score = grade_answer(task, answer, inputs, max_points, sources)
        cell.outputs = [
            new_output("stream", name="stdout", text="\n".join(score.lines) + "\n"),
            new_output("execute_result", data={"text/plain": repr(round(score.points, 6))},
                       execution_count=None),
        ]  # fmt: skip
        cell.execution_count = None
        cell.metadata["gradkit"] = {
            "points": score.points,
            "max_points": max_points,
            "lines": score.lines,
            "blocks": score.blocks,
        }

    def _ask(self, task, inputs) -> Answer:
        if self._dead_at is not None:
            return Answer(
                False,
                error=f"DeadKernelError: the kernel died in cell {self._dead_at}"
                " (os._exit, a crash or out of memory)",
            )
        code, nonce = request(task, inputs)
        probe = new_code_cell(code)
        self.nb.cells.append(probe)  # execute_cell stores the cell at its index
        try:
            self.execute_cell(probe, len(self.nb.cells) - 1, store_history=False)
        except DeadKernelError:
            self._dead_at = "grading " + task.function
            return Answer(
                False,
                error="DeadKernelError: the kernel died while "
                f"{task.function} ran (os._exit, a crash or out of memory)",
            )
        finally:
            self.nb.cells.pop()
        for out in probe.outputs:
            if out.output_type == "error" and out.ename in (
                "CellTimeoutError",
                "KeyboardInterrupt",
            ):
                return Answer(
                    False,
                    error=f"TimeoutError: {task.function} did not finish within {self.timeout} s",
                )
        stdout = "".join(
            o.text for o in probe.outputs if o.output_type == "stream" and o.name == "stdout"
        )
        return read_answer(stdout, nonce)
