"""Pairs: which frames a model sees and which frame it must predict.

An *example* is a target frame index plus the indices of its input frames, so
examples are tiny integer arrays and frames are gathered on the fly — the uint8 frame
array is held once, never duplicated as float copies per model.

Following the paper, targets are the frames t that have both neighbours (1 .. N-2),
and the same 70/30 split of targets serves every model.  By default the split assigns
interleaved blocks of consecutive targets (``interleaved``) and leaves a one-frame gap
where a training block meets a test block, so no test target is ever an input or a
target of any training example; the paper's plain random split of overlapping triplets
leaks (a test frame t is the input of training examples t-1 and t+1) and remains as
``random``, with :func:`leaked_test_targets` counting the leaks.

* Forward:        t-1       -> t
* Backward:       t+1       -> t
* Bi-Directional: (t-1, t+1) -> t
* Convolutional:  t-1       -> t  (forward, like the paper's)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

#: What the notebooks use (this module is its own face: docs/architecture.md).
__all__ = ["DIRECTION_OFFSETS", "examples_at", "examples_for", "fillnet_pair_split",
           "leaked_test_targets", "split_targets", "target_frames"]

#: Input offsets relative to the target frame, per direction.
DIRECTION_OFFSETS: dict[str, tuple[int, ...]] = {
    "forward": (-1,),
    "backward": (1,),
    "bidirectional": (-1, 1),
}
SPLIT_METHODS = ("interleaved", "random", "blocked")
#: Targets per block of the interleaved split (fewer for short clips: at least ten
#: blocks, so the test blocks come from every part of the clip).
SPLIT_BLOCK = 50
#: The authors' split: scikit-learn's ``train_test_split(..., random_state=42)``.
FILLNET_RANDOM_STATE = 42


@dataclass(frozen=True)
class Examples:
    """Index arrays: ``inputs[i]`` (k frame indices) are fed to predict ``targets[i]``."""

    inputs: np.ndarray   # (n, k) int64
    targets: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, rows: np.ndarray) -> "Examples":
        """The examples at positions ``rows``."""
        return Examples(self.inputs[rows], self.targets[rows])


@dataclass(frozen=True)
class Split:
    """Training and test sets (disjoint, sorted): target frame indices, or — with
    ``unit="pair"`` (the authors' code) — indices i of the pairs (2i, 2i+1)."""

    train: np.ndarray
    test: np.ndarray
    unit: str = "target"


def target_frames(n_frames: int) -> np.ndarray:
    """Frames that have both neighbours: 1 .. N-2."""
    if n_frames < 3:
        raise ConfigError(f"n_frames={n_frames}: need at least 3 frames to form a triplet")
    return np.arange(1, n_frames - 1, dtype=np.int64)


def examples_for(direction: str, targets: np.ndarray) -> Examples:
    """Examples that predict each of ``targets`` from its neighbours in ``direction``."""
    try:
        offsets = DIRECTION_OFFSETS[direction]
    except KeyError:
        raise ConfigError(f"unknown direction {direction!r} "
                          f"(expected one of {', '.join(DIRECTION_OFFSETS)})") from None
    targets = np.asarray(targets, dtype=np.int64)
    inputs = targets[:, None] + np.asarray(offsets, dtype=np.int64)[None, :]
    return Examples(inputs, targets)


def split_targets(n_frames: int, *, test_fraction: float = 0.3, seed: int = 0,
                  method: str = "interleaved", block: int = SPLIT_BLOCK,
                  frames: np.ndarray | None = None) -> Split:
    """Split the target frames 70/30 (by default) into training and test sets.

    ``interleaved`` (default): consecutive targets in blocks of ``block`` (fewer for
    short clips, so there are at least ten blocks); a seeded choice of
    ``ceil(test_fraction * blocks)`` blocks tests, the rest train, and each training
    target next to a test block is dropped, so every test target is at least two
    frames from every training target: no test frame is a training input or target of
    any model, yet test frames come from all parts of the clip.
    ``random`` (the paper's "pseudo-randomly assign"): a seeded shuffle, test size
    rounded up as scikit-learn's ``train_test_split`` does; it leaks test frames into
    training inputs (:func:`leaked_test_targets`).  ``blocked``: the first 70% of
    targets train, the last 30% test, with the two targets at the boundary left out.

    Given the clip's ``frames`` (n_frames of them), targets whose triplet (t-1, t, t+1)
    spans a cut between shots or holds a flat frame are then dropped from both sides
    (:func:`blurutils.shots.usable_targets`): across a cut, no model can know the next
    shot.  Dropping only removes targets, so the split stays leak-free.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction={test_fraction}: must be between 0 and 1")
    targets = target_frames(n_frames)
    n = len(targets)
    n_test = math.ceil(test_fraction * n)
    if method == "interleaved":
        train, test = _interleaved(targets, test_fraction, seed, block)
    elif method == "random":
        order = np.random.default_rng(seed).permutation(n)
        test, train = targets[order[:n_test]], targets[order[n_test:]]
    elif method == "blocked":
        n_train = n - n_test
        train, test = targets[:n_train], targets[n_train + 2:]
    else:
        raise ConfigError(f"unknown split method {method!r} (expected one of "
                          f"{', '.join(SPLIT_METHODS)})")
    if frames is not None:
        train, test = _within_shots(train, test, frames, n_frames)
    if len(train) == 0 or len(test) == 0:
        raise ConfigError(
            f"{n_frames} frames give {len(train)} training and {len(test)} test targets "
            f"with test_fraction={test_fraction} and the {method} split; use more frames")
    return Split(np.sort(train), np.sort(test))


def _within_shots(train: np.ndarray, test: np.ndarray, frames: np.ndarray,
                  n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``train`` and ``test`` without the targets whose triplet spans a cut or a flat frame."""
    from .shots import summarize_shots, usable_targets

    if len(frames) != n_frames:
        raise ConfigError(f"split_targets: {len(frames)} frames given for n_frames={n_frames}")
    shots = summarize_shots(frames)
    cuts = np.asarray(shots.cuts, dtype=np.int64)
    flat = np.zeros(n_frames, dtype=bool)
    flat[list(shots.flat)] = True
    return (train[usable_targets(train, n_frames, cuts, flat)],
            test[usable_targets(test, n_frames, cuts, flat)])


def _interleaved(targets: np.ndarray, test_fraction: float, seed: int,
                 block: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ConfigError(f"split block={block!r}: must be a positive integer")
    size = max(2, min(int(block), len(targets) // 10))
    blocks = np.arange(len(targets)) // size
    n_blocks = int(blocks[-1]) + 1
    n_test = min(n_blocks - 1, math.ceil(test_fraction * n_blocks))
    if n_test < 1:
        return targets, targets[:0]
    test_blocks = np.random.default_rng(seed).permutation(n_blocks)[:n_test]
    is_test = np.isin(blocks, test_blocks)
    test = targets[is_test]
    near_test = np.zeros(len(targets), dtype=bool)
    near_test[1:] |= is_test[:-1]
    near_test[:-1] |= is_test[1:]
    train = targets[~is_test & ~near_test]
    return train, test


def leaked_test_targets(split: Split) -> np.ndarray:
    """Test targets that are an input or a target of some training example of any of
    the four models (their inputs are t-1 and/or t+1).  Empty for the interleaved and
    blocked splits; the paper's random split of overlapping triplets leaks most of
    them.  Pair splits (the authors' code) never overlap, so nothing leaks."""
    if split.unit == "pair":
        return np.array([], dtype=np.int64)
    seen = np.union1d(split.train, np.union1d(split.train - 1, split.train + 1))
    return np.intersect1d(split.test, seen)


def fillnet_pair_split(n_frames: int, *, test_fraction: float = 0.3) -> Split:
    """The authors' split: non-overlapping pairs (2i, 2i+1), 70/30 over pair indices.

    As scikit-learn's ``train_test_split(test_size=0.3, random_state=42)`` (shuffled):
    the first ``ceil(0.3 n)`` of ``RandomState(42).permutation(n)`` test, the rest
    train.  The seed is fixed, as in their code; ``tests/test_compat.py`` checks the
    indices against scikit-learn itself.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction={test_fraction}: must be between 0 and 1")
    n_pairs = n_frames // 2
    n_test = math.ceil(test_fraction * n_pairs)
    if n_pairs - n_test < 1 or n_test < 1:
        raise ConfigError(f"{n_frames} frames make {n_pairs} pairs: too few for a "
                          f"{1 - test_fraction:.0%}/{test_fraction:.0%} split; use more frames")
    order = np.random.RandomState(FILLNET_RANDOM_STATE).permutation(n_pairs)
    return Split(np.sort(order[n_test:]), np.sort(order[:n_test]), unit="pair")


def examples_at(offsets: tuple[int, ...], anchors: np.ndarray, n_frames: int,
                unit: str = "target") -> Examples:
    """Examples whose inputs are ``target + offsets``, dropping any that leave the clip.

    ``unit="target"``: ``anchors`` are the target frames.  ``unit="pair"``: anchors are
    pair indices i; as in the authors' code, a model that looks back (some offset < 0)
    predicts the odd frame 2i+1, one that looks ahead the even frame 2i — so Forward
    maps 2i -> 2i+1, Backward 2i+1 -> 2i, Bi-Directional (2i, 2i+2) -> 2i+1.
    """
    offs = np.asarray(offsets, dtype=np.int64)
    anchors = np.asarray(anchors, dtype=np.int64)
    if unit == "pair":
        targets = 2 * anchors + (1 if offs.min() < 0 else 0)
    elif unit == "target":
        targets = anchors
    else:
        raise ConfigError(f"unknown split unit {unit!r} (expected target or pair)")
    inputs = targets[:, None] + offs[None, :]
    inside = (inputs >= 0).all(axis=1) & (inputs < n_frames).all(axis=1) & (targets < n_frames)
    return Examples(inputs[inside], targets[inside])
