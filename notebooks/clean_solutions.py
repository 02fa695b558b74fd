"""Hide the exercise solutions of executed notebooks: ``python notebooks/clean_solutions.py [NB ...]``.

Every code cell tagged ``solution`` loses its outputs and execution count and is
collapsed (``"jupyter": {"source_hidden": true, "outputs_hidden": true}``), so a student
sees nothing of it until they expand it.  The other code cells are numbered again 1..n
in order (with the counts of their ``execute_result`` outputs), so the stored counts
read as a run without the solutions.  Without arguments: every ``NN_*.ipynb`` beside
this script.  ``make notebooks`` runs it after executing the notebooks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

SOLUTION_TAG = "solution"


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with its solutions hidden and output-less and the other cells renumbered."""
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.setdefault("jupyter", {}).update(source_hidden=True, outputs_hidden=True)
            continue
        if cell.execution_count is None:
            continue  # never executed: leave it so
        count += 1
        cell.execution_count = count
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = count
    return nb


def main(paths: list[str]) -> int:
    targets = [Path(p) for p in paths] or sorted(Path(__file__).parent.glob("[0-9][0-9]_*.ipynb"))
    for path in targets:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.write(clean(nb), str(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
