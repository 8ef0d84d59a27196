"""`gradkit`: a thin command line over the autograder's Python API."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

from autograder.course import RELEASE, CourseError
from autograder.inputs import SecretError
from autograder.sandbox import SandboxError

INTERRUPTED = ("gradkit: interrupted; grades recorded so far are kept — run the same command "
               "again to grade the rest.")  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (what was wrong, and where to read more)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def positive(text: str) -> int:
    """An argparse type: a whole number above zero, or a one-line refusal."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="gradkit", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's log")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="solutions/ -> course/ (the student release)")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")

    p = sub.add_parser("autograde", help="grade every submission of an assignment")
    p.add_argument("assignment")
    _course_args(p)
    p.add_argument("--workers", type=positive, default=os.cpu_count() or 1,
                   help="worker processes")  # fmt: skip
    p.add_argument("--force", action="store_true", help="regrade already graded submissions")
    p.add_argument("--student", action="append", metavar="ID",
                   help="grade only this student (repeatable; --force to regrade a graded "
                   "one)")  # fmt: skip
    p.add_argument(
        "--timeout",
        type=positive,
        help="seconds per notebook cell (default: nbgrader_config.py's, else 30)",
    )
    p.add_argument("--secret", help="course secret (default: $GRADKIT_SECRET)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="grade on a Dask cluster: its workers run the submissions, this "
                   "process records the grades (needs gradcheck-kit[cluster])")  # fmt: skip
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="grade without bubblewrap: any student can then read the course secret and the "
        "gradebook, rewrite every grade and reach the network (trusted code only)",
    )

    p = sub.add_parser(
        "init",
        help="make a course dir grade the gradkit way (its nbgrader_config.py, the gradebook, "
        "the release nbgrader's exchange sends), before release_assignment",
    )
    _course_args(p)
    p = sub.add_parser("feedback", help="write feedback HTML for graded submissions")
    p.add_argument("assignment")
    _course_args(p)

    p = sub.add_parser("report", help="grades.csv, per-question stats, a histogram PNG")
    _course_args(p)
    p.add_argument("--canvas", type=Path, metavar="FILE",
                   help="also write FILE, a CSV for Canvas's gradebook import (one column per "
                   "assignment, points after late penalties)")  # fmt: skip
    p.add_argument("--roster", type=Path, metavar="CSV",
                   help="Canvas's gradebook export, to map nbgrader ids to Canvas students "
                   "(SIS Login ID, SIS User ID, ID, or a gradkit_id column you add)")  # fmt: skip

    p = sub.add_parser("similarity", help="near-copies among submissions and of gradlib's source")
    p.add_argument("assignment")
    p.add_argument("--course-dir", type=Path, default=Path.cwd(),
                   help="the TA's course directory (default: the current one)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.5,
                   help="share of a notebook's own code found elsewhere (default 0.5)")  # fmt: skip

    p = sub.add_parser("demo", help="build a demo class and grade it end to end")
    p.add_argument("--course-dir", type=Path, help="where to build it (default: a temp dir)")
    p.add_argument("--workers", type=positive, default=2)

    sub.add_parser("lab", help="open JupyterLab on course/")

    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger("gradkit").addHandler(logging.StreamHandler())
        logging.getLogger("gradkit").setLevel(logging.INFO)
    try:
        return _run(args)
    except (CourseError, SecretError, SandboxError, FileNotFoundError) as exc:
        print(f"gradkit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Whatever is left to do on the way out (multiprocessing's exit handlers) must not
        # keep a TA who presses Ctrl-C again waiting: then we leave at once.
        signal.signal(signal.SIGINT, _leave)
        print("\n" + INTERRUPTED, file=sys.stderr)
        return 130


def _leave(signum, frame) -> None:
    os.write(2, f"\n{INTERRUPTED}\n".encode())
    os._exit(130)


def _course_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--course-dir", type=Path, default=Path.cwd(),
                   help="the TA's course directory (default: the current one)")  # fmt: skip
    p.add_argument("--db-url", help="gradebook URL (default: sqlite COURSE_DIR/gradebook.db)")


def _run(args) -> int:
    if args.command == "generate":
        from autograder.generate import generate

        for path in generate(args.assignments or None):
            print(f"wrote {path}")
    elif args.command == "autograde":
        from autograder.autograde import autograde, terminal_progress

        summary = autograde(args.assignment, args.course_dir, workers=args.workers,
                            force=args.force, timeout=args.timeout, secret=args.secret,
                            db_url=args.db_url, progress=terminal_progress,
                            sandbox=not args.no_sandbox, students=args.student,
                            scheduler=args.scheduler)  # fmt: skip
        print(summary.text())
        return 1 if summary.failed else 0
    elif args.command == "init":
        from autograder.autograde import init_course

        for line in init_course(args.course_dir, db_url=args.db_url):
            print(line)
    elif args.command == "feedback":
        from autograder.feedback import feedback

        files = feedback(args.assignment, args.course_dir, db_url=args.db_url)
        print(f"wrote {len(files)} feedback files under {args.course_dir / 'feedback'}")
    elif args.command == "report":
        from autograder.report import write_report

        report = write_report(args.course_dir, db_url=args.db_url)
        print(report.text())
        print(f"wrote {report.csv}, {report.stats_csv}, {report.histogram}")
        if args.canvas:
            from autograder.canvas import write_canvas

            unmatched = write_canvas(report, args.canvas, args.roster)
            print(f"wrote {args.canvas} for Canvas's gradebook import")
            if unmatched:
                print(f"not in the roster, left out: {', '.join(unmatched)}", file=sys.stderr)
    elif args.command == "similarity":
        from autograder.similarity import write_similarity

        path, pairs = write_similarity(args.assignment, args.course_dir, args.threshold)
        for p in pairs:
            print(f"{p.first} ~ {p.second}: {p.share:.0%} of {p.first}'s code "
                  f"({p.shared_tokens} tokens)")  # fmt: skip
        print(f"{len(pairs)} pairs at or above {args.threshold:.0%}; wrote {path}")
    elif args.command == "demo":
        from autograder.demo import run_demo

        run_demo(args.course_dir, workers=args.workers)
    elif args.command == "lab":
        return subprocess.call([sys.executable, "-m", "jupyter", "lab", str(RELEASE)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
