"""00_overview, Exercise 2 (blur a frame and measure it): ``blur(image)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


def _frame():
    import numpy as np

    rng = np.random.default_rng(2)
    return rng.integers(0, 256, (30, 40), dtype=np.uint8)


@test_case(name="q2: a 7x7 Gaussian kernel with sigma 2")
def test_gaussian(blur):
    import cv2
    import numpy as np

    assert callable(blur), "blur is not defined: run the exercise cell first"
    frame = _frame()
    got = np.asarray(blur(frame))
    assert got.shape == frame.shape, f"blur() changed the shape: {got.shape}, not {frame.shape}"
    assert np.array_equal(got, cv2.GaussianBlur(frame, (7, 7), 2)), \
        "blur(frame) differs from cv2.GaussianBlur with a 7x7 kernel and sigma 2"


@test_case(name="q2: the blurred frame has the higher Blur Factor")
def test_blurrier(blur):
    from blurutils.metrics import blur_factor

    frame = _frame()
    assert blur_factor(blur(frame)) > blur_factor(frame), "the blurred frame should have the higher BF"


@test_case(name="q2: float frames too", hidden=True)
def test_float_frame(blur):
    import cv2
    import numpy as np

    frame = _frame().astype(np.float32) / 255
    assert np.allclose(blur(frame), cv2.GaussianBlur(frame, (7, 7), 2))
