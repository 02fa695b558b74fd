"""nbval on the notebooks that train one model each (03-06) on the film excerpt:
re-executed at their defaults, their checked outputs compared with the stored ones.  A
module of its own so that ``pytest -n auto --dist loadscope`` runs it beside
tests/test_notebooks.py and tests/test_notebooks_grid.py (see test_notebooks' docstring
for the conventions)."""

from __future__ import annotations

from pathlib import Path

from test_notebooks import run_nbval

MODEL_NOTEBOOKS = ["03_forward_autoencoder", "04_backward_autoencoder",
                   "05_bidirectional_autoencoder", "06_convolutional_autoencoder"]


def test_stored_outputs_with_nbval_of_the_model_notebooks(tmp_path: Path) -> None:
    run_nbval(MODEL_NOTEBOOKS, tmp_path)
