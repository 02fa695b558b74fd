"""The study over several training seeds: each seed's grid trained once, then every
number given as a mean over seeds with a 95% confidence interval, and every observation
as "holds in k of n seeds" with paired tests over the same test frames.

One seed's study lives in ``<out>/seeds/seed-<k>/`` (a complete study folder of its own,
:func:`blurutils.study.run_study`), so adding seeds later trains only the new ones and
an interrupted multi-seed run resumes where it stopped.  The seed drives the split,
the weight initialisation and the shuffle order, so the interval covers all three.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .catalog import ALL_MODELS, paper_row
from .config import StudyConfig, dump_config
from .errors import redact
from .evaluation import write_csv
from .paths import write_text_atomic
from .reference import comparison_with_intervals
from .report import StudyResult, markdown_table
from .statistics import holds_rate, mean_ci_over_seeds, verdict_counts

def seed_folder(out: Path | str, seed: int) -> Path:
    """Where one seed's study of a multi-seed study lives."""
    return Path(out) / "seeds" / f"seed-{seed}"


@dataclass
class SeedsResult:
    """A multi-seed study: each seed's result and the tables over seeds."""

    config: StudyConfig
    seeds: list[int]
    out: Path
    per_seed: dict[int, StudyResult]
    table1: pd.DataFrame
    table2: pd.DataFrame
    verdicts: pd.DataFrame
    paired_tests: pd.DataFrame
    measure_verdicts: pd.DataFrame
    diagnostics: pd.DataFrame
    comparison: pd.DataFrame  # the paper's Tables 1-2 beside ours, with intervals
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def run_seeds(config: StudyConfig, seeds: list[int], *,
              report: Callable[[str], None] = print, executor=None) -> SeedsResult:
    """Run (or resume) the study once per seed, then write the tables over seeds."""
    from .study import run_study

    started = time.perf_counter()
    out = Path(config.out)
    per_seed = {}
    for seed in seeds:
        report(f"--- seed {seed} ({seeds.index(seed) + 1} of {len(seeds)}) -> "
               f"{seed_folder(out, seed).relative_to(out)}/")
        per_seed[seed] = run_study(dataclasses.replace(config, seed=seed, seeds=[],
                                                       out=str(seed_folder(out, seed))),
                                   report=report, executor=executor)
    table1 = over_seeds({s: r.table1 for s, r in per_seed.items()})
    table2 = over_seeds({s: r.table2 for s, r in per_seed.items()})
    paired = paired_tests({s: r.metrics for s, r in per_seed.items()})
    result = SeedsResult(
        config=config, seeds=list(seeds), out=out, per_seed=per_seed,
        table1=table1, table2=table2,
        verdicts=with_readings_over_seeds(
            verdict_rates({s: r.verdicts for s, r in per_seed.items()}, paired=paired),
            {s: r.verdicts for s, r in per_seed.items()}),
        paired_tests=paired,
        comparison=comparison_with_intervals(table1, table2),
        measure_verdicts=measure_rates({s: r.measure_verdicts for s, r in per_seed.items()}),
        diagnostics=diagnostics_over_seeds({s: r.diagnostics for s, r in per_seed.items()}))
    result.files = write_seed_outputs(result)
    result.seconds = time.perf_counter() - started
    return result


def over_seeds(tables: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Per row: the mean over seeds of each seed's mean, a 95% Student-t interval over
    seeds, the number of seeds, and in how many of them the run interpolated."""
    rows = []
    first = next(iter(tables.values()))
    for label, model, loss in zip(first["paper_row"], first["model"], first["loss"]):
        means, learned = [], 0
        for table in tables.values():
            row = table[table["paper_row"] == label]
            if len(row):
                means.append(float(row["mean"].iloc[0]))
                learned += int("learned" in row and row["learned"].iloc[0] == "yes")
        ci = mean_ci_over_seeds(means)
        rows.append(dict(paper_row=label, model=model, loss=loss, mean=ci.mean,
                         ci_low=ci.low, ci_high=ci.high, n_seeds=ci.n, n_inf=ci.n_inf,
                         interpolates_in=f"{learned} of {len(means)}",
                         **{f"seed_{s}": float(t.loc[t["paper_row"] == label, "mean"].iloc[0])
                            for s, t in tables.items() if (t["paper_row"] == label).any()}))
    return pd.DataFrame(rows)


def verdict_rates(verdicts: dict[int, pd.DataFrame],
                  paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each observation: "holds in k of n seeds", the counts, each seed's verdict and,
    with ``paired`` (:func:`paired_tests`), what the paired tests say about it
    (:func:`paired_support`)."""
    first = next(iter(verdicts.values()))
    support = paired_support(paired) if paired is not None else {}
    rows = []
    for obs, claim in zip(first["observation"], first["claim"]):
        per_seed = {s: v.set_index("observation").loc[obs, "verdict"] for s, v in verdicts.items()}
        counts = verdict_counts(per_seed.values())
        row = dict(observation=obs, claim=claim, verdict=holds_rate(per_seed.values()),
                   holds=counts.get("holds", 0), n_seeds=len(per_seed))
        if paired is not None:
            row["paired_tests"] = support.get(obs, "no paired comparison")
        rows.append({**row, **{f"seed_{s}": v for s, v in per_seed.items()}})
    return pd.DataFrame(rows)


def with_readings_over_seeds(rates: pd.DataFrame,
                             verdicts: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """:func:`verdict_rates` with both readings over seeds beside it
    (:func:`blurutils.verdicts.readings_over_seeds`), when every seed has them."""
    from .verdicts import readings_over_seeds

    if not all("paper" in v for v in verdicts.values()):
        return rates
    readings = readings_over_seeds(verdicts).drop(columns="claim")
    return rates.merge(readings, on="observation", how="left")


#: Significance level of the paired tests' one-line summaries.
PAIRED_ALPHA = 0.05


def paired_support(paired: pd.DataFrame, alpha: float = PAIRED_ALPHA) -> dict[str, str]:
    """Per observation, one phrase over all seeds' paired comparisons: in how many the
    first run is lower in most frames (the claim's direction) with p < ``alpha``, and in
    how many the opposite holds significantly — e.g. ``"for the claim in 1 of 8, against
    in 6 (Wilcoxon, p < 0.05)"``."""
    out = {}
    if paired is None or not len(paired):
        return out
    for obs, rows in paired.groupby("observation", sort=False):
        significant = rows["pvalue"] < alpha
        favour = int((significant & (rows["a_lower_in"] > 0.5)).sum())
        against = int((significant & (rows["a_lower_in"] < 0.5)).sum())
        out[obs] = (f"for the claim in {favour} of {len(rows)}, against in {against} "
                    f"(sign test over test segments, p < {alpha:g})")
    return out


def measure_rates(tables: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """:func:`blurutils.reference.verdicts_by_measure` over seeds: "holds in k of n"."""
    tables = {s: t for s, t in tables.items() if len(t)}
    if not tables:
        return pd.DataFrame()
    first = next(iter(tables.values()))
    rows = []
    for obs in first["observation"]:
        row = {"observation": obs}
        for measure in first.columns[1:]:
            row[measure] = holds_rate(t.set_index("observation").loc[obs, measure]
                                      for t in tables.values())
        rows.append(row)
    return pd.DataFrame(rows)


def diagnostics_over_seeds(tables: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Input gain and spread per run and baseline: mean, min and max over seeds."""
    tables = {s: t for s, t in tables.items() if len(t)}
    if not tables:
        return pd.DataFrame()
    data = pd.concat([t.assign(seed=s) for s, t in tables.items()], ignore_index=True)
    grouped = data.groupby("method", sort=False)
    out = grouped.agg(input_gain_db=("input_gain_db", "mean"),
                      input_gain_min_db=("input_gain_db", "min"),
                      spread=("spread", "mean"),
                      mean_frame_gain_db=("mean_frame_gain_db", "mean")).reset_index()
    out["learned"] = [f"{(g['learned'] == 'yes').sum()} of {len(g)}"
                      if (g["learned"] != "baseline (no learning)").all() else "baseline"
                      for _, g in grouped]
    return out


#: The comparisons of two runs that the observations make, tested frame by frame:
#: (observation, column, run a, run b) with "a lower than b" as the observation's claim.
def _comparisons(models: set[str]) -> list[tuple[str, str, tuple[str, str], tuple[str, str]]]:
    dense = [m for m in ALL_MODELS if m != "Convolutional" and m in models]
    pairs = [("BF-1", "bf_pred", (m, "CP"), (m, other)) for m in dense
             for other in ("MSE", "MSLE")]
    if "Convolutional" in models:
        pairs += [("BF-3", "bf_pred", ("Convolutional", other), ("Convolutional", "CP"))
                  for other in ("MSE", "MSLE")]
    pairs += [("RBF-3", "abs_rbf", (m, "CP"), (m, other)) for m in dense
              for other in ("MSE", "MSLE")]
    return pairs


def paired_tests(metrics: dict[int, dict[tuple[str, str], pd.DataFrame]]) -> pd.DataFrame:
    """Paired comparisons over the same test frames, per seed, for each pair of runs an
    observation compares (e.g. BF-1: Forward CP against Forward MSE), with the
    contiguous test segments as units (:func:`blurutils.statistics.paired_segment_test`:
    frames within a segment are correlated, so per-frame p-values carry no weight).

    ``a_lower_in``: share of segments where run a's mean is lower (the observation's
    direction); ``pvalue``: two-sided sign test over segments; ``mean_difference`` (a -
    b) with its 95% segment t interval.  Frames with an infinite value are dropped and
    counted."""
    from .statistics import contiguous_segments, paired_segment_test

    rows = []
    for seed, runs in metrics.items():
        models = {m for m, _ in runs}
        for obs, column, a, b in _comparisons(models):
            if a not in runs or b not in runs:
                continue
            joined = runs[a][["frame"]].assign(a=_column(runs[a], column)).merge(
                runs[b][["frame"]].assign(b=_column(runs[b], column)), on="frame")
            test = paired_segment_test(joined["a"].to_numpy(float), joined["b"].to_numpy(float),
                                       contiguous_segments(joined["frame"].to_numpy()),
                                       interval="t")
            lower = test.n_against  # segments where a - b < 0: a lower, the claim's side
            rows.append(dict(seed=seed, observation=obs, column=column,
                             run_a=paper_row(*a), run_b=paper_row(*b),
                             mean_difference=test.mean_difference, ci_low=test.low,
                             ci_high=test.high, n_segments=test.n_segments,
                             a_lower_in=(lower / test.n_segments) if test.n_segments
                             else float("nan"),
                             pvalue=test.sign_p, wilcoxon_segments_p=test.wilcoxon_p,
                             n=test.n, n_dropped=test.n_dropped))
    return pd.DataFrame(rows)


def _column(df: pd.DataFrame, column: str) -> np.ndarray:
    if column == "abs_rbf":
        return df["rbf"].abs().to_numpy(dtype=np.float64)
    return df[column].to_numpy(dtype=np.float64)


def write_seed_outputs(result: SeedsResult) -> dict[str, Path]:
    """Tables over seeds (CSV and Markdown), paired tests, figures and REPORT.md."""
    from .figures import figure3_blur_factor, figure4_relative_blur_factor, save_figure

    out = result.out
    files: dict[str, Path] = {}
    for key, name, table in (("table1", "table1_blur_factor", result.table1),
                             ("table2", "table2_relative_blur_factor", result.table2),
                             ("verdicts", "verdicts", result.verdicts),
                             ("paired_tests", "paired_tests", result.paired_tests),
                             ("measure_verdicts", "verdicts_by_measure", result.measure_verdicts),
                             ("diagnostics", "diagnostics", result.diagnostics),
                             ("comparison", "paper_comparison", result.comparison)):
        if len(table):
            write_csv(table, out / f"{name}.csv")
            write_text_atomic(out / f"{name}.md", markdown_table(table))
            files[key] = out / f"{name}.csv"
    if len(result.comparison):  # the comparison with the observations' rates under it
        write_text_atomic(out / "paper_comparison.md", markdown_table(result.comparison)
                          + "\n" + markdown_table(result.verdicts))
    files["figure3"] = save_figure(figure3_blur_factor(result.table1),
                                   out / "figure3_blur_factor.png")
    files["figure4"] = save_figure(figure4_relative_blur_factor(result.table2),
                                   out / "figure4_relative_blur_factor.png")
    write_text_atomic(out / "config.yaml", dump_config(result.config))
    files["report"] = out / "REPORT.md"
    write_text_atomic(files["report"], render_seeds_report(result))
    return files


def _compact_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdicts over seeds without the per-seed reasons, for Markdown."""
    columns = {"observation": "observation", "paper": "paper's measure",
               "paper_holds_in": "holds in", "blur": "blur (calibrated)",
               "blur_holds_in": "holds in ", "verdict": "means only",
               "paired_tests": "paired tests"}
    present = [c for c in columns if c in verdicts]
    return verdicts[present].rename(columns=columns)


def render_seeds_report(result: SeedsResult) -> str:
    """REPORT.md of a multi-seed study."""
    c, n = result.config, len(result.seeds)
    first = next(iter(result.per_seed.values()))
    seeds = ", ".join(str(s) for s in result.seeds)
    links = ", ".join(f"[seed {s}](seeds/seed-{s}/REPORT.md)" for s in result.seeds)
    small = n < 3
    return "\n".join([
        "# Blur in autoencoder video interpolation — reproduction over seeds", "",
        f"Profile `{c.profile}`, source `{redact(c.source)}`, {c.epochs} epochs, {c.split} split, "
        f"**{n} seeds** ({seeds}); {first.n_test} test targets per seed. Each seed's own "
        f"report: {links}.", "",
        "Every number is the mean over seeds of that seed's mean over its test frames, "
        "with a 95% Student-t confidence interval over seeds (`ci_low`, `ci_high`; NaN "
        "with one seed). The seed changes the split, the initial weights and the "
        "shuffle order." + (" With fewer than 3 seeds the intervals are very wide or "
                            "undefined: run more (`--seeds 0-4`)." if small else ""), "",
        "## Did the models learn to interpolate?", "",
        "Input gain (dB, mean and minimum over seeds) and spread; see a seed's report for "
        "the definitions. `learned`: in how many seeds the run's input gain was ≥ 1 dB.", "",
        markdown_table(result.diagnostics, floatfmt=".3g") if len(result.diagnostics) else "",
        "## Beside the paper", "",
        "Our mean over seeds with its 95% interval beside the paper's mean "
        "([paper_comparison.csv](paper_comparison.csv)). Magnitudes differ (other frames; "
        "the paper's dense BFs come from the authors' scrambled reshape): compare "
        "orderings.", "",
        markdown_table(result.comparison, floatfmt=".4g") if len(result.comparison) else "",
        "## Table 1 — Blur Factor over seeds", "", markdown_table(result.table1),
        "## Table 2 — Relative Blur Factor over seeds", "", markdown_table(result.table2),
        "## The paper's observations over seeds", "",
        "Two readings per observation, each judged in every seed with intervals over the "
        "contiguous test segments (see a seed's report): on the **paper's measure** (BF, "
        "RBF) and on **blur** (the calibrated measures). Over seeds a reading *holds* when "
        "it holds in every seed, *does not hold* when it fails in every seed, and is "
        "*undetermined* otherwise; `holds in` gives k of n seeds with an exact 95% "
        "binomial interval. `means only`: the table comparison of means with no "
        "tolerance, as a rate over seeds. Every reason is in "
        "[verdicts.csv](verdicts.csv).", "",
        markdown_table(_compact_verdicts(result.verdicts)),
        "## Paired tests over the same test frames", "",
        "Per seed, for each pair of runs an observation compares: the mean difference "
        "(first run minus second) with its 95% interval over test segments, the share of "
        "segments where the first run scores lower (`a_lower_in`, the observation's "
        "direction) and a two-sided sign test over segments (`pvalue`; "
        "[paired_tests.csv](paired_tests.csv)). Segments, not frames, are the units: "
        "consecutive frames are correlated.", "",
        markdown_table(result.paired_tests, floatfmt=".3g") if len(result.paired_tests) else "",
        "## The observations under other sharpness measures", "",
        markdown_table(result.measure_verdicts) if len(result.measure_verdicts) else "",
        "## Figures", "", "![figure3](figure3_blur_factor.png)", "",
        "![figure4](figure4_relative_blur_factor.png)", "",
    ])
