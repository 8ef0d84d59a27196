"""Does a grading process keep to the notebook's time, however often it must restart?"""

import time

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
