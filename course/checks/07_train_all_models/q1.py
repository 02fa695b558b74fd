"""07_train_all_models, Exercise 1 (run it again): ``rerun_and_count()``.

The tests never train: ``run_study`` is swapped for a stand-in that "retrains" one run of a
small fake study folder (it rewrites that run's ``model.keras``), and ``result`` and ``config``
for objects that point at that folder, while a test runs; all are restored after.
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
def fake_study(function, retrain=("Convolutional-MSE",)):
    import os
    import shutil
    import tempfile
    import time
    from pathlib import Path
    from types import SimpleNamespace

    out = Path(tempfile.mkdtemp(prefix="q1-"))
    for run in ("Forward-MSE", "Forward-CP", "Convolutional-MSE"):
        (out / "runs" / run).mkdir(parents=True)
        (out / "runs" / run / "model.keras").write_bytes(b"weights")
        os.utime(out / "runs" / run / "model.keras", ns=(1_000_000_000, 1_000_000_000))

    calls = []

    def run_study(config, *args, **kwargs):
        calls.append(config)
        time.sleep(0.05)
        for run in retrain:
            (out / "runs" / run / "model.keras").write_bytes(b"new weights")
        return result

    config = SimpleNamespace(out=out, name="a small study")
    result = SimpleNamespace(out=out, config=config, seconds=12.0)
    try:
        with patched(function.__globals__, run_study=run_study, result=result, config=config):
            yield calls
    finally:
        shutil.rmtree(out, ignore_errors=True)


@test_case(name="q1: runs the study again and times it")
def test_timed(rerun_and_count):
    assert callable(rerun_and_count), "rerun_and_count is not defined: run the exercise cell first"
    with fake_study(rerun_and_count) as calls:
        seconds, retrained = rerun_and_count()
    assert len(calls) == 1, f"run_study was called {len(calls)} times, expected once"
    assert 0.04 <= float(seconds) < 30, f"{seconds!r} seconds: time the second run_study(config) call"


@test_case(name="q1: names the runs whose model.keras changed")
def test_retrained(rerun_and_count):
    with fake_study(rerun_and_count):
        seconds, retrained = rerun_and_count()
    names = sorted(str(name) for name in retrained)
    assert names == ["Convolutional-MSE"], \
        f"retrained: {names}; expected ['Convolutional-MSE'] (the run folder's name) from the modification times"


@test_case(name="q1: nothing retrained", hidden=True)
def test_nothing(rerun_and_count):
    with fake_study(rerun_and_count, retrain=()):
        seconds, retrained = rerun_and_count()
    assert not list(retrained)
