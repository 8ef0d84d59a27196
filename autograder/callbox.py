"""The grader's side of a grading process: start it, give it the notebook, call functions.

One ``CallBox`` per notebook and per set of allowed gradlib names: a fresh sandboxed
interpreter (autograder.runner) that runs the notebook's code cells, then answers calls
on secret inputs. The grader times each call from outside and reads back values only; a
cell that hangs or kills the process is skipped on a restart, and a call that hangs or
kills it costs that call alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from autograder.grading_site import binds, site
from autograder.harness import Answer, decode_value, encode_inputs
from autograder.sandbox import Limits, command, python_of

MAX_LINE = 64 << 20  # bytes of one message from the process; more and it is stopped
RESTARTS = 6  # starts after the first (a hung cell or call, a crash), at most


# Share of a call's time limit after which the grading process says which function of the
# notebook the call is in, should it run past the limit.
WATCH = 0.8


class CallBox:
    """A sandboxed interpreter holding the student's functions (see autograder.runner)."""

    def __init__(self, cells: list[str], allowed: tuple[str, ...], limits: Limits, *,
                 sandbox: bool = True, cell_timeout: float = 30.0,
                 budget: float = 300.0, warm=None) -> None:  # fmt: skip
        """``warm``: a fork server of profile "calls" (autograder.forkserver.shared) to fork
        the process from, already past its imports; None starts a fresh interpreter."""
        self.cells, self.limits, self.sandbox, self.warm = cells, limits, sandbox, warm
        self.cell_timeout, self.budget = cell_timeout, budget
        self.site = site(tuple(sorted(allowed)))
        self.skipped: dict[int, str] = {}  # cell index -> why it was left out
        self.restarts = -1  # starts after the first
        self.stopped = ""  # why no more calls can be answered
        self._end: float | None = None  # when the notebook's cells must be done, all starts
        self.proc: subprocess.Popen | None = None
        self._buffer = b""
        self._scratch = tempfile.TemporaryDirectory(prefix="gradkit-calls-")

    def call(self, source: str, names: tuple[str, ...], inputs: dict, timeout: float):
        """(Answer, seconds) of running ``source`` (sets ``_out`` from ``_in``)."""
        problem = self._ensure()
        if problem:
            return Answer(False, error="Stopped: " + problem), 0.0
        ident = secrets.token_hex(8)
        tree, data = encode_inputs(inputs)
        request = {"id": ident, "call": source, "names": list(names), "inputs": tree,
                   "bytes": len(data), "watch": WATCH * timeout}  # fmt: skip
        where = ""
        start = time.monotonic()
        deadline = start + timeout
        sent = self._send((json.dumps(request) + "\n").encode() + data, deadline)
        while True:
            message = self._read(deadline) if sent else None
            seconds = time.monotonic() - start
            if message is None:
                died = self.proc.poll() is not None
                self.stop()
                if died:
                    return Answer(
                        False,
                        error="Died: the grading process died (os._exit, a "
                        "crash, or a sandbox limit: " + self.limits.describe() + ")",
                    ), seconds
                stuck = f" (it was running {where})" if where else ""
                return Answer(
                    False, error=f"TimeoutError: did not finish within {timeout:g} s{stuck}"
                ), seconds
            name = message.get("where")
            if message.get("watch") == ident and isinstance(name, str) and name.isidentifier():
                where = name[:100]  # a function's name, nothing else reaches the feedback
            if message.get("id") == ident:
                return _answer(message), seconds

    def _ensure(self) -> str:
        """Start the process and run the cells unless it runs; "" or why it cannot."""
        while not self.stopped and (self.proc is None or self.proc.poll() is not None):
            if self.restarts >= RESTARTS:
                self.stopped = (
                    f"cells {sorted(self.skipped)} of the notebook hung or stopped the grading "
                    "process; your functions could not be defined"
                )
                break
            self.restarts += 1
            self._start()
            if self._end is None:  # one budget for all starts, like a notebook's
                self._end = time.monotonic() + self.budget
            current, end = None, self._end
            deadline = min(end, time.monotonic() + self.cell_timeout)
            while True:
                message = self._read(deadline)
                if message is None:  # a cell hung or killed the process: skip it next time
                    why = "did not finish" if self.proc.poll() is None else "ended the process"
                    self.stop()
                    if time.monotonic() >= end:  # like the notebook: out of time, no retry
                        self.stopped = (f"the notebook's cells used up its {self.budget:g} s "
                                        "before your functions were defined")  # fmt: skip
                        break
                    self.skipped[current if current is not None else -1] = why
                    break
                if message.get("ready") is True:
                    return ""
                if isinstance(message.get("cell"), int):
                    current = message["cell"]
                    deadline = min(end, time.monotonic() + self.cell_timeout)
        return self.stopped

    def _start(self) -> None:
        root = Path(self._scratch.name)
        self.proc = None
        if self.warm is not None and self.warm.alive():
            try:
                self.proc = self._fork(str(root / "calls.log"))
            except (OSError, RuntimeError):  # the server died meanwhile: start it cold
                self.warm = None
        if self.proc is None:
            runner = str(self.site / "gradkit_runner.py")
            cmd = command([python_of("calls"), "-I", "-S", runner, str(self.site)], self.limits,
                          profile="calls", ro=(str(self.site), *binds(self.site)),
                          log=str(root / "calls.log"), sandbox=self.sandbox)  # fmt: skip
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL,
                                         start_new_session=True)  # fmt: skip
        self._buffer = b""
        start = {"cells": self.cells, "skip": sorted(self.skipped)}
        try:
            self.proc.stdin.write((json.dumps(start) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            pass

    def _fork(self, log: str):
        """The grading process, forked by the warm server: its site and the server's own
        visible, its channel on two pipes, as a cold one's (autograder.forkserver)."""
        stdin, to_process = os.pipe()
        from_process, stdout = os.pipe()
        try:
            sites = [(str(self.site), False), (str(self.warm.home), False)]
            process = self.warm.spawn(sites, log, (stdin, stdout), site=str(self.site))
        except BaseException:
            os.close(to_process)
            os.close(from_process)
            raise
        finally:
            os.close(stdin)
            os.close(stdout)
        process.stdin = os.fdopen(to_process, "wb")
        process.stdout = os.fdopen(from_process, "rb")
        return process

    def _send(self, data: bytes, deadline: float) -> bool:
        """Write ``data`` to the process before ``deadline``; False if it did not take it all
        in time. The process's code is the student's too: it may stop reading (a patched
        json.loads, SIGSTOP) with the pipe full, and a blocking write would then hang this
        worker past every time limit. A process that died is left for reading to report."""
        fd = self.proc.stdin.fileno()
        os.set_blocking(fd, False)
        view, done = memoryview(data), 0
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_WRITE)
            while done < len(view):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return False
                try:
                    done += os.write(fd, view[done : done + (1 << 16)])
                except BlockingIOError:
                    continue
                except OSError:  # it died (EPIPE): reading says so
                    return True
        return True

    def _read(self, deadline: float) -> dict | None:
        """The next JSON message before ``deadline``; None on timeout, death or flooding."""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or len(self._buffer) > MAX_LINE or not sel.select(left):
                    return None
                chunk = os.read(fd, 1 << 20)
                if not chunk:  # the channel closed: the process is ending, let it be reaped
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.proc.wait(timeout=2)
                    return None
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}

    def stop(self) -> None:
        """Kill the process and everything it started."""
        if self.proc is None:
            return
        for kill in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), self.proc.kill):
            try:
                kill()  # its group; the process itself, should it not lead one yet
            except OSError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop()
        self._scratch.cleanup()


def _answer(message: dict) -> Answer:
    if not message.get("ok"):
        return Answer(False, error=str(message.get("error", "unknown error"))[:600])
    try:
        return Answer(True, value=decode_value(message.get("value")))
    except (ValueError, TypeError, KeyError) as exc:
        return Answer(False, error=f"unreadable result ({exc})")
