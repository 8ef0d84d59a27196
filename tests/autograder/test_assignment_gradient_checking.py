"""03-gradient-checking: does each scorer reward the right answer and name each typical slip?

The student functions run through the task's own call (executed here in a plain namespace),
so the logging cost J is exercised too.
"""

import nbformat
import numpy as np
import pytest

from autograder.assignments import gradient_checking as gc
from autograder.course import SOLUTIONS
from autograder.grading import grade_answer
from autograder.harness import Unreadable, call_here
from gradlib import check_gradients, nn, relative_difference, thresholds

RELATIVE_DIFF = """
import numpy as np
def relative_diff(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    den = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if den == 0 else float(np.linalg.norm(a - b) / den)
"""

TWO_SIDED = """
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += eps
        minus[i] -= eps
        approx[i] = (J(plus) - J(minus)) / (2 * eps)
    return relative_diff(grad, approx), approx
"""


def _grade(task_id: str, source: str, seed: int = 7, max_points: float = 4.0, **names):
    """Run ``source`` and then the task's kernel code in one namespace; score the answer."""
    task = gc.TASKS[task_id]
    namespace = dict(names)
    exec(source, namespace)
    inputs = task.draw(seed)
    answer = call_here(task.call, (task.function, *task.needs), namespace, inputs)
    return grade_answer(task, answer, inputs, max_points)


def _text(score) -> str:
    return "\n".join(score.lines)


# --- relative_diff ----------------------------------------------------------------------


def test_the_draws_differ_per_seed_and_hold_only_arrays_and_floats():
    for task in gc.TASKS.values():
        a, b = task.draw(1), task.draw(1)
        assert a.keys() == b.keys()
    first, second = gc._draw_grad_check(1), gc._draw_grad_check(2)
    assert not np.array_equal(first["A"], second["A"]) or first["eps"] != second["eps"]
    for seed in range(20):
        draw = gc._draw_grad_check(seed)
        assert np.all(np.abs(draw["theta"]) < 1)  # gradlib's step is then exactly eps
        assert 1e-5 < draw["eps"] < 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_correct_relative_diff_earns_every_point(seed):
    score = _grade("test_relative_diff", RELATIVE_DIFF, seed, max_points=2.0)
    assert score.points == pytest.approx(2.0), _text(score)
    assert all(line.startswith("✓") for line in score.lines)


@pytest.mark.parametrize(
    "body, lost, hint",
    [
        ("np.abs(a - b).sum() / (np.abs(a).sum() + np.abs(b).sum())", 1.6, "1-norm"),
        ("n(a - b)", 1.6, "without the denominator"),
        ("n(a - b) / n(a + b)", 1.2, "not ‖a + b‖₂"),
        ("n(a - b, 2) / (n(a, 2) + n(b, 2)) if np.ndim(a) == 2 else n(a - b) / (n(a) + n(b))",
         0.4 + 0.4, "largest singular value"),  # the matrix case, and 0/0 in the zero case
        ("n(a - b) / (n(a) + n(b))", 0.4, "return 0.0 there"),
    ],
)  # fmt: skip
def test_each_slip_in_the_relative_difference_is_named(body, lost, hint):
    source = f"import numpy as np\nn = np.linalg.norm\ndef relative_diff(a, b):\n    return {body}"
    with np.errstate(all="ignore"):
        score = _grade("test_relative_diff", source, max_points=2.0)
    assert score.points == pytest.approx(2.0 - lost), _text(score)
    assert hint in _text(score)


def test_calling_gradlibs_relative_difference_earns_nothing(in_box):
    for source in (
        "from gradlib import relative_difference as rd\ndef relative_diff(a, b):\n"
        "    return rd(a, b)",
        "import gradlib\ndef relative_diff(a, b):\n    return gradlib.relative_difference(a, b)",
        "import gradlib\nrelative_diff = gradlib.relative_difference",
    ):
        score = in_box(gc.TASKS["test_relative_diff"], source, max_points=2.0)
        assert score.points == 0.0
        told = ("only numpy", "not defined", "library's answer (gradlib.relative_difference)")
        assert any(t in _text(score) for t in told), _text(score)


def test_relative_diff_answers_of_the_wrong_kind_earn_nothing_with_a_reason():
    inputs = gc._draw_relative(3)
    score = gc._score_relative_diff(
        ["0.1", None, Unreadable("Foo", "Foo()", "no"), np.ones(3), float("nan")], inputs, 2.0
    )
    assert score.points == 0.0
    text = _text(score)
    assert "got a str" in text and "got None" in text and "could not read a Foo" in text
    assert "shape (3,)" in text and "returned nan (0/0)" in text
    blank = [{"error": "NotImplementedError: "}] * 5
    assert gc._score_relative_diff(blank, inputs, 2.0).lines == [
        "✗ relative_diff is not implemented yet (it raises NotImplementedError)."
    ]


# --- grad_check -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_correct_grad_check_earns_every_point(seed):
    score = _grade("test_grad_check", RELATIVE_DIFF + TWO_SIDED, seed)
    assert score.points == pytest.approx(4.0), _text(score)
    assert all(line.startswith("✓") for line in score.lines)


LOOPS = {
    "one_sided": ("""
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        plus = theta.copy(); plus[i] += eps
        approx[i] = (J(plus) - J(theta)) / eps
    return relative_diff(grad, approx), approx
""", "one-sided difference (J(θ + εe_i) − J(θ)) / ε"),
    "not_restored": ("""
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        theta[i] += eps; up = J(theta)
        theta[i] -= 2 * eps; down = J(theta)
        approx[i] = (up - down) / (2 * eps)
    return relative_diff(grad, approx), approx
""", "several entries moved at once"),
    "divided_by_eps": ("""
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += eps; minus[i] -= eps
        approx[i] = (J(plus) - J(minus)) / eps
    return relative_diff(grad, approx), approx
""", "divided by ε instead of 2ε"),
    "no_copy": ("""
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        plus = theta; plus[i] += eps; up = J(plus)
        minus = theta; minus[i] -= eps; down = J(minus)
        approx[i] = (up - down) / (2 * eps)
    return relative_diff(grad, approx), approx
""", "the same array (not copies)"),
    "pseudo_code_without_copy": ("""
def grad_check(J, theta, grad, eps=1e-7):
    dtheta_approx = np.zeros(theta.shape)
    for i in range(theta.size):
        theta_plus = theta;  theta_plus[i] += eps
        theta_minus = theta;  theta_minus[i] -= eps
        dtheta_approx[i] = (J(theta_plus) - J(theta_minus)) / (2 * eps)
    return relative_diff(grad, dtheta_approx), dtheta_approx
""", "the very array θ (no copy)"),
    "own_eps": ("""
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += 1e-7; minus[i] -= 1e-7
        approx[i] = (J(plus) - J(minus)) / 2e-7
    return relative_diff(grad, approx), approx
""", "use the eps argument"),
    "skips_last": ("""
def grad_check(J, theta, grad, eps=1e-7):
    approx = np.zeros(theta.shape)
    for i in range(theta.size - 1):
        plus, minus = theta.copy(), theta.copy()
        plus[i] += eps; minus[i] -= eps
        approx[i] = (J(plus) - J(minus)) / (2 * eps)
    return relative_diff(grad, approx), approx
""", "loop over every entry"),
}  # fmt: skip


@pytest.mark.parametrize("slip", LOOPS)
def test_each_slip_in_the_loop_loses_the_approximation_and_is_named(slip):
    source, hint = LOOPS[slip]
    score = _grade("test_grad_check", RELATIVE_DIFF + source)
    assert score.points == pytest.approx(2.0), _text(score)  # the differences still count
    assert hint in _text(score)
    assert not any(line.startswith("✓ dtheta_approx") for line in score.lines)


def test_the_notebooks_pseudo_code_without_copy_is_not_blamed_on_the_divisor():
    score = _grade("test_grad_check", RELATIVE_DIFF + LOOPS["pseudo_code_without_copy"][0])
    text = _text(score)
    assert "no copy" in text and "divisor" not in text and "0 ×" not in text, text


def test_a_slip_in_the_difference_loses_only_the_differences():
    for formula, hint in [
        ("np.abs(grad - approx).sum() / (np.abs(grad).sum() + np.abs(approx).sum())", "1-norm"),
        ("np.linalg.norm(grad - approx)", "without the denominator"),
    ]:
        source = TWO_SIDED.replace("relative_diff(grad, approx)", formula)
        score = _grade("test_grad_check", RELATIVE_DIFF + source)
        assert score.points == pytest.approx(2.0), _text(score)
        assert _text(score).count(hint) == 2


def test_library_numerics_inside_grad_check_earn_nothing(in_box):
    for body in (
        "    r = gradlib.check_gradients(J, theta, grad, eps=eps)\n"
        "    return r.difference, r.blocks[0].numeric",
        "    a = gradlib.numerical_gradient(J, theta, eps=eps)\n"
        "    return relative_diff(grad, a), a",
    ):
        source = (
            RELATIVE_DIFF + "import gradlib\ndef grad_check(J, theta, grad, eps=1e-7):\n" + body
        )
        score = in_box(gc.TASKS["test_grad_check"], source)
        assert score.points == 0.0
        assert "Shortcuts earn nothing" in _text(score) or "only numpy" in _text(score)


def test_grad_check_answers_of_the_wrong_kind_earn_nothing_with_a_reason():
    inputs = gc._draw_grad_check(4)
    n = inputs["theta"].size
    cases = [
        (0.1, "should return (difference, dtheta_approx)"),
        ((0.1, np.zeros(n + 1)), f"θ has {n}"),
        ((0.1, np.full(n, np.nan)), "NaN"),
        ((None, "x"), "should be an array"),
    ]
    for answer, hint in cases:
        value = {"grad_ok": answer, "grad_bug": answer, "points": np.zeros((0, n))}
        score = gc._score_grad_check(value, inputs, 4.0)
        assert score.points <= 1.0 and hint in _text(score), (answer, _text(score))
    assert gc._score_grad_check(None, inputs, 4.0).points == 0.0


def test_the_reference_is_gradlibs_two_sided_difference_with_the_same_eps():
    inputs = gc._draw_grad_check(5)
    J, theta, eps = gc._cost(inputs), inputs["theta"], inputs["eps"]
    exact = gc._gradient_of_cost(inputs)
    loop = np.array(
        [(J(theta + eps * e) - J(theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)]
    )
    assert relative_difference(loop, exact) < 1e-6  # the analytic gradient is right
    value = {"grad_ok": (relative_difference(inputs["grad_ok"], loop), loop),
             "grad_bug": (relative_difference(inputs["grad_bug"], loop), loop)}  # fmt: skip
    assert gc._score_grad_check(value, inputs, 4.0).points == 4.0
    assert thresholds().verdict(relative_difference(inputs["grad_bug"], loop)) == "wrong"


# --- verdict ----------------------------------------------------------------------------


def test_the_verdict_draw_covers_every_band_and_both_edges():
    for seed in range(10):
        diffs = gc._draw_verdict(seed)["differences"]
        assert {1e-7, 1e-3, 0.0} <= set(diffs)
        assert {thresholds().verdict(d) for d in diffs} == {"correct", "suspicious", "wrong"}


def test_verdict_scores_by_the_lecture_scale_and_names_the_edges():
    right = (
        "def verdict(d):\n"
        "    return 'correct' if d <= 1e-7 else 'wrong' if d >= 1e-3 else 'suspicious'"
    )
    assert _grade("test_verdict", right, max_points=2.0).points == 2.0
    strict = right.replace("<=", "<").replace(">=", ">")
    score = _grade("test_verdict", strict, max_points=2.0)
    assert score.points == pytest.approx(2.0 * 11 / 13)
    assert "1e-7 itself is correct" in _text(score) and "1e-3 itself is wrong" in _text(score)
    loose = right.replace("d <= 1e-7", "d < 1e-5")
    assert "only ≤ 1e-7 is correct" in _text(_grade("test_verdict", loose, max_points=2.0))


def test_verdict_from_gradlib_thresholds_earns_nothing(in_box):
    source = "from gradlib import thresholds\ndef verdict(d):\n    return thresholds().verdict(d)"
    score = in_box(gc.TASKS["test_verdict"], source, max_points=2.0)
    assert score.points == 0.0 and "thresholds" in _text(score)


def test_verdict_answers_of_the_wrong_kind_are_explained():
    inputs = gc._draw_verdict(0)
    n = len(inputs["differences"])
    score = gc._score_verdict([1] * n, inputs, 2.0)
    assert score.points == 0.0 and 'return "correct"' in _text(score)
    score = gc._score_verdict(["ok"] * n, inputs, 2.0)
    assert score.points == 0.0 and "use exactly" in _text(score)


# --- faulty_element ---------------------------------------------------------------------

FAULTY = (
    RELATIVE_DIFF
    + TWO_SIDED
    + """
def faulty_element(J, theta, dtheta, spec):
    _, approx = grad_check(J, theta, dtheta)
    return spec.label(int(np.argmax(np.abs(approx - dtheta))))
"""
)
# Plausible wrong answers: the largest entry of dθ or of dθapprox instead of the largest gap.
LARGEST_DTHETA = FAULTY.replace("np.abs(approx - dtheta)", "np.abs(dtheta)")
LARGEST_APPROX = FAULTY.replace("np.abs(approx - dtheta)", "np.abs(approx)")


def test_a_row_column_swap_is_named_even_where_that_entry_does_not_exist():
    for seed in range(40):
        inputs = gc._draw_faulty(seed)
        case = inputs["cases"]["0"]  # a weight matrix that is not square
        index, spec = gc._faulty_truth(case)
        block, (row, col) = gc._parse_label(spec.label(index))
        rows, cols = case["params"][block].shape
        if col >= rows or row >= cols:  # "W2[3, 2]" for W2[2, 3] of a (3, 4) matrix
            break
    ok, line = gc._judge_label(f"{block}[{col}, {row}]", index, spec, case)
    assert not ok and "row and column are swapped" in line and "does not exist" not in line


def _provided_network() -> dict:
    """Run the notebook's own provided_network cell."""
    path = SOLUTIONS / gc.ASSIGNMENT / f"{gc.ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "provided_network"
    )
    namespace = {"np": np, "gradlib": __import__("gradlib")}
    exec(cell.source, namespace)
    return namespace


def test_the_notebooks_colleague_gets_exactly_one_entry_wrong():
    ns = _provided_network()
    params = ns["params_net"]
    report = check_gradients(ns["network_J"], params, ns["colleague_gradients"](params))
    assert [b.name for b in report.failing()] == ["W2"]
    worst = report.failing()[0].worst
    assert abs(worst[1][1] - worst[1][2]) < 1e-8  # only that one entry is off
    truth = nn.network_gradients(params, ns["X_net"], ns["Y_net"], hidden="tanh")
    clipped = {k: np.argwhere(np.abs(v) > 0.2).tolist() for k, v in truth.items()}
    assert {k: v for k, v in clipped.items() if v} == {"dW2": [[int(worst[0][0][3]), 3]]}


def _answers(source: str, seed: int) -> tuple[list, dict]:
    task = gc.TASKS["test_faulty_element"]
    namespace = {}
    exec(source, namespace)
    inputs = task.draw(seed)
    answer = call_here(task.call, (task.function, *task.needs), namespace, inputs)
    assert answer.ok, answer.error
    return answer.value, inputs


def test_only_the_largest_gap_names_the_faulty_entry_on_every_students_inputs():
    answers = []
    for seed in range(200):
        inputs = gc._draw_faulty(seed)
        answers.append([])
        for case in inputs["cases"].values():  # exactly one entry of dθ is wrong
            index, spec = gc._faulty_truth(case)
            wrong = np.flatnonzero(case["dtheta"] != gc._network_dtheta(
                case["params"], case["X"], case["Y"]))  # fmt: skip
            assert wrong.tolist() == [index]
            answers[-1].append(spec.label(index))
        value, _ = _answers(FAULTY, seed)
        assert gc._score_faulty_element(value, inputs, 2.0).full, seed
        for shortcut in (LARGEST_DTHETA, LARGEST_APPROX):
            value, _ = _answers(shortcut, seed)
            score = gc._score_faulty_element(value, inputs, 2.0)
            assert score.points == 0.0 and "not the largest gap" in _text(score), seed
    # the answers differ from student to student: the most common labels, case by case,
    # would earn a guesser under a tenth of the points, and no two students in 50 agree
    guessed = sum(max(map(case.count, case)) for case in zip(*answers, strict=True))
    assert guessed < 0.1 * 3 * len(answers)
    assert max(map(answers.count, answers)) <= 4


def test_faulty_element_is_graded_where_grading_runs(in_box):
    task = gc.TASKS["test_faulty_element"]
    assert in_box(task, FAULTY, seed=3, max_points=2.0).full
    fixed = in_box(task, 'def faulty_element(J, theta, dtheta, spec):\n    return "W2[2, 3]"\n',
                   seed=3, max_points=2.0)  # fmt: skip
    assert fixed.points == 0.0


def test_faulty_element_names_each_kind_of_wrong_label():
    inputs = gc._draw_faulty(5)
    cases = [inputs["cases"][k] for k in sorted(inputs["cases"], key=int)]
    right = [spec.label(i) for i, spec in (gc._faulty_truth(c) for c in cases)]
    block, (row, col) = gc._parse_label(right[0])  # case 0: a weight that is not square
    shape = cases[0]["params"][block].shape
    answers = {
        f" d{right[0]} ": "✓",
        f"{block}[{col}, {row}]": "row and column are swapped",  # "W2[3, 2]", even where
        f"{block}[{shape[0]}, 0]": "does not exist",  # that entry does not exist
        "Z1[0, 0]": "no block 'Z1'",
        "theta[17]": "spec.label(i)",
        17: "the number 17",
        None: "None",
        f"{block}[{(row + 1) % shape[0]}, {col}]": f"the wrong entry is in d{block}",
    }  # fmt: skip
    for answer, hint in answers.items():
        score = gc._score_faulty_element([answer, right[1], right[2]], inputs, 3.0)
        assert hint in score.lines[0], (answer, score.lines[0])
        assert score.points == (3.0 if hint == "✓" else 2.0)
