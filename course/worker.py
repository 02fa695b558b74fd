"""Grade one submitted notebook: run by :mod:`course.grading` in a process of its own.

``python course/worker.py JOB.json``.  The job (written by the grader) holds the grading
context of the notebook (its parameters cell with small overrides, its setup cell and the
functions it defines outside the exercises, all from the *source* notebook), and for each
exercise the source of the student's exercise cell and the path of its Otter-Grader test file.

For each exercise, in order, in one namespace: the definitions of the student's cell(s) for it
(imports, functions, classes and assignments of constants; not the demonstration code around
them) are executed, then each test case of the test file is called with Otter's own ``test_case``
objects, under a time limit per test case (SIGALRM).  A JSON line is appended to the results
file when an exercise starts and one when it is graded, so a grader that has to kill this
process (or finds it dead) still knows what finished and where it stopped.

What the student's code prints is kept in the log up to :data:`OUTPUT_LIMIT` characters per
exercise (a debugging ``print`` in an endless loop would otherwise write gigabytes before the
time limit), and this process exits as soon as the grader that started it is gone.
"""

from __future__ import annotations

import ast
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

#: Keep in one line of the CSV.
REASON_CHARS = 300
#: Characters of the student's output kept in the log per exercise; the rest is counted.
OUTPUT_LIMIT = 1_000_000


class CappedOutput(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` for the student's code: writes through to ``stream``
    until ``limit`` characters since the last :meth:`reset`, then only counts them (and
    says so once)."""

    def __init__(self, stream, limit: int = OUTPUT_LIMIT):
        self.stream, self.limit = stream, limit
        self.used = self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        keep = text[:max(0, self.limit - self.used)]
        if keep:
            self.stream.write(keep)
            self.used += len(keep)
        if len(keep) < len(text):
            if not self.dropped:
                self.stream.write(f"\n[grader: output over {self.limit:,} characters left out]\n")
            self.dropped += len(text) - len(keep)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def reset(self) -> None:
        """A new exercise: say how much was left out, and allow ``limit`` more."""
        if self.dropped:
            self.stream.write(f"[grader: {self.dropped:,} characters of output left out]\n")
        self.used = self.dropped = 0
        self.stream.flush()


def exit_with_parent(folder: Path | None = None, every_s: float = 0.5) -> None:
    """Exit as soon as the grader that started this process is gone (killed with SIGKILL,
    say): the worker runs in a session of its own, which no terminal's Ctrl-C reaches.
    ``folder``, the grader's temporary folder for this submission, is removed first (the
    grader cannot any more)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        if folder is not None and folder.name.startswith("blurutils-grade-"):
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        os._exit(1)

    threading.Thread(target=watch, name="grader-watch", daemon=True).start()


class TimeLimit(BaseException):
    """A test case (or a cell's definitions) ran past the time limit.  A BaseException, so
    that a student's ``except Exception`` does not swallow it."""


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`TimeLimit` in this (main) thread after ``seconds``.  Code stuck inside
    one C call cannot be interrupted: the grader's own timeout for the process covers that."""
    if not hasattr(signal, "SIGALRM") or not seconds:
        yield
        return

    def expire(signum, frame):
        raise TimeLimit(f"ran over the time limit of {seconds:g} s (an endless loop?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


def python_only(source: str) -> str:
    """``source`` with IPython magics and shell lines commented out."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def _is_constant(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def definitions(tree: ast.Module) -> ast.Module:
    """The statements of a cell that define something: imports, functions, classes and
    assignments of constants (``KERNEL = (7, 7)``).  Calls, loops and prints are left out:
    they demonstrate the answer on the notebook's data, which grading does not have."""
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign) and _is_constant(node.value):
            keep.append(node)
        elif isinstance(node, ast.AnnAssign) and node.value is not None and _is_constant(node.value):
            keep.append(node)
    return ast.Module(body=keep, type_ignores=[])


def _failure(test_file, tc, exc: BaseException) -> str:
    """Otter's message for a failed test case (the test line and the error), or ours."""
    try:
        return test_file._generate_error_message(exc)
    except Exception:
        return f"{tc.name}: {type(exc).__name__}: {exc}"


def grade_exercise(exercise: dict, env: dict, limit: float) -> dict:
    """Define the student's cell(s) in ``env`` and run the exercise's test cases."""
    from otter.test_files import ExceptionTestFile

    row = dict(key=exercise["key"], score=0.0, possible=1.0, tests_passed=0, tests_total=0,
               status="", reason="")
    test_file = ExceptionTestFile.from_file(exercise["checks"])
    row["possible"] = round(float(test_file.possible), 6)
    row["tests_total"] = len(test_file.test_cases)
    sources = exercise.get("sources") or []
    if not sources:
        row.update(status="missing cell", reason=exercise.get("missing", "the exercise cell is missing"))
        return row
    trees = []
    for i, source in enumerate(sources):
        try:
            trees.append(ast.parse(python_only(source), filename=f"<{exercise['key']} cell>"))
        except SyntaxError as exc:
            if i < len(sources) - 1:
                continue  # an earlier copy of the cell; the last one is graded
            row.update(status="syntax error",
                       reason=one_line(f"line {exc.lineno}: {exc.msg}: {(exc.text or '').strip()}"))
            return row
    try:
        with time_limit(limit):
            for tree in trees:
                exec(compile(definitions(tree), f"<{exercise['key']} cell>", "exec"), env)
    except TimeLimit as exc:
        row.update(status="time limit", reason=one_line(f"defining the cell {exc}"))
        return row
    except BaseException as exc:  # noqa: BLE001 - any failure of a student's cell is a grade
        row.update(status="error", reason=one_line(f"the cell failed: {type(exc).__name__}: {exc}"))
        return row

    failures, not_done, timed_out = [], 0, False
    for tc in test_file.test_cases:
        if timed_out:  # an endless loop would loop again in every later test case
            failures.append(f"{tc.name}: not run after a test case ran over the time limit")
            continue
        print(f"--- {exercise['key']}: {tc.name}", file=sys.__stdout__, flush=True)
        try:
            with time_limit(limit):
                tc.body.call_func(env)
        except TimeLimit as exc:
            timed_out = True
            failures.append(f"{tc.name}: {exc}")
        except NotImplementedError as exc:
            not_done += 1
            failures.append(f"{tc.name}: NotImplementedError: {exc}")
        except BaseException as exc:  # noqa: BLE001 - SystemExit and the like count as failures
            message = _failure(test_file, tc, exc)
            print(message, file=sys.__stdout__, flush=True)
            traceback.print_exc(file=sys.__stdout__)
            failures.append(f"{tc.name}: {type(exc).__name__}: {exc}")
        else:
            row["tests_passed"] += 1
            row["score"] += float(tc.points or 0)
    row["score"] = round(row["score"], 6)
    if not failures:
        row["status"] = "passed"
    elif timed_out:
        row["status"] = "time limit"
    elif not_done == len(failures) == len(test_file.test_cases):
        row["status"] = "not done"
    else:
        row["status"] = "failed"
    row["reason"] = one_line(failures[0]) if failures else ""
    return row


def main(job_path: str) -> int:
    exit_with_parent(Path(job_path).resolve().parent)
    log = sys.stdout
    student_output = CappedOutput(log)
    sys.stdout = sys.stderr = student_output
    job = json.loads(Path(job_path).read_text())
    results = Path(job["results"])
    # otter's package imports nbformat, whose JSON-schema validator imports rfc3987_syntax
    # when installed, which builds a grammar on import (seconds, per process).  No schema is
    # validated here: leave that format checker out.
    sys.modules.setdefault("rfc3987_syntax", None)
    env: dict = {"__name__": "__main__"}
    start = time.perf_counter()
    try:
        with time_limit(job["context_limit"]):
            for source in job["context"]:
                exec(compile(source, "<notebook setup>", "exec"), env)
    except BaseException as exc:  # noqa: BLE001
        traceback.print_exc(file=log)
        reason = one_line(f"the grading setup of this notebook failed: {type(exc).__name__}: {exc}")
        with results.open("a") as out:
            for exercise in job["exercises"]:
                out.write(json.dumps(dict(key=exercise["key"], status="grader error", reason=reason)) + "\n")
        return 1
    print(f"setup: {time.perf_counter() - start:.1f} s", file=log, flush=True)
    for exercise in job["exercises"]:
        student_output.reset()
        with results.open("a") as out:
            out.write(json.dumps(dict(key=exercise["key"], started=True)) + "\n")
        start = time.perf_counter()
        row = grade_exercise(exercise, env, job["time_limit"])
        row["seconds"] = round(time.perf_counter() - start, 2)
        with results.open("a") as out:
            out.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
