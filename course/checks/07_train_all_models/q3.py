"""07_train_all_models, Exercise 3 (one run, frame by frame): ``scatter_bf(ax, model, loss)``.

The tests swap the notebook's ``result`` for a small made-up study while they run, and draw
on a figure of their own.
"""

from contextlib import contextmanager

from otter.test_files import test_case

OK_FORMAT = False
name = "q3"
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


def _draw(function, model="Forward", loss="MSE"):
    from types import SimpleNamespace

    import pandas as pd
    from matplotlib.figure import Figure

    metrics = {("Forward", "MSE"): pd.DataFrame({"frame": [5, 6, 7], "bf_true": [40.0, 55.0, 61.0],
                                                 "bf_pred": [900.0, 950.0, 1020.0]}),
               ("Convolutional", "MSE"): pd.DataFrame({"frame": [5, 6], "bf_true": [40.0, 55.0],
                                                       "bf_pred": [80.0, 70.0]})}
    ax = Figure().subplots()
    with patched(function.__globals__, result=SimpleNamespace(metrics=metrics)):
        function(ax, model, loss)
    return ax, metrics[(model, loss)]


def _points(ax):
    import numpy as np

    return [np.asarray(c.get_offsets(), dtype=float) for c in ax.collections if len(c.get_offsets())]


@test_case(name="q3: one point per test frame")
def test_points(scatter_bf):
    assert callable(scatter_bf), "scatter_bf is not defined: run the exercise cell first"
    ax, df = _draw(scatter_bf)
    points = _points(ax)
    assert len(points) == 1, f"{len(points)} scatter collections on the axes, expected one (ax.scatter)"
    assert len(points[0]) == len(df), f"{len(points[0])} points, expected one per test frame ({len(df)})"


@test_case(name="q3: x is the true frame's BF, y the prediction's")
def test_axes(scatter_bf):
    import numpy as np

    ax, df = _draw(scatter_bf, "Convolutional", "MSE")
    points = _points(ax)
    assert points and np.allclose(points[0], df[["bf_true", "bf_pred"]].to_numpy()), \
        "the points should be (bf_true, bf_pred) of the run's test frames"


@test_case(name="q3: labelled with the run, for the legend", hidden=True)
def test_label(scatter_bf):
    ax, df = _draw(scatter_bf)
    label = ax.collections[0].get_label()
    assert "Forward" in label and "MSE" in label
