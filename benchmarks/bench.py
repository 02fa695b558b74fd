"""Benchmarks: `make bench` -> docs/BENCHMARKS.md.

Each figure is the median of >= 3 repeats with its min-max.  Competing variants are
measured alternately in one process so machine drift affects both alike.  Benchmarks
are not tests: tests/test_benchmarks.py only runs this code on tiny sizes.

    python benchmarks/bench.py                 # everything (about 25 min on 2 cores)
    python benchmarks/bench.py --tiny          # seconds; what the smoke test runs
    python benchmarks/bench.py --only metrics,frames
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: Hand-written reading of the numbers, appended to docs/BENCHMARKS.md after the tables.
READING = Path(__file__).resolve().with_name("READING.md")
sys.path.insert(0, str(REPO))

from blurutils.session import quiet_tensorflow  # noqa: E402

quiet_tensorflow()


@dataclass
class Row:
    """One benchmark figure: the median of repeated measurements."""

    section: str
    name: str
    values: list[float]
    unit: str
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def cell(self) -> str:
        lo, hi = min(self.values), max(self.values)
        return f"{_fmt(self.median)} ({_fmt(lo)}–{_fmt(hi)})"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: steady training frames/s per model (test pass included), for the paper projection
    training_rates: dict[str, float] = field(default_factory=dict)
    compile_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, *args, **kwargs) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        print(f"  {row.section:<10} {row.name:<58} {row.cell():>26} {row.unit}  {row.note}",
              flush=True)
        return row


def _fmt(v: float) -> str:
    if v == 0 or not np.isfinite(v):
        return f"{v}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process on all its threads) of ``fn()``."""
    c0, t0 = os.times(), time.perf_counter()
    fn()
    wall, c1 = time.perf_counter() - t0, os.times()
    return wall, (c1.user - c0.user) + (c1.system - c0.system)


# --------------------------------------------------------------------------- training
def matmul_peak(n: int, repeats: int) -> list[float]:
    """float32 matrix-multiply rate of this machine via TensorFlow, in GFLOP/s."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))

    @tf.function
    def mm():
        return tf.reduce_sum(tf.matmul(a, b))

    mm().numpy()  # warm up
    out = []
    for _ in range(repeats):
        t = timed(lambda: mm().numpy())
        out.append(2 * n ** 3 / t / 1e9)
    return out


def epoch_timer():
    """A Keras callback with ``.seconds``: each epoch from its start to its end (its test
    pass included), so a ``fit`` call's own set-up is not counted."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    return EpochTimer()


def bench_training(report: Report, n_frames: int, repeats: int, models: list[str]) -> None:
    """This project's training path vs a plain Keras fit (the authors' setup), epoch by
    epoch, alternately, each epoch with its test pass as in the study and the authors'
    script.  The first epoch of each (which compiles) is reported apart."""
    import gc

    import keras

    from blurutils.config import StudyConfig
    from blurutils.losses import get_loss
    from blurutils.models import build_model, make_optimizer, model_spec
    from blurutils.pairs import examples_for, split_targets
    from blurutils.frames import load_frames
    from blurutils.training import make_dataset, steps_per_epoch, use_xla

    frames = load_frames("sample")
    if n_frames > len(frames):  # tile the clip to the size asked for
        frames = np.resize(frames, (n_frames,) + frames.shape[1:])
    frames = frames[:n_frames]
    split = split_targets(len(frames))
    defaults = StudyConfig()
    peak = matmul_peak(2048 if n_frames < 1000 else 4096, max(repeats, 3))
    report.add("training", "float32 matmul peak (TensorFlow, 4096² on all cores)", peak,
               "GFLOP/s")
    peak_med = statistics.median(peak)
    for name in models:
        spec = model_spec(name)
        conv = spec.kind == "conv"
        train = examples_for(spec.direction, split.train)
        test = examples_for(spec.direction, split.test)
        if conv:  # batch 1 is slow: a slice is enough for a rate
            keep = max(64, n_frames // 20)
            train = train.subset(np.arange(min(len(train), keep)))
            test = test.subset(np.arange(min(len(test), keep * 3 // 7)))
        n = len(train)
        bs = spec.batch_size
        steps = steps_per_epoch(n, bs)

        # Ours: what train_run does for a run long enough for XLA to pay (the paper
        # profile); conv: no XLA, several batch-1 steps per call.
        ours = build_model(name)
        jit = use_xla(defaults.conv_jit_compile if conv else defaults.dense_jit_compile,
                      defaults.epochs * 132)
        spe = max(d for d in range(1, (defaults.conv_steps_per_execution if conv else 1) + 1)
                  if steps % d == 0)
        ours.compile(optimizer=make_optimizer(name), loss=get_loss("MSE"), jit_compile=jit,
                     steps_per_execution=spe)
        ds = make_dataset(frames, train, bs, epochs=repeats + 1, shuffle_seed=0)
        test_ds = make_dataset(frames, test, max(bs, 64))

        # Plain: float32 arrays and Keras' defaults (jit_compile="auto", which Keras
        # resolves to off for these models on CPU; Keras 2, the authors', had no XLA).
        plain = build_model(name)
        plain.compile(optimizer=make_optimizer(name), loss="mse")
        x = frames[train.inputs].transpose(0, 2, 3, 1).astype("float32") / 255.0
        y = frames[train.targets][..., None].astype("float32") / 255.0
        xt = frames[test.inputs].transpose(0, 2, 3, 1).astype("float32") / 255.0
        yt = frames[test.targets][..., None].astype("float32") / 255.0

        ours_t, plain_t = epoch_timer(), epoch_timer()
        for r in range(repeats + 1):
            gc.collect()
            ours.fit(ds, validation_data=test_ds, epochs=r + 1, initial_epoch=r,
                     steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[ours_t])
            gc.collect()
            plain.fit(x, y, batch_size=bs, validation_data=(xt, yt), epochs=r + 1,
                      initial_epoch=r, verbose=0, callbacks=[plain_t])
        ours_rates = [n / t for t in ours_t.seconds[1:]]
        plain_rates = [n / t for t in plain_t.seconds[1:]]
        del x, y, xt, yt
        label = f"XLA {'on' if jit else 'off'}, {spe} step(s)/call, tf.data from uint8"
        report.add("training", f"{name}: this project ({label})", ours_rates, "frames/s",
                   note=f"{n} training + {len(test)} test frames per epoch, batch {bs}")
        report.add("training", f"{name}: plain Keras fit (float32 arrays, defaults: "
                   f"XLA {'on' if plain.jit_compile else 'off'})", plain_rates, "frames/s")
        ratio = [o / p for o, p in zip(ours_rates, plain_rates)]
        report.add("training", f"{name}: speed-up over plain Keras", ratio, "×")
        extra = ours_t.seconds[0] - n / statistics.median(ours_rates)
        plain_extra = plain_t.seconds[0] - n / statistics.median(plain_rates)
        report.add("training", f"{name}: this project's first epoch, extra time (compiling)",
                   [extra], "s", note=f"plain Keras: {plain_extra:.1f} s")
        report.compile_seconds[name] = extra
        report.training_rates[name] = statistics.median(ours_rates)
        if not conv:
            flops = [6 * ours.count_params() * r / 1e9 for r in ours_rates]
            report.add("training", f"{name}: achieved (6 × params × frames/s)", flops,
                       "GFLOP/s", note=f"{statistics.median(flops) / peak_med:.2f} of peak "
                                       "(the test pass counted as time, not FLOPs)")
        keras.backend.clear_session()
    if len(report.training_rates) == 4:
        hours, parts = paper_projection(report.training_rates, report.compile_seconds)
        report.add("training", "paper profile (12,000 frames, 12 runs): projected training "
                   "time on this machine", [hours], "h",
                   note=f"3 losses × 10 epochs of 8,398 frames per model at the rates above "
                        f"({parts}), plus each run's compile; not counted: ~4 s of "
                        "TensorFlow start-up and ~2 s of saving and measuring per run")


# --------------------------------------------------------------------------- limits
def memory_bandwidth(megabytes: int, repeats: int) -> list[float]:
    """Copy rate of a large float32 array (read + write), GB/s, one core (NumPy)."""
    src = np.ones(megabytes * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch the pages first
    return [2 * src.nbytes / timed(lambda: np.copyto(dst, src)) / 1e9 for _ in range(repeats)]


def bench_limits(report: Report, repeats: int, tiny: bool) -> None:
    """Why the dense models cannot reach the matmul peak: one Forward training step
    split into its gradient and its Adam update, against the machine's limits."""
    import keras
    import tensorflow as tf

    from blurutils.models import build_model

    bandwidth = memory_bandwidth(16 if tiny else 512, max(repeats, 3))
    report.add("limits", "memory bandwidth: NumPy copy of a large float32 array", bandwidth,
               "GB/s", note="read + write, one core")
    peak = matmul_peak(512 if tiny else 4096, max(repeats, 3))
    report.add("limits", "float32 matmul peak (TensorFlow, all cores)", peak, "GFLOP/s")
    model = build_model("Forward")
    params = model.count_params()
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    batch = 64
    x = tf.random.uniform((batch, 100, 200, 1))
    y = tf.random.uniform((batch, 100, 200, 1))

    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        return tape.gradient(loss, model.trainable_variables)

    grad_only = tf.function(lambda: tf.add_n([tf.reduce_sum(g) for g in gradients()]),
                            jit_compile=True)

    @tf.function(jit_compile=True)
    def full_step():
        optimizer.apply(gradients(), model.trainable_variables)
        return optimizer.iterations

    for fn in (grad_only, full_step):
        fn()  # compile
    n = 1 if tiny else max(repeats, 3)
    grad_ms = [1e3 * timed(lambda: grad_only().numpy()) for _ in range(n)]
    step_ms = [1e3 * timed(lambda: full_step().numpy()) for _ in range(n)]
    adam_ms = [s - g for s, g in zip(step_ms, grad_ms)]
    peak_med, bw_med = statistics.median(peak), statistics.median(bandwidth)
    flop_ms = 6 * params * batch / (peak_med * 1e9) * 1e3
    adam_bytes = 7 * 4 * params  # read w, g, m, v; write w, m, v (float32)
    adam_bound_ms = adam_bytes / (bw_med * 1e9) * 1e3
    report.add("limits", f"Forward, batch {batch}: gradient only (XLA)", grad_ms, "ms/step",
               note=f"{6 * params * batch / 1e9:.1f} GFLOP: {flop_ms:.0f} ms at the matmul peak")
    report.add("limits", f"Forward, batch {batch}: gradient + Adam update (XLA)", step_ms,
               "ms/step")
    report.add("limits", "Forward: Adam update alone (difference)", adam_ms, "ms/step",
               note=f"moves {adam_bytes / 1e9:.2f} GB: {adam_bound_ms:.0f} ms at the copy rate")
    bound = flop_ms + adam_bound_ms
    report.add("limits", "Forward: step lower bound (matmul peak + Adam at copy rate)",
               [bound], "ms/step",
               note=f"share of the matmul peak a step can reach: {flop_ms / bound:.2f}")
    report.add("limits", "Forward: measured step vs that bound", [bound / m for m in step_ms],
               "of the bound")
    keras.backend.clear_session()


# --------------------------------------------------------------------------- frames
def raw_decode(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def bench_frames(report: Report, repeats: int, synthetic_frames: int) -> None:
    """Preprocessing vs OpenCV's raw decode; synthetic generator; 240p vs 720p decode."""
    import cv2

    from blurutils.frames import extract_frames
    from blurutils.sources import sample_path
    from blurutils.synthetic import iter_synthetic_frames

    from blurutils.frames import preprocess_frame

    clip = sample_path()
    n = raw_decode(clip)
    decoded = list(_frames_bgr(clip))
    raw, ours, serial, decode_ms, prep_ms = [], [], [], [], []
    for _ in range(repeats):
        wall, cpu = cpu_timed(lambda: raw_decode(clip))
        raw.append(n / wall)
        decode_ms.append(1e3 * cpu / n)
        ours.append(n / timed(lambda: extract_frames(clip, progress=False)))
        serial.append(n / timed(lambda: [preprocess_frame(f) for f in _frames_bgr(clip)]))
        prep_ms.append(1e3 * cpu_timed(lambda: [preprocess_frame(f) for f in decoded])[1] / n)
    raw_med = statistics.median(raw)
    report.add("frames", "OpenCV raw decode, sample clip 1280×720 H.264", raw, "frames/s")
    report.add("frames", "extract_frames (decode + grey + crop + resize)", ours, "frames/s",
               note=f"{statistics.median(ours) / raw_med:.2f} of raw decode; decoding runs "
                    "a few frames ahead in a thread")
    report.add("frames", "the same, decoding and preprocessing in turn (one thread)", serial,
               "frames/s", note=f"{statistics.median(serial) / raw_med:.2f} of raw decode")
    report.add("frames", "CPU time per frame: raw decode", decode_ms, "core-ms",
               note="FFmpeg decodes on more than one core")
    cores = os.cpu_count() or 1
    bound = cores / (statistics.median(decode_ms) + statistics.median(prep_ms)) * 1e3
    report.add("frames", "CPU time per frame: preprocessing alone (INTER_AREA resize ~90%)",
               prep_ms, "core-ms",
               note=f"so at most {bound:.0f} frames/s on {cores} cores "
                    f"= {bound / raw_med:.2f} of raw decode")
    gen = [synthetic_frames / timed(lambda: sum(1 for _ in iter_synthetic_frames(
        synthetic_frames, seed=0))) for _ in range(repeats)]
    report.add("frames", f"synthetic generator, {synthetic_frames} frames 400×200", gen,
               "frames/s")
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for label, size in (("720p", (1280, 720)), ("240p", (426, 240))):
            path = Path(tmp) / f"{label}.mp4"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
            for f in decoded:
                writer.write(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
            writer.release()
            files[label] = path
        rates = {label: [] for label in files}
        for _ in range(repeats):
            for label, path in files.items():
                rates[label].append(len(decoded) / timed(
                    lambda: extract_frames(path, progress=False)))
        for label, values in rates.items():
            report.add("frames", f"extract_frames on the clip re-encoded at {label} (mp4v)",
                       values, "frames/s")


def _frames_bgr(path: Path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    while True:
        ok, f = cap.read()
        if not ok:
            break
        yield f
    cap.release()


# --------------------------------------------------------------------------- metrics
def per_frame_loop(frames: np.ndarray) -> np.ndarray:
    """The plain recipe: float conversion, cv2.Laplacian(CV_64F), np.var, per frame."""
    import cv2

    return np.array([1.0 / cv2.Laplacian(f.astype(np.float64) / 255.0, cv2.CV_64F, ksize=1,
                                         borderType=cv2.BORDER_REFLECT).var() for f in frames])


def bench_metrics(report: Report, n_frames: int, repeats: int) -> None:
    from blurutils.frames import load_frames
    from blurutils.metrics import blur_factor, relative_blur_factor

    frames = np.resize(load_frames("sample"), (n_frames, 100, 200))
    pred = frames.astype(np.float32) / 255.0
    ours, loop, rbf = [], [], []
    for _ in range(repeats):
        ours.append(n_frames / timed(lambda: blur_factor(frames)))
        loop.append(n_frames / timed(lambda: per_frame_loop(frames)))
        rbf.append(n_frames / timed(lambda: relative_blur_factor(pred, frames)))
    assert np.allclose(blur_factor(frames[:50]), per_frame_loop(frames[:50]), rtol=1e-9)
    report.add("metrics", f"blur_factor, {n_frames} uint8 frames 100×200", ours, "frames/s")
    report.add("metrics", "per-frame loop: float64 cv2.Laplacian + np.var", loop, "frames/s")
    report.add("metrics", f"relative_blur_factor, {n_frames} float32 predictions", rbf,
               "frames/s")
    bench_frame_metrics(report, frames[:1500], repeats)


def one_batch_one_thread(pred: np.ndarray, true: np.ndarray, index: np.ndarray):
    """The plain way: ``frame_metrics`` on the whole batch at once, on one thread
    (what a run did before the chunks)."""
    from blurutils import evaluation

    chunk, threads = evaluation.METRIC_CHUNK, evaluation.metric_threads
    evaluation.METRIC_CHUNK, evaluation.metric_threads = len(pred), lambda: 1
    try:
        return evaluation.frame_metrics(pred, true, index)
    finally:
        evaluation.METRIC_CHUNK, evaluation.metric_threads = chunk, threads


def bench_frame_metrics(report: Report, frames: np.ndarray, repeats: int) -> None:
    """Every per-frame column of a run (BF, RBF, PSNR, SSIM, contrast-matched, tiles and
    the other sharpness measures) on a run's worth of test frames."""
    from blurutils.evaluation import METRIC_CHUNK, frame_metrics, metric_threads

    n = len(frames)
    true = frames.astype(np.float32) / 255.0
    pred = np.clip(0.7 * true + 0.15 + 0.02 * np.random.default_rng(0).standard_normal(
        true.shape, dtype=np.float32), 0.0, 1.0)
    index = np.arange(n)
    ours, plain, reshaped = [], [], []
    for _ in range(repeats):
        ours.append(n / timed(lambda: frame_metrics(pred, true, index)))
        plain.append(n / timed(lambda: one_batch_one_thread(pred, true, index)))
    fidelity = frame_metrics(pred, true, index)
    for _ in range(repeats):
        reshaped.append(n / timed(lambda: frame_metrics(pred, true, index, reshape=True,
                                                        fidelity=fidelity)))
    same = fidelity.equals(one_batch_one_thread(pred, true, index))
    report.add("metrics", f"frame_metrics, {n} predictions: chunks of {METRIC_CHUNK} on "
               f"{metric_threads()} threads", ours, "frames/s",
               "identical numbers" if same else "NUMBERS DIFFER")
    report.add("metrics", "frame_metrics, the whole batch on one thread (plain)", plain,
               "frames/s")
    report.add("metrics", "frame_metrics on the authors' reshape, PSNR/SSIM reused", reshaped,
               "frames/s")


# --------------------------------------------------------------------------- end to end
#: Runs a command and writes the peak RSS of its largest descendant to a file.  A small
#: go-between, because a child forked from this (large) process would count the
#: parent's pages as its own in ``ru_maxrss`` until it execs.
_MEASURE = ("import resource, subprocess, sys\n"
            "done = subprocess.run(sys.argv[2:])\n"
            "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
            "open(sys.argv[1], 'w').write(str(peak))\n"
            "sys.exit(done.returncode)\n")


def run_measured(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the largest descendant, stdout) of a command."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _MEASURE, str(peak_file), *cmd],
                              check=True, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        wall = time.perf_counter() - t0
        peak_kb = int(peak_file.read_text())
    return wall, peak_kb / 1024, done.stdout


def paper_projection(rates: dict[str, float], compile_s: dict[str, float] | None = None
                     ) -> tuple[float, str]:
    """Hours for the paper profile's 12 runs on this machine: 3 losses x 10 epochs of its
    training frames per model (the default split of 12,000 frames) at the measured rate,
    plus each run's compile."""
    from blurutils.config import make_config
    from blurutils.pairs import split_targets

    paper = make_config("paper")
    n_train = len(split_targets(paper.max_frames, test_fraction=paper.test_fraction,
                                method=paper.split).train)
    seconds, parts = 0.0, []
    for model, rate in rates.items():
        seconds += 3 * (paper.epochs * n_train / rate + (compile_s or {}).get(model, 0.0))
        parts.append(f"{model} {rate:.0f} frames/s")
    return seconds / 3600, ", ".join(parts)


def dir_size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def bench_end_to_end(report: Report, profile: str, repeats: int) -> None:
    walls, peaks, sizes, models_mb, frames_mb = [], [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, BLURUTILS_DATA_DIR=str(Path(tmp) / "data"))
            wall, peak, _ = run_measured(
                [sys.executable, "-m", "blurutils", "reproduce", "--profile", profile,
                 "--out", str(Path(tmp) / "out")], env)
            walls.append(wall)
            peaks.append(peak)
            sizes.append(dir_size_mb(Path(tmp)))
            models_mb.append(sum(p.stat().st_size for p in Path(tmp).rglob("model.keras")) / 1e6)
            frames_mb.append(dir_size_mb(Path(tmp) / "data" / "frames"))
    report.add("end to end", f"reproduce --profile {profile}: wall time", walls, "s")
    report.add("end to end", f"reproduce --profile {profile}: peak resident memory", peaks,
               "MB", note="the largest single process (each run trains in its own)")
    report.add("end to end", f"reproduce --profile {profile}: disk written", sizes, "MB",
               note=f"of which saved models {statistics.median(models_mb):.0f} MB, "
                    f"frame cache {statistics.median(frames_mb):.1f} MB")
    from blurutils.config import make_config

    paper = make_config("paper")
    frame_cache = paper.max_frames * 100 * 200 / 1e6
    models = statistics.median(models_mb) if paper.keep_models else 0.0
    report.add("end to end", "paper profile: projected disk (frame cache + results"
               + (" + models" if paper.keep_models else ", models not kept") + ")",
               [frame_cache + models + 10], "MB",
               note="the authors' pipeline wrote ~90 GB (a JPEG and a CSV row per frame)")


# --------------------------------------------------------------------------- cluster
def bench_cluster(report: Report, repeats: int, tiny: bool) -> None:
    """The smoke grid's runs trained one at a time (the plain executor) and on local Dask
    clusters of 1 and 2 workers, alternately, each into a fresh results folder (the
    frame cache warm); then Dask's cost per task with no training at all (every run
    already finished: submit, claim, check, reply)."""
    import dataclasses

    from blurutils.cluster import DaskExecutor
    from blurutils.config import make_config
    from blurutils.study import collect_runs

    models = ["Forward", "Convolutional"] if tiny else None
    losses = ["MSE"] if tiny else None
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.environ.get("BLURUTILS_DATA_DIR")
        os.environ["BLURUTILS_DATA_DIR"] = str(Path(tmp) / "data")
        try:
            overrides = {k: v for k, v in (("models", models), ("losses", losses)) if v}
            base = make_config("smoke", out=str(Path(tmp) / "warm"), **overrides)
            quiet = lambda line: None  # noqa: E731
            collect_runs(base, report=quiet)  # frame cache and TensorFlow's disk caches
            n_runs = len(base.models) * len(base.losses)
            starts = {1: [], 2: []}
            walls: dict[str, list[float]] = {"plain": [], "1": [], "2": []}
            overhead: list[float] = []
            for repeat in range(repeats):
                config = dataclasses.replace(base, out=str(Path(tmp) / f"plain-{repeat}"))
                walls["plain"].append(timed(lambda: collect_runs(config, report=quiet)))
                for workers in (1, 2):
                    executor = DaskExecutor(workers=workers)
                    starts[workers].append(timed(executor.__enter__))
                    try:
                        config = dataclasses.replace(
                            base, out=str(Path(tmp) / f"dask{workers}-{repeat}"))
                        walls[str(workers)].append(timed(lambda: collect_runs(
                            config, report=quiet, executor=executor)))
                        if workers == 1:  # the same jobs again, all finished: no training
                            jobs = _finished_jobs(config)
                            overhead.append(timed(lambda: executor.run(jobs, report=quiet))
                                            / len(jobs) * 1000)
                    finally:
                        executor.close()
        finally:
            if saved is None:
                os.environ.pop("BLURUTILS_DATA_DIR", None)
            else:
                os.environ["BLURUTILS_DATA_DIR"] = saved
    grid = f"smoke grid, {n_runs} runs"
    report.add("cluster", f"{grid}: plain executor (one run at a time, a process each)",
               walls["plain"], "s", note=f"{n_runs / statistics.median(walls['plain']) * 60:.1f} "
                                         "runs/min")
    for workers in (1, 2):
        report.add("cluster", f"{grid}: local Dask cluster, {workers} worker(s)",
                   walls[str(workers)], "s",
                   note=f"{n_runs / statistics.median(walls[str(workers)]) * 60:.1f} runs/min; "
                        "cluster start not counted")
    speedup = [p / d for p, d in zip(walls["plain"], walls["2"])]
    report.add("cluster", "2 Dask workers vs the plain executor", speedup, "×")
    per_run = [(d - p) / n_runs for p, d in zip(walls["plain"], walls["1"])]
    report.add("cluster", "1 Dask worker vs the plain executor, extra time per run", per_run,
               "s", note="negative: faster")
    report.add("cluster", "Dask per-task overhead, no training (submit, claim, check, reply)",
               overhead, "ms")
    for workers in (1, 2):
        report.add("cluster", f"local cluster start, {workers} worker(s)", starts[workers], "s")


def _finished_jobs(config) -> list:
    """The jobs of a finished study folder (for the overhead of a task that trains nothing)."""
    from blurutils.study import FrameRequest, plan_runs, study_split
    from blurutils.training import data_fingerprint

    frames = FrameRequest.of(config).load()
    split = study_split(config, len(frames))
    prints: dict[str, str] = {}

    def fingerprint(layout: str) -> str:
        if layout not in prints:
            prints[layout] = data_fingerprint(FrameRequest.of(config, layout).load(),
                                              split.train, split.test)
        return prints[layout]

    return [job for _, _, job in plan_runs(config, len(frames), split, fingerprint)]


# --------------------------------------------------------------------------- notebooks
#: mybinder.org's memory limit.
BINDER_MB = 2048


def peak_descendants_mb(fn: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak MB) of ``fn()``, the peak being the summed resident memory of this
    process's descendants (a notebook's kernel and its training processes), polled
    every 0.1 s."""
    import threading

    import psutil

    me, peak, stop = psutil.Process(), [0], threading.Event()

    def poll():
        while not stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # it ended between listing and reading
                    pass
            peak[0] = max(peak[0], total)
            time.sleep(0.1)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        seconds = timed(fn)
    finally:
        stop.set()
        thread.join()
    return seconds, peak[0] / 2**20


def bench_notebooks(report: Report, tiny: bool) -> None:
    """Each notebook's first run (nothing cached) and peak memory on its defaults, then,
    for those with ``FRAME_LAYOUT``, its peak with the low-memory layout Binder gets."""
    import papermill as pm

    names = ["00_overview"] if tiny else \
        sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    params = dict(PROFILE="smoke", EPOCHS=1, MAX_FRAMES=16) if tiny else {}
    for layout in ("default", "half"):
        with tempfile.TemporaryDirectory() as tmp:  # a fresh machine: nothing cached
            env = {"BLURUTILS_DATA_DIR": str(Path(tmp) / "data"),
                   "BLURUTILS_RESULTS_DIR": str(Path(tmp) / "results")}
            saved = {key: os.environ.get(key) for key in env}
            os.environ.update(env)
            try:
                for name in names:
                    path = REPO / "notebooks" / f"{name}.ipynb"
                    declared = pm.inspect_notebook(str(path))
                    if layout == "half" and "FRAME_LAYOUT" not in declared:
                        continue
                    run_params = {k: v for k, v in params.items() if k in declared}
                    if layout == "half":
                        run_params["FRAME_LAYOUT"] = "half"
                    seconds, peak = peak_descendants_mb(lambda: pm.execute_notebook(
                        str(path), str(Path(tmp) / f"{name}.ipynb"), parameters=run_params,
                        kernel_name="python3", progress_bar=False, log_output=False,
                        cwd=str(path.parent)))
                    fits = "fits" if peak < BINDER_MB else "over"
                    if layout == "default":
                        report.add("notebooks", f"{name}: first run", [seconds], "s")
                        report.add("notebooks", f"{name}: peak memory", [peak], "MB",
                                   note=f"{fits} Binder's 2 GB" + (
                                       "; the paper's frames, as on any machine with 4 GB "
                                       "or more (Binder: the half row)"
                                       if "FRAME_LAYOUT" in declared else ""))
                    else:
                        report.add("notebooks", f"{name}: peak memory, FRAME_LAYOUT=half "
                                   "(what \"auto\" picks under 4 GB)", [peak], "MB",
                                   note=f"{fits} Binder's 2 GB")
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


# --------------------------------------------------------------------------- report
def write_markdown(report: Report, path: Path, argv: list[str]) -> None:
    import cv2
    import keras
    import tensorflow as tf

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    lines = [
        "# Benchmarks", "",
        f"Written by `python benchmarks/bench.py {' '.join(argv)}` (`make bench`) on "
        f"{dt.date.today().isoformat()}. Each figure is the median of its repeats (3+, "
        f"or one run where min = max: the notebooks, the compile times), with min–max.", "",
        f"Machine: {cpu}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"no GPU. Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, OpenCV {cv2.__version__}, NumPy {np.__version__}.", "",
    ]
    section = None
    for row in report.rows:
        if row.section != section:
            section = row.section
            lines += ["", f"## {section.capitalize()}", "", "| what | median (min–max) | unit | note |",
                      "|---|---:|---|---|"]
        lines.append(f"| {row.name} | {row.cell()} | {row.unit} | {row.note} |")
    lines += ["", *report.notes, ""]
    kept = kept_sections(path, {row.section for row in report.rows})
    if kept:
        lines += ["", "<!-- sections below were not rerun this time; kept from the previous "
                  "run of the same file -->", *kept]
    if READING.is_file():  # the hand-written analysis, kept across runs
        lines += ["", READING.read_text().rstrip("\n")]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


def kept_sections(path: Path, rerun: set[str]) -> list[str]:
    """Lines of the ``## Section`` blocks of an earlier report that this run did not
    measure, so ``--only`` refreshes some sections without dropping the others."""
    if not path.is_file():
        return []
    kept, keep = [], False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            title = line[3:].strip().lower()
            keep = title in {"metrics", "frames", "training", "limits", "end to end",
                             "cluster", "notebooks"} \
                and title not in rerun
            if keep:
                kept.append("")
        elif line.startswith("<!-- sections below"):
            continue
        if keep:
            kept.append(line)
    return kept


SECTIONS = ("metrics", "frames", "training", "limits", "end_to_end", "cluster", "notebooks")


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="markdown output (default: "
                        "docs/BENCHMARKS.md, none with --tiny)")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    report = Report()
    tiny = args.tiny
    if "metrics" in only:
        bench_metrics(report, 200 if tiny else 12000, args.repeats)
    if "frames" in only:
        bench_frames(report, args.repeats, 20 if tiny else 2000)
    if "training" in only:
        bench_training(report, 24 if tiny else 1000, 1 if tiny else args.repeats,
                       ["Forward", "Convolutional"] if tiny else
                       ["Forward", "Backward", "Bi-Directional", "Convolutional"])
    if "limits" in only:
        bench_limits(report, args.repeats, tiny)
    if "end_to_end" in only:
        bench_end_to_end(report, "smoke" if tiny else "demo", 1 if tiny else args.repeats)
    if "cluster" in only:
        bench_cluster(report, 1 if tiny else args.repeats, tiny)
    if "notebooks" in only:
        bench_notebooks(report, tiny)
    out = args.out or (None if tiny else str(REPO / "docs" / "BENCHMARKS.md"))
    if out:
        write_markdown(report, Path(out), argv if argv is not None else sys.argv[1:])
    return report


if __name__ == "__main__":
    main()
