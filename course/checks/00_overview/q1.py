"""00_overview, Exercise 1 (read the tables): ``extremes(table)``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 1


@test_case(name="q1: the paper's Table 1")
def test_paper_table(extremes):
    from blurutils.reference import paper_tables

    assert callable(extremes), "extremes is not defined: run the exercise cell first"
    got = tuple(extremes(paper_tables()))
    assert got == ("Forward MLAE - CP", "Convolutional MLAE - CP"), (
        f"extremes(paper) returned {got!r}: expected the paper_row labels of the lowest and "
        "the highest mean BF, in that order")


@test_case(name="q1: another table", hidden=True)
def test_other_table(extremes):
    import pandas as pd

    table = pd.DataFrame({"paper_row": ["a", "b", "c", "d"], "bf_mean": [3.0, 0.5, 9.0, 2.0]})
    got = tuple(extremes(table))
    assert got == ("b", "c"), f"extremes(table) returned {got!r}, expected ('b', 'c')"
