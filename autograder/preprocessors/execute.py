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
import shutil
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Unicode, default

from autograder.assignments import tasks_for
from autograder.grading import grade_answer, request, secret_inputs
from autograder.harness import Answer, read_answer
from autograder.inputs import SECRET_ENV, course_secret
from autograder.sandbox import Limits, bwrap, describe, kernel_command, remove_stale_cgroups


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command goes through the sandbox launcher."""

    wrap = None  # set by GradkitExecute: list[str] -> list[str]

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.wrap(cmd) if self.wrap else cmd


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

    sandbox = Bool(True, help="Run the kernel in the sandbox (autograder.sandbox).").tag(
        config=True
    )
    memory_limit_mb = Integer(2048, help="Address-space limit of the kernel, MB.").tag(config=True)
    cpu_limit_seconds = Integer(600, help="CPU time limit of the kernel, seconds.").tag(config=True)
    process_limit = Integer(64, help="Most processes the kernel may have.").tag(config=True)
    file_size_limit_mb = Integer(64, help="Largest file the kernel may write, MB.").tag(config=True)
    allow_network = Bool(False, help="Let the kernel use the network.").tag(config=True)
    notebook_timeout = Integer(
        600, help="Wall time for the whole notebook, seconds; later cells are not run."
    ).tag(config=True)

    @default("secret")
    def _secret_default(self):
        return os.environ.get(SECRET_ENV, "")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    @property
    def limits(self) -> Limits:
        return Limits(self.memory_limit_mb, self.cpu_limit_seconds, self.process_limit,
                      self.file_size_limit_mb, self.allow_network)  # fmt: skip

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.sandbox and isinstance(km, SandboxKernelManager):
            private = self._private
            workdir = str(Path(self.resources.get("metadata", {}).get("path") or ".").resolve())
            km.connection_file = os.path.join(private, "kernel.json")
            km.transport, km.ip = "ipc", os.path.join(private, "ipc")  # works without a network
            km.wrap = lambda cmd: kernel_command(cmd, self.limits, workdir, private)
        return km

    @contextmanager
    def setup_kernel(self, **kwargs):
        env = {k: v for k, v in os.environ.items() if k not in self.hidden_environment}
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        kwargs.setdefault("env", env)
        self._stopped: str | None = None
        self._started = time.monotonic()
        if self.sandbox and not bwrap():
            warnings.warn("grading kernels are not fully isolated: " + "; ".join(describe()),
                          stacklevel=2)  # fmt: skip
        try:
            with super().setup_kernel(**kwargs):
                yield
        finally:
            remove_stale_cgroups()

    def preprocess(self, nb, resources=None, km=None):
        self._private = tempfile.mkdtemp(prefix="gradkit-kernel-")
        os.chmod(self._private, 0o700)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            shutil.rmtree(self._private, ignore_errors=True)

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        task = self._task(cell, resources)
        if task is not None:
            self._grade(cell, task, index)
            return cell, self.resources
        if self._stopped is None and time.monotonic() - self._started > self.notebook_timeout:
            self._stopped = (f"the notebook used up its {self.notebook_timeout} s before cell "
                             f"{index}; later cells were not run")  # fmt: skip
        if self._stopped is None:
            try:
                cell = self.execute_cell(cell, index, store_history=True)
            except DeadKernelError:
                self._stopped = self._died(f"in cell {index}")
                cell.outputs.append(new_output("error", ename="DeadKernelError",
                                               evalue=self._stopped, traceback=[]))  # fmt: skip
        return cell, self.resources

    def _died(self, where: str) -> str:
        return (f"the kernel died {where} (os._exit, a crash, or a sandbox limit: "
                f"{self.limits.describe()}); nothing after it could run")  # fmt: skip

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
        if self._stopped is not None:
            return Answer(False, error="Stopped: " + self._stopped)
        code, nonce = request(task, inputs)
        probe = new_code_cell(code)
        self.nb.cells.append(probe)  # execute_cell stores the cell at its index
        try:
            self.execute_cell(probe, len(self.nb.cells) - 1, store_history=False)
        except DeadKernelError:
            self._stopped = self._died(f"while {task.function} ran")
            return Answer(False, error="Stopped: " + self._stopped)
        finally:
            self.nb.cells.pop()
        for out in probe.outputs:
            if out.output_type == "error" and out.ename in (
                "CellTimeoutError",
                "KeyboardInterrupt",
            ):
                return Answer(False, error=f"TimeoutError: {task.function} did not finish "
                                           f"within {self.timeout} s")  # fmt: skip
            if out.output_type == "error" and out.ename == "MemoryError":
                return Answer(False, error=f"MemoryError: {task.function} ran out of memory "
                                           f"(limit {self.memory_limit_mb} MB)")  # fmt: skip
        stdout = "".join(o.text for o in probe.outputs
                         if o.output_type == "stream" and o.name == "stdout")  # fmt: skip
        return read_answer(stdout, nonce)
