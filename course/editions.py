"""The student and instructor editions of the notebook series, from one source.

Student edition (``dist/student/``): every cell tagged ``solution`` removed (nbconvert's
``TagRemovePreprocessor``, enabled), an Otter-Grader ``grader = otter.Notebook(...)`` cell at
the start of the exercises and a ``grader.check("qk")`` cell under each exercise cell, the
public test cases those cells run (``notebooks/tests/<notebook>/qk.py``; hidden cases left
out), the documents the notebooks link to, and ``HANDOUT.md``.

Instructor edition (``dist/instructor/``): the notebooks with their solutions expanded, a
``grader.check("qk")`` cell and the instructor notes under each solution, every test case
(hidden ones too), ``ANSWER_KEY.md``, ``TEACHING.md`` (docs/teaching.md: the guide and the
timing plan) and ``INSTRUCTOR.md``.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import nbformat
import yaml
from nbconvert.preprocessors import TagRemovePreprocessor

from course.series import (EXERCISE_TAG, NOTEBOOK_DIR, REPO, SOLUTION_TAG, Exercise,
                           notebook_paths, series, tags)

NOTES = Path(__file__).resolve().parent / "notes.yaml"
TEACHING = REPO / "docs" / "teaching.md"
#: Written into an edition's folder; only such a folder is ever emptied by a rebuild.
MARKER = ".blurutils-edition"
CHECK_TAG = "check"
HIDDEN_SOLUTION_SENTENCE = re.compile(
    r"A hidden\s+solution cell follows; open it \(click the collapsed cell\) only after trying\.")
LINK = re.compile(r"\]\((\.\./[^)#\s]+)")

CHECKS_INTRO = """**Check your answers.** Run the next cell once. Then, when you have completed an
exercise cell, run the `grader.check("qk")` cell under it: it calls your function on small
inputs and says what is wrong, if anything. Grading runs the same tests and a few more, on
the exercise cells only, and only on what they *define* (imports, functions and constants,
not the lines that try the function on this notebook's data): keep your answer inside the
function, in the exercise cell, and do not delete that cell."""


def load_notes(path: Path = NOTES) -> dict:
    return yaml.safe_load(path.read_text()) or {}


# --------------------------------------------------------------------------- tests

def public_tests(source: str) -> str:
    """An Otter test file without its hidden test cases (``@test_case(..., hidden=True)``)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if (isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "test_case"
                    and any(k.arg == "hidden" and isinstance(k.value, ast.Constant) and k.value.value is True
                            for k in deco.keywords)):
                first = min(d.lineno for d in node.decorator_list)
                drop.append((first - 1, node.end_lineno))
    for start, end in reversed(drop):
        del lines[start:end]
    text = re.sub(r"\n{3,}", "\n\n\n", "".join(lines)).rstrip() + "\n"
    return text


def write_tests(out: Path, notebooks: dict[str, list[Exercise]], *, hidden: bool) -> list[Path]:
    written = []
    for name, exercises in notebooks.items():
        for ex in exercises:
            target = out / "notebooks" / "tests" / name / f"{ex.key}.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            source = ex.checks.read_text()
            target.write_text(source if hidden else public_tests(source))
            written.append(target)
    return written


# --------------------------------------------------------------------------- cells

def _lock(cell, *, editable: bool = False):
    cell.metadata["deletable"] = False
    if not editable:
        cell.metadata["editable"] = False
    return cell


def init_cell(notebook: str):
    cell = nbformat.v4.new_code_cell(
        "# Exercise checks (Otter-Grader): run this cell once, then the grader.check(...) cell\n"
        "# under each exercise.\n"
        "import otter\n\n"
        f'grader = otter.Notebook(tests_dir="tests/{notebook}")')
    cell.metadata["tags"] = [CHECK_TAG]
    return _lock(cell)


def check_cell(key: str):
    cell = nbformat.v4.new_code_cell(f'grader.check("{key}")')
    cell.metadata["tags"] = [CHECK_TAG]
    return _lock(cell)


def _notes_markdown(ex: Exercise, note: dict) -> str:
    lines = [f"**Instructor notes, Exercise {ex.number}** (about {note.get('minutes', '?')} min)."]
    if note.get("answer"):
        lines += ["", f"**Answer.** {note['answer']}"]
    if note.get("mistakes"):
        lines += ["", "**Common mistakes.**", ""] + [f"- {m}" for m in note["mistakes"]]
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _insert_checks_intro(cells: list, notebook: str, text: str) -> list:
    """The checks' explanation and the ``grader`` cell, just before the first exercise."""
    index = next(i for i, c in enumerate(cells)
                 if c.cell_type == "markdown" and c.source.startswith("### Exercise"))
    return cells[:index] + [nbformat.v4.new_markdown_cell(text), init_cell(notebook)] + cells[index:]


def _exercise_keys(nb, exercises: list[Exercise]) -> dict[int, str]:
    """Cell index -> question key, for the cells tagged ``exercise`` (in order)."""
    indices = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and EXERCISE_TAG in tags(c)]
    return {i: ex.key for i, ex in zip(indices, exercises)}


def student_notebook(nb, notebook: str, exercises: list[Exercise]):
    """The student's copy: no solution cells, a check under each exercise cell."""
    nb = nbformat.from_dict(nb)  # a copy
    remover = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True)
    nb, _ = remover(nb, {})
    keys = _exercise_keys(nb, exercises)
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = HIDDEN_SOLUTION_SENTENCE.sub(
                "Run the `grader.check(...)` cell under it to test your answer.", cell.source)
        cells.append(cell)
        if i in keys:
            _lock(cell, editable=True)
            cells.append(check_cell(keys[i]))
    nb.cells = _insert_checks_intro(cells, notebook, CHECKS_INTRO)
    return nb


def instructor_notebook(nb, notebook: str, exercises: list[Exercise], notes: dict):
    """The instructor's copy: solutions expanded, each checked and annotated."""
    nb = nbformat.from_dict(nb)
    remaining = list(exercises)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = HIDDEN_SOLUTION_SENTENCE.sub(
                "In this edition the solution follows, expanded, and the `grader.check(...)` cell "
                "under it runs every test on it, hidden ones too.", cell.source)
        cells.append(cell)
        if cell.cell_type == "code" and SOLUTION_TAG in tags(cell):
            cell.metadata.pop("jupyter", None)
            ex = remaining.pop(0)
            cells.append(check_cell(ex.key))
            note = notes.get(notebook, {}).get(ex.key)
            if note:
                cells.append(nbformat.v4.new_markdown_cell(_notes_markdown(ex, note)))
    intro = ("**Exercise checks (instructor edition).** Run the next cell once; the "
             "`grader.check(\"qk\")` cell under each solution runs the exercise's tests, hidden "
             "ones included, on the solution. Students get the same cells under their exercise "
             "cells, with the public tests only.")
    nb.cells = _insert_checks_intro(cells, notebook, intro)
    return nb


# --------------------------------------------------------------------------- documents

def linked_files(paths: list[Path]) -> list[str]:
    """Repository files the notebooks link to (``](../docs/paper.md)``), repo-relative."""
    found = set()
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for target in LINK.findall(cell.source):
                    resolved = (path.parent / target).resolve()
                    if resolved.is_file() and resolved.is_relative_to(REPO):
                        found.add(resolved.relative_to(REPO).as_posix())
    return sorted(found)


def answer_key(notebooks: dict[str, list[Exercise]], notes: dict) -> str:
    out = ["# Answer key", "",
           "Generated by `make instructor` from the notebooks' solution cells, the exercise tests "
           "(`notebooks/tests/`, from `course/checks/`) and the instructor notes "
           "(`course/notes.yaml`). Minutes are estimates of in-class time per exercise, not "
           "measurements; the run times of the notebooks themselves are measured (TEACHING.md).", "",
           "| notebook | exercise | title | minutes | tests (hidden) |", "|---|---|---|---|---|"]
    for name, exercises in notebooks.items():
        for ex in exercises:
            cases = _test_cases(ex)
            note = notes.get(name, {}).get(ex.key, {})
            out.append(f"| {name} | `{ex.key}` | {ex.title} | {note.get('minutes', '?')} | "
                       f"{len(cases)} ({sum(hidden for _, hidden in cases)}) |")
    for name, exercises in notebooks.items():
        out += ["", f"## {name}"]
        for ex in exercises:
            note = notes.get(name, {}).get(ex.key, {})
            prompt = ex.prompt.split("\n", 1)[1].strip() if "\n" in ex.prompt else ""
            out += ["", f"### Exercise {ex.number}: {ex.title} (`{ex.key}`, about "
                        f"{note.get('minutes', '?')} min)", "", prompt, ""]
            if note.get("answer"):
                out += [f"**Answer.** {note['answer']}", ""]
            out += ["**Solution** (the notebook's solution cell):", "", "```python",
                    ex.solution.rstrip(), "```", "",
                    f"**What the autograder checks** (`notebooks/tests/{name}/{ex.key}.py`; "
                    f"it calls `{'`, `'.join(ex.names)}` on small inputs):", ""]
            out += [f"- {case}{' (hidden)' if hidden else ''}" for case, hidden in _test_cases(ex)]
            if note.get("mistakes"):
                out += ["", "**Common mistakes.**", ""] + [f"- {m}" for m in note["mistakes"]]
    return "\n".join(out) + "\n"


def _test_cases(ex: Exercise) -> list[tuple[str, bool]]:
    """(name, hidden) of each test case in an exercise's test file, read without running it."""
    cases = []
    for node in ast.parse(ex.checks.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "test_case":
                    kw = {k.arg: k.value for k in deco.keywords}
                    label = kw["name"].value if "name" in kw else node.name
                    hidden = "hidden" in kw and getattr(kw["hidden"], "value", False) is True
                    cases.append((label, hidden))
    return cases


STUDENT_README = """# The blurutils notebooks: student edition

Ten notebooks reproducing *Quantitative Analysis of Blurring Effects in Autoencoder
Architectures for Video Interpolation* (McCabe, Glad and Pinczuk), with 2-3 exercises each.

- Open `notebooks/NN_*.ipynb` in JupyterLab (the `blurutils` package and `otter-grader` are
  installed on the lab machines) and run the cells in order.
- Each exercise is a cell that defines a function raising `NotImplementedError`: complete the
  function. The `grader.check("qk")` cell under it tests your function on small inputs; run the
  `grader = otter.Notebook(...)` cell at the start of the exercises once first. Keep the
  `notebooks/tests/` folder next to the notebooks.
- Grading uses the same tests and a few more, on the exercise cells only: keep your answer in
  the exercise cell, inside the function; do not delete or split that cell.
- Hand in the `.ipynb` file itself (not a PDF or a `.py` export), named as given, e.g.
  `03_forward_autoencoder.ipynb`.
"""

INSTRUCTOR_README = """# The blurutils notebooks: instructor edition

Do not hand this folder out: it holds the answers.

| file | what |
|---|---|
| `TEACHING.md` | the instructor's guide (docs/teaching.md): run times, scales, timing plan, grading, common mistakes |
| `ANSWER_KEY.md` | every exercise: task, answer, solution code, what the autograder checks, common mistakes, minutes |
| `notebooks/` | the series with the solutions expanded; under each one a `grader.check` cell (every test, hidden ones too) and the notes |
| `notebooks/tests/` | the tests, hidden cases included |

Students get `dist/student/` (`make student`). Grade their notebooks with
`make grade SUBMISSIONS=folder` (TEACHING.md, "Grading").
"""


# --------------------------------------------------------------------------- builds

def _fresh(out: Path) -> Path:
    """An empty ``out``: refuses to empty a folder that is not an earlier edition."""
    out = Path(out)
    if out.exists():
        if not (out / MARKER).is_file() and any(out.iterdir()):
            raise FileExistsError(f"{out} exists and is not an edition built here: not emptying it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("built by `python -m course`; rebuilt (emptied) by the next build\n")
    return out


def _copy_linked(out: Path, paths: list[Path]) -> list[Path]:
    written = []
    for relative in linked_files(paths):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / relative, target)
        written.append(target)
    return written


def build_student(out: Path, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Write the student edition into ``out``; return the files written."""
    out = _fresh(out)
    notebooks = series(notebook_dir)
    paths = notebook_paths(notebook_dir)
    written = []
    for path in paths:
        nb = student_notebook(nbformat.read(str(path), as_version=4), path.stem, notebooks[path.stem])
        target = out / "notebooks" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
        written.append(target)
    written += write_tests(out, notebooks, hidden=False)
    written += _copy_linked(out, paths)
    (out / "HANDOUT.md").write_text(STUDENT_README)
    return written + [out / "HANDOUT.md"]


def build_instructor(out: Path, notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """Write the instructor edition into ``out``; return the files written."""
    out = _fresh(out)
    notebooks = series(notebook_dir)
    notes = load_notes()
    paths = notebook_paths(notebook_dir)
    written = []
    for path in paths:
        nb = instructor_notebook(nbformat.read(str(path), as_version=4), path.stem,
                                 notebooks[path.stem], notes)
        target = out / "notebooks" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
        written.append(target)
    written += write_tests(out, notebooks, hidden=True)
    written += _copy_linked(out, paths)
    for name, text in [("ANSWER_KEY.md", answer_key(notebooks, notes)),
                       ("TEACHING.md", TEACHING.read_text()),
                       ("INSTRUCTOR.md", INSTRUCTOR_README)]:
        (out / name).write_text(text)
        written.append(out / name)
    return written
