"""Contrast matching (BF depends on intensity scale) and local blur maps (per-tile RBF)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from blurutils.errors import MetricInputError
from blurutils.metrics import (blur_factor, fraction_blurrier_tiles, local_blur_factor,
                               local_relative_blur_factor, match_contrast,
                               relative_blur_factor)


@pytest.fixture(scope="module")
def real(sample_frames) -> np.ndarray:
    """Five real frames of the sample clip, float64 (5, 100, 200) in [0, 1]."""
    return sample_frames[5:130:25].astype(np.float64) / 255.0


# --- match_contrast ---------------------------------------------------------------

def test_matched_frame_is_unchanged(real):
    out = match_contrast(real, real)
    assert out.dtype == np.float64 and out.shape == real.shape
    np.testing.assert_allclose(out, real, rtol=0, atol=1e-12)


@pytest.mark.parametrize("a, b", [(2.0, -0.3), (0.25, 0.1), (1.0, 0.2), (7.5, 3.0)])
def test_affine_copy_is_mapped_back(real, a, b):
    np.testing.assert_allclose(match_contrast(a * real + b, real), real, rtol=0, atol=1e-12)


def test_matched_mean_and_std_equal_the_target(real):
    pred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in real[::-1]]) * 0.5 + 0.3
    out = match_contrast(pred, real)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), real.mean(axis=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(1, 2)), real.std(axis=(1, 2)), rtol=1e-12)


def test_blur_factor_depends_on_contrast_unless_matched(real):
    for a in (0.5, 1.7, 3.0):
        # BF(a P) = BF(P) / a**2: contrast alone moves the Blur Factor ...
        np.testing.assert_allclose(blur_factor(a * real), blur_factor(real) / a ** 2, rtol=1e-9)
        # ... and matching contrast removes that.
        np.testing.assert_allclose(blur_factor(match_contrast(a * real, real)),
                                   blur_factor(real), rtol=1e-9)
        other = real[::-1]
        np.testing.assert_allclose(blur_factor(match_contrast(a * real, other)),
                                   blur_factor(match_contrast(real, other)), rtol=1e-9)


def test_single_frames_uint8_flat_and_clip(sample_frames, real):
    single = match_contrast(real[0] * 2.0, real[0])
    assert single.shape == (100, 200)
    np.testing.assert_allclose(single, real[0], atol=1e-12)
    # uint8 input is scaled to [0, 1] first.
    np.testing.assert_allclose(match_contrast(sample_frames[5], sample_frames[5]), real[0],
                               atol=1e-12)
    # A flat prediction cannot be stretched: it is only shifted to the target's mean.
    flat = match_contrast(np.full((100, 200), 0.9), real[0])
    np.testing.assert_allclose(flat, real[0].mean(), atol=1e-12)
    # Clipping only on request.
    wide = match_contrast(real[0], real[0] * 4.0 - 1.0)
    assert wide.min() < 0 or wide.max() > 1
    clipped = match_contrast(real[0], real[0] * 4.0 - 1.0, clip=True)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


@pytest.mark.parametrize("pred, true", [
    (np.zeros((2, 10, 10)), np.zeros((3, 10, 10))),    # shapes differ
    (np.zeros((2, 2)), np.zeros((2, 2))),              # too small
    (np.zeros((10, 10), dtype=np.int32), np.zeros((10, 10))),
    (np.full((10, 10), np.nan), np.zeros((10, 10))),
    (np.zeros(10), np.zeros(10)),
])
def test_match_contrast_bad_input(pred, true):
    with pytest.raises(MetricInputError):
        match_contrast(pred, true)


# --- local blur maps --------------------------------------------------------------

def half_blurred(frames: np.ndarray) -> np.ndarray:
    """Frames blurred in their left half only."""
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in frames])
    out = frames.copy()
    out[:, :, :100] = blurred[:, :, :100]
    return out


def test_left_half_blurred(real):
    pred = half_blurred(real)
    rbf = local_relative_blur_factor(pred, real)
    assert rbf.shape == (len(real), 4, 8)
    left, right = rbf[:, :, :4], rbf[:, :, 5:]   # column 4 (x = 100..124) sees the seam
    assert (left > 0.5).all()
    np.testing.assert_allclose(right, 0.0, atol=1e-12)
    frac = fraction_blurrier_tiles(pred, real)
    assert frac.shape == (len(real),)
    # 16 left tiles blurrier; the seam column's tiles may tip either way.
    assert ((frac >= 0.5) & (frac <= 0.625)).all()
    assert ((fraction_blurrier_tiles(pred, real, threshold=0.5) - 0.5) <= 0.125).all()
    # The global RBF only says "somewhat blurrier".
    assert (relative_blur_factor(pred, real) > 0).all()


def test_identical_frames(real):
    rbf = local_relative_blur_factor(real, real)
    np.testing.assert_array_equal(rbf, 0.0)
    np.testing.assert_array_equal(fraction_blurrier_tiles(real, real), 0.0)


def test_shapes_and_single_images(real):
    assert local_relative_blur_factor(real[0], real[0]).shape == (4, 8)
    assert local_relative_blur_factor(real, real, tile=(50, 40)).shape == (5, 2, 5)
    assert local_relative_blur_factor(real, real, tile=30).shape == (5, 3, 6)
    assert isinstance(fraction_blurrier_tiles(real[0], real[0]), float)
    np.testing.assert_allclose(local_blur_factor(real, 25) / local_blur_factor(real[::-1], 25) - 1,
                               local_relative_blur_factor(real, real[::-1]), rtol=1e-12)


def test_flat_tiles_follow_the_global_rules():
    # (The Laplacian reaches one pixel beyond a textured region: keep it off the seams.)
    true = np.zeros((100, 200))
    true[:, 101:] = np.random.default_rng(0).random((100, 99))   # tile columns 4-7 textured
    pred = np.zeros((100, 200))
    pred[:49] = np.random.default_rng(1).random((49, 200))       # tile rows 0-1 textured
    rbf = local_relative_blur_factor(pred, true, tile=25)
    assert np.isnan(rbf[2:, :4]).all()            # both flat
    assert np.isposinf(rbf[2:, 4:]).all()         # prediction flat, truth textured
    np.testing.assert_array_equal(rbf[:2, :4], -1.0)   # only the truth flat
    # nan tiles are left out; flat-in-prediction tiles count as blurrier.
    frac = fraction_blurrier_tiles(pred, true, tile=25)
    valid = ~np.isnan(rbf)
    assert frac == pytest.approx(((rbf > 0) & valid).sum() / valid.sum())
    both_flat = fraction_blurrier_tiles(np.zeros((100, 200)), np.zeros((100, 200)))
    assert np.isnan(both_flat)


@pytest.mark.parametrize("kwargs", [dict(tile=1), dict(tile=(25, 300)), dict(tile="a"),
                                    dict(threshold="x"), dict(threshold=float("nan"))])
def test_local_bad_options(real, kwargs):
    with pytest.raises(MetricInputError):
        fraction_blurrier_tiles(real, real, **kwargs)


def test_local_shape_mismatch(real):
    with pytest.raises(MetricInputError, match="differ"):
        local_relative_blur_factor(real[:2], real[:3])
