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

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import pandas as pd

from .catalog import ModelSpec, model_spec, paper_row, run_order
from .config import StudyConfig, dump_config
from .errors import ConfigError
from .evaluation import (DIAGNOSTICS_FILE, EXTREMES_FILE, blur_fidelity_table, extremes_corrupt,
                         diagnostics_table, frame_metrics, interpolates,
                         learning_diagnostics, read_diagnostics, read_metrics, run_baselines,
                         save_extremes, summary_table, with_learning_column, write_csv,
                         write_diagnostics)
from .faults import crash_point
from .metrics import blur_factor, summarize
from .paths import results_folder, write_text_atomic
from .shots import summarize_shots
from .reference import comparison_table, observation_verdicts, verdicts_by_measure
from .report import StudyResult, write_outputs


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


def run_layout(config: StudyConfig, model: ModelSpec | str) -> str:
    """The frame layout a run of ``model`` (its catalog spec, or a name to look up)
    trains and is measured on.

    ``config.frame_layout`` applies to the dense models (the ones that need the memory);
    the convolutional model keeps the paper's frames, or the authors' with quirk (f).
    """
    from .compat import frame_format_for

    kind = (model if isinstance(model, ModelSpec) else model_spec(model)).kind
    return config.frame_layout if kind == "dense" else frame_format_for(kind, tuple(config.compat))


def run_frames(config: StudyConfig, model: ModelSpec | str) -> np.ndarray:
    """The study's frames in the layout of ``model``'s runs (from the frame cache):
    what its test examples index and what its predictions are compared with."""
    return FrameRequest.of(config, run_layout(config, model)).load()


@dataclass(frozen=True)
class RunJob:
    """One run of the study: train (or reuse), predict the test targets, measure.

    ``run.spec`` is the run's model, resolved once when the run is planned."""

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
    train_mean = frames[job.train.targets].mean(axis=0, dtype=np.float64) / 255.0
    write_diagnostics(learning_diagnostics(pred, true, train_mean, frames=job.test.targets),
                      job.run_dir / DIAGNOSTICS_FILE)
    plain = frame_metrics(pred, true, job.test.targets)
    save_extremes(pred, true, plain, job.run_dir / EXTREMES_FILE)
    for reshaped, path in job.metric_files.items():
        # The reshape moves pixels, not values: PSNR and SSIM are the unreshaped ones.
        write_csv(frame_metrics(pred, true, job.test.targets, reshape=True, fidelity=plain)
                  if reshaped else plain, path)
    if not job.keep_model and not kept_before:
        model_file.unlink(missing_ok=True)


def _stored_metrics(job: RunJob, *, bring_back: bool = True
                    ) -> dict[bool, pd.DataFrame] | None:
    """The finished run's per-frame metrics, or None if anything must be (re)computed.

    ``bring_back``: when the run folder holds no run of these settings but one set
    aside earlier does (``<run>.previous-<fingerprint>``, settings switched back), it
    is brought back (:func:`blurutils.training.bring_back_finished`) instead of trained.
    """
    import dataclasses

    from .training import RunFiles, bring_back_finished, is_done

    if not is_done(RunFiles(job.run_dir), job.run, need_model=job.keep_model):
        if not (bring_back and bring_back_finished(
                RunFiles(job.run_dir), job.run, need_model=job.keep_model,
                usable=lambda kept: _stored_metrics(dataclasses.replace(job, run_dir=kept),
                                                    bring_back=False) is not None)):
            return None
    stored = {reshaped: read_metrics(path) for reshaped, path in job.metric_files.items()}
    if read_diagnostics(job.run_dir / DIAGNOSTICS_FILE) is None or extremes_corrupt(job.run_dir):
        return None
    return None if any(df is None for df in stored.values()) else stored


def run_is_finished(job: RunJob) -> bool:
    """Whether ``job``'s run is finished with readable results (nothing to train or
    measure): the check every rerun makes, and a cluster worker makes before training.
    A finished run of these settings set aside earlier counts (it is brought back, not
    trained); this check itself moves nothing."""
    import dataclasses

    from .training import RunFiles, set_aside_candidates

    return _stored_metrics(job, bring_back=False) is not None or any(
        _stored_metrics(dataclasses.replace(job, run_dir=kept), bring_back=False) is not None
        for kept in set_aside_candidates(RunFiles(job.run_dir), job.run))


def plan_runs(config: StudyConfig, n_frames: int, split,
              fingerprint: Callable[[str], str]) -> list[tuple[str, str, RunJob]]:
    """(model, loss, job) for every run of ``config``, in the paper's order.

    Each model's name is looked up in the catalog here, once: its spec travels with the
    job as ``job.run.spec`` and nothing later looks it up again.

    ``fingerprint(layout)`` is the data fingerprint of the frames in that layout
    (:func:`run_layout` says which layout each model uses).
    """
    from .compat import conv_run_settings, model_offsets, run_folder_name
    from .pairs import DIRECTION_OFFSETS, examples_at
    from .training import RunConfig

    quirks = tuple(config.compat)
    jobs = []
    for model_name, loss in run_order(config.models, config.losses):
        spec = model_spec(model_name)
        conv = spec.kind == "conv"
        filters, cp_last_axis = conv_run_settings(loss, config.conv_filters, quirks) \
            if conv else (0, False)
        layout = run_layout(config, spec)
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


def study_split(config: StudyConfig, n_frames: int, frames: np.ndarray | None = None):
    """The paper's split of target frames, or the authors' pair split (quirk a).

    Given the ``frames``, triplets that span a cut or hold a flat frame are dropped from
    both sides of the split (:func:`blurutils.shots.usable_targets`) unless
    ``config.keep_cuts``; dropping only removes targets, so the split stays leak-free.
    """
    from .pairs import fillnet_pair_split, split_targets

    if "pairs" in config.compat:
        return fillnet_pair_split(n_frames, test_fraction=config.test_fraction)
    return split_targets(n_frames, test_fraction=config.test_fraction, seed=config.seed,
                         method=config.split,
                         frames=None if config.keep_cuts else frames)




@dataclass
class CollectedRuns:
    """The frames and split a study used, and per run its metrics, history and folder."""

    frames: np.ndarray
    split: "Split"  # noqa: F821  (blurutils.pairs.Split)
    metrics: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    histories: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict)
    run_dirs: dict[tuple[str, str], Path] = field(default_factory=dict)


class RunExecutor(Protocol):
    """Trains runs somewhere else (e.g. :class:`blurutils.cluster.DaskExecutor`): each
    job through :func:`execute_run` in a process of its own; returns when all are done,
    raises if one failed.  Results land in each job's ``run_dir``, as in one process."""

    def run(self, jobs: list["RunJob"], *, report: Callable[[str], None]) -> None: ...


def collect_runs(config: StudyConfig, *, report: Callable[[str], None] = print,
                 on_ready: Callable[[], None] | None = None,
                 executor: RunExecutor | None = None):
    """Train and measure every run of ``config`` not finished yet; reuse the rest.

    Returns :class:`CollectedRuns`.  Each run trains in a fresh
    process unless ``config.isolate_runs`` is off (see :mod:`blurutils.isolation`).
    ``on_ready`` is called once the frames and split are known to be usable.  With an
    ``executor``, the runs not finished yet are handed to it first (all at once, so a
    cluster trains them in parallel); the rest is as without.
    """
    from .training import reporting_set_aside

    with results_folder(config.out) as out, reporting_set_aside(report):
        return _collect_runs(config, out, report, on_ready, executor)


def _collect_runs(config: StudyConfig, out: Path, report: Callable[[str], None],
                  on_ready: Callable[[], None] | None,
                  executor: RunExecutor | None = None) -> "CollectedRuns":
    from .compat import measures_reshaped
    from .isolation import run_in_child
    from .training import read_history

    frames, split, jobs = frames_split_and_jobs(config)
    if on_ready is not None:
        on_ready()
    report(f"{len(frames)} frames of {config.source}: {len(split.train)} training and "
           f"{len(split.test)} test {'pairs' if split.unit == 'pair' else 'targets'} "
           + ("(the authors' pair split, random_state 42)" if split.unit == "pair"
              else f"({config.split} split, seed {config.seed})"))

    runs = CollectedRuns(frames, split)
    handed: set[Path] = set()
    if executor is not None:
        pending = [job for _, _, job in jobs if not run_is_finished(job)]
        executor.run(pending, report=report)
        handed = {job.run_dir for job in pending}
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
        elif job.run_dir not in handed:
            report(f"{job.run.name:<22} already done; reusing its results")
        reshaped = measures_reshaped(job.run.spec.kind, config.compat)
        # Tables come from the stored (rounded) values, as on every later rerun.
        runs.metrics[(model_name, loss)] = stored[reshaped]
        crash_point("run")
        runs.histories[(model_name, loss)] = pd.DataFrame(
            read_history(job.run_dir / "history.csv") or [],
            columns=["epoch", "loss", "val_loss"])
        runs.run_dirs[(model_name, loss)] = job.run_dir
    if not runs.metrics:
        raise ConfigError("no runs selected")
    return runs


def run_study(config: StudyConfig, *, report: Callable[[str], None] = print,
              executor: RunExecutor | None = None) -> StudyResult:
    """Run (or resume, or just reload) the whole study and write every output.

    ``executor``: where the runs train (default: one worker process at a time here).
    """

    started = time.perf_counter()
    with results_folder(config.out) as out:
        return _run_study(config, out, report, started, executor)


def _run_study(config: StudyConfig, out: Path, report: Callable[[str], None],
               started: float, executor: RunExecutor | None) -> StudyResult:
    from .compat import describe
    from .pairs import DIRECTION_OFFSETS, examples_at, leaked_test_targets

    if config.compat:
        report(f"paper-compatibility mode: {describe(config.compat)}")
    # config.yaml only once frames and split are usable: a study that fails on its
    # input must not overwrite the config that describes the results already in ``out``.
    runs = collect_runs(
        config, report=report, executor=executor,
        on_ready=lambda: write_text_atomic(out / "config.yaml", dump_config(config)))
    frames, split, metrics = runs.frames, runs.split, runs.metrics
    # Baselines interpolate: the targets with both neighbours among the test set.
    bracketed = examples_at(DIRECTION_OFFSETS["bidirectional"], split.test, len(frames),
                            split.unit).targets
    train_targets = examples_at(DIRECTION_OFFSETS["forward"], split.train, len(frames),
                                split.unit).targets
    baselines, baseline_diagnostics = run_baselines(config.baselines, frames, bracketed, out,
                                                    train=train_targets)
    run_diagnostics = {key: read_diagnostics(run_dir / DIAGNOSTICS_FILE)
                       for key, run_dir in runs.run_dirs.items()}
    learned = {key: interpolates(d) for key, d in run_diagnostics.items() if d is not None}
    table1 = with_learning_column(summary_table(metrics, "bf_pred"), learned)
    table2 = with_learning_column(summary_table(metrics, "rbf"), learned)
    comparison = comparison_table(table1, table2)
    mean_abs_rbf = {key: float(df["rbf"].replace([np.inf, -np.inf], np.nan).abs().mean())
                    for key, df in metrics.items()}
    verdicts = observation_verdicts(table1, table2, learned=learned, mean_abs_rbf=mean_abs_rbf)
    verdicts = with_readings(verdicts, metrics, learned)
    truth = summarize(blur_factor(frames[bracketed]))
    labelled = {paper_row(*key): d for key, d in run_diagnostics.items() if d is not None}
    labelled.update(baseline_diagnostics)
    shots, dropped = _shots_and_dropped(config, frames, split)
    result = StudyResult(config, out, metrics, runs.histories, table1, table2, comparison,
                         verdicts, table3=blur_fidelity_table(metrics, baselines),
                         baselines=baselines, run_dirs=runs.run_dirs,
                         diagnostics=diagnostics_table(labelled, tuple(baselines)),
                         leaked_test_targets=len(leaked_test_targets(split)),
                         n_train=len(split.train), n_test=len(split.test),
                         measure_verdicts=verdicts_by_measure(metrics, learned=learned),
                         shots=shots, dropped_targets=dropped, credit=source_credit(config))
    result.files = write_outputs(result, truth)
    result.seconds = time.perf_counter() - started
    return result


def with_readings(verdicts: pd.DataFrame, metrics: dict[tuple[str, str], pd.DataFrame],
                  learned: dict[tuple[str, str], bool]) -> pd.DataFrame:
    """The table verdicts (means, no tolerance) with the two readings with inference
    beside them (:func:`blurutils.verdicts.observation_readings`)."""
    from .verdicts import observation_readings

    if not all("frame" in df for df in metrics.values()):
        return verdicts
    readings = observation_readings(metrics, learned=learned)
    return verdicts.merge(readings.drop(columns="claim"), on="observation", how="left")


def _shots_and_dropped(config: StudyConfig, frames: np.ndarray, split):
    """The clip's shots, and how many (training, test) targets the split dropped for
    spanning a cut or holding a flat frame (None, (0, 0) for the authors' pair split)."""
    from .pairs import split_targets

    if split.unit == "pair":
        return None, (0, 0)
    shots = summarize_shots(frames)
    if config.keep_cuts:
        return shots, (0, 0)
    plain = split_targets(len(frames), test_fraction=config.test_fraction, seed=config.seed,
                          method=config.split)
    return shots, (len(plain.train) - len(split.train), len(plain.test) - len(split.test))


def source_credit(config: StudyConfig) -> str | None:
    """The attribution a study's frames need (the bundled clips and the film: CC BY)."""
    from .film import FILM_CREDIT
    from .sources import EXCERPT_CREDIT, SAMPLE_CREDIT

    if config.source == "bigbuckbunny":
        return FILM_CREDIT
    if config.source == "excerpt":
        return EXCERPT_CREDIT
    if config.source == "sample":
        return SAMPLE_CREDIT
    return None


def release_memory() -> None:
    """Drop Keras' global state and collect the last model's reference cycles before the
    next run.  Call it after dropping every reference to the model.

    Known limit: the process's resident size still grows with every dense run
    although no model, layer or variable survives (checked with ``gc``); the memory is
    held below Python (TensorFlow / oneDNN allocators).
    """
    import gc

    import keras

    keras.backend.clear_session(free_memory=True)
    gc.collect()


def unfinished_runs(config: StudyConfig) -> list[str]:
    """Names of the runs of ``config`` that :func:`run_study` would train: not finished,
    or finished with another configuration.  Empty when every run can be reused.

    Loads the frames (cached) but trains and imports nothing heavy; a notebook calls it
    to say in one line what is missing before starting minutes of training.
    """
    _, _, jobs = frames_split_and_jobs(config)
    return [job.run.name for _, _, job in jobs if not run_is_finished(job)]


def frames_split_and_jobs(config: StudyConfig):
    """The study's frames (from the cache), its split, and :func:`plan_runs`' jobs, with
    each layout's data fingerprint computed once."""
    from .training import data_fingerprint

    frames = FrameRequest.of(config).load()
    split = study_split(config, len(frames), frames)
    fingerprints: dict[str, str] = {}

    def fingerprint(layout: str) -> str:
        if layout not in fingerprints:
            array = frames if layout == config.frame_layout \
                else FrameRequest.of(config, layout).load()
            fingerprints[layout] = data_fingerprint(array, split.train, split.test)
        return fingerprints[layout]

    return frames, split, plan_runs(config, len(frames), split, fingerprint)
