"""The committed reference results are consistent: their tables are what their per-frame
metrics give, their diagnostics are complete, and each folder holds what the README says
(no models, small).

``reference_results/standard/`` is the standard profile (``make reference``, or a ``make
reproduce`` of the same commit with the models removed); ``paper-scale/`` the paper
profile (12,000 frames); ``standard-seeds-0-1/`` the tables over two seeds of the
standard study.  The tests recompute every table entry from the per-frame files (or the
per-seed tables) with plain NumPy and SciPy, not with the package.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "reference_results"
#: The single-seed folders with per-frame metrics for every run.
FOLDERS = [REFERENCE / "standard", REFERENCE / "paper-scale"]
SEEDS_FOLDER = REFERENCE / "standard-seeds-0-1"
RUNS = [f"{m}-{l}" for m in ("Backward", "Forward", "Bi-Directional", "Convolutional")
        for l in ("MSE", "MSLE", "CP")]


#: The film's seeds whose tables are written (each a study folder of its own).
FILM_SEEDS = sorted(p for p in (REFERENCE / "film" / "seeds").glob("seed-*")
                    if (p / "table1_blur_factor.csv").is_file())


@pytest.fixture(params=FOLDERS, ids=lambda f: f.name)
def folder(request) -> Path:
    return request.param


@pytest.fixture(params=FOLDERS + FILM_SEEDS,
                ids=lambda f: f"film-{f.name}" if f.parent.name == "seeds" else f.name)
def measured_folder(request) -> Path:
    """Every committed single-seed study with per-frame metrics, the film's seeds too."""
    return request.param


def test_the_films_seeds_are_small_and_model_free():
    assert FILM_SEEDS, "reference_results/film has no seed with tables"
    files = [p for p in (REFERENCE / "film").rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".keras" or "checkpoint" in p.name]
    assert sum(p.stat().st_size for p in files) < 15 * 2**20
    for seed in FILM_SEEDS:
        assert sorted(p.name for p in (seed / "runs").iterdir()) == sorted(RUNS)


def test_the_folder_is_complete_small_and_model_free(folder):
    for name in ("REPORT.md", "config.yaml", "run_info.json", "table1_blur_factor.csv",
                 "table2_relative_blur_factor.csv", "verdicts.csv", "diagnostics.csv",
                 "verdicts_by_measure.csv", "table3_blur_and_fidelity.csv",
                 "paper_comparison.csv"):
        assert (folder / name).is_file(), name
    assert sorted(p.name for p in (folder / "runs").iterdir()) == sorted(RUNS)
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".keras"]
    assert sum(p.stat().st_size for p in files) < 10 * 2**20
    info = json.loads((folder / "run_info.json").read_text())
    assert info["seconds"] > 0 and info["machine"]["cpu_count"] >= 1


def _per_frame_path(folder: Path, run: str) -> Path:
    """A run's per-frame metrics file: ``per_frame_metrics.csv``, or compressed where the
    folder would otherwise exceed its size limit (gzip: the paper scale; xz at six
    significant digits: the film)."""
    plain = folder / "runs" / run / "per_frame_metrics.csv"
    for path in (plain, plain.with_name(plain.name + ".gz"), plain.with_name(plain.name + ".xz")):
        if path.is_file():
            return path
    raise FileNotFoundError(plain)


def _per_frame(folder: Path, run: str) -> pd.DataFrame:
    return pd.read_csv(_per_frame_path(folder, run))


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


@pytest.mark.parametrize("table, column", [("table1_blur_factor.csv", "bf_pred"),
                                           ("table2_relative_blur_factor.csv", "rbf")])
def test_tables_equal_their_per_frame_metrics(measured_folder, table, column):
    summary = pd.read_csv(measured_folder / table).set_index("paper_row")
    for run in RUNS:
        model, loss = run.rsplit("-", 1)
        values = _per_frame(measured_folder, run)[column]
        finite = _finite(values.to_numpy(dtype=np.float64))
        row = summary.loc[f"{model} MLAE - {loss}"]
        assert row["n"] == len(values)
        assert row["n_inf"] == int(np.isinf(values).sum())
        assert row["mean"] == pytest.approx(finite.mean(), rel=1e-9)
        assert row["std"] == pytest.approx(finite.std(ddof=1), rel=1e-9)
        assert row["median"] == pytest.approx(np.median(finite), rel=1e-9)
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]


def test_rbf_is_bf_pred_over_bf_true_minus_one_in_every_run(measured_folder):
    for run in RUNS:
        path = _per_frame_path(measured_folder, run)
        m = pd.read_csv(path)
        # CSV rounding: ten significant digits, or six in the film's xz files (bf_pred,
        # bf_true and rbf each within 5e-6 relative: up to 1.5e-5 apart)
        rtol, atol = (2e-5, 1e-5) if path.suffix == ".xz" else (1e-8, 1e-9)
        np.testing.assert_allclose(m["rbf"], m["bf_pred"] / m["bf_true"] - 1, rtol=rtol, atol=atol)


def test_diagnostics_agree_with_each_runs_file_and_its_learned_label(measured_folder):
    table = pd.read_csv(measured_folder / "diagnostics.csv").set_index("method")
    for run in RUNS:
        model, loss = run.rsplit("-", 1)
        stored = json.loads((measured_folder / "runs" / run / "diagnostics.json").read_text())
        row = table.loc[f"{model} MLAE - {loss}"]
        assert row["input_gain_db"] == pytest.approx(stored["input_gain_db"], rel=1e-9)
        assert row["input_gain_db"] == pytest.approx(
            stored["psnr_own_db"] - stored["psnr_other_db"], rel=1e-9)
        assert (row["learned"] == "yes") == (stored["input_gain_db"] >= 1.0)
    # the mean-frame baseline predicts one picture for every target
    assert table.loc["Mean frame", "spread"] == pytest.approx(0.0, abs=1e-9)


def test_verdicts_follow_the_learned_labels(measured_folder):
    verdicts = pd.read_csv(measured_folder / "verdicts.csv")
    table1 = pd.read_csv(measured_folder / "table1_blur_factor.csv")
    idle = table1[table1["learned"] != "yes"]
    if len(idle):
        # some observation rests on a run that did not learn: it must say so
        assert "not meaningful" in set(verdicts["verdict"])
    else:
        assert "not meaningful" not in set(verdicts["verdict"])


def test_the_tables_over_seeds_are_the_per_seed_means_with_t_intervals():
    from scipy import stats

    over = pd.read_csv(SEEDS_FOLDER / "table1_blur_factor.csv").set_index("paper_row")
    seed0 = pd.read_csv(REFERENCE / "standard" / "table1_blur_factor.csv").set_index("paper_row")
    seed1 = pd.read_csv(SEEDS_FOLDER / "seed-1" / "table1_blur_factor.csv").set_index("paper_row")
    t = stats.t.ppf(0.975, df=1)
    for row in over.index:
        means = np.array([seed0.loc[row, "mean"], seed1.loc[row, "mean"]])
        assert (over.loc[row, "seed_0"], over.loc[row, "seed_1"]) == pytest.approx(tuple(means))
        assert over.loc[row, "mean"] == pytest.approx(means.mean())
        half = t * means.std(ddof=1) / np.sqrt(2)
        assert over.loc[row, "ci_low"] == pytest.approx(means.mean() - half)
        assert over.loc[row, "ci_high"] == pytest.approx(means.mean() + half)
    comparison = pd.read_csv(SEEDS_FOLDER / "paper_comparison.csv").set_index("paper_row")
    np.testing.assert_allclose(comparison.loc[over.index, "bf_mean_ours"], over["mean"])


def test_the_verdict_rates_count_the_seeds_verdicts():
    rates = pd.read_csv(SEEDS_FOLDER / "verdicts.csv").set_index("observation")
    seed0 = pd.read_csv(REFERENCE / "standard" / "verdicts.csv").set_index("observation")
    for obs, row in rates.iterrows():
        assert row["seed_0"] == seed0.loc[obs, "verdict"]
        assert row["holds"] == [row["seed_0"], row["seed_1"]].count("holds")
        assert row["verdict"].startswith(f"holds in {row['holds']} of 2 seeds")
        assert row["paired_tests"].startswith("for the claim in") or obs in ("BF-2", "RBF-1",
                                                                            "RBF-2")


AUDIT = REFERENCE / "standard-audit"
#: The run folder suffix of each model with all of the authors' quirks on.
QUIRK_SUFFIX = {"Forward": "a", "Backward": "ab", "Bi-Directional": "ac", "Convolutional": "aef"}


def test_the_audits_all_off_rows_are_the_standard_study():
    audit = pd.read_csv(AUDIT / "audit.csv")
    off = audit[audit["variant"] == "all off"].set_index("paper_row")
    for table, column in (("table1_blur_factor.csv", "bf_mean"),
                          ("table2_relative_blur_factor.csv", "rbf_mean")):
        study = pd.read_csv(REFERENCE / "standard" / table).set_index("paper_row")
        np.testing.assert_allclose(off.loc[study.index, column], study["mean"], rtol=1e-9)


@pytest.mark.parametrize("variant, runs", [("all on", "runs"), ("−d", "runs"),
                                           ("all on, steps matched", "audit-steps-matched/runs")])
def test_the_audits_quirk_rows_equal_their_per_frame_metrics(variant, runs):
    """−d trains nothing: it is the all-on runs with blur measured in the true layout."""
    audit = pd.read_csv(AUDIT / "audit.csv")
    rows = audit[audit["variant"] == variant]
    assert len(rows) == 12
    for row in rows.itertuples():
        folder = AUDIT / runs / f"{row.model}-{row.loss}~fillnet-{QUIRK_SUFFIX[row.model]}"
        # quirk (d): the dense models' blur is measured on the reshaped frames
        name = "per_frame_metrics.csv.gz" if row.model == "Convolutional" or variant == "−d" \
            else "per_frame_metrics_reshaped.csv.gz"
        metrics = pd.read_csv(folder / name)
        assert row.n == len(metrics)
        bf, rbf = (_finite(metrics[c].to_numpy(dtype=np.float64)) for c in ("bf_pred", "rbf"))
        assert row.bf_mean == pytest.approx(bf.mean(), rel=1e-9)
        assert row.rbf_mean == pytest.approx(rbf.mean(), rel=1e-9)
        gain = json.loads((folder / "diagnostics.json").read_text())["input_gain_db"]
        assert row.input_gain_db == pytest.approx(gain, rel=1e-9)
        assert bool(row.learned) == (gain >= 1.0)
        assert row.epochs == (20 if "steps matched" in variant else 10)


def test_the_audits_findings_follow_its_verdicts():
    verdicts = pd.read_csv(AUDIT / "audit_verdicts.csv").set_index(["observation", "variant"])
    for row in pd.read_csv(AUDIT / "audit_findings.csv").itertuples():
        off = verdicts.loc[(row.observation, "all off"), "verdict"]
        expected = "yes" if off == "holds" else "not meaningful" if off == "not meaningful" \
            else "no"
        assert row.survives == expected
        assert row.steps_matched == verdicts.loc[(row.observation, "all on, steps matched"),
                                                 "verdict"]
    # the authors' Conv-CP (quirk e: a constant loss) never learns
    audit = pd.read_csv(AUDIT / "audit.csv").set_index(["variant", "paper_row"])
    assert not audit.loc[("all on", "Convolutional MLAE - CP"), "learned"]


def test_a_fresh_checkout_trains_on_the_reference_frames(tmp_path, monkeypatch):
    """The standard study's frames, made from scratch (synthetic clip written, decoded,
    greyscaled, cropped, resized) in an empty data folder, and its split give the data
    fingerprint every committed standard run was trained on: with the pinned versions, a
    fresh `make reproduce` trains on exactly the reference's data."""
    from blurutils.config import load_config
    from blurutils.study import frames_split_and_jobs

    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(tmp_path / "data"))
    config = load_config(REFERENCE / "standard.yaml", out=str(tmp_path / "results"))
    _, _, jobs = frames_split_and_jobs(config)
    fresh = {job.run.name: job.run.data_fingerprint for _, _, job in jobs}
    committed = {run: json.loads((REFERENCE / "standard" / "runs" / run / "run.json")
                                 .read_text())["data_fingerprint"] for run in RUNS}
    assert fresh == committed


def test_this_code_reuses_every_committed_run(tmp_path, monkeypatch):
    """A run's fingerprint covers its settings and ``models.py``'s code: a change there
    would make ``make reference`` (and the film's resume) retrain every committed run.
    Today's code must count each committed standard run as finished."""
    from blurutils.config import load_config
    from blurutils.study import unfinished_runs

    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(tmp_path / "data"))
    config = load_config(REFERENCE / "standard.yaml", out=str(REFERENCE / "standard"))
    assert unfinished_runs(config) == []


BLUR_AWARE = REFERENCE / "blur-aware-loss"


def test_the_blur_aware_loss_table_is_what_its_per_frame_files_give():
    """loss_effects.csv is recomputed from the committed per-frame files, and says what
    its README says: sharper on every measure, the calibrated ones included, at a cost
    in PSNR and SSIM."""
    from blurutils.verdicts import loss_effects

    committed = pd.read_csv(BLUR_AWARE / "loss_effects.csv")
    again = loss_effects(BLUR_AWARE)
    assert list(committed.columns) == list(again.columns)
    assert list(committed["measure"]) == list(again["measure"])
    for column in ("estimate", "low", "high"):
        np.testing.assert_allclose(committed[column], again[column], rtol=1e-5)
    assert list(committed["reading"]) == list(again["reading"])
    for variant in ("MSE+BLUR", "CP+BLUR@0.5"):
        rows = committed[committed["variant"] == variant].set_index("measure")
        calibrated = rows[rows["calibrated"] == True]  # noqa: E712 (a column of booleans)
        assert len(calibrated) == 2 and set(calibrated["reading"]) == {"sharper"}
        assert rows.loc["PSNR (dB)", "reading"] == rows.loc["SSIM", "reading"] == "worse"
    files = [p for p in BLUR_AWARE.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".keras"]
    assert sum(p.stat().st_size for p in files) < 3 * 2**20


# --------------------------------------------------------------------------- five standard seeds, in progress

STANDARD_SEEDS = REFERENCE / "standard-seeds"


def test_the_standard_seeds_in_progress_are_finished_runs_of_their_seed():
    """Seeds of the five-seed standard study are committed as they finish (per-frame files
    only, xz): each is all twelve runs, finished, trained with its folder's seed and seed
    0's training settings, all twelve measured on the same test frames (the seed's own
    interleaved split: about 30% of the 4,998 targets)."""
    seeds = sorted((STANDARD_SEEDS / "seeds").glob("seed-*"))
    assert seeds, "reference_results/standard-seeds has no seed"
    seed0 = {run: json.loads((REFERENCE / "standard" / "runs" / run / "run.json").read_text())
             for run in RUNS}
    for folder in seeds:
        seed = int(folder.name.removeprefix("seed-"))
        assert seed > 0, "seed 0 is reference_results/standard"
        assert sorted(p.name for p in (folder / "runs").iterdir()) == sorted(RUNS)
        for run in RUNS:
            info = json.loads((folder / "runs" / run / "run.json").read_text())
            assert info["status"] == "done" and info["seed"] == seed, (folder.name, run)
            same = ("model", "loss", "epochs", "batch_size", "architecture", "conv_filters")
            assert {k: info[k] for k in same} == {k: seed0[run][k] for k in same}, run
            frames = pd.read_csv(folder / "runs" / run / "per_frame_metrics.csv.xz")
            assert np.isfinite(frames["psnr"]).all(), (folder.name, run)
            test_frames = tuple(frames["frame"])
            assert 1400 < len(test_frames) < 1600, (folder.name, run, len(test_frames))
            if run == RUNS[0]:
                first = test_frames
            assert test_frames == first, (folder.name, run)
    files = [p for p in STANDARD_SEEDS.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".keras" or "checkpoint" in p.name]
