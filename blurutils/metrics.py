"""Blur and fidelity metrics, exactly as the paper defines them.

Blur Factor (paper, section 4.1):  ``BF(P) = 1 / var(Lap(P))``, where ``Lap`` is the
5-point discrete Laplacian and ``P`` holds intensities in [0, 1].  A sharp image has
strong edges, a high Laplacian variance and so a *low* BF.

Relative Blur Factor (section 4.2): ``RBF = BF(pred) / BF(true) - 1``; positive means
the prediction is blurrier than its ground truth, negative sharper.

The Laplacian uses reflected borders (``d c b a | a b c d``), which gives the same
numbers as ``scipy.ndimage.laplace`` (the authors' choice) and as
``cv2.Laplacian(img, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)``.

Layout: frames here are 100 rows x 200 columns and are measured in that layout.  The
authors' code reshaped each flattened 100x200 frame to (200, 100) before the
Laplacian, which scrambles rows and changes BF by an order of magnitude (see
``docs/authors-code.md``, quirk d).  That behaviour is available only as an
explicit option of the study's paper-compatibility mode, never by default.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import cv2
import numpy as np

from .errors import MetricInputError

#: Frames processed per chunk by the tile statistics: bounds temporary memory.
_CHUNK = 256
#: Frames per chunk of the element-wise measures: their float64 temporaries stay
#: small enough to be cheap (whole batches are several times slower; docs/BENCHMARKS.md).
_SMALL_CHUNK = 32

#: OpenCV output depth per input dtype: exact int16 for uint8, same float width otherwise.
_LAPLACIAN_DEPTH = {np.dtype(np.uint8): cv2.CV_16S, np.dtype(np.float32): cv2.CV_32F,
                    np.dtype(np.float64): cv2.CV_64F}


def _as_batch(images: Any, name: str = "images") -> tuple[np.ndarray, bool]:
    """Validate ``images`` and return an (N, H, W) view plus whether it was a single image."""
    arr = np.asarray(images)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.floating)
                                     or arr.dtype == np.uint8):
        raise MetricInputError(
            f"{name}: dtype {arr.dtype} is not supported (expected uint8 or float in [0, 1])")
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise MetricInputError(
            f"{name}: shape {arr.shape} is not an image (H, W) or a batch (N, H, W)")
    single = arr.ndim == 2
    batch = arr[None] if single else arr
    if batch.shape[1] < 3 or batch.shape[2] < 3:
        raise MetricInputError(f"{name}: images of shape {batch.shape[1:]} are smaller than 3x3")
    if np.issubdtype(batch.dtype, np.floating) and batch.size and not np.isfinite(batch).all():
        bad = int(np.count_nonzero(~np.isfinite(batch)))
        raise MetricInputError(f"{name}: contains {bad} NaN or infinite values")
    return batch, single


def _as_pair(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate a prediction and its truth: same shape, each a valid image or batch."""
    p_batch, single = _as_batch(pred, "pred")
    t_batch, _ = _as_batch(true, "true")
    if p_batch.shape != t_batch.shape:
        raise MetricInputError(
            f"pred and true: shapes {np.shape(pred)} and {np.shape(true)} differ")
    return p_batch, t_batch, single


def _laplacian_one(image: np.ndarray) -> np.ndarray:
    """OpenCV's 5-point Laplacian of one image with reflected borders (scipy's 'reflect')."""
    if image.dtype not in _LAPLACIAN_DEPTH:
        image = image.astype(np.float64)
    return cv2.Laplacian(image, _LAPLACIAN_DEPTH[image.dtype], ksize=1,
                         borderType=cv2.BORDER_REFLECT)


def laplacian(images: Any) -> np.ndarray:
    """5-point Laplacian with reflected borders, float64, same shape as ``images``.

    ``uint8`` input is divided by 255 first, so the result is that of the [0, 1] image.
    """
    batch, single = _as_batch(images)
    scale = 1.0 / 255.0 if batch.dtype == np.uint8 else 1.0
    out = np.empty(batch.shape, dtype=np.float64)
    for i, image in enumerate(batch):
        out[i] = _laplacian_one(image)
    out *= scale
    return out[0] if single else out


def laplacian_variance(images: Any) -> np.ndarray | float:
    """Variance of the Laplacian per image (the quantity BF inverts), float64.

    ``uint8`` frames get an exact integer Laplacian (int16) and a variance accumulated
    in float64; float32 input is filtered in float32 (relative error ~1e-7), float64 in
    float64.  One OpenCV call per frame, faster than the vectorised NumPy versions we
    tried (docs/BENCHMARKS.md).
    """
    batch, single = _as_batch(images)
    scale = 1.0 / 255.0 ** 2 if batch.dtype == np.uint8 else 1.0
    out = np.empty(len(batch), dtype=np.float64)
    for i, image in enumerate(batch):
        _, std = cv2.meanStdDev(_laplacian_one(image))
        out[i] = std[0, 0] ** 2
    out *= scale
    return float(out[0]) if single else out


def blur_factor(images: Any) -> np.ndarray | float:
    """Blur Factor ``1 / var(Lap(P))`` per image; higher means blurrier.

    ``images``: one (H, W) image or an (N, H, W) batch (a trailing channel of size 1 is
    accepted), float in [0, 1] or uint8 (divided by 255).  Returns float64: a scalar for
    one image, an array of N otherwise.  A constant image has zero Laplacian variance
    and gets ``inf`` (no warning); summaries count such values instead of averaging them.
    """
    var = laplacian_variance(images)
    with np.errstate(divide="ignore"):
        bf = np.divide(1.0, var)
    return float(bf) if np.ndim(bf) == 0 else bf


def relative_blur_factor(pred: Any, true: Any) -> np.ndarray | float:
    """Relative Blur Factor ``BF(pred) / BF(true) - 1`` per image.

    Computed as ``var(Lap(true)) / var(Lap(pred)) - 1`` (the paper's equivalent form).
    ``inf`` when the prediction is constant but the truth is not; ``nan`` when both are
    constant (no edges to compare).
    """
    p_batch, t_batch, _ = _as_pair(pred, true)
    var_p = laplacian_variance(pred)
    var_t = laplacian_variance(true)
    with np.errstate(divide="ignore", invalid="ignore"):
        rbf = np.divide(var_t, var_p) - 1.0
    return float(rbf) if np.ndim(rbf) == 0 else rbf


def local_blur_factor(images: Any, tile: int | tuple[int, int] = (25, 25)) -> np.ndarray:
    """Blur Factor of each tile: one (H // th, W // tw) map per image.

    The Laplacian is taken over the whole image (so tile edges see their true
    neighbours), then its variance is measured per tile.  This is the local analysis
    the paper's conclusion asks for.  Rows or columns that do not fill a whole tile at
    the bottom/right edge are left out.  Returns (rows, cols) for one image or
    (N, rows, cols) for a batch; flat tiles get ``inf``.
    """
    try:
        th, tw = ((operator.index(tile),) * 2 if np.ndim(tile) == 0
                  else tuple(operator.index(t) for t in tile))
    except (TypeError, ValueError):
        raise MetricInputError(f"tile {tile!r}: expected an int or a (rows, cols) pair "
                               "of ints") from None
    batch, single = _as_batch(images)
    h, w = batch.shape[1:]
    if th < 2 or tw < 2 or th > h or tw > w:
        raise MetricInputError(f"tile {tile!r} does not fit images of shape {(h, w)} (need 2..size)")
    rows, cols = h // th, w // tw
    out = np.empty((len(batch), rows, cols), dtype=np.float64)
    for start in range(0, len(batch), _CHUNK):
        lap = laplacian(batch[start:start + _CHUNK])
        if lap.ndim == 2:
            lap = lap[None]
        tiles = lap[:, :rows * th, :cols * tw].reshape(len(lap), rows, th, cols, tw)
        var = tiles.var(axis=(2, 4))
        with np.errstate(divide="ignore"):
            out[start:start + len(lap)] = 1.0 / var
    return out[0] if single else out


def psnr(pred: Any, true: Any) -> np.ndarray | float:
    """Peak signal-to-noise ratio in dB per image, data range 1 (``inf`` if identical)."""
    p_batch, t_batch, single = _as_pair(pred, true)
    mse = np.empty(len(p_batch), dtype=np.float64)
    # A few frames at a time: float64 copies of a whole batch cost more than the sums.
    for start in range(0, len(p_batch), _SMALL_CHUNK):
        part = slice(start, start + _SMALL_CHUNK)
        diff = _to_unit_float(p_batch[part]) - _to_unit_float(t_batch[part])
        mse[part] = (diff * diff).mean(axis=(1, 2))
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(1.0 / mse)
    return float(out[0]) if single else out


def ssim(pred: Any, true: Any) -> np.ndarray | float:
    """Structural similarity per image (scikit-image, Gaussian window, data range 1)."""
    from skimage.metrics import structural_similarity

    p_batch, t_batch, single = _as_pair(pred, true)
    out = np.array([
        structural_similarity(_to_unit_float(p), _to_unit_float(t), data_range=1.0,
                              gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        for p, t in zip(p_batch, t_batch)
    ], dtype=np.float64)
    return float(out[0]) if single else out


def _to_unit_float(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)


def summarize(values: Any) -> dict[str, float | int]:
    """Mean and std (as the paper reports) plus robust statistics, over finite values.

    Infinite and NaN values are never averaged: they are left out of every statistic
    and counted in ``n_inf`` and ``n_nan``.  ``std`` is the sample standard deviation
    (ddof=1, pandas' and spreadsheets' default).
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    finite = arr[np.isfinite(arr)]
    nan = math.nan
    if finite.size:
        q1, median, q3 = np.percentile(finite, [25, 50, 75])
        stats = dict(mean=float(finite.mean()),
                     std=float(finite.std(ddof=1)) if finite.size > 1 else nan,
                     median=float(median), q1=float(q1), q3=float(q3), iqr=float(q3 - q1),
                     min=float(finite.min()), max=float(finite.max()))
    else:
        stats = dict(mean=nan, std=nan, median=nan, q1=nan, q3=nan, iqr=nan, min=nan, max=nan)
    return dict(n=int(arr.size), n_finite=int(finite.size), n_inf=n_inf, n_nan=n_nan, **stats)


# --- Beyond the paper (issue #4): contrast matching and local blur maps -------------

#: A frame whose intensity std is at or below this counts as flat in match_contrast.
_FLAT_STD = 1e-12


def match_contrast(pred: Any, true: Any, *, clip: bool = False) -> np.ndarray:
    """``pred`` rescaled per frame to the mean and standard deviation of ``true``.

    Each frame becomes ``(pred - mean(pred)) * std(true) / std(pred) + mean(true)``,
    float64, (H, W) for one image or (N, H, W) for a batch (uint8 input is divided by
    255 first).  A flat prediction (std <= 1e-12) cannot be stretched: it is only
    shifted to the target's mean.  Nothing is clipped unless ``clip=True``, which
    clips the result to [0, 1] (and so may change its std again).

    Why: the Laplacian is linear, so ``var(Lap(a * P + b)) = a**2 * var(Lap(P))`` and
    ``BF(a * P + b) = BF(P) / a**2``.  The Blur Factor therefore depends on contrast as
    much as on sharpness — a prediction with 1.5x the contrast of its truth looks
    2.25x "sharper" with identical edges.  MSE and MSLE penalise a wrong contrast,
    but Cosine Proximity is invariant to the scale of the prediction (``cos(aP, T) =
    cos(P, T)`` for a > 0), so a CP-trained model is free to output frames with more
    contrast than the truth and can look sharper (negative RBF, the paper's
    observation 1) only by doing so.  Measuring BF on ``match_contrast(pred, true)``
    removes that effect and leaves the blur of the edges themselves.
    """
    p_batch, t_batch, single = _as_pair(pred, true)
    p = _to_unit_float(p_batch)
    t = _to_unit_float(t_batch)
    p_mean = p.mean(axis=(1, 2), keepdims=True)
    p_std = p.std(axis=(1, 2), keepdims=True)
    t_mean = t.mean(axis=(1, 2), keepdims=True)
    t_std = t.std(axis=(1, 2), keepdims=True)
    flat = p_std <= _FLAT_STD
    gain = np.divide(t_std, p_std, out=np.zeros_like(p_std), where=~flat)
    out = np.where(flat, p - p_mean + t_mean, (p - p_mean) * gain + t_mean)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out[0] if single else out


def local_relative_blur_factor(pred: Any, true: Any,
                               tile: int | tuple[int, int] = (25, 25)) -> np.ndarray:
    """Relative Blur Factor of each tile: ``BF_tile(pred) / BF_tile(true) - 1``.

    The tiles are those of :func:`local_blur_factor` (whole-image Laplacian, variance
    per tile, partial tiles at the bottom/right left out), so a 100x200 frame with
    25x25 tiles gives a 4x8 map.  Returns float64 (rows, cols) for one image or
    (N, rows, cols) for a batch.  Flat tiles follow :func:`relative_blur_factor`:
    ``inf`` where the prediction's tile is flat but the truth's is not, ``nan`` where
    both are flat, -1 where only the truth's is flat.  This is the local analysis the
    paper's conclusion asks for: a frame can have a global RBF near 0 while some of its
    regions are much blurrier and others sharper.
    """
    p_batch, t_batch, _ = _as_pair(pred, true)
    bf_pred = local_blur_factor(pred, tile)
    bf_true = local_blur_factor(true, tile)
    with np.errstate(divide="ignore", invalid="ignore"):
        return bf_pred / bf_true - 1.0


def fraction_blurrier_tiles(pred: Any, true: Any, tile: int | tuple[int, int] = (25, 25),
                            threshold: float = 0.0) -> np.ndarray | float:
    """Per frame, the fraction of tiles whose local RBF exceeds ``threshold``.

    Tiles where both prediction and truth are flat (local RBF ``nan``) have no blur to
    compare and are left out of the count and of the total; a tile that is flat in the
    prediction only (``inf``) counts as blurrier.  ``nan`` for a frame with no
    comparable tile.  ``threshold=0.0`` counts every tile blurrier than its truth;
    e.g. 0.5 counts tiles at least 1.5x blurrier.  Returns a float for one image or an
    array of N for a batch.
    """
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise MetricInputError(f"threshold {threshold!r}: not a number") from None
    if math.isnan(threshold):
        raise MetricInputError("threshold: must not be NaN")
    rbf = local_relative_blur_factor(pred, true, tile)
    single = rbf.ndim == 2
    batch = rbf[None] if single else rbf
    valid = ~np.isnan(batch)
    n_valid = valid.sum(axis=(1, 2))
    n_blurrier = (valid & (np.where(valid, batch, -np.inf) > threshold)).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(n_valid > 0, n_blurrier / np.maximum(n_valid, 1), np.nan)
    return float(frac[0]) if single else frac


# --- Beyond the paper (issue #14): sharpness measures other than the Laplacian -------
#
# The variance of the Laplacian rewards noise and contrast as much as sharp edges, so
# each of the paper's findings is also judged by three measures that see blur
# differently.  Every measure is oriented like BF (higher = blurrier) and has a
# relative version like RBF (positive = prediction blurrier than its truth): a ratio
# for the unbounded ``1 / energy`` measures (TBF, HFBF), a difference for the bounded
# blur effect.

#: Default radial cut-off of :func:`high_frequency_share`, as a fraction of Nyquist.
HF_CUTOFF = 0.25

#: Relative tolerance for a frequency bin on the cut-off circle (it counts as below).
_RHO_TOL = 1e-9

#: Default re-blurring filter size of :func:`blur_effect` (scikit-image's default).
BLUR_EFFECT_SIZE = 11

#: Columns returned by :func:`sharpness_columns`, in order.
SHARPNESS_COLUMNS = [
    "tbf_pred", "tbf_true", "rtbf", "tbf_matched", "rtbf_matched",
    "blur_effect_pred", "blur_effect_true", "rblur_effect",
    "blur_effect_matched", "rblur_effect_matched",
    "hfbf_pred", "hfbf_true", "rhfbf", "hfbf_matched", "rhfbf_matched",
]


def _unit_frame(image: np.ndarray) -> np.ndarray:
    """One validated frame as float64 in [0, 1] (uint8 divided by 255)."""
    return image.astype(np.float64) / 255.0 if image.dtype == np.uint8 \
        else image.astype(np.float64, copy=False)


def tenengrad(images: Any) -> np.ndarray | float:
    """Tenengrad: mean squared Sobel gradient magnitude per image.

    ``mean(Gx**2 + Gy**2)`` over all pixels, where ``Gx`` and ``Gy`` are OpenCV's 3x3
    Sobel derivatives (weights ``[-1, 0, 1]`` across, ``[1, 2, 1]`` along; not
    normalised) with reflected borders (``d c b a | a b c d``), the Laplacian's
    convention here.  No threshold is applied.  Like the Laplacian's variance it is
    quadratic in contrast (``tenengrad(a * P + b) = a**2 * tenengrad(P)``), but the
    Sobel operator smooths across the derivative, so it weighs pixel noise less.

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch (a trailing channel of size 1 is
        accepted), float in [0, 1] or uint8 (divided by 255).

    Returns
    -------
    float or ndarray
        float64: a scalar for one image, an array of N for a batch; 0 for a flat image.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.tile(np.arange(5.0) / 10, (4, 1))     # +0.1 per column
    >>> # Interior columns: Gx = 4 * 0.2 = 0.8; the reflected edge columns: 4 * 0.1.
    >>> round(tenengrad(ramp), 12)                         # (3 * 0.64 + 2 * 0.16) / 5
    0.448
    """
    batch, single = _as_batch(images)
    out = np.empty(len(batch), dtype=np.float64)
    for i, image in enumerate(batch):
        frame = _unit_frame(image)
        gx = cv2.Sobel(frame, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
        gy = cv2.Sobel(frame, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
        out[i] = float(np.mean(gx * gx + gy * gy))
    return float(out[0]) if single else out


def tenengrad_blur_factor(images: Any) -> np.ndarray | float:
    """Tenengrad Blur Factor ``TBF = 1 / tenengrad`` per image; higher means blurrier.

    The Sobel analogue of BF: same orientation, same contrast scaling
    (``TBF(a * P) = TBF(P) / a**2``), same handling of flat images (``inf``, no
    warning; summaries count such values instead of averaging them).

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch, float in [0, 1] or uint8.

    Returns
    -------
    float or ndarray
        float64: a scalar for one image, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.tile(np.arange(5.0) / 10, (4, 1))
    >>> round(tenengrad_blur_factor(ramp), 9)               # 1 / 0.448
    2.232142857
    >>> tenengrad_blur_factor(np.full((4, 5), 0.5))
    inf
    """
    ten = tenengrad(images)
    with np.errstate(divide="ignore"):
        tbf = np.divide(1.0, ten)
    return float(tbf) if np.ndim(tbf) == 0 else tbf


def relative_tenengrad_blur_factor(pred: Any, true: Any) -> np.ndarray | float:
    """Relative Tenengrad Blur Factor ``TBF(pred) / TBF(true) - 1`` per image.

    A ratio, exactly like RBF, because TBF is an unbounded positive scale on which
    "1.5x blurrier" is meaningful; computed as ``tenengrad(true) / tenengrad(pred) - 1``.
    ``inf`` when the prediction is flat but the truth is not, ``nan`` when both are
    flat, -1 when only the truth is flat.

    Parameters
    ----------
    pred, true : array_like
        Predictions and their ground truth: same shape, (H, W) or (N, H, W).

    Returns
    -------
    float or ndarray
        float64: a scalar for one image pair, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).random((20, 30))
    >>> round(relative_tenengrad_blur_factor(0.5 * true, true), 12)  # half the contrast
    3.0
    """
    _as_pair(pred, true)
    ten_p = tenengrad(pred)
    ten_t = tenengrad(true)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.divide(ten_t, ten_p) - 1.0
    return float(rel) if np.ndim(rel) == 0 else rel


def _check_blur_effect_size(h_size: Any) -> int:
    try:
        size = operator.index(h_size)
    except TypeError:
        raise MetricInputError(f"h_size {h_size!r}: expected an int") from None
    if size < 2:
        raise MetricInputError(f"h_size {h_size!r}: must be at least 2")
    return size


def blur_effect(images: Any, h_size: int = BLUR_EFFECT_SIZE) -> np.ndarray | float:
    """Crété-Roffet blur effect per image, by ``skimage.measure.blur_effect``.

    The image is re-blurred with a ``h_size``-wide box filter along each axis in turn;
    the metric is the share of the image's gradient that this re-blur does *not*
    remove, ``(M1 - M2) / M1``, and the maximum over the two axes is kept
    (scikit-image's defaults).  0 means sharp, 1 maximally blurry: a sharp image loses
    much of its gradient to the re-blur, an already blurry one little.  The measure is
    a ratio of gradient sums, so it does not change with contrast or brightness
    (``blur_effect(a * P + b) = blur_effect(P)`` for ``a != 0``), unlike BF and TBF.

    A flat image (or one constant along either axis) gets 1, scikit-image's value: the
    bounded scale has a natural maximum, so there is no infinity to count.

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch, float in [0, 1] or uint8 (divided by
        255); at least 4x4 (scikit-image drops two border rows and columns).
    h_size : int, optional
        Size of the re-blurring filter; keep it fixed to compare values.

    Returns
    -------
    float or ndarray
        float64 in [0, 1]: a scalar for one image, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((40, 60))
    >>> img[:, 30:] += 0.5                    # one vertical and one horizontal step edge
    >>> img[20:, :] += 0.5
    >>> round(blur_effect(img), 9)            # 2 / h_size for an ideal step edge
    0.181818182
    """
    from skimage.measure import blur_effect as _skimage_blur_effect

    size = _check_blur_effect_size(h_size)
    batch, single = _as_batch(images)
    if batch.shape[1] < 4 or batch.shape[2] < 4:
        raise MetricInputError(
            f"images: images of shape {batch.shape[1:]} are smaller than 4x4 (blur_effect)")
    out = np.array([_skimage_blur_effect(_unit_frame(image), h_size=size)
                    for image in batch], dtype=np.float64)
    return float(out[0]) if single else out


def relative_blur_effect(pred: Any, true: Any,
                         h_size: int = BLUR_EFFECT_SIZE) -> np.ndarray | float:
    """Relative blur effect ``blur_effect(pred) - blur_effect(true)`` per image.

    A *difference*, not a ratio: the blur effect is bounded in [0, 1] and already on a
    common scale, so a difference is in [-1, 1], never infinite, and does not blow up
    for very sharp truths (values near 0).  Positive means the prediction is blurrier.

    Parameters
    ----------
    pred, true : array_like
        Predictions and their ground truth: same shape, (H, W) or (N, H, W).
    h_size : int, optional
        Re-blurring filter size, as in :func:`blur_effect`.

    Returns
    -------
    float or ndarray
        float64: a scalar for one image pair, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).random((30, 40))
    >>> relative_blur_effect(true, true)
    0.0
    >>> relative_blur_effect(np.full((30, 40), 0.5), true) > 0.5   # flat: maximal blur
    True
    """
    _as_pair(pred, true)
    rel = np.asarray(blur_effect(pred, h_size)) - np.asarray(blur_effect(true, h_size))
    return float(rel) if np.ndim(rel) == 0 else rel


def _check_cutoff(cutoff: Any) -> float:
    try:
        value = float(cutoff)
    except (TypeError, ValueError):
        raise MetricInputError(f"cutoff {cutoff!r}: not a number") from None
    if not 0.0 < value < 1.0:
        raise MetricInputError(f"cutoff {cutoff!r}: must be a fraction of Nyquist in (0, 1)")
    return value


def high_frequency_share(images: Any, cutoff: float = HF_CUTOFF) -> np.ndarray | float:
    """Share of each image's spectral power above a radial cut-off frequency.

    The power spectrum of the mean-removed image is split at the normalised radial
    frequency ``rho = sqrt((fy / 0.5)**2 + (fx / 0.5)**2)`` (``fy``, ``fx`` in cycles
    per pixel, so ``rho = 1`` is Nyquist along an axis); the result is the power at
    ``rho > cutoff`` over the total.  Blur is a low-pass filter, so it lowers the
    share.  The default cut-off, a quarter of Nyquist (periods shorter than 8 pixels),
    leaves the coarse shapes of a 100x200 frame below it and its edges and texture
    above; a frequency exactly on the cut-off counts as below it.

    The spectrum is that of the image mirrored at its borders (``d c b a | a b c d``,
    the Laplacian's convention), i.e. the FFT of the symmetric extension, computed as an
    orthonormal 2-D DCT-II (bin ``k`` of ``N`` is ``k / (2N)`` cycles per pixel).  A
    plain FFT would treat the frame as periodic: the jump between opposite borders adds
    high-frequency power that no blur removes, and the share then stops falling (even
    rises) for strong blur.  The share is invariant to contrast and brightness
    (``a * P + b``, ``a != 0``).  A flat image (intensity std <= 1e-12, as in
    :func:`match_contrast`) has no power at all and gets 0.

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch, float in [0, 1] or uint8.
    cutoff : float, optional
        Radial cut-off as a fraction of Nyquist, in (0, 1).

    Returns
    -------
    float or ndarray
        float64 in [0, 1]: a scalar for one image, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(200)
    >>> # cos(pi k (x + 1/2) / 200) has frequency k / 400 cycles per pixel: rho = k / 200.
    >>> fine = np.tile(0.5 + 0.4 * np.cos(np.pi * 80 * (x + 0.5) / 200), (100, 1))
    >>> coarse = np.tile(0.5 + 0.4 * np.cos(np.pi * 20 * (x + 0.5) / 200), (100, 1))
    >>> [round(float(v), 9) for v in high_frequency_share(np.stack([fine, coarse]))]
    [1.0, 0.0]
    """
    import scipy.fft

    cut = _check_cutoff(cutoff)
    batch, single = _as_batch(images)
    h, w = batch.shape[1:]
    # DCT bin k of N has rho = k / N along its axis; rho > cut <=> (ky W)^2 + (kx H)^2 >
    # (cut H W)^2, exact integers on the left.  Bins on the circle (to rounding) are below.
    ky = np.arange(h, dtype=np.int64)[:, None] * w
    kx = np.arange(w, dtype=np.int64)[None, :] * h
    high = (ky * ky + kx * kx) > (cut * h * w) ** 2 * (1 + _RHO_TOL)
    out = np.empty(len(batch), dtype=np.float64)
    for start in range(0, len(batch), _CHUNK):
        chunk = _to_unit_float(batch[start:start + _CHUNK])
        flat = chunk.std(axis=(1, 2)) <= _FLAT_STD
        chunk -= chunk.mean(axis=(1, 2), keepdims=True)
        coef = scipy.fft.dctn(chunk, type=2, axes=(1, 2), norm="ortho")
        power = coef * coef
        total = power.sum(axis=(1, 2))
        above = np.where(high, power, 0.0).sum(axis=(1, 2))
        out[start:start + len(chunk)] = np.divide(above, total, out=np.zeros_like(total),
                                                  where=~flat & (total > 0))
    return float(out[0]) if single else out


def high_frequency_blur_factor(images: Any, cutoff: float = HF_CUTOFF) -> np.ndarray | float:
    """High-frequency Blur Factor ``HFBF = 1 / high_frequency_share``; higher means blurrier.

    Built like BF (one over an energy of the fine detail) rather than as
    ``1 - share``: sharp frames keep only a few per cent of their power above the
    cut-off, so ``1 - share`` sits near 1 for every frame and hides large relative
    losses, while a ratio scale shows them.  Unlike BF it does not change with contrast.
    A flat image has no high-frequency power and gets ``inf`` (no warning), as BF does;
    summaries count such values instead of averaging them.

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch, float in [0, 1] or uint8.
    cutoff : float, optional
        Radial cut-off as a fraction of Nyquist, in (0, 1).

    Returns
    -------
    float or ndarray
        float64 >= 1: a scalar for one image, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(200)
    >>> fine = 0.5 + 0.3 * np.cos(np.pi * 80 * (x + 0.5) / 200)     # rho 0.4
    >>> coarse = 0.3 * np.cos(np.pi * 20 * (x + 0.5) / 200)          # rho 0.1, same power
    >>> round(high_frequency_blur_factor(np.tile(fine + coarse, (100, 1))), 9)
    2.0
    >>> high_frequency_blur_factor(np.full((100, 200), 0.5))
    inf
    """
    share = high_frequency_share(images, cutoff)
    with np.errstate(divide="ignore"):
        hfbf = np.divide(1.0, share)
    return float(hfbf) if np.ndim(hfbf) == 0 else hfbf


def relative_high_frequency_blur_factor(pred: Any, true: Any,
                                        cutoff: float = HF_CUTOFF) -> np.ndarray | float:
    """Relative high-frequency Blur Factor ``HFBF(pred) / HFBF(true) - 1`` per image.

    A ratio, like RBF, computed as ``share(true) / share(pred) - 1``: 1 means the
    prediction kept half the truth's share of fine detail.  ``inf`` when the prediction
    is flat but the truth is not, ``nan`` when both are flat, -1 when only the truth is.

    Parameters
    ----------
    pred, true : array_like
        Predictions and their ground truth: same shape, (H, W) or (N, H, W).
    cutoff : float, optional
        Radial cut-off as a fraction of Nyquist, in (0, 1).

    Returns
    -------
    float or ndarray
        float64: a scalar for one image pair, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(200)
    >>> fine = 0.5 + 0.3 * np.cos(np.pi * 80 * (x + 0.5) / 200)
    >>> coarse = 0.3 * np.cos(np.pi * 20 * (x + 0.5) / 200)
    >>> true = np.tile(fine + coarse, (100, 1))                        # share 1/2
    >>> pred = np.tile(0.5 + 0.5 * (fine - 0.5) + coarse, (100, 1))    # share 1/5
    >>> round(relative_high_frequency_blur_factor(pred, true), 9)      # 0.5 / 0.2 - 1
    1.5
    """
    _as_pair(pred, true)
    share_p = high_frequency_share(pred, cutoff)
    share_t = high_frequency_share(true, cutoff)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.divide(share_t, share_p) - 1.0
    return float(rel) if np.ndim(rel) == 0 else rel


def sharpness_columns(pred: Any, true: Any, *, cutoff: float = HF_CUTOFF,
                      h_size: int = BLUR_EFFECT_SIZE) -> dict[str, np.ndarray]:
    """Every sharpness column beyond BF for per-frame metrics, keyed as ``SHARPNESS_COLUMNS``.

    For each measure — Tenengrad Blur Factor (``tbf``), blur effect
    (``blur_effect``), high-frequency Blur Factor (``hfbf``) — the value for the
    prediction and the truth, the relative version (``rtbf`` and ``rhfbf`` ratios like
    RBF; ``rblur_effect`` a difference, the measure being bounded), and the value and
    relative version after :func:`match_contrast` (``*_matched``: the prediction
    rescaled to its truth's mean and std).  Contrast matching changes TBF as it changes
    BF; the blur effect and the high-frequency share do not depend on contrast, so
    their matched columns repeat the unmatched ones (up to rounding) — kept so that
    every measure has the same columns.  Flat frames give ``inf``/``nan`` in the ratio
    columns exactly as BF and RBF do; nothing is averaged here.

    Parameters
    ----------
    pred, true : array_like
        Predictions and their ground truth: same shape, (H, W) or (N, H, W), float in
        [0, 1] or uint8; at least 4x4.
    cutoff : float, optional
        Cut-off of the high-frequency share, a fraction of Nyquist.
    h_size : int, optional
        Re-blurring filter size of the blur effect.

    Returns
    -------
    dict of str to ndarray
        One float64 array of N values per column (N = 1 for a single image pair).

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).random((3, 30, 40))
    >>> cols = sharpness_columns(0.5 * true, true)
    >>> list(cols) == SHARPNESS_COLUMNS
    True
    >>> [round(float(v), 9) for v in cols["rtbf"]]         # half the contrast: 1/0.25 - 1
    [3.0, 3.0, 3.0]
    >>> [round(float(v), 9) for v in cols["rtbf_matched"]]  # contrast matched: no change
    [0.0, 0.0, 0.0]
    >>> [round(float(v), 9) for v in cols["rhfbf"]]        # contrast-invariant measure
    [0.0, 0.0, 0.0]
    """
    cut = _check_cutoff(cutoff)
    size = _check_blur_effect_size(h_size)
    p_batch, t_batch, _ = _as_pair(pred, true)
    if p_batch.shape[1] < 4 or p_batch.shape[2] < 4:
        raise MetricInputError(
            f"pred: images of shape {p_batch.shape[1:]} are smaller than 4x4 (blur_effect)")
    images = {"pred": p_batch, "true": t_batch, "matched": match_contrast(p_batch, t_batch)}
    cols: dict[str, np.ndarray] = {}
    # Ratio measures: blur factor = 1 / energy, relative = energy(true) / energy(x) - 1.
    for name, energy_fn in (("tbf", tenengrad),
                            ("hfbf", lambda x: high_frequency_share(x, cut))):
        energy = {k: np.atleast_1d(energy_fn(v)) for k, v in images.items()}
        with np.errstate(divide="ignore", invalid="ignore"):
            for key in ("pred", "true", "matched"):
                cols[f"{name}_{key}"] = np.divide(1.0, energy[key])
            cols[f"r{name}"] = np.divide(energy["true"], energy["pred"]) - 1.0
            cols[f"r{name}_matched"] = np.divide(energy["true"], energy["matched"]) - 1.0
    # Bounded measure: relative = difference.
    be = {k: np.atleast_1d(blur_effect(v, size)) for k, v in images.items()}
    for key in ("pred", "true", "matched"):
        cols[f"blur_effect_{key}"] = be[key]
    cols["rblur_effect"] = be["pred"] - be["true"]
    cols["rblur_effect_matched"] = be["matched"] - be["true"]
    return {key: cols[key] for key in SHARPNESS_COLUMNS}


# --- Beyond the paper (calibration): edge width, Marziliano et al. (2002) -------------
#
# "A no-reference perceptual blur metric" (Marziliano, Dufaux, Winkler, Ebrahimi, ICIP
# 2002): find the vertical edges, and at each edge pixel measure along its row the
# distance between the local intensity extrema on either side of the edge.  Blur
# spreads an edge over more pixels, so the mean width grows with it.  Unlike the
# energy measures above it does not care how *high* an edge is, only how wide.

#: Default edge threshold of :func:`edge_width`: a fraction of the frame's largest
#: horizontal Sobel response.
EDGE_THRESHOLD = 0.2
#: Sobel responses closer than this fraction of the frame's largest one are equal to
#: :func:`vertical_edges` (rounding must not decide which of two equal pixels is kept).
_EDGE_TIE = 1e-9


def _check_threshold(threshold: Any) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise MetricInputError(f"threshold {threshold!r}: not a number") from None
    if not 0.0 < value < 1.0:
        raise MetricInputError(f"threshold {threshold!r}: must be a fraction in (0, 1)")
    return value


def _edge_map(batch: np.ndarray, cut: float) -> np.ndarray:
    """:func:`vertical_edges` of a validated (N, H, W) batch."""
    out = np.zeros(batch.shape, dtype=np.int8)
    for i, image in enumerate(batch):
        gx = cv2.Sobel(_unit_frame(image), cv2.CV_64F, 1, 0, ksize=3,
                       borderType=cv2.BORDER_REFLECT)
        mag = np.abs(gx)
        peak = float(mag.max())
        if peak <= _FLAT_STD:
            continue
        tie = _EDGE_TIE * peak
        centre = mag[:, 1:-1]
        keep = ((centre >= mag[:, :-2] - tie) & (centre > mag[:, 2:] + tie)
                & (centre >= (cut - _EDGE_TIE) * peak))
        out[i, :, 1:-1] = np.where(keep, np.sign(gx[:, 1:-1]), 0)
    return out


def vertical_edges(images: Any, threshold: float = EDGE_THRESHOLD) -> np.ndarray:
    """Vertical edges: +1 (rising left to right), -1 (falling) or 0 per pixel.

    An edge pixel is a local maximum along its row of ``|Gx|``, OpenCV's 3x3 horizontal
    Sobel derivative with reflected borders, that reaches ``threshold`` times the
    image's largest ``|Gx|``.  Marziliano et al. use Sobel's vertical edges; the
    relative threshold makes the edge map the same for ``a * P + b`` (``a > 0``).  Of
    two equal neighbours the right one is kept, so an ideal step edge gives one edge
    pixel per row; responses within 1e-9 of the largest count as equal, so that
    rounding does not change the edges of ``a * P + b``.  The first and last columns are never edges; a flat image
    (largest ``|Gx|`` <= 1e-12) has none.

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch, float in [0, 1] or uint8.
    threshold : float, optional
        Fraction in (0, 1) of the largest response an edge must reach.

    Returns
    -------
    ndarray
        int8 of the input's shape: the sign of ``Gx`` at edge pixels, 0 elsewhere.

    Examples
    --------
    >>> import numpy as np
    >>> step = np.tile(np.r_[np.zeros(5), np.ones(5)], (3, 1))
    >>> vertical_edges(step)[0].tolist()
    [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    """
    cut = _check_threshold(threshold)
    batch, single = _as_batch(images)
    out = _edge_map(batch, cut)
    return out[0] if single else out


def _walk(rows: np.ndarray, line: np.ndarray, col: np.ndarray, sign: np.ndarray,
          step: int) -> np.ndarray:
    """From each edge pixel, the column where the intensity stops moving in the edge's
    direction: towards the left (``step=-1``, while it keeps falling for a rising edge)
    or the right (``step=1``, while it keeps rising).  ``rows`` is (lines, W) float64."""
    end = col.copy()
    active = np.arange(len(col))
    last = rows.shape[1] - 1
    while active.size:
        pos = end[active]
        inside = (pos > 0) if step < 0 else (pos < last)
        active, pos = active[inside], pos[inside]
        here = rows[line[active], pos]
        there = rows[line[active], pos + step]
        moving = sign[active] * (here - there) * step < 0
        active = active[moving]
        end[active] += step
    return end


def _mean_edge_widths(batch: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per frame of ``batch`` (N, H, W), the mean width at the edge pixels of ``edges``
    (int8, same shape); lost edges (width 0) left out, ``nan`` if none is left."""
    n, h, w = batch.shape
    out = np.full(n, math.nan)
    for start in range(0, n, _CHUNK):
        frames = _to_unit_float(batch[start:start + _CHUNK])
        marks = edges[start:start + _CHUNK]
        m = len(frames)
        frame_of, row, col = np.nonzero(marks)
        line = frame_of * h + row                  # row index in the (m * h, w) view
        sign = marks[frame_of, row, col].astype(np.float64)
        rows = frames.reshape(m * h, w)
        widths = _walk(rows, line, col, sign, 1) - _walk(rows, line, col, sign, -1)
        found = widths > 0
        total = np.bincount(frame_of[found], weights=widths[found], minlength=m)
        count = np.bincount(frame_of[found], minlength=m)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:start + m] = np.where(count > 0, total / count, math.nan)
    return out


def edge_width(images: Any, *, reference: Any = None,
               threshold: float = EDGE_THRESHOLD) -> np.ndarray | float:
    """Marziliano et al.'s blur measure: mean width in pixels of the vertical edges.

    At each edge pixel (:func:`vertical_edges`) of a rising edge the row is followed to
    the left while the intensity keeps falling and to the right while it keeps rising
    (the other way round for a falling edge), i.e. to the local extrema on either side;
    the width is the distance between them: 1 for an ideal step, ``k`` for a linear
    ramp of ``k`` steps.  The score is the mean over the edge pixels; higher means
    blurrier.  Widths do not depend on contrast or brightness (``a * P + b``, ``a > 0``).

    ``reference``: without it the edges are found in each image itself (the original,
    no-reference measure).  With it, e.g. the true frames when ``images`` are
    predictions, the edges and their directions are those of the reference and each
    image's width is measured there: the prediction's width at the true edges.  An edge
    pixel where the image does not change in the edge's direction at all (width 0: the
    edge is lost, as in a flat prediction) is left out of the mean.  A frame with no
    edge, or whose every edge is lost, gets ``nan``.

    Parameters
    ----------
    images : array_like
        One (H, W) image or an (N, H, W) batch, float in [0, 1] or uint8.
    reference : array_like, optional
        Frames of the same shape whose edges are measured.
    threshold : float, optional
        Edge threshold, a fraction in (0, 1) of each edge frame's largest Sobel response.

    Returns
    -------
    float or ndarray
        float64 widths in pixels: a scalar for one image, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> step = np.tile(np.r_[np.zeros(10), np.ones(10)], (6, 1))
    >>> edge_width(step)
    1.0
    >>> ramp = np.tile(np.clip((np.arange(20.0) - 7) / 5, 0, 1), (6, 1))   # 5 steps
    >>> edge_width(ramp, reference=step)
    5.0
    >>> edge_width(np.full((6, 20), 0.5), reference=step)     # the edge is lost
    nan
    """
    cut = _check_threshold(threshold)
    if reference is None:
        batch, single = _as_batch(images)
        ref = batch
    else:
        batch, ref, single = _as_pair(images, reference)
    out = _mean_edge_widths(batch, _edge_map(ref, cut))
    return float(out[0]) if single else out


def relative_edge_width(pred: Any, true: Any, *,
                        threshold: float = EDGE_THRESHOLD) -> np.ndarray | float:
    """Relative edge width ``width(pred at true's edges) / width(true) - 1`` per image.

    A ratio like RBF: positive means the prediction's edges are wider (blurrier) than
    the truth's at the same places.  ``nan`` where the truth has no edge or the
    prediction lost every one of them.

    Parameters
    ----------
    pred, true : array_like
        Predictions and their ground truth: same shape, (H, W) or (N, H, W).
    threshold : float, optional
        Edge threshold, as in :func:`edge_width`.

    Returns
    -------
    float or ndarray
        float64: a scalar for one image pair, an array of N for a batch.

    Examples
    --------
    >>> import numpy as np
    >>> step = np.tile(np.r_[np.zeros(10), np.ones(10)], (6, 1))
    >>> ramp = np.tile(np.clip((np.arange(20.0) - 7) / 5, 0, 1), (6, 1))
    >>> relative_edge_width(ramp, step)                       # 5 px wide instead of 1
    4.0
    """
    _as_pair(pred, true)
    w_pred = np.asarray(edge_width(pred, reference=true, threshold=threshold))
    w_true = np.asarray(edge_width(true, threshold=threshold))
    rel = w_pred / w_true - 1.0
    return float(rel) if np.ndim(rel) == 0 else rel
