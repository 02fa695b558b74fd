"""blurutils: reproduce, audit and extend "Quantitative Analysis of Blurring Effects in
Autoencoder Architectures for Video Interpolation" (McCabe, Glad, Pinczuk).

The package follows the data's journey, and each stage has one small public face
(``docs/architecture.md``); the notebooks import from these and from nothing else:

* ``blurutils.video`` — a video source and the uint8 (N, 100, 200) frames made of it;
* ``blurutils.pairs`` — which frames predict which, and the leak-free 70/30 split;
* ``blurutils.autoencoders`` — the four models, the three losses, one training run;
* ``blurutils.measures`` — Blur Factor, RBF, PSNR, SSIM, a trained model measured;
* ``blurutils.experiments`` — the 12-run study, the audit, the paper's tables and figures;
* ``blurutils.viz`` and ``blurutils.compat`` — the notebooks' pictures; the authors' quirks.

Every other module is internal.  The few names below, for a script's first lines, are
the faces' own (the same objects).  Importing ``blurutils`` does not import TensorFlow.
"""

from .experiments import make_config, run_study
from .machine import package_version
from .measures import blur_factor, frame_metrics, relative_blur_factor, summarize
from .pairs import examples_for, split_targets
from .video import load_frames, to_unit_float

__version__ = package_version()

__all__ = [
    "__version__", "load_frames", "to_unit_float", "split_targets", "examples_for",
    "blur_factor", "relative_blur_factor", "summarize", "frame_metrics", "make_config",
    "run_study",
]
