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

A grading run can be stopped (Ctrl-C, SIGTERM, SIGHUP) and resumed: each graded file's rows
are saved as it finishes (``<grades>-logs/.progress.jsonl``), the command stops its workers and
says how many files are saved, and the same command again grades only the others.  The CSV
is checked before anything is graded (a folder, a folder that cannot be written, a file the
grader did not write, a place inside the submissions) and written whole or not at all.

Student code runs with the grader's permissions (Otter's ``otter grade`` uses Docker for
that; this grader does not): grade on a machine and account you do not mind.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
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
#: Rows of the files graded so far, one JSON line per file, in the log folder (a resume).
PROGRESS_NAME = ".progress.jsonl"


class GradingError(ValueError):
    """A bad input to the grader (``--out``, the submissions folder): one line, exit 2."""


class GradingStopped(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP stopped a grading run; the files graded are saved."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message)
        self.signum = int(signum)
        self.message = message

    def __str__(self) -> str:
        return self.message


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


def log_name(sub: Submission) -> str:
    """The log file of one submission, named after its whole path in the submissions folder
    (``alice/old/03.ipynb`` -> ``alice__old__03.log``), so that no two submissions share one."""
    return Path(sub.relative).with_suffix("").as_posix().replace("/", "__") + ".log"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _Control:
    """What a grading run shares with its threads: the stop flag and the running workers."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.running: set[subprocess.Popen] = set()

    def kill_all(self) -> None:
        with self.lock:
            for proc in self.running:
                _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a worker and whatever the student's code started in its session."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()


def _run_worker(cmd: list[str], *, cwd: Path, env: dict, stdout, timeout: float,
                control: _Control | None) -> int | None:
    """Run a worker in a session of its own (the terminal's Ctrl-C reaches the grader only,
    which stops its workers itself); its exit status, or None past ``timeout``.  Processes
    the student's code left behind in the session are killed too."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.STDOUT, start_new_session=True)
    if control is not None:
        with control.lock:
            control.running.add(proc)
            if control.stop.is_set():
                _kill_group(proc)
    timed_out = False
    try:
        # Wait without reaping (WNOWAIT): while the worker is a zombie its process-group id
        # cannot be reused, so killing the group below never hits another process.
        deadline = time.monotonic() + timeout
        while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.05)
    finally:
        _kill_group(proc)  # past its time, or what the student's code left running
        returncode = proc.wait()
        if control is not None:
            with control.lock:
                control.running.discard(proc)
    return None if timed_out else returncode


def grade_submission(sub: Submission, *, exercises: dict[str, list[Exercise]],
                     sources: dict[str, Path], time_limit: float = TIME_LIMIT,
                     context_limit: float = CONTEXT_LIMIT, log_dir: Path | None = None,
                     control: _Control | None = None) -> list[dict] | None:
    """The rows of one submitted file (None if the grading run was stopped meanwhile)."""
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

    with tempfile.TemporaryDirectory(prefix="blurutils-grade-", ignore_cleanup_errors=True) as tmp_name:
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
        log = (log_dir / log_name(sub)) if log_dir else tmp / "log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        # The student's code runs in an empty folder of its own: files it writes, or deletes,
        # with relative names never touch the job or its results.
        work = tmp / "work"
        work.mkdir()
        with log.open("w") as log_file:
            returncode = _run_worker([sys.executable, str(WORKER), str(tmp / "job.json")], cwd=work,
                                     env=_worker_env(tmp), stdout=log_file, timeout=overall,
                                     control=control)
        if control is not None and control.stop.is_set() and returncode != 0:
            return None  # stopped by the grader's own Ctrl-C/SIGTERM: not a grade
        if returncode is None:
            failure = f"time limit: grading of this notebook was stopped after {overall:.0f} s"
        elif returncode < 0:
            failure = f"the grading process was killed by {_signal_name(-returncode)}"
        else:
            failure = f"the grading process stopped (exit code {returncode})"
        graded, started = {}, []
        if results.exists():
            for line in results.read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    if entry.get("started"):
                        started.append(entry["key"])
                    else:
                        graded[entry["key"]] = entry
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


def check_output(out_csv: Path, log_dir: Path, folder: Path) -> None:
    """Raise :class:`GradingError` (one line) before anything is graded if the CSV or its log
    folder cannot be written, or would be graded as a submission by the next run."""
    out_csv, log_dir = Path(out_csv), Path(log_dir)
    for path in (out_csv, log_dir):
        try:
            Path(path).resolve().relative_to(Path(folder).resolve())
        except ValueError:
            continue
        raise GradingError(f"{path}: is inside the submissions folder {folder}; the next grading "
                           "run would grade it as a submission: choose an --out outside it")
    if out_csv.is_dir():
        raise GradingError(f"{out_csv}: is a folder; --out names the CSV file to write "
                           f"(e.g. {out_csv / 'grades.csv'})")
    if out_csv.exists():
        try:
            with out_csv.open(newline="", encoding="utf-8") as f:
                header = f.readline(4096).strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise GradingError(f"{out_csv}: cannot be read to check that the grader wrote it "
                               f"({getattr(exc, 'strerror', None) or exc}); choose another --out") from None
        if header and header != ",".join(COLUMNS):
            raise GradingError(f"{out_csv}: already exists and is not a grades CSV this grader "
                               "wrote (its first line is not the grader's header); choose another "
                               "--out, or move the file away")
    for where in (out_csv.parent, log_dir):
        try:
            where.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=where):
                pass
        except OSError as exc:
            blocker = next((p for p in [where, *where.parents] if p.exists() and not p.is_dir()), None)
            why = (f"{blocker} is a file, not a folder" if blocker is not None
                   else f"{where} is not writable ({exc.strerror or exc})")
            raise GradingError(f"{out_csv}: cannot be written: {why}; choose another --out") from None


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class _Progress:
    """The rows of each file graded so far, one JSON line per file, so that a stopped run
    resumes where it stopped.  A line is reused only for a file with the same content,
    graded under the same limits, tests and source notebooks."""

    def __init__(self, path: Path, key: str):
        self.path, self.key = path, key
        self.lock = threading.Lock()

    def load(self, submissions: list[Submission]) -> dict[str, list[dict]]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return {}
        wanted = {sub.relative: sub for sub in submissions}
        done = {}
        for line in lines:
            try:
                entry = json.loads(line)
                sub = wanted.get(entry["submission"])
                if sub is None or entry["key"] != self.key or entry["sha256"] != _file_sha256(sub.path):
                    continue
                rows = entry["rows"]
                if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
                    done[sub.relative] = rows
            except (ValueError, KeyError, TypeError, OSError):
                continue  # a line cut short by a kill, or another run's
        return done

    def add(self, sub: Submission, rows: list[dict]) -> None:
        line = json.dumps(dict(submission=sub.relative, key=self.key, sha256=_file_sha256(sub.path),
                               rows=rows))
        with self.lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _stop_signals():
    """SIGTERM and SIGHUP raise :class:`GradingStopped` in the main thread, as Ctrl-C raises
    KeyboardInterrupt; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise GradingStopped(signum)

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _duplicates(submissions: list[Submission]) -> dict[tuple[str, str], list[str]]:
    """(student, notebook) handed in more than once -> the files."""
    seen: dict[tuple[str, str], list[str]] = {}
    for sub in submissions:
        if sub.notebook:
            seen.setdefault((sub.student, sub.notebook), []).append(sub.relative)
    return {key: files for key, files in seen.items() if len(files) > 1}


def grade(folder: Path, out_csv: Path, *, jobs: int | None = None, time_limit: float = TIME_LIMIT,
          context_limit: float = CONTEXT_LIMIT, notebook_dir: Path = NOTEBOOK_DIR,
          log_dir: Path | None = None, report=None) -> list[dict]:
    """Grade every file under ``folder``; write ``out_csv``; return its rows (``report``:
    where the progress lines go, default stdout, each flushed as it is written).

    Raises :class:`GradingError` before grading for an ``out_csv`` that cannot be written,
    and :class:`GradingStopped` when Ctrl-C, SIGTERM or SIGHUP stops the run (the files
    graded by then are saved; the same call resumes)."""
    report = report or (lambda line: print(line, flush=True))  # a pipe (| tee) sees each file
    folder, out_csv = Path(folder), Path(out_csv)
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of submissions at {folder}")
    log_dir = log_dir if log_dir is not None else out_csv.with_suffix("").with_name(out_csv.stem + "-logs")
    check_output(out_csv, log_dir, folder)
    exercises = series(notebook_dir)
    sources = {path.stem: path for path in notebook_paths(notebook_dir)}
    submissions = find_submissions(folder, list(exercises))
    duplicates = _duplicates(submissions)
    for (student, notebook), files in sorted(duplicates.items()):
        report(f"note: {student} handed in {notebook} {len(files)} times ({', '.join(files)}); "
               "each is graded (see the submission column)")
    checks = sorted(ex.checks for exs in exercises.values() for ex in exs)
    key = _digest([*checks, *sorted(sources.values())]) + f":{time_limit:g}:{context_limit:g}"
    progress = _Progress(log_dir / PROGRESS_NAME, key)
    done = progress.load(submissions)
    if done:
        report(f"resuming: {len(done)} of {len(submissions)} files were graded by a run that was "
               f"stopped ({progress.path}); grading the other {len(submissions) - len(done)}")
    control = _Control()
    start = time.perf_counter()

    def one(sub: Submission) -> list[dict] | None:
        if control.stop.is_set():
            return None
        rows = grade_submission(sub, exercises=exercises, sources=sources, time_limit=time_limit,
                                context_limit=context_limit, log_dir=log_dir, control=control)
        if rows is None:
            return None
        seconds = rows[-1].pop("_submission_seconds", None)
        progress.add(sub, rows)
        passed = sum(r["score"] for r in rows)
        report(f"{sub.relative}: {sub.student}, {rows[0]['notebook'] or '?'}: "
               f"{passed:g}/{sum(r['possible'] for r in rows):g}"
               + (f" ({seconds:.0f} s)" if seconds is not None else ""))
        return rows

    todo = [sub for sub in submissions if sub.relative not in done]
    graded: dict[str, list[dict]] = dict(done)
    pool = ThreadPoolExecutor(max_workers=jobs or default_jobs())
    futures: dict = {}
    try:
        with _stop_signals():
            futures = {pool.submit(one, sub): sub for sub in todo}
            for future, sub in futures.items():
                rows = future.result()
                if rows is not None:
                    graded[sub.relative] = rows
    except KeyboardInterrupt as exc:
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must wait
        control.stop.set()
        control.kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        saved = sum(1 for sub in submissions if sub.relative in graded or _finished(futures, sub))
        signum = exc.signum if isinstance(exc, GradingStopped) else signal.SIGINT
        how = "SIGINT (Ctrl-C)" if signum == signal.SIGINT else _signal_name(signum)
        raise GradingStopped(signum, (
            f"stopped by {how}; {saved} of {len(submissions)} files are graded and saved in "
            f"{progress.path}: run the same command again to grade the other "
            f"{len(submissions) - saved}")) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    rows = []
    for sub in submissions:
        for row in graded.get(sub.relative, []):
            files = duplicates.get((row["student"], row["notebook"]))
            if files:
                note = (f"{row['student']} handed in {row['notebook']} {len(files)} times "
                        f"({', '.join(files)})")
                row["reason"] = "; ".join(filter(None, [row.get("reason", ""), note]))
            rows.append(row)
    rows.sort(key=lambda r: (r["student"], r["notebook"], r["exercise"], r["submission"]))
    tmp = out_csv.with_name(f".{out_csv.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, out_csv)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    progress.remove()
    elapsed = time.perf_counter() - start
    students = len({r["student"] for r in rows})
    report(f"graded {len(submissions)} files of {students} students in {elapsed:.0f} s "
           f"({elapsed / max(len(submissions), 1):.1f} s per file, {jobs or default_jobs()} at a time) "
           f"-> {out_csv} ({len(rows)} rows; logs in {log_dir})")
    return rows


def _finished(futures: dict, sub: Submission) -> bool:
    """Whether ``sub``'s future finished with rows (saved) before the run was stopped."""
    for future, other in futures.items():
        if other is sub and future.done() and not future.cancelled() and future.exception() is None:
            return future.result() is not None
    return False
