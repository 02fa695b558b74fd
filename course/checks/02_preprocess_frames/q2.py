"""02_preprocess_frames, Exercise 2 (the blocked split): ``blocked_split(n_frames)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


@test_case(name="q2: the sample clip's 132 frames")
def test_sample(blocked_split):
    assert callable(blocked_split), "blocked_split is not defined: run the exercise cell first"
    split = blocked_split(132)
    assert (len(split.train), len(split.test)) == (91, 37), (
        f"blocked_split(132): {len(split.train)} train + {len(split.test)} test targets, "
        "expected 91 + 37 (split_targets(..., method='blocked'), 70/30)")


@test_case(name="q2: training targets come first, test targets last")
def test_blocked(blocked_split):
    split = blocked_split(132)
    assert max(split.train) < min(split.test), "the blocked split trains on the start of the clip and tests on its end"


@test_case(name="q2: the package's blocked split", hidden=True)
def test_same_as_package(blocked_split):
    import numpy as np
    from blurutils.pairs import split_targets

    for n_frames in (40, 132, 500):
        ours, theirs = blocked_split(n_frames), split_targets(n_frames, test_fraction=0.3, seed=0, method="blocked")
        assert np.array_equal(ours.train, theirs.train) and np.array_equal(ours.test, theirs.test), n_frames
