"""`gradkit autograde --workers 2` vs serial `nbgrader autograde`, same 40 submissions.

    .venv/bin/python benchmarks/bench_autograde.py [--students 40]

Both grade the same submissions of 04-backprop (the demo class's stories, cycled) with
the same secret and nbgrader configuration; the assignment is registered in both
gradebooks before timing. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import demo
from autograder.course import write_config_file
from autograder.report import collect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from results import machine, write_section  # noqa: E402

SECRET = "benchmark-secret"


def build(course: Path, n: int) -> None:
    for k in range(n):
        student = demo.STUDENTS[k % len(demo.STUDENTS)]
        folder = course / "submitted" / f"s{k:02d}-{student.name}" / demo.ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(demo.submission(student), folder / f"{demo.ASSIGNMENT}.ipynb")
    write_config_file(course)


def run(cmd: list[str], cwd: Path) -> float:
    env = {
        **os.environ,
        "GRADKIT_SECRET": SECRET,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
    }
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=False, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    root = Path(tempfile.mkdtemp(prefix="bench-autograde-"))
    serial, parallel = root / "serial", root / "parallel"
    for course in (serial, parallel):
        build(course, args.students)
        run([str(bin_dir / "nbgrader"), "generate_assignment", demo.ASSIGNMENT, "--force"], course)
    t_serial = run([str(bin_dir / "nbgrader"), "autograde", demo.ASSIGNMENT], serial)
    t_parallel = run([str(bin_dir / "gradkit"), "autograde", demo.ASSIGNMENT,
                      "--workers", str(args.workers)], parallel)  # fmt: skip
    a = collect(f"sqlite:///{serial / 'gradebook.db'}").scores
    b = collect(f"sqlite:///{parallel / 'gradebook.db'}").scores
    n = args.students
    rows = [
        "| command | submissions | wall s | s / submission | speed-up |",
        "| --- | --- | --- | --- | --- |",
        f"| `nbgrader autograde` (serial) | {len(a)}/{n} | {t_serial:.1f} | "
        f"{t_serial / n:.2f} | 1.00× |",
        f"| `gradkit autograde --workers {args.workers}` | {len(b)}/{n} | {t_parallel:.1f} | "
        f"{t_parallel / n:.2f} | {t_serial / t_parallel:.2f}× |",
        "",
        f"Identical scores in both gradebooks: **{a == b and len(a) == n}**.",
    ]
    body = "\n".join([
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine()}.",
        f"Command: `.venv/bin/python benchmarks/bench_autograde.py --students {n}`. "
        "Target: ≥ 1.8× on 2 cores with identical scores.",
        "", *rows,
    ])  # fmt: skip
    write_section("autograde", "P4 · Parallel autograde vs serial nbgrader", body)
    print(body)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
