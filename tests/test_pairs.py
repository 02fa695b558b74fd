"""Tests for blurutils.pairs: targets, examples per direction, and the 70/30 split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from blurutils.errors import ConfigError
from blurutils.pairs import Examples, examples_for, split_targets, target_frames

DIRECTIONS = ("forward", "backward", "bidirectional")


def frames_used(direction: str, targets: np.ndarray) -> set[int]:
    """Every frame index a set of examples touches (inputs and targets)."""
    ex = examples_for(direction, targets)
    return set(ex.inputs.ravel().tolist()) | set(ex.targets.tolist())


# --------------------------------------------------------------------------- targets, examples

def test_target_frames_have_both_neighbours() -> None:
    np.testing.assert_array_equal(target_frames(3), [1])
    np.testing.assert_array_equal(target_frames(10), np.arange(1, 9))
    assert target_frames(132).dtype == np.int64 and len(target_frames(132)) == 130


@pytest.mark.parametrize("n", [0, 1, 2, -4])
def test_target_frames_too_few(n: int) -> None:
    with pytest.raises(ConfigError, match=f"n_frames={n}"):
        target_frames(n)


def test_examples_forward() -> None:
    ex = examples_for("forward", np.array([1, 5, 8]))
    assert isinstance(ex, Examples) and len(ex) == 3
    assert ex.inputs.shape == (3, 1) and ex.inputs.dtype == np.int64
    np.testing.assert_array_equal(ex.inputs[:, 0], [0, 4, 7])
    np.testing.assert_array_equal(ex.targets, [1, 5, 8])


def test_examples_backward() -> None:
    ex = examples_for("backward", [1, 5, 8])
    assert ex.inputs.shape == (3, 1)
    np.testing.assert_array_equal(ex.inputs[:, 0], [2, 6, 9])
    np.testing.assert_array_equal(ex.targets, [1, 5, 8])


def test_examples_bidirectional() -> None:
    ex = examples_for("bidirectional", np.array([1, 5, 8]))
    assert ex.inputs.shape == (3, 2)
    np.testing.assert_array_equal(ex.inputs, [[0, 2], [4, 6], [7, 9]])  # (t-1, t+1)
    np.testing.assert_array_equal(ex.targets, [1, 5, 8])


def test_examples_stay_inside_the_video() -> None:
    n = 20
    for direction in DIRECTIONS:
        ex = examples_for(direction, target_frames(n))
        assert ex.inputs.min() >= 0 and ex.inputs.max() <= n - 1
        assert (ex.inputs != ex.targets[:, None]).all()  # never its own target
        assert (np.abs(ex.inputs - ex.targets[:, None]) == 1).all()  # direct neighbours


def test_examples_subset() -> None:
    ex = examples_for("bidirectional", target_frames(10))
    sub = ex.subset(np.array([0, 3]))
    np.testing.assert_array_equal(sub.targets, [1, 4])
    np.testing.assert_array_equal(sub.inputs, [[0, 2], [3, 5]])


@pytest.mark.parametrize("direction", ["sideways", "Forward", "", "convolutional"])
def test_unknown_direction(direction: str) -> None:
    with pytest.raises(ConfigError, match="unknown direction"):
        examples_for(direction, np.array([1, 2]))


# --------------------------------------------------------------------------- random split

@pytest.mark.parametrize("n_frames", [5, 12, 100, 132, 1002])
def test_random_split_sizes_and_partition(n_frames: int) -> None:
    split = split_targets(n_frames, seed=3, method="random")
    targets = target_frames(n_frames)
    n = len(targets)
    assert len(split.test) == math.ceil(0.3 * n)
    assert len(split.train) == n - math.ceil(0.3 * n)
    assert not set(split.train.tolist()) & set(split.test.tolist())
    np.testing.assert_array_equal(np.sort(np.concatenate([split.train, split.test])), targets)
    assert (np.diff(split.train) > 0).all() and (np.diff(split.test) > 0).all()


def test_random_split_other_fraction() -> None:
    split = split_targets(102, test_fraction=0.25, seed=0, method="random")
    assert len(split.test) == 25 and len(split.train) == 75


def test_random_split_seeded() -> None:
    a = split_targets(200, seed=42, method="random")
    b = split_targets(200, seed=42, method="random")
    c = split_targets(200, seed=43, method="random")
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)
    # It is shuffled, not just the last 30%.
    assert not np.array_equal(a.test, target_frames(200)[-len(a.test):])


# --------------------------------------------------------------------------- blocked split

@pytest.mark.parametrize("n_frames", [12, 100, 132, 1000])
def test_blocked_split_has_no_leakage(n_frames: int) -> None:
    split = split_targets(n_frames, method="blocked")
    train, test = split.train, split.test
    targets = target_frames(n_frames)
    # Contiguous blocks: train at the start, test at the end, train before test.
    np.testing.assert_array_equal(train, np.arange(train[0], train[-1] + 1))
    np.testing.assert_array_equal(test, np.arange(test[0], test[-1] + 1))
    assert train[0] == targets[0] and test[-1] == targets[-1]
    assert train[-1] < test[0]
    # 70% train; the last 30% test, less the two boundary targets left out as a gap.
    n_test = math.ceil(0.3 * len(targets))
    assert len(train) == len(targets) - n_test
    assert len(test) == n_test - 2 and test[0] == train[-1] + 3
    for direction in DIRECTIONS:
        train_frames = frames_used(direction, train)
        test_frames = frames_used(direction, test)
        # No test target is a training input or target, in any direction ...
        assert not set(test.tolist()) & train_frames
        # ... and no training target is a test input: the two sets share no frame.
        assert not set(train.tolist()) & test_frames
        assert not train_frames & test_frames


def test_blocked_split_is_deterministic_and_ignores_seed() -> None:
    a = split_targets(100, method="blocked", seed=0)
    b = split_targets(100, method="blocked", seed=9)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("n_frames, method", [(2, "random"), (3, "random"), (3, "blocked"),
                                              (4, "blocked"), (5, "blocked")])
def test_too_few_frames(n_frames: int, method: str) -> None:
    with pytest.raises(ConfigError):
        split_targets(n_frames, method=method)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_bad_test_fraction(fraction: float) -> None:
    with pytest.raises(ConfigError, match="test_fraction"):
        split_targets(100, test_fraction=fraction)


def test_unknown_method() -> None:
    with pytest.raises(ConfigError, match="unknown split method"):
        split_targets(100, method="stratified")


def test_config_error_is_value_error() -> None:
    with pytest.raises(ValueError):
        split_targets(100, method="nope")


# --------------------------------------------------------------------------- leakage

def _inputs_and_targets_of_training(split, n_frames):
    """Every frame a training example of any model touches, computed from the examples
    themselves (not from leaked_test_targets)."""
    from blurutils.pairs import DIRECTION_OFFSETS, examples_at

    touched = set()
    for offsets in DIRECTION_OFFSETS.values():
        ex = examples_at(offsets, split.train, n_frames, split.unit)
        touched |= set(ex.inputs.ravel().tolist()) | set(ex.targets.tolist())
    return touched


@pytest.mark.parametrize("n_frames", [16, 40, 132, 1000, 3001])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_interleaved_split_leaks_nothing(n_frames, seed):
    from blurutils.pairs import leaked_test_targets

    split = split_targets(n_frames, seed=seed)  # the default method
    touched = _inputs_and_targets_of_training(split, n_frames)
    assert not touched & set(split.test.tolist())
    assert len(leaked_test_targets(split)) == 0
    assert len(np.intersect1d(split.train, split.test)) == 0
    n_targets = n_frames - 2
    if n_frames >= 100:  # whole blocks: short clips round the 30% coarsely
        assert 0.25 <= len(split.test) / n_targets <= 0.36
    # test targets come from all over the clip, not one end
    assert split.test.min() < 0.5 * n_frames < split.test.max()


def test_interleaved_split_depends_on_the_seed_and_is_reproducible():
    a, b = split_targets(1000, seed=0), split_targets(1000, seed=1)
    assert not np.array_equal(a.test, b.test)
    np.testing.assert_array_equal(a.test, split_targets(1000, seed=0).test)


def test_interleaved_blocks_are_contiguous_with_a_gap():
    split = split_targets(1000, seed=3, block=50)
    runs = np.split(split.test, np.where(np.diff(split.test) > 1)[0] + 1)
    assert {len(r) for r in runs} <= {50, 100, 150}  # whole blocks (adjacent ones merge)
    train = set(split.train.tolist())
    for run in runs:
        assert run[0] - 1 not in train and run[-1] + 1 not in train


def test_random_split_leaks_and_is_counted():
    from blurutils.pairs import leaked_test_targets

    split = split_targets(132, method="random")
    leaked = leaked_test_targets(split)
    touched = _inputs_and_targets_of_training(split, 132)
    assert set(leaked.tolist()) == touched & set(split.test.tolist())
    assert len(leaked) > len(split.test) // 2


def test_bad_block_size_is_a_config_error():
    with pytest.raises(ConfigError, match="block"):
        split_targets(100, block=0)


def _two_shots(n_first: int, n_second: int, flat_at: int | None = None) -> np.ndarray:
    """A clip of two shots (a dark textured one, then a bright one), optionally with
    one flat frame."""
    rng = np.random.default_rng(0)
    first = rng.integers(0, 120, (n_first, 20, 40), dtype=np.uint8)
    second = rng.integers(136, 256, (n_second, 20, 40), dtype=np.uint8)
    frames = np.concatenate([first, second])
    if flat_at is not None:
        frames[flat_at] = 128
    return frames


def test_given_the_frames_no_target_spans_a_cut_or_a_flat_frame():
    frames = _two_shots(60, 60, flat_at=90)           # a cut at 60, a flat frame at 90
    plain = split_targets(len(frames), seed=1)
    within = split_targets(len(frames), seed=1, frames=frames)
    for name in ("train", "test"):
        kept, every = getattr(within, name), getattr(plain, name)
        assert set(kept) <= set(every)                  # only removes targets
        dropped = set(every) - set(kept)
        assert dropped <= {59, 60, 89, 90, 91}          # those whose triplet crosses them
        assert not {59, 60, 89, 90, 91} & set(kept)
    assert len(plain.train) + len(plain.test) - len(within.train) - len(within.test) == \
        len({59, 60, 89, 90, 91} & (set(plain.train) | set(plain.test)))


def test_frames_of_another_length_are_refused():
    with pytest.raises(ConfigError, match="50 frames given for n_frames=120"):
        split_targets(120, frames=_two_shots(25, 25))
