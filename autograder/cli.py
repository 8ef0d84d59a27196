"""`gradkit`: a thin command line over the autograder's Python API."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from autograder.course import CourseError
from autograder.inputs import SecretError
from autograder.lab import DEFAULT_WORKSPACE
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


VERBS = {
    "generate": (
        "solutions/ -> course/ (the student release)",
        "Write the student release of each assignment from its nbgrader source notebook\n"
        "(nbgrader generate_assignment: solutions and hidden tests taken out).\n\n"
        "reads:  solutions/ASSIGNMENT/*.ipynb of the kit\n"
        "writes: course/ASSIGNMENT/*.ipynb (committed; never edit them by hand)",
        "gradkit generate 04-backprop",
    ),
    "autograde": (
        "grade every submission of an assignment",
        "Run each student's notebook in a sandboxed kernel on secret inputs of their own and\n"
        "record the points per parameter block in the gradebook; then print a row per\n"
        "student with what went wrong. Submissions graded before and unchanged are skipped.\n\n"
        "reads:  COURSE/submitted/STUDENT/ASSIGNMENT/*.ipynb, COURSE/nbgrader_config.py,\n"
        "        the course secret ($GRADKIT_SECRET or --secret)\n"
        "writes: the gradebook (COURSE/gradebook.db or --db-url),\n"
        "        COURSE/autograded/STUDENT/ASSIGNMENT/, COURSE/autograde-ASSIGNMENT.csv,\n"
        "        COURSE/.gradkit/ (its ledger and lock)",
        "GRADKIT_SECRET=... gradkit autograde 04-backprop --course-dir ~/ml-course --workers 4",
    ),
    "init": (
        "prepare a course dir for nbgrader's exchange, before release_assignment",
        "Make a course directory grade the gradkit way: its nbgrader_config.py gets gradkit's\n"
        "block (everything above it stays yours), and the gradebook and the release folder\n"
        "nbgrader's exchange releases from know every assignment.\n\n"
        "reads:  COURSE/nbgrader_config.py, solutions/ of the kit\n"
        "writes: COURSE/nbgrader_config.py, the gradebook, COURSE/.gradkit/release/",
        "gradkit init --course-dir ~/ml-course",
    ),
    "feedback": (
        "write feedback HTML for graded submissions",
        "Write one HTML page per graded notebook for the student: points per test, what the\n"
        "grader found (block, worst elements, bug kind), never the hidden tests. Pages load\n"
        "nothing from the network and wrap long lines.\n\n"
        "reads:  COURSE/autograded/STUDENT/ASSIGNMENT/, the gradebook\n"
        "writes: COURSE/feedback/STUDENT/ASSIGNMENT/*.html",
        "gradkit feedback 04-backprop --course-dir ~/ml-course",
    ),
    "report": (
        "grades.csv, per-question stats, a histogram PNG (and a Canvas CSV)",
        "Write the class's grades out of the gradebook: one row per student and question,\n"
        "totals, per-question statistics and a histogram; with --canvas, also a CSV that\n"
        "Canvas's gradebook import accepts.\n\n"
        "reads:  the gradebook; with --roster, Canvas's gradebook export\n"
        "writes: COURSE/grades.csv, totals.csv, question_stats.csv, score_histogram.png;\n"
        "        FILE of --canvas",
        "gradkit report --course-dir ~/ml-course --canvas canvas.csv --roster export.csv",
    ),
    "similarity": (
        "near-copies among submissions and of gradlib's source",
        "Compare the code of every pair of submissions (and each with gradlib's own source)\n"
        "and list the pairs that share at least --threshold of a notebook's code.\n\n"
        "reads:  COURSE/submitted/STUDENT/ASSIGNMENT/*.ipynb\n"
        "writes: COURSE/similarity-ASSIGNMENT.csv",
        "gradkit similarity 04-backprop --course-dir ~/ml-course --threshold 0.6",
    ),
    "demo": (
        "build a demo class and grade it end to end",
        "Build a class of demo students (a correct one, planted bugs, tampering, a crash),\n"
        "autograde every assignment, write their feedback pages and the report, and print\n"
        "what each student got.\n\n"
        "reads:  the kit's solutions/ and course/\n"
        "writes: a course directory (--course-dir, else a new temporary folder)",
        "gradkit demo --course-dir /tmp/demo-class",
    ),
    "lab": (
        "copy the release into your workspace and open JupyterLab on it",
        f"Copy the course's notebooks into your workspace once (default {DEFAULT_WORKSPACE}) "
        "and start\n"
        "JupyterLab there, without nbgrader's instructor tools (the Validate button stays)\n"
        "and without JupyterLab's news. A notebook already in the workspace is yours and is\n"
        "never overwritten: a newer release is put beside it as NAME.release-HASH.ipynb, and\n"
        "a line tells you. Runs as root too (then with --allow-root).\n\n"
        "reads:  the kit's course/ (the release)\n"
        "writes: the workspace (--dir) and its .gradkit-release.json; your own Jupyter\n"
        "        config is never edited (the session's settings live in a temporary folder)",
        "gradkit lab --dir ~/my-gradcheck",
    ),
}


def _verb(sub, name: str) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does, what it reads and writes, an example."""
    summary, description, example = VERBS[name]
    return sub.add_parser(name, help=summary, description=description,
                          epilog=f"example:\n  {example}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip


def verbs_text() -> str:
    """What `gradkit` alone prints: every verb, a line each."""
    width = max(map(len, VERBS))
    lines = ["usage: gradkit VERB [options]   (gradkit VERB --help for more)", "", "verbs:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (summary, _, _) in VERBS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(verbs_text())
        return 0
    parser = Parser(prog="gradkit", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="show nbgrader's log")
    sub = parser.add_subparsers(dest="command", required=True, metavar="VERB")

    p = _verb(sub, "generate")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")

    p = _verb(sub, "autograde")
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

    p = _verb(sub, "init")
    _course_args(p)
    p = _verb(sub, "feedback")
    p.add_argument("assignment")
    _course_args(p)

    p = _verb(sub, "report")
    _course_args(p)
    p.add_argument("--canvas", type=Path, metavar="FILE",
                   help="also write FILE, a CSV for Canvas's gradebook import (one column per "
                   "assignment, points after late penalties)")  # fmt: skip
    p.add_argument("--roster", type=Path, metavar="CSV",
                   help="Canvas's gradebook export, to map nbgrader ids to Canvas students "
                   "(SIS Login ID, SIS User ID, ID, or a gradkit_id column you add)")  # fmt: skip

    p = _verb(sub, "similarity")
    p.add_argument("assignment")
    p.add_argument("--course-dir", type=Path, default=Path.cwd(),
                   help="the TA's course directory (default: the current one)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.5,
                   help="share of a notebook's own code found elsewhere (default 0.5)")  # fmt: skip

    p = _verb(sub, "demo")
    p.add_argument("--course-dir", type=Path, help="where to build it (default: a temp dir)")
    p.add_argument("--workers", type=positive, default=2)

    p = _verb(sub, "lab")
    p.add_argument("--dir", type=Path, metavar="FOLDER",
                   help=f"your workspace (default: {DEFAULT_WORKSPACE})")  # fmt: skip
    p.add_argument("--port", type=positive, help="JupyterLab's port (default: its own, 8888)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--dry-run", action="store_true",
                   help="print the workspace, the session's settings and the command; start "
                   "nothing")  # fmt: skip
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, metavar="-- JUPYTER_OPTION",
                   help="options passed on to `jupyter lab` (after --)")  # fmt: skip

    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger("gradkit").addHandler(logging.StreamHandler())
        logging.getLogger("gradkit").setLevel(logging.INFO)
    if args.command == "lab":  # JupyterLab answers its own Ctrl-C; nothing is graded here
        return _lab(args)
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


def _lab(args) -> int:
    from autograder.lab import lab

    extra = [a for a in args.jupyter_args if a != "--"]
    try:
        return lab(args.dir, port=args.port, browser=not args.no_browser, extra=extra,
                   dry_run=args.dry_run)  # fmt: skip
    except (FileNotFoundError, PermissionError) as exc:
        print(f"gradkit lab: {exc}", file=sys.stderr)
        return 2


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
        if not args.scheduler:  # the workers' fork server imports while this process does
            from autograder.pool import start_server

            start_server()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
