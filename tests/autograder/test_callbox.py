"""Does a grading process keep to the notebook's time, however often it must restart?"""

import threading
import time

import numpy as np

from autograder.callbox import CallBox
from autograder.sandbox import Limits

HANG_HERE_ONLY = "import sys, time\nif 'ipykernel' not in sys.modules:\n    time.sleep(100)\n"


def test_restarts_share_one_budget_for_the_notebooks_cells():
    box = CallBox([HANG_HERE_ONLY] * 6 + ["def f():\n    return 1.0\n"], (), Limits(),
                  cell_timeout=2.0, budget=5.0)  # fmt: skip
    start = time.monotonic()
    try:
        answer, _ = box.call("_out = f()", ("f",), {}, timeout=5.0)
    finally:
        box.close()
    assert time.monotonic() - start < 9.0  # 5 s budget, not 7 starts × 5 s
    assert not answer.ok and "used up its 5 s" in answer.error


def test_a_cell_that_hangs_is_left_out_and_the_function_still_answers():
    box = CallBox([HANG_HERE_ONLY, "def f():\n    return 2.0\n"], (), Limits(),
                  cell_timeout=2.0, budget=30.0)  # fmt: skip
    try:
        answer, _ = box.call("_out = f()", ("f",), {}, timeout=5.0)
    finally:
        box.close()
    assert answer.ok and answer.value == 2.0 and 0 in box.skipped


def test_a_call_that_runs_out_of_time_names_the_function_it_was_stuck_in():
    cells = ["def forward(x):\n    while True:\n        x = x + 1\n",
             "def backward(x):\n    return forward(x) * 2\n"]  # fmt: skip
    box = CallBox(cells, (), Limits(), cell_timeout=5.0, budget=30.0)
    try:
        answer, _ = box.call("_out = backward(1)", ("backward", "forward"), {}, timeout=3.0)
        again, _ = box.call("_out = 7.0", (), {}, timeout=5.0)  # the box answers again
    finally:
        box.close()
    assert answer.error == "TimeoutError: did not finish within 3 s (it was running forward)"
    assert again.ok and again.value == 7.0


def test_inputs_reach_the_grading_process_intact_call_after_call():
    # arrays of every shape go as raw bytes after each request: the next request must start
    # exactly where the last one's bytes end
    rng = np.random.default_rng(0)
    box = CallBox(["def echo(v):\n    return v\n"], (), Limits())
    try:
        for size in (3, 200_000, 0, 7):
            inputs = {"big": rng.normal(size=size), "nested": {"W": rng.normal(size=(2, 3)).T,
                      "scalar": np.array(-0.0), "ints": np.arange(4)},
                      "none": np.empty((0, 5)), "lambd": 0.7, "names": ["W1", "b1"]}  # fmt: skip
            answer, _ = box.call("_out = echo(_in)", ("echo",), inputs, timeout=30.0)
            assert answer.ok, answer.error
            got = answer.value
            assert got["lambd"] == 0.7 and list(got["names"]) == ["W1", "b1"]
            for a, b in (
                (got["big"], inputs["big"]),
                (got["none"], inputs["none"]),
                (got["nested"]["W"], inputs["nested"]["W"]),
                (got["nested"]["ints"], inputs["nested"]["ints"].astype(float)),
            ):
                assert a.shape == b.shape and a.tobytes() == np.ascontiguousarray(b).tobytes()
            assert np.signbit(got["nested"]["scalar"]) and got["nested"]["scalar"].shape == ()
    finally:
        box.close()


def test_a_process_that_stops_reading_cannot_hang_the_grader_with_its_inputs():
    # the student's cell stalls the runner between the request's line and its bytes: 2.4 MB
    # of inputs then fill the pipe, and the grader's write must give up at the deadline
    stall = "import json, time\njson.loads = lambda *a, **k: time.sleep(10**6)\n"
    box = CallBox([stall, "def f(v):\n    return 1.0\n"], (), Limits())
    result = []
    caller = threading.Thread(
        target=lambda: result.append(
            box.call("_out = f(_in)", ("f",), {"big": np.zeros(300_000)}, timeout=3.0)
        ),
        daemon=True,
    )
    try:
        caller.start()
        caller.join(timeout=30.0)
        assert not caller.is_alive(), "the grader's write blocked past the call's time limit"
    finally:
        box.close()  # ends a blocked write (EPIPE), should the assertion above fail
    ((answer, seconds),) = result
    assert not answer.ok and answer.error.startswith("TimeoutError") and seconds < 10
