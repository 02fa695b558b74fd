"""06_convolutional_autoencoder, Exercise 1 (Conv with the right Cosine Proximity): ``train_conv_cp()``.

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

    frames = np.random.default_rng(6).integers(0, 256, (20, 12, 16), dtype=np.uint8)
    split = split_targets(len(frames), test_fraction=0.3, seed=0)
    train, test = examples_for("forward", split.train), examples_for("forward", split.test)
    config = RunConfig(model="Convolutional", loss="MSE", epochs=10, batch_size=1, seed=0,
                       conv_filters=16, jit_compile=False, steps_per_execution=32,
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


#: function -> (returned value, runs, test): one training for all test cases
_DONE = {}


def _trained(function):
    if function not in _DONE:
        with tiny_world(function) as (out, test):
            _DONE[function] = (function(), _runs(out), test)
    return _DONE[function]


@test_case(name="q1: (history, predictions)")
def test_history_and_predictions(train_conv_cp):
    import numpy as np
    import pandas as pd

    assert callable(train_conv_cp), "train_conv_cp is not defined: run the exercise cell first"
    (history, pred), runs, test = _trained(train_conv_cp)
    assert isinstance(history, pd.DataFrame) and "loss" in history.columns, \
        "the first value should be the run's history.csv as a DataFrame (a 'loss' column)"
    assert len(history) == 1, f"{len(history)} epochs in the history, expected EXERCISE_EPOCHS (1 here)"
    pred = np.asarray(pred)
    assert pred.shape == (len(test), 12, 16), f"predictions of shape {pred.shape}, expected {(len(test), 12, 16)}"


@test_case(name="q1: a Convolutional-CP run (whole-frame CP), saved under OUT")
def test_run_saved(train_conv_cp):
    _, runs, test = _trained(train_conv_cp)
    assert runs, "no run saved under OUT: pass train_run a folder inside OUT / 'exercises'"
    run = runs[-1]
    assert (run["model"], run["loss"], run["epochs"]) == ("Convolutional", "CP", 1), \
        f"the saved run is {run['model']}-{run['loss']} for {run['epochs']} epochs; expected Convolutional-CP for EXERCISE_EPOCHS (1 here)"
    assert not run.get("cp_last_axis"), "the exercise asks for blurutils' whole-frame CP, not the last-axis one"
    assert run["status"] == "done"


@test_case(name="q1: batch size 1, as the paper's conv model", hidden=True)
def test_batch_size(train_conv_cp):
    _, runs, test = _trained(train_conv_cp)
    assert runs and runs[-1]["batch_size"] == 1
