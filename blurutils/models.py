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

from typing import TYPE_CHECKING

from .catalog import MODELS, ModelSpec, model_spec  # noqa: F401 (re-exported)
from .errors import ConfigError
from .frames import FRAME_SHAPE

if TYPE_CHECKING:  # Keras is imported where a model is built, so that the name
    import keras  # look-ups below stay cheap (blurutils.catalog says why)


DENSE_UNITS = (1024, 512, 256, 128, 256, 512, 1024)


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
    return keras.Model(inputs, outputs, name="".join(c for c in name.lower() if c.isalnum()) + "_mlae")


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


def architecture_hash(model: keras.Model) -> str:
    """Short SHA-256 of a model's architecture: its layers, their settings and wiring.

    Hashes ``get_config()`` of the model's functional form, serialised as JSON with
    sorted keys, so it is the same in every process and on every rerun.  Names do not
    count (Keras numbers default names per process: ``dense``, ``dense_1``, ...): every
    layer is renamed by its position.  Keys whose value is null are dropped, so a Keras
    release that adds an unset option does not change the hash.  Weights do not count.
    """
    import hashlib
    import json

    import keras

    try:
        functional = keras.Model(model.inputs, model.outputs)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ConfigError(
            "the model must be built from keras.Input and layers (a functional or "
            f"Sequential model with an Input): {exc}") from exc
    positions: dict[str, str] = {}
    for layer in _all_layers(functional):
        positions.setdefault(layer.name, f"layer_{len(positions)}")
    config = _rename(functional.get_config(), positions)
    config.pop("name", None)
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _all_layers(model):
    """Every layer of ``model`` in order, nested models' layers after the model itself."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _rename(value, positions: dict[str, str]):
    """``value`` (a model config) with layer names replaced by positions, nulls dropped."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is None:
                continue
            if key == "name" and isinstance(item, str) and item in positions:
                out[key] = positions[item]
            elif key == "keras_history" and isinstance(item, (list, tuple)) and item:
                out[key] = [positions.get(item[0], item[0]), *item[1:]]
            elif key in ("input_layers", "output_layers"):
                out[key] = _rename_endpoints(item, positions)
            else:
                out[key] = _rename(item, positions)
        return out
    if isinstance(value, (list, tuple)):
        return [_rename(item, positions) for item in value]
    return value


def _rename_endpoints(value, positions: dict[str, str]):
    """``[name, node, tensor]`` or a list of them, with names replaced by positions."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
        return [positions.get(value[0], value[0]), *value[1:]]
    if isinstance(value, (list, tuple)):
        return [_rename_endpoints(item, positions) for item in value]
    return value


def builder_source_hash() -> str:
    """Short SHA-256 of this module's code, docstrings and comments left out.

    Computed without Keras, so a process that never imports TensorFlow (a study's
    parent, notebook 07) can tell that the package's builders changed since a run
    was trained: :meth:`blurutils.training.RunConfig.fingerprint` includes it.
    """
    from pathlib import Path

    return source_hash(Path(__file__).read_text(encoding="utf-8"))


def source_hash(source: str) -> str:
    """Short SHA-256 of Python ``source``'s code: comments, docstrings and layout ignored."""
    import ast
    import hashlib

    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    # unparse, not dump: dump's format changes between Python versions.
    return hashlib.sha256(ast.unparse(tree).encode()).hexdigest()[:16]
