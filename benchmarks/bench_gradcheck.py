"""Grad check benchmarks: gradlib side by side with the lecture loop, SciPy and torch.

Run from the repository root (one run, about 3–5 minutes on 2 cores):

    .venv/bin/python benchmarks/bench_gradcheck.py

It rewrites its own section of benchmarks/RESULTS.md (between the markers
``<!-- BEGIN bench_gradcheck -->`` and ``<!-- END bench_gradcheck -->``), replacing the
previous run and leaving other scripts' sections alone; benchmarks/README.md says what
each case measures.
Every number is measured in this run; a case whose module is missing or fails is
reported as such, never estimated.

Time: time.perf_counter around one whole check, median of the runs listed. Memory: each
case runs once more in a fresh subprocess (``--memory KEY``) that resets the kernel's
peak-RSS mark after its setup and reports VmHWM − VmRSS: how far the check raised the
resident set (numpy, scipy and torch allocations alike).

BLAS and OpenMP run one thread per process unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS are set: on a shared 2-core machine a multi-threaded BLAS swung the same
check by 10× from run to run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import datetime
import gc
import json
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import check_grad

from gradlib import (
    check_gradients,
    grads_to_vector,
    params_to_vector,
    relative_difference,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "bench_gradcheck"
COMMAND = ".venv/bin/python benchmarks/bench_gradcheck.py"

# (layer sizes, examples m, timed runs per case)
P1_SIZES = [((20, 50, 10, 1), 32, 5), ((100, 200, 30, 1), 32, 2)]
# (what it is, layer sizes, m, hidden, output, λ, timed runs of the 2n-evaluation loops)
P2_SIZES = [
    ("gradient-checking assignment", (4, 5, 3, 1), 3, "relu", "sigmoid", 0.0, 15),
    ("regularization assignment, L2", (2, 20, 3, 1), 211, "relu", "sigmoid", 0.7, 15),
    ("planar-data assignment", (2, 4, 1), 400, "tanh", "sigmoid", 0.0, 15),
    ("8×8-digits softmax net", (64, 32, 10), 64, "relu", "softmax", 0.0, 7),
]
P3_SIZE = ((784, 1024, 200, 10), 64)


# --- a cost written with numpy, and the lecture's loop -----------------------------------


def make_mlp(dims: tuple[int, ...], m: int, seed: int = 0):
    """A tanh MLP with sigmoid outputs and cross-entropy cost, and its correct gradient.

    Returns
    -------
    params : dict W1 (n1, n0), b1 (n1, 1), ..., WL, bL
    cost : callable params-dict -> float
    grads : dict dW1, db1, ..., the exact gradient of cost at params
    """
    rng = np.random.default_rng(seed)
    L = len(dims) - 1
    params = {}
    for layer in range(1, L + 1):
        fan_in = dims[layer - 1]
        params[f"W{layer}"] = rng.normal(size=(dims[layer], fan_in)) / np.sqrt(fan_in)
        params[f"b{layer}"] = 0.1 * rng.normal(size=(dims[layer], 1))
    X = rng.normal(size=(dims[0], m))
    Y = (rng.random(size=(dims[L], m)) > 0.5).astype(float)

    def cost(p) -> float:
        A = X
        for layer in range(1, L):
            A = np.tanh(p[f"W{layer}"] @ A + p[f"b{layer}"])
        Z = p[f"W{L}"] @ A + p[f"b{L}"]
        return float(np.sum(np.logaddexp(0.0, Z) - Y * Z) / m)

    As = [X]
    for layer in range(1, L):
        As.append(np.tanh(params[f"W{layer}"] @ As[-1] + params[f"b{layer}"]))
    dZ = (1.0 / (1.0 + np.exp(-(params[f"W{L}"] @ As[-1] + params[f"b{L}"]))) - Y) / m
    grads = {}
    for layer in range(L, 0, -1):
        grads[f"dW{layer}"] = dZ @ As[layer - 1].T
        grads[f"db{layer}"] = dZ.sum(axis=1, keepdims=True)
        if layer > 1:
            dZ = (params[f"W{layer}"].T @ dZ) * (1 - As[layer - 1] ** 2)
    return params, cost, grads


def size_of(dims) -> int:
    return sum(dims[k] * dims[k - 1] + dims[k] for k in range(1, len(dims)))


class Counted:
    """J with a call counter (the same thin wrapper around every contender's J)."""

    def __init__(self, f: Callable):
        self.f, self.calls = f, 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def dictionary_to_vector(params):
    """θ, shape (n,), and a layout [(name, shape), ...] in the order W1, b1, W2, b2, ..."""
    names = sorted(params, key=lambda k: (int(k[1:]), k[0] != "W"))
    theta = np.concatenate([params[k].reshape(-1) for k in names])
    return theta, [(k, params[k].shape) for k in names]


def vector_to_dictionary(theta, layout):
    """A dict of reshaped slices of θ, as the lecture's vector_to_dictionary builds it."""
    out, start = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape))
        out[name] = theta[start : start + size].reshape(shape)
        start += size
    return out


def gradients_to_vector(grads, layout):
    return np.concatenate([grads["d" + k].reshape(-1) for k, _ in layout])


def gradient_check_n(J, params, grads, epsilon=1e-7):
    """deeplearning.ai's gradient_check_n for any number of layers: for every coordinate,
    copy θ, move one entry, rebuild the parameter dict and evaluate J (twice)."""
    parameters_values, layout = dictionary_to_vector(params)
    grad = gradients_to_vector(grads, layout)
    num_parameters = parameters_values.shape[0]
    J_plus = np.zeros((num_parameters, 1))
    J_minus = np.zeros((num_parameters, 1))
    gradapprox = np.zeros((num_parameters, 1))
    for i in range(num_parameters):
        thetaplus = np.copy(parameters_values)
        thetaplus[i] += epsilon
        J_plus[i] = J(vector_to_dictionary(thetaplus, layout))
        thetaminus = np.copy(parameters_values)
        thetaminus[i] -= epsilon
        J_minus[i] = J(vector_to_dictionary(thetaminus, layout))
        gradapprox[i] = (J_plus[i] - J_minus[i]) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox.ravel())
    denominator = np.linalg.norm(grad) + np.linalg.norm(gradapprox)
    return numerator / denominator


# --- cases --------------------------------------------------------------------------------


@dataclass
class Case:
    """One measured thing: setup() returns (run, J); run() does the check once and returns
    a short result text; J is the Counted cost it calls (None: J is not called)."""

    key: str
    part: str
    name: str
    setup: Callable[[], tuple[Callable[[], str], Counted | None]]
    repeats: int = 3
    needs: tuple[str, ...] = ()


def _vector_J(cost, layout):
    return lambda theta: cost(vector_to_dictionary(theta, layout))


def _common_cases(tag, part, problem, repeats, slow_repeats=None) -> list[Case]:
    """Floor, gradlib full, lecture loop for a problem() -> (params, Counted J, grads)."""
    slow = slow_repeats or repeats

    def floor():
        params, J, grads = problem()
        n = sum(v.size for v in params.values())

        def run():
            for _ in range(2 * n):
                J(params)
            return ""

        return run, J

    def gradlib_full():
        params, J, grads = problem()
        return (lambda: check_gradients(J, params, grads).verdict), J

    def lecture():
        params, J, grads = problem()
        return (lambda: f"difference {gradient_check_n(J, params, grads):.1e}"), J

    return [
        Case(f"{tag}-floor", part, "bare loop: 2n evaluations of J (the floor)", floor, slow),
        Case(f"{tag}-lecture", part, "lecture loop (gradient_check_n)", lecture, slow),
        Case(f"{tag}-gradlib", part, "gradlib check_gradients (full, central)", gradlib_full, slow),
    ]


def p1_cases(dims, m, repeats) -> list[Case]:
    n = size_of(dims)
    part, tag = f"P1: full check of a black-box J, n = {n:,}", f"p1-{n}"

    def problem():
        params, cost, grads = make_mlp(dims, m)
        return params, Counted(cost), grads

    def gradlib_fast():
        params, J, grads = problem()
        return (lambda: check_gradients(J, params, grads, mode="fast", seed=0).verdict), J

    def scipy_case(direction):
        def setup():
            params, J, grads = problem()
            theta, layout = dictionary_to_vector(params)
            g = gradients_to_vector(grads, layout)
            Jv = Counted(_vector_J(J.f, layout))

            def run():
                err = check_grad(Jv, lambda _: g, theta, direction=direction, rng=0)
                return f"‖Δ‖ = {err:.1e}"

            return run, Jv

        return setup

    few = max(repeats, 5)
    return _common_cases(tag, part, problem, repeats) + [
        Case(
            f"{tag}-scipy-all",
            part,
            "scipy check_grad, direction='all'",
            scipy_case("all"),
            repeats,
        ),
        Case(
            f"{tag}-torch-slow",
            part,
            "torch gradcheck, slow mode",
            torch_setup(problem, fast=False),
            repeats,
            ("torch",),
        ),
        Case(
            f"{tag}-gradlib-fast",
            part,
            "gradlib check_gradients mode='fast'",
            gradlib_fast,
            few,
            ("gradlib.fastcheck",),
        ),
        Case(
            f"{tag}-scipy-random",
            part,
            "scipy check_grad, direction='random'",
            scipy_case("random"),
            few,
        ),
        Case(
            f"{tag}-torch-fast",
            part,
            "torch gradcheck, fast_mode=True",
            torch_setup(problem, fast=True),
            few,
            ("torch",),
        ),
    ]


class StopTorch(Exception):
    """Raised by the wrapped J once torch's fast gradcheck has failed and starts its
    slow-mode rerun (2n evaluations, only to print the Jacobians in its error message)."""


def torch_setup(problem, fast: bool, bug: bool = False):
    """torch gradcheck of the same numpy J, wrapped in an autograd.Function whose backward
    returns the analytic gradient under test (``problem`` returns the buggy one 4th)."""

    def setup():
        import torch

        params, J, grads, *rest = problem()
        theta, layout = dictionary_to_vector(params)
        g = torch.from_numpy(gradients_to_vector(rest[0] if bug else grads, layout))
        Jv = Counted(_vector_J(J.f, layout))
        budget = [None]  # calls allowed before a failing fast check's slow rerun is cut off

        def J_cut(t):
            if budget[0] is not None and Jv.calls >= budget[0]:
                raise StopTorch
            return Jv(t)

        class NumpyCost(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return torch.tensor(J_cut(t.detach().numpy()), dtype=torch.float64)

            @staticmethod
            def backward(ctx, upstream):
                return upstream * g

        x = torch.from_numpy(theta.copy()).requires_grad_(True)

        def run():
            budget[0] = Jv.calls + 64 if fast else None  # fast mode needs a handful
            try:
                ok = torch.autograd.gradcheck(
                    NumpyCost.apply, (x,), fast_mode=fast, raise_exception=False
                )
            except StopTorch as stop:
                frames = [f.name for f in traceback.extract_tb(stop.__traceback__)]
                if "_run_slow_mode_and_get_error" not in frames:
                    raise
                return "FAIL (detected; its 2n-evaluation slow rerun for the message cut off)"
            if bug:
                return "FAIL (detected)" if not ok else "pass: bug missed"
            return "pass" if ok else "FAIL"

        return run, Jv

    return setup


def p2_cases(label, dims, m, hidden, output, lambd, repeats) -> list[Case]:
    n = size_of(dims)
    part = (
        f"P2: reference network, {label}: layers {list(dims)}, m = {m}, {hidden}/{output}"
        + (f", λ = {lambd}" if lambd else "")
        + f", n = {n:,}"
    )
    tag = f"p2-{'-'.join(map(str, dims))}"

    def data():
        from gradlib import nn

        params = nn.init_params(list(dims), seed=1)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(dims[0], m))
        if output == "softmax":
            Y = np.eye(dims[-1])[rng.integers(0, dims[-1], m)].T
        else:
            Y = (rng.random((dims[-1], m)) > 0.5).astype(float)
        grads = nn.network_gradients(params, X, Y, hidden, output, lambd)
        return nn, params, X, Y, grads

    def problem():
        nn, params, X, Y, grads = data()
        return params, Counted(lambda p: nn.network_cost(p, X, Y, hidden, output, lambd)), grads

    def structured():
        from gradlib.netgrad import numerical_network_gradient

        _, params, X, Y, grads = data()
        theta, spec = params_to_vector(params)

        def run():
            numeric, kinks = numerical_network_gradient(
                params, X, Y, hidden=hidden, output=output, lambd=lambd
            )
            diff = relative_difference(grads_to_vector(numeric, spec), grads_to_vector(grads, spec))
            return f"difference to backprop {diff:.1e}, {int(np.sum(kinks))} kinks"

        return run, None

    def structured_check():
        from gradlib.netgrad import check_network

        _, params, X, Y, grads = data()

        def run():
            report = check_network(params, X, Y, grads, hidden=hidden, output=output, lambd=lambd)
            return f"{report.verdict} ({report.evaluations:,} forward-pass equivalents)"

        return run, None

    needs = ("gradlib.nn", "gradlib.netgrad")
    cases = _common_cases(tag, part, problem, 7, repeats)
    for case in cases:
        case.needs = ("gradlib.nn",)
    return cases + [
        Case(
            f"{tag}-structured",
            part,
            "gradlib.netgrad.numerical_network_gradient",
            structured,
            max(repeats, 5),
            needs,
        ),
        Case(
            f"{tag}-check-network",
            part,
            "gradlib.netgrad.check_network (gradient + report)",
            structured_check,
            max(repeats, 5),
            needs,
        ),
    ]


def p3_cases(dims, m) -> list[Case]:
    n = size_of(dims)
    part = f"P3: fast mode on a {n:,}-parameter MLP {list(dims)}, m = {m}, one planted bug"

    def problem():
        params, cost, grads = make_mlp(dims, m, seed=3)
        buggy = {k: v.copy() for k, v in grads.items()}
        i, j = np.unravel_index(np.argmax(np.abs(grads["dW1"])), grads["dW1"].shape)
        buggy["dW1"][i, j] *= -1  # the planted bug: the sign of dW1's largest entry
        return params, Counted(cost), grads, buggy, f"W1[{i}, {j}]"

    def one_evaluation():
        params, J, *_ = problem()
        return (lambda: f"J = {J(params):.4f}"), J

    def gradlib_fast(bug: bool):
        def setup():
            params, J, grads, buggy, planted = problem()

            def run():
                report = check_gradients(J, params, buggy if bug else grads, mode="fast", seed=0)
                failing = [b.name for b in report.failing()]
                if not bug:
                    return f"{report.verdict}; failing blocks: {failing or 'none'}"
                worst = [b.worst[0][0] for b in report.failing() if b.worst]
                found = "localized ✓" if planted in worst else "NOT localized"
                return f"{report.verdict}; failing {failing}; worst {worst}; {found}"

            return run, J

        return setup

    def scipy_random():
        params, J, grads, buggy, _ = problem()
        theta, layout = dictionary_to_vector(params)
        ok, bad = gradients_to_vector(grads, layout), gradients_to_vector(buggy, layout)
        Jv = Counted(_vector_J(J.f, layout))
        without = check_grad(Jv, lambda _: ok, theta, direction="random", rng=0)

        def run():
            err = check_grad(Jv, lambda _: bad, theta, direction="random", rng=0)
            return f"‖Δ‖ = {err:.1e} (correct gradient: {without:.1e}); no location"

        return run, Jv

    return [
        Case("p3-floor", part, "one evaluation of J (the unit)", one_evaluation, 5),
        Case("p3-gradlib-fast-bug", part, "gradlib mode='fast', planted bug", gradlib_fast(True)),
        Case(
            "p3-gradlib-fast-ok", part, "gradlib mode='fast', correct gradient", gradlib_fast(False)
        ),
        Case("p3-scipy-random", part, "scipy check_grad 'random', planted bug", scipy_random),
        Case(
            "p3-torch-fast-bug",
            part,
            "torch gradcheck fast_mode=True, planted bug",
            torch_setup(problem, fast=True, bug=True),
            needs=("torch",),
        ),
        Case(
            "p3-torch-fast-ok",
            part,
            "torch gradcheck fast_mode=True, correct gradient",
            torch_setup(problem, fast=True),
            needs=("torch",),
        ),
    ]


def all_cases() -> list[Case]:
    cases = []
    for dims, m, repeats in P1_SIZES:
        cases += p1_cases(dims, m, repeats)
    for size in P2_SIZES:
        cases += p2_cases(*size)
    for case in p3_cases(*P3_SIZE):
        case.needs += ("gradlib.fastcheck",)
        cases.append(case)
    return cases


# --- running and measuring ----------------------------------------------------------------


@dataclass
class Measured:
    case: Case
    runs: list[float] = field(default_factory=list)
    evaluations: int | None = None
    result: str = ""
    peak_mb: float | None = None
    missing: str | None = None

    @property
    def seconds(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None


def missing(case: Case) -> str | None:
    """Why the case cannot run (a module that does not import), or None."""
    for module in case.needs:
        try:
            __import__(module)
        except Exception as exc:  # noqa: BLE001 - any failure to import means "missing"
            return f"{module} does not import ({type(exc).__name__}: {exc})"
    return None


def time_case(case: Case) -> Measured:
    run, J = case.setup()
    measured = Measured(case)
    for k in range(case.repeats):
        if J is not None:
            J.calls = 0
        start = time.perf_counter()
        measured.result = run()
        measured.runs.append(time.perf_counter() - start)
        if k == 0 and J is not None:
            measured.evaluations = J.calls
    return measured


HEAD_TO_HEAD_ROUNDS = 21


def head_to_head(lecture: Case, ours: Case, rounds: int = HEAD_TO_HEAD_ROUNDS) -> list[float]:
    """lecture time ÷ our time in each of ``rounds`` rounds, one of each back to back
    (which one first alternates).

    The target's ratio. Timed in separate phases, a sub-millisecond case drifted with the
    machine (the same [2, 4, 1] lecture loop took 1.8 ms in one phase and 3.1 ms in another
    of the same run); back to back, both see the same moment of the machine.
    """
    run_lecture, _ = lecture.setup()
    run_ours, _ = ours.setup()
    run_lecture(), run_ours()  # warm: the first call of each pays for imports and buffers
    ratios = []
    for k in range(rounds):
        seconds = {}
        for name, run in (("lecture", run_lecture), ("ours", run_ours))[:: 1 if k % 2 else -1]:
            start = time.perf_counter()  # which goes first alternates from round to round
            run()
            seconds[name] = time.perf_counter() - start
        ratios.append(seconds["lecture"] / seconds["ours"])
    return ratios


def _vm(name: str) -> int:
    """A field of /proc/self/status in kB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        return int(re.search(rf"{name}:\s+(\d+)", status.read()).group(1))


def memory_child(key: str) -> None:
    """Subprocess side: run one case once and print {"kb": peak RSS increase} as JSON."""
    case = next(c for c in all_cases() if c.key == key)
    run, _ = case.setup()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak-RSS mark (VmHWM) to the current RSS
    base = _vm("VmRSS")
    run()
    print(json.dumps({"kb": _vm("VmHWM") - base}))


def memory_of(case: Case) -> float | None:
    out = subprocess.run(
        [sys.executable, __file__, "--memory", case.key], capture_output=True, text=True
    )
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])["kb"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory", metavar="KEY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        memory_child(args.memory)
        return
    started, load_before = time.perf_counter(), os.getloadavg()
    measured = []
    for case in all_cases():
        why = missing(case)
        if why:
            measured.append(Measured(case, missing=why))
        else:
            try:
                m = time_case(case)
                m.peak_mb = memory_of(case)
            except Exception as exc:  # noqa: BLE001 - report the failure, keep measuring
                m = Measured(case, missing=f"raised {type(exc).__name__}: {exc}")
            measured.append(m)
        m = measured[-1]
        shown = f"{m.seconds:.4f} s" if m.seconds is not None else m.missing
        print(f"{case.key:32} {shown}  {m.evaluations}  {m.result}", flush=True)
    ratios = {}
    by_key = {m.case.key: m for m in measured}
    for dims in (size[1] for size in P2_SIZES):
        tag = f"p2-{'-'.join(map(str, dims))}"
        lecture, ours = by_key.get(f"{tag}-lecture"), by_key.get(f"{tag}-structured")
        if lecture and ours and lecture.seconds is not None and ours.seconds is not None:
            ratios[tag] = head_to_head(lecture.case, ours.case)
            print(f"{tag} head to head: median {statistics.median(ratios[tag]):.1f}×", flush=True)
    total = time.perf_counter() - started
    write_section(render(measured, total, load_before, os.getloadavg(), ratios))
    print(f"wrote {RESULTS} in {total:.0f} s")


# --- RESULTS.md ---------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = re.search(r"model name\s*:\s*(.*)", info.read()).group(1).strip()
    except (OSError, AttributeError):
        pass
    try:
        import torch

        peer = f"torch {torch.__version__} ({torch.get_num_threads()} intra-op thread(s))"
    except ImportError:
        peer = "torch not installed (its cases are reported missing)"
    threads = ", ".join(
        f"{v}={os.environ.get(v)}"
        for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    )
    return [
        f"- machine: {cpu}, {os.cpu_count()} cores ({platform.system()} {platform.release()})",
        f"- software: Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, {peer}",
        f"- threads: {threads}",
    ]


def _time(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.3g}" if a and b else "—"


def render(measured: list[Measured], total: float, load_before, load_after,
           ratios: dict[str, list[float]]) -> str:  # fmt: skip
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        "## Grad check: gradlib, the lecture loop, SciPy and torch (bench_gradcheck.py)",
        "",
        "See benchmarks/README.md for what each case measures.",
        "",
        f"- date: {now}",
        *machine(),
        f"- load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after: {' '.join(f'{x:.2f}' for x in load_after)}",
        f"- command: `{COMMAND}` (from the repository root; the whole run took {total:.0f} s)",
        "- time: `time.perf_counter` around one whole check, median of the runs counted",
        "- peak memory: the case once more in a fresh subprocess that resets the kernel's "
        "peak-RSS mark after its setup (`/proc/self/clear_refs`) and reports VmHWM − VmRSS "
        "(not tracemalloc: this also sees torch's allocations)",
        "- × floor: time ÷ the part's floor row; lecture ÷ this: the speed-up over the "
        "lecture loop (both from medians)",
        "- a load average above the core count means other work shared the CPUs during the "
        "run: single timings can then be off by 2× (compare median and min)",
        "",
    ]
    lines += targets(measured, ratios)
    for part in dict.fromkeys(m.case.part for m in measured):
        rows = [m for m in measured if m.case.part == part]
        floor = next((m.seconds for m in rows if m.case.key.endswith("-floor")), None)
        lecture = next((m.seconds for m in rows if m.case.key.endswith("-lecture")), None)
        lines += [
            f"### {part}",
            "",
            "| case | evaluations of J | time (median) | min | runs | × floor | lecture ÷ this "
            "| peak RSS increase | result |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for m in rows:
            if m.missing:
                lines.append(f"| {m.case.name} | — | not measured | | | | | | {m.missing} |")
                continue
            evaluations = f"{m.evaluations:,}" if m.evaluations is not None else "—"
            peak = f"{m.peak_mb:.1f} MB" if m.peak_mb is not None else "—"
            lines.append(
                f"| {m.case.name} | {evaluations} | {_time(m.seconds)} | {_time(min(m.runs))} "
                f"| {len(m.runs)} "
                f"| {_ratio(m.seconds, floor)} | {_ratio(lecture, m.seconds)} | {peak} "
                f"| {m.result} |"
            )
        lines.append("")
    return "\n".join(lines)


def targets(measured: list[Measured], ratios: dict[str, list[float]]) -> list[str]:
    """The two targets (P2 ≥ 10× the lecture loop, P3 < 2 s), as measured in this run."""
    by_key = {m.case.key: m for m in measured}
    lines = ["Targets:", ""]
    for dims in (size[1] for size in P2_SIZES):
        tag = f"p2-{'-'.join(map(str, dims))}"
        ours, lecture = by_key.get(f"{tag}-structured"), by_key.get(f"{tag}-lecture")
        if tag not in ratios:
            why = (ours and ours.missing) or (lecture and lecture.missing) or "not run"
            lines.append(f"- P2 {list(dims)}: not measured ({why})")
            continue
        speedup = statistics.median(ratios[tag])
        verdict = "met" if speedup >= 10 else "NOT met"
        lines.append(
            f"- P2 {list(dims)}: numerical_network_gradient is {speedup:.1f}× faster than the "
            f"lecture loop (median of {len(ratios[tag])} rounds, one of each back to back; "
            f"{min(ratios[tag]):.1f}–{max(ratios[tag]):.1f}×; the tables' medians, timed "
            f"apart: {lecture.seconds / ours.seconds:.1f}×) (target ≥ 10×: {verdict})"
        )
    fast = by_key.get("p3-gradlib-fast-bug")
    if not fast or fast.seconds is None:
        lines.append(f"- P3: not measured ({(fast and fast.missing) or 'not run'})")
    else:
        verdict = "met" if fast.seconds < 2 and "localized ✓" in fast.result else "NOT met"
        lines.append(
            f"- P3: fast mode found the planted bug in {_time(fast.seconds)} with "
            f"{fast.evaluations} evaluations of J: {fast.result} (target < 2 s: {verdict})"
        )
    return lines + [""]


def write_section(body: str) -> None:
    """Replace this script's section of RESULTS.md (or append it); keep the others."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nEach section is rewritten by the script named in it.\n"
    )
    block = f"<!-- BEGIN {SECTION} -->\n{body.strip()}\n<!-- END {SECTION} -->"
    pattern = re.compile(rf"<!-- BEGIN {SECTION} -->.*?<!-- END {SECTION} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS.write_text(text.rstrip() + "\n")


if __name__ == "__main__":
    main()
