"""Several training seeds: parsing ``--seeds``, tables with intervals over seeds, verdicts
as rates and paired tests — on hand-made numbers, then once end to end."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blurutils.config import make_config, parse_seeds
from blurutils.errors import ConfigError
from blurutils.seeds import (over_seeds, paired_support, paired_tests, seed_folder,
                             verdict_rates)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("0,3,7", [0, 3, 7]),
                                         (" 2 - 3 ", [2, 3]), ([5, 1, 5], [5, 1]), (7, [7]),
                                         ("4", [4]), (["1", 2], [1, 2])])
def test_seeds_parse(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("bad, word", [("3-1", "ends before"), ("0-1000", "at most"),
                                       ("a,b", "not a whole number"), ("-1", "not a whole"),
                                       ([2**32], "outside"), (True, "expected"),
                                       ("", "not a whole"), (1.5, "expected")])
def test_bad_seeds_are_one_line_config_errors(bad, word):
    with pytest.raises(ConfigError, match=word) as info:
        parse_seeds(bad)
    assert "\n" not in str(info.value)


def test_config_holds_seeds_and_yaml_reads_them_back(tmp_path):
    from blurutils.config import dump_config, load_config

    config = make_config("smoke", seeds="0-2", out=str(tmp_path))
    assert config.seeds == [0, 1, 2]
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(config))
    assert load_config(path).seeds == [0, 1, 2]
    assert make_config("smoke").seeds == []


def _table(means: dict[str, float], learned: str = "yes") -> pd.DataFrame:
    rows = [dict(paper_row=f"{m} MLAE - {l}", model=m, loss=l, mean=v, learned=learned)
            for (m, l), v in ((tuple(k.split("/")), v) for k, v in means.items())]
    return pd.DataFrame(rows)


def test_over_seeds_is_a_t_interval_of_the_per_seed_means():
    tables = {0: _table({"Forward/MSE": 10.0}), 1: _table({"Forward/MSE": 12.0}),
              2: _table({"Forward/MSE": 14.0}, learned="does not interpolate")}
    row = over_seeds(tables).iloc[0]
    # t(0.975, 2) = 4.302652729911275; s = 2; half-width = t * s / sqrt(3)
    half = 4.302652729911275 * 2.0 / math.sqrt(3)
    assert row["mean"] == pytest.approx(12.0)
    assert row["ci_low"] == pytest.approx(12.0 - half)
    assert row["ci_high"] == pytest.approx(12.0 + half)
    assert row["n_seeds"] == 3 and row["interpolates_in"] == "2 of 3"
    assert (row["seed_0"], row["seed_2"]) == (10.0, 14.0)


def test_one_seed_has_no_interval():
    row = over_seeds({0: _table({"Forward/MSE": 10.0})}).iloc[0]
    assert row["mean"] == 10.0 and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def test_verdict_rates_count_the_seeds():
    def v(*verdicts):
        return pd.DataFrame(dict(observation=["BF-1", "BF-2"], claim=["a", "b"],
                                 verdict=list(verdicts)))

    rates = verdict_rates({0: v("holds", "holds"), 1: v("does not hold", "holds"),
                           3: v("holds", "not meaningful")}).set_index("observation")
    assert rates.loc["BF-1", "verdict"].startswith("holds in 2 of 3 seeds")
    assert rates.loc["BF-1", "holds"] == 2 and rates.loc["BF-2", "holds"] == 2
    assert "1 not meaningful" in rates.loc["BF-2", "verdict"]
    assert rates.loc["BF-1", "seed_3"] == "holds"


def test_paired_tests_compare_the_runs_an_observation_compares():
    rng = np.random.default_rng(0)
    # 10 contiguous test segments of 3 frames: the units of the paired comparison
    frames = np.concatenate([np.arange(start, start + 3) for start in range(0, 100, 10)])

    def metrics(shift: float) -> pd.DataFrame:
        bf = 10 + rng.normal(0, 0.1, 30)
        return pd.DataFrame(dict(frame=frames, bf_pred=bf + shift, rbf=rng.normal(0, 1, 30)))

    runs = {("Forward", "CP"): metrics(-1.0), ("Forward", "MSE"): metrics(0.0),
            ("Forward", "MSLE"): metrics(0.0)}
    table = paired_tests({0: runs})
    bf1 = table[table["observation"] == "BF-1"].set_index("run_b")
    assert set(bf1.index) == {"Forward MLAE - MSE", "Forward MLAE - MSLE"}
    assert (bf1["a_lower_in"] == 1.0).all()        # CP lower in every segment
    assert (bf1["n_segments"] == 10).all() and (bf1["n"] == 30).all()
    # sign test over 10 segments all one way: p = 2 / 2**10, not a per-frame p-value
    assert np.allclose(bf1["pvalue"], 2 / 2**10)
    assert (bf1["mean_difference"] < 0).all() and (bf1["ci_high"] < 0).all()
    assert set(table["observation"]) == {"BF-1", "RBF-3"}  # no conv runs: no BF-3


def _paired_rows(*rows):
    return pd.DataFrame([dict(seed=seed, observation=obs, a_lower_in=lower, pvalue=p)
                         for seed, obs, lower, p in rows])


def test_paired_support_counts_significant_comparisons_each_way():
    paired = _paired_rows((0, "BF-1", 0.9, 1e-6),    # for the claim
                          (0, "BF-1", 0.2, 1e-9),    # against it
                          (1, "BF-1", 0.7, 0.20),    # the claim's way, not significant
                          (1, "BF-1", 0.1, 0.01),    # against it
                          (0, "RBF-3", 0.6, 0.049))  # for the claim, just significant
    support = paired_support(paired)
    assert support["BF-1"] == ("for the claim in 1 of 4, against in 2 (sign test over test "
                               "segments, p < 0.05)")
    assert support["RBF-3"].startswith("for the claim in 1 of 1, against in 0")
    assert paired_support(paired, alpha=0.001)["RBF-3"].startswith("for the claim in 0 of 1")
    assert paired_support(pd.DataFrame()) == {}


def test_verdict_rates_carry_the_paired_tests_when_given():
    v = pd.DataFrame(dict(observation=["BF-1", "BF-2"], claim=["a", "b"],
                          verdict=["holds", "does not hold"]))
    rates = verdict_rates({0: v}, paired=_paired_rows((0, "BF-1", 0.9, 1e-3)))
    rates = rates.set_index("observation")
    assert rates.loc["BF-1", "paired_tests"].startswith("for the claim in 1 of 1")
    assert rates.loc["BF-2", "paired_tests"] == "no paired comparison"
    assert "paired_tests" not in verdict_rates({0: v}).columns


def test_comparison_with_intervals_puts_the_papers_means_beside_ours():
    from blurutils.reference import comparison_with_intervals, paper_tables

    t1 = pd.DataFrame(dict(paper_row=["Forward MLAE - MSE", "Forward MLAE - MSE+BLUR"],
                           mean=[5.0, 6.0], ci_low=[4.0, 5.0], ci_high=[6.0, 7.0],
                           interpolates_in=["3 of 3", "2 of 3"]))
    t2 = t1.assign(mean=[0.5, 0.6], ci_low=[0.25, 0.5], ci_high=[0.75, 0.7])
    table = comparison_with_intervals(t1, t2)
    paper = paper_tables().set_index("paper_row").loc["Forward MLAE - MSE"]
    assert table["paper_row"].tolist() == ["Forward MLAE - MSE"]  # the paper has no BLUR row
    row = table.iloc[0]
    assert (row.bf_mean_paper, row.rbf_mean_paper) == (paper.bf_mean, paper.rbf_mean)
    assert (row.bf_mean_ours, row.bf_ci_low, row.bf_ci_high) == (5.0, 4.0, 6.0)
    assert (row.rbf_mean_ours, row.rbf_ci_low, row.rbf_ci_high) == (0.5, 0.25, 0.75)
    assert row.interpolates == "3 of 3"
    one_seed = comparison_with_intervals(t1.drop(columns="interpolates_in")
                                         .assign(learned="yes"), t2)
    assert one_seed["interpolates"].tolist() == ["yes"]


def test_seed_folders():
    assert seed_folder("out", 3) == Path("out") / "seeds" / "seed-3"


@pytest.mark.slow
def test_two_seeds_end_to_end_then_a_third_trains_only_the_new_one(tmp_path, monkeypatch):
    """Two seeds of a 2-run smoke study: per-seed folders, tables over seeds, rates; a
    third seed added later trains only that seed's runs."""
    from blurutils.seeds import run_seeds

    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "out"
    config = make_config("smoke", models=["Forward"], losses=["MSE", "CP"], epochs=1,
                         isolate_runs=False, baselines="none", out=str(out))
    lines: list[str] = []
    result = run_seeds(config, [0, 1], report=lines.append)
    for seed in (0, 1):
        assert (seed_folder(out, seed) / "REPORT.md").is_file()
    table1 = pd.read_csv(out / "table1_blur_factor.csv")
    assert table1["paper_row"].tolist() == ["Forward MLAE - MSE", "Forward MLAE - CP"]
    assert (table1["n_seeds"] == 2).all()
    for _, row in table1.iterrows():
        assert row["mean"] == pytest.approx((row["seed_0"] + row["seed_1"]) / 2)
        assert row["ci_low"] < row["mean"] < row["ci_high"]
        per_seed = [pd.read_csv(seed_folder(out, s) / "table1_blur_factor.csv")
                    .set_index("paper_row").loc[row["paper_row"], "mean"] for s in (0, 1)]
        assert [row["seed_0"], row["seed_1"]] == pytest.approx(per_seed)
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert verdicts["verdict"].str.contains("2 seeds").all()
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "2 seeds" in report and "seeds/seed-1/REPORT.md" in report
    comparison = pd.read_csv(out / "paper_comparison.csv").set_index("paper_row")
    assert comparison.loc["Forward MLAE - CP", "bf_mean_ours"] == pytest.approx(
        table1.set_index("paper_row").loc["Forward MLAE - CP", "mean"])
    assert comparison.loc["Forward MLAE - CP", "bf_mean_paper"] == 3.77434
    assert "for the claim in" in (out / "paper_comparison.md").read_text(encoding="utf-8")
    assert verdicts.set_index("observation").loc["BF-1", "paired_tests"].startswith(
        "for the claim in")
    assert result.paired_tests["seed"].tolist().count(0) == 2  # BF-1 and RBF-3: CP vs MSE
    lines.clear()
    again = run_seeds(config, [0, 1, 2], report=lines.append)
    trained = {line.split()[0] for line in lines if " epoch  1/1" in line}
    assert len([line for line in lines if " epoch  1/1" in line]) == 2  # seed 2 only
    assert trained == {"Forward-MSE", "Forward-CP"}
    assert (again.table1["n_seeds"] == 3).all()


def test_reproduce_seeds_option_is_checked_before_anything_runs(tmp_path):
    env = dict(os.environ, BLURUTILS_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "blurutils", "reproduce", "--profile", "smoke",
                           "--seeds", "3-1", "--out", str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    line, = done.stderr.strip().splitlines()
    assert "seeds" in line and "ends before" in line and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
