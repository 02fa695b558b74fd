"""Interpolated video: doubling the frame rate with a model or a baseline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from blurutils.errors import ConfigError
from blurutils.interpolate import interleave, interpolate

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, env_dir: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
           "BLURUTILS_DATA_DIR": str(env_dir / "data"),
           "BLURUTILS_RESULTS_DIR": str(env_dir / "results")}
    return subprocess.run([sys.executable, "-m", "blurutils", "interpolate", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_interleave_places_frames_at_even_positions(sample_frames):
    spaced, targets = interleave(sample_frames[:5])
    assert spaced.shape == (9, 100, 200) and spaced.dtype == np.uint8
    np.testing.assert_array_equal(spaced[::2], sample_frames[:5])
    assert targets.tolist() == [1, 3, 5, 7]


def test_blend_doubles_the_clip_and_keeps_every_original_frame(sample_frames):
    frames = sample_frames[:6]
    result = interpolate(frames, "blend")
    assert len(result.frames) == 2 * 6 - 1
    np.testing.assert_array_equal(result.frames[::2], frames)
    mid = (frames[:-1].astype(np.float64) + frames[1:]) / 2
    assert np.abs(result.frames[1::2] - mid).max() <= 0.5 + 1e-9  # rounded to uint8
    assert result.predicted.tolist() == [False, True] * 5 + [False]
    assert result.metrics is None


def test_evaluate_hides_odd_frames_and_scores_them(sample_frames):
    frames = sample_frames[:11]
    result = interpolate(frames, "copy", evaluate=True)
    assert len(result.frames) == 11
    assert result.metrics["frame"].tolist() == [1, 3, 5, 7, 9]
    # "copy" predicts frame t-1 of the spaced clip = the real frame t-1.
    np.testing.assert_array_equal(result.frames[1::2], frames[0:10:2])
    assert np.isfinite(result.metrics[["rbf", "psnr", "ssim"]].to_numpy()).all()


def test_flow_beats_blend_on_the_sample_clip(sample_frames):
    frames = sample_frames[:21]
    flow = interpolate(frames, "flow", evaluate=True).metrics
    blend = interpolate(frames, "blend", evaluate=True).metrics
    assert flow["psnr"].mean() > blend["psnr"].mean()


@pytest.mark.parametrize("bad, message", [
    (dict(method="zz"), "unknown method"),
    (dict(method="bidirectional"), "needs a trained"),
])
def test_bad_methods_are_config_errors(sample_frames, bad, message):
    with pytest.raises(ConfigError, match=message):
        interpolate(sample_frames[:5], **bad)


def test_cli_writes_a_playable_video_with_twice_the_frames_minus_one(tmp_path):
    out = tmp_path / "clip.mp4"
    done = cli("sample", "--method", "blend", "--max-frames", "12", "--out", str(out),
               env_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 2 * 12 - 1
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(50.0)  # the sample's 25 fps doubled
    with Image.open(out.with_suffix(".gif")) as gif:
        assert gif.n_frames == 23
    assert out.with_name("clip_strip.png").stat().st_size > 10_000


def test_cli_bidirectional_uses_a_saved_model_and_scores_it(tmp_path):
    from blurutils.catalog import model_spec
    from blurutils.models import build_model
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    model_path = tmp_path / "bi.keras"
    build_model("Bi-Directional").save(model_path)
    out = tmp_path / "bi.mp4"
    done = cli("sample", "--method", "bidirectional", "--model", str(model_path),
               "--max-frames", "9", "--evaluate", "--out", str(out), env_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "mean RBF" in done.stdout
    metrics = out.with_name("bi_metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 4  # header + frames 1, 3, 5, 7
    assert out.with_name("bi_over_time.png").is_file()
    assert model_spec("bi").direction == "bidirectional"


@pytest.mark.parametrize("args, message", [
    (["--method", "zz", "--out", "x.mp4"], "unknown method"),
    (["--out", "x.avi"], "must be an .mp4"),
    (["--method", "bidirectional", "--out", "x.mp4"], "no trained Bi-Directional model"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, args, message):
    done = cli("sample", *args, env_dir=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_cli_rejects_a_model_that_is_not_bidirectional(tmp_path):
    from blurutils.models import build_model
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    build_model("Convolutional").save(tmp_path / "conv.keras")
    done = cli("sample", "--method", "bidirectional", "--model", str(tmp_path / "conv.keras"),
               "--out", str(tmp_path / "x.mp4"), env_dir=tmp_path)
    assert done.returncode == 2 and "is not a Bi-Directional model" in done.stderr


def test_cli_rejects_a_model_whose_output_is_not_one_frame(tmp_path):
    """Right input (two 100x200 frames), wrong output: two channels instead of one frame."""
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    import keras

    inputs = keras.Input((100, 200, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
    model.save(tmp_path / "two.keras")
    done = cli("sample", "--method", "bidirectional", "--model", str(tmp_path / "two.keras"),
               "--out", str(tmp_path / "x.mp4"), env_dir=tmp_path)
    assert done.returncode == 2
    line, = done.stderr.strip().splitlines()
    assert "output shape (100, 200, 2)" in line and "(100, 200, 1)" in line
    assert not (tmp_path / "x.mp4").exists()
