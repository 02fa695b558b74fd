"""Interpolation with no learning: what the autoencoders should beat.

The paper asserts that "simply averaging the pixel intensity of surrounding frames
fails to produce convincing intermediate frames" but never measures it, and compares
its twelve models only with one another.  These baselines predict frame t from its
neighbours t-1 and t+1 with no training at all, so their Blur Factor, Relative Blur
Factor, PSNR and SSIM put the models' numbers in context:

* **Copy previous** (:func:`copy_previous`): frame t-1 unchanged.  As sharp as a real
  frame, so its RBF is ~0 — the best possible RBF — while it is wrong wherever
  anything moved.  It shows that RBF alone cannot rank interpolators.
* **Linear blend** (:func:`linear_blend`): the mean of t-1 and t+1 — the averaging
  the paper dismisses: exact on static regions, a double exposure where things move.
* **Optical flow** (:func:`flow_midpoint`): OpenCV's Farnebäck dense flow from t-1 to
  t+1, both neighbours warped half-way towards t and blended; the classical
  motion-compensated interpolation.
* **Mean frame** (:func:`mean_frame`): the pixel-wise mean of the *training* targets,
  the same picture for every test target.  It is what an under-trained autoencoder
  converges to first; a model that does not beat it has not learned to interpolate.

Every function takes uint8 frames (N, H, W) — normally the study's (N, 100, 200) — and
the target frame indices (an array, or a :class:`blurutils.pairs.Examples` whose
``targets`` are used), and returns float32 predictions in [0, 1] of shape (n, H, W),
the layout of :func:`blurutils.training.predict`, so
``blurutils.study.frame_metrics(pred, to_unit_float(frames[targets]), targets)``
scores them like a model.  Each target needs both neighbours (1 <= t <= N - 2).
"""

from __future__ import annotations

from typing import Any, Callable

import cv2
import numpy as np

from .catalog import baseline_name
from .errors import ConfigError, FrameError
from .pairs import Examples

#: Farnebäck parameters for 100x200 frames: a 3-level pyramid halving each time
#: (coarsest level 25x50, which still resolves motions of ~20 px between t-1 and t+1),
#: 15x15 averaging windows, 3 iterations per level, 5-pixel polynomial neighbourhoods
#: with sigma 1.2 (OpenCV's recommended pairing for poly_n = 5).
FARNEBACK_PARAMS: dict[str, Any] = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3,
                                        poly_n=5, poly_sigma=1.2, flags=0)


def _check_inputs(frames: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate uint8 (N, H, W) frames and target indices with both neighbours."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise FrameError(f"frames: dtype {frames.dtype} is not supported (expected uint8 "
                         "frames as returned by blurutils.load_frames)")
    if frames.ndim == 4 and frames.shape[-1] == 1:
        frames = frames[..., 0]
    if frames.ndim != 3 or frames.shape[1] < 3 or frames.shape[2] < 3:
        raise FrameError(f"frames: shape {frames.shape} is not a stack of (N, H, W) frames")
    if isinstance(targets, Examples):
        targets = targets.targets
    targets = np.asarray(targets)
    if targets.ndim != 1 or not (targets.size == 0 or np.issubdtype(targets.dtype, np.integer)):
        raise ConfigError(f"targets: expected a 1-D array of frame indices, got "
                          f"{targets.dtype} {targets.shape}")
    targets = targets.astype(np.int64)
    bad = targets[(targets < 1) | (targets > len(frames) - 2)]
    if bad.size:
        raise ConfigError(f"targets: frame {int(bad[0])} has no neighbour on both sides "
                          f"(targets must be 1..{len(frames) - 2} for {len(frames)} frames)")
    return frames, targets


def _unit(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0)


def copy_previous(frames: np.ndarray, targets: np.ndarray | Examples) -> np.ndarray:
    """Predict frame t as frame t-1 (float32 in [0, 1], (n, H, W))."""
    frames, targets = _check_inputs(frames, targets)
    return _unit(frames[targets - 1])


def linear_blend(frames: np.ndarray, targets: np.ndarray | Examples) -> np.ndarray:
    """Predict frame t as the pixel-wise mean of frames t-1 and t+1 (float32 in [0, 1])."""
    frames, targets = _check_inputs(frames, targets)
    total = frames[targets - 1].astype(np.float32) + frames[targets + 1].astype(np.float32)
    return total / np.float32(2.0 * 255.0)


def farneback_flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Dense optical flow (H, W, 2) float32 from ``prev`` to ``nxt`` (uint8 (H, W)).

    ``flow[y, x] = (dx, dy)`` such that ``prev[y, x] ~ nxt[y + dy, x + dx]``.
    """
    return cv2.calcOpticalFlowFarneback(prev, nxt, None, **FARNEBACK_PARAMS)


def midpoint_from_flow(prev: np.ndarray, nxt: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Frame half-way between ``prev`` and ``nxt`` given the flow between them.

    float32 (H, W) in [0, 1]: ``0.5 * prev(x - flow(x)/2) + 0.5 * nxt(x + flow(x)/2)``,
    both sampled bilinearly with replicated borders.  See :func:`flow_midpoint`.
    """
    h, w = prev.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32),
                                 np.arange(h, dtype=np.float32))
    half_x, half_y = 0.5 * flow[..., 0], 0.5 * flow[..., 1]
    prev_f, next_f = _unit(prev), _unit(nxt)
    from_prev = cv2.remap(prev_f, grid_x - half_x, grid_y - half_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    from_next = cv2.remap(next_f, grid_x + half_x, grid_y + half_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    return np.clip(0.5 * (from_prev + from_next), 0.0, 1.0).astype(np.float32)


def flow_midpoint(frames: np.ndarray, targets: np.ndarray | Examples) -> np.ndarray:
    """Motion-compensated interpolation with Farnebäck optical flow (float32 in [0, 1]).

    For each target t: the flow F from t-1 to t+1 (:data:`FARNEBACK_PARAMS`); frame t-1
    warped forward by half the flow, frame t+1 warped backward by half the flow, and
    the two averaged.  Warping is *backward* (``cv2.remap`` samples the source at
    ``x -/+ F/2`` for each output pixel x), which needs the flow at the target location
    x in frame t; we use the flow at the same pixel of frame t-1 instead.  That is
    exact for uniform motion (a camera pan) and a good approximation where the flow is
    smooth, but wrong near motion boundaries and occlusions, where the blend shows
    ghosting; no occlusion reasoning is attempted.
    """
    frames, targets = _check_inputs(frames, targets)
    out = np.empty((len(targets),) + frames.shape[1:], dtype=np.float32)
    for i, t in enumerate(targets):
        prev, nxt = frames[t - 1], frames[t + 1]
        out[i] = midpoint_from_flow(prev, nxt, farneback_flow(prev, nxt))
    return out


def mean_frame(frames: np.ndarray, targets: np.ndarray | Examples, *,
               train: np.ndarray | Examples) -> np.ndarray:
    """Predict every target as the mean of the training targets ``train`` (float32).

    No neighbour of the target is used, so a model scoring the same as this baseline
    ignores its input.
    """
    frames, targets = _check_inputs(frames, targets)
    train = np.asarray(train.targets if isinstance(train, Examples) else train)
    if train.ndim != 1 or train.size == 0 or not np.issubdtype(train.dtype, np.integer):
        raise ConfigError("train: expected a non-empty 1-D array of training frame indices")
    if train.min() < 0 or train.max() >= len(frames):
        raise ConfigError(f"train: frame indices must be 0..{len(frames) - 1}")
    mean = frames[train].mean(axis=0, dtype=np.float64) / 255.0
    return np.broadcast_to(mean.astype(np.float32), (len(targets),) + frames.shape[1:]).copy()


#: The baselines by display name, in the order of the tables.
BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "Copy previous": copy_previous,
    "Linear blend": linear_blend,
    "Optical flow": flow_midpoint,
    "Mean frame": mean_frame,
}
#: Baselines that need the training targets (``train=``).
NEEDS_TRAINING_TARGETS = frozenset({"Mean frame"})


def predict_baseline(name: str, frames: np.ndarray, targets: np.ndarray | Examples, *,
                     train: np.ndarray | Examples | None = None) -> np.ndarray:
    """Predictions of the baseline ``name`` for ``targets``: float32 (n, H, W) in [0, 1].

    ``train`` (the training targets) is needed by the mean-frame baseline only.
    """
    name = baseline_name(name)
    if name in NEEDS_TRAINING_TARGETS:
        if train is None:
            raise ConfigError(f"baseline {name!r} needs the training targets (train=...)")
        return BASELINES[name](frames, targets, train=train)
    return BASELINES[name](frames, targets)
