"""The tamper catalog, through the real autograde: does any trick earn an undeserved point?

One class of hostile students is graded once (in parallel, sandboxed); each test reads
what one of them got. Every student starts from the correct solutions, so a trick that
worked would show as points on the function it tampered with.
"""

import json
import os
import socket
from pathlib import Path

import nbformat
import pytest

from autograder import demo
from autograder.autograde import autograde
from autograder.course import SOLUTIONS
from autograder.report import collect
from autograder.sandbox import bwrap

pytestmark = pytest.mark.slow
SECRET = "tamper-test-secret-do-not-leak"
FULL = demo.FULL
NO_BACKWARD = {**FULL, "test_backward": 0.0}
# Sabotage of numpy or gradlib also breaks the student's own grad check in buggy_blocks,
# which runs where the notebook's cells ran: that costs them, and no one else.
SELF_SABOTAGE = {**NO_BACKWARD, "test_buggy_blocks": 0.0}
TIMEOUT = 8

FAKE_ARRAYS = """\
def L_model_backward(AL, Y, caches, lambd):
    class Fake:
        def __eq__(self, other):
            return True
        def __array__(self, dtype=None, copy=None):
            import numpy
            return numpy.zeros((1, 1))
    return {f"{k}{l}": Fake() for l in range(1, len(caches) + 1) for k in ("dW", "db")}
"""

DETECT_GRADER = demo.answers()["L_model_backward"].replace(
    "    return grads",
    "    import os\n    if os.environ.get('NBGRADER_EXECUTION'):\n"
    "        grads = {k: 0 * v for k, v in grads.items()}\n    return grads",
)

NUMERIC = """\
def L_model_backward(AL, Y, caches, lambd):
    from gradlib import numerical_gradient, params_to_vector, vector_to_params
    X = caches[0][0][0]
    params = {}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        params[f"W{l}"], params[f"b{l}"] = W, b
    theta, spec = params_to_vector(params)
    def J(t):
        p = vector_to_params(t, spec)
        A, _ = L_model_forward(X, p)
        return compute_cost(A, Y, p, lambd)
    g = vector_to_params(numerical_gradient(J, theta), spec)
    return {"d" + k: v for k, v in g.items()}
"""

# Issue 10's attacks: the grading call redirected, the answer forged, the reference reached
# around any watch, numeric differentiation passed off as backprop.
HIJACK = """\
import builtins, gradlib.nn
_real_exec = builtins.exec
def _exec(code, *args, **kw):
    if args and isinstance(args[0], dict) and "_CALL" in args[0]:
        args[0]["_CALL"] = "_out = gradlib.nn.network_gradients(...)"
    return _real_exec(code, *args, **kw)
builtins.exec = _exec
def L_model_backward(AL, Y, caches, lambd):
    import gradlib.nn
    params = {}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        params[f"W{l}"], params[f"b{l}"] = W, b
    return gradlib.nn.network_gradients(params, caches[0][0][0], Y, lambd=lambd)
"""

FORGE = (
    demo.ZERO_BACKWARD
    + """import json, sys, os
_dumps = json.dumps
def _forged(obj, *a, **k):
    if isinstance(obj, dict):
        obj.pop("tripped", None)
        obj["ok"] = True
    return _dumps(obj, *a, **k)
json.dumps = _forged
class _Swallow:
    def write(self, text):
        return len(text)
    def flush(self):
        pass
sys.stdout = _Swallow()
for fd in range(3, 64):  # write a forged answer line to every open descriptor
    try:
        os.write(fd, b'{"id": "x", "ok": true, "value": null, "tripped": []}\\n')
    except OSError:
        pass
"""
)


def _bypass(body: str, prelude: str = "") -> str:
    return (
        prelude
        + f"""\
def L_model_backward(AL, Y, caches, lambd):
    params = {{}}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        params[f"W{{l}}"], params[f"b{{l}}"] = W, b
    return {body}
"""
    )


BYPASSES = {
    "captured": _bypass(
        "_kept[0](params, caches[0][0][0], Y, lambd=lambd)",
        "import gradlib.nn\n_kept = [gradlib.nn.network_gradients]\n",
    ),
    "partial": _bypass(
        "_p(params, caches[0][0][0], Y, lambd=lambd)",
        "import functools, gradlib.nn\n_p = functools.partial(gradlib.nn.network_gradients)\n",
    ),
    "getattr": _bypass(
        "getattr(__import__('gradlib.nn').nn, 'network_' + 'gradients')"
        "(params, caches[0][0][0], Y, lambd=lambd)"
    ),
    "getsource": _bypass(
        "_ns['network_gradients'](params, caches[0][0][0], Y, lambd=lambd)",
        "import inspect, gradlib.nn\n_ns = {}\nexec(inspect.getsource(gradlib.nn), _ns)\n",
    ),
    "sourcefile": _bypass(
        "_ns['network_gradients'](params, caches[0][0][0], Y, lambd=lambd)",
        f"_ns = {{}}\nexec(open({str(SOLUTIONS.parent / 'gradlib' / 'nn.py')!r}).read(), _ns)\n",
    ),
    "scipy": _bypass(
        "_scipy_grads(params, caches[0][0][0], Y, lambd)",
        """\
from scipy.optimize._numdiff import approx_derivative
def _scipy_grads(params, X, Y, lambd):
    import numpy as np
    names = list(params)
    sizes = [params[n].size for n in names]
    theta = np.concatenate([params[n].ravel() for n in names])
    def J(t):
        p, k = {}, 0
        for n, size in zip(names, sizes):
            p[n] = t[k : k + size].reshape(params[n].shape)
            k += size
        A, _ = L_model_forward(X, p)
        return compute_cost(A, Y, p, lambd)
    g = approx_derivative(J, theta, method="cs")
    out, k = {}, 0
    for n, size in zip(names, sizes):
        out["d" + n] = g[k : k + size].reshape(params[n].shape)
        k += size
    return out
""",
    ),
}

# A complex step written by hand, on a complex-safe forward (no 1j literal): exact to 1e-16
# on the small problem, far too slow for the large one.
COMPLEX_STEP = """\
import numpy as np
def _J(params, X, Y, lambd):
    A = X
    L = len(params) // 2
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ A + params[f"b{l}"]
        A = np.where(Z.real > 0, Z, 0) if l < L else 1 / (1 + np.exp(-Z))
    m = Y.shape[1]
    ce = -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / m
    return ce + lambd / (2 * m) * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, L + 1))
def L_model_backward(AL, Y, caches, lambd):
    params = {}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        params[f"W{l}"], params[f"b{l}"] = W.astype(complex), b.astype(complex)
    X, h, grads = caches[0][0][0], 1e-30, {}
    for name, value in params.items():
        g = np.zeros(value.shape)
        for k in range(value.size):
            old = value.flat[k]
            value.flat[k] = old + complex(0, h)
            g.flat[k] = np.imag(_J(params, X, Y, lambd)) / h
            value.flat[k] = old
        grads["d" + name] = g
    return grads
"""


def _catalog(course: Path, port: int) -> list[demo.Student]:
    S = demo.Student
    gradebook = course / "gradebook.db"
    hidden = SOLUTIONS / "04-backprop" / "04-backprop.ipynb"
    snoop = f"""\
import os
print("secret:", os.environ.get("GRADKIT_SECRET"))
for path in [{str(gradebook)!r}, {str(hidden)!r}, {str(course / "submitted")!r}]:
    try:
        print("READ", path, os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(16))
    except OSError as e:
        print("blocked:", type(e).__name__)
try:
    open({str(gradebook)!r}, "wb").write(b"all grades gone")
    print("WROTE the gradebook")
except OSError as e:
    print("blocked:", type(e).__name__)
"""
    network = f"""\
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("CONNECTED")
except OSError as e:
    print("blocked:", type(e).__name__)
"""
    return [
        S("shadow", "shadows abs, print and isinstance; zero gradients", NO_BACKWARD,
          edits={"L_model_backward": demo.ZERO_BACKWARD},
          extra=("import numpy\nabs = lambda v: 0.0\nprint = lambda *a, **k: None\n"
                 "isinstance = lambda *a, **k: True",)),
        S("numpy", "patches numpy's comparisons and norm; zero gradients", SELF_SABOTAGE,
          edits={"L_model_backward": demo.ZERO_BACKWARD},
          extra=("import numpy\nnumpy.allclose = lambda *a, **k: True\n"
                 "numpy.isclose = lambda *a, **k: True\nnumpy.linalg.norm = lambda *a, **k: 0.0\n"
                 "numpy.testing.assert_allclose = lambda *a, **k: None",)),
        S("modules", "replaces gradlib and autograder in sys.modules; zero gradients",
          SELF_SABOTAGE,
          edits={"L_model_backward": demo.ZERO_BACKWARD},
          extra=("import numpy, sys, types\nfake = types.ModuleType('gradlib')\n"
                 "fake.check_gradients = lambda *a, **k: 'correct'\n"
                 "sys.modules['gradlib'] = fake\nsys.modules['gradlib.nn'] = fake\n"
                 "sys.modules['autograder'] = types.ModuleType('autograder')",)),
        S("fakes", "returns objects with a lying __eq__ and __array__", NO_BACKWARD,
          edits={"L_model_backward": FAKE_ARRAYS}),
        S("hide", "hides tracebacks; backward raises", NO_BACKWARD,
          edits={"L_model_backward": "def L_model_backward(*a):\n    raise ValueError('x')\n"},
          extra=("ip = get_ipython()\nip.showtraceback = lambda *a, **k: None\n"
                 "ip.showsyntaxerror = lambda *a, **k: None",)),
        S("exit", "calls sys.exit in a cell", FULL, extra=("import sys\nsys.exit(0)",)),
        S("killer", "kills the grading process when graded: that call alone earns nothing",
          NO_BACKWARD,
          edits={"L_model_backward": "def L_model_backward(*a):\n    import os, signal\n"
                                     "    os.kill(os.getpid(), signal.SIGKILL)\n"}),
        S("edits", "edits locked test cells, their points and grade flags", FULL,
          edits={"test_cost": "pass", "test_forward": "print('all good')"}),
        S("deleter", "deletes a test cell", FULL),
        S("snoop", "reads the secret, the gradebook, hidden tests; writes the gradebook", FULL,
          extra=(snoop,)),
        S("loop", "an endless loop in a cell", FULL, extra=("while True:\n    pass",)),
        S("memory", "allocates 6 GiB in a cell", FULL, extra=("x = bytearray(6 * 2**30)",)),
        S("membackward", "allocates 6 GiB when graded", NO_BACKWARD,
          edits={"L_model_backward": "def L_model_backward(*a):\n"
                                     "    return bytearray(6 * 2**30)\n"}),
        S("forkbomb", "forks without end", FULL, extra=("import os\nwhile True:\n    os.fork()",)),
        S("network", "opens a connection", FULL, extra=(network,)),
        S("detect", "returns zeros only when NBGRADER_EXECUTION is set", NO_BACKWARD,
          edits={"L_model_backward": DETECT_GRADER}),
        S("numeric", "numeric differentiation instead of backprop", NO_BACKWARD,
          edits={"L_model_backward": NUMERIC}),
        S("torch", "uses torch autograd", NO_BACKWARD,
          edits={"L_model_backward": "def L_model_backward(AL, Y, caches, lambd):\n"
                                     "    import torch\n    return torch.autograd.grad(AL, Y)\n"}),
        S("shortcut", "calls the reference backward", NO_BACKWARD,
          edits={"L_model_backward": demo.REFERENCE_BACKWARD}),
        S("hijack", "a blank release plus one cell that rewrites exec", demo.ZERO, blank=True),
        S("forge", "zero gradients, then forges the answer line and patches json", NO_BACKWARD,
          edits={"L_model_backward": FORGE}),
        *[S(name, f"reaches the reference backward: {name}", NO_BACKWARD,
            edits={"L_model_backward": source}) for name, source in BYPASSES.items()],
        S("complexstep", "complex-step derivative written by hand", NO_BACKWARD,
          edits={"L_model_backward": COMPLEX_STEP}),
        # The backward is graded on caches the grader builds itself: a right backward keeps
        # its points whatever the forward does (autograder.assignments.backprop).
        S("refforward", "answers L_model_forward with gradlib.nn.forward",
          {**FULL, "test_forward": 0.0},
          edits={"L_model_forward": "import gradlib.nn\ndef L_model_forward(X, parameters):\n"
                                    "    AL, caches = gradlib.nn.forward(X, parameters)\n"
                                    "    return AL, caches\n"}),
    ]  # fmt: skip


def _write(course: Path, student: demo.Student) -> None:
    nb = demo.submission(student)
    if student.name == "hijack":
        nb.cells.insert(2, nbformat.v4.new_code_cell(HIJACK))
    if student.name == "deleter":
        keep = [c.metadata.get("nbgrader", {}).get("grade_id") != "test_backward" for c in nb.cells]
        nb.cells = [c for c, k in zip(nb.cells, keep, strict=True) if k]
    if student.name == "edits":  # change what nbgrader must restore
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade_id") == "test_forward":
                meta["points"] = 100
            if meta.get("grade_id") == "test_backward":
                meta["grade"], meta["locked"] = False, False
                cell.source = "# no test here"
    folder = course / "submitted" / student.name / "04-backprop"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "04-backprop.ipynb")


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    course = tmp_path_factory.mktemp("hostile")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    students = _catalog(course, listener.getsockname()[1])
    for student in students:
        _write(course, student)
    before = os.environ.get("GRADKIT_SECRET")
    os.environ["GRADKIT_SECRET"] = SECRET  # the TA's environment holds it; kernels must not
    try:
        summary = autograde("04-backprop", course, workers=2, timeout=TIMEOUT)
    finally:
        if before is None:
            del os.environ["GRADKIT_SECRET"]
        else:
            os.environ["GRADKIT_SECRET"] = before
    connections = 0
    try:
        while True:
            listener.accept()
            connections += 1
    except OSError:
        pass
    listener.close()
    scores = {s: q for (s, a), q in collect(f"sqlite:///{course / 'gradebook.db'}").scores.items()}
    return course, students, summary, scores, connections


def _text(outputs) -> str:
    """All stream text of a cell's outputs (nbformat may store it as a list of lines)."""
    return "".join("".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
                   for o in outputs)  # fmt: skip


def _outputs(course, student):
    nb = json.loads(
        (course / "autograded" / student / "04-backprop" / "04-backprop.ipynb").read_text()
    )
    return nb["cells"]


def test_the_run_completes_for_every_hostile_student(hostile_class):
    _, students, summary, scores, _ = hostile_class
    assert summary.failed == {}
    assert sorted(summary.graded) == sorted(s.name for s in students)
    assert set(scores) == {s.name for s in students}


@pytest.mark.parametrize("name", [
    "shadow", "numpy", "modules", "fakes", "hide", "exit", "killer", "edits", "deleter", "snoop",
    "loop", "memory", "membackward", "forkbomb", "network", "detect", "numeric", "torch",
    "shortcut", "hijack", "forge", *BYPASSES, "complexstep", "refforward",
])  # fmt: skip
def test_no_trick_earns_an_undeserved_point(hostile_class, name):
    _, students, _, scores, _ = hostile_class
    student = next(s for s in students if s.name == name)
    assert scores[name] == student.expected, student.story


def _lines(course, student, grade_id):
    for cell in _outputs(course, student):
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            return cell["metadata"].get("gradkit", {}).get("lines", [])
    return []


@pytest.mark.parametrize("student, fragment", [
    ("shadow", "✗ dW1"),
    ("fakes", "dW1 has shape (1, 1)"),
    ("hide", "raised ValueError"),
    ("killer", "the grading process died"),
    ("membackward", "ran out of memory"),
    ("numeric", "numerical_gradient"),
    ("torch", "PyTorch autograd"),
    ("shortcut", "gradlib.nn"),
    ("detect", "✗ dW1"),
    ("complexstep", "numeric differentiation cannot within 3 s"),
    ("scipy", "only numpy and the standard library exist"),
])  # fmt: skip
def test_feedback_says_why(hostile_class, student, fragment):
    course = hostile_class[0]
    assert any(fragment in line for line in _lines(course, student, "test_backward"))


def test_the_sandbox_hides_the_secret_the_gradebook_and_hidden_tests(hostile_class):
    course = hostile_class[0]
    extra = _outputs(course, "snoop")[2]  # the student's inserted cell
    text = _text(extra["outputs"])
    assert "secret: None" in text and SECRET not in text
    assert "READ" not in text and "WROTE" not in text
    assert text.count("blocked:") == 4
    assert bwrap(), "bubblewrap must be installed for disk isolation (make test installs it)"


def test_the_gradebook_survives_a_student_writing_to_it(hostile_class):
    course, students, _, scores, _ = hostile_class
    assert (course / "gradebook.db").read_bytes()[:15] != b"all grades gone"
    assert len(scores) == len(students)


def test_no_connection_reaches_the_host(hostile_class):
    course, _, _, _, connections = hostile_class
    assert connections == 0
    text = _text(_outputs(course, "network")[2]["outputs"])
    assert "blocked:" in text and "CONNECTED" not in text


def test_memory_bomb_and_endless_loop_are_stopped(hostile_class):
    course = hostile_class[0]
    memory = _outputs(course, "memory")[2]["outputs"]
    assert any(o.get("ename") == "MemoryError" for o in memory)
    loop = _outputs(course, "loop")[2]["outputs"]
    assert any(o.get("ename") == "Stopped" and "did not finish" in o.get("evalue", "")
               for o in loop)  # fmt: skip
