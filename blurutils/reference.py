"""The paper's published numbers and its six observations, checked on ours.

The numbers come from the authors' spreadsheets (``blurutils/data/``, sources named in
each file); ``docs/paper.md`` summarises the protocol.  :func:`observation_verdicts`
turns the paper's sections 4.1-4.2 into six testable statements.
"""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

from .catalog import ALL_MODELS
from .statistics import DOES_NOT_HOLD, HOLDS, NOT_MEANINGFUL, NOT_TESTED


def paper_tables() -> pd.DataFrame:
    """The paper's Tables 1-2 (full precision, from the authors' spreadsheet)."""
    text = resources.files("blurutils").joinpath("data/paper_tables_1_2.csv").read_text()
    return pd.read_csv(io.StringIO(text), comment="#")


def paper_loss_curves() -> pd.DataFrame:
    """The authors' per-epoch losses behind Figure 2 (dense models only)."""
    text = resources.files("blurutils").joinpath("data/paper_loss_curves.csv").read_text()
    return pd.read_csv(io.StringIO(text), comment="#")


def comparison_table(table1: pd.DataFrame, table2: pd.DataFrame) -> pd.DataFrame:
    """Our Table 1/2 means and stds beside the paper's published numbers."""
    paper = paper_tables().set_index("paper_row")
    ours = table1.set_index("paper_row")
    ours_rbf = table2.set_index("paper_row")
    rows = []
    for label in ours.index:
        if label not in paper.index:  # a loss the paper did not try (e.g. MSE+BLUR)
            continue
        p = paper.loc[label]
        rows.append(dict(paper_row=label,
                         bf_mean_paper=p.bf_mean, bf_mean_ours=ours.loc[label, "mean"],
                         bf_std_paper=p.bf_std, bf_std_ours=ours.loc[label, "std"],
                         rbf_mean_paper=p.rbf_mean, rbf_mean_ours=ours_rbf.loc[label, "mean"],
                         rbf_std_paper=p.rbf_std, rbf_std_ours=ours_rbf.loc[label, "std"]))
    return pd.DataFrame(rows)


def comparison_with_intervals(table1: pd.DataFrame, table2: pd.DataFrame) -> pd.DataFrame:
    """Our Table 1/2 means with their 95% intervals beside the paper's means, and whether
    each run interpolated: the comparison of a multi-seed study (intervals over seeds)
    or of one seed (block-bootstrap intervals over frames).

    ``interpolates`` is the table's ``interpolates_in`` ("2 of 3") or ``learned``
    column, whichever it has.
    """
    paper = paper_tables().set_index("paper_row")
    ours, ours_rbf = table1.set_index("paper_row"), table2.set_index("paper_row")
    learned = next((c for c in ("interpolates_in", "learned") if c in ours.columns), None)
    rows = []
    for label in ours.index:
        if label not in paper.index:
            continue
        row = dict(paper_row=label, bf_mean_paper=paper.loc[label, "bf_mean"],
                   bf_mean_ours=ours.loc[label, "mean"],
                   bf_ci_low=ours.loc[label].get("ci_low", float("nan")),
                   bf_ci_high=ours.loc[label].get("ci_high", float("nan")),
                   rbf_mean_paper=paper.loc[label, "rbf_mean"],
                   rbf_mean_ours=ours_rbf.loc[label, "mean"],
                   rbf_ci_low=ours_rbf.loc[label].get("ci_low", float("nan")),
                   rbf_ci_high=ours_rbf.loc[label].get("ci_high", float("nan")))
        if learned:
            row["interpolates"] = ours.loc[label, learned]
        rows.append(row)
    return pd.DataFrame(rows)


def _means(table: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(r.model, r.loss): r.mean for r in table.itertuples()}


def observation_verdicts(table1: pd.DataFrame, table2: pd.DataFrame, *,
                         learned: dict[tuple[str, str], bool] | None = None,
                         mean_abs_rbf: dict[tuple[str, str], float] | None = None,
                         rbf1_floor: float = 1.0) -> pd.DataFrame:
    """The paper's six observations (sections 4.1 and 4.2), checked on our numbers.

    Each verdict is ``holds``, ``does not hold``, ``not tested`` (runs missing) or
    ``not meaningful`` — when ``learned`` says a run it rests on does not interpolate
    (it predicts about the mean frame whatever its input, so its blur is the blur of an
    average picture, not of interpolation) — with the numbers it rests on.

    RBF-3 ("closest to the truth's blur") is judged on |mean RBF|, the only reading the
    paper's Table 2 allows; with ``mean_abs_rbf`` (mean |RBF| per run) its evidence also
    gives the verdict under the per-frame reading.  ``rbf1_floor`` is how far above 0
    RBF-1 wants the conv models (1.0: twice as blurry as the truth); for a relative
    measure that is a difference of bounded scores, pass a floor on that scale.
    """
    bf, rbf = _means(table1), _means(table2)
    dense = [m for m in ALL_MODELS if m != "Convolutional"]

    def have(*keys):
        return all(k in bf for k in keys)

    def fmt(d, keys):
        return ", ".join(f"{m} {l} {d[(m, l)]:.3g}" for m, l in keys)

    out = []

    def add(obs_id, claim, keys, test, detail):
        if not have(*keys):
            out.append(dict(observation=obs_id, claim=claim, verdict=NOT_TESTED,
                            evidence="the runs it needs were not part of this study"))
            return
        idle = [f"{m} {l}" for m, l in keys if learned is not None and not learned.get((m, l), True)]
        verdict = HOLDS if test() else DOES_NOT_HOLD
        evidence = detail()
        if idle:
            evidence = (f"would be '{verdict}', but {', '.join(idle)} "
                        f"{'does' if len(idle) == 1 else 'do'} not interpolate; " + evidence)
            verdict = NOT_MEANINGFUL
        out.append(dict(observation=obs_id, claim=claim, verdict=verdict, evidence=evidence))

    cp_keys = [(m, "CP") for m in dense]
    other_dense = [(m, l) for m in dense for l in ("MSE", "MSLE")]
    add("BF-1", "Dense (non-convolutional) models trained with CP give exceptionally sharp "
        "frames (lowest BF)", cp_keys + other_dense,
        lambda: all(bf[(m, "CP")] < min(bf[(m, "MSE")], bf[(m, "MSLE")]) for m in dense),
        lambda: f"mean BF: {fmt(bf, cp_keys)} vs MSE/MSLE {fmt(bf, other_dense)}")
    conv_keys = [("Convolutional", l) for l in ("MSE", "MSLE")]
    add("BF-2", "The convolutional models are particularly blurry (highest BF)",
        conv_keys + other_dense + cp_keys,
        lambda: min(bf[k] for k in conv_keys) > max(bf[k] for k in other_dense + cp_keys),
        lambda: f"mean BF: {fmt(bf, conv_keys)}; highest dense {max(bf[k] for k in other_dense + cp_keys):.3g}")
    conv_all = conv_keys + [("Convolutional", "CP")]
    add("BF-3", "The convolutional model is blurrier with CP than with MSE or MSLE", conv_all,
        lambda: bf[("Convolutional", "CP")] > max(bf[k] for k in conv_keys),
        lambda: f"mean BF: {fmt(bf, conv_all)}")
    add("RBF-1", "The convolutional models are extraordinarily blurry relative to the truth "
        "(highest RBF, well above 0)", conv_all + other_dense + cp_keys,
        lambda: min(rbf[k] for k in conv_all) > max(max(rbf[k] for k in other_dense + cp_keys),
                                                   rbf1_floor),
        lambda: f"mean RBF: {fmt(rbf, conv_all)}; highest dense {max(rbf[k] for k in other_dense + cp_keys):.3g}")
    add("RBF-2", "Dense models trained with CP average a negative RBF (sharper than the truth)",
        cp_keys, lambda: all(rbf[k] < 0 for k in cp_keys),
        lambda: f"mean RBF: {fmt(rbf, cp_keys)}")
    add("RBF-3", "Dense CP models come closest to the truth's blur (smallest |mean RBF|)",
        cp_keys + other_dense + conv_all,
        lambda: max(abs(rbf[k]) for k in cp_keys) < min(abs(rbf[k]) for k in other_dense + conv_all),
        lambda: f"|mean RBF|: {fmt({k: abs(v) for k, v in rbf.items()}, cp_keys)}; smallest "
                f"other {min(abs(rbf[k]) for k in other_dense + conv_all):.3g}"
                + _other_reading(mean_abs_rbf, cp_keys, other_dense + conv_all))
    return pd.DataFrame(out)


def _other_reading(mean_abs_rbf: dict[tuple[str, str], float] | None, cp_keys, others) -> str:
    """RBF-3's second reading: the smallest mean |RBF| (per-frame distance from the
    truth's blur) instead of the smallest |mean RBF| (blurrier and sharper frames of one
    run cancel out)."""
    if not mean_abs_rbf or not all(k in mean_abs_rbf for k in cp_keys + others):
        return ""
    holds = max(mean_abs_rbf[k] for k in cp_keys) < min(mean_abs_rbf[k] for k in others)
    worst_cp = max(mean_abs_rbf[k] for k in cp_keys)
    best_other = min(mean_abs_rbf[k] for k in others)
    return (f". Read as the smallest mean |RBF| instead: {HOLDS if holds else DOES_NOT_HOLD} "
            f"(largest dense CP {worst_cp:.3g}, smallest other {best_other:.3g})")


#: The sharpness measures the six observations are re-judged with: (label, column of
#: the prediction's blur score, column of its relative version, RBF-1's floor).  Every
#: blur score is "higher = blurrier"; see blurutils.metrics.
MEASURES = (
    ("Laplacian (BF, the paper's)", "bf_pred", "rbf", 1.0),
    ("Tenengrad (1 / Sobel energy)", "tbf_pred", "rtbf", 1.0),
    ("blur effect (Crété-Roffet)", "blur_effect_pred", "rblur_effect", 0.1),
    ("high-frequency share (1 / share)", "hfbf_pred", "rhfbf", 1.0),
)


def verdicts_by_measure(metrics: dict[tuple[str, str], pd.DataFrame], *,
                        learned: dict[tuple[str, str], bool] | None = None,
                        measures=MEASURES) -> pd.DataFrame:
    """The six observations judged with each sharpness measure in turn: one row per
    observation, one column per measure (a finding that holds only under the Laplacian
    may be about noise or contrast rather than sharpness)."""
    from .evaluation import summary_table

    columns = {}
    for label, score, relative, floor in measures:
        if not all(score in df and relative in df for df in metrics.values()):
            continue
        t1, t2 = summary_table(metrics, score), summary_table(metrics, relative)
        verdicts = observation_verdicts(t1, t2, learned=learned, rbf1_floor=floor)
        columns[label] = verdicts.set_index("observation")["verdict"]
    table = pd.DataFrame(columns)
    table.index.name = "observation"
    return table.reset_index()
