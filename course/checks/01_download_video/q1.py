"""01_download_video, Exercise 1 (a different cartoon): ``blurred_count(n_frames, seed)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 1


@test_case(name="q1: the 60-frame clip with seed 1")
def test_seed_1(blurred_count):
    assert callable(blurred_count), "blurred_count is not defined: run the exercise cell first"
    got = blurred_count(60, seed=1)
    assert got == 4, f"blurred_count(60, seed=1) = {got!r}, expected 4 (synthetic_blur_schedule marks them)"


@test_case(name="q1: seed 0 and an int")
def test_seed_0(blurred_count):
    got = blurred_count(60, seed=0)
    assert got == 3 and isinstance(got, int), f"blurred_count(60, seed=0) = {got!r}, expected the int 3"


@test_case(name="q1: other clips", hidden=True)
def test_other_clips(blurred_count):
    from blurutils.synthetic import synthetic_blur_schedule

    for n_frames, seed in [(250, 3), (40, 7)]:
        assert blurred_count(n_frames, seed=seed) == int(synthetic_blur_schedule(n_frames, seed=seed).sum())
