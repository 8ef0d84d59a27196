"""Serial `nbgrader autograde` vs `gradkit autograde --workers 1` and `--workers 2`.

    .venv/bin/python benchmarks/bench_autograde.py [--students 40] [--rounds 2]

All three grade the same submissions of 04-backprop (the demo class's stories, cycled) with
the same secret and the gradkit configuration nbgrader needs to grade them (every protection
on: the sandbox, the ingest door, the grading processes). Rounds are interleaved (serial,
--workers 1, --workers 2, then again) so that a change of load hits all three; each run
starts from a fresh copy of the class with the assignment already registered. Reports
submissions per minute, the load average around each run, whether the scores are identical,
what recording one submission in the gradebook costs the parent (autograder.record), and
where one submission's seconds go (``stages``: a worker's job run in this process, with a
timer around each stage).
Writes its section of benchmarks/RESULTS.md.

40 submissions by default, as the throughput issue measured them: a gradkit run pays a fixed
start (its workers and their imports, their warm servers' preload: on 2 cores the first
result comes about 3 s after the start, then one every 0.7 s) that weighs twice as much in
a run of 20 (README.md gives the figure at 20). The target holds when ``--workers 2`` is 3× as
fast as serial nbgrader and every run started at a load average below the core count (the
machine was not busy with anything else); before each run the benchmark waits (up to two
minutes) for the load the previous run left to fall below it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import demo
from autograder.course import db_url, nbgrader_config, register, write_config_file
from autograder.record import Recorder
from autograder.report import collect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results import machine, write_section  # noqa: E402

SECRET = "benchmark-secret"
BIN = Path(sys.executable).parent


def build(course: Path, n: int) -> None:
    for k in range(n):
        student = demo.STUDENTS[k % len(demo.STUDENTS)]
        folder = course / "submitted" / f"s{k:02d}-{student.name}" / demo.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(student), folder / f"{demo.ASSIGNMENT}.ipynb")
    write_config_file(course)
    run([str(BIN / "nbgrader"), "generate_assignment", demo.ASSIGNMENT, "--force"], course)


def run(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "GRADKIT_SECRET": SECRET, "MPLBACKEND": "Agg",
           "PATH": str(BIN) + os.pathsep + os.environ["PATH"]}  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=False, capture_output=True)
    return time.perf_counter() - start


COMMANDS = {
    "`nbgrader autograde` (serial)": [str(BIN / "nbgrader"), "autograde", demo.ASSIGNMENT],
    "`gradkit autograde --workers 1`": [str(BIN / "gradkit"), "autograde", demo.ASSIGNMENT,
                                        "--workers", "1"],
    "`gradkit autograde --workers 2`": [str(BIN / "gradkit"), "autograde", demo.ASSIGNMENT,
                                        "--workers", "2"],
}  # fmt: skip


def settle(most: float = 120.0) -> float:
    """Wait (at most ``most`` seconds) until the 1-min load average is below the core count,
    so that a run does not start on the load the previous run left; the load average then.
    It decays with a time constant of a minute: after a 2-worker run, about half a minute."""
    cores, end = os.cpu_count() or 1, time.monotonic() + most
    while os.getloadavg()[0] >= cores and time.monotonic() < end:
        time.sleep(1.0)
    return os.getloadavg()[0]


def recording_cost(course: Path) -> float:
    """Seconds to record each of ``course``'s autograded submissions into a fresh gradebook."""
    root = Path(tempfile.mkdtemp(prefix="bench-record-"))
    config = nbgrader_config(root)
    register(config, demo.ASSIGNMENT)
    folders = sorted((course / "autograded").glob(f"*/{demo.ASSIGNMENT}"))
    with Recorder(db_url(config), "", config) as recorder:
        start = time.perf_counter()
        for folder in folders:
            notebooks = {p.stem: p.read_text() for p in folder.glob("*.ipynb")}
            recorder.add(demo.ASSIGNMENT, folder.parent.name, None, notebooks)
        seconds = time.perf_counter() - start
    shutil.rmtree(root, ignore_errors=True)
    return seconds / max(1, len(folders))


# Stage -> (class or module, attribute) whose calls are timed. Nested stages are subtracted
# from the stage that contains them (see ``stages``).
STAGES = {
    "kernel start (a fork of the worker's warm server, in its own sandbox, until it answers)": (
        "nbclient.client:NotebookClient",
        "start_new_kernel_client",
    ),
    "notebook cells in the kernel (the outputs the student sees)": (
        "autograder.preprocessors.execute:GradkitExecute",
        "execute_cell",
    ),
    "grading processes (start, the notebook's cells, the graded calls)": (
        "autograder.callbox:CallBox",
        "call",
    ),
    "gradkit's grading (secret inputs, reference gradients, scores, feedback)": (
        "autograder.preprocessors.execute:GradkitExecute",
        "_grade",
    ),
    "kernel and grading process stop": ("nbclient.client:NotebookClient", "_cleanup_kernel"),
    "nbgrader's steps before and after execution, the job's private copy": (
        "autograder.worker",
        "execute_submission",
    ),
    "ingest (the parent: the submission's files through the door)": ("autograder.ingest", "ingest"),
    "recording (the parent: autograder.record)": ("autograder.record:Recorder", "add"),
}
INSIDE = {  # a stage's time includes these stages' times
    "gradkit's grading (secret inputs, reference gradients, scores, feedback)":
        ["grading processes (start, the notebook's cells, the graded calls)"],
    "nbgrader's steps before and after execution, the job's private copy": [
        "kernel start (a fork of the worker's warm server, in its own sandbox, until it answers)",
        "notebook cells in the kernel (the outputs the student sees)",
        "gradkit's grading (secret inputs, reference gradients, scores, feedback)",
        "kernel and grading process stop",
    ],
}  # fmt: skip


def stages(course: Path, count: int) -> tuple[dict[str, float], float]:
    """Seconds per stage of one submission (the mean over ``count`` after a first one that
    warms up), and the whole: a worker's job, run here one at a time."""
    import importlib

    from autograder import worker
    from autograder.course import TA_SECTIONS, course_settings

    spent = dict.fromkeys(STAGES, 0.0)
    originals = []
    for stage, (where, name) in STAGES.items():
        module, _, cls = where.partition(":")
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner
        original, own = getattr(owner, name), name in vars(owner)

        def timed(*args, _original=original, _stage=stage, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_stage] += time.perf_counter() - start

        setattr(owner, name, timed)
        originals.append((owner, name, original, own))
    ingest, execute = importlib.import_module("autograder.ingest").ingest, worker.execute_submission
    try:
        root = Path(tempfile.mkdtemp(prefix="bench-stages-"))
        config = nbgrader_config(root, settings=course_settings(course))
        register(config, demo.ASSIGNMENT)
        settings = {k: v for k, v in config.items() if k in TA_SECTIONS}
        template = (root / "gradebook.db").read_bytes()
        folders = sorted((course / "submitted").glob(f"*/{demo.ASSIGNMENT}"))[: count + 1]
        with Recorder(db_url(config), "", config) as recorder:
            whole = 0.0
            for k, folder in enumerate(folders):
                if k == 1:  # the first one warms up imports and caches
                    spent.update(dict.fromkeys(spent, 0.0))
                    whole = 0.0
                start = time.perf_counter()
                intake = ingest(folder)
                job = worker.Job(demo.ASSIGNMENT, folder.parent.name, intake.files, template,
                                 SECRET, settings)  # fmt: skip
                result = execute(job)
                recorder.add(demo.ASSIGNMENT, folder.parent.name, None, result.notebooks)
                whole += time.perf_counter() - start
        shutil.rmtree(root, ignore_errors=True)
    finally:
        for owner, name, original, own in originals:
            if own:
                setattr(owner, name, original)
            else:  # inherited: the subclass gets it from its base again
                delattr(owner, name)
    n = max(1, len(folders) - 1)
    raw = dict(spent)  # as timed: a stage's time holds the stages inside it
    for outer, inner in INSIDE.items():
        spent[outer] = raw[outer] - sum(raw[i] for i in inner)
    return {stage: seconds / n for stage, seconds in spent.items()}, whole / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n = args.students
    root = Path(tempfile.mkdtemp(prefix="bench-autograde-"))
    template = root / "template"
    build(template, n)
    times = {name: [] for name in COMMANDS}
    loads = {name: [] for name in COMMANDS}  # (before the run, the higher of before and after)
    scores, last = {}, {}
    for r in range(args.rounds):
        for name, cmd in COMMANDS.items():
            course = root / f"r{r}-{len(times[name])}-{cmd[-1]}"
            shutil.copytree(template, course)
            before = settle()
            times[name].append(run(cmd, course))
            loads[name].append((before, max(before, os.getloadavg()[0])))
            graded = collect(f"sqlite:///{course / 'gradebook.db'}").scores
            scores.setdefault(name, []).append(graded)
            last[name] = course
    record = recording_cost(last["`gradkit autograde --workers 2`"])
    load = os.getloadavg()[0]
    per_stage, whole = stages(template, min(n - 1, 8))
    stage_rows = (
        ["| stage | ms | share |", "| --- | ---: | ---: |"]
        + [
            f"| {stage} | {1000 * seconds:.1f} | {100 * seconds / whole:.0f} % |"
            for stage, seconds in per_stage.items()
        ]
        + [f"| the whole submission | {1000 * whole:.0f} | 100 % |"]
    )
    serial = statistics.median(times["`nbgrader autograde` (serial)"])
    serial_scores = scores["`nbgrader autograde` (serial)"][0]  # every round against it
    differ = [f"{name} (round {r + 1}): {key[0]} {serial_scores.get(key)} → {got.get(key)}"
              for name, runs in scores.items() for r, got in enumerate(runs)
              for key in sorted(set(got) | set(serial_scores))
              if got.get(key) != serial_scores.get(key)]  # fmt: skip
    same = not differ and all(len(s) == n for runs in scores.values() for s in runs)
    rows = [
        "| command | wall s per run (each round) | median | submissions / min | × serial | "
        "1-min load average before → after each run |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for name in COMMANDS:
        median = statistics.median(times[name])
        rows.append(
            f"| {name} | {', '.join(f'{t:.1f}' for t in times[name])} | {median:.1f} | "
            f"{60 * n / median:.1f} | {serial / median:.2f}× | "
            f"{', '.join(f'{a:.1f} → {b:.1f}' for a, b in loads[name])} |"
        )
    w2 = serial / statistics.median(times["`gradkit autograde --workers 2`"])
    cores = os.cpu_count() or 1
    quiet = all(before < cores for runs in loads.values() for before, _ in runs)
    body = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/bench_autograde.py --students {n} "
        f"--rounds {args.rounds}` ({n} submissions per run, rounds interleaved).",
        "", *rows, "",
        f"- identical scores in every gradebook: **{same}**"
        + (f" (differ: {'; '.join(differ)})" if differ else ""),
        f"- `--workers 2` vs serial nbgrader: **{w2:.2f}×**, every run started at a load "
        f"average {'below' if quiet else 'NOT below'} the {cores} cores (target ≥ 3× on a quiet "
        f"machine: {'met' if w2 >= 3 and quiet else 'NOT met'})",
        f"- the parent's recording of one submission (autograder.record, SQLite): "
        f"{1000 * record:.1f} ms (target ≤ 20 ms: {'met' if record <= 0.02 else 'NOT met'})",
        "",
        f"Where one submission's seconds go: a worker's job run in the benchmark's process, one "
        f"at a time, mean of {min(n - 1, 8)} submissions after a first that warms up (wall "
        f"time; the kernel and the grading processes are other processes, waited for; "
        f"1-min load average {load:.1f} before):",
        "", *stage_rows,
    ])  # fmt: skip
    write_section("autograde", "P4 · Parallel autograde vs serial nbgrader", body)
    print(body)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
