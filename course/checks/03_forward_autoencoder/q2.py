"""03_forward_autoencoder, Exercise 2 (the other two losses): ``train_with(loss, epochs)``.

The tests train on a tiny stand-in for the clip (12 frames of 12x16 pixels): the notebook's
``frames``, ``x_train`` and ``y_train`` are swapped for it while a test runs, then restored.
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

    frames = np.random.default_rng(3).integers(0, 256, (12, 12, 16), dtype=np.uint8)
    unit = (frames / 255).astype("float32")[..., None]
    return dict(frames=frames, x_train=unit[0:5], y_train=unit[1:6], x_test=unit[7:10], y_test=unit[8:11])


#: function -> the model it trained with "msle" for 2 epochs: one training for two test cases
_DONE = {}


def _trained(function):
    if function not in _DONE:
        with patched(function.__globals__, **_tiny()):
            _DONE[function] = function("msle", 2)
    return _DONE[function]


@test_case(name="q2: the Forward model, compiled with Adam and the loss")
def test_model_and_loss(train_with):
    import keras
    from blurutils.models import build_model

    assert callable(train_with), "train_with is not defined: run the exercise cell first"
    net = _trained(train_with)
    assert isinstance(net, keras.Model), f"train_with() returned {type(net).__name__}, not the trained keras.Model"
    expected = build_model("Forward", frame_shape=(12, 16)).count_params()
    assert net.count_params() == expected, \
        f"{net.count_params():,} parameters: expected your Forward model's {expected:,} for 12x16 frames"
    assert isinstance(net.optimizer, keras.optimizers.Adam), f"optimizer {type(net.optimizer).__name__}, not Adam"
    assert net.loss == "msle", f"compiled with loss {net.loss!r}, not the one passed in ('msle')"


@test_case(name="q2: trained for `epochs` epochs")
def test_epochs(train_with):
    steps = int(_trained(train_with).optimizer.iterations)
    assert steps == 2, f"{steps} optimiser steps on 5 training examples in 2 epochs: expected 2 (one batch per epoch)"


@test_case(name="q2: seeded: two runs give the same weights", hidden=True)
def test_seeded(train_with):
    import numpy as np
    from blurutils.losses import cosine_proximity

    with patched(train_with.__globals__, **_tiny()):
        first, second = train_with(cosine_proximity, 1), train_with(cosine_proximity, 1)
    assert first.loss is cosine_proximity
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(first.get_weights(), second.get_weights()))
