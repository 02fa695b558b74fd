"""The paper's four autoencoders (section 2): sizes, shapes, activations, layout, lookup."""

from __future__ import annotations

import numpy as np
import pytest

from blurutils.errors import ConfigError
from blurutils.session import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402

from blurutils.catalog import MODELS, model_spec  # noqa: E402
from blurutils.models import (  # noqa: E402
    build_conv_autoencoder, build_model, make_optimizer)

H, W = 100, 200
#: The paper's multilayer autoencoder: input, 1024-512-256, code 128, 256-512-1024, output.
PAPER_HIDDEN = [1024, 512, 256, 128, 256, 512, 1024]


def dense_param_count(n_inputs: int) -> int:
    """Weights + biases of fully connected layers n_inputs -> hidden... -> 20,000."""
    sizes = [n_inputs] + PAPER_HIDDEN + [H * W]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def conv_param_count(filters: int) -> int:
    """Four 3x3 Conv2D(filters) layers (1 input channel first) and a 3x3 Conv2D(1)."""
    k = 3 * 3
    first = k * 1 * filters + filters
    middle = 3 * (k * filters * filters + filters)
    last = k * filters * 1 + 1
    return first + middle + last


@pytest.fixture(scope="module")
def built() -> dict[str, keras.Model]:
    """Each architecture built once for the module (the dense ones are 42-63M params)."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    return {
        "Forward": build_model("Forward"),
        "Backward": build_model("Backward"),
        "Bi-Directional": build_model("Bi-Directional"),
        "conv16": build_model("Convolutional"),
        "conv32": build_model("Convolutional", conv_filters=32),
    }


def layers_of(model: keras.Model, kind: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


# --- parameter counts -----------------------------------------------------------------

def test_hand_computed_counts_match_the_published_numbers():
    assert dense_param_count(H * W) == 42_359_968
    assert dense_param_count(2 * H * W) == 62_839_968
    assert conv_param_count(16) == 7_265
    assert conv_param_count(32) == 28_353


@pytest.mark.parametrize("name, expected", [
    ("Forward", 42_359_968),
    ("Backward", 42_359_968),
    ("Bi-Directional", 62_839_968),
])
def test_dense_parameter_counts(built, name, expected):
    n_inputs = 2 if name == "Bi-Directional" else 1
    assert built[name].count_params() == dense_param_count(n_inputs * H * W) == expected


@pytest.mark.parametrize("key, filters", [("conv16", 16), ("conv32", 32)])
def test_conv_parameter_counts(built, key, filters):
    assert built[key].count_params() == conv_param_count(filters)


def test_dense_layer_sizes_follow_the_paper(built):
    for name in ("Forward", "Backward", "Bi-Directional"):
        units = [layer.units for layer in layers_of(built[name], keras.layers.Dense)]
        assert units == PAPER_HIDDEN + [H * W], name


def test_conv_structure(built):
    model = built["conv16"]
    convs = layers_of(model, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [16, 16, 16, 16, 1]
    assert all(tuple(c.kernel_size) == (3, 3) and c.padding == "same" for c in convs)
    assert len(layers_of(model, keras.layers.MaxPooling2D)) == 2
    assert len(layers_of(model, keras.layers.UpSampling2D)) == 2
    assert [c.filters for c in layers_of(built["conv32"], keras.layers.Conv2D)] == [32] * 4 + [1]


def test_conv_filters_must_be_positive():
    with pytest.raises(ConfigError, match="filters"):
        build_conv_autoencoder(0)


# --- shapes and activations -----------------------------------------------------------

@pytest.mark.parametrize("key, k", [
    ("Forward", 1), ("Backward", 1), ("Bi-Directional", 2), ("conv16", 1), ("conv32", 1)])
def test_input_and_output_shapes(built, key, k):
    model = built[key]
    assert tuple(model.input_shape) == (None, H, W, k)
    assert tuple(model.output_shape) == (None, H, W, 1)


@pytest.mark.parametrize("key, layer_type", [
    ("Forward", keras.layers.Dense), ("Bi-Directional", keras.layers.Dense),
    ("conv16", keras.layers.Conv2D)])
def test_relu_hidden_sigmoid_output(built, key, layer_type):
    weighted = layers_of(built[key], layer_type)
    assert [layer.get_config()["activation"] for layer in weighted] == \
        ["relu"] * (len(weighted) - 1) + ["sigmoid"]


@pytest.mark.parametrize("key, k", [("Forward", 1), ("Bi-Directional", 2), ("conv16", 1)])
def test_outputs_are_frames_strictly_inside_unit_interval(built, key, k):
    x = np.random.default_rng(1).random((2, H, W, k), dtype=np.float32)
    y = keras.ops.convert_to_numpy(built[key](x))
    assert y.shape == (2, H, W, 1)
    assert y.dtype == np.float32
    assert np.all(y > 0) and np.all(y < 1)
    assert np.std(y) > 0  # not a constant frame


# --- input layout ---------------------------------------------------------------------

def flat_inputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    (flatten,) = layers_of(model, keras.layers.Flatten)
    return keras.ops.convert_to_numpy(keras.Model(model.input, flatten.output)(x))


def test_bidirectional_concatenates_whole_frames(built):
    rng = np.random.default_rng(2)
    before = rng.random((3, H, W), dtype=np.float32)   # frame t-1, channel 0
    after = rng.random((3, H, W), dtype=np.float32)    # frame t+1, channel 1
    x = np.stack([before, after], axis=-1)
    flat = flat_inputs(built["Bi-Directional"], x)
    assert flat.shape == (3, 2 * H * W)
    for i in range(3):
        np.testing.assert_array_equal(
            flat[i], np.concatenate([before[i].ravel(), after[i].ravel()]))


def test_single_frame_flattens_row_major(built):
    x = np.random.default_rng(3).random((2, H, W, 1), dtype=np.float32)
    flat = flat_inputs(built["Forward"], x)
    np.testing.assert_array_equal(flat, x[..., 0].reshape(2, H * W))


# --- lookup ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("Forward", "Forward"), ("forward", "Forward"), ("FORWARD", "Forward"), ("fwd", None),
    ("Backward", "Backward"), ("back", "Backward"),
    ("Bi-Directional", "Bi-Directional"), ("bi", "Bi-Directional"),
    ("BI", "Bi-Directional"), ("bidirectional", "Bi-Directional"),
    ("bi directional", "Bi-Directional"),
    ("Convolutional", "Convolutional"), ("conv", "Convolutional"),
    ("CONV", "Convolutional"), ("c", "Convolutional"),
])
def test_model_spec_lookup(name, expected):
    if expected is None:
        with pytest.raises(ConfigError):
            model_spec(name)
    else:
        assert model_spec(name).name == expected


@pytest.mark.parametrize("name", ["", "b", "sideways", "lstm", "forwards!x", "-"])
def test_unknown_or_ambiguous_model_is_a_config_error(name):
    with pytest.raises(ConfigError, match="unknown model"):
        model_spec(name)


def test_unknown_model_cannot_be_built_or_optimised():
    with pytest.raises(ConfigError):
        build_model("transformer")
    with pytest.raises(ConfigError):
        make_optimizer("transformer")


def test_specs_follow_the_paper():
    assert list(MODELS) == ["Backward", "Forward", "Bi-Directional", "Convolutional"]
    assert {n: (s.direction, s.kind, s.batch_size, s.n_inputs) for n, s in MODELS.items()} == {
        "Backward": ("backward", "dense", 64, 1),
        "Forward": ("forward", "dense", 64, 1),
        "Bi-Directional": ("bidirectional", "dense", 64, 2),
        "Convolutional": ("forward", "conv", 1, 1),
    }


# --- optimizers -----------------------------------------------------------------------

def learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@pytest.mark.parametrize("name", ["Forward", "Backward", "Bi-Directional"])
def test_dense_models_use_default_adam(name):
    opt = make_optimizer(name)
    assert isinstance(opt, keras.optimizers.Adam)
    assert learning_rate(opt) == pytest.approx(0.001)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-7)


def test_conv_model_uses_adadelta_with_keras2_learning_rate():
    opt = make_optimizer("conv")
    assert isinstance(opt, keras.optimizers.Adadelta)
    assert learning_rate(opt) == pytest.approx(1.0)
    assert learning_rate(opt) != pytest.approx(learning_rate(keras.optimizers.Adadelta()))


def test_each_call_returns_a_fresh_optimizer():
    assert make_optimizer("Forward") is not make_optimizer("Forward")


# --- architecture hash ----------------------------------------------------------------

TINY = (8, 16)


def tiny_mlae(units: int = 6, activation: str = "relu", sequential: bool = False) -> keras.Model:
    """A small Forward MLAE on 8x16 frames, with Keras's default (numbered) layer names."""
    from keras import layers

    stack = [layers.Flatten(), layers.Dense(units, activation=activation),
             layers.Dense(TINY[0] * TINY[1], activation="sigmoid"),
             layers.Reshape((*TINY, 1))]
    if sequential:
        return keras.Sequential([keras.Input((*TINY, 1)), *stack])
    x = inputs = keras.Input((*TINY, 1))
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


def test_architecture_hash_ignores_names_and_weights():
    """Keras numbers default names per process (dense, dense_1, ...): the second build
    has other names and other weights, but the same architecture."""
    from blurutils.models import architecture_hash

    first, second = tiny_mlae(), tiny_mlae()
    assert [layer.name for layer in first.layers] != [layer.name for layer in second.layers]
    assert not np.array_equal(first.layers[2].get_weights()[0], second.layers[2].get_weights()[0])
    assert architecture_hash(first) == architecture_hash(second)
    assert architecture_hash(tiny_mlae(sequential=True)) == architecture_hash(first)
    named = build_model("Convolutional", conv_filters=2, frame_shape=TINY)
    assert architecture_hash(named) == architecture_hash(
        build_conv_autoencoder(2, frame_shape=TINY))


@pytest.mark.parametrize("other", [
    lambda: tiny_mlae(units=7), lambda: tiny_mlae(activation="tanh"),
    lambda: build_model("Convolutional", conv_filters=2, frame_shape=TINY)],
    ids=["one more unit", "another activation", "another model"])
def test_architecture_hash_changes_with_the_architecture(other):
    from blurutils.models import architecture_hash

    assert architecture_hash(other()) != architecture_hash(tiny_mlae())


def test_architecture_hash_is_the_same_in_another_process():
    """Worker processes train the runs: a hash must not depend on the process (hash
    seeds, how many layers were built before)."""
    import os
    import subprocess
    import sys

    from blurutils.models import architecture_hash

    code = ("from blurutils.session import quiet_tensorflow; quiet_tensorflow()\n"
            "from blurutils.models import architecture_hash, build_model\n"
            "print(architecture_hash(build_model('Convolutional', conv_filters=2, "
            "frame_shape=(8, 16))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONHASHSEED="12345"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    tiny_mlae()  # this process has built other layers first
    here = architecture_hash(build_model("Convolutional", conv_filters=2, frame_shape=TINY))
    assert done.stdout.strip().splitlines()[-1] == here


def test_a_subclassed_model_cannot_be_hashed():
    from blurutils.models import architecture_hash

    class Scale(keras.Model):
        def call(self, x):
            return 2 * x

    with pytest.raises(ConfigError, match="keras.Input"):
        architecture_hash(Scale())


def test_source_hash_ignores_comments_and_docstrings_not_code():
    """RunConfig's fingerprint uses it on models.py: an edited layer must change it, an
    edited comment or docstring must not (nothing to retrain)."""
    from pathlib import Path

    import blurutils.models as models
    from blurutils.models import builder_source_hash, source_hash

    source = Path(models.__file__).read_text(encoding="utf-8")
    assert builder_source_hash() == source_hash(source)
    assert "DENSE_UNITS = (1024, 512," in source
    commented = source.replace('"""Multilayer autoencoder', '"""A multilayer autoencoder', 1)
    commented = commented.replace("\nDENSE_UNITS", "\n# the paper's sizes\nDENSE_UNITS", 1)
    assert commented != source and source_hash(commented) == source_hash(source)
    edited = source.replace("DENSE_UNITS = (1024, 512,", "DENSE_UNITS = (1025, 512,", 1)
    assert source_hash(edited) != source_hash(source)
