"""05_bidirectional_autoencoder, Exercise 1 (MSE for the Bi-Directional model): ``train_short_mse()``.

The tests train on a tiny stand-in for the clip (20 frames of 12x16 pixels): the notebook's
``frames``, ``train``, ``test``, ``truth``, ``config``, ``OUT`` and ``EXERCISE_EPOCHS`` are
swapped for it while a test runs (runs go to a temporary folder), then restored.
"""

from contextlib import contextmanager

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
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


@contextmanager
def tiny_world(function):
    import shutil
    import tempfile
    from pathlib import Path

    import numpy as np
    from blurutils.pairs import examples_for, split_targets
    from blurutils.training import RunConfig, data_fingerprint

    frames = np.random.default_rng(5).integers(0, 256, (20, 12, 16), dtype=np.uint8)
    split = split_targets(len(frames), test_fraction=0.3, seed=0)
    train, test = examples_for("bidirectional", split.train), examples_for("bidirectional", split.test)
    config = RunConfig(model="Bi-Directional", loss="CP", epochs=10, batch_size=64, seed=0,
                       data_fingerprint=data_fingerprint(frames, split.train, split.test))
    out = Path(tempfile.mkdtemp(prefix="q1-"))
    try:
        with patched(function.__globals__, frames=frames, split=split, train=train, test=test,
                     truth=frames[test.targets], config=config, OUT=out, EXERCISE_EPOCHS=1):
            yield out, test
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _runs(out):
    import json

    return [json.loads(path.read_text()) for path in sorted(out.rglob("run.json"))]


#: function -> (predictions, runs, test): one training for all test cases
_DONE = {}


def _trained(function):
    if function not in _DONE:
        with tiny_world(function) as (out, test):
            _DONE[function] = (function(), _runs(out), test)
    return _DONE[function]


@test_case(name="q1: test predictions, (n, height, width) in [0, 1]")
def test_predictions(train_short_mse):
    import numpy as np

    assert callable(train_short_mse), "train_short_mse is not defined: run the exercise cell first"
    pred, runs, test = _trained(train_short_mse)
    pred = np.asarray(pred)
    assert pred.shape == (len(test), 12, 16), \
        f"predictions of shape {pred.shape}, expected {(len(test), 12, 16)}: predict(trained, frames, test)"
    assert pred.min() >= 0 and pred.max() <= 1, "predictions outside [0, 1]"


@test_case(name="q1: a Bi-Directional-MSE run of EXERCISE_EPOCHS epochs, saved under OUT")
def test_run_saved(train_short_mse):
    pred, runs, test = _trained(train_short_mse)
    assert runs, "no run saved under OUT: pass train_run a folder inside OUT / 'exercises'"
    run = runs[-1]
    assert (run["model"], run["loss"], run["epochs"]) == ("Bi-Directional", "MSE", 1), \
        f"the saved run is {run['model']}-{run['loss']} for {run['epochs']} epochs; expected Bi-Directional-MSE for EXERCISE_EPOCHS (1 here)"
    assert run["status"] == "done"
