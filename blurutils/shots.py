"""Shots: where a film cuts, which frames are black or flat, and which triplets to keep.

The paper builds a triplet (t-1, t, t+1) around every frame, so on a real film some
triplets span a cut: the model is asked to predict a frame from the previous shot, which
no interpolator can do and which says nothing about blur.  Others hold a black or flat
frame (fades), whose Blur Factor is infinite.  By default the study drops both kinds of
triplet (``StudyConfig.keep_cuts`` keeps them, as the paper did) and says how many.

A *cut* at index ``c`` means frames ``c - 1`` and ``c`` belong to different shots.  It
is found from two per-transition signals, each compared with its own neighbourhood so
that fast action (large but steady change) is not mistaken for a cut:

* the mean absolute grey-level difference between the two frames (content moved), and
* the total-variation distance between their 32-bin intensity histograms (content
  changed: motion keeps the histogram, a new shot does not).

A transition is a cut when its difference is above :data:`MIN_CUT_DIFFERENCE` and at
least :data:`CUT_RATIO` times the mean of the two transitions on each side, and its
histogram distance is at least :data:`HISTOGRAM_RATIO` times its neighbours' (or above
:data:`MIN_HISTOGRAM_DISTANCE`).  ``docs/film.md`` has how the thresholds were checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CUT_RATIO", "FLAT_STD", "ShotSummary", "find_cuts", "flat_frames",
           "frame_differences", "summarize_shots", "usable_targets"]

#: Grey-level difference (0-1 scale) below which a transition is never a cut.
MIN_CUT_DIFFERENCE = 0.03
#: A cut's difference is at least this many times its neighbours' mean.
CUT_RATIO = 2.5
#: ... and its histogram distance at least this many times its neighbours'
HISTOGRAM_RATIO = 2.0
#: ... or at least this absolute histogram distance.
MIN_HISTOGRAM_DISTANCE = 0.05
#: Transitions on each side a cut is compared with.
NEIGHBOURS = 2
#: A frame whose grey levels have a standard deviation below this (0-1 scale, about
#: 5 grey levels) is flat: black, white or a fade, with a Blur Factor near infinity.
FLAT_STD = 0.02
_BINS = 32


def _as_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 (N, H, W), got {frames.dtype} {frames.shape}")
    return frames


def frame_differences(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference of each pair of consecutive frames, 0-1 scale (N-1,)."""
    frames = _as_frames(frames)
    out = np.empty(max(len(frames) - 1, 0), dtype=np.float64)
    for start in range(0, len(out), 256):  # bounded memory on long films
        a = frames[start:start + 257].astype(np.int16)
        out[start:start + len(a) - 1] = np.abs(np.diff(a, axis=0)).mean(axis=(1, 2)) / 255.0
    return out


def _histogram_distances(frames: np.ndarray) -> np.ndarray:
    counts = np.stack([np.bincount((f >> 3).ravel(), minlength=_BINS) for f in frames])
    share = counts / counts.sum(axis=1, keepdims=True)
    return 0.5 * np.abs(np.diff(share, axis=0)).sum(axis=1)


def _neighbour_mean(values: np.ndarray, width: int = NEIGHBOURS) -> np.ndarray:
    """Mean of the ``width`` values on each side of each value (itself excluded)."""
    padded = np.pad(values, width, mode="edge")
    window = np.lib.stride_tricks.sliding_window_view(padded, 2 * width + 1)
    return (window.sum(axis=1) - values) / (2 * width)


def find_cuts(frames: np.ndarray) -> np.ndarray:
    """Indices ``c`` (sorted) such that frames ``c - 1`` and ``c`` are in different shots."""
    frames = _as_frames(frames)
    if len(frames) < 2:
        return np.array([], dtype=np.int64)
    diff = frame_differences(frames)
    hist = _histogram_distances(frames)
    cut = ((diff > MIN_CUT_DIFFERENCE)
           & (diff >= CUT_RATIO * np.maximum(_neighbour_mean(diff), 1e-4))
           & ((hist >= HISTOGRAM_RATIO * np.maximum(_neighbour_mean(hist), 1e-4))
              | (hist >= MIN_HISTOGRAM_DISTANCE)))
    return np.flatnonzero(cut).astype(np.int64) + 1


def flat_frames(frames: np.ndarray) -> np.ndarray:
    """Boolean mask (N,): frames whose grey-level standard deviation is below FLAT_STD."""
    frames = _as_frames(frames)
    std = np.array([f.std() for f in frames]) / 255.0
    return std < FLAT_STD


def usable_targets(targets: np.ndarray, n_frames: int, cuts: np.ndarray,
                   flat: np.ndarray) -> np.ndarray:
    """Mask over ``targets``: the triplet (t-1, t, t+1) spans no cut and holds no flat
    frame.  A cut at c separates c-1 from c, so it breaks the triplets of t = c-1 and c."""
    targets = np.asarray(targets, dtype=np.int64)
    broken = np.zeros(n_frames + 1, dtype=bool)
    cuts = np.asarray(cuts, dtype=np.int64)
    broken[cuts[(cuts >= 0) & (cuts <= n_frames)]] = True
    spans_cut = broken[targets] | broken[np.minimum(targets + 1, n_frames)]
    flat = np.asarray(flat, dtype=bool)
    has_flat = flat[targets - 1] | flat[targets] | flat[np.minimum(targets + 1, n_frames - 1)]
    return ~(spans_cut | has_flat)


@dataclass(frozen=True)
class ShotSummary:
    """What the shot analysis found in a clip, for the REPORT."""

    n_frames: int
    cuts: tuple[int, ...]
    flat: tuple[int, ...]

    @property
    def n_shots(self) -> int:
        return len(self.cuts) + 1

    def shot_lengths(self) -> np.ndarray:
        edges = np.r_[0, np.asarray(self.cuts, dtype=np.int64), self.n_frames]
        return np.diff(edges)

    def flat_runs(self) -> list[tuple[int, int]]:
        """Runs of flat frames as (first, last) index pairs."""
        runs: list[tuple[int, int]] = []
        for index in self.flat:
            if runs and index == runs[-1][1] + 1:
                runs[-1] = (runs[-1][0], index)
            else:
                runs.append((index, index))
        return runs


def summarize_shots(frames: np.ndarray) -> ShotSummary:
    """Cuts and flat frames of ``frames``."""
    frames = _as_frames(frames)
    return ShotSummary(len(frames), tuple(int(c) for c in find_cuts(frames)),
                       tuple(int(i) for i in np.flatnonzero(flat_frames(frames))))
