"""Training: Keras ``fit`` with seeded, resumable, idempotent runs.

One *run* is one model trained with one loss.  Its folder holds:

* ``run.json``      – the run's configuration and its fingerprint; ``status: done`` is
                      written last, so a run is finished exactly when it says so;
* ``history.csv``   – training and test loss per epoch;
* ``checkpoint-NN.keras`` + ``state.json`` – the last finished epoch (model and
                      optimizer state), written atomically, removed when the run ends;
* ``model.keras``   – the trained model.

Resuming starts ``fit`` at the checkpoint's epoch with its weights and optimizer state,
and each epoch's shuffle order depends only on (seed, epoch), so an interrupted and
resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import ConfigError
from .faults import crash_point
from .pairs import Examples
from .paths import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up log lines, and keep it quiet afterwards.

    TensorFlow 2.21 prints oneDNN/CUDA notices from C++ at import time, which
    ``TF_CPP_MIN_LOG_LEVEL`` no longer silences; they would land in notebook outputs.
    The import runs with file descriptor 2 pointed at a temporary file, whose text is
    shown only if the import fails.
    """
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" not in sys.modules:
        import tempfile

        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except BaseException:
                os.dup2(saved, 2)
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)
    import absl.logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    absl.logging.set_verbosity(absl.logging.ERROR)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras from one number.

    TensorFlow's op-determinism switch is deliberately not used: Keras turns XLA off
    when it is on, which makes the dense models ~3x slower on CPU.  Reruns on the same
    machine are still identical (XLA's CPU kernels and our input pipeline are
    deterministic); ``tests/test_training.py`` checks this byte for byte.
    """
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)


#: Below this many training steps a dense run trains without XLA.  XLA makes a dense
#: model's first epoch 2-3 s longer on 2 CPU cores (it compiles the training and test
#: steps), then each step ~1.3x faster (Forward: 374-390 vs 280-291 frames/s, test pass
#: included; docs/BENCHMARKS.md), so it pays for itself after some 30-50 steps.  The
#: quick profile's runs take 20 steps (~1 s saved per run), the paper profile's 1,320.
XLA_MIN_STEPS = 50


def use_xla(jit_compile: bool | str, steps: int) -> bool:
    """Whether to compile with XLA: ``True``/``False`` as given; ``"auto"`` when a run
    has at least :data:`XLA_MIN_STEPS` training steps left to do."""
    if jit_compile == "auto":
        return steps >= XLA_MIN_STEPS
    return bool(jit_compile)


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides a run's result; its fingerprint names the result."""

    model: str
    loss: str
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    conv_filters: int = 16
    jit_compile: bool | str = "auto"  # XLA: True, False or "auto" (see XLA_MIN_STEPS)
    steps_per_execution: int = 1
    checkpoint_interval_s: float = 30.0
    data_fingerprint: str = ""
    cp_last_axis: bool = False  # the authors' conv CP (blurutils.compat, quirk e)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .loss_names import canonical_loss_name
        from .models import MODELS

        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r} (expected one of {', '.join(MODELS)})")
        if canonical_loss_name(self.loss) != self.loss:
            raise ConfigError(f"loss {self.loss!r}: use its canonical name "
                              f"{canonical_loss_name(self.loss)!r}")
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs}: must be a positive integer")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size}: must be a positive integer")
        if self.cp_last_axis and self.loss != "CP":
            raise ConfigError(f"cp_last_axis applies to the CP loss only, not {self.loss!r}")
        if self.steps_per_execution < 1:
            raise ConfigError(
                f"steps_per_execution={self.steps_per_execution}: must be a positive integer")
        if self.jit_compile not in (True, False, "auto"):
            raise ConfigError(f"jit_compile={self.jit_compile!r}: expected true, false or 'auto'")

    @property
    def name(self) -> str:
        """Folder-safe run name, e.g. ``Bi-Directional-MSE``."""
        return f"{self.model}-{self.loss}".replace("+", "_").replace("@", "_")

    def fingerprint(self) -> str:
        """Hash of every field that changes what is computed (not speed settings)."""
        fields = asdict(self)
        for speed_only in ("steps_per_execution", "jit_compile", "checkpoint_interval_s"):
            fields.pop(speed_only)
        if not fields["cp_last_axis"]:
            fields.pop("cp_last_axis")  # runs from before the switch keep their names
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def data_fingerprint(frames: np.ndarray, *arrays: np.ndarray) -> str:
    """Short hash of the frames and index arrays a run is trained and tested on."""
    h = hashlib.sha256()
    h.update(str(frames.shape).encode())
    h.update(np.ascontiguousarray(frames).data)
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.int64).data)
    return h.hexdigest()[:16]


def make_dataset(frames: np.ndarray, examples: Examples, batch_size: int, *,
                 epochs: int = 1, initial_epoch: int = 0, shuffle_seed: int | None = None):
    """A ``tf.data`` pipeline of (inputs, target) float batches gathered by index.

    ``frames`` stays one uint8 tensor; each batch gathers its frames, stacks the input
    frames as channels (B, 100, 200, k) and scales to [0, 1].  With ``shuffle_seed``,
    batches for epochs ``initial_epoch .. epochs-1`` follow one another, each epoch in
    an order drawn from (seed, epoch) alone; without it, one epoch in the given order.
    """
    import tensorflow as tf

    n = len(examples)
    if shuffle_seed is None:
        orders = np.arange(n, dtype=np.int64)[None, :]
    else:
        orders = np.stack([np.random.default_rng([shuffle_seed, e]).permutation(n)
                           for e in range(initial_epoch, epochs)])
    frames_t = tf.constant(frames)
    inputs_t = tf.constant(examples.inputs)
    targets_t = tf.constant(examples.targets)

    def gather(rows):
        x = tf.gather(frames_t, tf.gather(inputs_t, rows))           # (B, k, H, W)
        x = tf.cast(tf.transpose(x, (0, 2, 3, 1)), tf.float32) / 255.0
        y = tf.cast(tf.gather(frames_t, tf.gather(targets_t, rows)), tf.float32) / 255.0
        return x, y[..., None]

    ds = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda row: tf.data.Dataset.from_tensor_slices(row).batch(batch_size))
    # flat_map hides the length; Keras needs it to end epochs without warnings.
    ds = ds.apply(tf.data.experimental.assert_cardinality(
        len(orders) * steps_per_epoch(n, batch_size)))
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE,
                  deterministic=True).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return math.ceil(n_examples / batch_size)


class RunFiles:
    """Paths of one run's files."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.config = self.dir / "run.json"
        self.history = self.dir / "history.csv"
        self.state = self.dir / "state.json"
        self.model = self.dir / "model.keras"
        self.metrics = self.dir / "per_frame_metrics.csv"

    def checkpoint(self, epoch: int) -> Path:
        return self.dir / f"checkpoint-{epoch:03d}.keras"


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_done(files: RunFiles, config: RunConfig, *, need_model: bool = True) -> bool:
    """True if the run finished with this exact configuration (nothing to redo).

    ``need_model=False`` also accepts a finished run whose ``model.keras`` was not kept.
    """
    meta = read_json(files.config)
    return bool(meta and meta.get("status") == "done"
                and meta.get("fingerprint") == config.fingerprint()
                and (files.model.is_file() or not need_model) and files.history.is_file())


def _keras_callbacks():
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        """After an epoch: record its losses, save model + optimizer state, then
        (atomically) the state file that points at it, then drop older checkpoints.
        A kill at any moment leaves a consistent (state, checkpoint) pair.

        A dense model with its Adam state is 508 MB (about 3 s to write), longer than a
        whole epoch on the sample clip, so a checkpoint is written only once
        ``interval_s`` seconds have passed since the last one (0: after every epoch).
        """

        def __init__(self, files: RunFiles, history: list[dict[str, float]],
                     interval_s: float, epochs: int):
            super().__init__()
            self.files, self.history = files, history
            self.interval_s, self.epochs = interval_s, epochs
            self.last = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.history.append({"epoch": epoch + 1,
                                 "loss": float(logs.get("loss", math.nan)),
                                 "val_loss": float(logs.get("val_loss", math.nan))})
            if epoch + 1 >= self.epochs or time.monotonic() - self.last < self.interval_s:
                return  # the final model is saved by train_run itself
            self.last = time.monotonic()
            ckpt = self.files.checkpoint(epoch + 1)
            with atomic_path(ckpt) as tmp:
                self.model.save(tmp)
            crash_point("checkpoint")
            write_history(self.files.history, self.history)
            write_text_atomic(self.files.state, json.dumps(
                {"epoch": epoch + 1, "checkpoint": ckpt.name, "history": self.history}))
            for old in self.files.dir.glob("checkpoint-*.keras"):
                if old != ckpt:
                    old.unlink(missing_ok=True)

    class EpochLog(keras.callbacks.Callback):
        """One line per epoch with loss, test loss, time and throughput."""

        def __init__(self, name: str, epochs: int, n_train: int,
                     report: Callable[[str], None]):
            super().__init__()
            self.name, self.epochs, self.n_train, self.report = name, epochs, n_train, report

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            crash_point("batch")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            dt = time.perf_counter() - self.t0
            self.report(f"{self.name:<22} epoch {epoch + 1:>2}/{self.epochs}  "
                        f"loss {logs.get('loss', math.nan):.5f}  "
                        f"test loss {logs.get('val_loss', math.nan):.5f}  "
                        f"{dt:5.1f} s  {self.n_train / dt:6.0f} frames/s")

    return EpochCheckpoint, EpochLog


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """history.csv: epoch, loss, val_loss (one row per finished epoch)."""
    lines = ["epoch,loss,val_loss"] + [
        f"{h['epoch']},{h['loss']!r},{h['val_loss']!r}" for h in history]
    write_text_atomic(path, "\n".join(lines) + "\n")


def _load_checkpoint(files: RunFiles):
    """(model, epoch, history) from the last checkpoint, or None if there is none usable."""
    import keras

    from . import blurloss  # noqa: F401  (registers BlurAwareLoss for loading)

    state = read_json(files.state)
    if not state or "checkpoint" not in state:
        return None
    ckpt = files.dir / Path(str(state["checkpoint"])).name
    try:
        model = keras.models.load_model(ckpt, safe_mode=True)
    except Exception as exc:  # a corrupt checkpoint is rebuilt, never trusted
        log.warning("checkpoint %s is unusable (%s); training from scratch", ckpt.name, exc)
        return None
    return model, int(state["epoch"]), list(state.get("history", []))


def train_run(config: RunConfig, frames: np.ndarray, train: Examples, test: Examples,
              run_dir: Path, *, report: Callable[[str], None] = print):
    """Train one model with one loss (resuming if interrupted); return the model.

    Returns the trained Keras model, from ``model.keras`` if the run had already
    finished with the same configuration (nothing is retrained).
    """
    quiet_tensorflow()
    import keras

    from .losses import get_loss, last_axis_cosine_proximity
    from .models import build_model, make_optimizer

    files = RunFiles(run_dir)
    if is_done(files, config):
        try:
            model = keras.models.load_model(files.model, safe_mode=True)
        except Exception as exc:  # a corrupt or unsafe model file is retrained, never trusted
            log.warning("model %s is unusable (%s); training again", files.model, exc)
        else:
            report(f"{config.name:<22} already trained; loading {files.model.name}")
            return model
    meta = read_json(files.config)
    if meta and meta.get("fingerprint") != config.fingerprint():
        shutil.rmtree(files.dir)  # a different configuration: start clean
    files.dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(files.config, json.dumps(
        {"status": "training", "fingerprint": config.fingerprint(), **asdict(config)},
        indent=2))

    keras.backend.clear_session()
    seed_everything(config.seed)
    resumed = _load_checkpoint(files)
    if resumed:
        model, initial_epoch, history = resumed
        report(f"{config.name:<22} resuming after epoch {initial_epoch}")
    else:
        # A checkpoint that failed to load part-way (its config read, its weights
        # corrupt) has already drawn initial weights: seed again, so training from
        # scratch starts exactly as a run that never had a checkpoint.
        keras.backend.clear_session()
        seed_everything(config.seed)
        model, initial_epoch, history = (build_model(config.model,
                                                     conv_filters=config.conv_filters,
                                                     frame_shape=frames.shape[1:]),
                                         0, [])
        loss = last_axis_cosine_proximity if config.cp_last_axis else get_loss(config.loss)
        model.compile(optimizer=make_optimizer(config.model), loss=loss,
                      jit_compile=False,  # decided below, from the steps left to do
                      steps_per_execution=config.steps_per_execution)
    if initial_epoch < config.epochs:
        n_steps = steps_per_epoch(len(train), config.batch_size)
        # Keras runs whole executions, so one that straddles an epoch's end would take
        # batches from the next epoch: use the largest divisor of the epoch's steps.
        per_execution = max(d for d in range(1, config.steps_per_execution + 1)
                            if n_steps % d == 0)
        model.steps_per_execution = per_execution
        model.jit_compile = use_xla(config.jit_compile, (config.epochs - initial_epoch) * n_steps)
        EpochCheckpoint, EpochLog = _keras_callbacks()
        train_ds = make_dataset(frames, train, config.batch_size, epochs=config.epochs,
                                initial_epoch=initial_epoch, shuffle_seed=config.seed)
        test_ds = make_dataset(frames, test, max(config.batch_size, 64))
        model.fit(train_ds, validation_data=test_ds, epochs=config.epochs,
                  initial_epoch=initial_epoch,
                  steps_per_epoch=n_steps,
                  callbacks=[EpochLog(config.name, config.epochs, len(train), report),
                             EpochCheckpoint(files, history, config.checkpoint_interval_s,
                                             config.epochs)],
                  shuffle=False, verbose=0)
    save_model(model, files.model)
    write_history(files.history, history)
    write_text_atomic(files.config, json.dumps(
        {"status": "done", "fingerprint": config.fingerprint(), **asdict(config)}, indent=2))
    files.state.unlink(missing_ok=True)
    for old in files.dir.glob("checkpoint-*.keras"):
        old.unlink(missing_ok=True)
    return model


def save_model(model, path: Path) -> None:
    """Save the trained model without optimizer state (a third of the size), atomically."""
    import keras

    # A new functional model over the same layers: same weights, nothing compiled.
    bare = keras.Model(model.inputs, model.outputs, name=model.name)
    with atomic_path(path) as tmp:
        bare.save(tmp)


def predict(model, frames: np.ndarray, examples: Examples, batch_size: int = 64) -> np.ndarray:
    """Predicted frames for ``examples``: float32 (n, 100, 200) in [0, 1].

    Always without XLA, so a freshly trained model and the same model reloaded from
    ``model.keras`` give bit-identical predictions (XLA rounds differently, ~4e-7).
    """
    if getattr(model, "compiled", False) and model.jit_compile:
        model.jit_compile = False
        model.predict_function = None
    ds = make_dataset(frames, examples, batch_size).map(lambda x, y: x)
    return model.predict(ds, verbose=0)[..., 0]
