"""The measures stage's face: numbers about frames, and a trained model measured.

==================  ====================================================================
defined in          names
==================  ====================================================================
``metrics``         ``blur_factor``, ``relative_blur_factor``, ``laplacian``,
                    ``local_blur_factor``, ``local_relative_blur_factor``,
                    ``fraction_blurrier_tiles``, ``match_contrast``, ``summarize``
``evaluation``      ``frame_metrics``, ``learning_diagnostics``, ``interpolates``
``baselines``       ``linear_blend``
``lessons``         ``evaluate_model`` (predict, measure, show and summarise, in one call)
==================  ====================================================================

Importing it does not import TensorFlow.
"""

from .baselines import linear_blend
from .evaluation import frame_metrics, interpolates, learning_diagnostics
from .lessons import evaluate_model
from .metrics import (blur_factor, fraction_blurrier_tiles, laplacian, local_blur_factor,
                      local_relative_blur_factor, match_contrast, relative_blur_factor,
                      summarize)

__all__ = [
    "blur_factor", "evaluate_model", "fraction_blurrier_tiles", "frame_metrics",
    "interpolates", "laplacian", "learning_diagnostics", "linear_blend", "local_blur_factor",
    "local_relative_blur_factor", "match_contrast", "relative_blur_factor", "summarize",
]
