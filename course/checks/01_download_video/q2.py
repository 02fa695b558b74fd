"""01_download_video, Exercise 2 (take part of a clip): ``expected_frames(start_s, end_s, step, fps=25)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


@test_case(name="q2: 1 s to 4 s, every third frame")
def test_example(expected_frames):
    assert callable(expected_frames), "expected_frames is not defined: run the exercise cell first"
    got = expected_frames(1.0, 4.0, 3)
    assert got == 25, f"expected_frames(1.0, 4.0, 3) = {got!r}: frames 25, 28, ..., 97 are 25 frames"


@test_case(name="q2: the frame at the end is not included")
def test_end_excluded(expected_frames):
    assert expected_frames(0.0, 1.0, 1) == 25, "0 s to 1 s at 25 fps: frames 0..24"
    assert expected_frames(0.0, 0.2, 5) == 1, "0 s to 0.2 s every 5th frame: frame 0 only"


@test_case(name="q2: other rates", hidden=True)
def test_other_rates(expected_frames):
    assert expected_frames(0.5, 2.0, 2, fps=30) == len(range(15, 60, 2))
    assert expected_frames(2.0, 2.0, 1) == 0
