"""03_forward_autoencoder, Exercise 1 (count the parameters by hand): ``dense_params(n_in, n_out)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 1


@test_case(name="q1: weights and biases")
def test_small_layers(dense_params):
    assert callable(dense_params), "dense_params is not defined: run the exercise cell first"
    assert dense_params(10, 3) == 33, f"dense_params(10, 3) = {dense_params(10, 3)!r}: 30 weights + 3 biases"
    assert dense_params(1, 1) == 2, f"dense_params(1, 1) = {dense_params(1, 1)!r}: 1 weight + 1 bias"


@test_case(name="q1: the first layer of the paper's Forward model")
def test_first_layer(dense_params):
    got = dense_params(100 * 200, 1024)
    assert got == 20_481_024, f"dense_params(20000, 1024) = {got!r}, expected 20,481,024"


@test_case(name="q1: the layers add up to Keras' count", hidden=True)
def test_whole_model(dense_params):
    from blurutils.models import build_model

    height, width = 6, 10
    widths = [height * width, 1024, 512, 256, 128, 256, 512, 1024, height * width]
    total = sum(dense_params(a, b) for a, b in zip(widths[:-1], widths[1:]))
    assert total == build_model("Forward", frame_shape=(height, width)).count_params()
