"""Calibration of the blur measures on known degradations of true frames.

Before a measure's verdict counts as evidence of blur it has to behave like a blur
measure on frames whose degradation is known: rise steadily with Gaussian blur, ignore
a change of contrast or brightness (every edge stays as sharp as it was), and not rate
a frame much *sharper* when noise or stripes are added (neither removes blur).
:func:`calibrate` applies the degradations of :data:`DEGRADATIONS` to true frames and
scores every measure of :data:`MEASURES` on the original and the degraded frames;
:func:`calibration_verdicts` turns that table into one line of pass/fail criteria per
measure; :func:`calibration_figure` draws it.  Every measure is oriented "higher =
blurrier" and the table holds ratios ``score(degraded) / score(original)``, so 1 means
"no change" for every measure alike.

``python -m blurutils.calibration --out reference_results/calibration`` computes the
reference calibration on the film and on the synthetic clip (``docs/calibration.md``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import cv2
import numpy as np
import pandas as pd

from .errors import BlurUtilsError, ConfigError, MachineError, MetricInputError
from .metrics import (blur_effect, blur_factor, edge_width, high_frequency_blur_factor,
                      match_contrast, tenengrad_blur_factor)

#: A degradation: ``fn(frame, level, rng) -> frame`` on one float64 (H, W) frame in [0, 1].
DegradeFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Degradation:
    """One known degradation: what it does, its levels, and what a blur measure should do.

    ``levels`` run from the mildest to the strongest.  ``blurs``: the degradation
    removes detail, so a blur measure should rise with the level (the table then says
    how many frames rise steadily).  ``identity``: the level that leaves a frame
    unchanged (plotted at ratio 1), if there is one.
    """

    fn: DegradeFn
    levels: tuple[float, ...]
    unit: str
    blurs: bool
    identity: float | None
    description: str


def _gaussian_blur(frame: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    # OpenCV's kernel for float images reaches 4 sigma either side; reflected borders.
    return cv2.GaussianBlur(frame, (0, 0), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT)


def _down_up(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    h, w = frame.shape
    small = cv2.resize(frame, (max(1, round(w / factor)), max(1, round(h / factor))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _jpeg(frame: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    image = np.rint(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 frame
        raise MetricInputError("jpeg: OpenCV could not encode the frame")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0


def _contrast(frame: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    mean = frame.mean()
    return mean + factor * (frame - mean)


def _brightness(frame: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    return frame + shift


def _noise(frame: np.ndarray, grey_levels: float, rng: np.random.Generator) -> np.ndarray:
    return frame + rng.normal(0.0, grey_levels / 255.0, size=frame.shape)


def _stripes(frame: np.ndarray, grey_levels: float, rng: np.random.Generator,
             width: int = 1) -> np.ndarray:
    rows = np.arange(frame.shape[0]) // width
    sign = np.where(rows % 2 == 0, 1.0, -1.0)[:, None]
    return frame + sign * (grey_levels / 255.0)


def _wide_stripes(frame: np.ndarray, grey_levels: float,
                  rng: np.random.Generator) -> np.ndarray:
    return _stripes(frame, grey_levels, rng, width=2)


def _column_stripes(frame: np.ndarray, grey_levels: float,
                    rng: np.random.Generator) -> np.ndarray:
    return _stripes(frame.T, grey_levels, rng).T


#: The known degradations by name, mildest level first.  Contrast, brightness, noise
#: and stripes are not clipped to [0, 1]: the measures take any real intensities, and
#: clipping would flatten the edges in saturated regions, itself a loss of detail.
DEGRADATIONS: dict[str, Degradation] = {
    "gaussian_blur": Degradation(_gaussian_blur, (0.5, 1.0, 1.5, 2.0, 3.0), "sigma (pixels)",
                                 True, 0.0, "Gaussian blur, reflected borders"),
    "down_up": Degradation(_down_up, (2.0, 3.0, 4.0), "factor", True, 1.0,
                           "area down-sampling by the factor, bilinear up-sampling back"),
    "jpeg": Degradation(_jpeg, (90.0, 50.0, 10.0), "quality", False, None,
                        "JPEG (OpenCV) at the quality, of the frame rounded to 8 bits"),
    "contrast": Degradation(_contrast, (0.5, 1.5), "factor", False, 1.0,
                            "contrast scaled about the frame's mean"),
    "brightness": Degradation(_brightness, (-0.1, 0.1), "shift (of 1)", False, 0.0,
                              "brightness shifted"),
    "noise": Degradation(_noise, (1.0, 2.0, 4.0, 8.0), "std (grey levels)", False, 0.0,
                         "additive Gaussian noise, std in grey levels of 255"),
    "stripes": Degradation(_stripes, (1.0, 2.0, 4.0, 8.0), "amplitude (grey levels)", False,
                           0.0, "horizontal stripes: +a on even rows, -a on odd rows"),
    "wide_stripes": Degradation(_wide_stripes, (2.0, 4.0, 8.0), "amplitude (grey levels)",
                                False, 0.0, "horizontal stripes two rows wide: +a on rows "
                                "0-1, -a on rows 2-3, and so on"),
    "column_stripes": Degradation(_column_stripes, (2.0, 4.0, 8.0),
                                  "amplitude (grey levels)", False, 0.0,
                                  "vertical stripes: +a on even columns, -a on odd columns"),
}

#: A measure: ``fn(frames, originals) -> scores`` on float64 (N, H, W) batches; higher
#: = blurrier.  ``originals`` are the undegraded true frames, used only as a reference.
MeasureFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: The measures that can be calibrated, by name: (label, function).
MEASURES: dict[str, tuple[str, MeasureFn]] = {
    "bf": ("BF (paper)", lambda x, ref: blur_factor(x)),
    "bf_matched": ("BF, contrast matched to the true frame",
                   lambda x, ref: blur_factor(match_contrast(x, ref))),
    "tbf": ("Tenengrad BF", lambda x, ref: tenengrad_blur_factor(x)),
    "blur_effect": ("blur effect (Crete-Roffet)", lambda x, ref: blur_effect(x)),
    "hfbf": ("1 / high-frequency share", lambda x, ref: high_frequency_blur_factor(x)),
    "edge_width": ("edge width at the true frame's edges",
                   lambda x, ref: edge_width(x, reference=ref)),
    "edge_width_self": ("edge width at its own edges (no reference)",
                        lambda x, ref: edge_width(x)),
}
#: The measures calibrated unless others are asked for: those the study reports, and
#: the edge width at the true frame's edges.
DEFAULT_MEASURES = ("bf", "bf_matched", "tbf", "blur_effect", "hfbf", "edge_width")

#: Frames whose intensity std is below this many grey levels have no structure to blur
#: (black or faded frames) and are left out of a calibration.
MIN_STD_GREY = 2.0
#: Seed of the noise.
SEED = 0


def _check_frames(frames: Any) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        raise MetricInputError(f"frames: dtype {arr.dtype} is not supported (expected uint8)")
    if arr.ndim != 3 or not len(arr) or arr.shape[1] < 4 or arr.shape[2] < 4:
        raise MetricInputError(
            f"frames: shape {arr.shape} is not a non-empty batch (N, H, W) of at least 4x4")
    return arr


def _names(chosen: Sequence[str] | str | None, known: Sequence[str], what: str) -> list[str]:
    if chosen is None:
        return list(known)
    names = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [repr(n) for n in names if n not in known]
    if unknown or not names:
        raise ConfigError(f"{what} {', '.join(unknown) or '(none)'}: expected some of "
                          f"{', '.join(known)}")
    return list(dict.fromkeys(names))


def degrade(frames: Any, kind: str, level: float, *, seed: int = SEED) -> np.ndarray:
    """``frames`` degraded by ``DEGRADATIONS[kind]`` at ``level``, float64.

    ``frames``: one (H, W) frame or an (N, H, W) batch, uint8 (divided by 255) or float
    in [0, 1]; the result has the same shape.  The noise is drawn from ``seed``, so a
    call is reproducible.
    """
    (name,) = _names([kind], list(DEGRADATIONS), "degradation")
    arr = np.asarray(frames)
    if arr.dtype == np.uint8:
        unit = arr.astype(np.float64) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        unit = arr.astype(np.float64)
    else:
        raise MetricInputError(f"frames: dtype {arr.dtype} is not supported "
                               "(expected uint8 or float in [0, 1])")
    if unit.ndim not in (2, 3) or unit.shape[-1] < 4 or unit.shape[-2] < 4:
        raise MetricInputError(f"frames: shape {arr.shape} is not a frame (H, W) or a batch "
                               "(N, H, W) of at least 4x4")
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ConfigError(f"level {level!r}: not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"level {level!r}: must be finite")
    rng = np.random.default_rng(seed)
    fn = DEGRADATIONS[name].fn
    batch = unit[None] if unit.ndim == 2 else unit
    out = np.stack([fn(np.ascontiguousarray(frame), value, rng) for frame in batch])
    return out[0] if unit.ndim == 2 else out


def _rising_share(scores: np.ndarray) -> float:
    """Share of frames (rows) whose scores rise strictly from column to column."""
    with np.errstate(invalid="ignore"):
        return float((np.diff(scores, axis=1) > 0).all(axis=1).mean())


def _median_spearman(scores: np.ndarray) -> float:
    """Median over frames (rows) of Spearman's correlation between the column number and
    the scores (ties get their mean rank); frames with a non-finite score are left out."""
    from scipy.stats import rankdata

    rows = scores[np.isfinite(scores).all(axis=1)]
    if not len(rows):
        return math.nan
    ranks = rankdata(rows, axis=1)
    levels = np.arange(scores.shape[1], dtype=np.float64)
    a = ranks - ranks.mean(axis=1, keepdims=True)
    b = levels - levels.mean()
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(norm > 0, (a * b).sum(axis=1) / norm, math.nan)
    return float(np.nanmedian(rho)) if np.isfinite(rho).any() else math.nan


def _score(measures: Sequence[str], frames: np.ndarray, originals: np.ndarray
           ) -> dict[str, np.ndarray]:
    return {m: np.asarray(MEASURES[m][1](frames, originals), dtype=np.float64).reshape(-1)
            for m in measures}


def calibrate(frames: Any, *, measures: Sequence[str] | None = None,
              degradations: Sequence[str] | None = None,
              min_std: float = MIN_STD_GREY, threads: int | None = None) -> pd.DataFrame:
    """Every measure on every degradation of ``frames``: one row per (measure,
    degradation, level).

    ``frames``: true frames, uint8 (N, H, W); frames whose intensity std is below
    ``min_std`` grey levels are left out (nothing to blur).  Each frame is scored
    undegraded and degraded; a row gives, over the frames, the median, quartiles and
    extremes of ``score(degraded) / score(original)`` (1: no change, above 1: rated
    blurrier), ``share_blurrier`` (frames rated blurrier) and ``n_frames`` (frames with
    a finite ratio).  For degradations that blur it also gives ``monotone_share``, the share of
    frames whose score rises strictly from the original through every level up to this
    one (Spearman's rho = 1), and ``spearman``, the median over frames of Spearman's
    rho between the level (the original first) and the score over the same levels.

    ``measures`` defaults to ``DEFAULT_MEASURES``, ``degradations`` to all of
    ``DEGRADATIONS``.  The levels are measured on ``threads`` threads (default: the
    cores this process may use, at most 4); the numbers do not depend on it.
    """
    from .evaluation import metric_threads

    arr = _check_frames(frames)
    measure_names = _names(measures, list(MEASURES), "measure") if measures is not None \
        else list(DEFAULT_MEASURES)
    degradation_names = _names(degradations, list(DEGRADATIONS), "degradation")
    try:
        min_std = float(min_std)
    except (TypeError, ValueError):
        raise ConfigError(f"min_std {min_std!r}: not a number") from None
    keep = arr.reshape(len(arr), -1).std(axis=1) >= min_std
    if not keep.any():
        raise MetricInputError(f"frames: all {len(arr)} frames are flat (intensity std below "
                               f"{min_std:g} grey levels)")
    originals = arr[keep].astype(np.float64) / 255.0
    jobs = [(name, severity, level) for name in degradation_names
            for severity, level in enumerate(DEGRADATIONS[name].levels, 1)]

    def measure(job: tuple[str, int, float]) -> dict[str, np.ndarray]:
        name, _, level = job
        return _score(measure_names, degrade(originals, name, level), originals)

    if threads is None:
        threads = metric_threads()
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads {threads!r}: expected a whole number of at least 1")
    n_threads = min(threads, len(jobs))
    base = _score(measure_names, originals, originals)
    if n_threads == 1:
        scored = [measure(job) for job in jobs]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_threads, thread_name_prefix="calibration") as pool:
            scored = list(pool.map(measure, jobs))
    rows = []
    history: dict[tuple[str, str], list[np.ndarray]] = {}
    for (name, severity, level), scores in zip(jobs, scored):
        spec = DEGRADATIONS[name]
        for m in measure_names:
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = scores[m] / base[m]
            finite = ratio[np.isfinite(ratio)]
            q1, med, q3 = np.percentile(finite, [25, 50, 75]) if finite.size \
                else (math.nan,) * 3
            row = dict(measure=m, degradation=name, level=level, severity=severity,
                       unit=spec.unit, n_frames=int(finite.size), median_ratio=float(med),
                       q1_ratio=float(q1), q3_ratio=float(q3),
                       min_ratio=float(finite.min()) if finite.size else math.nan,
                       max_ratio=float(finite.max()) if finite.size else math.nan,
                       share_blurrier=float((finite > 1).mean()) if finite.size else math.nan,
                       monotone_share=math.nan, spearman=math.nan)
            if spec.blurs:
                seen = history.setdefault((name, m), [base[m]])
                seen.append(scores[m])
                stack = np.stack(seen, axis=1)
                row["monotone_share"] = _rising_share(stack)
                row["spearman"] = _median_spearman(stack)
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- verdicts

#: A measure rises steadily with blur when at least this share of frames rate every
#: stronger Gaussian blur blurrier than the one before (Spearman's rho = 1 per frame).
MONOTONE_SHARE = 0.9
#: The yardstick of the tolerances below, the *blur unit*: the measure's own response to
#: a Gaussian blur of this sigma (the mildest level), ``log(median ratio)``.
BLUR_UNIT_SIGMA = 0.5
#: Contrast or brightness changes are ignored when the largest ``|log median ratio|``
#: they cause is at most this many blur units.
INVARIANCE_TOLERANCE = 0.1
#: Noise or stripes are resisted when at no level the median frame looks sharper by
#: more than this many blur units (``-log median ratio <= tolerance * unit``): they
#: must not be able to hide a half-pixel blur.
SHARPENING_TOLERANCE = 1.0

#: The criteria a measure must meet to pass.
VERDICT_CRITERIA = ("rises_with_blur", "ignores_contrast", "ignores_brightness",
                    "resists_noise", "resists_stripes", "resists_column_stripes")
#: The columns of the short verdict table (``calibration_verdicts.md``).
SHORT_VERDICT_COLUMNS = ["source", "measure", *VERDICT_CRITERIA, "passes",
                         "blur_monotone_share", "contrast_effect", "noise_sharpening",
                         "stripes_sharpening", "wide_stripes_sharpening",
                         "column_stripes_sharpening"]
_TABLE_COLUMNS = {"measure", "degradation", "level", "severity", "median_ratio",
                  "monotone_share", "spearman"}


def _rows(table: pd.DataFrame, degradation: str) -> pd.DataFrame:
    return table[table["degradation"] == degradation].sort_values("severity")


def _logs(rows: pd.DataFrame) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(rows["median_ratio"].to_numpy(dtype=np.float64))


def _in_units(value: float, unit: float) -> float:
    """``value`` in blur units; ``inf`` (or 0 for 0) when the measure has no blur unit."""
    if unit > 0:
        return value / unit
    return 0.0 if value == 0 else math.inf


def _verdict(table: pd.DataFrame) -> dict[str, Any]:
    """The verdict columns of one measure's rows (of one source)."""
    nan = math.nan
    blur = _rows(table, "gaussian_blur")
    at_unit = blur[np.isclose(blur["level"].astype(float), BLUR_UNIT_SIGMA)]
    unit = float(_logs(at_unit)[0]) if len(at_unit) else nan
    out: dict[str, Any] = {"blur_unit": unit}
    top = blur.iloc[-1] if len(blur) else None
    out["blur_top_ratio"] = float(top["median_ratio"]) if top is not None else nan
    out["blur_monotone_share"] = float(top["monotone_share"]) if top is not None else nan
    out["blur_spearman"] = float(top["spearman"]) if top is not None else nan
    out["rises_with_blur"] = bool(out["blur_monotone_share"] >= MONOTONE_SHARE
                                  and out["blur_top_ratio"] > 1)
    for name in ("contrast", "brightness"):
        logs = _logs(_rows(table, name))
        effect = _in_units(float(np.max(np.abs(logs))), unit) if logs.size else nan
        out[f"{name}_effect"] = effect
        out[f"ignores_{name}"] = bool(effect <= INVARIANCE_TOLERANCE)
    for name in ("noise", "stripes", "wide_stripes", "column_stripes"):
        rows = _rows(table, name)
        sharpening = np.array([_in_units(max(0.0, -v), unit) for v in _logs(rows)])
        ok = sharpening <= SHARPENING_TOLERANCE          # nan (no ratio) fails
        out[f"{name}_sharpening"] = float(np.max(sharpening)) if sharpening.size else nan
        out[f"resists_{name}"] = bool(sharpening.size and ok.all())
        # The strongest level up to which every level is resisted (0: not even the mildest).
        passed = rows["level"].to_numpy(dtype=np.float64)[np.cumprod(ok).astype(bool)]
        out[f"{name}_resisted_up_to"] = float(passed[-1]) if passed.size else 0.0
    # Horizontal stripes, as the issue defines them: one row and two rows wide.
    out["resists_stripes"] = out["resists_stripes"] and out.pop("resists_wide_stripes")
    rows = _rows(table, "down_up")
    out["down_up_rated_blurrier"] = bool(len(rows) and (rows["median_ratio"] > 1).all())
    rows = _rows(table, "jpeg")
    out["jpeg_strongest_ratio"] = float(rows["median_ratio"].iloc[-1]) if len(rows) else nan
    out["passes"] = all(out[c] for c in VERDICT_CRITERIA)
    return out


def calibration_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """One row per measure (per ``source`` and measure, if the table has a ``source``
    column): the calibration's criteria and whether the measure passes all of them.

    The *blur unit* (``blur_unit``) is the measure's ``log(median ratio)`` at Gaussian
    sigma ``BLUR_UNIT_SIGMA``; effects are given in blur units, so every measure is
    judged on its own scale.  ``rises_with_blur``: at least ``MONOTONE_SHARE`` of the
    frames rise strictly through every sigma (``blur_monotone_share``).
    ``ignores_contrast`` / ``ignores_brightness``: the largest ``|log median ratio|``
    (``*_effect``) is at most ``INVARIANCE_TOLERANCE`` blur units.  ``resists_noise``,
    ``resists_stripes`` (horizontal stripes one and two rows wide) and
    ``resists_column_stripes``: no level makes the median frame sharper by more than
    ``SHARPENING_TOLERANCE`` blur units (``*_sharpening``: the largest, 0 if no level
    sharpens; ``*_resisted_up_to``: the strongest level up to which every level is
    resisted).  ``passes``: all of ``VERDICT_CRITERIA``.  Reported beside them, not
    part of ``passes``: whether down-and-up sampling is rated blurrier at every
    factor, and the median ratio at the strongest JPEG compression.
    """
    missing = _TABLE_COLUMNS - set(table.columns)
    if missing:
        raise ConfigError(f"calibration table: column(s) {', '.join(sorted(missing))} missing")
    keys = ["source", "measure"] if "source" in table.columns else ["measure"]
    rows = []
    for key, part in table.groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)), **_verdict(part)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- figure

def calibration_figure(table: pd.DataFrame, path: Path | str, *, title: str = "") -> Path:
    """Save a PNG at ``path``: one panel per degradation, the median score ratio (log
    scale) against the level, one colour per measure and, if the table has a
    ``source`` column, one line style per source.  Returns the path."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from .figures import save_figure
    from .viz import setup_matplotlib

    missing = {"measure", "degradation", "level", "median_ratio"} - set(table.columns)
    if missing:
        raise ConfigError(f"calibration table: column(s) {', '.join(sorted(missing))} missing")
    plt = setup_matplotlib(seaborn_theme=True)
    names = list(dict.fromkeys(table["degradation"]))
    measures = list(dict.fromkeys(table["measure"]))
    sources = list(dict.fromkeys(table["source"])) if "source" in table.columns else [None]
    n_cols = math.ceil(math.sqrt(len(names)))
    n_rows = math.ceil(len(names) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.0 * n_cols, 3.3 * n_rows + 1.0),
                             squeeze=False, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for k, (ax, name) in enumerate(zip(axes.flat, names)):
        part = table[table["degradation"] == name]
        spec = DEGRADATIONS.get(name)
        ratios = part["median_ratio"].to_numpy(dtype=np.float64)
        ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
        for i, measure in enumerate(measures):
            for j, source in enumerate(sources):
                line = part[part["measure"] == measure]
                if source is not None:
                    line = line[line["source"] == source]
                x = line["level"].to_numpy(dtype=np.float64)
                y = line["median_ratio"].to_numpy(dtype=np.float64)
                if spec is not None and spec.identity is not None:
                    x, y = np.r_[spec.identity, x], np.r_[1.0, y]
                order = np.argsort(x)
                ax.plot(x[order], y[order], marker="o", markersize=3,
                        color=colours[i % len(colours)], linestyle=styles[j % len(styles)])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        # At least 0.8-1.25, so that a measure that does not move stays a flat line.
        low = min(0.8, ratios.min() / 1.1) if ratios.size else 0.8
        high = max(1.25, ratios.max() * 1.1) if ratios.size else 1.25
        ax.set_ylim(low, high)
        if high / low < 100:  # less than two decades: round numbers in between too
            ticks = [m * 10.0 ** e for e in range(-3, 3) for m in (1, 1.5, 2, 3, 4, 5, 6, 8)]
            ax.yaxis.set_major_locator(FixedLocator([v for v in ticks if low <= v <= high]))
            ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(plain)
        levels = part["level"].to_numpy(dtype=np.float64)
        if spec is not None and spec.identity is not None:
            levels = np.r_[spec.identity, levels]
        ax.set_xticks(np.unique(levels))
        ax.xaxis.set_major_formatter(plain)
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.set_xlabel(spec.unit if spec is not None else "level", fontsize=9)
        if k % n_cols == 0:
            ax.set_ylabel("score ratio, degraded / original", fontsize=8)
        ax.tick_params(labelsize=8, which="both")
        if name == "jpeg":
            ax.invert_xaxis()  # lower quality = stronger
    for ax in list(axes.flat)[len(names):]:
        ax.set_axis_off()
    handles = [Line2D([], [], color=colours[i % len(colours)],
                      label=MEASURES[m][0] if m in MEASURES else m)
               for i, m in enumerate(measures)]
    if sources != [None]:
        handles += [Line2D([], [], color="grey", linestyle=styles[j % len(styles)],
                           label=str(source)) for j, source in enumerate(sources)]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)),
               fontsize=8, frameon=False)
    fig.suptitle(title or "Blur measures on known degradations (higher = blurrier)",
                 fontsize=10)
    return save_figure(fig, Path(path))


# --------------------------------------------------------------------------- command line

#: Frames taken, evenly spaced, from each source by the command line.
N_FRAMES = 200
#: The sources of the reference calibration: name -> (``load_frames`` arguments, credit).
SOURCES: dict[str, tuple[dict[str, Any], str]] = {
    "film": (dict(source="bigbuckbunny"),
             "Big Buck Bunny, (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org, "
             "CC BY 3.0"),
    "synthetic": (dict(source="synthetic", max_frames=5000, n_frames=5000),
                  "the project's synthetic clip (5,000 frames, seed 0)"),
}


def evenly_spaced(frames: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frames evenly spaced from the first to the last (all of them if there are
    no more than ``n``), and their indices."""
    index = np.arange(len(frames)) if len(frames) <= n else \
        np.unique(np.linspace(0, len(frames) - 1, n).round().astype(np.int64))
    return frames[index], index


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m blurutils.calibration",
                     description="Calibrate the blur measures on known degradations of "
                                 "true frames: table, verdicts and figure.")
    parser.add_argument("--out", required=True, type=Path, help="folder for the results")
    parser.add_argument("--frames", type=int, default=N_FRAMES,
                        help=f"frames per source, evenly spaced (default {N_FRAMES})")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES),
                        help="which sources (default: all)")
    parser.add_argument("--measures", nargs="+", default=list(DEFAULT_MEASURES),
                        choices=list(MEASURES), help="which measures (default: "
                        f"{' '.join(DEFAULT_MEASURES)})")
    return parser


def _shown(path: Path) -> str:
    """``path`` as the README shows it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def run(out: Path | str, *, n_frames: int = N_FRAMES, sources: Sequence[str] = tuple(SOURCES),
        measures: Sequence[str] = DEFAULT_MEASURES) -> dict[str, Path]:
    """Calibrate on ``n_frames`` evenly spaced frames of each source and write under
    ``out``: ``calibration.csv`` (:func:`calibrate`, with a ``source`` column),
    ``calibration_verdicts.csv`` and ``.md`` (:func:`calibration_verdicts`),
    ``calibration.png`` (:func:`calibration_figure`) and a ``README.md`` saying how
    they were made.  Returns the paths written."""
    from .evaluation import write_csv
    from .frames import load_frames
    from .machine import describe_machine
    from .paths import atomic_path

    if n_frames < 1:
        raise ConfigError(f"--frames {n_frames}: must be at least 1")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    start = time.perf_counter()
    parts, used = [], []
    for name in _names(sources, list(SOURCES), "source"):
        options, credit = SOURCES[name]
        every = load_frames(progress=False, **options)
        frames, index = evenly_spaced(every, n_frames)
        kept = int((frames.reshape(len(frames), -1).std(axis=1) >= MIN_STD_GREY).sum())
        table = calibrate(frames, measures=measures)
        table.insert(0, "source", name)
        parts.append(table)
        used.append(f"- **{name}**: {credit}. {len(index)} frames evenly spaced over its "
                    f"{len(every):,} frames (indices {index[0]} to {index[-1]}, "
                    f"`round(linspace(0, {len(every) - 1}, {len(index)}))`); {kept} measured, "
                    f"{len(index) - kept} left out as flat (intensity std below "
                    f"{MIN_STD_GREY:g} grey levels).")
    table = pd.concat(parts, ignore_index=True)
    verdicts = calibration_verdicts(table)
    seconds = time.perf_counter() - start
    paths = {"table": out / "calibration.csv", "verdicts": out / "calibration_verdicts.csv",
             "verdicts_md": out / "calibration_verdicts.md", "figure": out / "calibration.png",
             "readme": out / "README.md"}
    write_csv(table, paths["table"])
    write_csv(verdicts, paths["verdicts"])
    short = verdicts[[c for c in SHORT_VERDICT_COLUMNS if c in verdicts.columns]]
    with atomic_path(paths["verdicts_md"]) as tmp:
        tmp.write_text(short.to_markdown(index=False, floatfmt=".2f") + "\n")
    credits = "; ".join(SOURCES[s][1] for s in dict.fromkeys(table["source"]))
    calibration_figure(table, paths["figure"],
                       title=f"Blur measures on known degradations of true frames "
                             f"(higher = blurrier; median over frames).\nFrames: {credits}")
    machine = describe_machine()
    command = f"python -m blurutils.calibration --out {_shown(out)}"
    if n_frames != N_FRAMES:
        command += f" --frames {n_frames}"
    if list(sources) != list(SOURCES):
        command += " --sources " + " ".join(sources)
    if list(measures) != list(DEFAULT_MEASURES):
        command += " --measures " + " ".join(measures)
    readme = "\n".join([
        "# Calibration of the blur measures", "",
        "Every blur measure scored on true frames and on the same frames after known "
        "degradations; `docs/calibration.md` explains the criteria and the verdicts.", "",
        "Made by", "", "```", command, "```", "",
        "## Frames", "", *used, "",
        "## Files", "",
        "- `calibration.csv`: one row per source, measure, degradation and level: the "
        "median, quartiles and extremes over frames of score(degraded) / score(original).",
        "- `calibration_verdicts.csv` and `.md`: one row per source and measure: the "
        "criteria and whether the measure passes them.",
        "- `calibration.png`: the median ratios against the level, one panel per "
        "degradation.", "",
        "## Machine", "",
        f"{machine['cpu']}, {machine['cpu_count']} cores, {machine['memory_gib']} GiB, "
        f"{machine['platform']}, Python {machine['python']}: {seconds:.0f} s to load the "
        "frames and measure them.", "",
        *(["Big Buck Bunny is (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org, "
           "licensed under the Creative Commons Attribution 3.0 licence (CC BY 3.0).", ""]
          if "film" in sources else [])])
    with atomic_path(paths["readme"]) as tmp:
        tmp.write_text(readme)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: writes the calibration; one-line errors, exit status 2 for bad input
    and 1 when the machine fails (full disk, a folder in use)."""
    args = _parser().parse_args(argv)
    prog = "python -m blurutils.calibration"
    try:
        paths = run(args.out, n_frames=args.frames, sources=args.sources,
                    measures=args.measures)
    except MachineError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except BlurUtilsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{prog}: error: {exc.filename or args.out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
