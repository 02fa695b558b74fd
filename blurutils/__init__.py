"""blurutils: reproduce, audit and extend "Quantitative Analysis of Blurring Effects in
Autoencoder Architectures for Video Interpolation" (McCabe, Glad, Pinczuk).

The modules follow the data's journey (``docs/architecture.md``): ``sources`` (a video
file) -> ``frames`` (uint8 (N, 100, 200)) -> ``pairs`` (which frames predict which) ->
``models`` and ``losses`` -> ``training`` -> ``metrics`` -> ``evaluation`` (per-frame
metrics, learning diagnostics) -> ``study`` (the 12-run grid) -> ``report`` and ``viz``.

The names below are the ones most lessons need; every other public name lives in its
stage module.  Importing ``blurutils`` does not import TensorFlow; the modules that
train do, when they train.
"""

from .config import StudyConfig, make_config
from .errors import BlurUtilsError, ConfigError, FrameError, MetricInputError, SourceError
from .evaluation import frame_metrics, learning_diagnostics
from .frames import FRAME_HEIGHT, FRAME_SHAPE, FRAME_WIDTH, load_frames, to_unit_float
from .machine import package_version
from .metrics import (blur_factor, laplacian, laplacian_variance, local_blur_factor, psnr,
                      relative_blur_factor, ssim, summarize)
from .pairs import Examples, Split, examples_for, split_targets, target_frames
from .reference import observation_verdicts, paper_tables
from .study import run_study

__version__ = package_version()

__all__ = [
    "BlurUtilsError", "ConfigError", "FrameError", "MetricInputError", "SourceError",
    "StudyConfig", "make_config", "run_study",
    "FRAME_HEIGHT", "FRAME_SHAPE", "FRAME_WIDTH", "load_frames", "to_unit_float",
    "Examples", "Split", "examples_for", "split_targets", "target_frames",
    "blur_factor", "laplacian", "laplacian_variance", "local_blur_factor", "psnr",
    "relative_blur_factor", "ssim", "summarize",
    "frame_metrics", "learning_diagnostics", "observation_verdicts", "paper_tables",
    "__version__",
]
