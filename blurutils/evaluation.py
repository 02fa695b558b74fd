"""Per-frame evaluation of a run's test predictions, and the tables made from it.

:func:`frame_metrics` measures every test prediction against its target (BF, RBF,
PSNR, SSIM, contrast-matched blur, local blur); :func:`summary_table` and
:func:`blur_fidelity_table` summarise runs and baselines.  The files a run writes
(``per_frame_metrics.csv``, ``extreme_frames.npz``) are read back and validated here.
"""

from __future__ import annotations

import io
import logging
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .catalog import ALL_LOSSES, ALL_MODELS, paper_row, run_order
from .metrics import (SHARPNESS_COLUMNS, blur_factor, fraction_blurrier_tiles, match_contrast,
                      psnr, relative_blur_factor, sharpness_columns, ssim, summarize)
from .paths import atomic_path

log = logging.getLogger(__name__)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV written atomically, floats at full precision (byte-identical on reruns)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")


METRIC_COLUMNS = ["frame", "bf_pred", "bf_true", "rbf", "psnr", "ssim",
                  "bf_matched", "rbf_matched", "blurrier_tiles", *SHARPNESS_COLUMNS]


#: Frames measured together by :func:`frame_metrics`; chunks run on a few threads
#: (OpenCV, scikit-image and NumPy release the GIL), which with the small chunks makes
#: a run's 1,500 test frames several times faster to measure (docs/BENCHMARKS.md).
METRIC_CHUNK = 32


def metric_threads() -> int:
    """Threads :func:`frame_metrics` uses: the cores this process may run on, at most 4."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def frame_metrics(pred: np.ndarray, true: np.ndarray, frames: np.ndarray, *,
                  reshape: bool = False, fidelity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-test-frame metrics.

    The paper's BF of prediction and truth and RBF; fidelity (PSNR, SSIM), which RBF
    alone cannot see; BF and RBF after matching each prediction's mean and std to its
    target (``bf_matched``, ``rbf_matched``: blur without contrast); and the fraction of
    25x25 tiles blurrier than the truth (``blurrier_tiles``: where the blur is).

    ``reshape=True`` measures every blur column as the authors' code did for the dense
    models: on each (H, W) frame reshaped to (W, H) — scrambled rows (quirk d).  PSNR
    and SSIM stay on the true layout; pass the same predictions' unreshaped metrics as
    ``fidelity`` to reuse their ``psnr`` and ``ssim`` instead of computing them again.

    Every frame is measured on its own, so the frames are measured in chunks on
    :func:`metric_threads` threads; the numbers do not depend on the chunking.
    """
    n = len(pred)
    frames = np.asarray(frames, dtype=np.int64)
    if not (len(true) == len(frames) == n):
        raise ValueError(f"frame_metrics: {n} predictions, {len(true)} targets and "
                         f"{len(frames)} frame numbers; expected one of each per frame")
    if fidelity is not None and len(fidelity) != n:
        raise ValueError(f"frame_metrics: fidelity has {len(fidelity)} rows for {n} frames")
    parts = [slice(start, start + METRIC_CHUNK) for start in range(0, n, METRIC_CHUNK)] \
        or [slice(0, 0)]

    def measure(part: slice) -> pd.DataFrame:
        reused = None if fidelity is None else {
            key: fidelity[key].to_numpy()[part] for key in ("psnr", "ssim")}
        return _frame_metrics_chunk(pred[part], true[part], frames[part], reshape, reused)

    threads = min(metric_threads(), len(parts))
    if threads == 1:
        return pd.concat(map(measure, parts), ignore_index=True)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads, thread_name_prefix="frame-metrics") as pool:
        return pd.concat(pool.map(measure, parts), ignore_index=True)


def _frame_metrics_chunk(pred: np.ndarray, true: np.ndarray, frames: np.ndarray,
                         reshape: bool, fidelity: dict[str, np.ndarray] | None) -> pd.DataFrame:
    """:func:`frame_metrics` of a few frames."""
    if fidelity is None:
        fidelity = dict(psnr=np.atleast_1d(psnr(pred, true)),
                        ssim=np.atleast_1d(ssim(pred, true)))
    # The other sharpness measures (Tenengrad, blur effect, high-frequency share) are
    # measured on the true layout only; on the authors' reshape they are left NaN.
    sharpness = sharpness_columns(pred, true) if not reshape else \
        {name: np.full(len(pred), np.nan) for name in SHARPNESS_COLUMNS}
    if reshape:
        pred = pred.reshape(len(pred), pred.shape[2], pred.shape[1])
        true = true.reshape(len(true), true.shape[2], true.shape[1])
    matched = match_contrast(pred, true)
    return pd.DataFrame({
        "frame": frames,
        "bf_pred": np.atleast_1d(blur_factor(pred)),
        "bf_true": np.atleast_1d(blur_factor(true)),
        "rbf": np.atleast_1d(relative_blur_factor(pred, true)),
        **fidelity,
        "bf_matched": np.atleast_1d(blur_factor(matched)),
        "rbf_matched": np.atleast_1d(relative_blur_factor(matched, true)),
        "blurrier_tiles": np.atleast_1d(fraction_blurrier_tiles(pred, true)),
        **sharpness,
    })


#: Compressed per-frame files read in place of a missing ``.csv`` (pandas infers the
#: compression from the suffix): gzip for the synthetic reference results, xz (a third
#: smaller) for the film's, which must fit three seeds in the size limit.
PACKED_SUFFIXES = (".gz", ".xz")


def read_metrics(path: Path) -> pd.DataFrame | None:
    """A run's per-frame metrics, or None if missing or malformed (then recomputed).

    A compressed copy beside a missing file (``per_frame_metrics.csv.gz`` or ``.csv.xz``,
    as the committed reference results keep them) is read instead, so those folders
    rebuild their tables in place without training.
    """
    path = Path(path)
    if not path.exists():
        for suffix in PACKED_SUFFIXES:
            packed = path.with_name(path.name + suffix)
            if packed.is_file():
                path = packed
                break
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, EOFError, pd.errors.ParserError, lzma.LZMAError):
        return None  # missing, truncated or not what its suffix says
    if list(df.columns) != METRIC_COLUMNS or not len(df):
        return None
    if not all(pd.api.types.is_numeric_dtype(df[c]) for c in df.columns):
        log.warning("%s: a value is not a number; the run's metrics are recomputed", path)
        return None
    return df


def pack_per_frame_metrics(folder: Path | str, *, digits: int = 6,
                           compression: str = "xz") -> list[Path]:
    """Compress every finished run's per-frame metrics under ``folder`` for committing
    (``runs/*/per_frame_metrics*.csv`` -> ``.csv.xz``), rounded to ``digits`` significant
    digits, and remove the plain copies.  Each packed file is read back and checked
    against the rounded table before its plain copy goes.  Rebuild the tables from the
    packed files afterwards, so tables and per-frame files agree.  Returns the packed
    files."""
    suffix = {"xz": ".xz", "gzip": ".gz"}.get(compression)
    if suffix is None:
        raise ValueError(f"compression={compression!r}: expected 'xz' or 'gzip'")
    packed = []
    for plain in sorted(Path(folder).glob("**/runs/*/per_frame_metrics*.csv")):
        table = read_metrics(plain)
        if table is None:
            raise ValueError(f"{plain}: not a readable per-frame metrics file; nothing packed")
        rounded = pd.read_csv(io.StringIO(table.to_csv(index=False,
                                                       float_format=f"%.{digits}g")))
        target = plain.with_name(plain.name + suffix)
        with atomic_path(target) as tmp:
            rounded.to_csv(tmp, index=False, float_format=f"%.{digits}g",
                           compression=compression)
        back = pd.read_csv(target)
        pd.testing.assert_frame_equal(back, rounded, check_dtype=False)
        plain.unlink()
        packed.append(target)
    return packed


EXTREMES_FILE = "extreme_frames.npz"


def save_extremes(pred: np.ndarray, true: np.ndarray, df: pd.DataFrame, path: Path) -> None:
    """The test frames closest to and farthest from the truth's blur (smallest and
    largest |RBF|), prediction and truth as uint8, for the local blur-map figure."""
    distance = df["rbf"].abs().replace(np.inf, np.nan).to_numpy()
    if np.isnan(distance).all():
        return
    rows = [int(np.nanargmin(distance)), int(np.nanargmax(distance))]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f, pred=np.rint(np.clip(pred[rows], 0, 1) * 255).astype(np.uint8),
                true=true[rows],  # the frames themselves: uint8 already
                frame=df["frame"].to_numpy()[rows], rbf=df["rbf"].to_numpy()[rows])


def load_extremes(run_dir: Path) -> dict[str, np.ndarray] | None:
    """What :func:`save_extremes` wrote, or None (runs from before it existed)."""
    try:
        with np.load(run_dir / EXTREMES_FILE, allow_pickle=False) as data:
            return {key: data[key] for key in ("pred", "true", "frame", "rbf")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def extremes_corrupt(run_dir: Path) -> bool:
    """Whether the run has an ``extreme_frames.npz`` that cannot be read (a truncated
    write): then the run's measurements are redone."""
    return (run_dir / EXTREMES_FILE).exists() and load_extremes(run_dir) is None


def summary_table(metrics: dict[tuple[str, str], pd.DataFrame], column: str) -> pd.DataFrame:
    """One row per run in the paper's order: mean/std as the paper plus robust stats.

    ``ci_low``/``ci_high``: a 95% interval of the mean with the contiguous test segments
    as units (:func:`blurutils.statistics.segment_t_ci`: frames within a segment are
    correlated, so neither the std over frames nor a short-block bootstrap is an
    uncertainty of the mean; docs/statistics.md).  It covers the test frames of this one
    training, not the variation between seeds.
    """
    from .statistics import contiguous_segments, segment_t_ci

    rows = []
    for (model, loss), df in metrics.items():
        values = df[column].to_numpy()
        stats = summarize(values)
        ci = segment_t_ci(values, contiguous_segments(df["frame"].to_numpy()))
        rows.append(dict(paper_row=paper_row(model, loss), model=model, loss=loss,
                         mean=stats["mean"], ci_low=ci.low, ci_high=ci.high,
                         std=stats["std"], median=stats["median"],
                         q1=stats["q1"], q3=stats["q3"], iqr=stats["iqr"], n=stats["n"],
                         n_inf=stats["n_inf"], n_nan=stats["n_nan"]))
    order = {row: i for i, row in enumerate(paper_row(m, l) for m, l in run_order(
        list(ALL_MODELS), list(ALL_LOSSES) + sorted({l for _, l in metrics})))}
    table = pd.DataFrame(rows)
    return table.sort_values("paper_row", key=lambda s: s.map(order)).reset_index(drop=True)


def blur_fidelity_table(metrics: dict[tuple[str, str], pd.DataFrame],
                        baselines: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Blur next to fidelity for every run and baseline (means over test frames).

    ``mean_abs_rbf`` is how far from the truth's blur a method is in either direction;
    ``rbf_matched`` is RBF once contrast is matched; PSNR and SSIM say whether the
    frame is right at all — a copied previous frame has RBF ~ 0 but a low PSNR.
    """
    rows = []
    named = [(paper_row(m, l), "autoencoder", df) for (m, l), df in metrics.items()]
    named += [(name, "baseline (no learning)", df) for name, df in baselines.items()]
    for label, kind, df in named:
        finite = df.replace([np.inf, -np.inf], np.nan)
        rows.append(dict(method=label, kind=kind,
                         bf_mean=finite["bf_pred"].mean(), rbf_mean=finite["rbf"].mean(),
                         rbf_median=finite["rbf"].median(),
                         abs_rbf_mean=finite["rbf"].abs().mean(),
                         rbf_matched_mean=finite["rbf_matched"].mean(),
                         blurrier_tiles=finite["blurrier_tiles"].mean(),
                         psnr_mean=finite["psnr"].mean(), ssim_mean=finite["ssim"].mean(),
                         n_inf=int(np.isinf(df[["bf_pred", "rbf"]].to_numpy()).sum())))
    return pd.DataFrame(rows)


def run_baselines(names: list[str], frames: np.ndarray, targets: np.ndarray, out: Path, *,
                  train: np.ndarray) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Per-frame metrics and learning diagnostics of the no-learning baselines on the
    test ``targets`` (cheap: always recomputed, stored under ``baselines/`` for the
    record).  ``train``: the training targets, whose mean the mean-frame baseline
    predicts."""
    from .baselines import predict_baseline

    results, diagnostics = {}, {}
    train_mean = frames[train].mean(axis=0, dtype=np.float64) / 255.0
    for name in names:
        pred = predict_baseline(name, frames, targets, train=train)
        df = frame_metrics(pred, frames[targets], targets)
        path = out / "baselines" / f"{name.lower().replace(' ', '_')}.csv"
        write_csv(df, path)
        results[name] = pd.read_csv(path)  # the stored values, as for the runs
        if len(targets) >= 2:
            diagnostics[name] = learning_diagnostics(pred, frames[targets], train_mean,
                                                     frames=targets)
    return results, diagnostics


# --------------------------------------------------------------------------- learning diagnostics

#: A run whose predictions are closer to their own targets than to the other test
#: targets by less than this (dB) has not learned to interpolate: it predicts roughly
#: the same picture whatever its input (typically the mean training frame).
MIN_INPUT_GAIN_DB = 1.0
#: Above this many test targets, "the other targets" are an evenly spaced subset of
#: this size (the all-pairs PSNR is a matrix product; the subset keeps it seconds).
OTHER_TARGETS_CAP = 1000
DIAGNOSTICS_FILE = "diagnostics.json"
NOT_INTERPOLATING = "does not interpolate (≈ the mean frame)"


def _flat_unit(frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames)
    arr = arr.astype(np.float64) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float64)
    return arr.reshape(len(arr), -1)


#: "Other" test targets are at least this many frames from a prediction's own target:
#: the immediate neighbours share its input frames (and a copy of the previous frame
#: *is* the previous target), so they say nothing about whether the input was used.
OTHER_TARGET_MIN_DISTANCE = 3


def learning_diagnostics(pred: np.ndarray, true: np.ndarray,
                         train_mean: np.ndarray | None = None, *,
                         frames: np.ndarray | None = None) -> dict[str, float]:
    """Did a model learn to interpolate, or does it predict one picture for every input?

    * ``psnr_own_db``: mean PSNR of each prediction against its own target;
    * ``psnr_other_db``: mean PSNR of each prediction against the *other* test targets
      (with ``frames``, the targets' frame numbers, those at least
      :data:`OTHER_TARGET_MIN_DISTANCE` frames away);
    * ``input_gain_db`` = own − other: ~0 when the prediction ignores its input;
    * ``spread``: per-pixel std of the predictions across test frames over that of the
      targets (1: varies as much as the truth, ~0: one picture for all);
    * ``mean_frame_gain_db``: mean PSNR minus that of predicting ``train_mean`` (the
      mean training frame) for every target (NaN without ``train_mean``).

    ``pred`` and ``true`` are (n, H, W) float in [0, 1] or uint8; n >= 2.
    """
    p, t = _flat_unit(pred), _flat_unit(true)
    if p.shape != t.shape or len(p) < 2:
        raise ValueError(f"learning_diagnostics: need >= 2 predictions and targets of one "
                         f"shape, got {p.shape} and {t.shape}")
    n = len(p)
    others = np.linspace(0, n - 1, min(n, OTHER_TARGETS_CAP)).round().astype(np.int64)
    others = np.unique(others)
    # squared distances of every prediction to every chosen target, via one product
    sq = (p ** 2).sum(axis=1)[:, None] + (t[others] ** 2).sum(axis=1)[None, :] \
        - 2.0 * p @ t[others].T
    mse = np.maximum(sq, 0.0) / p.shape[1]
    with np.errstate(divide="ignore"):
        pair_psnr = 10.0 * np.log10(1.0 / mse)
    own_mask = others[None, :] == np.arange(n)[:, None]
    if frames is not None:
        index = np.asarray(frames, dtype=np.int64)
        own_mask |= np.abs(index[others][None, :] - index[:, None]) < OTHER_TARGET_MIN_DISTANCE
    pair_psnr = np.where(np.isinf(pair_psnr), np.nan, pair_psnr)
    own = psnr(pred, true)
    own = np.where(np.isinf(own), np.nan, own)
    other = np.where(own_mask, np.nan, pair_psnr)
    psnr_own = float(np.nanmean(own))
    psnr_other = float(np.nanmean(other)) if np.isfinite(other).any() else float("nan")
    spread_true = float(t.std(axis=0).mean())
    spread = float(p.std(axis=0).mean() / spread_true) if spread_true > 0 else float("nan")
    gain_over_mean = float("nan")
    if train_mean is not None:
        mean_image = _flat_unit(np.asarray(train_mean)[None])[0]
        with np.errstate(divide="ignore"):
            baseline = 10.0 * np.log10(1.0 / ((t - mean_image[None, :]) ** 2).mean(axis=1))
        gain_over_mean = psnr_own - float(np.nanmean(np.where(np.isinf(baseline), np.nan,
                                                              baseline)))
    return dict(psnr_own_db=psnr_own, psnr_other_db=psnr_other,
                input_gain_db=psnr_own - psnr_other, spread=spread,
                mean_frame_gain_db=gain_over_mean, n_test=n, n_other=len(others))


def interpolates(diagnostics: dict[str, float]) -> bool:
    """Whether a run's predictions depend on their input (input gain >= 1 dB)."""
    gain = diagnostics.get("input_gain_db", float("nan"))
    return bool(np.isfinite(gain) and gain >= MIN_INPUT_GAIN_DB)


def write_diagnostics(diagnostics: dict[str, float], path: Path) -> None:
    """A run's diagnostics as JSON, written atomically."""
    import json

    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(diagnostics, indent=1, sort_keys=True) + "\n")


def read_diagnostics(path: Path) -> dict[str, float] | None:
    """A run's stored diagnostics, or None if missing or malformed (then recomputed)."""
    import json

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    wanted = ("psnr_own_db", "psnr_other_db", "input_gain_db", "spread", "mean_frame_gain_db")
    if not isinstance(data, dict) or not all(
            isinstance(data.get(k), (int, float)) and not isinstance(data.get(k), bool)
            for k in wanted):
        return None
    return data


def diagnostics_table(diagnostics: dict[str, dict[str, float]],
                      baselines: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per run or baseline: the learning diagnostics and a plain verdict
    (``baseline`` for the names in ``baselines``, which learn nothing)."""
    rows = []
    for label, d in diagnostics.items():
        if label in baselines:
            rows.append(dict(method=label, input_gain_db=d["input_gain_db"],
                             psnr_own_db=d["psnr_own_db"], psnr_other_db=d["psnr_other_db"],
                             spread=d["spread"], mean_frame_gain_db=d["mean_frame_gain_db"],
                             learned="baseline (no learning)"))
            continue
        rows.append(dict(method=label, input_gain_db=d["input_gain_db"],
                         psnr_own_db=d["psnr_own_db"], psnr_other_db=d["psnr_other_db"],
                         spread=d["spread"], mean_frame_gain_db=d["mean_frame_gain_db"],
                         learned="yes" if interpolates(d) else NOT_INTERPOLATING))
    return pd.DataFrame(rows)


def with_learning_column(table: pd.DataFrame,
                         learned: dict[tuple[str, str], bool]) -> pd.DataFrame:
    """``table`` (one row per run) with a ``learned`` column: ``yes``, the
    not-interpolating label, or ``unknown`` (a run without diagnostics)."""
    table = table.copy()
    table["learned"] = [("yes" if learned[(m, l)] else NOT_INTERPOLATING)
                        if (m, l) in learned else "unknown"
                        for m, l in zip(table["model"], table["loss"])]
    return table
