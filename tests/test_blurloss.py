"""The blur-aware loss: a differentiable |log(1 + RBF)| added to the paper's losses."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from blurutils.errors import ConfigError, MetricInputError
from blurutils.session import quiet_tensorflow

quiet_tensorflow()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from blurutils import metrics  # noqa: E402
from blurutils.blurloss import (  # noqa: E402
    BlurAwareLoss, blur_penalty, laplacian_tensor, laplacian_variance_tensor, loss_from_name,
    make_blur_aware_loss)
from blurutils.catalog import (  # noqa: E402
    BLUR_LOSS_NAMES, DEFAULT_LAMBDA, blur_loss_name, is_blur_aware_name, parse_blur_loss_name)
from blurutils.losses import get_loss  # noqa: E402


@pytest.fixture(scope="module")
def real(sample_frames) -> np.ndarray:
    """Six real frames of the sample clip, float32 (6, 100, 200) in [0, 1]."""
    return sample_frames[10:130:20].astype(np.float32) / np.float32(255)


def gaussian(frames: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames]).astype(np.float32)


def value(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def test_laplacian_matches_the_blur_factor_laplacian(real):
    lap = value(laplacian_tensor(real))
    assert lap.shape == real.shape + (1,)
    np.testing.assert_allclose(lap[..., 0], metrics.laplacian(real), atol=1e-6)
    np.testing.assert_allclose(value(laplacian_variance_tensor(real)),
                               metrics.laplacian_variance(real), rtol=1e-5)
    # Same on a random image with strong borders (checks the reflected edges).
    noise = np.random.default_rng(0).random((2, 17, 23), dtype=np.float32)
    np.testing.assert_allclose(value(laplacian_tensor(noise))[..., 0],
                               metrics.laplacian(noise), atol=1e-6)


def test_shapes_accepted(real):
    expected = value(blur_penalty(real, gaussian(real, 1.0)))
    assert expected.shape == (len(real),)
    four_d = value(blur_penalty(real[..., None], gaussian(real, 1.0)[..., None]))
    flat = value(blur_penalty(real.reshape(len(real), -1),
                              gaussian(real, 1.0).reshape(len(real), -1)))
    np.testing.assert_allclose(four_d, expected, rtol=1e-6)
    np.testing.assert_allclose(flat, expected, rtol=1e-6)
    with pytest.raises(MetricInputError, match="blur penalty"):
        blur_penalty(np.zeros((2, 10, 10, 3), np.float32), np.zeros((2, 10, 10, 3), np.float32))
    with pytest.raises(ConfigError, match="eps"):
        blur_penalty(real, real, eps=0.0)


def test_penalty_zero_for_identical_positive_for_blurred(real):
    np.testing.assert_array_equal(value(blur_penalty(real, real)), 0.0)
    mild, strong = (value(blur_penalty(real, gaussian(real, s))) for s in (0.7, 2.0))
    assert (mild > 0.1).all()
    assert (strong > mild).all()


def test_penalty_is_abs_log_of_one_plus_rbf(real):
    pred = gaussian(real, 1.0)
    rbf = metrics.relative_blur_factor(pred, real)
    np.testing.assert_allclose(value(blur_penalty(real, pred, eps=1e-12)),
                               np.abs(np.log1p(rbf)), rtol=1e-4)


def test_penalty_same_for_k_times_blurrier_and_k_times_sharper(real):
    # var(Lap(a * P)) = a**2 var(Lap(P)): a = 2 is 4x sharper, a = 1/2 is 4x blurrier.
    sharper = value(blur_penalty(real, 2.0 * real))
    blurrier = value(blur_penalty(real, 0.5 * real))
    np.testing.assert_allclose(sharper, 2 * math.log(2), rtol=1e-3)
    np.testing.assert_allclose(blurrier, 2 * math.log(2), rtol=1e-3)
    # And swapping prediction and truth gives the same value.
    pred = gaussian(real, 1.0)
    np.testing.assert_allclose(value(blur_penalty(pred, real)), value(blur_penalty(real, pred)),
                               rtol=1e-6)


def test_constant_prediction_is_finite(real):
    flat = np.full_like(real, 0.5)
    penalty = value(blur_penalty(real, flat))
    assert np.isfinite(penalty).all() and (penalty > 5).all()
    assert value(blur_penalty(flat, flat)).tolist() == [0.0] * len(real)
    y_pred = tf.Variable(flat)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(blur_penalty(real, y_pred))
    assert np.isfinite(tape.gradient(loss, y_pred).numpy()).all()


def test_gradient_is_finite_nonzero_and_a_step_reduces_the_penalty(real):
    y_pred = tf.Variable(gaussian(real, 1.5))
    with tf.GradientTape() as tape:
        before = tf.reduce_mean(blur_penalty(real, y_pred))
    grad = tape.gradient(before, y_pred).numpy()
    assert np.isfinite(grad).all()
    assert (np.abs(grad).reshape(len(real), -1).max(axis=1) > 0).all()
    y_pred.assign_sub(5.0 * grad)   # one plain gradient-descent step
    after = tf.reduce_mean(blur_penalty(real, y_pred))
    assert float(after) < float(before) - 0.1


def tiny_conv_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((20, 40, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def small_pair(real):
    """Inputs and targets of 20x40 (downsized real frames), float32 (4, 20, 40, 1)."""
    small = np.stack([cv2.resize(f, (40, 20), interpolation=cv2.INTER_AREA) for f in real])
    return small[:-1, ..., None], small[1:, ..., None]


def test_gradient_flows_to_conv_model_weights(small_pair):
    x, y = small_pair
    model = tiny_conv_model()
    with tf.GradientTape() as tape:
        penalty = tf.reduce_mean(blur_penalty(y, model(x)))
    grads = tape.gradient(penalty, model.trainable_variables)
    assert len(grads) == 4
    for g in grads:
        assert np.isfinite(g.numpy()).all()
        assert np.abs(g.numpy()).max() > 0


@pytest.mark.parametrize("base", ["MSE", "MSLE", "CP"])
def test_loss_is_base_plus_lambda_times_penalty(base, real):
    y, p = real[..., None], gaussian(real, 1.0)[..., None]
    base_value = float(value(keras.ops.mean(get_loss(base)(y, p))))
    penalty = float(np.mean(value(blur_penalty(y, p))))
    assert float(BlurAwareLoss(base, lam=0.0)(y, p)) == pytest.approx(base_value, rel=1e-5)
    assert float(BlurAwareLoss(base, lam=0.5)(y, p)) == pytest.approx(
        base_value + 0.5 * penalty, rel=1e-5)
    assert float(BlurAwareLoss(base)(y, p)) == pytest.approx(
        base_value + DEFAULT_LAMBDA * penalty, rel=1e-5)


def test_compiled_model_trains_saves_and_loads_safely(tmp_path, small_pair):
    x, y = small_pair
    model = tiny_conv_model()
    model.compile(optimizer="adam", loss=make_blur_aware_loss("CP+BLUR@0.5"), jit_compile=False)
    history = model.fit(x, y, batch_size=3, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    path = tmp_path / "blur.keras"
    model.save(path)
    assert keras.saving.get_registered_object("blurutils>BlurAwareLoss") is BlurAwareLoss
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded.loss, BlurAwareLoss)
    assert (loaded.loss.base, loaded.loss.lam, loaded.loss.eps) == ("CP", 0.5, 1e-6)
    np.testing.assert_allclose(loaded.evaluate(x, y, batch_size=3, verbose=0),
                               model.evaluate(x, y, batch_size=3, verbose=0), rtol=1e-6)


def test_config_round_trip():
    loss = BlurAwareLoss("MSLE", lam=0.25, eps=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(again, BlurAwareLoss)
    assert again.get_config() == loss.get_config()
    assert loss.get_config()["base"] == "MSLE" and loss.name == "msle_blur_0.25"


@pytest.mark.parametrize("name, expected", [
    ("MSE+BLUR", ("MSE", 0.1)), ("cp+blur", ("CP", 0.1)), ("MSLE+BLUR@0.5", ("MSLE", 0.5)),
    (" mse + blur @ 2 ", ("MSE", 2.0)), ("CP+BLUR@0", ("CP", 0.0)),
    ("MSE+BLUR@1e-2", ("MSE", 0.01)),
])
def test_parse_names(name, expected):
    assert parse_blur_loss_name(name) == expected
    loss = make_blur_aware_loss(name)
    assert (loss.base, loss.lam) == expected
    assert is_blur_aware_name(name)


@pytest.mark.parametrize("name", ["MSE", "BLUR", "FOO+BLUR", "MSE+BLUR@", "MSE+BLUR@abc",
                                  "MSE+BLUR@-1", "MSE+BLUR@nan", "MSE+BLUR@inf", "MSE+SHARP",
                                  "MSE+BLUR+BLUR", "", None])
def test_bad_names_are_config_errors(name):
    with pytest.raises(ConfigError):
        make_blur_aware_loss(name)


def test_names_and_dispatch():
    assert BLUR_LOSS_NAMES == ("MSE+BLUR", "MSLE+BLUR", "CP+BLUR")
    assert blur_loss_name("mse") == "MSE+BLUR"
    assert blur_loss_name("CP", 0.5) == "CP+BLUR@0.5"
    assert isinstance(loss_from_name("MSE"), keras.losses.MeanSquaredError)
    assert isinstance(loss_from_name("CP+BLUR"), BlurAwareLoss)
    with pytest.raises(ConfigError):
        loss_from_name("HUBER")
    with pytest.raises(ConfigError):
        BlurAwareLoss("HUBER")
    with pytest.raises(ConfigError):
        BlurAwareLoss("MSE", lam=-0.1)
    with pytest.raises(ConfigError):
        BlurAwareLoss("MSE", eps=0)
