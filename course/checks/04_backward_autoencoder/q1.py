"""04_backward_autoencoder, Exercise 1 (MSE for the Backward model): ``short_run(loss)``.

The tests train on a tiny stand-in for the clip (20 frames of 28x32 pixels): the notebook's
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

    frames = np.random.default_rng(4).integers(0, 256, (20, 28, 32), dtype=np.uint8)
    split = split_targets(len(frames), test_fraction=0.3, seed=0)
    train, test = examples_for("backward", split.train), examples_for("backward", split.test)
    config = RunConfig(model="Backward", loss="MSLE", epochs=10, batch_size=64, seed=0,
                       data_fingerprint=data_fingerprint(frames, split.train, split.test))
    out = Path(tempfile.mkdtemp(prefix="q1-"))
    try:
        with patched(function.__globals__, frames=frames, split=split, train=train, test=test,
                     truth=frames[test.targets], config=config, OUT=out, EXERCISE_EPOCHS=1):
            yield out, test, frames[test.targets]
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _runs(out):
    import json

    return [json.loads(path.read_text()) for path in sorted(out.rglob("run.json"))]


#: function -> (loss -> (metrics, runs, test, truth)): one training per loss for all test cases
_DONE = {}


def _short_run(function, loss):
    done = _DONE.setdefault(function, {})
    if loss not in done:
        with tiny_world(function) as (out, test, truth):
            done[loss] = (function(loss), _runs(out), test, truth)
    return done[loss]


@test_case(name="q1: per-frame metrics of the test frames")
def test_metrics(short_run):
    import pandas as pd

    assert callable(short_run), "short_run is not defined: run the exercise cell first"
    metrics, runs, test, truth = _short_run(short_run, "MSE")
    assert isinstance(metrics, pd.DataFrame), f"short_run() returned {type(metrics).__name__}, not frame_metrics' DataFrame"
    assert len(metrics) == len(test), f"{len(metrics)} rows, expected one per test frame ({len(test)})"
    missing = {"bf_pred", "rbf", "psnr"} - set(metrics.columns)
    assert not missing, f"no {sorted(missing)} columns: use frame_metrics(pred, truth, test.targets)"


@test_case(name="q1: a Backward-MSE run of EXERCISE_EPOCHS epochs, saved under OUT")
def test_run_saved(short_run):
    metrics, runs, test, truth = _short_run(short_run, "MSE")
    assert runs, "no run saved under OUT: pass train_run a folder inside OUT / 'exercises'"
    run = runs[-1]
    assert (run["model"], run["loss"], run["epochs"]) == ("Backward", "MSE", 1), \
        f"the saved run is {run['model']}-{run['loss']} for {run['epochs']} epochs; expected Backward-MSE for EXERCISE_EPOCHS (1 here)"
    assert run["status"] == "done"


@test_case(name="q1: compared with the true frames", hidden=True)
def test_truth(short_run):
    import numpy as np
    from blurutils.metrics import blur_factor

    metrics, runs, test, truth = _short_run(short_run, "MSE")
    assert np.allclose(metrics["bf_true"].to_numpy(), blur_factor(truth))
