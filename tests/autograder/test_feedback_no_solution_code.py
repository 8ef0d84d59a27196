"""Does any feedback line hand over the solution's code? (issue 11: hints diagnose, they do
not dictate code.)

Every scorer is driven with a broad set of typical wrong answers, per task; every feedback
line it can write, and every gradlib report line for planted backprop bugs, is collected.
No line may contain the code of a solution cell: no line of it and no expression in it of
15 characters or more (whitespace ignored), nor one of a few recipes that give the answer
away however they are spelled ("sorted(", "key=", "np.concatenate(", ...).
"""

import ast
import re
import textwrap
from functools import cache

import nbformat
import numpy as np
import pytest

from autograder.assignments import backprop, derivatives, gradient_checking, in_practice
from autograder.assignments import unrolling as unroll
from autograder.course import SOLUTIONS
from autograder.grading import grade_answer
from autograder.harness import Unreadable, call_here
from gradlib import check_gradients, nn
from gradlib.netgrad import check_network

MIN_LENGTH = 15  # characters, whitespace removed
FORBIDDEN = (
    "(f(x + eps) - f(x - eps))",
    "(f(x + eps) - f(x))",
    "sorted(",
    "key=",
    "np.concatenate",
    ".reshape(",
    ".copy()",
    "np.sum(",
    "np.mean(",
    "np.linalg.norm(",
    "keepdims",
    "axis=",
    "np.random.default_rng(",
    "A_prev.T",
    "write (",
)
_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@cache
def solution_fragments() -> dict[str, str]:
    """Squeezed code -> where it comes from: each line and each expression of ≥ MIN_LENGTH
    characters between ### BEGIN SOLUTION and ### END SOLUTION, in every notebook."""
    found = {}
    for path in sorted(SOLUTIONS.glob("*/*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for region in _REGION.findall(cell.source):
                code = textwrap.dedent(region)
                pieces = [line.strip() for line in code.splitlines()]
                pieces += [ast.unparse(n) for n in ast.walk(ast.parse(code))
                           if isinstance(n, ast.expr | ast.stmt) and not _bare(n)]  # fmt: skip
                for piece in pieces:
                    squeezed = _squeeze(piece)
                    if len(squeezed) >= MIN_LENGTH and not squeezed.startswith("#"):
                        found.setdefault(squeezed, f"{path.stem}: {piece.splitlines()[0]}")
    return found


def _bare(node: ast.AST) -> bool:
    """A name, a dotted name or a constant: what the task itself names (one_sided_difference,
    dtheta_approx, "two-sided"), not code that computes anything."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name | ast.Constant)


def test_the_fragments_cover_every_notebook_and_the_known_answers():
    fragments = solution_fragments()
    assert len(fragments) > 100
    for known in ("(f(x+eps)-f(x-eps))/(2*eps)", "np.concatenate(blocks)",
                  "np.random.default_rng((seed,l))", "np.sum(dZ,axis=1,keepdims=True)/m",
                  "{label.split('[')[0]forlabelinreport.kinks}"):  # fmt: skip
        assert any(known in f for f in fragments), known


def _assert_no_code(lines: list[str], where: str):
    fragments = solution_fragments()
    assert lines, f"{where}: no feedback collected"
    for line in lines:
        squeezed = _squeeze(line)
        for fragment, origin in fragments.items():
            assert fragment not in squeezed, f"{where}: {line!r} contains {origin!r}"
        for recipe in FORBIDDEN:
            assert recipe not in line, f"{where}: {line!r} contains {recipe!r}"


# --- 01-derivatives -------------------------------------------------------------------


def _lines_01() -> list[str]:
    lines = []
    for task_id in ("test_one_sided", "test_two_sided"):
        task = derivatives.TASKS[task_id]
        for seed in (1, 2):
            inputs = task.draw(seed)
            f, df = derivatives._functions(inputs)
            points = list(zip(inputs["x"], inputs["eps"], strict=True))
            keys = [*derivatives._variants(f, 0.5, 0.1), "exact", "1.01", "bad"]
            for key in keys:
                answer = []
                for x, e in points:
                    v = derivatives._variants(f, float(x), float(e))
                    answer.append({"exact": df(x), "1.01": 1.01 * v.get("central", 0),
                                   "bad": None}.get(key, v.get(key)))  # fmt: skip
                lines += task.score(answer, inputs, 2.0).lines
    slope = derivatives.TASKS["test_loglog_slope"]
    inputs = slope.draw(3)
    for value in [*derivatives._fits(inputs).values(), 0.0, [1.0, 2.0], "x", None]:
        lines += slope.score(value, inputs, 2.0).lines
    best = derivatives.TASKS["test_best_eps"]
    inputs = best.draw(4)
    for pair in ([1e-8, 1e-5], [1e-4, 1e-4], [17.0, 1e-20], [1e-2, 1e-12], [-1.0, 1e-3]):
        lines += best.score([pair] * len(inputs), inputs, 2.0).lines
    return lines


# --- 02-unrolling ---------------------------------------------------------------------


def _lines_02() -> list[str]:
    T = unroll.TASKS
    lines = []
    names = T["test_theta_order"].draw(5)["names"]
    orders = [f for f, _ in unroll.MISORDERS.values()] + [list, lambda ns: list(ns)[:-1]]
    for order in orders:
        lines += T["test_theta_order"].score(order(names), {"names": names}, 2.0).lines
    inputs = T["test_params_to_theta"].draw(5)
    params = inputs["params"]
    for order in [*orders[:-1], unroll.theta_names]:
        for ravel in "CF":
            theta = np.concatenate([params[n].ravel(order=ravel) for n in order(list(params))])
            lines += T["test_params_to_theta"].score(theta, inputs, 3.0).lines
    for bad in ([params[n].ravel() for n in params], np.ones((3, 4)), None, "θ"):
        lines += T["test_params_to_theta"].score(bad, inputs, 3.0).lines
    inputs = T["test_grads_to_theta"].draw(5)
    grads = inputs["grads"]
    for keys in (list(grads), sorted(grads), [k for k in grads if k[1] != "A"]):
        dtheta = np.concatenate([grads[k].ravel() for k in keys])
        lines += T["test_grads_to_theta"].score(dtheta, inputs, 2.0).lines
    inputs = T["test_theta_to_params"].draw(5)
    theta, shapes = inputs["theta"], inputs["shapes"]
    for order in [*orders[:-1], unroll.theta_names]:
        for ravel in "CF":
            out, start = {}, 0
            for n in order(list(shapes)):
                size = int(np.prod(shapes[n]))
                out[n] = theta[start : start + size].reshape(shapes[n], order=ravel)
                start += size
            lines += T["test_theta_to_params"].score(out, inputs, 3.0).lines
    inputs = T["test_locate_index"].draw(5)
    spec = unroll.ParamSpec.from_shapes({n: tuple(s) for n, s in inputs["shapes"].items()})
    for shift in (-1, 1, 3):
        answers = []
        for i in inputs["indices"]:
            name, index = spec.locate(int(i))
            shape = spec.shapes[spec.names.index(name)]
            flat = (int(np.ravel_multi_index(index, shape)) + shift) % int(np.prod(shape))
            answers.append((name, np.unravel_index(flat, shape, order="F" if shift == 3 else "C")))
        lines += T["test_locate_index"].score(answers, inputs, 3.0).lines
    for order in orders[:5]:
        wrong = unroll._spec(inputs["shapes"], order(list(spec.names)))
        answers = [wrong.locate(int(i)) for i in inputs["indices"]]
        lines += T["test_locate_index"].score(answers, inputs, 3.0).lines
    lines += T["test_locate_index"].score([None] * 6, inputs, 3.0).lines
    return lines


# --- 03-gradient-checking -------------------------------------------------------------

RELATIVE_DIFF = """
import numpy as np
def relative_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if den == 0 else float(np.linalg.norm(a - b) / den)
"""
LOOP = """
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += eps
        minus[i] -= eps
        approx[i] = (J(plus) - J(minus)) / (2 * eps)
    return relative_diff(grad, approx), approx
"""
LOOP_SLIPS = [
    ("(J(plus) - J(minus)) / (2 * eps)", "(J(plus) - J(theta)) / eps"),
    ("(J(plus) - J(minus)) / (2 * eps)", "(J(plus) - J(minus)) / eps"),
    ("(J(plus) - J(minus)) / (2 * eps)", "(J(plus) - J(minus))"),
    ("(J(plus) - J(minus)) / (2 * eps)", "(J(minus) - J(plus)) / (2 * eps)"),
    ("plus, minus = theta.copy(), theta.copy()", "plus, minus = theta, theta"),
    ("plus[i] += eps", "plus[i] += 1e-7"),
    ("range(theta.size)", "range(theta.size - 1)"),
    ("relative_diff(grad, approx)", "np.linalg.norm(grad - approx)"),
    ("return relative_diff(grad, approx), approx", "return relative_diff(grad, approx)"),
]
NORMS = [
    "np.abs(a - b).sum() / (np.abs(a).sum() + np.abs(b).sum())",
    "np.linalg.norm(a - b)",
    "np.linalg.norm(a - b) / np.linalg.norm(a + b)",
    "np.linalg.norm(a - b) / np.linalg.norm(b)",
    "np.linalg.norm(a - b) ** 2 / (np.linalg.norm(a) ** 2 + np.linalg.norm(b) ** 2)",
    "np.linalg.norm(a - b, 2) / (np.linalg.norm(a, 2) + np.linalg.norm(b, 2))",
    "np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))",
]


def _graded(module, task_id: str, source: str, seed: int = 7, needs=True):
    task = module.TASKS[task_id]
    namespace = {}
    exec(source, namespace)
    inputs = task.draw(seed)
    names = (task.function, *task.needs) if needs else (task.function,)
    answer = call_here(task.call, names, namespace, inputs)
    return grade_answer(task, answer, inputs, 4.0).lines


def _lines_03() -> list[str]:
    gc = gradient_checking
    lines = []
    with np.errstate(all="ignore"):
        for body in NORMS:
            source = f"import numpy as np\ndef relative_diff(a, b):\n    return {body}\n"
            lines += _graded(gc, "test_relative_diff", source)
    for old, new in LOOP_SLIPS:
        lines += _graded(gc, "test_grad_check", RELATIVE_DIFF + LOOP.replace(old, new))
    for rule in ("d < 1e-7", "d < 1e-5", "d <= 1e-3"):
        source = f"def verdict(d):\n    return 'correct' if {rule} else 'wrong'\n"
        lines += _graded(gc, "test_verdict", source)
    inputs = gc._draw_faulty(5)
    cases = [inputs["cases"][k] for k in sorted(inputs["cases"], key=int)]
    for case in cases:
        index, spec = gc._faulty_truth(case)
        block, (row, col) = gc._parse_label(spec.label(index))
        for label in (f"{block}[{col}, {row}]", f"{block}[{row + 1}, {col}]", "Z1[0, 0]",
                      "theta[3]", 17, None, "W1[0, 0]", "b3[0, 0]"):  # fmt: skip
            lines.append(gc._judge_label(label, index, spec, case)[1])
    return lines


# --- 04-backprop ----------------------------------------------------------------------


@cache
def _cells(notebook: str) -> dict[str, str]:
    nb = nbformat.read(SOLUTIONS / notebook / f"{notebook}.ipynb", as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}


def _backprop_source(old: str = "", new: str = "") -> str:
    cells = _cells("04-backprop")
    source = "import numpy as np\n" + "\n".join(
        cells[k] for k in ("forward_helpers", "L_model_forward", "compute_cost", "L_model_backward")
    )
    assert old in source
    return source.replace(old, new) if old else source


BACKWARD_BUGS = [
    ("dZ = dA * (Z > 0)", "dZ = dA"),
    ("dZ = dA * (Z > 0)", "dZ = dA * (Z < 0)"),
    ("dZ = dA * (Z > 0)", "dZ = dA * (dA > 0)"),
    ("dZ = dA * (Z > 0)", "dZ = dA * Z"),
    ("dW = dZ @ A_prev.T / m + lambd / m * W", "dW = dZ @ A_prev.T + lambd / m * W"),
    ("dW = dZ @ A_prev.T / m + lambd / m * W", "dW = dZ @ A_prev.T / m"),
    ("dW = dZ @ A_prev.T / m + lambd / m * W", "dW = dZ @ A_prev.T / m + lambd * W"),
    ("dW = dZ @ A_prev.T / m + lambd / m * W", "dW = A_prev @ dZ.T / m + lambd / m * W"),
    ("dW = dZ @ A_prev.T / m + lambd / m * W", "dW = 2 * dZ @ A_prev.T / m + lambd / m * W"),
    ("db = np.sum(dZ, axis=1, keepdims=True) / m", "db = np.sum(dZ, axis=1, keepdims=True)"),
    ("db = np.sum(dZ, axis=1, keepdims=True) / m", "db = np.sum(dZ) / m + 0 * b"),
    ("db = np.sum(dZ, axis=1, keepdims=True) / m", "db = dZ[:, :1]"),
    ("db = np.sum(dZ, axis=1, keepdims=True) / m",
     "db = np.sum(dZ, axis=1, keepdims=True) / m + lambd / m * b"),
    ("dZ = AL - Y", "dZ = Y - AL"),
    ("dZ = AL - Y", "dZ = (AL - Y) * AL * (1 - AL)"),
    ("Z = W @ A_prev + b", "Z = W @ A_prev"),
    ("relu(Z) if l < L else sigmoid(Z)", "relu(Z)"),
    ('grads[f"dW{l}"], grads[f"db{l}"]', 'grads[f"dW{l - 1}"], grads[f"db{l - 1}"]'),
    ('grads[f"dW{l}"], grads[f"db{l}"]', 'grads[f"db{l}"], grads[f"dW{l}"]'),
    ("for l in range(L, 0, -1):", "for l in range(L, 1, -1):"),
    ("    dW = dZ @ A_prev.T / m + lambd / m * W",
     "    reg = W\n    reg *= lambd / m\n    dW = dZ @ A_prev.T / m + reg"),
]  # fmt: skip


def _lines_04() -> list[str]:
    lines = []
    for old, new in BACKWARD_BUGS:
        source = _backprop_source(old, new)
        for task in ("test_forward", "test_backward"):
            lines += _graded(backprop, task, source)
    cost = backprop.TASKS["test_cost"]
    inputs = cost.draw(3)
    AL, Y, params, lambd = (inputs[k] for k in ("AL", "Y", "params", "lambd"))
    m, data = Y.shape[1], nn.cost(AL, Y)
    norms = sum(float(np.sum(params[f"W{k}"] ** 2)) for k in (1, 2, 3))
    for value in (data, data + lambd * norms / m, data + lambd * norms / 2, m * data,
                  data + lambd * norms, -data, np.ones(3), None):  # fmt: skip
        lines += cost.score(value, inputs, 2.0).lines
    fixed = backprop.TASKS["test_backward_fixed"]
    colleague = _cells("04-backprop")["provided_3layer"]
    for old, new in (("", ""), ("dW2 = 1.0 / m * dZ2 @ A1.T * 2", "dW2 = 1.0 / m * dZ2 @ A1.T")):
        body = colleague.replace("def backward_with_bugs", "def backward_fixed")
        lines += _graded(backprop, fixed.grade_id, "import numpy as np\n" + body.replace(old, new))
    buggy = backprop.TASKS["test_buggy_blocks"]
    inputs = buggy.draw(4)
    truth = [backprop._wrong_blocks(inputs["cases"][k]) for k in "012"]
    for answer in ([{"dW1"}, {"db1"}, {"dZ9"}], [{b.lower() for b in t} for t in truth],
                   [set(), set(), set()], "dW2"):  # fmt: skip
        lines += buggy.score(answer, inputs, 2.0).lines
    return lines


def _report_lines() -> list[str]:
    """gradlib's own report lines (what a notebook shows) for planted backprop bugs."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(4, 9)), (rng.random((1, 9)) < 0.5).astype(float)
    params = nn.init_params([4, 5, 3, 1], seed=0)
    for k in (1, 2, 3):
        params[f"b{k}"] = rng.normal(scale=0.3, size=params[f"b{k}"].shape)
    right = nn.network_gradients(params, X, Y, lambd=0.7)
    bugs = {
        "dW2": lambda g: 2 * g, "db1": lambda g: 4 * g, "dW3": lambda g: -g,
        "dW1": lambda g: g.T if g.shape[0] == g.shape[1] else 0 * g,
        "db2": lambda g: np.full_like(g, g.sum()),
    }  # fmt: skip
    lines = []
    for name, bug in bugs.items():
        grads = dict(right, **{name: bug(right[name])})
        for report in (
            check_network(params, X, Y, grads, lambd=0.7),
            check_gradients(lambda p: nn.network_cost(p, X, Y), params, grads),
        ):
            lines += report.summary().splitlines()
    return lines


# --- 05-in-practice -------------------------------------------------------------------


def _lines_05() -> list[str]:
    T = in_practice.TASKS
    lines = []
    reg = T["test_regularized_cost"]
    inputs = reg.draw(11)
    params, X, Y, lambd = (inputs[k] for k in ("params", "X", "Y", "lambd"))
    m, data = Y.shape[1], nn.network_cost(params, X, Y)
    norms = sum(float(np.sum(params[f"W{k}"] ** 2)) for k in (1, 2, 3))
    for value in (data, data + lambd * norms / m, data + lambd * norms / 2, data + 0.1,
                  m * data + lambd * norms / (2 * m), np.ones(3), np.nan, "x"):  # fmt: skip
        lines += reg.score(value, inputs, 3.0).lines
    drop = T["test_cost_with_fixed_dropout"]
    inputs = drop.draw(13)
    truth = nn.network_cost(inputs["params"], inputs["X"], inputs["Y"],
                            keep_prob=inputs["keep_prob"], dropout_seed=inputs["seed"])  # fmt: skip
    values = [[truth, truth * 1.01], [truth + 0.1] * 2, [0.5]]
    for how in ("reference", "inverted", "one_generator", "same_seed"):
        for scale in (True, False):
            masks = in_practice._masks(inputs, how)
            v = in_practice._dropout_cost(inputs["params"], inputs["X"], inputs["Y"], masks, scale)
            values.append([v, v])
    plain = nn.network_cost(inputs["params"], inputs["X"], inputs["Y"])
    for value in [*values, [plain, plain]]:
        lines += drop.score(value, inputs, 4.0).lines
    kinks = T["test_kinked_blocks"]
    inputs = kinks.draw(3)
    truth = [in_practice._kinked(inputs["cases"][k]) for k in "012"]
    for answer in ([set()] * 3, [{"W3"}] * 3, [{"Z1", "w1"}] * 3, [{t.pop()} if t else {"W1"}
                   for t in map(set, truth)], "W1"):  # fmt: skip
        lines += kinks.score(answer, inputs, 3.0).lines
    bad = Unreadable("Tensor", "tensor(1.)", "no float")
    lines += reg.score(bad, reg.draw(1), 3.0).lines
    return lines


@pytest.mark.parametrize(
    "collect",
    [_lines_01, _lines_02, _lines_03, _lines_04, _report_lines, _lines_05],
    ids=["01", "02", "03", "04", "reports", "05"],
)
def test_no_feedback_line_contains_solution_code(collect):
    lines = collect()
    assert len(lines) > 20
    _assert_no_code(lines, collect.__name__)


def test_the_check_would_catch_the_old_hints():
    # what 01, 02 and 04 used to say: each must trip the check above
    old = [
        "✗ two_sided_difference: … write (f(x + eps) - f(x - eps)) / (2 * eps).",
        "✗ θ should be one flat array, got a list of pieces: np.concatenate the blocks.",
        "✗ your order is string order (sorted(names))",
        "every entry of db1 is the same number: use np.sum(dZ1, axis=1, keepdims=True).",
    ]
    for line in old:
        with pytest.raises(AssertionError):
            _assert_no_code([line], "old")
