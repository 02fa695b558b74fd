"""What notebooks 03-06 do with a model once it is trained, in one call.

Each of them predicts the test frames, shows a few beside the truth, measures every
prediction (Blur Factor, Relative Blur Factor, PSNR, SSIM:
:func:`blurutils.evaluation.frame_metrics`) and summarises the columns
(:func:`blurutils.metrics.summarize`).  Written out, that is
the same dozen lines in four notebooks; :func:`evaluate_model` is those lines, so each
notebook keeps only what it teaches.  The pieces stay public and the notebooks' exercises
still call them one by one.  The study does not use this module: it measures its runs
in :mod:`blurutils.study`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .evaluation import frame_metrics
from .metrics import summarize
from .pairs import Examples
from .viz import Predictions, show_predictions

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

#: The per-frame columns a lesson summarises, and the statistics its table shows.
SUMMARY_COLUMNS = ("bf_pred", "bf_true", "rbf", "psnr", "ssim")
SUMMARY_STATISTICS = ("mean", "std", "median", "min", "max", "n_inf")


@dataclass(frozen=True)
class ModelEvaluation:
    """A trained model's test predictions and their measures (:func:`evaluate_model`)."""

    name: str               # the run, e.g. "Forward-MSE"
    frames: np.ndarray      # the clip the examples index, uint8 (N, H, W)
    examples: Examples      # the test examples
    pred: np.ndarray        # predicted frames, float32 (n, H, W) in [0, 1]
    metrics: pd.DataFrame   # one row per test frame: frame_metrics(pred, truth, targets)

    @property
    def truth(self) -> np.ndarray:
        """The true test frames, uint8 (n, H, W), in the order of ``pred``."""
        return self.frames[self.examples.targets]

    @property
    def predictions(self) -> Predictions:
        """The predictions as :func:`blurutils.viz.show_predictions` draws them."""
        return Predictions(self.name, self.examples, self.pred)

    def show(self, n: int = 3) -> "Figure":
        """``n`` evenly spaced test examples: input frame(s), truth and prediction."""
        return show_predictions(self.frames, self.predictions, n=n)

    def summary(self, decimals: int = 3) -> pd.DataFrame:
        """One row per measure (BF of prediction and truth, RBF, PSNR, SSIM), one column
        per statistic of :func:`blurutils.metrics.summarize`, rounded."""
        table = pd.DataFrame({column: summarize(self.metrics[column])
                              for column in SUMMARY_COLUMNS}).T
        return table[list(SUMMARY_STATISTICS)].round(decimals)


def evaluate_model(model: Any, frames: np.ndarray, examples: Examples, *,
                   name: str = "model") -> ModelEvaluation:
    """Predict ``examples`` with ``model`` (:func:`blurutils.training.predict`) and measure
    every prediction against its true frame (:func:`blurutils.evaluation.frame_metrics`).

    Returns a :class:`ModelEvaluation`: ``.pred``, ``.truth`` and ``.metrics`` to read,
    ``.show()`` to draw a few test frames, ``.summary()`` for the table of notebooks 03-06.
    """
    from .training import predict

    pred = predict(model, frames, examples)
    metrics = frame_metrics(pred, frames[examples.targets], examples.targets)
    return ModelEvaluation(name, frames, examples, pred, metrics)
