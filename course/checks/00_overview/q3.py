"""00_overview, Exercise 3 (count the optimiser steps): ``adam_steps(n_train, batch_size, epochs)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q3"
points = 1


@test_case(name="q3: full batches")
def test_full_batches(adam_steps):
    assert callable(adam_steps), "adam_steps is not defined: run the exercise cell first"
    assert adam_steps(128, 64, 1) == 2, f"adam_steps(128, 64, 1) = {adam_steps(128, 64, 1)}, expected 2"
    assert adam_steps(640, 64, 10) == 100, f"adam_steps(640, 64, 10) = {adam_steps(640, 64, 10)}, expected 100"


@test_case(name="q3: the last batch of an epoch may be smaller")
def test_partial_batch(adam_steps):
    assert adam_steps(92, 64, 10) == 20, \
        f"adam_steps(92, 64, 10) = {adam_steps(92, 64, 10)}: 92 examples make 2 batches of 64 per epoch"
    assert adam_steps(1, 64, 3) == 3, f"adam_steps(1, 64, 3) = {adam_steps(1, 64, 3)}, expected 3"


@test_case(name="q3: other sizes", hidden=True)
def test_other_sizes(adam_steps):
    import math

    for n_train, batch_size, epochs in [(8394, 64, 10), (65, 64, 2), (1000, 1, 1), (999, 100, 7)]:
        expected = epochs * math.ceil(n_train / batch_size)
        assert adam_steps(n_train, batch_size, epochs) == expected, (n_train, batch_size, epochs)
