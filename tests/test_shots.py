"""Shots: cuts, flat frames and the triplets the study keeps, on hand-built clips."""

from __future__ import annotations

import numpy as np
import pytest

from blurutils.config import make_config
from blurutils.pairs import leaked_test_targets, split_targets
from blurutils.shots import (ShotSummary, find_cuts, flat_frames, frame_differences,
                             summarize_shots, usable_targets)
from blurutils.study import study_split

H, W = 40, 80


def _texture(seed: int, mean: float) -> np.ndarray:
    """A wide random texture whose windows are shots: smooth blobs around ``mean``."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(mean, 40, size=(H // 4 + 1, 3 * W // 4 + 1))
    big = np.kron(coarse, np.ones((4, 4)))[:H, :3 * W]
    return np.clip(big, 0, 255)


def _pan(texture: np.ndarray, n: int, speed: int) -> list[np.ndarray]:
    return [texture[:, i * speed:i * speed + W].astype(np.uint8) for i in range(n)]


def clip() -> np.ndarray:
    """Shot A (slow pan, 12 frames) | cut | shot B (fast pan, 12) | 3 black | shot C."""
    a = _pan(_texture(1, 70), 12, 1)
    b = _pan(_texture(2, 180), 12, 8)   # fast action: large but steady differences
    black = [np.zeros((H, W), np.uint8)] * 3
    c = _pan(_texture(3, 120), 10, 1)
    return np.stack(a + b + black + c)


def test_cuts_are_found_where_shots_change_and_not_in_fast_action():
    frames = clip()
    diffs = frame_differences(frames)
    assert diffs[12:23].min() > 0.03  # the fast pan changes a lot between frames...
    cuts = find_cuts(frames)
    # ...but only a change of shot is a cut: A ends at frame 12 (B's fast pan has none)
    assert 12 in cuts and not any(13 <= c <= 23 for c in cuts), cuts


def test_flat_frames_are_the_black_ones():
    frames = clip()
    assert np.flatnonzero(flat_frames(frames)).tolist() == [24, 25, 26]


def test_frame_differences_match_a_direct_computation():
    frames = clip()
    direct = np.abs(np.diff(frames.astype(float), axis=0)).mean(axis=(1, 2)) / 255
    assert np.allclose(frame_differences(frames), direct)


def test_usable_targets_drop_triplets_across_a_cut_or_holding_a_flat_frame():
    n = 12
    flat = np.zeros(n, bool)
    flat[9] = True
    targets = np.arange(1, n - 1)
    keep = usable_targets(targets, n, cuts=np.array([5]), flat=flat)
    # A cut at 5 separates 4 from 5: the triplets of 4 (3,4,5) and 5 (4,5,6) span it;
    # frame 9 is flat: the triplets of 8, 9 and 10 hold it.
    assert targets[~keep].tolist() == [4, 5, 8, 9, 10]


def test_summary_counts_shots_and_flat_runs():
    summary = ShotSummary(n_frames=20, cuts=(5, 12), flat=(7, 8, 15))
    assert summary.n_shots == 3
    assert summary.shot_lengths().tolist() == [5, 7, 8]
    assert summary.flat_runs() == [(7, 8), (15, 15)]


def test_the_study_split_drops_broken_triplets_and_stays_leak_free():
    frames = np.concatenate([clip()] * 4)  # 148 frames, several cuts and black runs
    shots = summarize_shots(frames)
    config = make_config("smoke", seed=3)
    plain = split_targets(len(frames), seed=3)
    split = study_split(config, len(frames), frames)
    kept = np.union1d(split.train, split.test)
    dropped = np.setdiff1d(np.union1d(plain.train, plain.test), kept)
    assert len(dropped) > 0 and set(kept) <= set(plain.train) | set(plain.test)
    for t in kept:
        assert not ({t, t + 1} & set(shots.cuts)), t
        assert not ({t - 1, t, t + 1} & set(shots.flat)), t
    assert len(leaked_test_targets(split)) == 0
    paper_way = study_split(make_config("smoke", seed=3, keep_cuts=True), len(frames), frames)
    assert np.array_equal(paper_way.train, plain.train)
    assert np.array_equal(paper_way.test, plain.test)


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        find_cuts(np.zeros((3, 4, 4), np.float32))
