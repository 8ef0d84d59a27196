"""Graded tasks: what to call in the student's notebook, on which inputs, and how to score it.

A Task is bound to one nbgrader test cell (its ``grade_id``). The grader draws the inputs,
runs ``call`` in the student's kernel (see autograder.harness) and scores the returned
value here, in its own process. The same Task gives the students' visible self-checks on
public inputs (autograder.selfcheck).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autograder.harness import Unreadable
from gradlib import GradCheckError, GradCheckReport, relative_difference
from gradlib.netgrad import check_network
from gradlib.unroll import params_to_vector

# A block whose check is "suspicious" earns this share of its points.
SUSPICIOUS_SHARE = 0.5
# float64 backprop agrees with the reference backward to ~1e-15; finite differences to
# ~1e-10 at best. Anything in between betrays numeric differentiation.
BACKPROP_AGREEMENT = 1e-12


@dataclass
class Score:
    """Points earned by one task, with the feedback lines that explain them."""

    points: float
    max_points: float
    lines: list[str] = field(default_factory=list)
    blocks: dict[str, float] = field(default_factory=dict)
    report: GradCheckReport | None = None

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
        student here, e.g. ("gradlib.unroll",); using one earns 0 (see autograder.shortcuts)
    """

    grade_id: str
    function: str
    call: str
    draw: Callable[[int], dict]
    score: Callable[[object, dict, float], Score]
    needs: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()


def value_scorer(reference: Callable[[dict], object], what: str, rtol: float = 1e-6):
    """Score that gives full points when the answer equals ``reference(inputs)``."""

    def score(value, inputs: dict, max_points: float) -> Score:
        truth = np.asarray(reference(inputs), dtype=float)
        got, problem = _as_array(value, truth.shape, what)
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

    ``reference(inputs) -> grads`` is the reference analytic gradient, used only to tell
    finite differences from backprop.
    """

    def score(value, inputs: dict, max_points: float) -> Score:
        params, X, Y, lambd = inputs["params"], inputs["X"], inputs["Y"], inputs["lambd"]
        _, spec = params_to_vector(params)
        share = max_points / len(spec.names)
        if not isinstance(value, dict):
            return Score(0.0, max_points, [
                f"✗ expected a dict of gradients with keys dW1, db1, …, got {kind_of(value)}."
            ])  # fmt: skip
        grads, lines, blocks = {}, [], {}
        for name, shape in zip(spec.names, spec.shapes, strict=True):
            arr, problem = _as_array(value.get("d" + name, value.get(name)), shape, "d" + name)
            if problem:
                lines.append(problem)
                blocks[name] = 0.0
                arr = np.zeros(shape)
            grads["d" + name] = arr
        try:
            report = check_network(params, X, Y, grads, hidden=hidden, output=output, lambd=lambd)
        except GradCheckError as exc:
            return Score(0.0, max_points, [f"✗ the gradients could not be checked: {exc}"])
        for block in report.blocks:
            if block.name in blocks:
                continue
            earned = {"correct": 1.0, "suspicious": SUSPICIOUS_SHARE, "wrong": 0.0}[block.verdict]
            blocks[block.name] = earned * share
            lines.append(_block_line(block, report))
        if reference is not None and report.verdict == "correct":
            exact = reference(inputs)
            gap = max(relative_difference(grads[k], exact[k]) for k in grads)
            if gap > BACKPROP_AGREEMENT:
                return Score(0.0, max_points, lines + [
                    f"✗ your gradients match the numeric gradient only to {gap:.1e}, the "
                    "accuracy of finite differences; backprop in float64 agrees to ~1e-15. "
                    "Numeric differentiation (or float32) earns no points here: implement "
                    "backpropagation."
                ], report=report)  # fmt: skip
        return Score(sum(blocks.values()), max_points, lines, blocks, report)

    return score


def _block_line(block, report: GradCheckReport) -> str:
    mark = {"correct": "✓", "suspicious": "?", "wrong": "✗"}[block.verdict]
    rel = block.relative_difference
    line = f"{mark} d{block.name}: relative difference {rel:.1e} ({block.verdict})"
    if block.verdict != "correct":
        label, a, n = block.worst[0]
        line += f"; worst d{label}: yours {a:.6g} vs numeric {n:.6g}"
    findings = [f.detail for f in report.diagnosis if f.block == block.name]
    if findings:
        line += " — " + " ".join(findings)
    return line


def _as_array(value, shape: tuple, what: str) -> tuple[np.ndarray | None, str]:
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
