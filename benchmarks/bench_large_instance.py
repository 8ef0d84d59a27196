"""The large instance of backward questions: backprop answers it, numeric differentiation cannot.

    .venv/bin/python benchmarks/bench_large_instance.py

Each student function runs in the real grading process (autograder.callbox, sandboxed as
when grading) on one draw of the large instance (autograder.inputs.LARGE_DIMS), timed by
the grader from outside. Backprop variants run to the end. Numeric variants cannot finish
within any sensible time, so they run on k perturbed entries (the loop is the student's;
only its length is cut) and the time of all n entries is extrapolated linearly: the loop
over entries does the same work for every entry. Writes its section of RESULTS.md.
"""

from __future__ import annotations

import os
import time

from results import machine, write_section  # benchmarks/results.py, beside this script

from autograder.assignments.backprop import TASKS
from autograder.callbox import CallBox
from autograder.grading import large_inputs
from autograder.inputs import LARGE_DIMS
from autograder.sandbox import Limits

FORWARD = """
import numpy as np
def L_model_forward(X, parameters):
    caches, A, L = [], X, len(parameters) // 2
    for l in range(1, L + 1):
        W, b = parameters[f"W{l}"], parameters[f"b{l}"]
        Z = W @ A + b
        caches.append(((A, W, b), Z))
        A = np.maximum(0, Z) if l < L else 1 / (1 + np.exp(-Z))
    return A, caches
"""

BACKPROP = """
def L_model_backward(AL, Y, caches, lambd):
    grads, m, L = {}, Y.shape[1], len(caches)
    dZ = AL - Y
    for l in range(L, 0, -1):
        (A_prev, W, b), Z = caches[l - 1]
        if l < L:
            dZ = dA * (Z > 0)
        grads[f"dW{l}"] = dZ @ A_prev.T / m + lambd / m * W
        grads[f"db{l}"] = dZ.sum(axis=1, keepdims=True) / m
        dA = W.T @ dZ
    return grads
"""

PER_EXAMPLE = """
def L_model_backward(AL, Y, caches, lambd):
    m, L = Y.shape[1], len(caches)
    grads = {}
    for l in range(1, L + 1):
        (A_prev, W, b), Z = caches[l - 1]
        grads[f"dW{l}"], grads[f"db{l}"] = lambd / m * W, np.zeros_like(b)
    for i in range(m):  # one example at a time: slow, but backprop
        dZ = AL[:, i : i + 1] - Y[:, i : i + 1]
        for l in range(L, 0, -1):
            (A_prev, W, b), Z = caches[l - 1]
            if l < L:
                dZ = dA * (Z[:, i : i + 1] > 0)
            grads[f"dW{l}"] += dZ @ A_prev[:, i : i + 1].T / m
            grads[f"db{l}"] += dZ / m
            dA = W.T @ dZ
    return grads
"""

# Numeric variants: the student's loop over every entry, cut to LIMIT_K entries here.
NUMERIC = """
def _cost(params, X, Y, lambd):
    AL, _ = L_model_forward(X, params)
    m = Y.shape[1]
    L = len(params) // 2
    ce = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
    return ce + lambd / (2 * m) * sum(np.sum(params[f"W{l}"] ** 2) for l in range(1, L + 1))

def L_model_backward(AL, Y, caches, lambd):
    params = {}
    for l, ((A_prev, W, b), Z) in enumerate(caches, 1):
        params[f"W{l}"], params[f"b{l}"] = W.astype(STEP_TYPE), b.astype(STEP_TYPE)
    X = caches[0][0][0]
    grads, done = {}, 0
    for name, value in params.items():
        g = np.zeros(value.shape)
        for k in range(value.size):
            if done == LIMIT_K:
                break
            done += 1
            g.flat[k] = DIFFERENCE
        grads["d" + name] = g
    return grads
"""
VARIANTS = {
    "backprop (vectorized)": (FORWARD + BACKPROP, 0, 1),
    "backprop, one example at a time": (FORWARD + PER_EXAMPLE, 0, 1),
    "central differences": (
        FORWARD
        + NUMERIC.replace("STEP_TYPE", "float").replace(
            "g.flat[k] = DIFFERENCE",
            "old = value.flat[k]\n            value.flat[k] = old + 1e-6\n"
            "            up = _cost(params, X, Y, lambd)\n"
            "            value.flat[k] = old - 1e-6\n"
            "            g.flat[k] = (up - _cost(params, X, Y, lambd)) / 2e-6\n"
            "            value.flat[k] = old",
        ),
        200,
        2,
    ),
    "complex step": (
        FORWARD
        + NUMERIC.replace("STEP_TYPE", "complex").replace(
            "g.flat[k] = DIFFERENCE",
            "old = value.flat[k]\n            value.flat[k] = old + complex(0, 1e-30)\n"
            "            g.flat[k] = np.imag(_cost(params, X, Y, lambd)) / 1e-30\n"
            "            value.flat[k] = old",
        ),
        200,
        1,
    ),
}


def main() -> None:
    task = TASKS["test_backward"]
    inputs = large_inputs(task, "benchmark-secret", "04-backprop", "student")
    n = sum(v.size for v in inputs["params"].values())
    rows = []
    for name, (source, k, per_entry) in VARIANTS.items():
        source = "import numpy as np\n" + source.replace("LIMIT_K", str(k or -1))
        box = CallBox([source], task.allowed, Limits(), cell_timeout=60.0)
        try:
            answer, seconds = box.call(task.call, (task.function, *task.needs), inputs, 600.0)
        finally:
            box.close()
        assert answer.ok, answer.error
        total = seconds * n / k if k else seconds
        evaluations = f"{per_entry * n:,} cost evaluations" if k else "a few passes"
        rows.append((name, seconds, k, total, evaluations))
    limit = task.time_limit
    lines = [
        f"Large instance: layers {list(LARGE_DIMS)}, {n:,} parameters, one draw; each "
        f"function runs in the sandboxed grading process, timed from outside. Limit: "
        f"{limit:g} s.",
        "",
        "| student function | measured | over all entries | vs the limit |",
        "| --- | --- | --- | --- |",
    ]
    for name, seconds, k, total, evaluations in rows:
        measured = f"{seconds:.3f} s" + (f" for {k} entries" if k else "")
        how = "extrapolated" if k else "measured"
        ratio = f"{limit / total:.0f}× under" if total < limit else f"{total / limit:.0f}× over"
        lines.append(f"| {name} | {measured} | {total:.2f} s ({how}; {evaluations}) | {ratio} |")
    lines += ["", f"Machine: {machine()}; load average {os.getloadavg()[0]:.2f}.",
              f"Run: {time.strftime('%Y-%m-%d %H:%M')} UTC, "
              "`.venv/bin/python benchmarks/bench_large_instance.py`."]  # fmt: skip
    body = "\n".join(lines)
    print(body)
    write_section("bench_large_instance", "Backward questions: the large instance", body)


if __name__ == "__main__":
    main()
