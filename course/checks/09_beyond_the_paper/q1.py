"""09_beyond_the_paper, Exercise 1 (how many trainings does a full audit need?): ``distinct_trainings()``."""

from otter.test_files import test_case

OK_FORMAT = False
name = "q1"
points = 1


@test_case(name="q1: 45 distinct trainings")
def test_count(distinct_trainings):
    assert callable(distinct_trainings), "distinct_trainings is not defined: run the exercise cell first"
    folders = set(distinct_trainings())
    assert len(folders) == 45, f"{len(folders)} distinct (model, run folder) pairs, expected 45"


@test_case(name="q1: per model")
def test_per_model(distinct_trainings):
    folders = set(distinct_trainings())
    counts = {model: sum(m == model for m, _ in folders)
              for model in ("Forward", "Backward", "Bi-Directional", "Convolutional")}
    expected = {"Forward": 6, "Backward": 12, "Bi-Directional": 12, "Convolutional": 15}
    assert counts == expected, f"trainings per model {counts}, expected {expected}"


@test_case(name="q1: the folders compat names", hidden=True)
def test_folders(distinct_trainings):
    from blurutils import compat
    from blurutils.audit import audit_variants
    from blurutils.catalog import ALL_LOSSES, ALL_MODELS

    expected = {(m, compat.run_folder_name(f"{m}-{l}", m, v.quirks))
                for v in audit_variants() for m in ALL_MODELS for l in ALL_LOSSES}
    assert set(distinct_trainings()) == expected
