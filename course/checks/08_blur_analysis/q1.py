"""08_blur_analysis, Exercise 1 (OpenCV's default border): ``bf_opencv_default(image)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 1


def _smooth(seed, shape=(20, 30)):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / 7.0
    image = 0.5 + 0.3 * np.sin(2 * x + seed) * np.cos(1.5 * y) + 0.05 * rng.standard_normal(shape)
    return np.clip(image, 0, 1)


@test_case(name="q1: a uint8 frame, measured on its [0, 1] version")
def test_uint8(bf_opencv_default):
    import numpy as np

    assert callable(bf_opencv_default), "bf_opencv_default is not defined: run the exercise cell first"
    frame = (_smooth(1) * 255).round().astype(np.uint8)
    got = float(bf_opencv_default(frame))
    assert np.isclose(got, 20.968090, rtol=1e-5), (
        f"BF {got:.6g}, expected 20.9681: 1 / variance of cv2.Laplacian(unit, cv2.CV_64F, ksize=1) "
        "with the default border, on the frame divided by 255")


@test_case(name="q1: close to blur_factor, but not equal")
def test_border_matters(bf_opencv_default):
    import numpy as np
    from blurutils.metrics import blur_factor

    frame = (_smooth(1) * 255).round().astype(np.uint8)
    ours, theirs = blur_factor(frame), float(bf_opencv_default(frame))
    assert theirs != ours and abs(theirs / ours - 1) < 0.2, \
        f"{theirs:.4g} vs blur_factor's {ours:.4g}: only the border pixels should differ"


@test_case(name="q1: another frame", hidden=True)
def test_other(bf_opencv_default):
    import cv2
    import numpy as np

    frame = (_smooth(5, (36, 48)) * 255).round().astype(np.uint8)
    unit = frame.astype(np.float64) / 255
    assert np.isclose(float(bf_opencv_default(frame)), 1 / cv2.Laplacian(unit, cv2.CV_64F, ksize=1).var(), rtol=1e-5)
