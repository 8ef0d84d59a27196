"""Serial `nbgrader autograde` vs `gradkit autograde --workers 1` and `--workers 2`.

    .venv/bin/python benchmarks/bench_autograde.py [--students 20] [--rounds 2]

All three grade the same submissions of 04-backprop (the demo class's stories, cycled) with
the same secret and the gradkit configuration nbgrader needs to grade them (every protection
on: the sandbox, the ingest door, the grading processes). Rounds are interleaved (serial,
--workers 1, --workers 2, then again) so that a change of load hits all three; each run
starts from a fresh copy of the class with the assignment already registered. Reports
submissions per minute, the load average around each run, whether the scores are identical,
and what recording one submission in the gradebook costs the parent (autograder.record).
Writes its section of benchmarks/RESULTS.md.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    n = args.students
    root = Path(tempfile.mkdtemp(prefix="bench-autograde-"))
    template = root / "template"
    build(template, n)
    times = {name: [] for name in COMMANDS}
    loads = {name: [] for name in COMMANDS}
    scores, last = {}, {}
    for r in range(args.rounds):
        for name, cmd in COMMANDS.items():
            course = root / f"r{r}-{len(times[name])}-{cmd[-1]}"
            shutil.copytree(template, course)
            before = os.getloadavg()[0]
            times[name].append(run(cmd, course))
            loads[name].append(max(before, os.getloadavg()[0]))
            scores[name] = collect(f"sqlite:///{course / 'gradebook.db'}").scores
            last[name] = course
    record = recording_cost(last["`gradkit autograde --workers 2`"])
    serial = statistics.median(times["`nbgrader autograde` (serial)"])
    same = all(
        s == scores["`nbgrader autograde` (serial)"] and len(s) == n for s in scores.values()
    )
    rows = [
        "| command | wall s per run (each round) | median | submissions / min | × serial | "
        "1-min load average |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for name in COMMANDS:
        median = statistics.median(times[name])
        rows.append(
            f"| {name} | {', '.join(f'{t:.1f}' for t in times[name])} | {median:.1f} | "
            f"{60 * n / median:.1f} | {serial / median:.2f}× | "
            f"{', '.join(f'{v:.1f}' for v in loads[name])} |"
        )
    w2 = serial / statistics.median(times["`gradkit autograde --workers 2`"])
    body = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/bench_autograde.py --students {n} "
        f"--rounds {args.rounds}` ({n} submissions per run, rounds interleaved).",
        "", *rows, "",
        f"- identical scores in every gradebook: **{same}**",
        f"- `--workers 2` vs serial nbgrader: **{w2:.2f}×** (target ≥ 3×: "
        f"{'met' if w2 >= 3 else 'NOT met'})",
        f"- the parent's recording of one submission (autograder.record, SQLite): "
        f"{1000 * record:.1f} ms (target ≤ 20 ms: {'met' if record <= 0.02 else 'NOT met'})",
    ])  # fmt: skip
    write_section("autograde", "P4 · Parallel autograde vs serial nbgrader", body)
    print(body)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
