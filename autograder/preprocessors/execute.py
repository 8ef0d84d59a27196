"""GradkitExecute: nbgrader's Execute, with gradkit's test cells graded outside the kernel.

Ordinary cells run as usual, in a sandboxed kernel, for the outputs the student sees in
the feedback. A test cell whose grade_id names a gradkit task (see autograder.assignments)
is not run there: the student's function is called in a separate grading process
(autograder.callbox) that runs the notebook's code cells in a fresh interpreter holding no
reference solution, on this student's secret inputs; only returned values come back, and
the score is computed here, in the grader's process. The cell's outputs are replaced by
the feedback lines and the score as the cell's value, which nbgrader's SaveAutoGrades
reads as (partial) credit.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, List, Type, Unicode, default

from autograder import forkserver
from autograder.assignments import tasks_for
from autograder.callbox import CallBox
from autograder.grading import grade_answer, large_inputs, secret_inputs
from autograder.harness import Answer
from autograder.inputs import SECRET_ENV, course_secret
from autograder.lock import course_lock
from autograder.sandbox import (
    NOBODY,
    Limits,
    command,
    reap_strays,
    remove_stale_cgroups,
    require_isolation,
)


class NoHeartbeat:
    """A heartbeat channel that does nothing. jupyter_client's pings from a thread whose
    REQ socket can block forever once the kernel is gone, and stopping the client joins that
    thread without a timeout (seen here: a timed-out cell hung a worker). Whether the kernel
    lives is asked of its process instead (KernelClient.is_alive with a manager)."""

    time_to_dead = 1.0

    def __init__(self, *args, **kwargs):
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass

    def pause(self) -> None:
        pass

    def unpause(self) -> None:
        pass

    def is_alive(self) -> bool:
        return False  # no thread to stop

    def is_beating(self) -> bool:
        return True


class SandboxKernelClient(AsyncKernelClient):
    """The kernel client without a heartbeat thread (see NoHeartbeat)."""

    hb_channel_class = Type(NoHeartbeat)

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        """Ready once the kernel answers kernel_info and IOPub carries its messages, as
        jupyter_client waits; but then what IOPub holds is drained, where jupyter_client
        waits for 0.2 s of silence: 0.2 s idle per kernel, and nothing to guard against, as
        nbclient reads only messages whose parent is the cell's own request."""
        end = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await ensure_async(self.shell_channel.get_msg(timeout=1))
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:  # IOPub is connected: the reply's status message came through
                    await ensure_async(self.iopub_channel.get_msg(timeout=0.2))
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > end:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while True:
            try:
                await ensure_async(self.iopub_channel.get_msg(timeout=0.01))
            except Empty:
                return

    wait_for_ready = _async_wait_for_ready  # what nbclient awaits (AsyncKernelClient's name)


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel command goes through the sandbox launcher."""

    wrap = None  # set by GradkitExecute: list[str] -> list[str]
    warm = None  # set by GradkitExecute: (Zygote, log) to fork the kernel from
    client_factory = Type(SandboxKernelClient, klass=AsyncKernelClient)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.warm is None or "ipykernel_launcher" not in " ".join(self.kernel_spec.argv):
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        zygote, log = self.warm
        private = os.path.dirname(self.connection_file)
        try:
            process = zygote.spawn([(private, True)], log, connection_file=self.connection_file)
        except (OSError, RuntimeError) as exc:  # the server died meanwhile: start it cold
            self.log.warning("Warm kernel server failed (%s); this kernel starts cold", exc)
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        provisioner = self.provisioner
        # No process group: signals go through the pidfd (WarmProcess.send_signal)
        provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
        self._reconcile_connection_info(provisioner.connection_info)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if self.wrap and os.getuid() == 0:  # the kernel runs as nobody: let it read its file
            os.chown(self.connection_file, NOBODY, NOBODY)
        return self.wrap(cmd) if self.wrap else cmd


def _pidfd(process) -> int | None:
    """A new pidfd of a kernel's process, readable once it ends (the caller closes it): a
    warm kernel's own, duplicated, or one opened for a launched kernel's pid. None when the
    process has ended (its pid may be another's by now) or pidfds are missing."""
    try:
        if process is None or process.returncode is not None:
            return None
        if isinstance(process, forkserver.WarmProcess):
            return os.dup(process.pidfd)
        return os.pidfd_open(process.pid)
    except (OSError, AttributeError):
        return None


class GradkitExecute(Execute):
    """Execute the notebook in a sandbox; grade gradkit test cells in grading processes."""

    secret = Unicode(
        help=f"Course secret the per-student inputs derive from (default: ${SECRET_ENV})."
    ).tag(config=True)
    hidden_environment = List(
        Unicode(),
        default_value=[SECRET_ENV],
        help="Environment variables removed even from the sandbox launcher's environment "
        "(the sandboxed code itself sees only an allow-list, see autograder.sandbox).",
    ).tag(config=True)

    course_lock = Bool(
        True,
        help="Hold the course directory's grading lock (autograder.lock) while a notebook is "
        "graded, so that plain nbgrader and a running `gradkit autograde` never grade the same "
        "course at once. gradkit's own workers, which grade private copies, turn it off.",
    ).tag(config=True)
    sandbox = Bool(
        True,
        help="Isolate student code with bubblewrap; False (gradkit's --no-sandbox) runs it "
        "with resource limits only, and any student can then read the secret and the grades.",
    ).tag(config=True)
    memory_limit_mb = Integer(
        2048, help="Memory of a kernel and all its children, MB (memory cgroup as root)."
    ).tag(config=True)
    cpu_limit_seconds = Integer(600, help="CPU time limit of the kernel, seconds.").tag(config=True)
    process_limit = Integer(64, help="Most processes the kernel may have.").tag(config=True)
    file_size_limit_mb = Integer(64, help="Largest file the kernel may write, MB.").tag(config=True)
    disk_limit_mb = Integer(
        256, help="Size of the kernel's private home and of its /tmp (each), MB."
    ).tag(config=True)
    allow_network = Bool(False, help="Let the kernel use the network.").tag(config=True)
    warm_kernels = Bool(
        False,
        help="Fork each kernel from a sandboxed server that has imported what kernels import "
        "(autograder.forkserver): as root only, one kernel per student still. gradkit's "
        "workers, which grade many submissions each, turn it on.",
    ).tag(config=True)
    notebook_timeout = Integer(
        300,
        help="Wall time for all the notebook's cells, seconds: no cell runs past it, and "
        "later cells are not run.",
    ).tag(config=True)
    output_limit_kb = Integer(
        256, help="Bytes of output one cell may keep, KB; the rest is cut with a note."
    ).tag(config=True)
    notebook_output_limit_kb = Integer(
        4096, help="Bytes of output the whole notebook may keep, KB."
    ).tag(config=True)

    @default("secret")
    def _secret_default(self):
        return os.environ.get(SECRET_ENV, "")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        # A timed-out cell is ended by stopping the kernel, whatever it does with SIGINT,
        # and output that drains slowly is not an error.
        self.interrupt_on_timeout = False
        # A grading kernel is never reused and nothing it holds is kept: it is killed when
        # the notebook is done, not asked to shut down (0.5–0.7 s each, measured).
        self.shutdown_kernel = "immediate"
        self.raise_on_iopub_timeout = False

    @property
    def limits(self) -> Limits:
        return Limits(self.memory_limit_mb, self.cpu_limit_seconds, self.process_limit,
                      self.file_size_limit_mb, self.disk_limit_mb, self.allow_network)  # fmt: skip

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxKernelManager):
            private = self._private
            km.connection_file = os.path.join(private, "kernel.json")
            km.transport, km.ip = "ipc", os.path.join(private, "ipc")  # works without a network
            log = os.path.join(self._logs, "kernel.log")
            km.wrap = lambda cmd: command(cmd, self.limits, rw=(private,), log=log,
                                          sandbox=self.sandbox)  # fmt: skip
            km.warm = (self._zygote, log) if self._zygote else None
        return km

    def setup_kernel(self, **kwargs):
        env = {k: v for k, v in os.environ.items() if k not in self.hidden_environment}
        kwargs.setdefault("env", env)
        return super().setup_kernel(**kwargs)

    def preprocess(self, nb, resources=None, km=None):
        require_isolation(self.sandbox)
        if not self.course_lock:
            return self._preprocess(nb, resources, km)
        root = self.config.get("CourseDirectory", {}).get("root") or os.getcwd()
        with course_lock(Path(root), "nbgrader autograde"):
            return self._preprocess(nb, resources, km)

    def _preprocess(self, nb, resources, km):
        self._stopped: str | None = None
        self._started = time.monotonic()
        self._boxes: dict[tuple[str, ...], CallBox] = {}
        self._hung: dict[str, str] = {}  # a notebook function that ran out of time -> where
        self._output_bytes = {"notebook": 0}
        # Only the IPC sockets and the connection file are shared with the kernel; its
        # log lives in a folder of the grader's that the kernel cannot reach.
        self._zygote = self._warm_server("kernel")
        jobs = self._zygote.jobs if self._zygote else None
        self._private = tempfile.mkdtemp(prefix="gradkit-kernel-", dir=jobs)
        self._logs = tempfile.mkdtemp(prefix="gradkit-log-")
        if self.sandbox and os.getuid() == 0:
            os.chown(self._private, NOBODY, NOBODY)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            for box in self._boxes.values():
                box.close()
            shutil.rmtree(self._private, ignore_errors=True)
            shutil.rmtree(self._logs, ignore_errors=True)
            remove_stale_cgroups()

    def _warm_server(self, profile: str):
        """The fork server warm kernels (or grading processes) come from; None: cold."""
        if not (self.warm_kernels and forkserver.available(self.sandbox)):
            return None
        try:
            return forkserver.shared(self.limits, profile)
        except (OSError, RuntimeError) as exc:
            self.log.warning("Warm %s processes are off, they start cold: %s", profile, exc)
            return None

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        task = self._task(cell, resources)
        if task is not None:
            self._grade(cell, task, index)
            return cell, self.resources
        left = self.notebook_timeout - (time.monotonic() - self._started)
        if self._stopped is None and left <= 0:
            self._stopped = (f"the notebook used up its {self.notebook_timeout} s before cell "
                             f"{index}; later cells were not run")  # fmt: skip
        if self._stopped is None and cell.cell_type == "code":
            configured = self.timeout
            self.timeout = max(1, int(min(configured or left, left)))
            self._output_bytes["cell"] = 0
            try:
                cell = self.execute_cell(cell, index, store_history=True)
            except DeadKernelError:
                self._stop(cell, f"the kernel died in cell {index} (os._exit, a crash, or a "
                           f"sandbox limit: {self.limits.describe()})")  # fmt: skip
            except CellTimeoutError:
                self._stop(cell, f"cell {index} did not finish within {self.timeout} s; the "
                           "kernel was stopped")  # fmt: skip
            finally:
                self.timeout = configured
            self._reap()
        return cell, self.resources

    async def _async_poll_kernel_alive(self) -> None:
        """nbclient's watch for a kernel that dies during a cell, woken by its death.

        nbclient asks whether the kernel lives once a second: a cell that ended its kernel
        (os._exit, a crash, a sandbox limit) left the worker idle for up to 1 s. Here a
        pidfd of the kernel's process becomes readable when it ends. Without one (no
        process, one already ended, pidfds missing, an event loop that cannot watch it)
        nbclient's own watch runs.
        """
        watched = _pidfd(getattr(getattr(self.km, "provisioner", None), "process", None))
        if watched is None:
            return await super()._async_poll_kernel_alive()
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        try:
            loop.add_reader(watched, lambda: ended.done() or ended.set_result(None))
        except (NotImplementedError, OSError, ValueError):  # a loop that cannot watch it
            os.close(watched)
            return await super()._async_poll_kernel_alive()
        try:
            await ended
        finally:
            loop.remove_reader(watched)
            os.close(watched)
        try:
            await self._async_check_alive()
        except DeadKernelError:  # as nbclient: the cell's reply will never come
            self.task_poll_for_reply.cancel()
        else:  # its process ended, yet the kernel is said to live: ask as nbclient does
            await super()._async_poll_kernel_alive()

    def _reap(self) -> None:
        """Nothing a cell started outlives it (autograder.sandbox.reap_strays)."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if self.sandbox and process is not None and process.poll() is None:
            reap_strays(process.pid)

    def _stop(self, cell, why: str) -> None:
        """Record why no later cell runs, say so in the cell, and end the kernel for good."""
        self._stopped = why + "; nothing after it could run"
        cell.outputs.append(new_output("error", ename="Stopped", evalue=self._stopped,
                                       traceback=[f"Stopped: {self._stopped}"]))  # fmt: skip
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            process.kill()  # the launcher became bwrap: the sandbox dies with it

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most output_limit_kb per cell and notebook_output_limit_kb in all."""
        content = msg.get("content", {})
        size = len(str(content.get("text", ""))) + sum(
            len(str(v)) for v in content.get("data", {}).values()
        )
        cell = self._output_bytes.get("cell", 0) + size
        total = self._output_bytes["notebook"] + size
        cap, total_cap = self.output_limit_kb * 1024, self.notebook_output_limit_kb * 1024
        if cell > cap or total > total_cap:
            if not any(o.get("name") == "stderr" and "gradkit:" in o.get("text", "") for o in outs):
                limit = f"{self.output_limit_kb} KB per cell, {self.notebook_output_limit_kb} KB"
                outs.append(
                    new_output(
                        "stream",
                        name="stderr",
                        text=f"[gradkit: output cut here: the grader keeps {limit} per notebook]\n",
                    )
                )
            return None
        self._output_bytes.update(cell=cell, notebook=total)
        return super().output(outs, msg, display_id, cell_index)

    def _task(self, cell, resources):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return None
        assignment = resources.get("nbgrader", {}).get("assignment", "")
        return tasks_for(assignment).get(cell.metadata["nbgrader"].get("grade_id"))

    def _box(self, task) -> CallBox:
        """The grading process for this task's allowed names (one per set, per notebook)."""
        if task.allowed not in self._boxes:
            self._numbers = [i for i, c in enumerate(self.nb.cells)
                             if c.cell_type == "code" and not utils.is_grade(c)]  # fmt: skip
            cells = [self.nb.cells[i].source for i in self._numbers]
            self._boxes[task.allowed] = CallBox(cells, task.allowed, self.limits,
                                                sandbox=self.sandbox,
                                                cell_timeout=float(self.timeout or 30),
                                                budget=float(self.notebook_timeout),
                                                warm=self._warm_server("calls"))  # fmt: skip
        return self._boxes[task.allowed]

    def _grade(self, cell, task, index) -> None:
        info = self.resources["nbgrader"]
        max_points = float(cell.metadata["nbgrader"].get("points", 0))
        secret = course_secret(self.secret)
        inputs = secret_inputs(task, secret, info["assignment"], info["student"])
        names = (task.function, *task.needs)
        box = self._box(task)
        hung = [name for name in names if name in self._hung]
        if hung:  # it looped once: calling it again would only cost another time limit
            why = f"{hung[0]} did not finish when {self._hung[hung[0]]} was graded"
            answer = Answer(False, error=f"NotCalled: {why}, so it was not called again")
        else:
            answer, _ = box.call(task.call, names, inputs, timeout=float(self.timeout or 30))
            if not answer.ok and answer.error.startswith("TimeoutError"):
                stuck = re.search(r"\(it was running (\w+)\)", answer.error)
                self._hung[stuck[1] if stuck else task.function] = task.function
        large = None
        if task.large is not None and answer.ok:
            big = large_inputs(task, secret, info["assignment"], info["student"])
            big_answer, seconds = box.call(task.call, names, big, timeout=task.time_limit)
            large = (big_answer, big, seconds)
        sources = [c.source for c in self.nb.cells[:index] if c.cell_type == "code"]
        score = grade_answer(task, answer, inputs, max_points, sources, large)
        if box.skipped:
            cells = ", ".join(str(self._numbers[i]) for i in sorted(box.skipped) if i >= 0)
            score.lines.append(
                f"(notebook cell(s) {cells} hung or ended the grading process and were left "
                "out when your functions were defined)"
            )
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
