"""Grade a folder of submitted notebooks into a CSV: one row per student and exercise.

``python -m course grade SUBMISSIONS [--out grades.csv]`` (``make grade SUBMISSIONS=DIR``).

Submissions: ``SUBMISSIONS/<student>/<notebook>.ipynb`` (a folder per student), or files named
after the student and the notebook, ``alice_03_forward_autoencoder.ipynb`` or ``alice-03.ipynb``
(the notebook is found from the number ``NN``, else from the notebook's title).

Grading does not execute a submission from top to bottom (that would train models for
minutes).  For each submitted notebook one process of its own (:mod:`course.worker`) runs the
grading context taken from the *source* notebook (its parameters, with ``EXERCISE_EPOCHS = 1``
and a temporary ``OUT``; its setup cell; the functions it defines outside the exercises), then,
exercise by exercise, the definitions of the student's exercise cell and the exercise's
Otter-Grader tests, which call the student's functions on small inputs.  Each test case has a
time limit; the process has an overall one.

Every problem becomes a row with its reason, and grading goes on: a file that is not a
notebook, a notebook that cannot be read or recognised, a deleted exercise cell, a syntax
error, a cell that fails, a test over its time limit, a worker that crashed.

Student code runs with the grader's permissions (Otter's ``otter grade`` uses Docker for
that; this grader does not): grade on a machine and account you do not mind.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course.series import (EXERCISE_TAG, NOTEBOOK_DIR, SOLUTION_TAG, Exercise, identify,
                           notebook_paths, series, tags, title_of)

WORKER = Path(__file__).resolve().parent / "worker.py"
COLUMNS = ["student", "notebook", "exercise", "title", "score", "possible", "status", "reason",
           "tests_passed", "tests_total", "seconds", "submission"]
#: Parameters a notebook's grading context overrides when it declares them.
GRADING_PARAMETERS = {"EXERCISE_EPOCHS": 1}
#: Seconds for a notebook's grading context (imports TensorFlow for 03-06, 08, 09).
CONTEXT_LIMIT = 300.0
#: Seconds per test case (and for executing a cell's definitions).
TIME_LIMIT = 60.0
SKIP = re.compile(r"(^|/)(\.|__MACOSX|\.ipynb_checkpoints)")


@dataclass(frozen=True)
class Submission:
    path: Path
    relative: str          # path inside the submissions folder, for the CSV
    student: str
    notebook: str | None   # series notebook it is a copy of (None: not recognised yet)


# --------------------------------------------------------------------------- finding

def find_submissions(folder: Path, notebooks: list[str]) -> list[Submission]:
    """Every file under ``folder`` (hidden files and checkpoints left out), with its
    student and the notebook its name points to."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if SKIP.search(relative):
            continue
        notebook = identify(path.name, notebooks)
        parts = Path(relative).parts
        if len(parts) > 1:
            student = parts[0]
        else:
            student = path.stem
            for part in filter(None, (notebook, notebook and notebook[:2])):
                student = student.replace(part, "", 1)
            student = student.strip(" _-.") or path.stem
        found.append(Submission(path, relative, student, notebook))
    return found


def _def_names(source: str) -> set[str]:
    """Functions a cell defines, read with a regular expression so that a cell with a
    syntax error is still found."""
    return set(re.findall(r"^(?:async\s+)?def\s+([A-Za-z_]\w*)", source, re.M))


#: Added to the reason of an exercise graded on a cell tagged ``solution``.
SOLUTION_NOTE = "graded a cell tagged 'solution' (the published answer), not the exercise cell"


def exercise_cells(nb: nbformat.NotebookNode, exercise: Exercise) -> tuple[list[str], str]:
    """(sources of the cells to grade for ``exercise``, a note or why they are missing).

    The code cells tagged ``exercise`` or ``solution`` that define one of the exercise's
    functions, in order, as *Run All* would define them: the last definition is graded (in
    the instructor edition, or a copy of the repository's notebook, that is the solution,
    and the note says so).  If the tags were lost, every code cell that defines one."""
    names = set(exercise.names)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if {EXERCISE_TAG, SOLUTION_TAG} & set(tags(c))]
    for candidates in (tagged, code):
        matching = [c for c in candidates if names & _def_names(c.source)]
        if matching:
            note = SOLUTION_NOTE if SOLUTION_TAG in tags(matching[-1]) else ""
            return [c.source for c in matching], note
    wanted = ", ".join(f"{name}()" for name in exercise.names)
    return [], f"no cell defines {wanted}: the exercise cell was deleted (or its function renamed)"


# --------------------------------------------------------------------------- context

def _top_level_defs(source: str) -> list[str]:
    """Source of each top-level function a cell defines (decorators included)."""
    import ast

    from course.series import python_only

    text = python_only(source)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    lines = text.splitlines()
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out.append("\n".join(lines[first - 1:node.end_lineno]))
    return out


def grading_context(source_nb: nbformat.NotebookNode, out_dir: Path) -> list[str]:
    """What runs before a notebook's exercises are graded, from the source notebook: the
    parameters cell with the grading overrides, the setup cell, and every function the
    notebook defines outside its exercises (e.g. ``build_forward`` in 03)."""
    import ast

    context = []
    for cell in source_nb.cells:
        if cell.cell_type == "code" and "parameters" in tags(cell):
            declared = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                        for t in node.targets if isinstance(t, ast.Name)}
            overrides = dict(GRADING_PARAMETERS, OUT=str(out_dir))
            lines = [f"{key} = {value!r}" for key, value in overrides.items() if key in declared]
            context.append(cell.source + "\n# grading\n" + "\n".join(lines))
    for cell in source_nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("# Setup"):
            context.append(cell.source)
    for cell in source_nb.cells:
        if (cell.cell_type == "code" and not {EXERCISE_TAG, SOLUTION_TAG, "parameters"} & set(tags(cell))
                and not cell.source.startswith("# Setup")):
            context.extend(_top_level_defs(cell.source))
    return context


# --------------------------------------------------------------------------- grading

def _row(sub: Submission, notebook: str, exercise: Exercise | None, **values) -> dict:
    row = dict(student=sub.student, notebook=notebook, exercise=exercise.key if exercise else "",
               title=f"Exercise {exercise.number}: {exercise.title}" if exercise else "",
               score=0.0, possible=1.0 if exercise else 0.0, status="", reason="", tests_passed=0,
               tests_total=exercise.n_tests if exercise else 0, seconds=0.0, submission=sub.relative)
    row.update(values)
    return row


def _worker_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1",
               PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1",
               BLURUTILS_DATA_DIR=str(tmp / "data"), BLURUTILS_RESULTS_DIR=str(tmp / "results"))
    env.pop("PYTHONSTARTUP", None)
    return env


def grade_submission(sub: Submission, *, exercises: dict[str, list[Exercise]],
                     sources: dict[str, Path], time_limit: float = TIME_LIMIT,
                     context_limit: float = CONTEXT_LIMIT, log_dir: Path | None = None) -> list[dict]:
    """The rows of one submitted file."""
    start = time.perf_counter()
    notebook = sub.notebook
    if sub.path.suffix.lower() != ".ipynb":
        kind = f"a {sub.path.suffix} file" if sub.path.suffix else "a file without an extension"
        reason = f"{kind}, not a Jupyter notebook (.ipynb)"
        if notebook is None:
            return [_row(sub, "", None, status="wrong file type", reason=reason)]
        return [_row(sub, notebook, ex, status="wrong file type", reason=reason) for ex in exercises[notebook]]
    try:
        nb = nbformat.read(str(sub.path), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("it has no cells")
    except Exception as exc:  # noqa: BLE001 - anything unreadable is a row, not a crash
        reason = f"cannot be read as a Jupyter notebook: {type(exc).__name__}: {exc}"
        reason = " ".join(reason.split())[:300]
        if notebook is None:
            return [_row(sub, "", None, status="not a notebook", reason=reason)]
        return [_row(sub, notebook, ex, status="not a notebook", reason=reason) for ex in exercises[notebook]]
    if notebook is None:
        titles = {title_of(nbformat.read(str(path), as_version=4)): name for name, path in sources.items()}
        notebook = titles.get(title_of(nb))
        if notebook is None:
            return [_row(sub, "", None, status="unknown notebook",
                         reason="neither its name (NN_...) nor its title matches a notebook of the series")]

    with tempfile.TemporaryDirectory(prefix="blurutils-grade-") as tmp_name:
        tmp = Path(tmp_name)
        results = tmp / "results.jsonl"
        jobs, notes = [], {}
        for ex in exercises[notebook]:
            cells, why = exercise_cells(nb, ex)
            jobs.append(dict(key=ex.key, checks=str(ex.checks), sources=cells, missing=why))
            notes[ex.key] = why if cells else ""
        job = dict(context=grading_context(nbformat.read(str(sources[notebook]), as_version=4), tmp / "out"),
                   exercises=jobs, time_limit=time_limit, context_limit=context_limit, results=str(results))
        (tmp / "job.json").write_text(json.dumps(job))
        n_tests = sum(ex.n_tests for ex in exercises[notebook])
        overall = context_limit + time_limit * (n_tests + len(jobs)) + 60
        log = (log_dir / f"{sub.student}__{Path(sub.relative).stem}.log") if log_dir else tmp / "log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        failure = ""
        with log.open("w") as log_file:
            try:
                done = subprocess.run([sys.executable, str(WORKER), str(tmp / "job.json")], cwd=tmp,
                                      env=_worker_env(tmp), stdin=subprocess.DEVNULL, stdout=log_file,
                                      stderr=subprocess.STDOUT, timeout=overall)
                if done.returncode not in (0, 1):
                    failure = f"the grading process stopped (exit code {done.returncode})"
            except subprocess.TimeoutExpired:
                failure = f"time limit: grading of this notebook was stopped after {overall:.0f} s"
        graded, started = {}, []
        if results.exists():
            for line in results.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    if entry.get("started"):
                        started.append(entry["key"])
                    else:
                        graded[entry["key"]] = entry
    failure = failure or "the grading process gave no result"
    stopped_in = next((key for key in started if key not in graded), None)
    status = "time limit" if failure.startswith("time limit") else "crashed"
    rows = []
    for ex in exercises[notebook]:
        got = graded.get(ex.key)
        if got is None and stopped_in and ex.key != stopped_in:
            got = dict(status="not graded", reason=f"not reached: {failure} during {stopped_in}")
        elif got is None:
            got = dict(status=status, reason=failure + (" during this exercise" if stopped_in else ""))
        got = {k: v for k, v in got.items() if k != "key"}
        if notes.get(ex.key):
            got["reason"] = "; ".join(filter(None, [notes[ex.key], got.get("reason", "")]))
        rows.append(_row(sub, notebook, ex, **got))
    elapsed = time.perf_counter() - start
    for row in rows:
        row.setdefault("seconds", 0.0)
    rows[-1]["_submission_seconds"] = round(elapsed, 1)
    return rows


def default_jobs() -> int:
    """Submissions graded at once: half the cores (each worker may load TensorFlow)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def grade(folder: Path, out_csv: Path, *, jobs: int | None = None, time_limit: float = TIME_LIMIT,
          context_limit: float = CONTEXT_LIMIT, notebook_dir: Path = NOTEBOOK_DIR,
          log_dir: Path | None = None, report=print) -> list[dict]:
    """Grade every file under ``folder``; write ``out_csv``; return its rows."""
    folder, out_csv = Path(folder), Path(out_csv)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {folder}")
    exercises = series(notebook_dir)
    sources = {path.stem: path for path in notebook_paths(notebook_dir)}
    submissions = find_submissions(folder, list(exercises))
    log_dir = log_dir if log_dir is not None else out_csv.with_suffix("").with_name(out_csv.stem + "-logs")
    start = time.perf_counter()

    def one(sub: Submission) -> list[dict]:
        rows = grade_submission(sub, exercises=exercises, sources=sources, time_limit=time_limit,
                                context_limit=context_limit, log_dir=log_dir)
        seconds = rows[-1].pop("_submission_seconds", None)
        passed = sum(r["score"] for r in rows)
        report(f"{sub.relative}: {sub.student}, {rows[0]['notebook'] or '?'}: "
               f"{passed:g}/{sum(r['possible'] for r in rows):g}"
               + (f" ({seconds:.0f} s)" if seconds is not None else ""))
        return rows

    with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
        rows = [row for rows in pool.map(one, submissions) for row in rows]
    rows.sort(key=lambda r: (r["student"], r["notebook"], r["exercise"], r["submission"]))
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    elapsed = time.perf_counter() - start
    students = len({r["student"] for r in rows})
    report(f"graded {len(submissions)} files of {students} students in {elapsed:.0f} s "
           f"({elapsed / max(len(submissions), 1):.1f} s per file, {jobs or default_jobs()} at a time) "
           f"-> {out_csv} ({len(rows)} rows; logs in {log_dir})")
    return rows
