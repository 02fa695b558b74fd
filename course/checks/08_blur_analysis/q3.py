"""08_blur_analysis, Exercise 3 (mean or median?): ``mean_over_median()``.

The tests swap the notebook's ``result`` for one with a small made-up ``table1`` while they run.
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


def _table1(rows):
    import pandas as pd

    return pd.DataFrame([dict(paper_row=r, model=r.split()[0], loss=r.split()[-1], mean=m, median=md,
                              std=s, n=40) for r, m, md, s in rows])


ROWS = [("Forward MLAE - MSE", 10.0, 8.0, 2.0), ("Forward MLAE - CP", 4.0, 4.0, 0.5),
        ("Convolutional MLAE - MSE", 120.0, 40.0, 300.0), ("Convolutional MLAE - CP", 50.0, 62.5, 20.0)]


def _ordered(function, rows):
    import pandas as pd
    from types import SimpleNamespace

    with patched(function.__globals__, result=SimpleNamespace(table1=_table1(rows))):
        table = function()
    assert isinstance(table, pd.DataFrame), f"returned {type(table).__name__}, not a DataFrame"
    labels = table["paper_row"].tolist() if "paper_row" in table.columns else [str(i) for i in table.index]
    return table, labels


@test_case(name="q3: sorted by mean / median, largest first")
def test_order(mean_over_median):
    assert callable(mean_over_median), "mean_over_median is not defined: run the exercise cell first"
    table, labels = _ordered(mean_over_median, ROWS)
    expected = ["Convolutional MLAE - MSE", "Forward MLAE - MSE", "Forward MLAE - CP", "Convolutional MLAE - CP"]
    assert labels == expected, f"rows in the order {labels}; expected {expected} (mean / median, descending)"


@test_case(name="q3: the ratio is a column")
def test_ratio(mean_over_median):
    import numpy as np

    table, labels = _ordered(mean_over_median, ROWS)
    ratios = np.array([3.0, 1.25, 1.0, 0.8])
    found = [c for c in table.columns
             if np.issubdtype(table[c].dtype, np.number) and np.allclose(table[c].to_numpy(float), ratios, atol=1e-3)]
    assert found, "no column holds mean / median for each run"


@test_case(name="q3: another table", hidden=True)
def test_other(mean_over_median):
    rows = [("a x", 1.0, 2.0, 0.1), ("b y", 9.0, 3.0, 1.0), ("c z", 5.0, 5.0, 1.0)]
    table, labels = _ordered(mean_over_median, rows)
    assert labels == ["b y", "c z", "a x"]
