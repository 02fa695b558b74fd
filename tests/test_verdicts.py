"""Readings of the paper's observations with inference, on hand-built per-frame tables
whose answers are known: clearly for, clearly against, and within the noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blurutils.catalog import ALL_LOSSES, ALL_MODELS
from blurutils.statistics import DOES_NOT_HOLD, HOLDS, NOT_MEANINGFUL, NOT_TESTED
from blurutils.verdicts import UNDETERMINED, observation_readings, readings_over_seeds

#: 12 segments of 20 test frames with gaps between them (as the interleaved split).
FRAMES = np.concatenate([np.arange(start, start + 20) for start in range(0, 12 * 50, 50)])


def _run(level: float, rng: np.random.Generator, noise: float = 0.02,
         truth: float = 1.0) -> pd.DataFrame:
    """Per-frame scores around ``level`` (every measure alike), with segment-level and
    frame-level noise; relative scores against a truth of ``truth``."""
    segment_effect = np.repeat(rng.normal(0, noise, 12), 20)
    score = level * np.exp(segment_effect + rng.normal(0, noise / 4, FRAMES.size))
    table = {"frame": FRAMES}
    for name, relative in (("bf_pred", "rbf"), ("hfbf_pred", "rhfbf"),
                           ("bf_matched", "rbf_matched")):
        table[name] = score
        table[relative] = score / truth - 1
    return pd.DataFrame(table)


def _study(levels: dict[tuple[str, str], float], seed: int = 0, noise: float = 0.02,
           truth: float = 1.0) -> dict[tuple[str, str], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return {(m, l): _run(levels.get((m, l), 1.0), rng, noise, truth)
            for m in ALL_MODELS for l in ALL_LOSSES}


def _paper_like() -> dict[tuple[str, str], float]:
    """Levels for which every observation holds: dense CP sharpest and sharper than the
    truth, conv blurriest (CP most), far above the truth."""
    levels = {}
    for m in ALL_MODELS:
        if m == "Convolutional":
            levels.update({(m, "MSE"): 4.0, (m, "MSLE"): 4.5, (m, "CP"): 6.0})
        else:
            levels.update({(m, "MSE"): 1.5, (m, "MSLE"): 1.6, (m, "CP"): 0.95})
    return levels


def _readings(metrics, **kw) -> pd.DataFrame:
    return observation_readings(metrics, **kw).set_index("observation")


def test_every_observation_holds_where_the_data_say_so():
    table = _readings(_study(_paper_like()))
    assert (table["paper"] == HOLDS).all(), table[["paper", "paper_reason"]]
    assert (table["blur"] == HOLDS).all()
    assert (table["n_segments"] == 12).all() and (table["n_test_frames"] == 240).all()


def test_a_clear_counterexample_means_does_not_hold():
    levels = _paper_like()
    levels[("Convolutional", "CP")] = 3.0  # sharper than Conv MSE and MSLE: BF-3 fails
    table = _readings(_study(levels))
    assert table.loc["BF-3", "paper"] == DOES_NOT_HOLD
    assert "Conv CP / Conv" in table.loc["BF-3", "paper_reason"]
    assert table.loc["BF-2", "paper"] == HOLDS


def test_a_difference_within_the_noise_is_undetermined():
    levels = _paper_like()
    levels[("Convolutional", "CP")] = 4.55  # 1% above MSLE, segment noise 10%
    table = _readings(_study(levels, noise=0.1))
    assert table.loc["BF-3", "paper"] == UNDETERMINED
    assert "within the noise" in table.loc["BF-3", "paper_reason"]


def test_measures_that_disagree_make_the_blur_reading_undetermined():
    metrics = _study(_paper_like())
    for (m, l), df in metrics.items():
        if m == "Convolutional":  # by one measure the conv runs are the sharpest
            df["hfbf_pred"] = df["hfbf_pred"] / 20
            df["rhfbf"] = df["hfbf_pred"] - 1
    table = _readings(metrics)
    assert table.loc["BF-2", "blur"] == UNDETERMINED
    assert "measures disagree" in table.loc["BF-2", "blur_reason"]
    assert table.loc["BF-2", "paper"] == HOLDS  # the paper's measure is untouched


def test_runs_that_do_not_interpolate_make_a_reading_not_meaningful():
    learned = {key: key != ("Forward", "CP") for key in _study({})}
    table = _readings(_study(_paper_like()), learned=learned)
    assert table.loc["BF-1", "paper"] == NOT_MEANINGFUL
    assert "Forward CP does not interpolate" in table.loc["BF-1", "paper_reason"]
    assert table.loc["BF-3", "paper"] == HOLDS  # rests on the conv runs only


def test_missing_runs_mean_not_tested():
    metrics = {k: v for k, v in _study(_paper_like()).items() if k[0] != "Convolutional"}
    table = _readings(metrics)
    assert table.loc["BF-2", "paper"] == NOT_TESTED
    assert table.loc["BF-1", "paper"] == HOLDS


def test_rbf2_needs_the_whole_interval_below_zero():
    levels = _paper_like()
    table = _readings(_study(levels, truth=1.0))  # CP at 0.95: 5% sharper than the truth
    assert table.loc["RBF-2", "paper"] == HOLDS
    table = _readings(_study(levels, truth=0.9))  # now 6% blurrier
    assert table.loc["RBF-2", "paper"] == DOES_NOT_HOLD


def test_infinite_values_are_left_out_not_averaged():
    metrics = _study(_paper_like())
    metrics[("Convolutional", "MSE")].loc[3, "bf_pred"] = np.inf
    table = _readings(metrics)
    assert table.loc["BF-2", "paper"] == HOLDS


@pytest.mark.parametrize("per_seed, overall, holds_in", [
    ([HOLDS, HOLDS, HOLDS], HOLDS, "3 of 3 seeds (95% CI 29–100%)"),
    ([DOES_NOT_HOLD] * 2, DOES_NOT_HOLD, "0 of 2 seeds (95% CI 0–84%)"),
    ([HOLDS, DOES_NOT_HOLD, HOLDS], UNDETERMINED, "2 of 3 seeds (95% CI 9–99%)"),
    ([HOLDS, UNDETERMINED], UNDETERMINED, "1 of 2 seeds (95% CI 1–99%)"),
    ([HOLDS, NOT_MEANINGFUL], NOT_MEANINGFUL, "1 of 2 seeds (95% CI 1–99%)"),
])
def test_over_seeds_every_seed_must_agree(per_seed, overall, holds_in):
    readings = {seed: pd.DataFrame([dict(observation="BF-1", claim="c", paper=v, blur=v)])
                for seed, v in enumerate(per_seed)}
    row = readings_over_seeds(readings).iloc[0]
    assert row["paper"] == overall and row["paper_holds_in"] == holds_in
    assert row["blur"] == overall


# ------------------------------------------------------------- studies side by side


def test_side_by_side_gives_each_study_both_readings_with_its_seeds(tmp_path):
    from blurutils.verdicts import read_study_readings, side_by_side

    one = observation_readings(_study(_paper_like()))
    over = readings_over_seeds({0: one, 1: one, 2: observation_readings(_study({}))})
    (tmp_path / "a").mkdir()
    one.to_csv(tmp_path / "a" / "verdicts.csv", index=False)
    table = side_by_side({"one seed": read_study_readings(tmp_path / "a"), "three": over})
    assert list(table["observation"]) == ["BF-1", "BF-2", "BF-3", "RBF-1", "RBF-2", "RBF-3"]
    assert set(table["one seed: paper's measure"]) == {f"{HOLDS} (1 seed)"}
    # two seeds hold, the third (all runs alike) does not: the seeds disagree
    assert table.loc[0, "three: blur"].startswith(f"{UNDETERMINED} (2 of 3 seeds hold)")


def test_a_study_without_readings_is_refused_in_one_line(tmp_path):
    from blurutils.errors import BlurUtilsError
    from blurutils.verdicts import main, read_study_readings

    (tmp_path / "old").mkdir()
    pd.DataFrame({"observation": ["BF-1"], "verdict": ["holds"]}).to_csv(
        tmp_path / "old" / "verdicts.csv", index=False)
    with pytest.raises(BlurUtilsError, match="holds no readings"):
        read_study_readings(tmp_path / "old")
    with pytest.raises(BlurUtilsError, match="no readable verdicts table"):
        read_study_readings(tmp_path / "missing")
    assert main([f"old={tmp_path / 'old'}"]) == 2
    assert main(["no-equals-sign"]) == 2


def test_blur_by_motion_bins_targets_by_the_larger_transition_around_them():
    from blurutils.verdicts import blur_by_motion

    # frames whose transitions are known: 0 -> 1 still, 1 -> 2 small, then large steps
    levels = np.array([100, 100, 101, 101, 140, 100, 100], dtype=np.uint8)
    frames = np.repeat(levels[:, None, None], 4, axis=1).repeat(6, axis=2)
    run = pd.DataFrame({"frame": [1, 2, 3, 4, 5], "bf_pred": [2.0, 8.0, 3.0, 5.0, 20.0]})
    table = blur_by_motion(frames, {"r": run}, edges=(0, 0.002, 0.01, 1)).set_index("run")
    # motion: frame 1 -> max(0, 1/255) = 0.0039; 2 -> 0.0039; 3 -> 39/255; 4, 5 -> 40/255
    assert table.loc["r", "n 0–0.002"] == 0
    assert table.loc["r", "n 0.002–0.01"] == 2
    assert table.loc["r", "0.002–0.01"] == pytest.approx(4.0)  # geometric mean of 2 and 8
    assert table.loc["r", "0.01–1"] == pytest.approx((3.0 * 5.0 * 20.0) ** (1 / 3))
    with pytest.raises(ValueError, match="outside"):
        blur_by_motion(frames, {"r": run.assign(frame=[0, 2, 3, 4, 5])})


def _full_run(rng: np.random.Generator, *, laplacian: float, hf: float, psnr: float
              ) -> pd.DataFrame:
    """Per-frame metrics with every column a study writes: the Laplacian's scores at
    ``laplacian`` times the truth's, the high-frequency share's at ``hf`` times, the
    other measures equal to the truth's, PSNR around ``psnr``."""
    from blurutils.evaluation import METRIC_COLUMNS

    n = FRAMES.size
    noise = np.exp(np.repeat(rng.normal(0, 0.02, 12), 20))
    table = {c: np.ones(n) for c in METRIC_COLUMNS}
    table["frame"] = FRAMES
    for score, relative, factor in (("bf_pred", "rbf", laplacian), ("tbf_pred", "rtbf", laplacian),
                                    ("bf_matched", "rbf_matched", hf), ("hfbf_pred", "rhfbf", hf)):
        table[score] = factor * noise
        table[relative] = factor * noise - 1
    table["psnr"] = psnr + rng.normal(0, 0.05, n)
    table["ssim"] = np.full(n, 0.8)
    return pd.DataFrame(table)[METRIC_COLUMNS]


def test_a_loss_that_games_the_laplacian_is_seen_by_the_calibrated_measures():
    from blurutils.verdicts import loss_effect

    rng = np.random.default_rng(3)
    base = _full_run(rng, laplacian=4.0, hf=2.0, psnr=24.0)
    # the variant halves the Laplacian's blur score but doubles the calibrated ones
    variant = _full_run(rng, laplacian=2.0, hf=4.0, psnr=23.0)
    table = loss_effect(base, variant).set_index("measure")
    paper = table.loc["Laplacian BF (the paper's)"]
    assert paper["reading"] == "sharper" and not paper["calibrated"]
    assert paper["estimate"] == pytest.approx(0.5, rel=0.02)
    assert paper["low"] < 0.5 < paper["high"] < 1
    for label in ("1 / high-frequency share", "contrast-matched Laplacian BF"):
        assert table.loc[label, "reading"] == "blurrier" and table.loc[label, "calibrated"]
        assert table.loc[label, "estimate"] == pytest.approx(2.0, rel=0.02)
        # its distance to the truth's sharpness grew: |2 - 1| -> |4 - 1|
        assert table.loc[label, "base |mean relative|"] == pytest.approx(1.0, rel=0.05)
        assert table.loc[label, "variant |mean relative|"] == pytest.approx(3.0, rel=0.05)
    assert table.loc["PSNR (dB)", "reading"] == "worse"
    assert table.loc["PSNR (dB)", "estimate"] == pytest.approx(-1.0, abs=0.05)
    assert table.loc["SSIM", "reading"] == UNDETERMINED   # no difference at all
    assert set(table["test segments"]) == {12}


def test_loss_effects_pairs_each_blur_aware_run_with_its_base(tmp_path, capsys):
    import json

    from blurutils.errors import BlurUtilsError
    from blurutils.verdicts import loss_effects, main

    rng = np.random.default_rng(0)
    runs = {("Convolutional", "MSE"): (4.0, 2.0), ("Convolutional", "MSE+BLUR"): (2.0, 4.0),
            ("Convolutional", "CP+BLUR@1e-05"): (2.0, 2.0),  # no CP run: not compared
            ("Forward", "MSE"): (1.0, 1.0)}
    for (model, loss), (lap, hf) in runs.items():
        folder = tmp_path / "runs" / f"{model}-{loss.replace('+', '_')}"
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"model": model, "loss": loss}))
        _full_run(rng, laplacian=lap, hf=hf, psnr=24.0).to_csv(
            folder / "per_frame_metrics.csv", index=False)
    table = loss_effects(tmp_path)
    assert set(zip(table["model"], table["base"], table["variant"])) == {
        ("Convolutional", "MSE", "MSE+BLUR")}
    out = tmp_path / "effects.csv"
    assert main(["--loss-effects", str(tmp_path), "--out", str(out)]) == 0
    assert "MSE+BLUR" in capsys.readouterr().out
    assert pd.read_csv(out).shape == table.shape
    (tmp_path / "none").mkdir()
    with pytest.raises(BlurUtilsError, match="no blur-aware run beside"):
        loss_effects(tmp_path / "none")
    assert main(["--loss-effects", str(tmp_path / "none")]) == 2
    assert "no blur-aware run" in capsys.readouterr().err
    with pytest.raises(SystemExit):          # neither studies nor --loss-effects
        main([])
