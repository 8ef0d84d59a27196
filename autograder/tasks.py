"""Graded tasks: what to call in the student's notebook, on which inputs, and how to score it.

A Task is bound to one nbgrader test cell (its ``grade_id``). The grader draws the inputs,
runs ``call`` in a grading process that holds the student's functions and only the
gradlib names the task allows (see autograder.callbox), and scores the returned value
here, in its own process. The same Task gives the students' visible self-checks on public
inputs (autograder.selfcheck).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autograder.harness import Unreadable
from gradlib import GradCheckError, GradCheckReport, relative_difference
from gradlib.netgrad import check_network
from gradlib.unroll import params_to_vector, sort_key

# float64 backprop agrees with the reference backward to ~1e-15 (other orders of the same
# operations: ~1e-14); finite differences to ~1e-10 at best, float32 to ~1e-7. A block
# earns its points only when it agrees with backprop this closely.
BACKPROP_AGREEMENT = 1e-12


@dataclass
class Score:
    """Points earned by one task, with the feedback lines that explain them.

    Each line is said once: repeats are dropped, and many blocks with the same problem
    (22 blocks not reshaped) share one line (see fold_repeats).
    """

    points: float
    max_points: float
    lines: list[str] = field(default_factory=list)
    blocks: dict[str, float] = field(default_factory=dict)
    report: GradCheckReport | None = None

    def __post_init__(self) -> None:
        self.lines = fold_repeats(self.lines)

    @property
    def full(self) -> bool:
        return self.points >= self.max_points - 1e-9


@dataclass(frozen=True)
class Task:
    """One graded question.

    Attributes
    ----------
    grade_id : nbgrader grade_id of the test cell
    function : name of the student's function (or variable) being graded
    call : Python run in the kernel with the inputs dict ``_in``; sets ``_out``
    draw : seed -> inputs dict (arrays, dicts of arrays, floats)
    score : (value, inputs, max_points) -> Score, run in the grader's process
    needs : other notebook names the call uses
    forbidden : dotted names (modules, functions, Class.method) that would answer for the
        student here, e.g. ("gradlib.unroll",); using one in plain sight earns 0 with a
        line that says so (see autograder.shortcuts)
    allowed : gradlib names (gradlib.MODULE.NAME) that exist where this task is graded;
        nothing else of gradlib does (see autograder.grading_site)
    large : seed -> inputs of a large instance (tens of thousands of parameters) that
        backprop answers in well under a second and numeric differentiation cannot
    exact : inputs -> the exact answer of a large instance (reference backprop)
    time_limit : seconds the large instance may take, timed by the grader
    """

    grade_id: str
    function: str
    call: str
    draw: Callable[[int], dict]
    score: Callable[[object, dict, float], Score]
    needs: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    large: Callable[[int], dict] | None = None
    exact: Callable[[dict], dict] | None = None
    time_limit: float = 3.0


# Problems of array_of_shape that many blocks can share, and what they share: when
# FOLD_AT or more blocks have one of them, one line says it for all.
FOLD_AT = 4
_SHAPE = r"^✗ (?P<name>\S+) has shape (?P<rest>.*) "
_SHARED = {
    "shape: reshape": (re.compile(_SHAPE + r"\(reshape it\)\.$"),
                       "hold the right number of entries in another shape: reshape each one"),
    "shape: transposed": (re.compile(_SHAPE + r"\(transposed\?\)\.$"), "are transposed"),
    "missing": (re.compile(r"^✗ (?P<name>\S+) is missing \(got None\)\.$"),
                "are missing (got None)"),
    "nan": (re.compile(r"^✗ (?P<name>\S+) contains NaN or inf\.$"), "contain NaN or inf"),
}  # fmt: skip


def fold_repeats(lines: list[str]) -> list[str]:
    """Feedback lines, each said once: exact repeats dropped, and FOLD_AT or more lines with
    one shared problem of blocks folded into the first one's place, e.g. "✗ 22 blocks (W1,
    b1, W2 and 19 more) hold the right number of entries in another shape: reshape each
    one; e.g. W1 has shape (12,), expected (4, 3)."
    """
    lines = list(dict.fromkeys(lines))
    groups: dict[str, list[tuple[int, re.Match]]] = {}
    for i, line in enumerate(lines):
        for k, (pattern, _) in _SHARED.items():
            if match := pattern.match(line):
                groups.setdefault(k, []).append((i, match))
                break
    folded: dict[int, str] = {}  # index of a group's first line -> its summary
    gone: set[int] = set()
    for k, members in groups.items():
        if len(members) < FOLD_AT:
            continue
        names = [m["name"] for _, m in members]
        who = f"{len(names)} blocks ({', '.join(names[:3])} and {len(names) - 3} more)"
        first = members[0][1]
        example = f"; e.g. {first['name']} has shape {first['rest']}" if "shape" in k else ""
        folded[members[0][0]] = f"✗ {who} {_SHARED[k][1]}{example}."
        gone.update(i for i, _ in members[1:])
    return [folded.get(i, line) for i, line in enumerate(lines) if i not in gone]


def value_scorer(reference: Callable[[dict], object], what: str, rtol: float = 1e-6):
    """Score that gives full points when the answer equals ``reference(inputs)``."""

    def score(value, inputs: dict, max_points: float) -> Score:
        truth = np.asarray(reference(inputs), dtype=float)
        got, problem = array_of_shape(value, truth.shape, what)
        if problem:
            return Score(0.0, max_points, [problem])
        rel = relative_difference(got, truth)
        if rel <= rtol:
            return Score(
                max_points, max_points, [f"✓ {what} is right (relative difference {rel:.1e})."]
            )
        k = int(np.argmax(np.abs(got - truth)))
        where = f"[{', '.join(map(str, np.unravel_index(k, truth.shape)))}]" if truth.ndim else ""
        return Score(0.0, max_points, [
            f"✗ {what} is wrong: relative difference {rel:.2e} to the reference; largest "
            f"difference at {what}{where}: yours {got.flat[k]:.6g} vs expected {truth.flat[k]:.6g}."
        ])  # fmt: skip

    return score


def gradient_scorer(hidden: str = "relu", output: str = "sigmoid", reference=None):
    """Score a grads dict by grad check against the reference cost, point by block.

    ``reference(inputs) -> grads`` is the reference analytic gradient: with it, a block
    earns its points only when it also agrees with backprop to BACKPROP_AGREEMENT, so
    neither numeric differentiation nor a "suspicious" near miss earns anything.
    """

    def score(value, inputs: dict, max_points: float) -> Score:
        params, X, Y, lambd = inputs["params"], inputs["X"], inputs["Y"], inputs["lambd"]
        _, spec = params_to_vector(params)
        share = max_points / len(spec.names)
        if not isinstance(value, dict):
            return Score(0.0, max_points, [
                f"✗ expected a dict of gradients with keys dW1, db1, …, got {kind_of(value)}."
            ])  # fmt: skip
        grads, blocks, broken = {}, {}, {}
        for name, shape in zip(spec.names, spec.shapes, strict=True):
            got = value.get("d" + name, value.get(name))
            arr, problem = array_of_shape(got, shape, "d" + name)
            if problem:
                broken[name] = (got, problem)
                blocks[name] = 0.0
                arr = np.zeros(shape)
            grads["d" + name] = arr
        try:
            report = check_network(params, X, Y, grads, hidden=hidden, output=output, lambd=lambd)
        except GradCheckError as exc:
            return Score(0.0, max_points, [f"✗ the gradients could not be checked: {exc}"])
        exact = reference(inputs) if reference is not None else None
        truth = exact or {"d" + b.name: b.numeric for b in report.blocks}
        lines = misplaced_blocks(broken, value, spec, truth)
        for block in report.blocks:
            if block.name in blocks:
                continue
            earned = 1.0 if block.verdict == "correct" else 0.0
            lines.append(_block_line(block, report))
            if block.verdict == "unchecked" and exact is not None:
                earned = 1.0  # no finite difference can see it: backprop's exact value must
            if earned and exact is not None:
                gap = relative_difference(grads["d" + block.name], exact["d" + block.name])
                if gap > BACKPROP_AGREEMENT:
                    earned = 0.0
                    lines.append(
                        f"✗ d{block.name} agrees with backprop only to {gap:.1e}, the accuracy "
                        "of finite differences or float32; backprop in float64 agrees to "
                        "~1e-15. Numeric differentiation earns no points here: implement "
                        "backpropagation in float64."
                    )
            blocks[block.name] = earned * share
        return Score(sum(blocks.values()), max_points, lines, blocks, report)

    return score


def judge_l2_cost(
    got: float, data: float, params: dict, lambd: float, m: int, max_points: float
) -> Score:
    """Score a cost J = cross-entropy + λ/(2m)·Σ‖W_l‖², naming the usual mistakes.

    ``data`` is the right cross-entropy alone. A wrong L2 term with the right cross-entropy
    (or the other way round) earns half, with a line for the part that is right.
    """  # fmt: skip
    weights = [params[f"W{k}"] for k in range(1, len(params) // 2 + 1)]
    norms = sum(float(np.sum(W**2)) for W in weights)
    l2 = lambd * norms / (2 * m)
    truth = data + l2
    if _close(got, truth):
        return Score(max_points, max_points, [
            f"✓ J = {got:.6g}: the cross-entropy {data:.6g} plus the L2 term {l2:.6g} "
            f"(λ = {lambd:g}, m = {m})."
        ])  # fmt: skip
    biases = sum(float(np.sum(params[f"b{k}"] ** 2)) for k in range(1, len(weights) + 1))
    frobenius = sum(float(np.linalg.norm(W)) for W in weights)
    half, good_data = 0.5 * max_points, "✓ the cross-entropy part is right."
    l2_variants = [
        (data, 0.0, "✗ your J has no L2 term: it equals the cross-entropy alone. A grad "
         "check of a network trained with λ > 0 against this J finds every dW wrong."),
        (data + 2 * l2, half, f"✗ your L2 term is λ/m·Σ‖W‖² = {2 * l2:.6g}, twice the right one "
         f"{l2:.6g}: the cost has λ/(2m), not λ/m (the 2 cancels only in dW)."),
        (data + lambd * norms / 2, half, "✗ your L2 term is (λ/2)·Σ‖W‖², without the 1/m "
         "(m being the number of examples, the columns of X)."),
        (data + lambd * norms, half, "✗ your L2 term is λ·Σ‖W‖², without the 1/(2m)."),
        (data + lambd * norms / (2 * m**2), half, "✗ your L2 term is divided by m twice."),
        (truth + lambd * biases / (2 * m), half, "✗ your L2 term includes the biases b: "
         "L2 regularization sums the weights W_l only."),
        (data + lambd * frobenius / (2 * m), half, "✗ your L2 term uses ‖W‖_F, not its "
         "square: it sums the squares of the weights."),
        (data + lambd * sum(float(np.sum(W)) ** 2 for W in weights) / (2 * m), half,
         "✗ your L2 term squares the sum of the weights, not the sum of their squares."),
    ]  # fmt: skip
    for expected, points, line in l2_variants:
        if _close(got, expected):
            return Score(points, max_points, [good_data, line] if points else [line])
    data_variants = [
        (data * m + l2, "✗ the cross-entropy is summed over the examples, not averaged."),
        (-data + l2, "✗ the cross-entropy has the wrong sign: J is the *negative* mean "
         "log-likelihood, a positive number."),
    ]  # fmt: skip
    for expected, line in data_variants:
        if _close(got, expected):
            return Score(half, max_points, ["✓ the L2 term is right.", line])
    return Score(0.0, max_points, [
        f"✗ J = {got:.6g}, expected {truth:.6g} (relative difference "
        f"{abs(got - truth) / abs(truth):.1e}): the cross-entropy alone is {data:.6g} and "
        f"the L2 term λ/(2m)·Σ‖W‖² is {l2:.6g} (λ = {lambd:g}, m = {m})."
    ])  # fmt: skip


def _close(a: float, b: float, rtol: float = 1e-9) -> bool:
    """Two costs that should be equal agree to this relative difference (the cross-entropy
    from A_L or from Z_L, sums in another order)."""
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300)


def large_gate(task: Task, score: Score, value, inputs: dict, seconds: float, why: str) -> Score:
    """Keep only the points of blocks that are also exact, in time, on the large instance."""
    size = sum(int(np.size(v)) for v in inputs["params"].values())
    head = (
        f"on a larger network ({size:,} parameters), which backprop answers in well "
        f"under a second and numeric differentiation cannot within {task.time_limit:g} s"
    )
    if why:
        return Score(0.0, score.max_points, [*score.lines, f"✗ 0 points: {head}, {why[2:]}"],
                     dict.fromkeys(score.blocks, 0.0), score.report)  # fmt: skip
    exact = task.exact(inputs)
    blocks, lines = dict(score.blocks), list(score.lines)
    for name in blocks:
        got, problem = array_of_shape(
            value.get("d" + name) if isinstance(value, dict) else None,
            exact["d" + name].shape,
            "d" + name,
        )
        gap = relative_difference(got, exact["d" + name]) if got is not None else 1.0
        if blocks[name] and gap > BACKPROP_AGREEMENT:
            blocks[name] = 0.0
            lines.append(f"✗ d{name} is wrong {head}: " + (problem[2:] if problem else
                         f"relative difference {gap:.1e} to backprop."))  # fmt: skip
    lines.append(f"✓ answered the larger network in {seconds:.2f} s.")
    return Score(sum(blocks.values()), score.max_points, lines, blocks, score.report)


def misplaced_blocks(broken: dict, value: dict, spec, truth: dict) -> list[str]:
    """Feedback lines for blocks that could not be checked (missing, misshapen, ...), saying
    where their gradients went: another block's key (swapped, or the layer number off by
    one), keys of layers that do not exist, whole layers missing (a loop that stops early).

    ``broken`` maps names to (what was returned, the problem line); ``truth`` holds the right
    gradient of every block ("dW1": array), to recognise a block stored under another key.
    """
    holds, lines = {}, []
    for name, (got, problem) in broken.items():
        other = _whose(got, name, truth)
        if other:
            holds[name] = other
        else:
            lines.append(problem)
    for name, other in holds.items():
        shape, theirs = np.shape(truth["d" + name]), np.shape(truth["d" + other])
        if holds.get(other) != name:
            lines.append(f"✗ d{name} holds the gradient of {other} (its shape is {theirs}; "
                         f"d{name} should be {shape}).")  # fmt: skip
        elif sort_key(name) < sort_key(other):
            lines.append(f"✗ d{name} and d{other} are swapped: each holds the other's "
                         "gradient (the keys are mixed up where grads are stored).")  # fmt: skip
    layers = sorted({sort_key(n)[1] for n in spec.names if sort_key(n)[0] == 0})
    shifts = {sort_key(o)[1] - sort_key(n)[1] for n, o in holds.items() if holds.get(o) != n}
    extra = sorted((k for k in value if _LAYER_KEY.match(str(k)) and
                    int(_LAYER_KEY.match(str(k))[1]) not in layers), key=str)  # fmt: skip
    if extra or (len(shifts) == 1 and 0 not in shifts):
        lines.append(
            f"✗ {'grads has ' + ', '.join(extra) + ', but ' if extra else ''}the layers are "
            f"numbered {layers[0]} to {layers[-1]}: the layer number is off by one where the "
            "gradients are stored (or where the caches are read)?"
        )
    missing = {n for n, (got, _) in broken.items() if got is None and n not in holds}
    gone = [k for k in layers if {f"W{k}", f"b{k}"} <= missing]
    if gone and not extra and len(gone) < len(layers):
        which = "layer " + ", ".join(map(str, gone))
        if gone == layers[: len(gone)]:
            lines.append(f"✗ {which} has no gradients: does the loop over the layers stop "
                         "before it reaches layer 1?")  # fmt: skip
        elif gone == layers[-len(gone) :]:
            lines.append(f"✗ {which} has no gradients: does the loop over the layers start "
                         "below the output layer?")  # fmt: skip
    return lines


_LAYER_KEY = re.compile(r"^d?[Wb](\d+)$")


def _whose(got, name: str, truth: dict) -> str:
    """The other block whose right gradient ``got`` is ('' if none): a key mix-up."""
    try:
        arr = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return ""
    for key, right in truth.items():
        other = key[1:]
        if other != name and arr.shape == np.shape(right) and np.all(np.isfinite(arr)):
            if relative_difference(arr, right) <= 1e-6:
                return other
    return ""


def _block_line(block, report: GradCheckReport) -> str:
    mark = {"correct": "✓", "unchecked": "–", "suspicious": "?", "wrong": "✗"}[block.verdict]
    rel = block.relative_difference
    line = f"{mark} d{block.name}: relative difference {rel:.1e} ({block.verdict})"
    if block.verdict == "unchecked":
        line = (f"{mark} d{block.name}: every entry crosses a ReLU kink, where no finite "
                "difference is right; compared with exact backprop instead")  # fmt: skip
    elif block.verdict != "correct":
        label, a, n = block.worst[0]
        line += f"; worst d{label}: yours {a:.6g} vs numeric {n:.6g}"
    findings = [f.detail for f in report.diagnosis if f.block == block.name]
    if findings:
        line += " — " + " ".join(findings)
    return line


def array_of_shape(value, shape: tuple, what: str) -> tuple[np.ndarray | None, str]:
    """(array, "") when ``value`` is a finite array of ``shape``, else (None, why not)."""
    if value is None:
        return None, f"✗ {what} is missing (got None)."
    if isinstance(value, Unreadable):
        return None, f"✗ {what}: could not read a {value.type} as numbers ({value.why})."
    if isinstance(value, dict | str | set):
        return None, f"✗ {what} should be an array of shape {shape}, got {kind_of(value)}."
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None, f"✗ {what} should be an array of shape {shape}, got {kind_of(value)}."
    if arr.shape != tuple(shape):
        if arr.size == int(np.prod(shape)) and shape:
            hint = " (transposed?)" if arr.shape == tuple(shape)[::-1] else " (reshape it)"
        else:
            hint = ""
        return None, f"✗ {what} has shape {arr.shape}, expected {tuple(shape)}{hint}."
    if not np.all(np.isfinite(arr)):
        return None, f"✗ {what} contains NaN or inf."
    return arr, ""


def kind_of(value) -> str:
    """What a returned value is, for feedback: "None", "a list", "a Fake" (unreadable)."""
    if isinstance(value, Unreadable):
        return f"a {value.type}"
    return "None" if value is None else f"a {type(value).__name__}"


def per_case_call(answer: str, setup: str = "", prelude: str = "") -> str:
    """A task's call that asks the student's function once per case of ``_in["cases"]``
    (keyed "0", "1", …, in that order).

    ``prelude`` runs once (imports); ``setup`` runs for each case ``_c`` before ``answer``, an
    expression calling the student's function. A case whose call raises gives
    {"error": "Type: message"} and the other cases are still asked.
    """
    each = "".join(f"    {line}\n" for line in setup.splitlines())
    return (f"{prelude}\n" if prelude else "") + (
        '_res = []\nfor _k in sorted(_in["cases"], key=int):\n    _c = _in["cases"][_k]\n'
        f"{each}    try:\n        _res.append({answer})\n    except Exception as _e:\n"
        '        _res.append({"error": type(_e).__name__ + ": " + str(_e)[:200]})\n_out = _res'
    )


def not_implemented(answers: list, function: str, max_points: float) -> Score | None:
    """One line instead of one per input when every call raised NotImplementedError."""
    if all(isinstance(a, dict) and str(a.get("error", "")).startswith("NotImplementedError")
           for a in answers):  # fmt: skip
        return Score(0.0, max_points, [
            f"✗ {function} is not implemented yet (it raises NotImplementedError)."
        ])  # fmt: skip
    return None


def case_answers(value, inputs: dict, function: str, max_points: float):
    """(the cases of a per_case_call task in order, None), or ([], the Score of 0) when no
    list of answers came back or every call raised NotImplementedError."""
    cases = [inputs["cases"][k] for k in sorted(inputs["cases"], key=int)]
    if not isinstance(value, list) or len(value) != len(cases):
        return [], Score(0.0, max_points, [
            f"✗ no answers came back from {function} ({kind_of(value)})."
        ])  # fmt: skip
    blank = not_implemented(value, function, max_points)
    return ([], blank) if blank else (cases, None)
