"""09_beyond_the_paper, Exercise 3 (rank the methods): ``rankings()``.

The tests swap the notebook's ``result`` for one with a small made-up ``table3`` while they run.
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


def _ranked(function, rows):
    import pandas as pd
    from types import SimpleNamespace

    table3 = pd.DataFrame([dict(method=m, kind="k", abs_rbf_mean=a, rbf_mean=-a, psnr_mean=p) for m, a, p in rows])
    with patched(function.__globals__, result=SimpleNamespace(table3=table3)):
        ranked = function()
    assert isinstance(ranked, pd.DataFrame), f"returned {type(ranked).__name__}, not a DataFrame"
    assert ranked.shape == (len(rows), 2), f"shape {ranked.shape}, expected {(len(rows), 2)}: two rankings side by side"
    return ranked.iloc[:, 0].tolist(), ranked.iloc[:, 1].tolist()


ROWS = [("Copy previous", 0.01, 25.0), ("Optical flow", 0.2, 31.0), ("Convolutional MLAE - MSE", 14.0, 27.0),
        ("Linear blend", 0.5, 29.5)]


@test_case(name="q3: first column by mean |RBF|, smallest first")
def test_by_blur(rankings):
    assert callable(rankings), "rankings is not defined: run the exercise cell first"
    by_blur, _ = _ranked(rankings, ROWS)
    expected = ["Copy previous", "Optical flow", "Linear blend", "Convolutional MLAE - MSE"]
    assert by_blur == expected, f"first column {by_blur}, expected {expected}"


@test_case(name="q3: second column by mean PSNR, largest first")
def test_by_psnr(rankings):
    _, by_psnr = _ranked(rankings, ROWS)
    expected = ["Optical flow", "Linear blend", "Convolutional MLAE - MSE", "Copy previous"]
    assert by_psnr == expected, f"second column {by_psnr}, expected {expected}"


@test_case(name="q3: another table", hidden=True)
def test_other(rankings):
    by_blur, by_psnr = _ranked(rankings, [("a", 3.0, 10.0), ("b", 1.0, 5.0), ("c", 2.0, 20.0)])
    assert by_blur == ["b", "c", "a"] and by_psnr == ["c", "a", "b"]
