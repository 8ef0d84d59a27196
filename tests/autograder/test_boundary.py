"""The grading boundary, attacked as a hostile class would, through the real autograde.

One class is graded once (sandboxed, 2 workers, as root in CI): honest students beside
students who plant links and FIFOs in their submission, reach for the course directory,
the TA's environment and /etc/shadow, exhaust memory, disk and output, stall the notebook,
leave daemons behind, or run script in the TA's browser. Each test reads what one of them
did: nothing outside the sandbox was written or read into feedback, no run hung, the
gradebook is intact, and the honest students kept full marks.
"""

import csv
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde
from autograder.canvas import write_canvas
from autograder.course import SOLUTIONS
from autograder.feedback import feedback
from autograder.report import collect, write_report
from autograder.sandbox import NOBODY
from autograder.similarity import write_similarity

pytestmark = pytest.mark.slow
SECRET = "boundary-test-secret-do-not-leak"
TOKEN = "hub-token-do-not-leak-7f3a"
FULL = demo.FULL
TIMEOUT = 8
NOTEBOOK_SECONDS = 40
FORMULA = "=1+cmd|'calc'!A0"  # a student id that is a formula in the TA's spreadsheet

LINKER = """\
import os
env = b""
for path in ("/proc/1/environ", "/proc/self/environ", "/proc/1/cmdline"):
    try:
        env += open(path, "rb").read()
        print("READ", path)
    except OSError as e:
        print("blocked:", path, type(e).__name__)
course = next((v[4:].decode() for v in env.split(b"\\0") if v.startswith(b"PWD=")), None)
print("course dir:", course)
for target in filter(None, [course and course + "/gradebook.db", "/etc/passwd"]):
    for name in ("04-backprop.ipynb", "timestamp.txt", "kernel.json"):
        for folder in (".", os.environ.get("HOME", "."), "/tmp"):
            try:
                os.symlink(target, os.path.join(folder, name))
            except OSError:
                pass
for folder in (".", "/tmp"):
    try:
        os.mkfifo(os.path.join(folder, "04-backprop.ipynb.fifo"))
        os.mkfifo(os.path.join(folder, "gradebook.db"))
    except OSError:
        pass
print("links planted")
"""

SNOOP = f"""\
import os
print("ENV", sorted(os.environ.items()))
for path in ("/etc/shadow", "/root/.bash_history", {str(SOLUTIONS)!r}, "/proc/1/environ"):
    try:
        print("READ", path, os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(64))
    except OSError as e:
        print("blocked:", path, type(e).__name__)
print("UID", os.getuid())
"""

HOG = """\
import os, time
alive = 0
for k in range(4):
    if os.fork() == 0:
        block = bytearray(900 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        open(f"/tmp/alive-{k}", "w").close()
        time.sleep(3)
        os._exit(0)
time.sleep(6)
for k in range(4):
    try:
        os.wait()
    except ChildProcessError:
        pass
print("ALIVE", sum(os.path.exists(f"/tmp/alive-{k}") for k in range(4)))
"""

DISK = """\
import os
written = {}
for folder in ("/tmp", os.environ["HOME"]):
    total = 0
    try:
        for k in range(24):
            with open(os.path.join(folder, f"fill-{k}"), "wb") as f:
                f.write(b"x" * (64 * 2**20))
            total += 64
    except OSError as e:
        print("stopped:", folder, type(e).__name__)
    written[folder] = total
    for k in range(24):
        try:
            os.remove(os.path.join(folder, f"fill-{k}"))
        except OSError:
            pass
print("WRITTEN", written)
"""

FLOOD = 'print("x" * 50_000_000)'

SLOW = f"import time\ntime.sleep({TIMEOUT - 2})"

# 40 children that spin for 6 s, in the kernel and again in the grading process: the other
# worker's students, graded meanwhile, keep their timed calls (each worker has an equal CPU
# share, however many processes it runs: autograder.sandbox.confine_worker).
BURNER = """\
import os, time
children = []
for _ in range(40):
    pid = os.fork()
    if pid == 0:
        end = time.time() + 6
        while time.time() < end:
            pass
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""

DAEMON = """\
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(120):
            try:
                open("/tmp/still-here", "w").close()
            except OSError:
                pass
            time.sleep(1)
        os._exit(0)
    os._exit(0)
print("daemon started")
"""

XSS = """\
from IPython.display import HTML, Javascript, display
display(HTML('<script>alert("pwned-xss-1")</script><img src=x onerror="alert(2)">'))
display(Javascript('alert("pwned-xss-3")'))
"""

SIGINT_PROOF = """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""


def _students() -> list[demo.Student]:
    S = demo.Student
    slow = tuple([SLOW] * (NOTEBOOK_SECONDS // (TIMEOUT - 2) + 3))
    return [
        S("ada", "correct everywhere", FULL),
        S("grace", "correct everywhere", FULL),
        S("linker", "plants links and FIFOs where the grader writes", FULL, extra=(LINKER,)),
        S("links", "hands in links to the secret, the gradebook, solutions and a peer", FULL),
        S("fifo", "hands in a FIFO named like a notebook", FULL),
        S("snoop", "reads the TA's environment, /etc/shadow, solutions/", FULL, extra=(SNOOP,)),
        S("hog", "four children of 900 MB each", FULL, extra=(HOG,)),
        S("disk", "fills /tmp and its home", FULL, extra=(DISK,)),
        S("flood", "prints 50 MB in one line", FULL, extra=(FLOOD,)),
        S("slow", "slow cells past the notebook's time", demo.ZERO, extra=slow),
        S("sigint", "a cell that ignores SIGINT and loops", FULL, extra=(SIGINT_PROOF,)),
        S("daemon", "leaves a setsid daemon behind", FULL, extra=(DAEMON,)),
        S("burner", "40 busy children while the others are graded", FULL, extra=(BURNER,)),
        S("xss", "script in its outputs and markdown", FULL, extra=(XSS,)),
        S("[r]eference", "a folder name that is a glob pattern", FULL),
        S("-x *", "a folder name with a dash, a space and a star", FULL),
        S("zoë 李", "a folder name in unicode", FULL),
        S(FORMULA, "a folder name a spreadsheet would run as a formula", FULL),
    ]  # fmt: skip


def _write(course: Path, student: demo.Student) -> None:
    nb = demo.submission(student)
    if student.name == "xss":
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(
            '<script>alert("pwned-xss-4")</script>[link](javascript:alert(5))'))  # fmt: skip
    folder = course / "submitted" / student.name / "04-backprop"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "04-backprop.ipynb")
    (folder / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    if student.name == "links":
        hidden = SOLUTIONS / "04-backprop" / "04-backprop.ipynb"
        peer = "../../ada/04-backprop/04-backprop.ipynb"
        links = {"env.txt": "/proc/self/environ", "grades.db": "../../../gradebook.db",
                 "solution.txt": str(hidden), "peer.txt": peer, "data.bin": "/dev/zero",
                 "shadow": "/etc/shadow", "extra.ipynb": peer}  # fmt: skip
        for name, target in links.items():
            os.symlink(target, folder / name)
    if student.name == "fifo":
        os.mkfifo(folder / "extra.ipynb")
        os.mkfifo(folder / "notes.txt")


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    course = tmp_path_factory.mktemp("boundary")
    students = _students()
    for student in students:
        _write(course, student)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.GradkitExecute.notebook_timeout = {NOTEBOOK_SECONDS}\n"
        "c.GradkitExecute.disk_limit_mb = 256\nc.GradkitExecute.output_limit_kb = 256\n"
    )
    mp = pytest.MonkeyPatch()
    mp.setenv("GRADKIT_SECRET", SECRET)
    mp.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
    mp.chdir(course)  # PWD = the course dir, as when a TA runs gradkit there
    mp.setenv("PWD", str(course))
    try:
        summary = autograde("04-backprop", course, workers=2, timeout=TIMEOUT)
        pages = feedback("04-backprop", course)
        rerun = autograde("04-backprop", course, workers=2, timeout=TIMEOUT)
    finally:
        mp.undo()
    scores = {s: q for (s, a), q in collect(f"sqlite:///{course / 'gradebook.db'}").scores.items()}
    return course, students, summary, scores, pages, rerun


def _notebook(course: Path, student: str) -> dict:
    return json.loads((course / "autograded" / student / "04-backprop" / "04-backprop.ipynb")
                      .read_text())  # fmt: skip


def _outputs(course: Path, student: str) -> str:
    return json.dumps([c.get("outputs", []) for c in _notebook(course, student)["cells"]])


def test_every_student_is_graded_and_nothing_hangs(hostile_class):
    _, students, summary, scores, _, _ = hostile_class
    assert summary.failed == {}
    assert set(scores) == {s.name for s in students}


@pytest.mark.parametrize("name", [s.name for s in _students()])
def test_no_student_earns_an_undeserved_point_and_the_honest_keep_theirs(hostile_class, name):
    _, students, _, scores, _, _ = hostile_class
    student = next(s for s in students if s.name == name)
    assert scores[name] == student.expected, student.story


def test_the_gradebook_is_intact_and_a_rerun_changes_nothing(hostile_class):
    course, students, _, scores, _, rerun = hostile_class
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert sorted(rerun.skipped) == sorted(s.name for s in students) and not rerun.graded
    again = collect(f"sqlite:///{course / 'gradebook.db'}").scores
    assert {s: q for (s, a), q in again.items()} == scores


def test_nothing_outside_the_sandbox_was_written_through_a_link(hostile_class):
    course = hostile_class[0]
    assert not any(p.is_symlink() for p in course.rglob("*") if "submitted" not in p.parts)
    assert not any(p.is_fifo() for p in course.rglob("*") if "submitted" not in p.parts)
    assert (course / "gradebook.db").stat().st_mode & 0o222  # not chmod-ed read-only
    text = _outputs(course, "linker")
    assert "READ /proc/1/environ" not in text and str(course) not in text
    assert "course dir: /home/student" in text  # all it finds is its own private home


def test_linked_and_special_files_are_refused_and_named(hostile_class):
    course, _, summary, _, _, _ = hostile_class
    refused = " ".join(summary.refused["links"])
    for name in ("env.txt", "grades.db", "solution.txt", "peer.txt", "data.bin", "extra.ipynb"):
        assert f"{name}: a symbolic link" in refused
    assert "extra.ipynb: a FIFO" in " ".join(summary.refused["fifo"])
    for student in ("links", "fifo"):
        for kind in ("autograded", "feedback"):
            kept = {p.name for p in (course / kind / student / "04-backprop").iterdir()}
            assert kept <= {"04-backprop.ipynb", "04-backprop.html", "timestamp.txt"}, kept


def test_no_secret_token_path_or_hidden_test_reaches_any_student(hostile_class):
    course, students, _, _, pages, _ = hostile_class
    hidden = "autograder.assert_passes"
    for student in students:
        for kind in ("autograded", "feedback"):
            for path in (course / kind / student.name / "04-backprop").iterdir():
                text = path.read_text(errors="replace")
                assert SECRET not in text and TOKEN not in text, (student.name, path.name)
                assert str(course) not in text, (student.name, path.name)
                if kind == "feedback":
                    assert hidden not in text, (student.name, path.name)
                    assert path.suffix != ".ipynb", (student.name, path.name)
    assert len(pages) == len(students)


def test_the_kernel_sees_an_allow_listed_environment_as_nobody(hostile_class):
    text = _outputs(hostile_class[0], "snoop")
    assert "READ /" not in text and text.count("blocked:") == 4
    assert "GRADKIT" not in text and "JUPYTERHUB" not in text
    if os.getuid() == 0:
        assert f"UID {NOBODY}" in text


def test_memory_is_limited_for_the_kernel_and_its_children_together(hostile_class):
    text = _outputs(hostile_class[0], "hog")
    assert "ALIVE 4" not in text  # 4 × 900 MB > the kernel's 2048 MB


def test_tmp_and_home_are_size_capped(hostile_class):
    text = _outputs(hostile_class[0], "disk")
    assert "stopped: /tmp" in text and "stopped: /home/student" in text
    written = eval(text.split("WRITTEN ")[1].split("\\n")[0])  # noqa: S307 - our own probe
    assert all(mb <= 256 for mb in written.values()), written


def test_output_is_cut_to_the_byte_budget(hostile_class):
    course = hostile_class[0]
    path = course / "autograded" / "flood" / "04-backprop" / "04-backprop.ipynb"
    assert path.stat().st_size < 2 << 20
    assert "output cut here" in path.read_text()


def test_a_student_cannot_stretch_the_notebook_past_its_time(hostile_class):
    text = _outputs(hostile_class[0], "slow")
    assert f"used up its {NOTEBOOK_SECONDS} s" in text


def test_a_cell_that_ignores_sigint_costs_that_cell_only(hostile_class):
    text = _outputs(hostile_class[0], "sigint")
    assert "did not finish within" in text


def test_no_process_outlives_the_run(hostile_class):
    if os.getuid() != 0:
        pytest.skip("student code runs as nobody only when grading as root")
    left = subprocess.run(["pgrep", "-u", str(NOBODY)], capture_output=True, text=True)
    assert left.stdout.strip() == ""


def test_no_student_script_runs_in_the_feedback_or_the_stored_notebook(hostile_class):
    course = hostile_class[0]
    stored = (course / "autograded" / "xss" / "04-backprop" / "04-backprop.ipynb").read_text()
    page = (course / "feedback" / "xss" / "04-backprop" / "04-backprop.html").read_text()
    assert '<script>alert("pwned' not in page and "<img src=x onerror" not in page
    assert "Content-Security-Policy" in page
    cells = json.loads(stored)["cells"]
    kinds = {k for c in cells for o in c.get("outputs", []) for k in o.get("data", {})}
    assert kinds <= {"text/plain", "image/png", "image/jpeg"}, kinds
    assert "pwned-xss-1" in stored  # the student still sees what their output was, as text
    markdown = next(c for c in cells if "pwned-xss-4" in "".join(c["source"]))
    assert "shown as source" in "".join(markdown["source"])


def test_no_student_text_is_a_formula_in_any_csv_the_ta_opens(hostile_class):
    course = hostile_class[0]
    report = write_report(course)
    write_canvas(report, course / "canvas.csv")
    write_similarity("04-backprop", course)
    tables = sorted(course.glob("*.csv"))
    assert {p.name for p in tables} >= {"autograde-04-backprop.csv", "grades.csv", "totals.csv",
                                        "canvas.csv", "similarity-04-backprop.csv"}  # fmt: skip
    for table in tables:
        with table.open(newline="") as f:
            cells = [cell for row in csv.reader(f) for cell in row]
        formulas = [c for c in cells if _formula(c)]
        assert not formulas, (table.name, formulas)
        if table.name != "question_stats.csv":  # the student is there, as text
            assert "'" + FORMULA in cells, table.name


def _formula(cell: str) -> bool:
    """Would a spreadsheet run this cell? It starts like a formula and is not a number."""
    number = re.fullmatch(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?", cell)
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not number
