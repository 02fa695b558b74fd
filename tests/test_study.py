"""The study: the smoke profile end to end (trained once per test session), the paper's
tables and observations, and idempotent reruns.

The smoke study (16 frames of the sample clip, 2 epochs, 12 runs) is the only
expensive part; every test below that needs trained runs reads its output folder.
Verdict logic and summary tables are tested on synthetic numbers, without training.  A
source that is not an http(s) URL stops the study before yt-dlp is called or anything is
written.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import re
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blurutils.catalog import ALL_LOSSES, ALL_MODELS
from blurutils.config import load_config, make_config
from blurutils.errors import SourceError
from blurutils.metrics import SHARPNESS_COLUMNS

#: The paper's Tables 1-2 as printed (mean, std), transcribed by hand from the paper's
#: text: an independent check of the packaged full-precision file.
PRINTED_TABLES = {
    "Backward MLAE - MSE": (10.9949, 17.3854, 0.39392, 0.69326),
    "Backward MLAE - MSLE": (10.8436, 15.2972, 0.37855, 0.63957),
    "Backward MLAE - CP": (4.00839, 2.95358, -0.43245, 0.25595),
    "Forward MLAE - MSE": (10.7538, 17.594, 0.33912, 0.72271),
    "Forward MLAE - MSLE": (10.9283, 18.8961, 0.34999, 0.72292),
    "Forward MLAE - CP": (3.77434, 2.25595, -0.45711, 0.1971),
    "Bi-Directional MLAE - MSE": (10.7391, 15.2558, 0.36767, 0.67801),
    "Bi-Directional MLAE - MSLE": (10.7269, 22.6795, 0.30246, 0.85977),
    "Bi-Directional MLAE - CP": (3.94646, 2.46125, -0.42955, 0.26931),
    "Convolutional MLAE - MSE": (117.685, 56.5844, 16.1837, 3.05879),
    "Convolutional MLAE - MSLE": (154.445, 71.3409, 21.7373, 4.26764),
    "Convolutional MLAE - CP": (52638.3, 22244.4, 7820.67, 1421.55),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUN_NAMES = [f"{m}-{l}" for m in ALL_MODELS for l in ALL_LOSSES]
TABLE_FILES = ["table1_blur_factor.csv", "table1_blur_factor.md",
               "table2_relative_blur_factor.csv", "table2_relative_blur_factor.md",
               "paper_comparison.csv", "paper_comparison.md", "verdicts.csv", "REPORT.md"]
FIGURES = ["figure2_training_loss.png", "figure3_blur_factor.png",
           "figure4_relative_blur_factor.png"]
VERDICTS = {"holds", "does not hold", "not tested", "not meaningful"}
OBSERVATIONS = ["BF-1", "BF-2", "BF-3", "RBF-1", "RBF-2", "RBF-3"]


def packaged_paper_rows() -> list[str]:
    """The paper's row labels in its order, read from the packaged data file directly."""
    text = resources.files("blurutils").joinpath("data/paper_tables_1_2.csv").read_text()
    return pd.read_csv(io.StringIO(text), comment="#")["paper_row"].tolist()


def laplace_bf(frames_uint8: np.ndarray) -> np.ndarray:
    """Independent Blur Factor: scipy's 5-point Laplacian (reflect) on [0, 1] floats."""
    from scipy import ndimage

    out = []
    for frame in frames_uint8:
        lap = ndimage.laplace(frame.astype(np.float64) / 255.0, mode="reflect")
        out.append(1.0 / lap.var())
    return np.asarray(out)


def link_tree(src: Path, dst: Path) -> None:
    """Copy a results folder with hard links (the study replaces files atomically, so the
    original is never modified through a link)."""
    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link)


# --------------------------------------------------------------------------- the smoke study
# (``smoke`` and ``smoke_frames`` are session fixtures in conftest.py)

@pytest.fixture(scope="module")
def test_targets(smoke):
    from blurutils.pairs import split_targets

    c = smoke.config
    return split_targets(16, test_fraction=c.test_fraction, seed=c.seed, method=c.split).test


def read_table(smoke, name: str) -> pd.DataFrame:
    return pd.read_csv(smoke.out / name)


def test_smoke_study_writes_every_output_file(smoke):
    for name in ["config.yaml", *TABLE_FILES, *FIGURES]:
        path = smoke.out / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
    assert sorted(p.name for p in (smoke.out / "runs").iterdir()) == sorted(RUN_NAMES)
    # no temporary or checkpoint files left behind
    leftovers = [p for p in smoke.out.rglob("*")
                 if ".tmp" in p.name or p.name.startswith("checkpoint-")
                 or p.name == "state.json" or p.name == ".write-test"]
    assert leftovers == []


def test_smoke_study_result_paths(smoke):
    files = smoke.result.files
    assert files["report"] == smoke.out / "REPORT.md"
    for key in ("table1", "table2", "comparison", "report", "figure2", "figure3", "figure4"):
        assert Path(files[key]).is_file(), key


def test_config_yaml_reads_back_to_the_study_config(smoke):
    assert load_config(smoke.out / "config.yaml") == smoke.config


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_valid_non_trivial_pngs(smoke, name):
    import cv2

    path = smoke.out / name
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size > 10_000
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None
    assert image.shape[0] > 200 and image.shape[1] > 300
    assert image.std() > 0  # not a blank canvas


def test_report_links_every_table_figure_and_the_config(smoke):
    report = (smoke.out / "REPORT.md").read_text(encoding="utf-8")
    targets = set(re.findall(r"\]\(([^)\s]+)\)", report))
    for name in ["config.yaml", "table1_blur_factor.csv", "table2_relative_blur_factor.csv",
                 "paper_comparison.csv", "verdicts.csv", *FIGURES]:
        assert name in targets, name
    for target in targets:
        assert (smoke.out / target).is_file(), target
    for figure in FIGURES:
        assert re.search(r"!\[[^\]]*\]\(" + re.escape(figure) + r"\)", report), figure
    assert "Table 1" in report and "Table 2" in report
    for label in packaged_paper_rows():
        assert label in report


@pytest.mark.parametrize("run_name", RUN_NAMES)
def test_each_run_folder(smoke, run_name, test_targets):
    run = smoke.out / "runs" / run_name
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "done"
    model, loss = run_name.rsplit("-", 1)
    assert (meta["model"], meta["loss"], meta["epochs"]) == (model, loss, 2)
    assert (run / "model.keras").is_file() and (run / "model.keras").stat().st_size > 1000

    history = pd.read_csv(run / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "val_loss"]
    assert history["epoch"].tolist() == [1, 2]
    assert np.isfinite(history[["loss", "val_loss"]].to_numpy()).all()

    metrics = pd.read_csv(run / "per_frame_metrics.csv")
    assert list(metrics.columns) == ["frame", "bf_pred", "bf_true", "rbf", "psnr", "ssim",
                                     "bf_matched", "rbf_matched", "blurrier_tiles",
                                     *SHARPNESS_COLUMNS]
    assert len(metrics) == len(test_targets) == 6  # 3 interleaved blocks of 2 of 14 targets
    assert np.isfinite(metrics[list(SHARPNESS_COLUMNS)].to_numpy()).all()
    assert (run / "diagnostics.json").is_file()
    assert metrics["frame"].tolist() == test_targets.tolist()
    assert (metrics["bf_pred"] > 0).all() and (metrics["bf_true"] > 0).all()
    assert ((metrics["ssim"] > -1) & (metrics["ssim"] <= 1)).all()


def test_bf_true_equals_an_independent_laplacian(smoke, smoke_frames, test_targets):
    expected = laplace_bf(smoke_frames[test_targets])
    for run_name in RUN_NAMES:
        metrics = pd.read_csv(smoke.out / "runs" / run_name / "per_frame_metrics.csv")
        np.testing.assert_allclose(metrics["bf_true"], expected, rtol=1e-7,
                                   err_msg=run_name)


def test_rbf_is_bf_pred_over_bf_true_minus_one(smoke):
    for run_name in RUN_NAMES:
        m = pd.read_csv(smoke.out / "runs" / run_name / "per_frame_metrics.csv")
        np.testing.assert_allclose(m["rbf"] + 1.0, m["bf_pred"] / m["bf_true"], rtol=1e-8,
                                   err_msg=run_name)


def test_bf_pred_is_the_blur_factor_of_the_saved_models_predictions(smoke, smoke_frames,
                                                                     test_targets):
    """One run (the small conv model): the per-frame BF is that of its model's output."""
    import keras

    run = smoke.out / "runs" / "Convolutional-MSE"
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    x = (smoke_frames[test_targets - 1].astype(np.float32) / 255.0)[..., None]
    pred = np.asarray(model.predict(x, verbose=0))[..., 0]
    metrics = pd.read_csv(run / "per_frame_metrics.csv")
    np.testing.assert_allclose(metrics["bf_pred"], laplace_bf_float(pred), rtol=1e-3)


def test_dense_runs_reshaped_metrics_keep_the_true_layouts_psnr_and_ssim(smoke):
    """PSNR and SSIM do not depend on the layout blur is measured in: the reshaped file
    carries the unreshaped values, while its blur columns differ."""
    for run_name in RUN_NAMES:
        if run_name.startswith("Convolutional"):
            continue
        run = smoke.out / "runs" / run_name
        plain = pd.read_csv(run / "per_frame_metrics.csv")
        scrambled = pd.read_csv(run / "per_frame_metrics_reshaped.csv")
        pd.testing.assert_frame_equal(plain[["frame", "psnr", "ssim"]],
                                      scrambled[["frame", "psnr", "ssim"]])
        assert not np.allclose(plain["bf_true"], scrambled["bf_true"]), run_name


def _metric_inputs(n: int = 70):
    rng = np.random.default_rng(5)
    true = rng.random((n, 30, 52)).astype(np.float32)
    pred = np.clip(0.6 * true + 0.2 + 0.05 * rng.standard_normal(true.shape), 0, 1)
    return pred.astype(np.float32), true, np.arange(100, 100 + n)


@pytest.mark.parametrize("reshape", [False, True])
def test_frame_metrics_do_not_depend_on_chunks_or_threads(monkeypatch, reshape):
    """70 frames: chunks of 32 on several threads give the numbers of one frame at a
    time and of the whole batch at once, bit for bit, in frame order."""
    from blurutils import evaluation

    pred, true, frames = _metric_inputs()
    chunked = evaluation.frame_metrics(pred, true, frames, reshape=reshape)
    monkeypatch.setattr(evaluation, "metric_threads", lambda: 1)
    monkeypatch.setattr(evaluation, "METRIC_CHUNK", 10_000)
    whole = evaluation.frame_metrics(pred, true, frames, reshape=reshape)
    one_by_one = pd.concat([evaluation.frame_metrics(pred[i:i + 1], true[i:i + 1],
                                                     frames[i:i + 1], reshape=reshape)
                            for i in range(len(pred))], ignore_index=True)
    assert chunked["frame"].tolist() == frames.tolist()
    pd.testing.assert_frame_equal(chunked, whole, check_exact=True)
    pd.testing.assert_frame_equal(chunked, one_by_one, check_exact=True)


def test_frame_metrics_reuse_given_fidelity_and_check_its_length():
    from blurutils.evaluation import frame_metrics

    pred, true, frames = _metric_inputs()
    plain = frame_metrics(pred, true, frames)
    computed = frame_metrics(pred, true, frames, reshape=True)
    reused = frame_metrics(pred, true, frames, reshape=True, fidelity=plain)
    pd.testing.assert_frame_equal(computed, reused, check_exact=True)
    marked = plain.assign(psnr=-1.0)  # reused, not recomputed
    assert (frame_metrics(pred, true, frames, reshape=True, fidelity=marked)["psnr"] == -1).all()
    with pytest.raises(ValueError, match="fidelity has 69 rows for 70 frames"):
        frame_metrics(pred, true, frames, fidelity=plain.iloc[1:])
    with pytest.raises(ValueError, match="70 predictions, 69 targets"):
        frame_metrics(pred, true[1:], frames)


def laplace_bf_float(images: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.asarray([1.0 / ndimage.laplace(im.astype(np.float64), mode="reflect").var()
                       for im in images])


@pytest.mark.parametrize("name, column", [("table1_blur_factor.csv", "bf_pred"),
                                          ("table2_relative_blur_factor.csv", "rbf")])
def test_tables_have_the_papers_twelve_rows_in_the_papers_order(smoke, name, column,
                                                                 test_targets):
    table = read_table(smoke, name)
    expected = packaged_paper_rows()
    assert expected[:4] == ["Backward MLAE - MSE", "Backward MLAE - MSLE",
                            "Backward MLAE - CP", "Forward MLAE - MSE"]
    assert expected[-1] == "Convolutional MLAE - CP"
    assert len(table) == 12
    assert table["paper_row"].tolist() == expected
    assert [f"{m} MLAE - {l}" for m, l in zip(table["model"], table["loss"])] == expected
    assert np.isfinite(table["mean"]).all()
    assert np.isfinite(table["std"]).all()
    assert (table["n"] == len(test_targets)).all()
    assert (table["n_inf"] == 0).all() and (table["n_nan"] == 0).all()


@pytest.mark.parametrize("name, column", [("table1_blur_factor.csv", "bf_pred"),
                                          ("table2_relative_blur_factor.csv", "rbf")])
def test_table_numbers_equal_a_recomputation_from_per_frame_metrics(smoke, name, column):
    table = read_table(smoke, name).set_index("paper_row")
    for run_name in RUN_NAMES:
        model, loss = run_name.rsplit("-", 1)
        values = pd.read_csv(smoke.out / "runs" / run_name /
                             "per_frame_metrics.csv")[column].to_numpy()
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        row = table.loc[f"{model} MLAE - {loss}"]
        expected = dict(mean=values.mean(), std=values.std(ddof=1), median=median, q1=q1,
                        q3=q3, iqr=q3 - q1)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-8, abs=1e-12), (run_name, key)
        assert row["n"] == len(values)


def test_in_memory_tables_match_the_written_ones(smoke):
    for attr, name in (("table1", "table1_blur_factor.csv"),
                       ("table2", "table2_relative_blur_factor.csv")):
        ours = getattr(smoke.result, attr)
        written = read_table(smoke, name)
        assert ours["paper_row"].tolist() == written["paper_row"].tolist()
        np.testing.assert_allclose(ours["mean"], written["mean"], rtol=1e-9)


def test_markdown_tables_show_every_row(smoke):
    for name in ("table1_blur_factor.md", "table2_relative_blur_factor.md"):
        text = (smoke.out / name).read_text(encoding="utf-8")
        for label in packaged_paper_rows():
            assert label in text, (name, label)


def test_comparison_has_the_papers_numbers_exactly(smoke):
    comparison = read_table(smoke, "paper_comparison.csv")
    assert comparison["paper_row"].tolist() == list(PRINTED_TABLES)
    for i, column in enumerate(("bf_mean", "bf_std", "rbf_mean", "rbf_std")):
        np.testing.assert_allclose(comparison[f"{column}_paper"],
                                   [row[i] for row in PRINTED_TABLES.values()], rtol=5e-5,
                                   err_msg=column)
    table1 = read_table(smoke, "table1_blur_factor.csv")
    table2 = read_table(smoke, "table2_relative_blur_factor.csv")
    np.testing.assert_allclose(comparison["bf_mean_ours"], table1["mean"], rtol=1e-9)
    np.testing.assert_allclose(comparison["bf_std_ours"], table1["std"], rtol=1e-9)
    np.testing.assert_allclose(comparison["rbf_mean_ours"], table2["mean"], rtol=1e-9)
    np.testing.assert_allclose(comparison["rbf_std_ours"], table2["std"], rtol=1e-9)


def test_packaged_paper_tables_equal_the_printed_ones():
    """The packaged file holds the authors' spreadsheet at full precision; rounded to the
    paper's printed digits it must give the printed tables, in the printed order."""
    from blurutils.reference import paper_tables

    ours = paper_tables()
    assert ours["paper_row"].tolist() == list(PRINTED_TABLES)
    printed = np.array(list(PRINTED_TABLES.values()))
    np.testing.assert_allclose(ours[["bf_mean", "bf_std", "rbf_mean", "rbf_std"]].to_numpy(),
                               printed, rtol=5e-5)
    assert (ours["model"] + " MLAE - " + ours["loss"]).tolist() == ours["paper_row"].tolist()


def test_verdicts_file(smoke):
    verdicts = read_table(smoke, "verdicts.csv")
    assert verdicts["observation"].tolist() == OBSERVATIONS
    assert set(verdicts["verdict"]) <= VERDICTS
    # all 12 runs were trained, so every observation was tested
    assert "not tested" not in set(verdicts["verdict"])
    assert verdicts["claim"].str.len().min() > 10
    assert verdicts["evidence"].str.len().min() > 10
    # the verdicts are those of the written tables
    from blurutils.reference import observation_verdicts

    table1 = read_table(smoke, "table1_blur_factor.csv")
    learned = {(m, l): flag == "yes"
               for m, l, flag in zip(table1["model"], table1["loss"], table1["learned"])}
    again = observation_verdicts(table1, read_table(smoke, "table2_relative_blur_factor.csv"),
                                 learned=learned)
    assert again["verdict"].tolist() == verdicts["verdict"].tolist()
    assert again["verdict"].tolist() == smoke.result.verdicts["verdict"].tolist()


def test_report_lines_trained_every_run_once(smoke):
    text = "\n".join(smoke.lines)
    assert "16 frames of sample" in text
    assert "already done" not in text
    for run_name in RUN_NAMES:
        assert sum(line.startswith(run_name + " ") and "epoch  2/2" in line
                   for line in smoke.lines) == 1, run_name


# --------------------------------------------------------------------------- idempotence

def test_rerun_trains_nothing_and_tables_are_byte_identical(smoke, tmp_path):
    from blurutils.study import run_study

    copy = tmp_path / "results"
    link_tree(smoke.out, copy)
    models_before = {n: (copy / "runs" / n / "model.keras").stat().st_mtime_ns
                     for n in RUN_NAMES}
    lines: list[str] = []
    result = run_study(dataclasses.replace(smoke.config, out=str(copy)), report=lines.append)

    for run_name in RUN_NAMES:
        matching = [line for line in lines if line.startswith(run_name + " ")]
        assert len(matching) == 1, (run_name, matching)
        assert "already done" in matching[0]
    assert not any("epoch" in line for line in lines)
    for name in TABLE_FILES:
        assert (copy / name).read_bytes() == (smoke.out / name).read_bytes(), name
    for run_name in RUN_NAMES:
        run = copy / "runs" / run_name
        assert run.joinpath("model.keras").stat().st_mtime_ns == models_before[run_name]
        for name in ("run.json", "history.csv", "per_frame_metrics.csv"):
            assert run.joinpath(name).read_bytes() == \
                (smoke.out / "runs" / run_name / name).read_bytes()
    pd.testing.assert_frame_equal(result.table1, smoke.result.table1)
    pd.testing.assert_frame_equal(result.table2, smoke.result.table2)


def test_changing_epochs_for_a_subset_retrains_only_that_subset(smoke, tmp_path):
    from blurutils.study import run_study

    copy = tmp_path / "results"
    (copy / "runs").mkdir(parents=True)
    for run_name in ("Forward-MSE", "Convolutional-MSE"):
        link_tree(smoke.out / "runs" / run_name, copy / "runs" / run_name)
    forward = copy / "runs" / "Forward-MSE"
    conv = copy / "runs" / "Convolutional-MSE"
    forward_state = (forward.joinpath("model.keras").stat().st_mtime_ns,
                     forward.joinpath("run.json").read_bytes())
    both = dataclasses.replace(smoke.config, out=str(copy), models=["Forward", "Convolutional"],
                               losses=["MSE"])

    # 1. the same settings: nothing to train
    lines: list[str] = []
    run_study(both, report=lines.append)
    assert sum("already done" in line for line in lines) == 2
    assert not any("epoch" in line for line in lines)

    # 2. one epoch for the convolutional run only: only it is retrained
    lines = []
    result = run_study(dataclasses.replace(both, models=["Convolutional"], epochs=1),
                       report=lines.append)
    assert [line.split()[0] for line in lines if "epoch" in line] == ["Convolutional-MSE"]
    assert json.loads(conv.joinpath("run.json").read_text())["epochs"] == 1
    assert pd.read_csv(conv / "history.csv")["epoch"].tolist() == [1]
    assert result.table1["paper_row"].tolist() == ["Convolutional MLAE - MSE"]
    assert (forward.joinpath("model.keras").stat().st_mtime_ns,
            forward.joinpath("run.json").read_bytes()) == forward_state

    # 3. back to the original two epochs for both: Forward is reused, and the conv run
    # of two epochs, set aside in step 2, is brought back instead of retrained
    lines = []
    result = run_study(both, report=lines.append)
    forward_lines = [line for line in lines if line.startswith("Forward-MSE ")]
    conv_lines = [line for line in lines if line.startswith("Convolutional-MSE")]
    assert len(forward_lines) == 1 and "already done" in forward_lines[0]
    assert any("brought back" in line for line in conv_lines), conv_lines
    assert not any(re.search(r"epoch +\d+/", line) for line in conv_lines)
    assert json.loads(conv.joinpath("run.json").read_text())["epochs"] == 2
    assert (forward.joinpath("model.keras").stat().st_mtime_ns,
            forward.joinpath("run.json").read_bytes()) == forward_state
    assert result.table1["paper_row"].tolist() == ["Forward MLAE - MSE",
                                                   "Convolutional MLAE - MSE"]
    # the original smoke study is untouched by all this
    assert json.loads((smoke.out / "runs" / "Convolutional-MSE" / "run.json")
                      .read_text())["epochs"] == 2


# --------------------------------------------------------------------------- verdict logic

DENSE = ["Backward", "Forward", "Bi-Directional"]


def base_means() -> tuple[dict, dict]:
    """Mean BF and RBF per (model, loss) for which all six observations hold."""
    bf, rbf = {}, {}
    for m in DENSE:
        bf[(m, "MSE")], bf[(m, "MSLE")], bf[(m, "CP")] = 10.0, 11.0, 4.0
        rbf[(m, "MSE")], rbf[(m, "MSLE")], rbf[(m, "CP")] = 0.4, 0.45, -0.2
    bf[("Convolutional", "MSE")], bf[("Convolutional", "MSLE")] = 100.0, 150.0
    bf[("Convolutional", "CP")] = 5000.0
    rbf[("Convolutional", "MSE")], rbf[("Convolutional", "MSLE")] = 15.0, 20.0
    rbf[("Convolutional", "CP")] = 7000.0
    return bf, rbf


def as_table(means: dict) -> pd.DataFrame:
    rows = [dict(paper_row=f"{m} MLAE - {l}", model=m, loss=l, mean=v, std=1.0)
            for (m, l), v in means.items()]
    return pd.DataFrame(rows)


def verdicts_of(bf: dict, rbf: dict) -> dict[str, str]:
    from blurutils.reference import observation_verdicts

    table = observation_verdicts(as_table(bf), as_table(rbf))
    assert table["observation"].tolist() == OBSERVATIONS
    assert set(table.columns) >= {"observation", "claim", "verdict", "evidence"}
    return dict(zip(table["observation"], table["verdict"]))


def test_all_observations_hold_on_paper_like_numbers():
    bf, rbf = base_means()
    assert verdicts_of(bf, rbf) == {o: "holds" for o in OBSERVATIONS}


@pytest.mark.parametrize("which, key, value, broken", [
    ("bf", ("Forward", "CP"), 12.0, "BF-1"),            # CP no longer the sharpest
    ("bf", ("Bi-Directional", "CP"), 10.0, "BF-1"),     # a tie is not "sharper"
    ("bf", ("Convolutional", "MSE"), 9.0, "BF-2"),      # a conv model sharper than a dense one
    ("bf", ("Convolutional", "CP"), 120.0, "BF-3"),     # conv CP sharper than conv MSLE
    ("rbf", ("Convolutional", "MSE"), 0.9, "RBF-1"),    # conv RBF below 1
    ("rbf", ("Backward", "CP"), 0.1, "RBF-2"),          # a dense CP model blurrier than truth
    ("rbf", ("Bi-Directional", "MSLE"), 0.05, "RBF-3"),  # a non-CP model closer to the truth
])
def test_each_observation_can_fail_on_its_own(which, key, value, broken):
    bf, rbf = base_means()
    (bf if which == "bf" else rbf)[key] = value
    expected = {o: "holds" for o in OBSERVATIONS}
    expected[broken] = "does not hold"
    assert verdicts_of(bf, rbf) == expected


def test_rbf1_needs_conv_rbf_above_one_even_if_above_the_dense_models():
    bf, rbf = base_means()
    for loss, value in zip(ALL_LOSSES, (0.7, 0.8, 0.9)):
        rbf[("Convolutional", loss)] = value
    assert verdicts_of(bf, rbf)["RBF-1"] == "does not hold"


def test_rbf2_fails_when_a_cp_rbf_is_exactly_zero():
    bf, rbf = base_means()
    rbf[("Forward", "CP")] = 0.0
    assert verdicts_of(bf, rbf)["RBF-2"] == "does not hold"


def test_rbf3_compares_absolute_values():
    bf, rbf = base_means()
    rbf[("Forward", "MSE")] = -0.1    # closer to the truth than any CP model, but negative
    assert verdicts_of(bf, rbf)["RBF-3"] == "does not hold"


def test_observations_without_their_runs_are_not_tested():
    bf, rbf = base_means()
    dense_only = {k: v for k, v in bf.items() if k[0] != "Convolutional"}
    dense_only_rbf = {k: v for k, v in rbf.items() if k[0] != "Convolutional"}
    assert verdicts_of(dense_only, dense_only_rbf) == {
        "BF-1": "holds", "BF-2": "not tested", "BF-3": "not tested",
        "RBF-1": "not tested", "RBF-2": "holds", "RBF-3": "not tested"}


def test_a_missing_loss_leaves_observations_needing_it_untested():
    bf, rbf = base_means()
    no_msle = {k: v for k, v in bf.items() if k[1] != "MSLE"}
    no_msle_rbf = {k: v for k, v in rbf.items() if k[1] != "MSLE"}
    assert set(verdicts_of(no_msle, no_msle_rbf).values()) == {"not tested", "holds"}
    assert verdicts_of(no_msle, no_msle_rbf)["RBF-2"] == "holds"  # needs only dense CP
    assert verdicts_of(no_msle, no_msle_rbf)["BF-1"] == "not tested"


def test_a_single_run_tests_nothing():
    from blurutils.reference import observation_verdicts

    one = as_table({("Forward", "MSE"): 10.0})
    table = observation_verdicts(one, as_table({("Forward", "MSE"): 0.3}))
    assert table["verdict"].tolist() == ["not tested"] * 6
    assert table["evidence"].str.len().min() > 0


def test_verdicts_on_the_papers_published_numbers():
    """The paper's own Tables 1-2 support five observations; RBF-3 fails on them
    (Bi-Directional MSLE's |RBF| 0.302 is below every dense CP model's 0.43-0.46)."""
    from blurutils.reference import observation_verdicts, paper_tables

    paper = paper_tables()
    table1 = paper.rename(columns={"bf_mean": "mean", "bf_std": "std"})
    table2 = paper.rename(columns={"rbf_mean": "mean", "rbf_std": "std"})
    verdicts = observation_verdicts(table1, table2)
    assert dict(zip(verdicts["observation"], verdicts["verdict"])) == {
        "BF-1": "holds", "BF-2": "holds", "BF-3": "holds",
        "RBF-1": "holds", "RBF-2": "holds", "RBF-3": "does not hold"}


# --------------------------------------------------------------------------- summary tables

def metrics_frame(bf_pred, bf_true) -> pd.DataFrame:
    bf_pred, bf_true = np.asarray(bf_pred, float), np.asarray(bf_true, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rbf = bf_pred / bf_true - 1
    n = len(bf_pred)
    return pd.DataFrame(dict(frame=np.arange(n), bf_pred=bf_pred, bf_true=bf_true, rbf=rbf,
                             psnr=np.full(n, 20.0), ssim=np.full(n, 0.5)))


def test_summary_table_counts_inf_and_nan_and_never_averages_them():
    from blurutils.evaluation import summary_table

    metrics = {("Forward", "MSE"): metrics_frame([1.0, 2.0, np.inf, 3.0, np.nan],
                                                 [1.0, 1.0, 1.0, 1.0, 1.0])}
    table = summary_table(metrics, "bf_pred")
    row = table.iloc[0]
    assert row["paper_row"] == "Forward MLAE - MSE"
    assert row["mean"] == pytest.approx(2.0)
    assert row["std"] == pytest.approx(1.0)          # ddof=1 over 1, 2, 3
    assert row["median"] == pytest.approx(2.0)
    assert row["iqr"] == pytest.approx(1.0)          # 2.5 - 1.5
    assert (row["n"], row["n_inf"], row["n_nan"]) == (5, 1, 1)
    assert math.isfinite(row["mean"])


def test_summary_table_with_only_infinite_values_has_nan_mean():
    from blurutils.evaluation import summary_table

    table = summary_table({("Convolutional", "CP"): metrics_frame([np.inf, np.inf],
                                                                  [1.0, 2.0])}, "bf_pred")
    assert math.isnan(table.loc[0, "mean"])
    assert table.loc[0, "n_inf"] == 2


def test_summary_table_rbf_with_a_constant_prediction():
    from blurutils.evaluation import summary_table

    table = summary_table({("Forward", "CP"): metrics_frame([np.inf, 2.0, 4.0],
                                                            [1.0, 1.0, 2.0])}, "rbf")
    assert table.loc[0, "mean"] == pytest.approx(1.0)   # (1 + 1) / 2, inf left out
    assert table.loc[0, "n_inf"] == 1


def test_summary_table_sorts_runs_into_the_papers_order():
    from blurutils.evaluation import summary_table

    keys = [("Convolutional", "CP"), ("Forward", "MSLE"), ("Backward", "CP"),
            ("Forward", "MSE"), ("Bi-Directional", "MSE")]
    metrics = {k: metrics_frame([float(i + 1)] * 3, [1.0] * 3) for i, k in enumerate(keys)}
    table = summary_table(metrics, "bf_pred")
    assert table["paper_row"].tolist() == ["Backward MLAE - CP", "Forward MLAE - MSE",
                                           "Forward MLAE - MSLE", "Bi-Directional MLAE - MSE",
                                           "Convolutional MLAE - CP"]
    assert table["mean"].tolist() == [3.0, 4.0, 2.0, 5.0, 1.0]
    assert table.index.tolist() == list(range(5))


def test_comparison_table_of_a_subset_uses_the_papers_rows():
    from blurutils.evaluation import summary_table
    from blurutils.reference import comparison_table

    metrics = {("Forward", "CP"): metrics_frame([2.0, 4.0], [4.0, 4.0]),
               ("Convolutional", "MSE"): metrics_frame([100.0, 300.0], [4.0, 4.0])}
    comparison = comparison_table(summary_table(metrics, "bf_pred"),
                                  summary_table(metrics, "rbf"))
    assert comparison["paper_row"].tolist() == ["Forward MLAE - CP",
                                                "Convolutional MLAE - MSE"]
    assert comparison["bf_mean_paper"].tolist() == [3.77434, 117.685]
    assert comparison["rbf_std_paper"].tolist() == [0.197096, 3.05879]
    assert comparison["bf_mean_ours"].tolist() == [3.0, 200.0]
    assert comparison["rbf_mean_ours"].tolist() == [-0.25, 49.0]


def test_paper_row_and_run_order():
    from blurutils.catalog import paper_row, run_order

    assert paper_row("Bi-Directional", "CP") == "Bi-Directional MLAE - CP"
    assert run_order(["Convolutional", "Forward"], ["CP", "MSE"]) == [
        ("Forward", "MSE"), ("Forward", "CP"), ("Convolutional", "MSE"),
        ("Convolutional", "CP")]
    order = [paper_row(m, l) for m, l in run_order(list(ALL_MODELS), list(ALL_LOSSES))]
    assert order == packaged_paper_rows()


def test_unwritable_results_folder_is_a_config_error(tmp_path):
    from blurutils.errors import ConfigError
    from blurutils.study import run_study

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = make_config("smoke", out=str(blocker / "sub"), models=["Forward"],
                         losses=["MSE"], epochs=1)
    with pytest.raises(ConfigError, match="not writable"):
        run_study(config, report=lambda line: None)


def test_contrast_matched_columns_equal_an_independent_recomputation(smoke, smoke_frames,
                                                                    test_targets):
    """bf_matched: BF after giving each prediction its target's mean and std; checked by
    rebuilding the prediction's matched version from its own BF (var scales as std²)."""
    true = smoke_frames[test_targets].astype(np.float64) / 255.0
    for run_name in RUN_NAMES:
        m = pd.read_csv(smoke.out / "runs" / run_name / "per_frame_metrics.csv")
        np.testing.assert_allclose(m["rbf_matched"] + 1.0, m["bf_matched"] / m["bf_true"],
                                   rtol=1e-8, err_msg=run_name)
        assert ((m["blurrier_tiles"] >= 0) & (m["blurrier_tiles"] <= 1)).all()
    assert np.isfinite(true).all()


def test_baselines_and_table3_sit_beside_the_autoencoders(smoke, smoke_frames, test_targets):
    table3 = pd.read_csv(smoke.out / "table3_blur_and_fidelity.csv")
    baselines = table3[table3["kind"].str.startswith("baseline")]
    assert baselines["method"].tolist() == ["Copy previous", "Linear blend", "Optical flow",
                                            "Mean frame"]
    assert len(table3) == 12 + 4
    # Copy previous: independently, the prediction is frame t-1 itself.
    copy = pd.read_csv(smoke.out / "baselines" / "copy_previous.csv")
    expected_bf = laplace_bf(smoke_frames[test_targets - 1])
    np.testing.assert_allclose(copy["bf_pred"], expected_bf, rtol=1e-7)
    # RBF alone rewards the copied frame: closest to the truth's blur of all methods,
    # while its fidelity is far from perfect.
    row = table3.set_index("method").loc["Copy previous"]
    assert row["abs_rbf_mean"] == table3["abs_rbf_mean"].min()
    assert row["psnr_mean"] < 40
    assert "table3_blur_and_fidelity.csv" in (smoke.out / "REPORT.md").read_text()


# --------------------------------------------------------------------------- learning diagnostics

def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_diagnostics_equal_an_independent_calculation_from_the_saved_model(
        smoke, smoke_frames, test_targets):
    """Load one dense run's model.keras, predict its test targets here, and recompute
    input gain, spread and the gain over the mean frame with plain loops."""
    import keras

    from blurutils.pairs import split_targets
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    run = smoke.out / "runs" / "Forward-MSE"
    stored = json.loads((run / "diagnostics.json").read_text())
    model = keras.models.load_model(run / "model.keras", compile=False)
    unit = smoke_frames.astype(np.float32) / 255.0
    pred = model.predict(unit[test_targets - 1][..., None], verbose=0)[..., 0]
    true = unit[test_targets]
    own = [_psnr(p, t) for p, t in zip(pred, true)]
    other = [_psnr(pred[i], true[j]) for i in range(len(pred)) for j in range(len(true))
             if abs(int(test_targets[i]) - int(test_targets[j])) >= 3]
    assert stored["psnr_own_db"] == pytest.approx(np.mean(own), abs=1e-3)
    assert stored["psnr_other_db"] == pytest.approx(np.mean(other), abs=1e-3)
    assert stored["input_gain_db"] == pytest.approx(np.mean(own) - np.mean(other), abs=1e-3)
    spread = np.std(pred, axis=0).mean() / np.std(true, axis=0).mean()
    assert stored["spread"] == pytest.approx(spread, rel=1e-3)
    c = smoke.config
    train = split_targets(16, test_fraction=c.test_fraction, seed=c.seed, method=c.split).train
    mean_frame = unit[train].astype(np.float64).mean(axis=0)
    baseline = np.mean([_psnr(mean_frame, t) for t in true])
    assert stored["mean_frame_gain_db"] == pytest.approx(np.mean(own) - baseline, abs=1e-3)


def test_the_smoke_runs_are_labelled_as_not_interpolating(smoke):
    """Two epochs on six frames teach nothing: the report must say so, and the
    verdicts must not claim anything from such runs."""
    diagnostics = read_table(smoke, "diagnostics.csv").set_index("method")
    runs = [m for m in diagnostics.index if " MLAE - " in m]
    assert len(runs) == 12
    assert (diagnostics.loc[runs, "learned"] != "yes").all()
    assert (diagnostics.loc[runs, "input_gain_db"] < 1.0).all()
    assert diagnostics.loc["Mean frame", "spread"] == pytest.approx(0.0, abs=1e-9)
    verdicts = read_table(smoke, "verdicts.csv")
    assert set(verdicts["verdict"]) == {"not meaningful"}
    table1 = read_table(smoke, "table1_blur_factor.csv")
    assert table1["learned"].str.startswith("does not interpolate").all()
    report = (smoke.out / "REPORT.md").read_text(encoding="utf-8")
    assert "12 of 12 runs do not interpolate" in report
    assert "No test target is an input or a target of any training example." in report


def test_verdicts_on_runs_that_learned_are_judged():
    from blurutils.reference import observation_verdicts

    bf, rbf = base_means()
    table1, table2 = as_table(bf), as_table(rbf)
    learned = {(m, l): True for m, l in zip(table1["model"], table1["loss"])}
    judged = observation_verdicts(table1, table2, learned=learned)
    assert "not meaningful" not in set(judged["verdict"])
    learned[("Forward", "CP")] = False
    partly = observation_verdicts(table1, table2, learned=learned).set_index("observation")
    assert partly.loc["BF-1", "verdict"] == "not meaningful"
    assert "Forward CP" in partly.loc["BF-1", "evidence"]
    assert partly.loc["BF-3", "verdict"] != "not meaningful"  # conv runs only


# ----------------------------------------------------------------- a source that is not http(s)

def test_safety_only_http_urls_reach_ytdlp_in_a_study(refuse_ytdlp, tmp_path):
    from blurutils.config import make_config
    from blurutils.study import run_study

    config = make_config("smoke", source="file:///etc/passwd", out=str(tmp_path / "out"),
                         models=["Forward"], losses=["MSE"])
    with pytest.raises(SourceError, match="only http:// and https://"):
        run_study(config, report=lambda line: None)
    assert refuse_ytdlp == []
    assert not (tmp_path / "out" / "config.yaml").exists()


@pytest.mark.parametrize("suffix, compression", [(".gz", "gzip"), (".xz", "xz")])
def test_compressed_per_frame_metrics_are_read_in_place_of_a_missing_csv(tmp_path, suffix,
                                                                         compression):
    """The committed reference results keep per-frame metrics compressed (gzip, or xz for
    the film): a rebuild reads them instead of retraining; a damaged copy is rejected."""
    from blurutils.evaluation import METRIC_COLUMNS, read_metrics

    table = pd.DataFrame([[i + 1.5] * len(METRIC_COLUMNS) for i in range(4)],
                         columns=METRIC_COLUMNS).assign(frame=[3, 4, 5, 6])
    path = tmp_path / "per_frame_metrics.csv"
    assert read_metrics(path) is None
    table.to_csv(tmp_path / f"per_frame_metrics.csv{suffix}", index=False,
                 compression=compression)
    pd.testing.assert_frame_equal(read_metrics(path), table)
    (tmp_path / f"per_frame_metrics.csv{suffix}").write_bytes(b"\x00 not compressed")
    assert read_metrics(path) is None


def test_packing_rounds_compresses_and_reads_back_the_same_table(tmp_path):
    from blurutils.evaluation import METRIC_COLUMNS, pack_per_frame_metrics, read_metrics

    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.uniform(1, 1e4, (50, len(METRIC_COLUMNS))),
                         columns=METRIC_COLUMNS).assign(frame=np.arange(50) + 1)
    run = tmp_path / "seeds" / "seed-0" / "runs" / "Forward-MSE"
    run.mkdir(parents=True)
    table.to_csv(run / "per_frame_metrics.csv", index=False, float_format="%.10g")
    (run / "history.csv").write_text("epoch,loss\n1,0.5\n")
    packed = pack_per_frame_metrics(tmp_path, digits=6)
    assert packed == [run / "per_frame_metrics.csv.xz"]
    assert sorted(p.name for p in run.iterdir()) == ["history.csv", "per_frame_metrics.csv.xz"]
    back = read_metrics(run / "per_frame_metrics.csv")
    np.testing.assert_allclose(back.to_numpy(), table.to_numpy(), rtol=5e-6)
    assert not np.array_equal(back["bf_pred"], table["bf_pred"])  # rounded, not copied
    (run / "per_frame_metrics.csv").write_text("not,a,metrics,file\n")
    with pytest.raises(ValueError, match="not a readable per-frame metrics file"):
        pack_per_frame_metrics(tmp_path)
    assert (run / "per_frame_metrics.csv").is_file()  # nothing removed


# --- a run's model travels as one object ------------------------------------------------

def test_planned_jobs_carry_their_models_spec_looked_up_once(monkeypatch):
    """plan_runs looks each run's model up in the catalog once; the spec rides on the
    job's RunConfig (``job.run.spec``), and the layout it chose is the spec's."""
    import blurutils.study as study
    from blurutils.catalog import MODELS, model_spec
    from blurutils.pairs import split_targets

    config = make_config("smoke", frame_layout="half", compat=["fillnet"])
    names: list[str] = []
    monkeypatch.setattr(study, "model_spec", lambda name: names.append(name) or model_spec(name))
    jobs = study.plan_runs(config, 40, split_targets(40), fingerprint=lambda layout: layout)
    assert names == [model for model, _, _ in jobs]  # once per run, at planning
    for model, _, job in jobs:
        assert job.run.spec is MODELS[model]
        assert job.frames.layout == study.run_layout(config, job.run.spec) \
            == study.run_layout(config, model)  # a spec, or a name looked up at the edge
        assert job.measure_reshaped == (job.run.spec.kind == "dense")
    assert {job.frames.layout for _, _, job in jobs} == {"half", "fillnet_conv"}


def test_running_a_study_looks_each_model_up_only_where_it_plans(tmp_path, monkeypatch):
    """Planning, training, predicting and collecting one dense and one conv run call
    ``catalog.model_spec`` once per run, in ``study.plan_runs``; the only other calls are
    ``models.build_model`` and ``models.make_optimizer``'s own (``models.py`` is part of
    every run's fingerprint and keeps its name-taking API), once each per trained run.
    A rerun trains nothing and looks up nothing beyond planning."""
    import sys
    from collections import Counter

    import blurutils.catalog as catalog
    from blurutils.study import collect_runs

    config = make_config("smoke", models=["Forward", "Convolutional"], losses=["MSE"],
                         epochs=1, conv_filters=2, frame_layout="half", isolate_runs=False,
                         keep_models=False, out=str(tmp_path / "out"))
    callers: Counter = Counter()
    real = catalog.model_spec

    def counting(name):
        callers[sys._getframe(1).f_globals["__name__"]] += 1
        return real(name)

    for module in [m for name, m in sys.modules.items() if name.startswith("blurutils")]:
        if getattr(module, "model_spec", None) is real:
            monkeypatch.setattr(module, "model_spec", counting)
    runs = collect_runs(config, report=lambda line: None)
    assert set(runs.metrics) == {("Forward", "MSE"), ("Convolutional", "MSE")}
    assert callers == {"blurutils.study": 2, "blurutils.models": 4}
    callers.clear()
    collect_runs(config, report=lambda line: None)
    assert callers == {"blurutils.study": 2}
