"""Paper-compatibility switches: each changes exactly what it claims, and no more."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from blurutils import compat
from blurutils.config import make_config
from blurutils.errors import ConfigError, FrameError
from blurutils.frames import crop_box, load_frames, preprocess_frame
from blurutils.pairs import examples_at, fillnet_pair_split
from blurutils.evaluation import frame_metrics
from blurutils.study import plan_runs, study_split


# --- parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("fillnet", compat.ALL_QUIRKS), ("all", compat.ALL_QUIRKS), ("none", ()), ("", ()),
    (None, ()), ([], ()), ("reshape,pairs", ("pairs", "reshape")),
    ("a d", ("pairs", "reshape")), (["conv-loss", "F"], ("conv_loss", "conv_frames")),
    ("pairs+pairs", ("pairs",)),
])
def test_parse_compat(value, expected):
    assert compat.parse_compat(value) == expected


@pytest.mark.parametrize("value", ["fillnt", "pairs,nope", 3, ["pairs", 1]])
def test_parse_compat_rejects_unknown_switches_in_one_line(value):
    with pytest.raises(ConfigError) as err:
        compat.parse_compat(value)
    assert "\n" not in str(err.value)


def test_config_stores_canonical_quirks_and_rejects_bad_ones():
    assert make_config("smoke", compat="f,a").compat == ["pairs", "conv_frames"]
    with pytest.raises(ConfigError, match="unknown compat switch 'zzz'"):
        make_config("smoke", compat="zzz")


# --- (a) pairs and their split ---------------------------------------------------------

@pytest.mark.parametrize("n_frames", [10, 41, 132, 12000])
def test_pair_split_equals_scikit_learns_train_test_split(n_frames):
    sklearn = pytest.importorskip("sklearn.model_selection")
    pairs = np.arange(n_frames // 2)
    train, test = sklearn.train_test_split(pairs, test_size=0.3, random_state=42)
    split = fillnet_pair_split(n_frames)
    assert split.unit == "pair"
    np.testing.assert_array_equal(split.train, np.sort(train))
    np.testing.assert_array_equal(split.test, np.sort(test))
    assert len(split.test) == math.ceil(0.3 * (n_frames // 2))


def test_pair_split_ignores_the_study_seed_as_the_authors_did():
    a = study_split(make_config("smoke", compat="pairs", seed=0), 40)
    b = study_split(make_config("smoke", compat="pairs", seed=7), 40)
    np.testing.assert_array_equal(a.test, b.test)
    c = study_split(make_config("smoke", seed=0), 40)
    d = study_split(make_config("smoke", seed=7), 40)
    assert c.unit == "target" and not np.array_equal(c.test, d.test)


def test_pair_split_of_too_few_frames_is_a_config_error():
    with pytest.raises(ConfigError, match="3 frames make 1 pairs"):
        fillnet_pair_split(3)


def test_pair_examples_are_non_overlapping_pairs():
    pairs = np.array([0, 1, 2, 4])
    fwd = examples_at((-1,), pairs, 10, "pair")
    np.testing.assert_array_equal(fwd.targets, [1, 3, 5, 9])   # odd frames ...
    np.testing.assert_array_equal(fwd.inputs[:, 0], [0, 2, 4, 8])  # ... from even ones
    bwd = examples_at((1,), pairs, 10, "pair")
    np.testing.assert_array_equal(bwd.targets, [0, 2, 4, 8])
    np.testing.assert_array_equal(bwd.inputs[:, 0], [1, 3, 5, 9])
    bi = examples_at((-1, 1), pairs, 10, "pair")  # pair 4's next even frame (10) is outside
    np.testing.assert_array_equal(bi.targets, [1, 3, 5])
    np.testing.assert_array_equal(bi.inputs, [[0, 2], [2, 4], [4, 6]])


def test_target_examples_drop_inputs_outside_the_clip():
    ex = examples_at((1, 3), np.arange(1, 9), 10)
    np.testing.assert_array_equal(ex.targets, np.arange(1, 7))
    np.testing.assert_array_equal(ex.inputs, np.stack([np.arange(2, 8), np.arange(4, 10)], 1))


# --- (b), (c): which frames feed which model --------------------------------------------

def _examples(compat_value, model, n=40):
    config = make_config("smoke", compat=compat_value, models=[model], losses=["MSE"])
    split = study_split(config, n)
    fingerprints = {"paper": "x", "fillnet_conv": "y"}
    (_, _, job), = plan_runs(config, n, split, fingerprints.__getitem__)
    return job


def test_backward_quirk_makes_backward_a_forward_model():
    faithful = _examples("none", "Backward").train
    np.testing.assert_array_equal(faithful.inputs[:, 0], faithful.targets + 1)
    quirky = _examples("backward", "Backward").train
    np.testing.assert_array_equal(quirky.inputs[:, 0], quirky.targets - 1)
    both = _examples("pairs,backward", "Backward")
    forward = _examples("pairs", "Forward")
    np.testing.assert_array_equal(both.train.inputs, forward.train.inputs)
    np.testing.assert_array_equal(both.test.targets, forward.test.targets)
    assert both.test.targets.min() % 2 == 1 and np.all(both.test.targets % 2 == 1)


def test_bidirectional_quirk_extrapolates_from_frames_t_plus_1_and_t_plus_3():
    job = _examples("pairs,bidirectional", "Bi-Directional")
    t = job.train.targets
    assert np.all(t % 2 == 0)                                    # target 2i
    np.testing.assert_array_equal(job.train.inputs, np.stack([t + 1, t + 3], 1))
    faithful = _examples("pairs", "Bi-Directional").train        # (2i, 2i+2) -> 2i+1
    np.testing.assert_array_equal(faithful.inputs,
                                  np.stack([faithful.targets - 1, faithful.targets + 1], 1))


def test_other_switches_leave_the_dense_examples_alone():
    base = _examples("none", "Forward")
    for switch in ("backward", "bidirectional", "reshape", "conv_loss", "conv_frames"):
        job = _examples(switch, "Forward")
        np.testing.assert_array_equal(job.train.inputs, base.train.inputs)
        assert job.run_dir == base.run_dir and job.run == base.run


# --- (d): the reshape in the Blur Factor ----------------------------------------------

def test_reshape_measures_blur_on_the_scrambled_layout_and_nothing_else():
    rng = np.random.default_rng(0)
    true = rng.random((3, 100, 200))
    pred = np.clip(true + 0.05 * rng.standard_normal(true.shape), 0, 1)
    plain = frame_metrics(pred, true, np.arange(3))
    scrambled = frame_metrics(pred, true, np.arange(3), reshape=True)
    for i in range(3):  # independent: scipy's Laplacian on each frame reshaped to (200, 100)
        lap = ndimage.laplace(pred[i].reshape(200, 100), mode="reflect")
        assert scrambled.bf_pred[i] == pytest.approx(1 / lap.var(), rel=1e-10)
        lap = ndimage.laplace(true[i].reshape(200, 100), mode="reflect")
        assert scrambled.bf_true[i] == pytest.approx(1 / lap.var(), rel=1e-10)
    assert not np.allclose(plain.bf_pred, scrambled.bf_pred)
    pd.testing.assert_series_equal(plain.psnr, scrambled.psnr)
    pd.testing.assert_series_equal(plain.ssim, scrambled.ssim)


def test_reshape_changes_the_sample_clips_blur_by_an_order_of_magnitude():
    frames = load_frames("sample", max_frames=40) / 255.0
    plain = frame_metrics(frames, frames, np.arange(40)).bf_true.mean()
    scrambled = frame_metrics(frames, frames, np.arange(40), reshape=True).bf_true.mean()
    assert plain / scrambled > 10  # reference README: ~53 vs ~2.4 on the whole clip


def test_reshape_switch_selects_the_reshaped_metrics_for_dense_models_only():
    assert compat.measures_reshaped("dense", ("reshape",))
    assert not compat.measures_reshaped("conv", ("reshape",))
    assert not compat.measures_reshaped("dense", ("pairs",))


# --- (e): the conv model's loss and filters --------------------------------------------

def test_conv_loss_quirk_settings():
    assert compat.conv_run_settings("MSE", 16, ()) == (16, False)
    assert compat.conv_run_settings("CP", 16, ()) == (16, False)
    assert compat.conv_run_settings("MSE", 16, ("conv_loss",)) == (32, False)
    assert compat.conv_run_settings("MSLE", 16, ("conv_loss",)) == (32, False)
    assert compat.conv_run_settings("CP", 16, ("conv_loss",)) == (16, True)
    job = _examples("conv_loss", "Convolutional")
    assert job.run.conv_filters == 32 and not job.run.cp_last_axis


def test_conv_cp_with_the_quirk_does_not_learn(tmp_path):
    """The authors' Conv-CP: a constant loss, so training leaves the weights as they were
    (the gradient is ~5e-11, not exactly 0, through the norm's epsilon)."""
    from blurutils.training import RunConfig, train_run

    frames = load_frames("sample", max_frames=12)
    ex = examples_at((-1,), np.arange(1, 11), 12)
    run = RunConfig(model="Convolutional", loss="CP", epochs=1, batch_size=1,
                    cp_last_axis=True, jit_compile=False)
    model = train_run(run, frames, ex, ex, tmp_path / "run", report=lambda line: None)
    from blurutils.models import build_model
    from blurutils.session import seed_everything

    seed_everything(0)
    fresh = build_model("Convolutional")
    for trained, initial in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_allclose(trained, initial, rtol=0, atol=1e-6)
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history.loss.iloc[0] == pytest.approx(-1.0, abs=1e-5)
    # Control: the whole-frame CP does learn in the same epoch.
    learned = train_run(RunConfig(model="Convolutional", loss="CP", epochs=1, batch_size=1,
                                  jit_compile=False), frames, ex, ex, tmp_path / "control",
                        report=lambda line: None)
    change = max(np.abs(a - b).max() for a, b in zip(learned.get_weights(),
                                                      fresh.get_weights()))
    assert change > 1e-4


def test_cp_last_axis_is_refused_for_other_losses():
    from blurutils.training import RunConfig

    with pytest.raises(ConfigError, match="CP loss only"):
        RunConfig(model="Convolutional", loss="MSE", cp_last_axis=True)


# --- (f): the conv model's frames ------------------------------------------------------

def test_fillnet_conv_frames_are_200_tall_100_wide_nearest_neighbour():
    frames = load_frames("sample", max_frames=3, layout="fillnet_conv")
    assert frames.shape == (3, 200, 100) and frames.dtype == np.uint8
    from blurutils.sources import resolve_source

    cap = cv2.VideoCapture(str(resolve_source("sample")))
    ok, bgr = cap.read()
    cap.release()
    x, y, w, h = crop_box(bgr.shape[1], bgr.shape[0])
    grey = cv2.cvtColor(bgr[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY)
    # nearest neighbour: every output pixel is one of the source pixels
    expected = cv2.resize(grey, (100, 200), interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(frames[0], expected)
    assert set(np.unique(frames[0])) <= set(np.unique(grey))
    paper = load_frames("sample", max_frames=3)
    assert paper.shape == (3, 100, 200)


def test_unknown_frame_layout_is_a_frame_error():
    with pytest.raises(FrameError, match="unknown frame format 'tall'"):
        preprocess_frame(np.zeros((100, 200), np.uint8), "tall")


def test_conv_model_takes_the_fillnet_layout():
    from blurutils.models import build_model

    model = build_model("Convolutional", frame_shape=(200, 100))
    assert model.output_shape == (None, 200, 100, 1)
    with pytest.raises(ConfigError, match="divisible by 4"):
        build_model("Convolutional", frame_shape=(102, 200))


def test_conv_frames_switch_selects_the_layout_for_the_conv_model_only():
    assert compat.frame_format_for("conv", ("conv_frames",)) == "fillnet_conv"
    assert compat.frame_format_for("dense", ("conv_frames",)) == "paper"
    assert compat.frame_format_for("conv", ()) == "paper"
    job = _examples("conv_frames", "Convolutional")
    assert job.frames.layout == "fillnet_conv" and job.run.data_fingerprint == "y"


# --- run folders: variants share what they have in common -------------------------------

def test_run_folders_name_only_the_quirks_that_change_training():
    all_on = compat.ALL_QUIRKS
    assert compat.run_folder_name("Forward-MSE", "Forward", all_on) == "Forward-MSE~fillnet-a"
    assert compat.run_folder_name("Backward-CP", "Backward", all_on) == "Backward-CP~fillnet-ab"
    assert compat.run_folder_name("Convolutional-CP", "Convolutional", all_on) \
        == "Convolutional-CP~fillnet-aef"
    assert compat.run_folder_name("Forward-MSE", "Forward", ("reshape", "conv_loss")) \
        == "Forward-MSE"


# --- a whole compat study --------------------------------------------------------------

@pytest.fixture(scope="module")
def fillnet_study(tmp_path_factory):
    from blurutils.study import run_study

    out = tmp_path_factory.mktemp("fillnet")
    config = make_config("smoke", compat="fillnet", max_frames=24, epochs=1,
                         models=["Forward", "Backward"], losses=["MSE"], out=str(out),
                         baselines="none")
    return run_study(config, report=lambda line: None)


def test_fillnet_backward_rows_equal_the_forward_rows(fillnet_study):
    """The double swap: the paper's "Backward" numbers come from a second forward model."""
    fwd = fillnet_study.metrics[("Forward", "MSE")]
    bwd = fillnet_study.metrics[("Backward", "MSE")]
    pd.testing.assert_frame_equal(fwd, bwd)
    assert np.all(fwd.frame % 2 == 1)  # odd targets: non-overlapping pairs


def test_fillnet_tables_use_the_reshaped_blur_factor(fillnet_study):
    run_dir = fillnet_study.out / "runs" / "Forward-MSE~fillnet-a"
    reshaped = pd.read_csv(run_dir / "per_frame_metrics_reshaped.csv")
    plain = pd.read_csv(run_dir / "per_frame_metrics.csv")
    row = fillnet_study.table1.set_index("paper_row").loc["Forward MLAE - MSE"]
    assert row["mean"] == pytest.approx(reshaped.bf_pred.mean())
    assert row["mean"] != pytest.approx(plain.bf_pred.mean())
    assert (fillnet_study.out / "config.yaml").read_text().count("- pairs") == 1


@pytest.mark.parametrize("layout, compat, expected", [
    ("paper", [], {"dense": "paper", "conv": "paper"}),
    ("half", [], {"dense": "half", "conv": "paper"}),          # the low-memory layout: dense only
    ("half", ["f"], {"dense": "half", "conv": "fillnet_conv"}),
])
def test_run_layout_says_which_frames_each_model_uses(layout, compat, expected):
    from blurutils.config import make_config
    from blurutils.study import run_layout

    config = make_config("smoke", frame_layout=layout, compat=compat)
    assert {kind: run_layout(config, model) for kind, model in
            (("dense", "Bi-Directional"), ("conv", "Convolutional"))} == expected
