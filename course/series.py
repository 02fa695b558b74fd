"""The exercises of the notebook series, read from the notebooks themselves.

An exercise is a markdown cell ``### Exercise k: <title>``, then a code cell tagged
``exercise`` (the scaffold a student completes: it defines one or more functions), then a
code cell tagged ``solution`` (notebooks/README.md, "Exercises").  Its tests are the
Otter-Grader test file ``course/checks/<notebook>/q<k>.py``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
CHECKS_DIR = Path(__file__).resolve().parent / "checks"
EXERCISE_TAG = "exercise"
SOLUTION_TAG = "solution"
HEADING = re.compile(r"^### Exercise (\d+): (.+)$", re.M)


@dataclass(frozen=True)
class Exercise:
    """One exercise of one notebook."""

    notebook: str            # the notebook's stem, e.g. "03_forward_autoencoder"
    number: int              # k of "Exercise k"
    title: str               # the heading after "Exercise k: "
    prompt: str              # the markdown cell that states the task
    scaffold: str            # source of the cell tagged ``exercise``
    solution: str            # source of the cell tagged ``solution``
    names: tuple[str, ...]   # the functions the scaffold defines: what the tests call

    @property
    def key(self) -> str:
        """The Otter question name: ``q1`` for Exercise 1 (``grader.check("q1")``)."""
        return f"q{self.number}"

    @property
    def checks(self) -> Path:
        """The Otter-Grader test file of this exercise."""
        return CHECKS_DIR / self.notebook / f"{self.key}.py"

    @property
    def n_tests(self) -> int:
        """Test cases in the test file (read, not run)."""
        return sum(1 for line in self.checks.read_text().splitlines() if line.startswith("@test_case"))


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def python_only(source: str) -> str:
    """``source`` with IPython magics and shell lines commented out, so ``ast`` reads it."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def defined_functions(source: str) -> tuple[str, ...]:
    """Names of the top-level functions ``source`` defines (none if it does not parse)."""
    try:
        tree = ast.parse(python_only(source))
    except SyntaxError:
        return ()
    return tuple(node.name for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


def notebook_paths(notebook_dir: Path = NOTEBOOK_DIR) -> list[Path]:
    """The series, in order: ``NN_*.ipynb``."""
    return sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))


def exercises_of(nb: nbformat.NotebookNode, notebook: str) -> list[Exercise]:
    """The exercises of one notebook, in order."""
    found: list[Exercise] = []
    heading = None
    scaffold = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = HEADING.search(cell.source)
            if match:
                heading, scaffold = (int(match.group(1)), match.group(2).strip(), cell.source), None
            continue
        if cell.cell_type != "code" or heading is None:
            continue
        if EXERCISE_TAG in tags(cell):
            scaffold = cell.source
        elif SOLUTION_TAG in tags(cell) and scaffold is not None:
            number, title, prompt = heading
            found.append(Exercise(notebook, number, title, prompt, scaffold, cell.source,
                                  defined_functions(scaffold)))
            heading = scaffold = None
    return found


@lru_cache(maxsize=None)
def _series(notebook_dir: Path) -> tuple[tuple[str, tuple[Exercise, ...]], ...]:
    return tuple((path.stem, tuple(exercises_of(nbformat.read(str(path), as_version=4), path.stem)))
                 for path in notebook_paths(notebook_dir))


def series(notebook_dir: Path = NOTEBOOK_DIR) -> dict[str, list[Exercise]]:
    """Every notebook's exercises: ``{"00_overview": [Exercise, ...], ...}``."""
    return {name: list(found) for name, found in _series(Path(notebook_dir).resolve())}


def identify(filename: str, notebooks: list[str]) -> str | None:
    """The notebook a submitted file is a copy of, from its name: the series notebook whose
    number ``NN`` stands alone in it (``alice_03.ipynb``, ``03_forward_autoencoder-bob``)."""
    stem = Path(filename).stem
    for name in notebooks:
        if name in stem:
            return name
    numbers = re.findall(r"(?<!\d)(\d\d)(?!\d)", stem)
    matches = [name for name in notebooks if name[:2] in numbers]
    return matches[0] if len(matches) == 1 else None


def title_of(nb: nbformat.NotebookNode) -> str:
    """The first line of a notebook's first markdown cell (its title)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            return cell.source.strip().splitlines()[0].strip()
    return ""
