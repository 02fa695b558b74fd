"""A differentiable blur-aware loss: the paper's first recommendation, tried.

The paper ends by advising that future work "incorporate blur adjustment, such as
Relative Blur Factor, into loss functions themselves" (section 6); the authors' one
attempt compared the prediction with itself and was dropped (``docs/authors-code.md``).  This module adds a term that compares the *sharpness* of each predicted
frame with that of its ground truth:

    blur_penalty(y, y_hat) = | log(var(Lap(y_hat)) + eps) - log(var(Lap(y)) + eps) |

``Lap`` is the same 5-point Laplacian with reflected borders that the Blur Factor uses
(:func:`blurutils.metrics.laplacian`), written here as a fixed 3x3 convolution so that
gradients flow through it.  With ``eps = 0`` the penalty is ``|log(1 + RBF)|``, where
RBF is the paper's Relative Blur Factor: zero when the prediction is exactly as sharp
as the truth, growing as it gets blurrier (RBF > 0) *or* sharper (RBF < 0) — the
log makes "twice as blurry" and "twice as sharp" cost the same.  ``eps`` keeps the
log finite for flat frames (a constant prediction has zero Laplacian variance).

:class:`BlurAwareLoss` adds ``lam`` times this penalty to one of the paper's losses,
per example, and is a registered Keras loss, so a model compiled with it saves and
loads with ``safe_mode=True`` (import :mod:`blurutils.blurloss` first).  Names such as
``"MSE+BLUR"``, ``"CP+BLUR"`` or ``"MSLE+BLUR@0.5"`` (``@`` sets lambda) are parsed
by :func:`make_blur_aware_loss`; :func:`loss_from_name` accepts those and the plain
names of :func:`blurutils.losses.get_loss`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from .catalog import (DEFAULT_LAMBDA, blur_loss_name, check_lambda, is_blur_aware_name,
                      parse_blur_loss_name)
from .errors import ConfigError, MetricInputError
from .frames import FRAME_HEIGHT, FRAME_WIDTH
from .losses import get_loss

#: Default floor inside the log, in squared intensity units (frames in [0, 1]).  The
#: Laplacian variance of the sample clip's frames is ~2e-2 (BF ~ 50) and that of
#: uint8 quantisation noise alone ~3e-5, so 1e-6 only matters for nearly flat frames.
DEFAULT_EPS = 1e-6

#: The 5-point Laplacian stencil, as (3, 3, in=1, out=1) conv kernel.
LAPLACIAN_KERNEL = np.array([[0.0, 1.0, 0.0],
                             [1.0, -4.0, 1.0],
                             [0.0, 1.0, 0.0]], dtype=np.float32).reshape(3, 3, 1, 1)

def _as_nhwc(x: Any) -> Any:
    """(B, H, W), (B, H, W, 1) or flat (B, 20000) study frames -> float32 (B, H, W, 1)."""
    x = ops.convert_to_tensor(x)
    if ops.dtype(x) != "float32":
        x = ops.cast(x, "float32")
    rank = len(x.shape)
    if rank == 2 and x.shape[-1] == FRAME_HEIGHT * FRAME_WIDTH:
        return ops.reshape(x, (-1, FRAME_HEIGHT, FRAME_WIDTH, 1))
    if rank == 3:
        return ops.expand_dims(x, -1)
    if rank == 4 and x.shape[-1] == 1:
        return x
    raise MetricInputError(f"blur penalty: expected frames of shape (B, H, W), (B, H, W, 1) "
                           f"or flat (B, {FRAME_HEIGHT * FRAME_WIDTH}), "
                           f"got {tuple(x.shape)}")


def laplacian_tensor(images: Any) -> Any:
    """5-point Laplacian of a batch of frames, differentiable, float32 (B, H, W, 1).

    Borders are reflected with the edge pixel repeated (``d c b a | a b c d``: TF's and
    NumPy's ``"symmetric"``, scipy's ``"reflect"``, OpenCV's ``BORDER_REFLECT``), so
    the result equals :func:`blurutils.metrics.laplacian` up to float32 rounding.
    """
    x = _as_nhwc(images)
    x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="symmetric")
    kernel = ops.convert_to_tensor(LAPLACIAN_KERNEL)
    return ops.conv(x, kernel, strides=1, padding="valid", data_format="channels_last")


def laplacian_variance_tensor(images: Any) -> Any:
    """Variance of the Laplacian per frame (population variance, as the metrics), (B,)."""
    lap = laplacian_tensor(images)
    mean = ops.mean(lap, axis=(1, 2, 3), keepdims=True)
    return ops.mean(ops.square(lap - mean), axis=(1, 2, 3))


def blur_penalty(y_true: Any, y_pred: Any, eps: float = DEFAULT_EPS) -> Any:
    """Per-frame ``|log(var(Lap(y_pred)) + eps) - log(var(Lap(y_true)) + eps)|``, (B,).

    Frames are float in [0, 1], shaped (B, H, W) or (B, H, W, 1) (or flat
    (B, 20000), read as the study's 100x200 frames).  Zero for frames of
    equal sharpness, positive otherwise, the same for a prediction k times blurrier or
    k times sharper than its truth (with ``eps = 0`` it is ``|log(1 + RBF)|``).
    Differentiable in ``y_pred``; finite for constant frames thanks to ``eps``.
    """
    if not eps > 0:
        raise ConfigError(f"eps={eps!r}: must be > 0 (it keeps the log of flat frames finite)")
    var_true = laplacian_variance_tensor(y_true)
    var_pred = laplacian_variance_tensor(y_pred)
    return ops.abs(ops.log(var_pred + eps) - ops.log(var_true + eps))


def _per_example(values: Any) -> Any:
    """Mean over every axis but the first: one value per example."""
    if len(values.shape) <= 1:
        return values
    return ops.mean(values, axis=tuple(range(1, len(values.shape))))


@keras.saving.register_keras_serializable(package="blurutils")
class BlurAwareLoss(keras.losses.Loss):
    """One of the paper's losses plus ``lam`` times :func:`blur_penalty`.

    Per example: ``base(y, y_hat) + lam * blur_penalty(y, y_hat)``, where ``base`` is
    ``"MSE"``, ``"MSLE"`` or ``"CP"`` (:func:`blurutils.losses.get_loss`) averaged
    over the frame; Keras then averages over the batch.  With ``lam = 0`` it equals the
    base loss.  Serialisable: ``get_config`` holds ``base``, ``lam`` and ``eps``.

    Scale: on 100x200 frames MSE is ~1e-3..1e-2 and CP ~ -1, while the penalty of a
    noticeably blurry prediction is ~0.5..3, so lam = 0.1 lets the blur term dominate
    the loss *value*; what matters for training is the balance of gradients, which
    the study's grid over lambda measures.
    """

    def __init__(self, base: str = "MSE", lam: float = DEFAULT_LAMBDA,
                 eps: float = DEFAULT_EPS, name: str | None = None,
                 reduction: str = "sum_over_batch_size", dtype: Any = None) -> None:
        base_key = str(base).upper()
        self._base_loss = get_loss(base_key)          # ConfigError for unknown names
        lam = check_lambda(lam)
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise ConfigError(f"eps={eps!r}: must be a finite number > 0")
        if name is None:
            name = blur_loss_name(base_key, lam).lower().replace("+", "_").replace("@", "_")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.base = base_key
        self.lam = lam
        self.eps = float(eps)

    def base_per_example(self, y_true: Any, y_pred: Any) -> Any:
        """The base loss alone, one value per example (B,)."""
        fn = self._base_loss
        if isinstance(fn, keras.losses.Loss):
            values = fn.call(y_true, y_pred)     # unreduced: per pixel for MSE and MSLE
        else:
            values = fn(y_true, y_pred)          # cosine_proximity: already per example
        return _per_example(values)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        base = self.base_per_example(y_true, y_pred)
        if self.lam == 0.0:
            return base
        return base + self.lam * blur_penalty(y_true, y_pred, self.eps)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(base=self.base, lam=self.lam, eps=self.eps)
        return config


def make_blur_aware_loss(name: str, eps: float = DEFAULT_EPS) -> BlurAwareLoss:
    """The :class:`BlurAwareLoss` for a name such as ``"MSE+BLUR"`` or ``"CP+BLUR@0.5"``."""
    base, lam = parse_blur_loss_name(name)
    return BlurAwareLoss(base=base, lam=lam, eps=eps)


def loss_from_name(name: str) -> Any:
    """Any loss by name: the paper's (``MSE``, ``MSLE``, ``CP``) or a blur-aware one."""
    if is_blur_aware_name(name):
        return make_blur_aware_loss(name)
    return get_loss(name)
