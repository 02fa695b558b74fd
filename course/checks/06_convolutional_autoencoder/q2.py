"""06_convolutional_autoencoder, Exercise 2 (train with the broken loss): ``weight_change(loss_fn)``.

The tests fit on two random 100x200 frames: the notebook's ``x_train`` and ``y_train`` are
swapped for them while a test runs, then restored.
"""

from contextlib import contextmanager

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


@contextmanager
def patched(namespace, **values):
    """Small stand-ins for some of the notebook's globals while a test runs."""
    saved = {key: namespace[key] for key in values if key in namespace}
    namespace.update(values)
    try:
        yield
    finally:
        for key in values:
            namespace.pop(key, None)
        namespace.update(saved)


def _tiny():
    import numpy as np

    frames = np.random.default_rng(7).uniform(0.05, 1.0, (3, 100, 200, 1)).astype("float32")
    return dict(x_train=frames[:2], y_train=frames[1:])


#: function -> (change with the last-axis loss, change with the whole-frame loss)
_DONE = {}


def _changes(function):
    from blurutils.losses import cosine_proximity, last_axis_cosine_proximity

    if function not in _DONE:
        with patched(function.__globals__, **_tiny()):
            _DONE[function] = (function(last_axis_cosine_proximity), function(cosine_proximity))
    return _DONE[function]


@test_case(name="q2: the whole-frame loss moves the weights, the last-axis one hardly")
def test_ratio(weight_change):
    import numpy as np

    assert callable(weight_change), "weight_change is not defined: run the exercise cell first"
    broken, right = _changes(weight_change)
    assert np.ndim(broken) == 0 and np.ndim(right) == 0, "weight_change() should return one number"
    assert float(right) > 1e-6, f"whole-frame CP: largest change {float(right):.1e}; one epoch should move some weight"
    assert float(broken) < float(right) / 100, \
        f"last-axis CP moved a weight by {float(broken):.1e}, the whole-frame CP by {float(right):.1e}: expected far less"


@test_case(name="q2: the same starting weights every time", hidden=True)
def test_seeded(weight_change):
    import numpy as np
    from blurutils.losses import cosine_proximity

    _, right = _changes(weight_change)
    with patched(weight_change.__globals__, **_tiny()):
        again = weight_change(cosine_proximity)
    assert np.isclose(float(again), float(right), rtol=1e-5)
