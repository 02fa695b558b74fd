"""The paper's three losses (section 3) and the Cosine Proximity pitfall on (H, W, 1) outputs."""

from __future__ import annotations

import numpy as np
import pytest

from blurutils.errors import ConfigError
from blurutils.session import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from blurutils.catalog import LOSS_NAMES  # noqa: E402
from blurutils.losses import (  # noqa: E402
    cosine_proximity, get_loss, last_axis_cosine_proximity)
from blurutils.models import build_conv_autoencoder  # noqa: E402

H, W = 100, 200
B = 3
#: The two output layouts a loss meets: (B, 100, 200, 1) frames and (B, 20000) flat.
SHAPES = {"frame": (B, H, W, 1), "flat": (B, H * W)}


@pytest.fixture(scope="module")
def frames_pair() -> tuple[np.ndarray, np.ndarray]:
    """Target and prediction frames in [0, 1], float32 (B, 100, 200, 1), all different."""
    rng = np.random.default_rng(0)
    y_true = rng.random(SHAPES["frame"], dtype=np.float32)
    y_pred = np.clip(y_true + rng.normal(0, 0.2, y_true.shape), 0, 1).astype(np.float32)
    y_pred[1] = rng.random((H, W, 1), dtype=np.float32)  # one unrelated prediction
    return y_true, y_pred


def shaped(arrays, shape_name):
    return tuple(a.reshape(SHAPES[shape_name]) for a in arrays)


def np_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """-cos between whole frames, per example, in float64."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    return -np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def value(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


# --- MSE and MSLE ---------------------------------------------------------------------

@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_mse_is_the_mean_of_squared_residuals(frames_pair, shape_name):
    y_true, y_pred = shaped(frames_pair, shape_name)
    expected = np.mean((y_true.astype(np.float64) - y_pred) ** 2)
    assert float(value(get_loss("MSE")(y_true, y_pred))) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_msle_is_the_mean_of_squared_log_residuals(frames_pair, shape_name):
    y_true, y_pred = shaped(frames_pair, shape_name)
    t, p = y_true.astype(np.float64), y_pred.astype(np.float64)
    expected = np.mean((np.log(t + 1) - np.log(p + 1)) ** 2)
    assert float(value(get_loss("MSLE")(y_true, y_pred))) == pytest.approx(expected, rel=1e-4)
    # ... and not MSE: the logs matter.
    assert expected != pytest.approx(np.mean((t - p) ** 2), rel=1e-2)


@pytest.mark.parametrize("name", ["MSE", "MSLE", "CP"])
def test_both_layouts_give_the_same_loss(frames_pair, name):
    loss = get_loss(name)
    frame = value(loss(*shaped(frames_pair, "frame")))
    flat = value(loss(*shaped(frames_pair, "flat")))
    np.testing.assert_allclose(frame, flat, rtol=1e-6)


# --- Cosine Proximity -----------------------------------------------------------------

@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_cosine_proximity_is_minus_cos_between_whole_frames(frames_pair, shape_name):
    y_true, y_pred = shaped(frames_pair, shape_name)
    got = value(cosine_proximity(y_true, y_pred))
    assert got.shape == (B,)
    np.testing.assert_allclose(got, np_cos(y_true, y_pred), rtol=1e-5)
    assert np.all(got > -1) and np.all(got < 0)  # different non-negative frames
    assert len(np.unique(np.round(got, 4))) == B  # one value per example, not a constant


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_cosine_proximity_range_and_extremes(shape_name):
    rng = np.random.default_rng(1)
    a = rng.normal(size=SHAPES[shape_name]).astype(np.float32)   # signed values
    b = rng.normal(size=SHAPES[shape_name]).astype(np.float32)
    mixed = value(cosine_proximity(a, b))
    assert np.all(mixed >= -1) and np.all(mixed <= 1)
    np.testing.assert_allclose(mixed, np_cos(a, b), atol=1e-6)
    np.testing.assert_allclose(value(cosine_proximity(a, a)), -1.0, atol=1e-6)
    np.testing.assert_allclose(value(cosine_proximity(a, -a)), 1.0, atol=1e-6)
    np.testing.assert_allclose(value(cosine_proximity(a, 3 * a)), -1.0, atol=1e-6)  # scale-free


def test_cosine_proximity_of_identical_frames_is_minus_one(frames_pair):
    y_true, _ = frames_pair
    np.testing.assert_allclose(value(cosine_proximity(y_true, y_true)), -1.0, atol=1e-6)


def test_cosine_proximity_of_a_black_frame_is_finite(frames_pair):
    y_true, _ = frames_pair
    got = value(cosine_proximity(y_true, np.zeros_like(y_true)))
    assert np.all(np.isfinite(got))


def grad_wrt_pred(loss, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    p = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value_ = tf.reduce_mean(loss(tf.constant(y_true), p))
    return value_.numpy(), tape.gradient(value_, p).numpy()


@pytest.mark.parametrize("pitfall", [
    pytest.param(lambda t, p: keras.losses.CosineSimilarity()(t, p), id="CosineSimilarity"),
    pytest.param(last_axis_cosine_proximity, id="last_axis_cosine_proximity"),
])
def test_the_last_axis_pitfall_on_frame_outputs(frames_pair, pitfall):
    """Keras' default axis=-1 on (B, H, W, 1): constant -1 and no gradient."""
    y_true, y_pred = frames_pair
    other = np.random.default_rng(2).random(y_pred.shape, dtype=np.float32) * 0.9 + 0.05
    for prediction in (y_pred[0:3] + 0.01, other, y_true):
        np.testing.assert_allclose(value(pitfall(y_true, np.clip(prediction, 0.01, 1))),
                                   -1.0, atol=1e-6)
    loss, grad = grad_wrt_pred(pitfall, y_true, np.clip(y_pred, 0.01, 1))
    assert loss == pytest.approx(-1.0, abs=1e-6)
    assert np.max(np.abs(grad)) < 1e-7  # (numerically zero: nothing to learn from)

    good_loss, good_grad = grad_wrt_pred(cosine_proximity, y_true, np.clip(y_pred, 0.01, 1))
    assert -1 < good_loss < -0.5
    assert np.max(np.abs(good_grad)) > 1e-6
    assert np.count_nonzero(good_grad) > good_grad.size // 2


def test_last_axis_cosine_is_fine_on_flat_outputs(frames_pair):
    y_true, y_pred = shaped(frames_pair, "flat")
    np.testing.assert_allclose(value(last_axis_cosine_proximity(y_true, y_pred)),
                               value(cosine_proximity(y_true, y_pred)), rtol=1e-5)


def test_cosine_proximity_trains_a_conv_model_where_the_pitfall_cannot(frames_pair):
    keras.utils.set_random_seed(0)
    model = build_conv_autoencoder(2)
    x = frames_pair[1]
    norms = {}
    for name, loss in (("pitfall", keras.losses.CosineSimilarity()), ("CP", get_loss("CP"))):
        with tf.GradientTape() as tape:
            value_ = tf.reduce_mean(loss(frames_pair[0], model(x, training=True)))
        grads = tape.gradient(value_, model.trainable_variables)
        norms[name] = max(float(np.max(np.abs(g.numpy()))) for g in grads)
    assert norms["pitfall"] < 1e-7
    assert norms["CP"] > 1e-5


# --- lookup and serialisation ---------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("MSE", keras.losses.MeanSquaredError), ("mse", keras.losses.MeanSquaredError),
    ("Mse", keras.losses.MeanSquaredError),
    ("MSLE", keras.losses.MeanSquaredLogarithmicError),
    ("msle", keras.losses.MeanSquaredLogarithmicError),
])
def test_get_loss_names(name, expected):
    assert isinstance(get_loss(name), expected)


@pytest.mark.parametrize("name", ["CP", "cp", "Cp"])
def test_get_loss_cp_is_the_whole_frame_cosine(name):
    assert get_loss(name) is cosine_proximity


@pytest.mark.parametrize("name", ["", "MAE", "cosine", "mse2", "CP "])
def test_unknown_loss_is_a_config_error(name):
    with pytest.raises(ConfigError, match="unknown loss"):
        get_loss(name)


def test_loss_names():
    assert LOSS_NAMES == ("MSE", "MSLE", "CP")
    for name in LOSS_NAMES:
        get_loss(name)


def test_model_compiled_with_cosine_proximity_saves_and_loads_safely(tmp_path, frames_pair):
    assert keras.saving.get_registered_object("blurutils>cosine_proximity") is cosine_proximity
    keras.utils.set_random_seed(0)
    model = build_conv_autoencoder(1)
    model.compile(optimizer="adam", loss=get_loss("CP"), jit_compile=False)
    model.fit(frames_pair[1], frames_pair[0], batch_size=B, epochs=1, verbose=0)
    path = tmp_path / "cp.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x, y = frames_pair[1], frames_pair[0]
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0, batch_size=B),
                               model.evaluate(x, y, verbose=0, batch_size=B), rtol=1e-6)
    expected = float(np.mean(np_cos(y, value(model(x)))))
    assert loaded.evaluate(x, y, verbose=0, batch_size=B) == pytest.approx(expected, rel=1e-5)
