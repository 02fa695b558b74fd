"""09_beyond_the_paper, Exercise 2 (contrast can hide blur): ``three_rbfs(truth)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


def _smooth(seed, shape=(24, 32)):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / 7.0
    image = 0.5 + 0.3 * np.sin(2 * x + seed) * np.cos(1.5 * y) + 0.05 * rng.standard_normal(shape)
    return np.clip(image, 0, 1).astype("float32")


@test_case(name="q2: blurred, stretched, matched")
def test_values(three_rbfs):
    import numpy as np

    assert callable(three_rbfs), "three_rbfs is not defined: run the exercise cell first"
    got = [float(v) for v in three_rbfs(_smooth(2))]
    assert len(got) == 3, f"returned {len(got)} values, expected three RBFs"
    expected = [85.3684, 37.3860, 66.2182]
    assert np.allclose(got, expected, rtol=1e-3), \
        f"RBFs {np.round(got, 4).tolist()}, expected about {expected} (sigma 1; contrast x1.5 around the mean; match_contrast)"


@test_case(name="q2: more contrast looks sharper")
def test_contrast_hides_blur(three_rbfs):
    blurred, stretched, matched = [float(v) for v in three_rbfs(_smooth(3))]
    assert 0 < stretched < blurred, "stretching the contrast should lower the RBF of the blurred frame"
    assert matched > stretched, "matching the truth's contrast should raise it again"


@test_case(name="q2: another frame", hidden=True)
def test_other(three_rbfs):
    import cv2
    import numpy as np
    from blurutils.metrics import match_contrast, relative_blur_factor

    truth = _smooth(4, (30, 40))
    soft = cv2.GaussianBlur(truth, (0, 0), 1.0)
    stretched = 1.5 * (soft - soft.mean()) + soft.mean()
    expected = [relative_blur_factor(i, truth) for i in (soft, stretched, match_contrast(stretched, truth))]
    assert np.allclose([float(v) for v in three_rbfs(truth)], expected, rtol=1e-4)
