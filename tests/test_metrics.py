"""Tests for blurutils.metrics: Blur Factor, Relative Blur Factor, local BF and RBF maps,
contrast matching, PSNR, SSIM, and the sharpness measures beyond the Laplacian (Tenengrad,
blur effect, high-frequency share).

Every metric is checked against an independent calculation: hand-worked Laplacians of
tiny images, ``scipy.ndimage.laplace(img, mode='reflect')`` (the authors' Laplacian),
``cv2.Laplacian(..., BORDER_REFLECT)``, exact scaling identities, and scikit-image;
Tenengrad against ``scipy.ndimage.sobel`` and explicit NumPy differences, the blur effect
against a hand-rolled NumPy version and the closed form for an ideal step edge, the
high-frequency share against a full ``fft2`` of the mirrored frame and cosines of known
frequency; contrast matching against exact affine copies of real frames (BF depends on
the intensity scale), local RBF maps against frames blurred in one half only.
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
from blurutils.metrics import (SHARPNESS_COLUMNS, blur_effect, blur_factor,
                               fraction_blurrier_tiles, high_frequency_blur_factor,
                               high_frequency_share, laplacian, laplacian_variance,
                               local_blur_factor, local_relative_blur_factor, match_contrast,
                               psnr, relative_blur_effect, relative_blur_factor,
                               relative_high_frequency_blur_factor,
                               relative_tenengrad_blur_factor,
                               sharpness_columns, ssim, summarize, tenengrad,
                               tenengrad_blur_factor)


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
    # Laplacian (docs/authors-code.md, quirk d): a BUG that scrambles rows.  We
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


# =========================================================================== beyond the Laplacian
# Tenengrad, blur effect and high-frequency share (issue #14).

def ref_tenengrad(img: np.ndarray) -> float:
    """Independent Tenengrad: scipy's Sobel with 'reflect' borders (d c b a | a b c d)."""
    img = np.asarray(img, dtype=np.float64)
    gx = ndimage.sobel(img, axis=1, mode="reflect")
    gy = ndimage.sobel(img, axis=0, mode="reflect")
    return float(np.mean(gx ** 2 + gy ** 2))


def numpy_tenengrad(img: np.ndarray) -> float:
    """Independent Tenengrad by explicit finite differences on a symmetric-padded image."""
    p = np.pad(np.asarray(img, dtype=np.float64), 1, mode="symmetric")
    dx = p[:, 2:] - p[:, :-2]                          # central difference across columns
    dy = p[2:, :] - p[:-2, :]
    gx = dx[:-2] + 2 * dx[1:-1] + dx[2:]               # [1, 2, 1] down the rows
    gy = dy[:, :-2] + 2 * dy[:, 1:-1] + dy[:, 2:]
    return float(np.mean(gx ** 2 + gy ** 2))


def ref_blur_effect(img: np.ndarray, h: int = 11) -> float:
    """Crété-Roffet blur effect written out in NumPy (odd ``h``; max over both axes)."""
    img = np.asarray(img, dtype=np.float64)
    eps = np.spacing(1.0)

    def box(x: np.ndarray, ax: int) -> np.ndarray:  # centred h-wide mean, symmetric borders
        x = np.moveaxis(x, ax, 0)
        p = np.pad(x, ((h // 2, h // 2), (0, 0)), mode="symmetric")
        c = np.concatenate([np.zeros((1, p.shape[1])), np.cumsum(p, axis=0)])
        return np.moveaxis((c[h:] - c[:-h]) / h, 0, ax)

    def sobel(x: np.ndarray, ax: int) -> np.ndarray:  # |d/dax|, smoothed [1, 2, 1]/4 across
        p = np.pad(x, 1, mode="symmetric")
        if ax == 0:
            d = p[2:, :] - p[:-2, :]
            return np.abs(d[:, :-2] + 2 * d[:, 1:-1] + d[:, 2:]) / 4
        d = p[:, 2:] - p[:, :-2]
        return np.abs(d[:-2] + 2 * d[1:-1] + d[2:]) / 4

    out = []
    for ax in (0, 1):
        sharp = np.maximum(eps, sobel(img, ax))
        blurred = np.maximum(eps, sobel(box(img, ax), ax))
        t = np.maximum(0.0, sharp - blurred)
        m1 = sharp[2:-1, 2:-1].sum()
        m2 = t[2:-1, 2:-1].sum()
        out.append(abs(m1 - m2) / m1)
    return max(out)


def ref_hf_share(img: np.ndarray, cutoff: float = 0.25) -> float:
    """Independent high-frequency share: full fft2 of the frame mirrored at its borders
    (2H x 2W, d c b a | a b c d), radial frequency in units of Nyquist."""
    x = np.asarray(img, dtype=np.float64)
    x = np.pad(x - x.mean(), ((0, x.shape[0]), (0, x.shape[1])), mode="symmetric")
    power = np.abs(np.fft.fft2(x)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(x.shape[0]), np.fft.fftfreq(x.shape[1]), indexing="ij")
    rho = np.hypot(fy, fx) / 0.5
    # A frequency on the cut-off circle (up to rounding) counts as below it.
    return float(power[rho > cutoff * (1 + 1e-9)].sum() / power.sum())


def cosine(ky: int, kx: int, shape=(100, 200), amp: float = 0.4) -> np.ndarray:
    """0.5 + amp * cos(pi ky (y + 1/2) / H) cos(pi kx (x + 1/2) / W): ky half-periods down,
    kx across, i.e. ky / (2H) and kx / (2W) cycles per pixel, rho = hypot(ky/H, kx/W)."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return 0.5 + amp * (np.cos(np.pi * ky * (y + 0.5) / shape[0])
                        * np.cos(np.pi * kx * (x + 0.5) / shape[1]))


def gaussian_series(frame: np.ndarray, sigmas=(0.5, 1.0, 2.0, 4.0)) -> np.ndarray:
    return np.stack([frame] + [cv2.GaussianBlur(frame, (0, 0), s,
                                                borderType=cv2.BORDER_REFLECT)
                               for s in sigmas])


# --------------------------------------------------------------------------- Tenengrad

def test_tenengrad_hand_worked_ramp() -> None:
    # Columns 0, .1, .2, .3, .4 in every row.  Gx = [1,2,1] (sum 4) x central difference:
    # interior 4 * 0.2 = 0.8; the border columns see their reflected copy: 4 * 0.1 = 0.4.
    # Gy = 0.  Tenengrad = (3 * 0.64 + 2 * 0.16) / 5 = 0.448, TBF = 1 / 0.448.
    ramp = np.tile(np.arange(5.0) / 10, (4, 1))
    assert tenengrad(ramp) == pytest.approx(0.448, rel=1e-12)
    assert tenengrad(ramp.T) == pytest.approx(0.448, rel=1e-12)
    assert tenengrad_blur_factor(ramp) == pytest.approx(1 / 0.448, rel=1e-12)


@pytest.mark.parametrize("shape", [(3, 3), (4, 5), (37, 53), (100, 200)])
def test_tenengrad_matches_scipy_sobel_and_numpy(rng: np.random.Generator, shape) -> None:
    img = rng.random(shape)
    assert tenengrad(img) == pytest.approx(ref_tenengrad(img), rel=1e-12)
    assert tenengrad(img) == pytest.approx(numpy_tenengrad(img), rel=1e-12)
    assert tenengrad_blur_factor(img) == pytest.approx(1 / ref_tenengrad(img), rel=1e-12)


def test_tenengrad_batch_dtypes_and_border(rng: np.random.Generator,
                                           textured: np.ndarray) -> None:
    u8 = rng.integers(0, 256, (4, 30, 45), dtype=np.uint8)
    expected = [ref_tenengrad(im / 255.0) for im in u8]
    np.testing.assert_allclose(tenengrad(u8), expected, rtol=1e-12)
    np.testing.assert_allclose(tenengrad((u8 / 255.0).astype(np.float32)), expected,
                               rtol=1e-6)
    out = tenengrad_blur_factor(u8[..., None])
    assert out.shape == (4,) and out.dtype == np.float64
    assert type(tenengrad(u8[0])) is float and type(tenengrad_blur_factor(u8[0])) is float
    # Guards the border: OpenCV's default (REFLECT_101) would give another value.
    gx = cv2.Sobel(textured, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(textured, cv2.CV_64F, 0, 1, ksize=3)
    assert abs(tenengrad(textured) / np.mean(gx ** 2 + gy ** 2) - 1) > 1e-4


@pytest.mark.parametrize("a, b", [(0.5, 0.0), (0.25, 0.3), (2.0, -0.2)])
def test_tenengrad_scales_with_contrast_squared(textured: np.ndarray, a: float,
                                                b: float) -> None:
    frame = textured * 0.4
    scaled = a * frame + b
    assert tenengrad(scaled) == pytest.approx(a * a * tenengrad(frame), rel=1e-12)
    assert tenengrad_blur_factor(scaled) == pytest.approx(tenengrad_blur_factor(frame) / a**2,
                                                          rel=1e-12)
    assert relative_tenengrad_blur_factor(scaled, frame) == pytest.approx(1 / a**2 - 1,
                                                                          rel=1e-12)


def test_relative_tenengrad_definition_and_flat_frames(rng: np.random.Generator,
                                                       textured: np.ndarray) -> None:
    pred = rng.random((5, 30, 40))
    true = rng.random((5, 30, 40)) ** 3
    expected = [ref_tenengrad(t) / ref_tenengrad(p) - 1 for p, t in zip(pred, true)]
    np.testing.assert_allclose(relative_tenengrad_blur_factor(pred, true), expected,
                               rtol=1e-12)
    assert type(relative_tenengrad_blur_factor(pred[0], true[0])) is float
    flat = np.full_like(textured, 0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tenengrad_blur_factor(flat) == math.inf
        assert tenengrad_blur_factor(np.full((10, 12), 77, np.uint8)) == math.inf
        assert relative_tenengrad_blur_factor(flat, textured) == math.inf
        assert math.isnan(relative_tenengrad_blur_factor(flat, flat))
        assert relative_tenengrad_blur_factor(textured, flat) == -1.0
        assert relative_tenengrad_blur_factor(textured, textured) == 0.0


# --------------------------------------------------------------------------- blur effect

@pytest.mark.parametrize("h", [11, 7])
def test_blur_effect_step_edges_closed_form(h: int) -> None:
    # One vertical and one horizontal ideal step (height 0.5 each).  Across a step the
    # Sobel response is 0.5 on the two columns next to it; after an h-wide box filter
    # the step is a ramp of slope 0.5 / h, so the response there is 2 * 0.5 / h.
    # T = 0.5 - 1/h on those columns, 0 elsewhere: (M1 - M2) / M1 = 2 / h on each axis.
    img = np.zeros((40, 60))
    img[:, 30:] += 0.5
    img[20:, :] += 0.5
    assert blur_effect(img, h_size=h) == pytest.approx(2 / h, rel=1e-9)
    assert relative_blur_effect(img, img, h_size=h) == 0.0


def test_blur_effect_matches_hand_rolled(rng: np.random.Generator, textured: np.ndarray,
                                         sample_frames: np.ndarray) -> None:
    imgs = [textured, rng.random((37, 53)), sample_frames[60] / 255.0,
            cv2.GaussianBlur(textured, (0, 0), 2.0)]
    for img in imgs:
        assert blur_effect(img) == pytest.approx(ref_blur_effect(img), rel=1e-9)
        assert blur_effect(img, h_size=7) == pytest.approx(ref_blur_effect(img, 7), rel=1e-9)
    batch = blur_effect(sample_frames[58:62])
    assert batch.shape == (4,) and batch.dtype == np.float64
    np.testing.assert_allclose(batch, [ref_blur_effect(f / 255.0) for f in sample_frames[58:62]],
                               rtol=1e-9)
    assert type(blur_effect(sample_frames[0])) is float
    assert ((0 < batch) & (batch < 1)).all()


def test_blur_effect_flat_is_one_and_contrast_invariant(textured: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert blur_effect(np.full((20, 30), 0.3)) == pytest.approx(1.0, abs=1e-12)
        # A prediction flat along one axis has no gradient there: maximal blur.
        assert blur_effect(np.tile(np.linspace(0, 1, 30), (20, 1))) == pytest.approx(1.0)
    frame = textured * 0.5 + 0.1
    for a, b in [(0.5, 0.0), (1.8, -0.1), (-1.0, 1.0)]:
        assert blur_effect(a * frame + b) == pytest.approx(blur_effect(frame), rel=1e-9)
        assert relative_blur_effect(a * frame + b, frame) == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------- high-frequency share

@pytest.mark.parametrize("ky, kx, rho", [(0, 20, 0.1), (0, 80, 0.4), (20, 0, 0.2),
                                         (40, 0, 0.4), (20, 40, 0.2 * math.sqrt(2)),
                                         (10, 30, math.hypot(0.1, 0.15))])
def test_hf_share_of_pure_cosine(ky: int, kx: int, rho: float) -> None:
    # All the power of such a cosine lies at one frequency: share 1 above the default
    # cut-off of 0.25 Nyquist, 0 below; moving the cut-off past rho flips it.
    img = cosine(ky, kx)
    share = high_frequency_share(img)
    assert share == pytest.approx(1.0 if rho > 0.25 else 0.0, abs=1e-12)
    assert share == pytest.approx(ref_hf_share(img), abs=1e-12)
    other = rho + 0.05 if rho > 0.25 else rho - 0.05
    assert high_frequency_share(img, cutoff=other) == pytest.approx(
        0.0 if rho > 0.25 else 1.0, abs=1e-12)
    hfbf = high_frequency_blur_factor(img)
    assert hfbf == pytest.approx(1.0, rel=1e-12) if rho > 0.25 else hfbf > 1e12


@pytest.mark.parametrize("ky, kx, cutoff", [(0, 50, 0.25), (25, 0, 0.25), (30, 80, 0.5),
                                            (15, 40, 0.25)])
def test_hf_frequency_on_the_cutoff_counts_below(ky: int, kx: int, cutoff: float) -> None:
    # rho = hypot(ky / 100, kx / 200) equals the cut-off exactly (0.15^2 + 0.2^2 = 0.25^2).
    assert high_frequency_share(cosine(ky, kx), cutoff) == pytest.approx(0.0, abs=1e-12)
    assert high_frequency_share(cosine(ky, kx), cutoff * 0.99) == pytest.approx(1.0,
                                                                                abs=1e-12)


def test_hf_share_of_two_cosines_is_power_fraction() -> None:
    # A cos(low) + B cos(high): power A^2 : B^2, so the share is B^2 / (A^2 + B^2).
    img = 0.5 + (cosine(0, 20, amp=0.3) - 0.5) + (cosine(60, 0, amp=0.1) - 0.5)
    assert high_frequency_share(img) == pytest.approx(0.01 / (0.09 + 0.01), rel=1e-9)
    assert high_frequency_blur_factor(img) == pytest.approx(10.0, rel=1e-9)


@pytest.mark.parametrize("shape", [(100, 200), (37, 53), (20, 31), (8, 9)])
def test_hf_share_matches_full_fft(rng: np.random.Generator, textured: np.ndarray,
                                   shape) -> None:
    img = rng.random(shape)
    for cutoff in (0.1, 0.25, 0.6):
        assert high_frequency_share(img, cutoff) == pytest.approx(ref_hf_share(img, cutoff),
                                                                  rel=1e-9)
    assert high_frequency_share(textured) == pytest.approx(ref_hf_share(textured), rel=1e-9)


def test_hf_share_ignores_the_jump_between_borders() -> None:
    # A smooth ramp has almost no fine detail; a periodic FFT would see the jump from
    # its right border back to its left as a sharp edge.
    ramp = np.tile(np.linspace(0.1, 0.9, 200), (100, 1))
    power = np.abs(np.fft.fft2(ramp - ramp.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(100), np.fft.fftfreq(200), indexing="ij")
    periodic = power[np.hypot(fy, fx) / 0.5 > 0.25].sum() / power.sum()
    assert periodic > 0.02
    assert high_frequency_share(ramp) < 0.001


def test_hf_share_batch_uint8_flat_and_contrast(sample_frames: np.ndarray,
                                                textured: np.ndarray) -> None:
    out = high_frequency_share(sample_frames)
    assert out.shape == (132,) and out.dtype == np.float64
    for i in (0, 70, 131):
        assert out[i] == pytest.approx(ref_hf_share(sample_frames[i] / 255.0), rel=1e-9)
    assert type(high_frequency_share(sample_frames[0])) is float
    assert type(high_frequency_blur_factor(sample_frames[0])) is float
    np.testing.assert_allclose(high_frequency_blur_factor(sample_frames[:5]), 1 / out[:5],
                               rtol=1e-12)
    for a, b in [(0.5, 0.2), (2.0, -0.5), (-1.0, 1.0)]:
        assert high_frequency_share(a * textured + b) == pytest.approx(
            high_frequency_share(textured), rel=1e-9)
        assert relative_high_frequency_blur_factor(a * textured + b, textured) == \
            pytest.approx(0.0, abs=1e-9)


def test_hf_flat_frames_follow_bf(textured: np.ndarray) -> None:
    flat = np.full_like(textured, 1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert high_frequency_share(flat) == 0.0
        assert high_frequency_blur_factor(flat) == math.inf
        assert high_frequency_blur_factor(np.full((20, 30), 200, np.uint8)) == math.inf
        assert relative_high_frequency_blur_factor(flat, textured) == math.inf
        assert math.isnan(relative_high_frequency_blur_factor(flat, flat))
        assert relative_high_frequency_blur_factor(textured, flat) == -1.0


def test_hf_share_many_chunks(rng: np.random.Generator) -> None:
    imgs = rng.random((300, 8, 10)) ** 2
    out = high_frequency_share(imgs)
    for i in (0, 255, 256, 299):
        assert out[i] == pytest.approx(ref_hf_share(imgs[i]), rel=1e-9)


def test_relative_hf_blur_factor_is_share_ratio(rng: np.random.Generator) -> None:
    true = np.stack([0.5 + (cosine(0, 20, amp=0.3) - 0.5) + (cosine(60, 0, amp=0.3) - 0.5),
                     rng.random((100, 200))])
    pred = np.stack([0.5 + (cosine(0, 20, amp=0.3) - 0.5) + (cosine(60, 0, amp=0.15) - 0.5),
                     cv2.GaussianBlur(true[1], (0, 0), 1.0)])
    # Frame 0: share 1/2 for the truth, 0.0225 / 0.1125 = 1/5 for the prediction.
    rel = relative_high_frequency_blur_factor(pred, true)
    assert rel[0] == pytest.approx(0.5 / 0.2 - 1, rel=1e-9)
    assert rel[1] == pytest.approx(ref_hf_share(true[1]) / ref_hf_share(pred[1]) - 1,
                                   rel=1e-9)
    assert relative_high_frequency_blur_factor(true[0], pred[0]) == pytest.approx(
        0.2 / 0.5 - 1, rel=1e-9)


# --------------------------------------------------------------------------- monotone in blur

def test_every_measure_grows_with_gaussian_blur(textured: np.ndarray,
                                                sample_frames: np.ndarray) -> None:
    for frame in (textured, sample_frames[40] / 255.0, sample_frames[100] / 255.0):
        series = gaussian_series(frame)
        for fn in (blur_factor, tenengrad_blur_factor, blur_effect,
                   high_frequency_blur_factor):
            values = fn(series)
            assert (np.diff(values) > 0).all(), (fn.__name__, values)
        # The relative versions see each blurred frame as blurrier than the original.
        true = np.broadcast_to(frame, series.shape)
        assert (relative_tenengrad_blur_factor(series[1:], true[1:]) > 0).all()
        assert (relative_blur_effect(series[1:], true[1:]) > 0).all()
        assert (relative_high_frequency_blur_factor(series[1:], true[1:]) > 0).all()


# --------------------------------------------------------------------------- sharpness_columns

def test_sharpness_columns_match_the_measures(sample_frames: np.ndarray) -> None:
    true = sample_frames[30:36] / 255.0
    pred = np.stack([cv2.GaussianBlur(t, (0, 0), 1.0) * 0.8 + 0.05 for t in true])
    cols = sharpness_columns(pred, true)
    assert list(cols) == SHARPNESS_COLUMNS
    assert all(v.shape == (6,) and v.dtype == np.float64 for v in cols.values())
    matched = match_contrast(pred, true)
    ten_p = [ref_tenengrad(p) for p in pred]
    ten_t = [ref_tenengrad(t) for t in true]
    ten_m = [ref_tenengrad(m) for m in matched]
    np.testing.assert_allclose(cols["tbf_pred"], 1 / np.array(ten_p), rtol=1e-9)
    np.testing.assert_allclose(cols["tbf_true"], 1 / np.array(ten_t), rtol=1e-9)
    np.testing.assert_allclose(cols["rtbf"], np.divide(ten_t, ten_p) - 1, rtol=1e-9)
    np.testing.assert_allclose(cols["tbf_matched"], 1 / np.array(ten_m), rtol=1e-9)
    np.testing.assert_allclose(cols["rtbf_matched"], np.divide(ten_t, ten_m) - 1, rtol=1e-9)
    be_p = np.array([ref_blur_effect(p) for p in pred])
    be_t = np.array([ref_blur_effect(t) for t in true])
    np.testing.assert_allclose(cols["blur_effect_pred"], be_p, rtol=1e-9)
    np.testing.assert_allclose(cols["blur_effect_true"], be_t, rtol=1e-9)
    np.testing.assert_allclose(cols["rblur_effect"], be_p - be_t, rtol=1e-8, atol=1e-12)
    hf_p = np.array([ref_hf_share(p) for p in pred])
    hf_t = np.array([ref_hf_share(t) for t in true])
    np.testing.assert_allclose(cols["hfbf_pred"], 1 / hf_p, rtol=1e-9)
    np.testing.assert_allclose(cols["hfbf_true"], 1 / hf_t, rtol=1e-9)
    np.testing.assert_allclose(cols["rhfbf"], hf_t / hf_p - 1, rtol=1e-9)
    # Blur effect and high-frequency share ignore contrast: matching changes nothing.
    for name in ("blur_effect", "hfbf"):
        np.testing.assert_allclose(cols[f"{name}_matched"], cols[f"{name}_pred"], rtol=1e-9)
        np.testing.assert_allclose(cols[f"r{name}_matched"], cols[f"r{name}"], atol=1e-9)
    # The prediction is blurrier than its truth by every measure.
    for name in ("rtbf", "rtbf_matched", "rblur_effect", "rhfbf"):
        assert (cols[name] > 0).all(), name


def test_sharpness_columns_contrast_only_prediction(textured: np.ndarray) -> None:
    true = np.stack([textured * 0.5 + 0.2, textured[:, ::-1] * 0.6])
    pred = 0.5 * (true - 0.2) + 0.3          # same edges, half the contrast
    cols = sharpness_columns(pred, true)
    np.testing.assert_allclose(cols["rtbf"], 3.0, rtol=1e-9)       # 1 / 0.5**2 - 1
    np.testing.assert_allclose(cols["rtbf_matched"], 0.0, atol=1e-9)
    for name in ("rblur_effect", "rblur_effect_matched", "rhfbf", "rhfbf_matched"):
        np.testing.assert_allclose(cols[name], 0.0, atol=1e-9)


def test_sharpness_columns_single_pair_uint8_and_flat(sample_frames: np.ndarray) -> None:
    cols = sharpness_columns(sample_frames[5], sample_frames[5])
    assert all(v.shape == (1,) for v in cols.values())
    for name in ("rtbf", "rtbf_matched", "rblur_effect", "rhfbf", "rhfbf_matched"):
        assert cols[name][0] == pytest.approx(0.0, abs=1e-9)
    flat = np.full((100, 200), 128, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cols = sharpness_columns(np.stack([flat, flat]), np.stack([sample_frames[5], flat]))
    # Ratio measures follow BF/RBF: inf for a flat prediction, nan when both are flat.
    for name in ("tbf", "hfbf"):
        assert cols[f"{name}_pred"][0] == math.inf and cols[f"r{name}"][0] == math.inf
        assert cols[f"r{name}_matched"][0] == math.inf
        assert math.isnan(cols[f"r{name}"][1]) and math.isnan(cols[f"r{name}_matched"][1])
    # The bounded blur effect stays finite: 1 (maximal blur) for a flat frame.
    assert cols["blur_effect_pred"][0] == pytest.approx(1.0)
    assert cols["rblur_effect"][0] > 0.5 and cols["rblur_effect"][1] == 0.0
    for name in ("blur_effect_pred", "blur_effect_true", "blur_effect_matched",
                 "rblur_effect", "rblur_effect_matched"):
        assert np.isfinite(cols[name]).all(), name


# --------------------------------------------------------------------------- sharpness: bad inputs

SINGLE_IMAGE_MEASURES = [tenengrad, tenengrad_blur_factor, blur_effect, high_frequency_share,
                         high_frequency_blur_factor]
PAIR_MEASURES = [relative_tenengrad_blur_factor, relative_blur_effect,
                 relative_high_frequency_blur_factor, sharpness_columns]


@pytest.mark.parametrize("bad, why", [
    (_with(math.nan), "NaN"),
    (_with(math.inf), "NaN or infinite"),
    (np.zeros(10), "shape"),
    (np.zeros((2, 8, 10, 3)), "shape"),
    (np.zeros((8, 10), bool), "dtype"),
    (np.zeros((8, 10), np.int64), "dtype"),
    (np.zeros((2, 2)), "smaller than 3x3"),
])
def test_sharpness_bad_images_raise(bad: np.ndarray, why: str) -> None:
    for fn in SINGLE_IMAGE_MEASURES:
        with pytest.raises(MetricInputError, match=f"images.*{why}"):
            fn(bad)
    for fn in PAIR_MEASURES:
        with pytest.raises(MetricInputError, match=f"^pred: .*{why}"):
            fn(bad, GOOD)
        with pytest.raises(MetricInputError, match=f"^true: .*{why}"):
            fn(GOOD, bad)


@pytest.mark.parametrize("fn", PAIR_MEASURES)
def test_sharpness_shape_mismatch_raises(fn) -> None:
    with pytest.raises(MetricInputError, match="pred and true"):
        fn(np.zeros((2, 10, 12)), np.zeros((2, 12, 10)))


def test_blur_effect_needs_4x4_and_valid_size() -> None:
    with pytest.raises(MetricInputError, match="smaller than 4x4"):
        blur_effect(np.zeros((3, 10)))
    with pytest.raises(MetricInputError, match="smaller than 4x4"):
        sharpness_columns(np.zeros((10, 3)), np.zeros((10, 3)))
    for size in (1, 0, -3, 2.5, "11", None):
        with pytest.raises(MetricInputError, match="h_size"):
            blur_effect(GOOD, h_size=size)
        with pytest.raises(MetricInputError, match="h_size"):
            sharpness_columns(GOOD, GOOD, h_size=size)


@pytest.mark.parametrize("cutoff", [0, 0.0, 1.0, 1.5, -0.1, math.nan, "a", None])
def test_hf_bad_cutoff_raises(cutoff) -> None:
    for fn in (high_frequency_share, high_frequency_blur_factor):
        with pytest.raises(MetricInputError, match="cutoff"):
            fn(GOOD, cutoff=cutoff)
    with pytest.raises(MetricInputError, match="cutoff"):
        relative_high_frequency_blur_factor(GOOD, GOOD, cutoff=cutoff)
    with pytest.raises(MetricInputError, match="cutoff"):
        sharpness_columns(GOOD, GOOD, cutoff=cutoff)


# --------------------------------------------------------------------------- contrast matching

@pytest.fixture(scope="module")
def real(sample_frames) -> np.ndarray:
    """Five real frames of the sample clip, float64 (5, 100, 200) in [0, 1]."""
    return sample_frames[5:130:25].astype(np.float64) / 255.0



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


# --------------------------------------------------------------------------- local RBF maps

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


# --------------------------------------------------------------------------- edge width
# Marziliano et al.'s edge width, checked against widths worked out by hand (a step
# blurred by a box of k pixels is a ramp of k steps: width k) and against a plain
# loop over the pixels written from the paper's description, with SciPy's Sobel.

from blurutils.metrics import edge_width, relative_edge_width, vertical_edges  # noqa: E402


def step_frame(rows: int = 8, width: int = 40, at: int = 20, low: float = 0.2,
               high: float = 0.8) -> np.ndarray:
    """An ideal vertical step edge: ``low`` left of column ``at``, ``high`` from it on."""
    img = np.full((rows, width), low)
    img[:, at:] = high
    return img


def naive_edge_width(img: np.ndarray, ref: np.ndarray, threshold: float = 0.2) -> float:
    """The paper's procedure as loops: edge pixels are row-wise maxima of |Sobel x| of
    ``ref`` (ties, to 1e-9 of the largest: the right one) above ``threshold`` of the
    largest; from each, walk along the row of ``img`` to the extrema either side; mean
    of the non-zero widths."""
    gx = ndimage.sobel(ref.astype(np.float64), axis=1, mode="reflect")
    mag = np.abs(gx)
    peak = mag.max()
    tie = 1e-9 * peak
    h, w = img.shape
    widths = []
    for r in range(h):
        for c in range(1, w - 1):
            if not (mag[r, c] >= mag[r, c - 1] - tie and mag[r, c] > mag[r, c + 1] + tie
                    and mag[r, c] >= threshold * peak - tie and peak > 1e-12):
                continue
            s = 1.0 if gx[r, c] > 0 else -1.0
            left = c
            while left > 0 and s * (img[r, left] - img[r, left - 1]) > 0:
                left -= 1
            right = c
            while right < w - 1 and s * (img[r, right + 1] - img[r, right]) > 0:
                right += 1
            if right > left:
                widths.append(right - left)
    return float(np.mean(widths)) if widths else math.nan


def test_vertical_edges_of_a_step():
    edges = vertical_edges(step_frame())
    assert edges.dtype == np.int8 and edges.shape == (8, 40)
    np.testing.assert_array_equal(np.nonzero(edges[0])[0], [20])   # the right of the pair
    assert (edges[:, 20] == 1).all() and np.count_nonzero(edges) == 8
    assert (vertical_edges(step_frame()[:, ::-1])[:, 20] == -1).all()   # falling edge
    assert vertical_edges(np.stack([step_frame()] * 3)).shape == (3, 8, 40)
    assert not vertical_edges(np.full((8, 40), 0.3)).any()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 10])
def test_a_step_blurred_by_a_box_of_k_pixels_is_k_pixels_wide(k):
    step = step_frame()
    # Box blur along rows: a linear ramp of k steps from 0.2 to 0.8.
    ramp = cv2.blur(step, (k, 1), borderType=cv2.BORDER_REFLECT)
    profile = ramp[0]
    assert np.count_nonzero(np.diff(profile) > 1e-12) == k          # k rising steps
    assert edge_width(ramp, reference=step) == pytest.approx(k)
    assert edge_width(ramp) == pytest.approx(k)                     # its own edges
    assert edge_width(ramp[:, ::-1], reference=step[:, ::-1]) == pytest.approx(k)
    assert relative_edge_width(ramp, step) == pytest.approx(k - 1)


def test_two_edges_of_a_bar_and_a_lost_edge():
    bar = np.full((6, 50), 0.1)
    bar[:, 15:35] = 0.9                     # a rising edge at 15, a falling one at 35
    pred = bar.copy()
    pred[:, 13:18] = np.linspace(0.1, 0.9, 7)[1:-1]      # rising edge: 6 steps 12..18
    assert edge_width(pred, reference=bar) == pytest.approx((6 + 1) / 2)
    flat_right = pred.copy()
    flat_right[:, 25:] = 0.9                # the falling edge is gone: left out
    assert edge_width(flat_right, reference=bar) == pytest.approx(6)
    assert math.isnan(edge_width(np.full((6, 50), 0.5), reference=bar))  # every edge lost
    assert math.isnan(edge_width(np.full((6, 50), 0.5)))                 # no edge at all


def test_edge_width_matches_the_loops_on_real_frames(real):
    rng = np.random.default_rng(3)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in real])
    noisy = real + rng.normal(0, 0.02, real.shape)
    for i in range(len(real)):
        assert edge_width(real[i]) == pytest.approx(naive_edge_width(real[i], real[i]))
        assert edge_width(blurred[i], reference=real[i]) == pytest.approx(
            naive_edge_width(blurred[i], real[i]))
        assert edge_width(noisy[i], reference=real[i], threshold=0.4) == pytest.approx(
            naive_edge_width(noisy[i], real[i], threshold=0.4))
    np.testing.assert_allclose(edge_width(blurred, reference=real),
                               [edge_width(b, reference=r) for b, r in zip(blurred, real)])


def test_edge_width_rises_with_blur_and_ignores_contrast(real):
    widths = np.stack([edge_width(np.stack([cv2.GaussianBlur(f, (0, 0), s) for f in real]),
                                  reference=real) for s in (0.5, 1.0, 2.0, 3.0)])
    assert (np.diff(widths, axis=0) > 0).all()
    assert (widths[0] > edge_width(real, reference=real)).all()
    np.testing.assert_array_equal(edge_width(0.4 * real + 0.3), edge_width(real))
    np.testing.assert_array_equal(edge_width(0.4 * real + 0.3, reference=real),
                                  edge_width(real))
    uint8 = np.rint(real * 255).astype(np.uint8)
    np.testing.assert_allclose(edge_width(uint8), edge_width(uint8 / 255.0))


@pytest.mark.parametrize("kwargs, match", [(dict(threshold=0), "threshold"),
                                           (dict(threshold=1.0), "threshold"),
                                           (dict(threshold="x"), "threshold"),
                                           (dict(threshold=float("nan")), "threshold"),
                                           (dict(reference=np.zeros((4, 8, 40))), "differ")])
def test_edge_width_bad_input(kwargs, match):
    with pytest.raises(MetricInputError, match=match):
        edge_width(np.stack([step_frame()] * 3), **kwargs)


def test_edge_width_rejects_what_the_other_metrics_reject():
    with pytest.raises(MetricInputError, match="dtype"):
        edge_width(np.zeros((8, 40), dtype=np.int32))
    with pytest.raises(MetricInputError, match="NaN"):
        edge_width(np.full((8, 40), np.nan))
    with pytest.raises(MetricInputError, match="shape"):
        vertical_edges(np.zeros(40))


def test_edge_width_docstring_examples():
    import doctest

    from blurutils import metrics

    for fn in (vertical_edges, edge_width, relative_edge_width):
        finder = doctest.DocTestFinder()
        runner = doctest.DocTestRunner()
        for test in finder.find(fn, globs=vars(metrics).copy()):
            runner.run(test)
        assert runner.failures == 0 and runner.tries >= 1, fn.__name__
