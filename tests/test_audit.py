"""The audit: eight variants, shared runs, and a plain-language verdict per finding."""

from __future__ import annotations

import pandas as pd
import pytest

from blurutils.audit import (ALL_OFF, ALL_ON, STEPS_MATCHED, audit_variants, findings,
                             matched_epochs, run_audit)
from blurutils.compat import ALL_QUIRKS
from blurutils.config import make_config


def test_variants_are_all_on_each_alone_off_all_off_and_steps_matched():
    variants = audit_variants()
    assert [v.name for v in variants] == [ALL_ON, "−a", "−b", "−c", "−d", "−e", "−f", ALL_OFF,
                                          STEPS_MATCHED]
    assert variants[0].quirks == ALL_QUIRKS and variants[-2].quirks == ()
    assert variants[-1].quirks == ALL_QUIRKS and variants[-1].steps_matched
    for v, missing in zip(variants[1:7], ALL_QUIRKS):
        assert missing not in v.quirks and len(v.quirks) == 5
    # the core audit: its conclusions' variants, plus -d, which reuses the all-on runs
    assert [v.name for v in audit_variants(core_only=True)] == [ALL_ON, "−d", ALL_OFF,
                                                                STEPS_MATCHED]


@pytest.mark.parametrize("epochs, targets, pairs, expected", [
    (10, 3430, 1750, 20), (10, 85, 46, 18), (1, 8, 5, 2), (10, 100, 100, 10), (3, 1, 50, 1)])
def test_matched_epochs_give_about_the_same_number_of_steps(epochs, targets, pairs, expected):
    assert matched_epochs(epochs, targets, pairs) == expected


def _verdicts(per_variant: dict[str, str]) -> pd.DataFrame:
    names = [v.name for v in audit_variants()]
    return pd.DataFrame([dict(variant=name, observation="BF-1", claim="CP is sharpest",
                              verdict=per_variant.get(name, per_variant["default"]),
                              evidence="") for name in names])


@pytest.mark.parametrize("per_variant, survives, words", [
    ({"default": "holds"}, "yes", "survives"),
    ({"default": "holds", "−d": "does not hold", ALL_OFF: "does not hold"}, "no",
     "produced by (d)"),
    ({"default": "holds", ALL_OFF: "does not hold"}, "no", "several quirks at once"),
    ({"default": "holds", "−a": "does not hold"}, "yes", "fragile"),
    ({"default": "does not hold", ALL_OFF: "holds", "−b": "holds"}, "yes", "because of (b)"),
    ({"default": "does not hold"}, "no", "not reproduced"),
    ({"default": "does not hold", "−a": "holds"}, "no", "only when (a)"),
    ({"default": "not tested"}, "not tested", "not part of the audit"),
])
def test_findings_say_whether_and_why_a_finding_survives(per_variant, survives, words):
    row = findings(_verdicts(per_variant)).iloc[0]
    assert row.survives == survives
    assert words in row.verdict


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    config = make_config("smoke", max_frames=30, epochs=1, models=["Forward", "Convolutional"],
                         losses=["MSE", "CP"], baselines="none", out=str(out))
    lines: list[str] = []
    return run_audit(config, report=lines.append), lines, out


def test_audit_trains_each_distinct_run_once(audit):
    _, lines, out = audit
    folders = sorted(p.name for p in (out / "runs").iterdir())
    # Forward: pairs on/off; Conv: (a,e,f) all on, each alone off, all off.
    expected = sorted(f"{run}{tag}" for run in ("Forward-MSE", "Forward-CP")
                      for tag in ("", "~fillnet-a")) + sorted(
        f"Convolutional-{loss}{tag}" for loss in ("MSE", "CP")
        for tag in ("", "~fillnet-aef", "~fillnet-ef", "~fillnet-af", "~fillnet-ae"))
    assert folders == sorted(expected)
    trained = {line.split()[0] for line in lines if " epoch " in line}
    assert len([line for line in lines if " epoch  1/1" in line]) == len(expected)
    # the steps-matched variant: the authors' code for more epochs, in a folder of its own
    matched = sorted(p.name for p in (out / "audit-steps-matched" / "runs").iterdir())
    assert matched == ["Convolutional-CP~fillnet-aef", "Convolutional-MSE~fillnet-aef",
                       "Forward-CP~fillnet-a", "Forward-MSE~fillnet-a"]
    assert any(" epoch  2/2" in line for line in lines)
    assert trained == {"Forward-MSE", "Forward-CP", "Convolutional-MSE", "Convolutional-CP"}
    assert not list((out / "runs").glob("*/model.keras"))  # the audit keeps no models


def test_audit_files_and_tables(audit):
    result, _, out = audit
    for name in ("audit.csv", "audit_verdicts.csv", "audit_findings.csv", "audit.md",
                 "audit_config.yaml"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "audit.csv")
    assert len(table) == 9 * 4 and set(table.variant) == {v.name for v in audit_variants()}
    assert (table.loc[table.variant == STEPS_MATCHED, "epochs"] == 2).all()
    verdicts = pd.read_csv(out / "audit_verdicts.csv")
    assert len(verdicts) == 9 * 6
    text = (out / "audit.md").read_text()
    assert "paper (published)" in text and "Does each finding survive?" in text
    assert "5.264e+04" in text  # the paper's Conv-CP BF (52,638) beside ours


def test_variants_that_share_training_differ_only_where_a_quirk_acts(audit):
    result, _, _ = audit
    t = result.table.set_index(["variant", "paper_row"])
    # (b), (c) do not touch Forward or Conv; (d) touches only the dense Blur Factor.
    for variant in ("−b", "−c"):
        pd.testing.assert_series_equal(t.loc[variant].bf_mean, t.loc[ALL_ON].bf_mean,
                                       check_names=False)
    conv = "Convolutional MLAE - MSE"
    assert t.loc[("−d", conv), "bf_mean"] == t.loc[(ALL_ON, conv), "bf_mean"]
    # The same Forward run, measured on the reshape (all on) and the true layout (−d).
    run_dir = audit[2] / "runs" / "Forward-MSE~fillnet-a"
    fwd = "Forward MLAE - MSE"
    reshaped = pd.read_csv(run_dir / "per_frame_metrics_reshaped.csv").bf_pred.mean()
    plain = pd.read_csv(run_dir / "per_frame_metrics.csv").bf_pred.mean()
    assert t.loc[(ALL_ON, fwd), "bf_mean"] == pytest.approx(reshaped, rel=1e-12)
    assert t.loc[("−d", fwd), "bf_mean"] == pytest.approx(plain, rel=1e-12)
    assert reshaped != pytest.approx(plain)


def test_rerunning_the_audit_trains_nothing(audit, tmp_path):
    result, _, out = audit
    config = make_config("smoke", max_frames=30, epochs=1, models=["Forward", "Convolutional"],
                         losses=["MSE", "CP"], baselines="none", out=str(out))
    lines: list[str] = []
    again = run_audit(config, report=lines.append)
    assert not [line for line in lines if " epoch " in line]
    pd.testing.assert_frame_equal(again.table, result.table)


def test_largest_effect_names_the_quirk_that_moves_a_number_most():
    from blurutils.audit import largest_effects

    names = [v.name for v in audit_variants()]
    bf = {name: 100.0 for name in names}
    bf.update({"−e": 8.0, "−a": 150.0, ALL_OFF: 5.0})   # (e) divides by 12.5; (a) x1.5
    table = pd.DataFrame([dict(variant=name, paper_row="Convolutional MLAE - CP", bf_mean=value)
                          for name, value in bf.items()])
    row = largest_effects(table).iloc[0]
    assert row.quirk == "(e) conv_loss"
    assert row.ratio == pytest.approx(0.08) and row.bf_all_off == 5.0


def _core_verdicts(on: str, off: str, matched: str) -> pd.DataFrame:
    return pd.DataFrame([dict(variant=name, observation="BF-2", claim="conv blurriest",
                              verdict=verdict, evidence="")
                         for name, verdict in ((ALL_ON, on), (ALL_OFF, off),
                                               (STEPS_MATCHED, matched))])


def test_core_findings_do_not_claim_what_only_the_single_quirk_variants_can_tell():
    row = findings(_core_verdicts("holds", "does not hold", "holds")).iloc[0]
    assert row.survives == "no"
    assert "survives any single quirk" not in row.verdict
    assert "make audit-full" in row.verdict
    assert "Matching the optimizer steps does not change it" in row.verdict


def test_core_findings_name_a_quirk_whose_removal_alone_flips_the_verdict():
    verdicts = pd.concat([_core_verdicts("holds", "does not hold", "holds"),
                          pd.DataFrame([dict(variant="−d", observation="BF-2", claim="c",
                                             verdict="does not hold", evidence="")])])
    row = findings(verdicts).iloc[0]
    assert "produced by (d)" in row.verdict and "audit-full" not in row.verdict


def test_an_untrained_run_under_the_authors_code_is_named_not_judged():
    row = findings(_core_verdicts("not meaningful", "does not hold", "not meaningful")).iloc[0]
    assert row.survives == "no"
    assert "cannot be judged" in row.verdict and "does not hold" in row.verdict
    row = findings(_core_verdicts("holds", "not meaningful", "holds")).iloc[0]
    assert row.survives == "not meaningful" and "larger scale" in row.verdict
