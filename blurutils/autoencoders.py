"""The models-and-training stage's face: the paper's four autoencoders, their three
losses, and one training run.

==================  ====================================================================
defined in          names
==================  ====================================================================
``catalog``         ``ALL_MODELS``, ``ALL_LOSSES``, ``DENSE_BATCH_SIZE``, ``model_spec``
``models``          ``build_model``, ``architecture_hash``
``losses``          ``cosine_proximity``, ``last_axis_cosine_proximity``
``blurloss``        ``blur_penalty``
``training``        ``RunConfig``, ``train_run``, ``predict``, ``steps_per_epoch``,
                    ``data_fingerprint``
``session``         ``quiet_tensorflow``, ``seed_everything``, ``last_epoch_only``
``machine``         ``frame_layout_for``, ``describe_layout``
==================  ====================================================================

Importing this face does not import TensorFlow, so the notebooks that train nothing
(00, 07) can read the catalogue from it: models are built, and TensorFlow loaded, only
when asked.  The three losses are Keras functions, so they are imported when first
taken (``from blurutils.autoencoders import cosine_proximity`` loads Keras then).
"""

from typing import Any

from .catalog import ALL_LOSSES, ALL_MODELS, DENSE_BATCH_SIZE, model_spec
from .machine import describe_layout, frame_layout_for
from .models import architecture_hash, build_model
from .session import last_epoch_only, quiet_tensorflow, seed_everything
from .training import RunConfig, data_fingerprint, predict, steps_per_epoch, train_run

__all__ = [
    "ALL_LOSSES", "ALL_MODELS", "DENSE_BATCH_SIZE", "RunConfig", "architecture_hash",
    "blur_penalty", "build_model", "cosine_proximity", "data_fingerprint", "describe_layout",
    "frame_layout_for", "last_axis_cosine_proximity", "last_epoch_only", "model_spec",
    "predict", "quiet_tensorflow", "seed_everything", "steps_per_epoch", "train_run",
]

#: The names that import Keras, taken on first use (PEP 562).
_KERAS_NAMES = ("blur_penalty", "cosine_proximity", "last_axis_cosine_proximity")


def __getattr__(name: str) -> Any:
    if name in ("cosine_proximity", "last_axis_cosine_proximity"):
        from .losses import cosine_proximity, last_axis_cosine_proximity

        return {"cosine_proximity": cosine_proximity,
                "last_axis_cosine_proximity": last_axis_cosine_proximity}[name]
    if name == "blur_penalty":
        from .blurloss import blur_penalty

        return blur_penalty
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_KERAS_NAMES))
