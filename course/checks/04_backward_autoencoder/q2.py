"""04_backward_autoencoder, Exercise 2 (swap twice): ``swap(inputs, targets)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q2"
points = 1


@test_case(name="q2: one swap exchanges the roles")
def test_one_swap(swap):
    import numpy as np

    assert callable(swap), "swap is not defined: run the exercise cell first"
    inputs, targets = np.array([0, 1, 2]), np.array([1, 2, 3])
    x, y = swap(inputs, targets)
    assert np.array_equal(x, targets) and np.array_equal(y, inputs), "swap(inputs, targets) should return (targets, inputs)"


@test_case(name="q2: two swaps give the Forward data back")
def test_two_swaps(swap):
    import numpy as np
    from blurutils.pairs import examples_for

    fwd = examples_for("forward", np.arange(1, 11))
    x, y = swap(*swap(fwd.inputs[:, 0], fwd.targets))
    assert np.array_equal(x, fwd.inputs[:, 0]) and np.array_equal(y, fwd.targets)


@test_case(name="q2: any pair of objects", hidden=True)
def test_any_objects(swap):
    assert tuple(swap("a", "b")) == ("b", "a")
