"""The committed reference results (``reference_results/standard/``) are consistent:
their tables are what their per-frame metrics give, their diagnostics are complete, and
the folder holds what the README says (no models, small).

These are results of the standard profile, produced by ``make reference`` (or copied
from a ``make reproduce`` of the same commit, models removed); the tests recompute
every table entry from the per-frame files with plain NumPy, not with the package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FOLDER = Path(__file__).resolve().parents[1] / "reference_results" / "standard"
RUNS = [f"{m}-{l}" for m in ("Backward", "Forward", "Bi-Directional", "Convolutional")
        for l in ("MSE", "MSLE", "CP")]


def test_the_folder_is_complete_small_and_model_free():
    for name in ("REPORT.md", "config.yaml", "run_info.json", "table1_blur_factor.csv",
                 "table2_relative_blur_factor.csv", "verdicts.csv", "diagnostics.csv",
                 "verdicts_by_measure.csv", "table3_blur_and_fidelity.csv",
                 "paper_comparison.csv"):
        assert (FOLDER / name).is_file(), name
    assert sorted(p.name for p in (FOLDER / "runs").iterdir()) == sorted(RUNS)
    files = [p for p in FOLDER.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".keras"]
    assert sum(p.stat().st_size for p in files) < 10 * 2**20
    info = json.loads((FOLDER / "run_info.json").read_text())
    assert info["seconds"] > 0 and info["machine"]["cpu_count"] >= 1


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


@pytest.mark.parametrize("table, column", [("table1_blur_factor.csv", "bf_pred"),
                                           ("table2_relative_blur_factor.csv", "rbf")])
def test_tables_equal_their_per_frame_metrics(table, column):
    summary = pd.read_csv(FOLDER / table).set_index("paper_row")
    for run in RUNS:
        model, loss = run.rsplit("-", 1)
        values = pd.read_csv(FOLDER / "runs" / run / "per_frame_metrics.csv")[column]
        finite = _finite(values.to_numpy(dtype=np.float64))
        row = summary.loc[f"{model} MLAE - {loss}"]
        assert row["n"] == len(values)
        assert row["n_inf"] == int(np.isinf(values).sum())
        assert row["mean"] == pytest.approx(finite.mean(), rel=1e-9)
        assert row["std"] == pytest.approx(finite.std(ddof=1), rel=1e-9)
        assert row["median"] == pytest.approx(np.median(finite), rel=1e-9)
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_rbf_is_bf_pred_over_bf_true_minus_one_in_every_run():
    for run in RUNS:
        m = pd.read_csv(FOLDER / "runs" / run / "per_frame_metrics.csv")
        np.testing.assert_allclose(m["rbf"], m["bf_pred"] / m["bf_true"] - 1, rtol=1e-8)


def test_diagnostics_agree_with_each_runs_file_and_its_learned_label():
    table = pd.read_csv(FOLDER / "diagnostics.csv").set_index("method")
    for run in RUNS:
        model, loss = run.rsplit("-", 1)
        stored = json.loads((FOLDER / "runs" / run / "diagnostics.json").read_text())
        row = table.loc[f"{model} MLAE - {loss}"]
        assert row["input_gain_db"] == pytest.approx(stored["input_gain_db"], rel=1e-9)
        assert row["input_gain_db"] == pytest.approx(
            stored["psnr_own_db"] - stored["psnr_other_db"], rel=1e-9)
        assert (row["learned"] == "yes") == (stored["input_gain_db"] >= 1.0)
    # the mean-frame baseline predicts one picture for every target
    assert table.loc["Mean frame", "spread"] == pytest.approx(0.0, abs=1e-9)


def test_verdicts_follow_the_learned_labels():
    verdicts = pd.read_csv(FOLDER / "verdicts.csv")
    table1 = pd.read_csv(FOLDER / "table1_blur_factor.csv")
    idle = table1[table1["learned"] != "yes"]
    if len(idle):
        # some observation rests on a run that did not learn: it must say so
        assert "not meaningful" in set(verdicts["verdict"])
    else:
        assert "not meaningful" not in set(verdicts["verdict"])
