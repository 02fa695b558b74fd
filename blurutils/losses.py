"""The paper's three losses: MSE, MSLE and Cosine Proximity (CP).

Cosine Proximity is ``-cos(angle)`` between the *whole* predicted and target frames
(paper, section 3.3).  Keras 3 has no ``cosine_proximity``; its ``CosineSimilarity``
normalises along ``axis=-1`` by default.  On a dense model's flat output that axis is
the whole frame, but on a convolutional (100, 200, 1) output it has length 1, so every
pixel's "cosine" is exactly 1 and the loss is the constant -1 with zero gradient: the
authors' Conv-CP model never learned for that reason (``docs/authors-code.md``, Cosine Proximity).
:func:`cosine_proximity` flattens each frame first, so it is correct for every shape.
"""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from .catalog import LOSS_NAMES
from .errors import ConfigError


@keras.saving.register_keras_serializable(package="blurutils")
def cosine_proximity(y_true, y_pred):
    """Negative cosine similarity of each whole frame, one value per example."""
    batch = ops.shape(y_true)[0]
    t = ops.reshape(y_true, (batch, -1))
    p = ops.reshape(y_pred, (batch, -1))
    t = t / ops.maximum(ops.norm(t, axis=-1, keepdims=True), 1e-12)
    p = p / ops.maximum(ops.norm(p, axis=-1, keepdims=True), 1e-12)
    return -ops.sum(t * p, axis=-1)


@keras.saving.register_keras_serializable(package="blurutils")
def last_axis_cosine_proximity(y_true, y_pred):
    """The authors' behaviour: cosine along the last axis only (Keras' default axis).

    Kept to demonstrate (and, in paper-compatibility mode, reproduce) the pitfall:
    on (H, W, 1) outputs it is constant.
    """
    return keras.losses.cosine_similarity(y_true, y_pred, axis=-1)


def get_loss(name: str) -> Callable | keras.losses.Loss:
    """The Keras loss for one of the paper's names: ``MSE``, ``MSLE`` or ``CP``.

    Blur-aware names (``BASE+BLUR[@λ]``) are built by
    :func:`blurutils.blurloss.loss_from_name`, which accepts every name.
    """
    key = str(name).upper()
    if key == "MSE":
        return keras.losses.MeanSquaredError()
    if key == "MSLE":
        return keras.losses.MeanSquaredLogarithmicError()
    if key == "CP":
        return cosine_proximity
    raise ConfigError(f"unknown loss {name!r} (expected one of {', '.join(LOSS_NAMES)})")
