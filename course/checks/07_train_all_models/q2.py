"""07_train_all_models, Exercise 2 (the lowest loss, within each loss): ``lowest_final_loss_per_loss()``.

The tests swap the notebook's ``result`` for a small made-up study (six runs) while they run.
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


#: (model, loss) -> (test loss per epoch, mean PSNR)
RUNS = {("Forward", "MSE"): ([0.5, 0.04], 20.5), ("Convolutional", "MSE"): ([0.3, 0.02], 24.25),
        ("Backward", "MSLE"): ([0.1, 0.015], 21.75), ("Convolutional", "MSLE"): ([0.02, 0.03], 23.5),
        ("Forward", "CP"): ([-0.5, -0.95], 11.0), ("Convolutional", "CP"): ([-0.97, -0.91], 9.5)}
#: loss -> (winning model, its mean PSNR); the lowest *final* test loss (CP is negative)
WINNERS = {"MSE": ("Convolutional", 24.25), "MSLE": ("Backward", 21.75), "CP": ("Forward", 11.0)}


def _result(runs):
    from types import SimpleNamespace

    import pandas as pd

    histories = {key: pd.DataFrame({"epoch": range(1, len(v) + 1), "loss": v, "val_loss": v})
                 for key, (v, _) in runs.items()}
    metrics = {key: pd.DataFrame({"psnr": [psnr - 1, psnr + 1], "bf_pred": [1.0, 2.0]})
               for key, (_, psnr) in runs.items()}
    return SimpleNamespace(histories=histories, metrics=metrics)


def _row(table, loss):
    """The row of ``loss``: by index or by any column that holds it."""
    if loss in list(table.index):
        return table.loc[loss]
    for column in table.columns:
        hits = table[table[column].astype(str) == loss]
        if len(hits) == 1:
            return hits.iloc[0]
    raise AssertionError(f"no row for the loss {loss!r} (in the index or a column)")


def _check(function, runs, winners):
    import numpy as np
    import pandas as pd

    with patched(function.__globals__, result=_result(runs)):
        table = function()
    assert isinstance(table, pd.DataFrame), f"returned {type(table).__name__}, not a DataFrame"
    assert len(table) == len(winners), f"{len(table)} rows, expected one per loss ({len(winners)})"
    for loss, (model, psnr) in winners.items():
        row = _row(table, loss)
        values = list(row.values)
        assert model in [str(v) for v in values], f"{loss}: expected the model {model!r} in its row, got {values}"
        numbers = [float(v) for v in values if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)]
        assert any(np.isclose(v, psnr, atol=1e-3) for v in numbers), \
            f"{loss}: expected that run's mean PSNR ({psnr}) in its row, got {values}"


@test_case(name="q2: one row per loss, the model with the lowest final test loss and its PSNR")
def test_winners(lowest_final_loss_per_loss):
    assert callable(lowest_final_loss_per_loss), "lowest_final_loss_per_loss is not defined: run the exercise cell first"
    _check(lowest_final_loss_per_loss, RUNS, WINNERS)


@test_case(name="q2: another study", hidden=True)
def test_other(lowest_final_loss_per_loss):
    runs = {("Forward", "MSE"): ([0.5, 0.01], 30.5), ("Convolutional", "MSE"): ([0.005, 0.02], 24.25),
            ("Bi-Directional", "MSE"): ([0.3, 0.015], 28.0)}
    _check(lowest_final_loss_per_loss, runs, {"MSE": ("Forward", 30.5)})
