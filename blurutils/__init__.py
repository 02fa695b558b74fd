"""blurutils: reproduce, audit and extend "Quantitative Analysis of Blurring Effects in
Autoencoder Architectures for Video Interpolation" (McCabe, Glad, Pinczuk).

The modules follow the data's journey: ``sources`` (a video file) -> ``frames`` (uint8
(N, 100, 200)) -> ``pairs`` (which frames predict which) -> ``models`` and ``losses``
-> ``training`` -> ``metrics`` (Blur Factor, Relative Blur Factor, PSNR, SSIM) ->
``study`` (the 12-run grid and the paper's tables) -> ``plots``.

Importing ``blurutils`` does not import TensorFlow; the modules that need it do.
"""

from .errors import BlurUtilsError, ConfigError, FrameError, MetricInputError, SourceError
from .frames import FRAME_HEIGHT, FRAME_SHAPE, FRAME_WIDTH, load_frames, to_unit_float
from .metrics import (blur_factor, laplacian, laplacian_variance, local_blur_factor, psnr,
                      relative_blur_factor, ssim, summarize)
from .pairs import Examples, Split, examples_for, split_targets, target_frames

__version__ = "0.1.0"

__all__ = [
    "BlurUtilsError", "ConfigError", "FrameError", "MetricInputError", "SourceError",
    "FRAME_HEIGHT", "FRAME_SHAPE", "FRAME_WIDTH", "load_frames", "to_unit_float",
    "blur_factor", "laplacian", "laplacian_variance", "local_blur_factor", "psnr",
    "relative_blur_factor", "ssim", "summarize",
    "Examples", "Split", "examples_for", "split_targets", "target_frames",
    "__version__",
]
