"""The study: four autoencoders x three losses, measured as the paper measures them.

``run_study(config)`` trains every (model, loss) run that is not finished yet,
computes per-test-frame metrics (BF of prediction and truth, RBF, PSNR, SSIM), and
writes to ``config.out``:

* ``runs/<Model>-<LOSS>/`` – history, model, per-frame metrics (see ``training``);
* ``table1_blur_factor.csv/.md``, ``table2_relative_blur_factor.csv/.md`` – the
  paper's rows and order, mean/std as the paper plus median, IQR and counts of
  infinite/NaN values (never averaged);
* ``paper_comparison.csv/.md`` – our Tables 1-2 beside the published numbers and a
  verdict on each of the paper's six observations;
* ``figure2_training_loss.png``, ``figure3_blur_factor.png``,
  ``figure4_relative_blur_factor.png``;
* ``config.yaml`` and ``REPORT.md``.

Everything is written atomically; rerunning a finished study trains nothing.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .config import ALL_LOSSES, ALL_MODELS, StudyConfig, dump_config
from .errors import ConfigError
from .faults import crash_point
from .metrics import (blur_factor, fraction_blurrier_tiles, match_contrast, psnr,
                      relative_blur_factor, ssim, summarize)
from .paths import atomic_path, remove_stale_temporaries, write_text_atomic

METRIC_COLUMNS = ["frame", "bf_pred", "bf_true", "rbf", "psnr", "ssim",
                  "bf_matched", "rbf_matched", "blurrier_tiles"]


def paper_row(model: str, loss: str) -> str:
    """The paper's row label, e.g. ``Bi-Directional MLAE - CP``.

    (The paper calls even the convolutional model "Convolutional MLAE".)
    """
    return f"{model} MLAE - {loss}"


def run_order(models: list[str], losses: list[str]) -> list[tuple[str, str]]:
    """(model, loss) pairs in the order of the paper's tables; losses the paper did not
    use (the blur-aware ``BASE+BLUR``) follow its three, in the order given."""
    extra = [l for l in losses if l not in ALL_LOSSES]
    return [(m, l) for m in ALL_MODELS for l in (*ALL_LOSSES, *extra)
            if m in models and l in losses]


def paper_tables() -> pd.DataFrame:
    """The paper's Tables 1-2 (full precision, from the authors' spreadsheet)."""
    text = resources.files("blurutils").joinpath("data/paper_tables_1_2.csv").read_text()
    return pd.read_csv(io.StringIO(text), comment="#")


def paper_loss_curves() -> pd.DataFrame:
    """The authors' per-epoch losses behind Figure 2 (dense models only)."""
    text = resources.files("blurutils").joinpath("data/paper_loss_curves.csv").read_text()
    return pd.read_csv(io.StringIO(text), comment="#")


def frame_metrics(pred: np.ndarray, true: np.ndarray, frames: np.ndarray, *,
                  reshape: bool = False) -> pd.DataFrame:
    """Per-test-frame metrics.

    The paper's BF of prediction and truth and RBF; fidelity (PSNR, SSIM), which RBF
    alone cannot see; BF and RBF after matching each prediction's mean and std to its
    target (``bf_matched``, ``rbf_matched``: blur without contrast); and the fraction of
    25x25 tiles blurrier than the truth (``blurrier_tiles``: where the blur is).

    ``reshape=True`` measures every blur column as the authors' code did for the dense
    models: on each (H, W) frame reshaped to (W, H) — scrambled rows (quirk d).  PSNR
    and SSIM stay on the true layout.
    """
    fidelity = dict(psnr=psnr(pred, true), ssim=ssim(pred, true))
    if reshape:
        pred = pred.reshape(len(pred), pred.shape[2], pred.shape[1])
        true = true.reshape(len(true), true.shape[2], true.shape[1])
    matched = match_contrast(pred, true)
    return pd.DataFrame({
        "frame": np.asarray(frames, dtype=np.int64),
        "bf_pred": blur_factor(pred),
        "bf_true": blur_factor(true),
        "rbf": relative_blur_factor(pred, true),
        **fidelity,
        "bf_matched": blur_factor(matched),
        "rbf_matched": relative_blur_factor(matched, true),
        "blurrier_tiles": np.atleast_1d(fraction_blurrier_tiles(pred, true)),
    })


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV written atomically, floats at full precision (byte-identical on reruns)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.10g")


def read_metrics(path: Path) -> pd.DataFrame | None:
    """A run's per-frame metrics, or None if missing or malformed (then recomputed)."""
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return df if list(df.columns) == METRIC_COLUMNS and len(df) else None


@dataclass
class StudyResult:
    """What a study produced: per-frame metrics per run, tables, and output paths."""

    config: StudyConfig
    out: Path
    metrics: dict[tuple[str, str], pd.DataFrame]
    histories: dict[tuple[str, str], pd.DataFrame]
    table1: pd.DataFrame
    table2: pd.DataFrame
    comparison: pd.DataFrame
    verdicts: pd.DataFrame
    table3: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: dict[str, pd.DataFrame] = field(default_factory=dict)
    run_dirs: dict[tuple[str, str], Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def summary_table(metrics: dict[tuple[str, str], pd.DataFrame], column: str) -> pd.DataFrame:
    """One row per run in the paper's order: mean/std as the paper plus robust stats."""
    rows = []
    for (model, loss), df in metrics.items():
        stats = summarize(df[column].to_numpy())
        rows.append(dict(paper_row=paper_row(model, loss), model=model, loss=loss,
                         mean=stats["mean"], std=stats["std"], median=stats["median"],
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


def _means(table: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(r.model, r.loss): r.mean for r in table.itertuples()}


def observation_verdicts(table1: pd.DataFrame, table2: pd.DataFrame) -> pd.DataFrame:
    """The paper's six observations (sections 4.1 and 4.2), checked on our numbers.

    Each verdict is ``holds``, ``does not hold`` or ``not tested`` (runs missing), with
    the numbers it rests on.
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
            out.append(dict(observation=obs_id, claim=claim, verdict="not tested",
                            evidence="the runs it needs were not part of this study"))
            return
        out.append(dict(observation=obs_id, claim=claim,
                        verdict="holds" if test() else "does not hold", evidence=detail()))

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
        lambda: min(rbf[k] for k in conv_all) > max(max(rbf[k] for k in other_dense + cp_keys), 1.0),
        lambda: f"mean RBF: {fmt(rbf, conv_all)}; highest dense {max(rbf[k] for k in other_dense + cp_keys):.3g}")
    add("RBF-2", "Dense models trained with CP average a negative RBF (sharper than the truth)",
        cp_keys, lambda: all(rbf[k] < 0 for k in cp_keys),
        lambda: f"mean RBF: {fmt(rbf, cp_keys)}")
    add("RBF-3", "Dense CP models come closest to the truth's blur (smallest |mean RBF|)",
        cp_keys + other_dense + conv_all,
        lambda: max(abs(rbf[k]) for k in cp_keys) < min(abs(rbf[k]) for k in other_dense + conv_all),
        lambda: f"|mean RBF|: {fmt({k: abs(v) for k, v in rbf.items()}, cp_keys)}; smallest "
                f"other {min(abs(rbf[k]) for k in other_dense + conv_all):.3g}")
    return pd.DataFrame(out)


@dataclass(frozen=True)
class FrameRequest:
    """How to load a study's frames (picklable, so a run's worker process loads them
    from the frame cache instead of receiving a copy)."""

    source: str
    max_frames: int | None = None
    step: int = 1
    layout: str = "paper"
    synthetic_frames: int | None = None

    @classmethod
    def of(cls, config: StudyConfig, layout: str | None = None) -> "FrameRequest":
        layout = layout or config.frame_layout
        synthetic = config.synthetic_frames if config.source == "synthetic" else None
        return cls(config.source, config.max_frames, config.frame_step, layout, synthetic)

    def load(self) -> np.ndarray:
        from .frames import load_frames

        options = {"n_frames": self.synthetic_frames} if self.synthetic_frames else {}
        return load_frames(self.source, max_frames=self.max_frames, step=self.step,
                           layout=self.layout, **options)


def run_layout(config: StudyConfig, model_name: str) -> str:
    """The frame layout a run of ``model_name`` trains and is measured on.

    ``config.frame_layout`` applies to the dense models (the ones that need the memory);
    the convolutional model keeps the paper's frames, or the authors' with quirk (f).
    """
    from .compat import frame_format_for
    from .models import model_spec

    kind = model_spec(model_name).kind
    return config.frame_layout if kind == "dense" else frame_format_for(kind, tuple(config.compat))


def run_frames(config: StudyConfig, model_name: str) -> np.ndarray:
    """The study's frames in the layout of ``model_name``'s runs (from the frame cache):
    what its test examples index and what its predictions are compared with."""
    return FrameRequest.of(config, run_layout(config, model_name)).load()


@dataclass(frozen=True)
class RunJob:
    """One run of the study: train (or reuse), predict the test targets, measure."""

    run: "RunConfig"  # noqa: F821  (blurutils.training.RunConfig)
    run_dir: Path
    frames: FrameRequest
    train: "Examples"  # noqa: F821  (blurutils.pairs.Examples)
    test: "Examples"  # noqa: F821
    measure_reshaped: bool  # also measure blur on the (200, 100) reshape (quirk d)
    keep_model: bool

    @property
    def metric_files(self) -> dict[bool, Path]:
        """{reshaped?: per-frame metrics file} for the measurements this run makes."""
        files = {False: self.run_dir / "per_frame_metrics.csv"}
        if self.measure_reshaped:
            files[True] = self.run_dir / "per_frame_metrics_reshaped.csv"
        return files


def execute_run(job: RunJob, *, report: Callable[[str], None] = print) -> None:
    """Train ``job``'s model (resuming, or loading a finished one), predict its test
    targets and write the per-frame metrics.  Runs in a worker process by default."""
    from .training import predict, train_run

    model_file = job.run_dir / "model.keras"
    kept_before = model_file.is_file()  # another study's model: never delete it
    frames = job.frames.load()
    model = train_run(job.run, frames, job.train, job.test, job.run_dir, report=report)
    pred = predict(model, frames, job.test)
    true = frames[job.test.targets]
    for reshaped, path in job.metric_files.items():
        df = frame_metrics(pred, true, job.test.targets, reshape=reshaped)
        write_csv(df, path)
        if not reshaped:
            save_extremes(pred, true, df, job.run_dir / EXTREMES_FILE)
    if not job.keep_model and not kept_before:
        model_file.unlink(missing_ok=True)


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
    except (OSError, ValueError, KeyError):
        return None


def _stored_metrics(job: RunJob) -> dict[bool, pd.DataFrame] | None:
    """The finished run's per-frame metrics, or None if anything must be (re)computed."""
    from .training import RunFiles, is_done

    if not is_done(RunFiles(job.run_dir), job.run, need_model=job.keep_model):
        return None
    stored = {reshaped: read_metrics(path) for reshaped, path in job.metric_files.items()}
    return None if any(df is None for df in stored.values()) else stored


def plan_runs(config: StudyConfig, n_frames: int, split,
              fingerprint: Callable[[str], str]) -> list[tuple[str, str, RunJob]]:
    """(model, loss, job) for every run of ``config``, in the paper's order.

    ``fingerprint(layout)`` is the data fingerprint of the frames in that layout
    (:func:`run_layout` says which layout each model uses).
    """
    from .compat import conv_run_settings, model_offsets, run_folder_name
    from .models import model_spec
    from .pairs import DIRECTION_OFFSETS, examples_at
    from .training import RunConfig

    quirks = tuple(config.compat)
    jobs = []
    for model_name, loss in run_order(config.models, config.losses):
        spec = model_spec(model_name)
        conv = spec.kind == "conv"
        filters, cp_last_axis = conv_run_settings(loss, config.conv_filters, quirks) \
            if conv else (0, False)
        layout = run_layout(config, spec.name)
        run = RunConfig(model=spec.name, loss=loss, epochs=config.epochs,
                        batch_size=config.conv_batch_size if conv else config.dense_batch_size,
                        seed=config.seed, conv_filters=filters, cp_last_axis=cp_last_axis,
                        jit_compile=config.conv_jit_compile if conv else config.dense_jit_compile,
                        steps_per_execution=config.conv_steps_per_execution if conv else 1,
                        checkpoint_interval_s=config.checkpoint_interval_s,
                        data_fingerprint=fingerprint(layout))
        offsets = model_offsets(spec.name, DIRECTION_OFFSETS[spec.direction], quirks)
        folder = run_folder_name(run.name, spec.name, quirks)
        jobs.append((spec.name, loss, RunJob(
            run=run, run_dir=Path(config.out) / "runs" / folder,
            frames=FrameRequest.of(config, layout),
            train=examples_at(offsets, split.train, n_frames, split.unit),
            test=examples_at(offsets, split.test, n_frames, split.unit),
            # Dense runs are always measured both ways (cheap), so an audit's variants
            # with and without quirk d share one training.
            measure_reshaped=spec.kind == "dense",
            keep_model=config.keep_models)))
    return jobs


def study_split(config: StudyConfig, n_frames: int):
    """The paper's split of target frames, or the authors' pair split (quirk a)."""
    from .pairs import fillnet_pair_split, split_targets

    if "pairs" in config.compat:
        return fillnet_pair_split(n_frames, test_fraction=config.test_fraction)
    return split_targets(n_frames, test_fraction=config.test_fraction, seed=config.seed,
                         method=config.split)


@dataclass
class CollectedRuns:
    """The frames and split a study used, and per run its metrics, history and folder."""

    frames: np.ndarray
    split: "Split"  # noqa: F821  (blurutils.pairs.Split)
    metrics: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    histories: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    run_dirs: dict[tuple[str, str], Path] = field(default_factory=dict)


def collect_runs(config: StudyConfig, *, report: Callable[[str], None] = print,
                 on_ready: Callable[[], None] | None = None):
    """Train and measure every run of ``config`` not finished yet; reuse the rest.

    Returns :class:`CollectedRuns`.  Each run trains in a fresh
    process unless ``config.isolate_runs`` is off (see :mod:`blurutils.isolation`).
    ``on_ready`` is called once the frames and split are known to be usable.
    """
    from .compat import measures_reshaped
    from .isolation import run_in_child
    from .models import model_spec
    from .training import data_fingerprint

    out = Path(config.out)
    _prepare_out(out)
    request = FrameRequest.of(config)
    frames = request.load()
    split = study_split(config, len(frames))
    fingerprints: dict[str, str] = {}

    def fingerprint(layout: str) -> str:
        if layout not in fingerprints:
            array = frames if layout == config.frame_layout \
                else FrameRequest.of(config, layout).load()
            fingerprints[layout] = data_fingerprint(array, split.train, split.test)
        return fingerprints[layout]

    jobs = plan_runs(config, len(frames), split, fingerprint)
    if on_ready is not None:
        on_ready()
    report(f"{len(frames)} frames of {config.source}: {len(split.train)} training and "
           f"{len(split.test)} test {'pairs' if split.unit == 'pair' else 'targets'} "
           + ("(the authors' pair split, random_state 42)" if split.unit == "pair"
              else f"({config.split} split, seed {config.seed})"))

    runs = CollectedRuns(frames, split)
    for model_name, loss, job in jobs:
        stored = _stored_metrics(job)
        if stored is None:
            if config.isolate_runs:
                run_in_child(execute_run, job, name=job.run.name, report=report)
            else:
                execute_run(job, report=report)
                release_memory()
            stored = _stored_metrics(job)
            if stored is None:
                raise ConfigError(f"{job.run_dir}: the run finished but its results are "
                                  "missing or unreadable")
        else:
            report(f"{job.run.name:<22} already done; reusing its results")
        reshaped = measures_reshaped(model_spec(model_name).kind, config.compat)
        # Tables come from the stored (rounded) values, as on every later rerun.
        runs.metrics[(model_name, loss)] = stored[reshaped]
        crash_point("run")
        runs.histories[(model_name, loss)] = pd.read_csv(job.run_dir / "history.csv")
        runs.run_dirs[(model_name, loss)] = job.run_dir
    if not runs.metrics:
        raise ConfigError("no runs selected")
    return runs


def run_study(config: StudyConfig, *, report: Callable[[str], None] = print) -> StudyResult:
    """Run (or resume, or just reload) the whole study and write every output."""
    from .compat import describe
    from .pairs import DIRECTION_OFFSETS, examples_at

    started = time.perf_counter()
    out = Path(config.out)
    if config.compat:
        report(f"paper-compatibility mode: {describe(config.compat)}")
    # config.yaml only once frames and split are usable: a study that fails on its
    # input must not overwrite the config that describes the results already in ``out``.
    runs = collect_runs(
        config, report=report,
        on_ready=lambda: write_text_atomic(out / "config.yaml", dump_config(config)))
    frames, split, metrics = runs.frames, runs.split, runs.metrics
    # Baselines interpolate: the targets with both neighbours among the test set.
    bracketed = examples_at(DIRECTION_OFFSETS["bidirectional"], split.test, len(frames),
                            split.unit).targets
    baselines = run_baselines(config.baselines, frames, bracketed, out)
    table1 = summary_table(metrics, "bf_pred")
    table2 = summary_table(metrics, "rbf")
    comparison = comparison_table(table1, table2)
    verdicts = observation_verdicts(table1, table2)
    truth = summarize(blur_factor(frames[bracketed]))
    result = StudyResult(config, out, metrics, runs.histories, table1, table2, comparison,
                         verdicts, table3=blur_fidelity_table(metrics, baselines),
                         baselines=baselines, run_dirs=runs.run_dirs)
    result.files = write_outputs(result, truth)
    result.seconds = time.perf_counter() - started
    return result


def release_memory() -> None:
    """Drop Keras' global state and collect the last model's reference cycles before the
    next run.  Call it after dropping every reference to the model.

    Known limit: the process's resident size still grows ~0.5-1 GB per dense run
    although no model, layer or variable survives (checked with ``gc``); the memory is
    held below Python (TensorFlow / oneDNN allocators).
    """
    import gc

    import keras

    keras.backend.clear_session(free_memory=True)
    gc.collect()



def run_baselines(names: list[str], frames: np.ndarray, targets: np.ndarray,
                  out: Path) -> dict[str, pd.DataFrame]:
    """Per-frame metrics of the no-learning baselines on the test targets (cheap: always
    recomputed, stored under ``baselines/`` for the record)."""
    from .baselines import predict_baseline

    results = {}
    for name in names:
        df = frame_metrics(predict_baseline(name, frames, targets), frames[targets], targets)
        path = out / "baselines" / f"{name.lower().replace(' ', '_')}.csv"
        write_csv(df, path)
        results[name] = pd.read_csv(path)  # the stored values, as for the runs
    return results


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
        remove_stale_temporaries(out)
    except OSError as exc:
        raise ConfigError(f"{out}: results folder is not writable ({exc.strerror or exc})") from None


def _markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt) + "\n"


def write_outputs(result: StudyResult, truth: dict) -> dict[str, Path]:
    """Write tables, comparison, figures and REPORT.md; return their paths."""
    from . import plots

    out = result.out
    files: dict[str, Path] = {}
    for key, table in (("table1", result.table1), ("table2", result.table2)):
        name = "table1_blur_factor" if key == "table1" else "table2_relative_blur_factor"
        write_csv(table, out / f"{name}.csv")
        write_text_atomic(out / f"{name}.md", _markdown(table))
        files[key] = out / f"{name}.csv"
    write_csv(result.comparison, out / "paper_comparison.csv")
    write_text_atomic(out / "paper_comparison.md",
                      _markdown(result.comparison) + "\n" + _markdown(result.verdicts))
    files["comparison"] = out / "paper_comparison.csv"
    write_csv(result.verdicts, out / "verdicts.csv")
    write_csv(result.table3, out / "table3_blur_and_fidelity.csv")
    write_text_atomic(out / "table3_blur_and_fidelity.md", _markdown(result.table3))
    files["table3"] = out / "table3_blur_and_fidelity.csv"
    files.update(plots.study_figures(result, out))
    files["report"] = out / "REPORT.md"
    write_text_atomic(files["report"], render_report(result, truth, files))
    return files


def render_report(result: StudyResult, truth: dict, files: dict[str, Path]) -> str:
    """REPORT.md: what was run, the tables, the comparison, the verdicts, the figures."""
    c = result.config
    lines = [
        "# Blur in autoencoder video interpolation — reproduction report", "",
        f"Profile `{c.profile}`, source `{c.source}`, {c.epochs} epochs, seed {c.seed}, "
        f"{c.split} {1 - c.test_fraction:.0%}/{c.test_fraction:.0%} split, "
        f"convolutional filters {c.conv_filters}. Full settings: [config.yaml](config.yaml).", "",
        "Blur Factor BF = 1 / var(Laplacian) (higher = blurrier); Relative Blur Factor "
        "RBF = BF(pred) / BF(true) − 1 (> 0: blurrier than the truth). Frames are measured "
        "in their true 100×200 layout (the authors' code reshaped them to 200×100; see the "
        "project README).", "",
        f"Ground-truth test frames: mean BF {truth['mean']:.4g} (std {truth['std']:.3g}, "
        f"median {truth['median']:.4g}, n = {truth['n']}).", "",
        "## Table 1 — Blur Factor of the predictions", "", _markdown(result.table1),
        "## Table 2 — Relative Blur Factor", "", _markdown(result.table2),
        "## Beside the paper", "",
        "The paper trained on ~12,000 frames of *Bambi*; these numbers come from "
        f"`{c.source}`, so magnitudes differ. What should carry over are the orderings "
        "the six observations describe.", "", _markdown(result.comparison),
        "### The paper's observations, checked", "", _markdown(result.verdicts),
        "## Beyond the paper: blur next to fidelity, and baselines with no learning", "",
        "Means over the test frames. `abs_rbf_mean`: distance from the truth's blur in "
        "either direction; `rbf_matched_mean`: RBF after matching each prediction's mean "
        "and std to its target (var(Lap(a·P)) = a²·var(Lap(P)), so contrast alone moves "
        "BF); `blurrier_tiles`: share of 25×25 tiles blurrier than the truth; PSNR (dB) "
        "and SSIM: fidelity. Copying the previous frame scores RBF ≈ 0 while being the "
        "wrong frame — report RBF together with PSNR/SSIM, never alone.", "",
        _markdown(result.table3),
        "## Figures", "",
    ]
    for key in ("figure2", "figure3", "figure4", "figure5"):
        if key in files:
            lines += [f"![{key}]({files[key].name})", ""]
    lines += ["## Files", "",
              "- `runs/<Model>-<LOSS>/`: `history.csv`, `model.keras`, `per_frame_metrics.csv` "
              "(dense models also `per_frame_metrics_reshaped.csv`: blur measured on the "
              "authors' (200, 100) reshape), `extreme_frames.npz` (Figure 5's frames), "
              "`run.json`",
              "- [table1_blur_factor.csv](table1_blur_factor.csv), "
              "[table2_relative_blur_factor.csv](table2_relative_blur_factor.csv), "
              "[paper_comparison.csv](paper_comparison.csv), [verdicts.csv](verdicts.csv), "
              "[table3_blur_and_fidelity.csv](table3_blur_and_fidelity.csv)",
              "- `baselines/<name>.csv`: per-frame metrics of each no-learning baseline", ""]
    return "\n".join(lines)
