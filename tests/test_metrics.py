"""Tests for blurutils.metrics: Blur Factor, Relative Blur Factor, local BF, PSNR, SSIM.

Every metric is checked against an independent calculation: hand-worked Laplacians of
tiny images, ``scipy.ndimage.laplace(img, mode='reflect')`` (the authors' Laplacian),
``cv2.Laplacian(..., BORDER_REFLECT)``, exact scaling identities, and scikit-image.
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
import pytest
from scipy import ndimage

from blurutils.errors import MetricInputError
from blurutils.frames import to_unit_float
from blurutils.metrics import (blur_factor, laplacian, laplacian_variance, local_blur_factor,
                               psnr, relative_blur_factor, ssim, summarize)


def scipy_bf(img: np.ndarray) -> float:
    """Independent BF: the authors' Laplacian (scipy, reflect) in float64, 1 / variance."""
    lap = ndimage.laplace(np.asarray(img, dtype=np.float64), mode="reflect")
    return 1.0 / float(np.var(lap))


def cv2_bf(img: np.ndarray) -> float:
    lap = cv2.Laplacian(np.asarray(img, dtype=np.float64), cv2.CV_64F, ksize=1,
                        borderType=cv2.BORDER_REFLECT)
    return 1.0 / float(np.var(lap))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="module")
def textured() -> np.ndarray:
    """A smooth-plus-detail float64 image in [0, 1], 100 x 200."""
    r = np.random.default_rng(7)
    y, x = np.mgrid[0:100, 0:200]
    img = 0.5 + 0.25 * np.sin(x / 7.0) * np.cos(y / 5.0) + 0.1 * r.standard_normal((100, 200))
    return np.clip(img, 0.0, 1.0)


# --------------------------------------------------------------------------- hand-worked

def test_hand_worked_3x3_impulse() -> None:
    # img = [[0,0,0],[0,1,0],[0,0,0]], reflect border (edge pixel repeated):
    # centre: 0+0+0+0-4*1 = -4; edge middles: the centre neighbour gives +1; corners: 0.
    # Lap = [[0,1,0],[1,-4,1],[0,1,0]]: mean 0, var = (4*1 + 16)/9 = 20/9, BF = 9/20.
    # (REFLECT_101 would give 2 at the edge middles and a different BF.)
    img = np.zeros((3, 3))
    img[1, 1] = 1.0
    expected_lap = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
    np.testing.assert_array_equal(laplacian(img), expected_lap)
    assert laplacian_variance(img) == pytest.approx(20 / 9, rel=1e-12)
    assert blur_factor(img) == pytest.approx(0.45, rel=1e-12)
    u8 = np.zeros((3, 3), np.uint8)
    u8[1, 1] = 255
    assert blur_factor(u8) == pytest.approx(0.45, rel=1e-12)


def test_hand_worked_3x4_asymmetric() -> None:
    # img (x2) = [[1,0,0,0],[0,0,0,0],[0,0,0,2]], worked out cell by cell with reflect
    # borders: Lap(x2) = [[-2,1,0,0],[1,0,0,2],[0,0,2,-4]] -> sum 0, sum of squares 30,
    # var = 30/12 = 2.5.  The image used is half of that (values in [0,1]), so
    # var = 2.5/4 = 0.625 and BF = 1.6.
    img = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2]], dtype=np.float64) / 2
    expected_lap = np.array([[-2, 1, 0, 0], [1, 0, 0, 2], [0, 0, 2, -4]], dtype=np.float64) / 2
    np.testing.assert_allclose(laplacian(img), expected_lap, rtol=0, atol=1e-15)
    assert blur_factor(img) == pytest.approx(1.6, rel=1e-12)
    # BF is orientation-independent for this operator; the transpose has the same BF.
    assert blur_factor(img.T) == pytest.approx(1.6, rel=1e-12)


# --------------------------------------------------------------------------- BF vs references

@pytest.mark.parametrize("shape", [(3, 3), (4, 5), (37, 53), (100, 200)])
def test_blur_factor_matches_scipy_and_cv2_float64(rng: np.random.Generator, shape) -> None:
    img = rng.random(shape)
    bf = blur_factor(img)
    assert bf == pytest.approx(scipy_bf(img), rel=1e-9)
    assert bf == pytest.approx(cv2_bf(img), rel=1e-9)


def test_blur_factor_matches_scipy_float32(rng: np.random.Generator) -> None:
    imgs = rng.random((6, 41, 67)).astype(np.float32)
    bf = blur_factor(imgs)
    expected = np.array([scipy_bf(im) for im in imgs])  # reference in float64
    np.testing.assert_allclose(bf, expected, rtol=1e-6)


def test_default_opencv_border_would_differ(textured: np.ndarray) -> None:
    # Guards the border choice: REFLECT_101 (OpenCV's default) gives a different BF.
    default = 1.0 / np.var(cv2.Laplacian(textured, cv2.CV_64F, ksize=1))
    assert abs(blur_factor(textured) / default - 1) > 1e-4
    assert blur_factor(textured) == pytest.approx(scipy_bf(textured), rel=1e-9)


def test_uint8_equals_float_divided_by_255(rng: np.random.Generator) -> None:
    u8 = rng.integers(0, 256, (5, 40, 60), dtype=np.uint8)
    bf_u8 = blur_factor(u8)
    bf_f = blur_factor(u8 / 255.0)
    np.testing.assert_allclose(bf_u8, bf_f, rtol=1e-12)
    np.testing.assert_allclose(bf_u8, [scipy_bf(im / 255.0) for im in u8], rtol=1e-9)
    np.testing.assert_allclose(laplacian_variance(u8), laplacian_variance(u8 / 255.0),
                               rtol=1e-12)
    np.testing.assert_allclose(laplacian(u8), laplacian(u8 / 255.0), rtol=0, atol=1e-12)


def test_single_image_gives_python_float_batch_gives_array(rng: np.random.Generator) -> None:
    batch = rng.random((4, 20, 30))
    single = blur_factor(batch[2])
    assert type(single) is float
    out = blur_factor(batch)
    assert isinstance(out, np.ndarray) and out.shape == (4,) and out.dtype == np.float64
    assert out[2] == pytest.approx(single, rel=1e-15)
    np.testing.assert_allclose(out, [scipy_bf(b) for b in batch], rtol=1e-9)
    # A trailing channel of size 1 is accepted and ignored.
    np.testing.assert_allclose(blur_factor(batch[..., None]), out, rtol=1e-15)


def test_blurrier_image_has_higher_bf(textured: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(textured, (0, 0), 2.0)
    assert blur_factor(blurred) > 2 * blur_factor(textured)


def test_constant_image_is_inf_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for value in (0.0, 0.3, 1 / 3, 0.7, 1.0):
            assert blur_factor(np.full((10, 12), value)) == math.inf
            assert blur_factor(np.full((10, 12), value, np.float32)) == math.inf
        assert blur_factor(np.full((10, 12), 77, np.uint8)) == math.inf
        batch = np.stack([np.full((10, 12), 0.5), np.eye(10, 12)])
        out = blur_factor(batch)
    assert out[0] == math.inf and np.isfinite(out[1])


# --------------------------------------------------------------------------- the layout pitfall

def test_authors_reshape_bug_changes_bf(textured: np.ndarray) -> None:
    # The authors' code reshaped each flattened 100x200 frame to (200, 100) before the
    # Laplacian (shared/reference/README.md item 4): a BUG that scrambles rows.  We
    # measure frames in their true (100, 200) layout; this shows the two differ a lot.
    true_bf = blur_factor(textured)
    scrambled = blur_factor(textured.reshape(200, 100))
    assert true_bf == pytest.approx(scipy_bf(textured), rel=1e-9)
    assert abs(math.log(true_bf / scrambled)) > math.log(1.5)


def test_sample_clip_bf_true_layout_vs_authors_reshape(sample_frames: np.ndarray) -> None:
    # Reference (README item 4): mean BF about 53 in the true layout, about 2.4 with
    # the authors' (buggy) reshape to (200, 100).
    bf = blur_factor(sample_frames)
    assert bf.shape == (132,) and np.isfinite(bf).all()
    assert 45 < bf.mean() < 60
    scrambled = blur_factor(sample_frames.reshape(-1, 200, 100))
    assert 1.5 < scrambled.mean() < 4
    assert bf.mean() / scrambled.mean() > 10
    # Spot-check frames against scipy on the [0, 1] floats.
    for i in (0, 65, 131):
        assert bf[i] == pytest.approx(scipy_bf(sample_frames[i] / 255.0), rel=1e-9)


# --------------------------------------------------------------------------- RBF

def test_relative_blur_factor_definition(rng: np.random.Generator) -> None:
    pred = rng.random((5, 30, 40))
    true = rng.random((5, 30, 40)) ** 3
    rbf = relative_blur_factor(pred, true)
    expected = [scipy_bf(p) / scipy_bf(t) - 1 for p, t in zip(pred, true)]
    np.testing.assert_allclose(rbf, expected, rtol=1e-9)
    single = relative_blur_factor(pred[1], true[1])
    assert type(single) is float
    assert single == pytest.approx(expected[1], rel=1e-9)


def test_rbf_identical_is_zero(textured: np.ndarray) -> None:
    assert relative_blur_factor(textured, textured) == 0.0


def test_rbf_sign_on_sample_frame(sample_frames: np.ndarray) -> None:
    frame = to_unit_float(sample_frames[40]).astype(np.float64)
    blurred = cv2.GaussianBlur(frame, (0, 0), 1.5)
    assert relative_blur_factor(blurred, frame) > 0.5   # blurrier prediction
    assert relative_blur_factor(frame, blurred) < -0.3  # sharper prediction
    sharpened = np.clip(frame + 1.0 * (frame - blurred), 0, 1)  # unsharp mask
    assert relative_blur_factor(sharpened, frame) < 0


@pytest.mark.parametrize("a", [0.5, 0.25, 2.0])
def test_rbf_contrast_scaling_is_exact(sample_frames: np.ndarray, a: float) -> None:
    # Lap is linear: var(Lap(a P)) = a^2 var(Lap(P)), so BF(aP) = BF(P)/a^2 and
    # RBF(aP, P) = 1/a^2 - 1 (exact in floating point for powers of two).
    frame = to_unit_float(sample_frames[10]).astype(np.float64) * 0.5
    scaled = a * frame
    assert laplacian_variance(scaled) == pytest.approx(a * a * laplacian_variance(frame),
                                                       rel=1e-12)
    assert relative_blur_factor(scaled, frame) == pytest.approx(1 / a**2 - 1, rel=1e-12)
    assert relative_blur_factor(frame, scaled) == pytest.approx(a**2 - 1, rel=1e-12,
                                                                abs=1e-12)
    # Contrast-doubled prediction: sharper, RBF = 1/4 - 1 = -0.75.
    if a == 2.0:
        assert relative_blur_factor(scaled, frame) == pytest.approx(-0.75, rel=1e-12)


def test_rbf_constant_pred_inf_both_constant_nan(textured: np.ndarray) -> None:
    flat = np.full_like(textured, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert relative_blur_factor(flat, textured) == math.inf
        assert math.isnan(relative_blur_factor(flat, flat))
        assert relative_blur_factor(textured, flat) == -1.0  # BF(true) = inf
        out = relative_blur_factor(np.stack([flat, flat, textured]),
                                   np.stack([textured, flat, textured]))
    assert out[0] == math.inf and math.isnan(out[1]) and out[2] == 0.0


# --------------------------------------------------------------------------- local BF

def test_local_blur_factor_shape_and_tile_values(rng: np.random.Generator) -> None:
    imgs = rng.random((3, 100, 200))
    local = local_blur_factor(imgs, tile=25)
    assert local.shape == (3, 4, 8)
    # Independent: Laplacian of the WHOLE image, then 1/var inside each tile.
    for n in range(3):
        lap = ndimage.laplace(imgs[n], mode="reflect")
        for r in range(4):
            for c in range(8):
                tile = lap[25 * r:25 * (r + 1), 25 * c:25 * (c + 1)]
                assert local[n, r, c] == pytest.approx(1 / np.var(tile), rel=1e-9)
    single = local_blur_factor(imgs[1], tile=(50, 40))
    assert single.shape == (2, 5)
    lap = ndimage.laplace(imgs[1], mode="reflect")
    assert single[1, 3] == pytest.approx(1 / np.var(lap[50:100, 120:160]), rel=1e-9)


def test_local_blur_factor_uses_global_laplacian_at_tile_edges() -> None:
    # A step edge that sits exactly on a tile boundary: per-tile Laplacians (with their
    # own reflected borders) would see flat tiles; the global Laplacian does not.
    img = np.zeros((50, 50))
    img[:, 25:] = 1.0
    local = local_blur_factor(img, tile=25)
    assert np.isfinite(local).all()
    lap = ndimage.laplace(img, mode="reflect")
    assert local[0, 0] == pytest.approx(1 / np.var(lap[:25, :25]), rel=1e-12)


def test_local_blur_factor_half_blurred(textured: np.ndarray) -> None:
    img = textured.copy()
    img[:, 100:] = cv2.GaussianBlur(textured, (0, 0), 3.0)[:, 100:]
    local = local_blur_factor(img, tile=25)
    left, right = local[:, :4], local[:, 4:]
    # Tiles away from the seam: every blurred tile is blurrier than every sharp one.
    assert right[:, 1:].min() > left[:, :3].max()
    assert np.median(right) > 5 * np.median(left)


def test_local_blur_factor_flat_tile_is_inf() -> None:
    img = np.zeros((50, 50))
    img[30:, 30:] = np.random.default_rng(0).random((20, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        local = local_blur_factor(img, tile=25)
    assert local[0, 0] == math.inf and np.isfinite(local[1, 1])


@pytest.mark.parametrize("tile", [0, 1, -5, (1, 25), (25, 0), 101, (25, 201), (25,),
                                  (25, 25, 25), 2.5, "25", None, (25.0, 25)])
def test_local_blur_factor_bad_tile(tile) -> None:
    with pytest.raises(MetricInputError, match="tile"):
        local_blur_factor(np.random.default_rng(0).random((100, 200)), tile=tile)


def test_local_blur_factor_numpy_int_tile() -> None:
    img = np.random.default_rng(0).random((100, 200))
    np.testing.assert_array_equal(local_blur_factor(img, tile=np.int64(25)),
                                  local_blur_factor(img, tile=(25, 25)))


# --------------------------------------------------------------------------- PSNR, SSIM

def test_psnr_known_values() -> None:
    true = np.full((10, 20), 0.1)
    assert psnr(np.zeros((10, 20)), true) == pytest.approx(20.0, rel=1e-12)  # MSE 0.01
    # Half the pixels off by 0.2: MSE = 0.02 -> 10 log10(50) dB.
    pred = true.copy()
    pred[:5] += 0.2
    assert psnr(pred, true) == pytest.approx(10 * math.log10(50), rel=1e-12)
    # uint8 is on the same [0, 1] scale: 0 vs 255 is MSE 1 -> 0 dB.
    assert psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)) == 0.0
    batch = psnr(np.stack([np.zeros((10, 20)), pred]), np.stack([true, true]))
    np.testing.assert_allclose(batch, [20.0, 10 * math.log10(50)], rtol=1e-12)


def test_psnr_identical_is_inf_without_warning(textured: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert psnr(textured, textured) == math.inf


def test_ssim_matches_skimage(sample_frames: np.ndarray) -> None:
    from skimage.metrics import structural_similarity

    true = sample_frames[20:23] / 255.0
    pred = cv2.GaussianBlur(true.transpose(1, 2, 0), (0, 0), 1.2).transpose(2, 0, 1)
    out = ssim(pred, true)
    assert out.shape == (3,)
    for p, t, value in zip(pred, true, out):
        ref = structural_similarity(p, t, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
        assert value == pytest.approx(ref, rel=1e-12)
        assert 0 < value < 0.999
    assert ssim(sample_frames[20], sample_frames[20]) == pytest.approx(1.0, abs=1e-12)
    assert ssim(true[0], true[0]) == pytest.approx(1.0, abs=1e-12)
    # uint8 input is divided by 255.
    assert ssim(sample_frames[21], sample_frames[20]) == pytest.approx(
        ssim(sample_frames[21] / 255.0, sample_frames[20] / 255.0), rel=1e-12)


# --------------------------------------------------------------------------- summarize

def test_summarize_finite_only_and_counts() -> None:
    values = [1.0, 2.0, math.inf, 3.0, math.nan, 4.0, -math.inf]
    s = summarize(values)
    assert (s["n"], s["n_finite"], s["n_inf"], s["n_nan"]) == (7, 4, 2, 1)
    # Over 1, 2, 3, 4: mean 2.5, sample std sqrt(5/3), median 2.5, quartiles by linear
    # interpolation 1.75 and 3.25, IQR 1.5.
    assert s["mean"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    assert s["median"] == pytest.approx(2.5)
    assert s["q1"] == pytest.approx(1.75) and s["q3"] == pytest.approx(3.25)
    assert s["iqr"] == pytest.approx(1.5)
    assert (s["min"], s["max"]) == (1.0, 4.0)


def test_summarize_std_is_sample_std(rng: np.random.Generator) -> None:
    x = rng.normal(10, 3, 50)
    s = summarize(x)
    assert s["std"] == pytest.approx(math.sqrt(((x - x.mean()) ** 2).sum() / 49), rel=1e-12)
    assert s["mean"] == pytest.approx(x.sum() / 50, rel=1e-12)


def test_summarize_all_nonfinite_gives_nan_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = summarize([math.inf, math.inf, math.nan])
        empty = summarize([])
        one = summarize([5.0])
    assert (s["n_inf"], s["n_nan"], s["n_finite"]) == (2, 1, 0)
    for key in ("mean", "std", "median", "iqr", "q1", "q3", "min", "max"):
        assert math.isnan(s[key]) and math.isnan(empty[key])
    assert one["mean"] == 5.0 and math.isnan(one["std"])


# --------------------------------------------------------------------------- bad inputs

GOOD = np.random.default_rng(1).random((8, 10))


def _with(value: float) -> np.ndarray:
    img = GOOD.copy()
    img[3, 4] = value
    return img


@pytest.mark.parametrize("bad, why", [
    (_with(math.nan), "NaN"),
    (_with(math.inf), "NaN or infinite"),
    (_with(-math.inf), "NaN or infinite"),
    (np.zeros(10), "shape"),
    (np.zeros((1, 2, 3, 4, 5)), "shape"),
    (np.zeros((2, 8, 10, 3)), "shape"),
    (np.zeros((8, 10), bool), "dtype"),
    (np.zeros((8, 10), np.int64), "dtype"),
    (np.zeros((8, 10), np.complex128), "dtype"),
    (np.zeros((8, 10), np.uint16), "dtype"),
    (np.zeros((2, 2)), "smaller than 3x3"),
    (np.zeros((5, 3, 2)), "smaller than 3x3"),
])
def test_bad_images_raise(bad: np.ndarray, why: str) -> None:
    for fn in (blur_factor, laplacian_variance, laplacian, local_blur_factor):
        kwargs = {"tile": 2} if fn is local_blur_factor else {}
        with pytest.raises(MetricInputError, match=f"images.*{why}"):
            fn(bad, **kwargs)
    # Two-image metrics validate pred, then true, before comparing shapes, and name
    # the argument at fault.
    for fn in (relative_blur_factor, psnr, ssim):
        with pytest.raises(MetricInputError, match=f"^pred: .*{why}"):
            fn(bad, GOOD)
        with pytest.raises(MetricInputError, match=f"^true: .*{why}"):
            fn(GOOD, bad)


@pytest.mark.parametrize("fn", [relative_blur_factor, psnr, ssim])
def test_shape_mismatch_raises(fn) -> None:
    with pytest.raises(MetricInputError, match="pred and true"):
        fn(np.zeros((2, 10, 12)), np.zeros((2, 12, 10)))
    with pytest.raises(MetricInputError, match="pred and true"):
        fn(np.zeros((3, 10, 12)), np.zeros((2, 10, 12)))


def test_metric_input_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        blur_factor(np.zeros(5))
