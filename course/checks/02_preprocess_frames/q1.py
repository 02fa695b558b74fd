"""02_preprocess_frames, Exercise 1 (resize without cropping): ``squash(image)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 1


def _grey(height=180, width=320):
    """A smooth 16:9 grey frame with a bright disc in the middle."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    frame = 60 + 120 * x / width + 40 * np.sin(y / 9.0)
    frame[(x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 4) ** 2] = 250
    return frame.round().astype(np.uint8)


@test_case(name="q1: FRAME_HEIGHT x FRAME_WIDTH, uint8")
def test_shape(squash):
    import numpy as np
    from blurutils.frames import FRAME_HEIGHT, FRAME_WIDTH

    assert callable(squash), "squash is not defined: run the exercise cell first"
    got = np.asarray(squash(_grey()))
    assert got.shape == (FRAME_HEIGHT, FRAME_WIDTH), \
        f"squash() returned shape {got.shape}, expected {(FRAME_HEIGHT, FRAME_WIDTH)}"
    assert got.dtype == np.uint8, f"squash() returned {got.dtype}, expected uint8 like its input"


@test_case(name="q1: the whole frame, not a crop")
def test_not_cropped(squash):
    import cv2
    import numpy as np
    from blurutils.frames import FRAME_HEIGHT, FRAME_WIDTH

    grey = _grey()
    got = np.asarray(squash(grey)).astype(float)
    whole = cv2.resize(grey, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(got - whole).mean() < 3, \
        "squash() should resize the whole frame (no crop) to FRAME_WIDTH x FRAME_HEIGHT"


@test_case(name="q1: a full-HD frame", hidden=True)
def test_full_hd(squash):
    import cv2
    import numpy as np

    grey = _grey(1080, 1920)
    got = np.asarray(squash(grey)).astype(float)
    whole = cv2.resize(grey, (200, 100), interpolation=cv2.INTER_AREA).astype(float)
    assert got.shape == (100, 200) and np.abs(got - whole).mean() < 3
