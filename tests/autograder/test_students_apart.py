"""One worker grades two students in turn: nothing the first leaves behind reaches the second.

The first student plants state everywhere a kernel or a grading process can (a module
attribute, a module, an environment variable, files in /tmp, the home folder and the working
folder, a background thread that keeps writing); the second, graded next by the same worker
process, looks for all of it, in its kernel (what it prints) and in its grading process (its
backward answers zeros if it sees anything). The first student's own look, after planting,
proves the look finds what is there.
"""

import ast
import json

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde
from autograder.report import collect

pytestmark = pytest.mark.slow
SECRET = "apart-test-secret"
FILES = ("/tmp/left-by-planter", "~/left-by-planter", "left-by-planter",
         "/dev/shm/left-by-planter", "/tmp/left-by-thread")  # fmt: skip

PLANT = f"""\
import os, sys, threading, time, types, numpy
numpy.LEFT_BY_PLANTER = 1
sys.modules["left_by_planter"] = types.ModuleType("left_by_planter")
os.environ["LEFT_BY_PLANTER"] = "1"
for path in {FILES[:4]!r}:
    try:
        open(os.path.expanduser(path), "w").write("x")
    except OSError:
        pass
def _keep_writing():
    while True:
        try:
            open("/tmp/left-by-thread", "w").write("x")
        except OSError:
            pass
        time.sleep(0.05)
threading.Thread(target=_keep_writing, name="left-by-planter", daemon=True).start()
time.sleep(0.2)
"""

LOOK = f"""\
import os, sys, threading, numpy
LEAKS = [name for name, seen in [
    ("module attribute", hasattr(numpy, "LEFT_BY_PLANTER")),
    ("module", "left_by_planter" in sys.modules),
    ("environment", "LEFT_BY_PLANTER" in os.environ),
    ("thread", any(t.name == "left-by-planter" for t in threading.enumerate())),
    *[("file " + p, os.path.exists(os.path.expanduser(p))) for p in {FILES!r}],
] if seen]
print("SEEN:", LEAKS)
"""

# The looker's backward: right, unless its grading process saw something of the planter's.
WRAP = """
_right_backward = L_model_backward


def L_model_backward(*args, **kwargs):
    grads = _right_backward(*args, **kwargs)
    if LEAKS:
        grads = {key: 0 * value for key, value in grads.items()}
    return grads
"""


def _seen(course, student: str) -> list[list[str]]:
    path = course / "autograded" / student / demo.ASSIGNMENT / f"{demo.ASSIGNMENT}.ipynb"
    cells = json.loads(path.read_text())["cells"]
    lines = [
        line
        for cell in cells
        for out in cell.get("outputs", [])
        for line in "".join(out.get("text", "")).splitlines()
        if line.startswith("SEEN:")
    ]
    return [ast.literal_eval(line.removeprefix("SEEN:").strip()) for line in lines]


def test_the_next_student_in_a_worker_sees_nothing_of_the_last(tmp_path, monkeypatch):
    course = tmp_path / "course"
    backward = demo.answers(demo.ASSIGNMENT)["L_model_backward"] + WRAP
    students = [
        demo.Student("a-planter", "plants state, then looks", demo.FULL, extra=(PLANT, LOOK)),
        demo.Student(
            "b-looker",
            "looks for the planter's state",
            demo.FULL,
            extra=(LOOK,),
            edits={"L_model_backward": backward},
        ),  # fmt: skip
    ]
    for student in students:
        folder = course / "submitted" / student.name / demo.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(student), folder / f"{demo.ASSIGNMENT}.ipynb")
    monkeypatch.setenv("GRADKIT_SECRET", SECRET)
    summary = autograde(demo.ASSIGNMENT, course, workers=1)  # one worker: one after the other
    assert summary.failed == {} and sorted(summary.graded) == ["a-planter", "b-looker"]

    (control,) = _seen(course, "a-planter")
    assert {"module attribute", "module", "environment", "thread",
            "file /tmp/left-by-planter", "file ~/left-by-planter",
            "file /tmp/left-by-thread"} <= set(control)  # fmt: skip
    assert _seen(course, "b-looker") == [[]]  # its kernel saw nothing
    scores = collect(f"sqlite:///{course / 'gradebook.db'}").scores
    assert scores[("a-planter", demo.ASSIGNMENT)] == demo.FULL
    # its grading process saw nothing either: the backward kept its points
    assert scores[("b-looker", demo.ASSIGNMENT)] == demo.FULL
