"""The paper's six observations, read with inference: holds, does not hold, or undetermined.

The table verdicts (:func:`blurutils.reference.observation_verdicts`) compare means with
no tolerance.  Here each observation is broken into the elementary comparisons it makes
(e.g. BF-2: each convolutional MSE/MSLE run is blurrier than each dense run), and each
comparison is tested on the same test frames with an interval that respects correlated
frames: the per-frame difference of log scores (a blur *ratio*), averaged with a
cluster-robust t interval over the contiguous test segments
(:func:`blurutils.statistics.segment_t_ci`; docs/statistics.md shows that per-frame
intervals cover 25% where they claim 95%).

One comparison is *for* the claim when its whole interval lies on the claim's side,
*against* when it lies on the other side, *undetermined* otherwise.  An observation
**does not hold** if any comparison is against it, **holds** if all are for it, and is
**undetermined** otherwise ("margin within the noise").  Two readings:

* ``paper``: the paper's measure (BF, RBF as defined);
* ``blur``: every measure in :data:`BLUR_MEASURES` (the ones that passed the calibration,
  docs/calibration.md) — holds only if all of them say so, undetermined when they
  disagree ("measures disagree").

Over seeds (:func:`readings_over_seeds`) a reading holds when it holds in every seed,
does not hold when it fails in every seed, and is undetermined otherwise ("seeds
disagree"), with "k of n seeds" and an exact binomial interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .catalog import ALL_MODELS, is_blur_aware_name, parse_blur_loss_name
from .errors import BlurUtilsError
from .reference import MEASURES as REFERENCE_MEASURES
from .statistics import (DOES_NOT_HOLD, HOLDS, NOT_MEANINGFUL, NOT_TESTED,
                         binomial_interval, contiguous_segments, effective_n, segment_t_ci)

__all__ = ["BLUR_MEASURES", "LOSS_MEASURES", "Measure", "OBSERVATIONS", "PAPER_MEASURE",
           "UNDETERMINED", "blur_by_motion", "loss_effect", "loss_effects",
           "observation_readings", "read_study_readings", "readings_over_seeds",
           "side_by_side"]

UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class Measure:
    """A sharpness measure as per-frame columns: ``score`` of the prediction (higher =
    blurrier), its ``relative`` version (0 = as blurry as the truth) and RBF-1's floor
    on that relative scale."""

    label: str
    score: str
    relative: str
    floor: float = 1.0


PAPER_MEASURE = Measure("Laplacian BF (the paper's)", "bf_pred", "rbf", 1.0)
#: The measures that count as evidence of blur (docs/calibration.md): 1 / high-frequency
#: share passes every criterion on the film and the synthetic clip; the contrast-matched
#: Laplacian passes all but noise, which it misses narrowly (and predictions carry no
#: added noise).  The paper's BF changes with contrast; Tenengrad too, and stripes two
#: rows wide fool it; the blur effect fails noise clearly.  The edge width passes on the
#: synthetic clip but is not in the per-frame files yet.
BLUR_MEASURES: tuple[Measure, ...] = (
    Measure("1 / high-frequency share", "hfbf_pred", "rhfbf", 1.0),
    Measure("contrast-matched Laplacian BF", "bf_matched", "rbf_matched", 1.0),
)

Run = tuple[str, str]
_DENSE = [m for m in ALL_MODELS if m != "Convolutional"]
_CONV_MSE_MSLE = [("Convolutional", "MSE"), ("Convolutional", "MSLE")]
_CONV_ALL = _CONV_MSE_MSLE + [("Convolutional", "CP")]
_DENSE_ALL = [(m, l) for m in _DENSE for l in ("MSE", "MSLE", "CP")]


@dataclass(frozen=True)
class Observation:
    """One of the paper's observations as elementary comparisons.

    ``blurrier``: pairs (a, b) claiming a is blurrier than b on the same frames (so also
    relative to the truth); ``above``/``below``: (run, level) claiming the run's mean relative
    score is above / below ``level`` (``None``: the measure's floor); ``closer``: pairs
    (a, b) claiming |mean relative score| of a is smaller than b's.
    """

    id: str
    claim: str
    blurrier: tuple[tuple[Run, Run], ...] = ()
    above: tuple[tuple[Run, float | None], ...] = ()
    below: tuple[tuple[Run, float], ...] = ()
    closer: tuple[tuple[Run, Run], ...] = ()

    def runs(self) -> set[Run]:
        pairs = self.blurrier + self.closer
        return ({r for p in pairs for r in p} | {r for r, _ in self.above}
                | {r for r, _ in self.below})


OBSERVATIONS: tuple[Observation, ...] = (
    Observation("BF-1", "Dense (non-convolutional) models trained with CP give exceptionally "
                "sharp frames (lowest BF)",
                blurrier=tuple(((m, other), (m, "CP")) for m in _DENSE
                               for other in ("MSE", "MSLE"))),
    Observation("BF-2", "The convolutional models are particularly blurry (highest BF)",
                blurrier=tuple((c, d) for c in _CONV_MSE_MSLE for d in _DENSE_ALL)),
    Observation("BF-3", "The convolutional model is blurrier with CP than with MSE or MSLE",
                blurrier=tuple((("Convolutional", "CP"), c) for c in _CONV_MSE_MSLE)),
    Observation("RBF-1", "The convolutional models are extraordinarily blurry relative to "
                "the truth (highest RBF, well above 0)",
                blurrier=tuple((c, d) for c in _CONV_ALL for d in _DENSE_ALL),
                above=tuple((c, None) for c in _CONV_ALL)),
    Observation("RBF-2", "Dense models trained with CP average a negative RBF (sharper than "
                "the truth)", below=tuple(((m, "CP"), 0.0) for m in _DENSE)),
    Observation("RBF-3", "Dense CP models come closest to the truth's blur (smallest |mean "
                "RBF|)",
                closer=tuple(((m, "CP"), other) for m in _DENSE
                             for other in _DENSE_ALL + _CONV_ALL if other[1] != "CP"
                             or other[0] == "Convolutional")),
)

FOR, AGAINST, UNSURE = "for", "against", "undetermined"


@dataclass(frozen=True)
class _Test:
    outcome: str      # FOR, AGAINST or UNSURE
    text: str         # e.g. "Conv MSE / Forward CP ×1.8 (1.4–2.3)"
    margin: float     # the estimate on the claim's side (> 0: the claim's direction)
    low: float        # the interval's bound nearest the claim's failing
    values: np.ndarray


def _short(run: Run) -> str:
    model, loss = run
    return f"{'Conv' if model == 'Convolutional' else model} {loss}"


def _segments(df: pd.DataFrame) -> np.ndarray:
    return contiguous_segments(df["frame"].to_numpy())


def _outcome(low: float, high: float) -> str:
    if np.isfinite(low) and low > 0:
        return FOR
    if np.isfinite(high) and high < 0:
        return AGAINST
    return UNSURE


def _log_ratio(a: pd.DataFrame, b: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame log(a / b) on the frames both runs measured, and their segments."""
    joined = a[["frame", column]].merge(b[["frame", column]], on="frame", suffixes=("_a", "_b"))
    va, vb = joined[f"{column}_a"].to_numpy(float), joined[f"{column}_b"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(va) - np.log(vb)
    d[~(np.isfinite(va) & np.isfinite(vb) & (va > 0) & (vb > 0))] = np.nan
    return d, contiguous_segments(joined["frame"].to_numpy())


def _pair_test(a: Run, b: Run, runs: dict[Run, pd.DataFrame], column: str) -> _Test:
    d, seg = _log_ratio(runs[a], runs[b], column)
    ci = segment_t_ci(d, seg)
    text = (f"{_short(a)} / {_short(b)} ×{np.exp(ci.mean):.3f} "
            f"({np.exp(ci.low):.3f}–{np.exp(ci.high):.3f})")
    return _Test(_outcome(ci.low, ci.high), text, ci.mean, ci.low, d)


def _level_test(run: Run, level: float, above: bool, runs: dict[Run, pd.DataFrame],
                column: str) -> _Test:
    df = runs[run]
    ci = segment_t_ci(df[column].to_numpy(float), _segments(df))
    sign = 1.0 if above else -1.0
    low, high = sorted((sign * (ci.low - level), sign * (ci.high - level)))
    text = (f"{_short(run)} mean {ci.mean:.3g} ({ci.low:.3g}–{ci.high:.3g}) "
            f"{'>' if above else '<'} {level:g}")
    return _Test(_outcome(low, high), text, sign * (ci.mean - level), low,
                 df[column].to_numpy(float))


def _abs_interval(df: pd.DataFrame, column: str) -> tuple[float, float, float]:
    ci = segment_t_ci(df[column].to_numpy(float), _segments(df))
    if ci.low > 0 or ci.high < 0:
        low, high = sorted((abs(ci.low), abs(ci.high)))
    else:
        low, high = 0.0, max(abs(ci.low), abs(ci.high))
    return abs(ci.mean), low, high


def _closer_test(a: Run, b: Run, runs: dict[Run, pd.DataFrame], column: str) -> _Test:
    """|mean| of a smaller than |mean| of b: for when a's interval of |mean| lies wholly
    below b's, against when wholly above (a conservative comparison of intervals)."""
    ma, la, ha = _abs_interval(runs[a], column)
    mb, lb, hb = _abs_interval(runs[b], column)
    outcome = FOR if ha < lb else AGAINST if la > hb else UNSURE
    text = f"|mean| {_short(a)} {ma:.3g} ({la:.3g}–{ha:.3g}) vs {_short(b)} {mb:.3g} ({lb:.3g}–{hb:.3g})"
    return _Test(outcome, text, mb - ma, lb - ha, np.array([]))


def _tests(obs: Observation, runs: dict[Run, pd.DataFrame], measure: Measure) -> list[_Test]:
    # Between runs on the same frames, log(1 + RBF_a) - log(1 + RBF_b) is the log ratio
    # of their scores, so the relative comparisons (RBF-1) use the scores too.
    tests = [_pair_test(a, b, runs, measure.score) for a, b in obs.blurrier]
    tests += [_level_test(r, measure.floor if level is None else level, True, runs,
                          measure.relative) for r, level in obs.above]
    tests += [_level_test(r, level, False, runs, measure.relative) for r, level in obs.below]
    tests += [_closer_test(a, b, runs, measure.relative) for a, b in obs.closer]
    return tests


def _combine(tests: list[_Test]) -> tuple[str, str, float]:
    """(reading, reason, margin) of an observation from its comparisons."""
    against = [t for t in tests if t.outcome == AGAINST]
    unsure = [t for t in tests if t.outcome == UNSURE]
    worst = min(tests, key=lambda t: t.margin)
    if against:
        strongest = min(against, key=lambda t: t.margin)
        return (DOES_NOT_HOLD, f"{len(against)} of {len(tests)} comparisons against the "
                f"claim, e.g. {strongest.text}", worst.margin)
    if unsure:
        return (UNDETERMINED, f"margin within the noise: {len(unsure)} of {len(tests)} "
                f"comparisons undetermined, e.g. {min(unsure, key=lambda t: t.low).text}",
                worst.margin)
    return HOLDS, f"all {len(tests)} comparisons for the claim; closest {worst.text}", worst.margin


def _has_columns(runs: dict[Run, pd.DataFrame], measure: Measure) -> bool:
    return all(measure.score in df and measure.relative in df for df in runs.values())


def observation_readings(metrics: dict[Run, pd.DataFrame], *,
                         learned: dict[Run, bool] | None = None,
                         blur_measures: Iterable[Measure] = BLUR_MEASURES) -> pd.DataFrame:
    """One row per observation: the paper's reading and the blur reading, each with its
    reason and margin, and what they rest on (test frames, segments, effective n).

    ``metrics`` are per-frame tables with a ``frame`` column (one study, one seed).
    A reading resting on a run that does not interpolate (``learned``) is *not
    meaningful*; one whose runs are missing is *not tested*.
    """
    blur_measures = [m for m in blur_measures if _has_columns(metrics, m)]
    rows = []
    for obs in OBSERVATIONS:
        row: dict[str, object] = dict(observation=obs.id, claim=obs.claim)
        needed = obs.runs()
        missing = [r for r in needed if r not in metrics]
        idle = sorted(_short(r) for r in needed if learned is not None
                      and r in learned and not learned[r])
        if missing:
            row.update(paper=NOT_TESTED, paper_reason="the runs it needs were not part of "
                       "this study", blur=NOT_TESTED, blur_reason="")
            rows.append(row)
            continue
        paper_tests = _tests(obs, metrics, PAPER_MEASURE)
        paper, reason, margin = _combine(paper_tests)
        blur_parts = []
        for measure in blur_measures:
            reading, why, _ = _combine(_tests(obs, metrics, measure))
            blur_parts.append((measure.label, reading, why))
        blur, blur_reason = _blur_reading(blur_parts)
        if idle:
            note = f"{', '.join(idle)} {'does' if len(idle) == 1 else 'do'} not interpolate"
            reason = f"would be '{paper}', but {note}; {reason}"
            blur_reason = f"would be '{blur}', but {note}; {blur_reason}"
            paper = blur = NOT_MEANINGFUL
        decisive = min(paper_tests, key=lambda t: t.margin)
        frames = next(iter(metrics.values()))
        n = effective_n(decisive.values, _segments(frames)) \
            if len(decisive.values) == len(frames) else None
        row.update(paper=paper, paper_reason=reason, paper_margin=float(margin),
                   blur=blur, blur_reason=blur_reason,
                   n_test_frames=len(frames), n_segments=int(_segments(frames).max() + 1),
                   n_effective=float(n.n_effective) if n is not None else float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _blur_reading(parts: list[tuple[str, str, str]]) -> tuple[str, str]:
    if not parts:
        return NOT_TESTED, "no calibrated measure in these per-frame files"
    readings = {reading for _, reading, _ in parts}
    if len(readings) == 1:
        reading = readings.pop()
        return reading, "; ".join(f"{label}: {why}" for label, _, why in parts)
    return UNDETERMINED, "measures disagree: " + "; ".join(
        f"{label} {reading}" for label, reading, _ in parts)


def readings_over_seeds(readings: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """Per observation and reading: holds in every seed, in none, or undetermined
    ("seeds disagree"), with "k of n seeds" and a 95% Clopper-Pearson interval."""
    first = next(iter(readings.values()))
    rows = []
    for obs, claim in zip(first["observation"], first["claim"]):
        row: dict[str, object] = dict(observation=obs, claim=claim)
        for reading in ("paper", "blur"):
            per_seed = {s: r.set_index("observation").loc[obs, reading]
                        for s, r in readings.items()}
            values = list(per_seed.values())
            k, n = values.count(HOLDS), len(values)
            low, high = binomial_interval(k, n)
            if NOT_TESTED in values:
                overall = NOT_TESTED
            elif NOT_MEANINGFUL in values:
                overall = NOT_MEANINGFUL
            elif all(v == values[0] for v in values) and values[0] in (HOLDS, DOES_NOT_HOLD):
                overall = values[0]
            else:
                overall = UNDETERMINED
            row[reading] = overall
            row[f"{reading}_holds_in"] = (f"{k} of {n} seeds (95% CI {100 * low:.0f}–"
                                          f"{100 * high:.0f}%)")
            row[f"{reading}_per_seed"] = ", ".join(f"{s}: {v}" for s, v in per_seed.items())
        rows.append(row)
    return pd.DataFrame(rows)


def read_study_readings(folder: str | Path) -> pd.DataFrame:
    """The two readings of a study folder's ``verdicts.csv`` (one seed, or the readings
    over seeds of a multi-seed study); raises a one-line BlurUtilsError when the file is
    missing or carries no readings (a study written before they existed)."""
    path = Path(folder) / "verdicts.csv"
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BlurUtilsError(f"{path}: no readable verdicts table ({exc})") from None
    missing = {"observation", "paper", "blur"} - set(table.columns)
    if missing:
        raise BlurUtilsError(f"{path}: holds no readings (no column {sorted(missing)[0]!r}); "
                             "rebuild the study with this version of blurutils")
    return table


def side_by_side(studies: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The six observations' two readings in several studies, one column per study and
    reading, e.g. ``"film: paper's measure"`` = ``"holds (3 of 3 seeds)"``.  A study over
    seeds carries its k of n; a single seed says "1 seed"."""
    if not studies:
        raise ValueError("side_by_side needs at least one study")
    columns: dict[str, list[str]] = {"observation": [o.id for o in OBSERVATIONS]}
    for name, table in studies.items():
        rows = table.set_index("observation")
        for reading, label in (("paper", "paper's measure"), ("blur", "blur")):
            cells = []
            for obs in columns["observation"]:
                if obs not in rows.index:
                    cells.append(NOT_TESTED)
                    continue
                value = str(rows.loc[obs, reading])
                seeds = rows.loc[obs].get(f"{reading}_holds_in")
                if isinstance(seeds, str) and seeds:
                    k_of_n = seeds.split(" (")[0].replace(" seeds", "").replace(" seed", "")
                    value += f" ({k_of_n} seeds hold)"
                else:
                    value += " (1 seed)"
                cells.append(value)
            columns[f"{name}: {label}"] = cells
    return pd.DataFrame(columns)


def blur_by_motion(frames: np.ndarray, runs: dict[str, pd.DataFrame], *,
                   edges: tuple[float, ...] = (0.0, 0.002, 0.01, 0.03, 1.0),
                   column: str = "bf_pred") -> pd.DataFrame:
    """Each run's geometric-mean ``column`` over its test frames, grouped by how much
    the scene moves around the target: the larger mean absolute grey-level difference
    (0–1) of the two transitions t−1→t and t→t+1, binned at ``edges``.  Answers whether
    a verdict is carried by still or by moving frames.  ``frames`` is the study's uint8
    (N, H, W) array; ``runs`` maps a run's name to its per-frame metrics (``frame``
    column = the target's index)."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) < 3:
        raise ValueError(f"frames must be (N, H, W) with N >= 3, got shape {frames.shape}")
    unit = frames.astype(np.float32) / 255.0
    difference = np.abs(np.diff(unit, axis=0)).mean(axis=(1, 2))  # [i]: frame i -> i+1
    labels = [f"{lo:g}–{hi:g}" for lo, hi in zip(edges[:-1], edges[1:])]
    rows = []
    for name, metrics in runs.items():
        target = metrics["frame"].to_numpy()
        if target.min() < 1 or target.max() > len(frames) - 2:
            raise ValueError(f"{name}: target frames outside 1..{len(frames) - 2}")
        motion = np.maximum(difference[target - 1], difference[target])
        band = pd.cut(motion, list(edges), labels=labels, include_lowest=True)
        score = np.log(metrics[column].to_numpy(dtype=np.float64))
        finite = np.isfinite(score)
        grouped = (pd.DataFrame({"band": band[finite], "log": score[finite]})
                   .groupby("band", observed=False)["log"])
        row = {"run": name, **{f"{b}": float(np.exp(v)) if np.isfinite(v) else np.nan
                               for b, v in grouped.mean().items()}}
        row.update({f"n {b}": int(c) for b, c in grouped.count().items()})
        rows.append(row)
    return pd.DataFrame(rows)


def conv_to_dense_by_motion(folder: str | Path) -> pd.DataFrame:
    """BF-2's margin by motion band in one seed's study folder: per band, the test frames
    in it and the smallest convolutional MSE/MSLE run's geometric-mean score divided by
    the largest dense run's (> 1: the claim's direction), on the paper's measure and on
    each blur measure.  Loads the study's frames as its ``config.yaml`` says."""
    from .config import load_config
    from .evaluation import read_metrics
    from .frames import load_frames

    folder = Path(folder)
    config = load_config(folder / "config.yaml")
    options = ({"n_frames": config.synthetic_frames}
               if config.source == "synthetic" and config.synthetic_frames else {})
    frames = load_frames(config.source, max_frames=config.max_frames, step=config.frame_step,
                         progress=False, **options)
    runs = {}
    for run in sorted((folder / "runs").iterdir()):
        metrics = read_metrics(run / "per_frame_metrics.csv")
        if metrics is not None:
            runs[run.name] = metrics
    conv = [f"{m}-{l}" for m, l in _CONV_MSE_MSLE]
    dense = [f"{m}-{l}" for m, l in _DENSE_ALL]
    if not set(conv + dense) <= set(runs):
        raise BlurUtilsError(f"{folder}: per-frame metrics of every dense and convolutional "
                             "MSE/MSLE run are needed")
    out = None
    for measure in (PAPER_MEASURE, *BLUR_MEASURES):
        table = blur_by_motion(frames, runs, column=measure.score).set_index("run")
        bands = [c for c in table.columns if not c.startswith("n ")]
        ratio = table.loc[conv, bands].min() / table.loc[dense, bands].max()
        if out is None:
            out = pd.DataFrame({"motion band": bands,
                                "test frames": [int(table.loc[conv[0], f"n {b}"])
                                                for b in bands]})
        out[f"conv ÷ dense, {measure.label}"] = ratio.to_numpy()
    return out


#: The measures a loss is judged with: the paper's, the calibrated blur measures, and the
#: two that failed the calibration (Tenengrad rewards stripes two rows wide; the blur
#: effect is fooled by noise), kept to show what a measure-gaming loss looks like.
LOSS_MEASURES: tuple[tuple[Measure, bool], ...] = (
    (PAPER_MEASURE, False),
    *((m, True) for m in BLUR_MEASURES),
    *((Measure(*m), False) for m in REFERENCE_MEASURES if m[1] in ("tbf_pred", "blur_effect_pred")),
)
#: Fidelity columns: (label, column); higher is better.
FIDELITY = (("PSNR (dB)", "psnr"), ("SSIM", "ssim"))


def loss_effect(base: pd.DataFrame, variant: pd.DataFrame) -> pd.DataFrame:
    """What changing a run's loss did, on the test frames both runs measured: per sharpness
    measure the variant's blur score over the base's (geometric mean of per-frame ratios,
    95% cluster-robust interval over contiguous test segments) read as *sharper*,
    *blurrier* or *undetermined*, and each run's distance to the truth's sharpness
    (|mean relative score|); per fidelity measure the mean difference, read as *better*,
    *worse* or *undetermined*.  ``calibrated`` marks the measures that passed the
    calibration (immune to contrast and stripes): only they count as evidence of blur."""
    rows = []
    for measure, calibrated in LOSS_MEASURES:
        if measure.score not in base or measure.score not in variant:
            continue
        d, seg = _log_ratio(variant, base, measure.score)
        ci = segment_t_ci(d, seg)
        outcome = _outcome(ci.low, ci.high)
        ma = _abs_interval(base, measure.relative)[0]
        mb = _abs_interval(variant, measure.relative)[0]
        rows.append({"measure": measure.label, "calibrated": calibrated,
                     "kind": "blur (variant ÷ base)", "estimate": float(np.exp(ci.mean)),
                     "low": float(np.exp(ci.low)), "high": float(np.exp(ci.high)),
                     "reading": {FOR: "blurrier", AGAINST: "sharper"}.get(outcome, UNDETERMINED),
                     "base |mean relative|": ma, "variant |mean relative|": mb,
                     "test segments": ci.n_segments})
    for label, column in FIDELITY:
        joined = base[["frame", column]].merge(variant[["frame", column]], on="frame",
                                               suffixes=("_base", "_variant"))
        diff = (joined[f"{column}_variant"] - joined[f"{column}_base"]).to_numpy(float)
        ci = segment_t_ci(diff, contiguous_segments(joined["frame"].to_numpy()))
        outcome = _outcome(ci.low, ci.high)
        rows.append({"measure": label, "calibrated": np.nan,
                     "kind": "fidelity (variant − base)", "estimate": ci.mean, "low": ci.low,
                     "high": ci.high,
                     "reading": {FOR: "better", AGAINST: "worse"}.get(outcome, UNDETERMINED),
                     "base |mean relative|": np.nan, "variant |mean relative|": np.nan,
                     "test segments": ci.n_segments})
    return pd.DataFrame(rows)


def loss_effects(folder: str | Path) -> pd.DataFrame:
    """:func:`loss_effect` for every blur-aware run in a study folder beside the run of
    its base loss (``Convolutional-MSE+BLUR`` against ``Convolutional-MSE``), stacked
    with ``model``, ``base`` and ``variant`` columns; BlurUtilsError when there is none."""
    import json

    from .evaluation import read_metrics

    runs_dir = Path(folder) / "runs"
    metrics: dict[Run, pd.DataFrame] = {}
    for run in sorted(runs_dir.glob("*/run.json")):
        try:
            info = json.loads(run.read_text(encoding="utf-8"))
            key = (str(info["model"]), str(info["loss"]))
        except (OSError, ValueError, KeyError):
            continue
        df = read_metrics(run.parent / "per_frame_metrics.csv")
        if df is not None:
            metrics[key] = df
    tables = []
    for model, loss in sorted(metrics):
        if not is_blur_aware_name(loss):
            continue
        base = parse_blur_loss_name(loss)[0]
        if (model, base) not in metrics:
            continue
        table = loss_effect(metrics[(model, base)], metrics[(model, loss)])
        tables.append(table.assign(model=model, base=base, variant=loss))
    if not tables:
        raise BlurUtilsError(f"{runs_dir}: no blur-aware run beside a run of its base loss "
                             "(per-frame metrics of e.g. Convolutional-MSE and "
                             "Convolutional-MSE+BLUR are needed)")
    table = pd.concat(tables, ignore_index=True)
    first = ["model", "base", "variant"]
    return table[first + [c for c in table.columns if c not in first]]


def main(argv: list[str] | None = None) -> int:
    """``python -m blurutils.verdicts [--out FILE.csv] NAME=FOLDER ...``: the readings of
    several studies side by side; ``--loss-effects FOLDER``: what each blur-aware run in
    a study did beside its base loss (markdown on stdout)."""
    import argparse
    import sys

    from .paths import write_text_atomic

    parser = argparse.ArgumentParser(prog="python -m blurutils.verdicts",
                                     description="The six observations' readings in "
                                     "several studies, side by side; or the blur-aware "
                                     "loss's effect on every sharpness measure.")
    parser.add_argument("studies", nargs="*", help="NAME=FOLDER (a study's results folder, "
                        "or a multi-seed study's)")
    parser.add_argument("--out", default=None, help="also write the table to this .csv")
    parser.add_argument("--motion", action="store_true", help="also BF-2's margin by "
                        "motion band in each study (one seed's folder; loads its frames)")
    parser.add_argument("--loss-effects", metavar="FOLDER", default=None,
                        help="instead: each blur-aware run in this study folder judged "
                        "against the run of its base loss")
    args = parser.parse_args(argv)
    if bool(args.studies) == bool(args.loss_effects):
        parser.error("give either NAME=FOLDER ... or --loss-effects FOLDER")
    motion = {}
    try:
        if args.loss_effects:
            table = loss_effects(args.loss_effects)
        else:
            studies = {}
            for item in args.studies:
                name, sep, folder = item.partition("=")
                if not sep or not name or not folder:
                    raise BlurUtilsError(f"{item!r}: expected NAME=FOLDER")
                studies[name] = read_study_readings(folder)
            table = side_by_side(studies)
            if args.motion:
                for item in args.studies:
                    name, _, folder = item.partition("=")
                    motion[name] = conv_to_dense_by_motion(folder)
        if args.out:
            write_text_atomic(args.out, table.to_csv(index=False, float_format="%.6g"))
            if motion:
                both = pd.concat([m.assign(study=n) for n, m in motion.items()])
                write_text_atomic(Path(args.out).with_name("bf2_by_motion.csv"),
                                  both.to_csv(index=False, float_format="%.4g"))
    except (BlurUtilsError, OSError) as exc:
        print(f"blurutils.verdicts: error: {exc}", file=sys.stderr)
        return 2
    print(table.to_markdown(index=False, floatfmt=".3g"))
    for name, m in motion.items():
        print(f"\nBF-2 by motion band (mean |frame difference| around the target), {name}:")
        print(m.to_markdown(index=False, floatfmt=".2f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
