"""08_blur_analysis, Exercise 2 (Table 1 the authors' way): ``mean_bf_both_layouts(images)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


def _smooth(seed, shape):
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / 7.0
    image = 0.5 + 0.3 * np.sin(2 * x + seed) * np.cos(1.5 * y) + 0.05 * rng.standard_normal(shape)
    return np.clip(image, 0, 1)


@test_case(name="q2: (true layout, reshaped to (w, h))")
def test_values(mean_bf_both_layouts):
    import numpy as np

    assert callable(mean_bf_both_layouts), "mean_bf_both_layouts is not defined: run the exercise cell first"
    images = np.stack([_smooth(seed, (12, 20)) for seed in range(3)])
    got = tuple(float(v) for v in mean_bf_both_layouts(images))
    assert len(got) == 2, f"returned {len(got)} values, expected two"
    assert np.isclose(got[0], 22.240977, rtol=1e-5), f"true layout: mean BF {got[0]:.6g}, expected 22.241"
    assert np.isclose(got[1], 3.779195, rtol=1e-5), \
        f"reshaped: mean BF {got[1]:.6g}, expected 3.7792 (each (12, 20) frame reshaped to (20, 12))"


@test_case(name="q2: another batch", hidden=True)
def test_other(mean_bf_both_layouts):
    import numpy as np
    from blurutils.metrics import blur_factor

    images = (np.stack([_smooth(seed, (16, 24)) for seed in (4, 5)]) * 255).round().astype(np.uint8)
    n, height, width = images.shape
    expected = (blur_factor(images).mean(), blur_factor(images.reshape(n, width, height)).mean())
    assert np.allclose([float(v) for v in mean_bf_both_layouts(images)], expected)
