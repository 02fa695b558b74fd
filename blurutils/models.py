"""The paper's four autoencoders (section 2) as Keras 3 models.

Every model takes frames as (100, 200, k) float tensors in [0, 1] — k input frames as
channels — and returns a (100, 200, 1) frame, so one data pipeline serves all four.

* Multilayer autoencoders (MLAE: Forward, Backward, Bi-Directional): the input frames
  are flattened (20,000 values; the Bi-Directional model's two frames concatenated,
  40,000), then Dense 1024-512-256-128-256-512-1024 with ReLU and Dense 20,000 with
  sigmoid, reshaped to the frame.  Forward has 42,359,968 parameters.
* Convolutional: Conv2D(f, 3x3, relu, same) -> MaxPool 2x2 -> Conv2D(f) -> MaxPool ->
  Conv2D(f) -> UpSampling 2x2 -> Conv2D(f) -> UpSampling -> Conv2D(1, 3x3, sigmoid).
  The paper says f = 16; the authors' code used 32 for MSE and MSLE.

Optimisers follow the authors' code: Adam with defaults for the MLAEs; Adadelta with
learning rate 1.0 (Keras 2's default, which the authors had; Keras 3's 0.001 barely
trains) for the convolutional model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError
from .frames import FRAME_SHAPE

if TYPE_CHECKING:  # Keras is imported where a model is built, so that the name
    import keras  # look-ups below stay cheap (blurutils.loss_names says why)


@dataclass(frozen=True)
class ModelSpec:
    """What the study needs to know about one architecture."""

    name: str            # the name used in the paper's tables
    direction: str       # which neighbours feed it (see blurutils.pairs)
    kind: str            # "dense" or "conv"
    batch_size: int

    @property
    def n_inputs(self) -> int:
        return 2 if self.direction == "bidirectional" else 1


#: The paper's models, in the order of its tables.
MODELS: dict[str, ModelSpec] = {
    "Backward": ModelSpec("Backward", "backward", "dense", 64),
    "Forward": ModelSpec("Forward", "forward", "dense", 64),
    "Bi-Directional": ModelSpec("Bi-Directional", "bidirectional", "dense", 64),
    "Convolutional": ModelSpec("Convolutional", "forward", "conv", 1),
}
DENSE_UNITS = (1024, 512, 256, 128, 256, 512, 1024)


def model_spec(name: str) -> ModelSpec:
    """Look up a model by its table name or a unique prefix (``conv``, ``bi``), any case."""
    wanted = _normalise(name)
    matches = [spec for key, spec in MODELS.items() if _normalise(key).startswith(wanted)]
    if wanted and len(matches) == 1:
        return matches[0]
    raise ConfigError(f"unknown model {name!r} (expected one of {', '.join(MODELS)})")


def _normalise(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def build_dense_autoencoder(n_inputs: int = 1, name: str = "Forward",
                            frame_shape: tuple[int, int] = FRAME_SHAPE) -> keras.Model:
    """Multilayer autoencoder: ``n_inputs`` flattened frames -> one frame."""
    import keras
    from keras import layers

    height, width = frame_shape
    inputs = keras.Input((height, width, n_inputs), name="frames")
    # Channels first before flattening, so two frames are concatenated whole
    # ([frame t-1 | frame t+1], 40,000 values) as in the paper.
    x = layers.Permute((3, 1, 2), name="frames_first")(inputs)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(DENSE_UNITS):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}_{units}")(x)
    x = layers.Dense(height * width, activation="sigmoid", name="pixels")(x)
    outputs = layers.Reshape((height, width, 1), name="frame")(x)
    return keras.Model(inputs, outputs, name=_normalise(name) + "_mlae")


def build_conv_autoencoder(filters: int = 16, name: str = "Convolutional",
                           frame_shape: tuple[int, int] = FRAME_SHAPE) -> keras.Model:
    """Convolutional autoencoder: one frame -> next frame, ``filters`` per conv layer.

    ``frame_shape`` (height, width) must be divisible by 4 (two 2x poolings); the
    authors' frames for this model were (200, 100) (``blurutils.compat``, quirk f).
    """
    if filters < 1:
        raise ConfigError(f"conv filters={filters}: must be a positive integer")
    if any(side % 4 for side in frame_shape):
        raise ConfigError(f"conv frame shape {tuple(frame_shape)}: both sides must be "
                          "divisible by 4 (two 2x2 poolings, then two 2x upsamplings)")
    import keras
    from keras import layers

    inputs = keras.Input((*frame_shape, 1), name="frames")
    x = layers.Conv2D(filters, 3, activation="relu", padding="same", name="enc_conv1")(inputs)
    x = layers.MaxPooling2D(2, padding="same", name="enc_pool1")(x)
    x = layers.Conv2D(filters, 3, activation="relu", padding="same", name="enc_conv2")(x)
    x = layers.MaxPooling2D(2, padding="same", name="enc_pool2")(x)
    x = layers.Conv2D(filters, 3, activation="relu", padding="same", name="dec_conv1")(x)
    x = layers.UpSampling2D(2, name="dec_up1")(x)
    x = layers.Conv2D(filters, 3, activation="relu", padding="same", name="dec_conv2")(x)
    x = layers.UpSampling2D(2, name="dec_up2")(x)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same", name="frame")(x)
    return keras.Model(inputs, outputs, name="convolutional_ae")


def build_model(name: str, *, conv_filters: int = 16,
                frame_shape: tuple[int, int] = FRAME_SHAPE) -> keras.Model:
    """Build the named model (``Forward``, ``Backward``, ``Bi-Directional``, ``Convolutional``)."""
    spec = model_spec(name)
    if spec.kind == "conv":
        return build_conv_autoencoder(conv_filters, spec.name, tuple(frame_shape))
    return build_dense_autoencoder(spec.n_inputs, spec.name, tuple(frame_shape))


def make_optimizer(name: str) -> keras.optimizers.Optimizer:
    """Adam (defaults) for the MLAEs; Adadelta(learning_rate=1.0) for the conv model."""
    import keras

    if model_spec(name).kind == "conv":
        return keras.optimizers.Adadelta(learning_rate=1.0)
    return keras.optimizers.Adam()
