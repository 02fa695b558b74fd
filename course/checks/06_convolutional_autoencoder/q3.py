"""06_convolutional_autoencoder, Exercise 3 (the authors' 32 filters): ``n_parameters(filters)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q3"
points = 1


@test_case(name="q3: 16 filters, the paper's model")
def test_16(n_parameters):
    assert callable(n_parameters), "n_parameters is not defined: run the exercise cell first"
    assert n_parameters(16) == 7_265, f"n_parameters(16) = {n_parameters(16)!r}, expected 7,265"


@test_case(name="q3: 32 filters, the authors' code")
def test_32(n_parameters):
    from blurutils.models import build_model

    expected = build_model("Convolutional", conv_filters=32).count_params()
    assert n_parameters(32) == expected, f"n_parameters(32) = {n_parameters(32)!r}, expected {expected:,}"


@test_case(name="q3: other widths", hidden=True)
def test_other(n_parameters):
    from blurutils.models import build_model

    for filters in (1, 8):
        assert n_parameters(filters) == build_model("Convolutional", conv_filters=filters).count_params()
