"""The course kit (``course/``, ``make student``, ``make instructor``, ``make grade``).

* The exercises, their Otter-Grader test files (``course/checks/``) and the instructor notes
  (``course/notes.yaml``) match one to one; every scaffold's function is called by its tests.
* The student edition has no solution code: no cell tagged ``solution``, and no line that only a
  solution holds appears in any cell, in its tests (hidden cases are left out) or its notes; a
  ``grader.check`` cell follows every exercise cell.
* The instructor edition has the solutions expanded and checked, the answer key and all tests.
* The autograder gives the instructor edition full marks and the blank student edition none
  (00 here; the whole series in the slow tier), and turns each faulty submission (syntax error,
  endless loop, deleted cell, wrong file type, unreadable file, a crash, an unknown notebook)
  into rows with a reason while grading goes on.
* LICENSE and CITATION.cff; the Makefile's targets.

Slow tier: the autograder on the whole series (TensorFlow; tiny models train), and the checks
run in a Jupyter kernel.  Nothing here executes a notebook at its defaults.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from course import editions, grading  # noqa: E402
from course.series import notebook_paths, series, tags  # noqa: E402

SERIES = series()
EXERCISES = [ex for exercises in SERIES.values() for ex in exercises]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("editions")
    editions.build_student(root / "student")
    editions.build_instructor(root / "instructor")
    return {"student": root / "student", "instructor": root / "instructor"}


def _grade(tmp_path: Path, files: dict[str, Path | bytes | str], **kwargs) -> list[dict]:
    """Lay ``files`` out under a submissions folder, grade it, return the CSV's rows."""
    folder = tmp_path / "submissions"
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            target.write_bytes(content.read_bytes())
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    out = tmp_path / "grades.csv"
    grading.grade(folder, out, report=lambda line: None, **kwargs)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == grading.COLUMNS
    return rows


# --------------------------------------------------------------------------- the sources

def test_every_exercise_has_tests_and_notes() -> None:
    from otter.test_files import ExceptionTestFile

    assert len(EXERCISES) == 26, f"{len(EXERCISES)} exercises found in the series"
    notes = editions.load_notes()
    for ex in EXERCISES:
        assert ex.names, f"{ex.notebook} {ex.key}: the scaffold defines no function to test"
        test_file = ExceptionTestFile.from_file(str(ex.checks))
        assert test_file.name == ex.key and test_file.possible == pytest.approx(1.0)
        public = [tc for tc in test_file.test_cases if not tc.hidden]
        assert public, f"{ex.notebook} {ex.key}: no public test for grader.check"
        called = {arg for tc in test_file.test_cases for arg in tc.body._get_func_params()}
        assert set(ex.names) <= called, f"{ex.notebook} {ex.key}: {set(ex.names) - called} never tested"
        note = notes[ex.notebook][ex.key]
        assert note["answer"] and note["mistakes"] and note["minutes"] > 0, (ex.notebook, ex.key)
    checks = {(p.parent.name, p.stem) for p in (REPO / "course" / "checks").glob("*/q*.py")}
    assert checks == {(ex.notebook, ex.key) for ex in EXERCISES}, "test files without an exercise"
    assert {(nb, q) for nb, qs in notes.items() for q in qs} == checks, "notes without an exercise"


def test_public_tests_leave_out_hidden_cases() -> None:
    source = (REPO / "course" / "checks" / "00_overview" / "q3.py").read_text()
    public = editions.public_tests(source)
    assert "hidden=True" in source and "hidden=True" not in public
    assert "def test_other_sizes" not in public and "def test_partial_batch" in public
    compile(public, "q3.py", "exec")


# --------------------------------------------------------------------------- the editions

def _solution_only_lines(path: Path) -> dict[str, set[str]]:
    """Per exercise, the lines of its solution cell that no other cell of the source holds."""
    nb = _read(path)
    elsewhere = {line.strip() for c in nb.cells if "solution" not in tags(c) for line in c.source.splitlines()}
    found, k = {}, 0
    for cell in nb.cells:
        if "solution" in tags(cell):
            k += 1
            found[f"q{k}"] = {line.strip() for line in cell.source.splitlines()
                              if re.search(r"\w", line) and line.strip() not in elsewhere}
    return found


def test_student_edition_has_no_solution_code(built: dict[str, Path]) -> None:
    student = built["student"]
    notes = editions.load_notes()
    for path in notebook_paths():
        nb = _read(student / "notebooks" / path.name)
        nbformat.validate(nb)
        assert not [c for c in nb.cells if "solution" in tags(c)], f"{path.name}: a solution cell"
        text = {line.strip() for c in nb.cells for line in c.source.splitlines()}
        for test in (student / "notebooks" / "tests" / path.stem).glob("*.py"):
            test_source = test.read_text()
            assert "hidden=True" not in test_source, f"{test}: a hidden test case"
            text |= {line.strip() for line in test_source.splitlines()}
        whole = "\n".join(c.source for c in nb.cells)
        for key, lines in _solution_only_lines(path).items():
            assert lines, f"{path.name} {key}: the solution adds nothing to its scaffold?"
            leaked = lines & text
            assert not leaked, f"{path.name} {key}: solution lines in the student edition: {sorted(leaked)[:3]}"
            note = notes[path.stem][key]
            assert note["answer"] not in whole and not any(m in whole for m in note["mistakes"])
        assert "hidden\nsolution cell follows" not in whole and "collapsed cell" not in whole


def test_student_edition_checks_every_exercise(built: dict[str, Path]) -> None:
    student = built["student"]
    for path in notebook_paths():
        nb = _read(student / "notebooks" / path.name)
        exercises = SERIES[path.stem]
        init = [i for i, c in enumerate(nb.cells) if "otter.Notebook(" in c.source]
        scaffolds = [i for i, c in enumerate(nb.cells) if "exercise" in tags(c)]
        assert len(init) == 1 and init[0] < scaffolds[0], f"{path.name}: no grader cell before the exercises"
        assert f'tests_dir="tests/{path.stem}"' in nb.cells[init[0]].source
        assert len(scaffolds) == len(exercises)
        for i, ex in zip(scaffolds, exercises):
            assert nb.cells[i].source == ex.scaffold and nb.cells[i].metadata.get("deletable") is False
            assert nb.cells[i + 1].source == f'grader.check("{ex.key}")', f"{path.name}: no check under {ex.key}"
            assert (student / "notebooks" / "tests" / path.stem / f"{ex.key}.py").is_file()
        for target in re.findall(r"\]\((\.\./[^)#\s]+)", "\n".join(c.source for c in nb.cells)):
            assert (student / "notebooks" / target).resolve().is_file(), f"{path.name}: {target} missing"
    assert (student / "HANDOUT.md").is_file()


def test_instructor_edition(built: dict[str, Path]) -> None:
    instructor = built["instructor"]
    key = (instructor / "ANSWER_KEY.md").read_text()
    assert (instructor / "TEACHING.md").read_text() == (REPO / "docs" / "teaching.md").read_text()
    for path in notebook_paths():
        nb = _read(instructor / "notebooks" / path.name)
        solutions = [i for i, c in enumerate(nb.cells) if "solution" in tags(c)]
        assert len(solutions) == len(SERIES[path.stem])
        for i, ex in zip(solutions, SERIES[path.stem]):
            assert "jupyter" not in nb.cells[i].metadata, f"{path.name}: a solution is still collapsed"
            assert nb.cells[i + 1].source == f'grader.check("{ex.key}")'
            assert nb.cells[i + 2].source.startswith("> **Instructor notes")
            assert f"### Exercise {ex.number}: {ex.title}" in key and ex.solution.rstrip() in key
            tests = (instructor / "notebooks" / "tests" / path.stem / f"{ex.key}.py").read_text()
            assert tests == ex.checks.read_text()


def test_a_rebuild_never_empties_a_foreign_folder(tmp_path: Path) -> None:
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        editions.build_student(precious)
    assert (precious / "mine.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- grading

def test_submissions_are_named_by_folder_or_file(tmp_path: Path) -> None:
    for name in ("ann/03_forward_autoencoder.ipynb", "bo_03_forward_autoencoder.ipynb",
                 "cy-07.ipynb", "dee/notes.txt", ".hidden/x.ipynb", "ann/.ipynb_checkpoints/x.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = {(s.relative, s.student, s.notebook) for s in grading.find_submissions(tmp_path, list(SERIES))}
    assert found == {("ann/03_forward_autoencoder.ipynb", "ann", "03_forward_autoencoder"),
                     ("bo_03_forward_autoencoder.ipynb", "bo", "03_forward_autoencoder"),
                     ("cy-07.ipynb", "cy", "07_train_all_models"), ("dee/notes.txt", "dee", None)}


def test_instructor_passes_and_blank_student_fails(built: dict[str, Path], tmp_path: Path) -> None:
    name = "00_overview.ipynb"
    rows = _grade(tmp_path, {f"key/{name}": built["instructor"] / "notebooks" / name,
                             f"blank/{name}": built["student"] / "notebooks" / name}, jobs=2)
    by_student = {s: [r for r in rows if r["student"] == s] for s in ("key", "blank")}
    assert len(by_student["key"]) == len(by_student["blank"]) == 3
    for row in by_student["key"]:
        assert (row["status"], float(row["score"])) == ("passed", 1.0), row
        assert row["reason"] == grading.SOLUTION_NOTE
    for row in by_student["blank"]:
        assert (row["status"], float(row["score"])) == ("not done", 0.0), row
        assert "NotImplementedError" in row["reason"]


def _answered(source: Path, answers: dict[str, str], drop: str | None = None) -> str:
    """A copy of ``source`` with some exercise cells replaced (and one deleted)."""
    nb = _read(source)
    cells = []
    for cell in nb.cells:
        name = next((n for n in answers if f"def {n}(" in cell.source), None) if "exercise" in tags(cell) else None
        if drop and "exercise" in tags(cell) and f"def {drop}(" in cell.source:
            continue
        if name:
            cell.source = answers[name]
        cells.append(cell)
    nb.cells = cells
    return nbformat.writes(nb)


EXTREMES = ('def extremes(table):\n    low, high = table["bf_mean"].idxmin(), table["bf_mean"].idxmax()\n'
            '    return table.loc[low, "paper_row"], table.loc[high, "paper_row"]\n\n\nprint(extremes(paper))\n')


def test_faulty_submissions_get_a_row_with_a_reason(built: dict[str, Path], tmp_path: Path) -> None:
    blank = built["student"] / "notebooks" / "00_overview.ipynb"
    files = {
        # 1 right, 2 a syntax error, 3 an endless loop
        "alice/00_overview.ipynb": _answered(blank, {
            "extremes": EXTREMES,
            "blur": "import cv2\n\ndef blur(image)\n    return cv2.GaussianBlur(image, (7, 7), 2)\n",
            "adam_steps": "def adam_steps(n_train, batch_size, epochs):\n    while True:\n        pass\n"}),
        "bob_00_overview.ipynb": _answered(blank, {}, drop="extremes"),            # a deleted cell
        "carol_00_overview.pdf": b"%PDF-1.4 a notebook printed to PDF",          # a wrong file type
        "dan-00.ipynb": "print('a script saved as .ipynb')\n",                    # not JSON
        "erin_00_overview.ipynb": _answered(blank, {                              # the process dies
            "extremes": EXTREMES, "blur": "import os\n\ndef blur(image):\n    os._exit(3)\n"}),
        "fay/homework.ipynb": nbformat.writes(nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_markdown_cell("# My notes")])),               # which notebook?
    }
    rows = _grade(tmp_path, files, jobs=2, time_limit=5)
    got = {(r["student"], r["exercise"]): r for r in rows}
    assert {s for s, _ in got} == {"alice", "bob", "carol", "dan", "erin", "fay"}
    expect = {
        ("alice", "q1"): ("passed", ""), ("alice", "q2"): ("syntax error", "line 3: expected ':'"),
        ("alice", "q3"): ("time limit", "ran over the time limit of 5 s"),
        ("bob", "q1"): ("missing cell", "no cell defines extremes()"),
        ("bob", "q2"): ("not done", "NotImplementedError"),
        ("carol", "q1"): ("wrong file type", "a .pdf file, not a Jupyter notebook"),
        ("dan", "q3"): ("not a notebook", "cannot be read as a Jupyter notebook"),
        ("erin", "q1"): ("passed", ""),
        ("erin", "q2"): ("crashed", "stopped (exit code 3) during this exercise"),
        ("erin", "q3"): ("not graded", "not reached"),
        ("fay", ""): ("unknown notebook", "neither its name"),
    }
    for key, (status, reason) in expect.items():
        row = got[key]
        assert row["status"] == status and reason in row["reason"], (key, row["status"], row["reason"])
        assert float(row["score"]) == (1.0 if status == "passed" else 0.0)
    assert all(r["reason"] for r in rows if r["status"] != "passed")
    assert len(rows) == 3 * 5 + 1


def test_grading_runs_definitions_not_demonstrations() -> None:
    import ast

    from course.worker import definitions

    tree = ast.parse("import cv2\nK = (7, 7)\nframe = frames[3]\nprint(K)\n"
                     "def blur(image):\n    return cv2.GaussianBlur(image, K, 2)\n"
                     "for i in range(10**9):\n    pass\n")
    kept = [type(node).__name__ for node in definitions(tree).body]
    assert kept == ["Import", "Assign", "FunctionDef"]


# --------------------------------------------------------------------------- files and make

def test_license_and_citation() -> None:
    import tomllib

    license_text = (REPO / "LICENSE").read_text()
    assert license_text.startswith("MIT License\n\nCopyright (c) 2026 the blurutils authors\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in license_text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["license"] == project["license"] == "MIT" and cff["version"] == project["version"]
    paper, film = cff["references"]
    assert paper["title"] == ("Quantitative Analysis of Blurring Effects in Autoencoder "
                              "Architectures for Video Interpolation")
    names = [(a["given-names"], a["family-names"], a["affiliation"]) for a in paper["authors"]]
    assert names == [(g, f, "Johns Hopkins University")
                     for g, f in [("Lucas", "McCabe"), ("William", "Glad"), ("Guillermo", "Pinczuk")]]
    assert "doi" not in paper and "year" not in paper, "the paper's text gives neither"
    assert (film["title"], film["year"], film["license"]) == ("Big Buck Bunny", 2008, "CC-BY-3.0")
    assert film["authors"] == [{"name": "Blender Foundation"}]


def test_make_targets() -> None:
    dry = subprocess.run(["make", "-n", "STAMP=", "student", "instructor", "grade", "SUBMISSIONS=hw"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    for line in ("-m course student --out dist/student", "-m course instructor --out dist/instructor",
                 '-m course grade "hw" --out "dist/grades.csv"'):
        assert line in dry, dry
    usage = subprocess.run(["make", "-s", "STAMP=", "grade"], cwd=REPO, capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: make grade SUBMISSIONS=" in usage.stderr
    assert "/dist/" in (REPO / ".gitignore").read_text().splitlines()


# --------------------------------------------------------------------------- slow

@pytest.mark.slow
def test_autograder_on_the_whole_series(built: dict[str, Path], tmp_path: Path) -> None:
    """Full marks for the instructor edition, none for the blank student edition, every
    notebook (TensorFlow loads; the training exercises train tiny models)."""
    files = {}
    for path in notebook_paths():
        files[f"key/{path.name}"] = built["instructor"] / "notebooks" / path.name
        files[f"blank/{path.name}"] = built["student"] / "notebooks" / path.name
    rows = _grade(tmp_path, files, jobs=2)
    assert len(rows) == 2 * len(EXERCISES)
    for row in rows:
        expected = ("passed", 1.0) if row["student"] == "key" else ("not done", 0.0)
        assert (row["status"], float(row["score"])) == expected, row


@pytest.mark.slow
@pytest.mark.notebooks
def test_checks_run_in_a_kernel(built: dict[str, Path], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``grader.check`` in Jupyter: passes under the instructor's solutions, reports the
    unfinished exercises in the student edition (00, 16 frames)."""
    import papermill

    monkeypatch.setenv("BLURUTILS_RESULTS_DIR", str(tmp_path / "results"))
    for edition in ("instructor", "student"):
        folder = built[edition] / "notebooks"
        out = tmp_path / f"{edition}.ipynb"
        papermill.execute_notebook(str(folder / "00_overview.ipynb"), str(out), parameters={"MAX_FRAMES": 16},
                                   kernel_name="python3", cwd=str(folder), progress_bar=False,
                                   log_output=False, execution_timeout=600)
        checks = [c for c in _read(out).cells if c.source.startswith("grader.check(")]
        texts = [o.data["text/plain"] for c in checks for o in c.outputs if o.output_type == "execute_result"]
        assert len(texts) == 3
        for text in texts:
            if edition == "instructor":
                assert "All test cases passed" in text, text
            else:
                assert "NotImplementedError: Student exercise" in text, text
