"""Interpolation baselines with no learning: copy, blend, optical flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import blurutils
from blurutils import metrics
from blurutils.baselines import (BASELINES, FARNEBACK_PARAMS, copy_previous, farneback_flow,
                                 flow_midpoint, linear_blend, midpoint_from_flow,
                                 predict_baseline)
from blurutils.catalog import baseline_name
from blurutils.errors import ConfigError, FrameError
from blurutils.frames import to_unit_float
from blurutils.pairs import examples_for

#: Pixels left out at each border when scoring: content enters there that no
#: neighbour frame has seen.
BORDER = 12


def translated_clip(dx: float, dy: float, n: int = 7, h: int = 100, w: int = 200,
                    sigma: float = 2.0, seed: int = 0) -> np.ndarray:
    """uint8 (n, h, w): a smooth random texture moving by (dx, dy) pixels per frame."""
    rng = np.random.default_rng(seed)
    span_x, span_y = int(abs(dx) * n) + 10, int(abs(dy) * n) + 10
    texture = cv2.GaussianBlur(rng.random((h + 2 * span_y, w + 2 * span_x)).astype(np.float32),
                               (0, 0), sigma)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    texture = np.round(texture * 255).astype(np.uint8)
    # frame_t(x, y) = texture(x + span_x - dx t, y + span_y - dy t)
    frames = [cv2.warpAffine(texture, np.float32([[1, 0, dx * t - span_x],
                                                  [0, 1, dy * t - span_y]]),
                             (w, h), flags=cv2.INTER_LINEAR)
              for t in range(n)]
    return np.stack(frames)


def interior(x: np.ndarray) -> np.ndarray:
    return x[:, BORDER:-BORDER, BORDER:-BORDER]


def interior_psnr(pred: np.ndarray, frames: np.ndarray, targets: np.ndarray) -> float:
    return float(metrics.psnr(interior(pred), interior(to_unit_float(frames[targets]))).mean())


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return translated_clip(2.0, 1.0)


def test_outputs_are_float32_unit_frames(clip):
    targets = np.array([1, 3, 5])
    train = np.array([2, 4, 6])
    for name, fn in BASELINES.items():
        pred = fn(clip, targets, train=train) if name == "Mean frame" else fn(clip, targets)
        assert pred.dtype == np.float32, name
        assert pred.shape == (3, 100, 200), name
        assert pred.min() >= 0.0 and pred.max() <= 1.0, name
        np.testing.assert_array_equal(predict_baseline(name, clip, targets, train=train), pred)
    assert list(BASELINES) == ["Copy previous", "Linear blend", "Optical flow", "Mean frame"]


def test_mean_frame_is_the_mean_training_target_for_every_target(sample_frames):
    train, targets = np.array([3, 10, 40, 41]), np.array([5, 60, 100])
    pred = predict_baseline("mean", sample_frames, targets, train=train)
    expected = sum(sample_frames[t].astype(np.float64) for t in train) / len(train) / 255.0
    for row in pred:
        np.testing.assert_allclose(row, expected, atol=1e-6)
    with pytest.raises(ConfigError, match="needs the training targets"):
        predict_baseline("Mean frame", sample_frames, targets)
    with pytest.raises(ConfigError, match="train"):
        predict_baseline("Mean frame", sample_frames, targets, train=np.array([500]))


def test_copy_and_blend_are_exact(sample_frames):
    targets = np.array([1, 50, 130])
    np.testing.assert_array_equal(copy_previous(sample_frames, targets),
                                  to_unit_float(sample_frames[targets - 1]))
    expected = (sample_frames[targets - 1] / 255.0 + sample_frames[targets + 1] / 255.0) / 2
    np.testing.assert_allclose(linear_blend(sample_frames, targets), expected, rtol=0, atol=1e-7)


def test_examples_are_accepted(clip):
    examples = examples_for("bidirectional", np.array([2, 4]))
    np.testing.assert_array_equal(flow_midpoint(clip, examples), flow_midpoint(clip, [2, 4]))
    assert copy_previous(clip, np.array([], dtype=np.int64)).shape == (0, 100, 200)


@pytest.mark.parametrize("dx, dy", [(2.0, 1.0), (-2.0, 0.0), (1.5, 0.5), (1.25, -0.75)])
def test_flow_recovers_translation(dx, dy):
    frames = translated_clip(dx, dy)
    targets = np.arange(1, len(frames) - 1)
    scores = {name: interior_psnr(fn(frames, targets), frames, targets)
              for name, fn in BASELINES.items() if name != "Mean frame"}
    assert scores["Optical flow"] > 40.0
    assert scores["Optical flow"] > scores["Linear blend"] + 10.0
    assert scores["Linear blend"] > scores["Copy previous"]


def test_flow_estimate_and_midpoint(clip):
    flow = farneback_flow(clip[1], clip[3])
    assert flow.shape == (100, 200, 2) and flow.dtype == np.float32
    np.testing.assert_allclose(np.median(interior(flow[None])[0], axis=(0, 1)), [4.0, 2.0],
                               atol=0.05)
    # With the true (uniform) flow the midpoint is exact up to resampling.
    exact = np.broadcast_to(np.float32([4.0, 2.0]), (100, 200, 2)).copy()
    mid = midpoint_from_flow(clip[1], clip[3], exact)
    assert metrics.psnr(interior(mid[None]), interior(to_unit_float(clip[2:3])))[0] > 45
    assert FARNEBACK_PARAMS["winsize"] == 15 and FARNEBACK_PARAMS["levels"] == 3


def test_rbf_alone_rewards_copying_the_previous_frame(sample_frames):
    """Copying frame t-1 is exactly as sharp as a real frame, so its RBF is ~0 — the
    best RBF there is — although it is the worst interpolator by PSNR.  RBF measures
    blur relative to the truth, not fidelity: it must be read beside PSNR/SSIM."""
    targets = blurutils.split_targets(len(sample_frames)).test
    true = to_unit_float(sample_frames[targets])
    copy, flow = copy_previous(sample_frames, targets), flow_midpoint(sample_frames, targets)
    rbf_copy = metrics.relative_blur_factor(copy, true)
    rbf_flow = metrics.relative_blur_factor(flow, true)
    assert abs(rbf_copy.mean()) < 0.1
    assert abs(rbf_copy.mean()) < abs(rbf_flow.mean())
    assert metrics.psnr(copy, true).mean() + 2.0 < metrics.psnr(flow, true).mean()
    assert metrics.ssim(copy, true).mean() < metrics.ssim(flow, true).mean()


@pytest.mark.parametrize("name, expected", [
    ("Optical flow", "Optical flow"), ("flow", "Optical flow"), ("flow_midpoint", "Optical flow"),
    ("copy-previous", "Copy previous"), ("LINEAR BLEND", "Linear blend"),
])
def test_baseline_names(name, expected):
    assert baseline_name(name) == expected


def test_bad_inputs(clip):
    with pytest.raises(ConfigError, match="unknown baseline"):
        predict_baseline("nearest", clip, [1])
    with pytest.raises(ConfigError, match="neighbour"):
        linear_blend(clip, [0])
    with pytest.raises(ConfigError, match="neighbour"):
        flow_midpoint(clip, [len(clip) - 1])
    with pytest.raises(ConfigError, match="indices"):
        copy_previous(clip, [1.5])
    with pytest.raises(FrameError, match="uint8"):
        copy_previous(clip.astype(np.float32), [1])
    with pytest.raises(FrameError, match="shape"):
        copy_previous(clip[0], [1])
