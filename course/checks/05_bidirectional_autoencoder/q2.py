"""05_bidirectional_autoencoder, Exercise 2 (take the contrast out): ``mean_rbf_with_truths_contrast(pred, truth)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


def _smooth(seed, shape=(12, 16)):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / 7.0
    image = 0.5 + 0.3 * np.sin(2 * x + seed) * np.cos(1.5 * y) + 0.05 * rng.standard_normal(shape)
    return np.clip(image, 0, 1)


def _pair():
    import numpy as np

    pred = np.stack([0.5 + 0.5 * (_smooth(s) - 0.5) for s in (3, 4)])   # half the contrast
    truth = np.stack([_smooth(s) for s in (5, 6)])
    return pred, truth


@test_case(name="q2: one number, the mean RBF after matching the contrast")
def test_value(mean_rbf_with_truths_contrast):
    import numpy as np

    assert callable(mean_rbf_with_truths_contrast), \
        "mean_rbf_with_truths_contrast is not defined: run the exercise cell first"
    got = mean_rbf_with_truths_contrast(*_pair())
    assert np.ndim(got) == 0, f"returned {got!r}: expected one number, the mean over the frames"
    assert np.isclose(float(got), 0.0586927, rtol=1e-4), f"mean RBF {float(got):.6f}, expected 0.058693"


@test_case(name="q2: contrast alone does not change it")
def test_contrast_free(mean_rbf_with_truths_contrast):
    import numpy as np

    pred, truth = _pair()
    a = mean_rbf_with_truths_contrast(pred, truth)
    b = mean_rbf_with_truths_contrast(0.5 + 1.8 * (pred - 0.5), truth)
    assert np.isclose(float(a), float(b), rtol=1e-6), \
        "rescaling the predictions' contrast changed the result: match_contrast should remove it"


@test_case(name="q2: other frames", hidden=True)
def test_other_frames(mean_rbf_with_truths_contrast):
    import numpy as np
    from blurutils.metrics import match_contrast, relative_blur_factor

    pred = np.stack([_smooth(s, (20, 24)) for s in (7, 8, 9)]).astype("float32")
    truth = np.stack([_smooth(s, (20, 24)) for s in (10, 11, 12)]).astype("float32")
    expected = float(np.mean(relative_blur_factor(match_contrast(pred, truth), truth)))
    assert np.isclose(float(mean_rbf_with_truths_contrast(pred, truth)), expected, rtol=1e-5)
