"""02_preprocess_frames, Exercise 3 (every other frame): ``n_triplets(n_frames)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q3"
points = 1


@test_case(name="q3: a target needs a neighbour on both sides")
def test_counts(n_triplets):
    assert callable(n_triplets), "n_triplets is not defined: run the exercise cell first"
    for n_frames, expected in [(3, 1), (66, 64), (132, 130)]:
        got = n_triplets(n_frames)
        assert got == expected, f"n_triplets({n_frames}) = {got!r}, expected {expected}"


@test_case(name="q3: clips too short for a triplet")
def test_short_clips(n_triplets):
    for n_frames in (0, 1, 2):
        assert n_triplets(n_frames) == 0, f"n_triplets({n_frames}) = {n_triplets(n_frames)!r}, expected 0"


@test_case(name="q3: the package agrees", hidden=True)
def test_package(n_triplets):
    from blurutils.pairs import target_frames

    for n_frames in range(3, 300, 7):
        assert n_triplets(n_frames) == len(target_frames(n_frames)), n_frames
