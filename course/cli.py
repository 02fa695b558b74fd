"""``python -m course student|instructor|grade``: the editions and the autograder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, default, text in [("student", "dist/student", "the student edition: no solutions"),
                                ("instructor", "dist/instructor",
                                 "the instructor edition: solutions, answer key, notes, all tests")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("--out", type=Path, default=Path(default), help=f"folder to (re)write (default {default})")
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    g.add_argument("submissions", type=Path, help="folder of submissions: <student>/<NN_name>.ipynb "
                                                  "or <student>_<NN_name>.ipynb")
    g.add_argument("--out", type=Path, default=Path("dist/grades.csv"), help="the CSV (default dist/grades.csv)")
    g.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: half the cores, at most 4)")
    g.add_argument("--time-limit", type=float, default=None, help="seconds per test case (default 60)")
    args = parser.parse_args(argv)

    if args.command in ("student", "instructor"):
        from course.editions import build_instructor, build_student

        build = build_student if args.command == "student" else build_instructor
        try:
            written = build(args.out)
        except FileExistsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        notebooks = sum(1 for p in written if p.suffix == ".ipynb")
        print(f"{args.command} edition: {notebooks} notebooks, {len(written)} files -> {args.out}")
        return 0

    from course.grading import TIME_LIMIT, GradingError, GradingStopped, grade

    try:
        rows = grade(args.submissions, args.out, jobs=args.jobs, time_limit=args.time_limit or TIME_LIMIT)
    except (FileNotFoundError, GradingError) as exc:
        print(f"python -m course grade: error: {exc}", file=sys.stderr)
        return 2
    except GradingStopped as stop:  # Ctrl-C, SIGTERM, SIGHUP: the graded files are saved
        print(f"python -m course grade: {stop}", file=sys.stderr)
        return 128 + stop.signum
    return 0 if rows else 1
