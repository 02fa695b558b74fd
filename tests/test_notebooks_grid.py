"""nbval on the notebooks that train the excerpt's grid and the audit (07-09): re-executed at
their defaults, their checked outputs compared with the stored ones.  A module of its
own so that ``pytest -n auto --dist loadscope`` runs it beside tests/test_notebooks.py
(see that module's docstring for the conventions)."""

from __future__ import annotations

from pathlib import Path

from test_notebooks import run_nbval

GRID_NOTEBOOKS = ["07_train_all_models", "08_blur_analysis", "09_beyond_the_paper"]


def test_stored_outputs_with_nbval_of_the_grid_notebooks(tmp_path: Path) -> None:
    run_nbval(GRID_NOTEBOOKS, tmp_path)
