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

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .catalog import MODELS, ModelSpec, canonical_loss_name
from .errors import ConfigError
from .faults import crash_point
from .pairs import Examples
from .paths import atomic_path, write_text_atomic
from .session import quiet_tensorflow, seed_everything

log = logging.getLogger(__name__)


#: Below this many training steps a dense run trains without XLA: XLA's compile makes
#: the first epoch longer and every later step faster, and it repays the compile only
#: after a few dozen steps (measured in docs/BENCHMARKS.md).
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
        spec = MODELS.get(self.model)
        if spec is None:
            raise ConfigError(f"unknown model {self.model!r} (expected one of {', '.join(MODELS)})")
        # Kept beside the fields, not as one: no part of the fingerprint or run.json.
        object.__setattr__(self, "_spec", spec)
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
    def spec(self) -> ModelSpec:
        """The catalog's entry for ``model`` (kind, direction, inputs, batch size),
        resolved once when the config is made: the one object a run's model travels
        as, from :func:`blurutils.study.plan_runs` through training and measuring."""
        return self._spec

    @property
    def name(self) -> str:
        """Folder-safe run name, e.g. ``Bi-Directional-MSE``."""
        return f"{self.model}-{self.loss}".replace("+", "_").replace("@", "_")

    def fingerprint(self) -> str:
        """Hash of every field that changes what is computed (not speed settings),
        and of the code that builds the package's models.

        The code's hash (:func:`blurutils.models.builder_source_hash`) needs no Keras,
        so a process without TensorFlow sees that an edited ``models.py`` invalidates
        its runs; :func:`train_run` also checks the built model's own architecture.
        """
        from .models import builder_source_hash

        fields = asdict(self)
        for speed_only in ("steps_per_execution", "jit_compile", "checkpoint_interval_s"):
            fields.pop(speed_only)
        if not fields["cp_last_axis"]:
            fields.pop("cp_last_axis")  # runs from before the switch keep their names
        fields["builders"] = builder_source_hash()
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
    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True).prefetch(tf.data.AUTOTUNE)
    # Without tf.data's autotuner: its background thread kept a finished ``fit`` from
    # returning for ~50 s in most ten-epoch dense runs (docs/BENCHMARKS.md), and the
    # gathers are too cheap for its tuning to matter.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


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


#: The files a run writes, by exact name: the only ones ever deleted from a run folder.
RUN_FILE_NAMES = ("run.json", "history.csv", "state.json", "model.keras",
                  "per_frame_metrics.csv", "per_frame_metrics_reshaped.csv",
                  "extreme_frames.npz")
_CHECKPOINT_NAME = re.compile(r"^checkpoint-\d{3,}\.keras$")
#: A run file larger than this is not one of ours (history, run.json and state.json
#: are a few kB).
_MAX_RUN_TEXT_BYTES = 16 << 20


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None if it is missing or unreadable.

    A file that exists but is empty, garbled, not an object or absurdly large is
    logged as a warning (it will be rebuilt), never trusted.
    """
    try:
        if path.stat().st_size > _MAX_RUN_TEXT_BYTES:
            raise ValueError(f"larger than {_MAX_RUN_TEXT_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("run file %s is unreadable (%s); rebuilding it", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("run file %s holds %s, not an object; rebuilding it", path,
                    type(data).__name__)
        return None
    return data


def read_history(path: Path, epochs: int | None = None) -> list[dict[str, float]] | None:
    """The rows of a ``history.csv`` (epoch, loss, val_loss), or None if it is missing
    or corrupt: not that header, a row that is not three numbers, epochs not 1, 2, ...,
    or (given ``epochs``) not exactly that many rows.  A corrupt file is logged as a
    warning and its run is redone, never trusted."""
    try:
        if path.stat().st_size > _MAX_RUN_TEXT_BYTES:
            raise ValueError(f"larger than {_MAX_RUN_TEXT_BYTES} bytes")
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("history %s is unreadable (%s); the run is redone", path, exc)
        return None
    problem, rows = None, []
    if not lines or lines[0].strip() != "epoch,loss,val_loss":
        problem = "no epoch,loss,val_loss header"
    else:
        for number, line in enumerate(lines[1:], start=1):
            cells = line.strip().split(",")
            try:
                if len(cells) != 3 or int(cells[0]) != number:
                    raise ValueError
                rows.append({"epoch": number, "loss": float(cells[1]),
                             "val_loss": float(cells[2])})
            except ValueError:
                problem = f"line {number + 1} is not epoch {number} and two numbers"
                break
        if problem is None and epochs is not None and len(rows) != epochs:
            problem = f"{len(rows)} epochs recorded, {epochs} expected"
    if problem is not None:
        log.warning("history %s is corrupt (%s); the run is redone", path, problem)
        return None
    return rows


#: What every ``.keras`` file Keras 3 saves holds: the model's configuration and its
#: weights (HDF5, or NumPy's format).
_KERAS_CONFIG = "config.json"
_KERAS_WEIGHTS = ("model.weights.h5", "model.weights.npz")
#: Entries of a ``.keras`` archive up to this size are read whole (their checksums
#: checked); larger ones (a dense model's 170-250 MB of weights) only have their place
#: in the file checked, so that reusing twelve finished runs stays quick.
MODEL_CHECKSUM_MAX_BYTES = 64 << 20


def model_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete saved Keras model, or None — without loading it.

    Cheap: the zip archive's directory (a truncated file has none), the entries a
    ``.keras`` file holds, its ``config.json`` (parsed), every entry's checksum up to
    :data:`MODEL_CHECKSUM_MAX_BYTES`, and that the larger ones lie inside the file.
    """
    import zipfile

    path = Path(path)
    try:
        if not path.is_file():
            return "not a file"
        size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if _KERAS_CONFIG not in names:
                return f"not a .keras model: no {_KERAS_CONFIG} in the archive"
            if not any(name in names for name in _KERAS_WEIGHTS):
                return "not a .keras model: no weights in the archive"
            config = json.loads(archive.read(_KERAS_CONFIG))
            if not isinstance(config, dict) or "class_name" not in config:
                return f"{_KERAS_CONFIG} does not describe a model"
            for info in archive.infolist():
                if info.header_offset + info.compress_size > size:
                    return f"{info.filename} is cut short"
                with archive.open(info) as entry:  # reads its header
                    if info.file_size <= MODEL_CHECKSUM_MAX_BYTES:
                        while entry.read(1 << 20):  # a wrong checksum raises
                            pass
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError,
            zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        return f"not a complete .keras file: {' '.join(str(exc).split())[:120]}"
    return None


_damaged_seen: set[tuple[str, int, int]] = set()


def _discard_damaged_model(path: Path, problem: str) -> None:
    """One warning for a finished run's damaged model, which is deleted (it is the run's
    own file, by exact name, and unusable) so that the run is trained again."""
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        key = (str(path), -1, -1)
    if key not in _damaged_seen:
        _damaged_seen.add(key)
        log.warning("model %s is unusable (%s); training again", path, problem)
    try:
        path.unlink()
    except OSError:
        pass


def is_done(files: RunFiles, config: RunConfig, *, need_model: bool = True) -> bool:
    """True if the run finished with this exact configuration (nothing to redo).

    ``need_model=False`` also accepts a finished run whose ``model.keras`` was not kept.
    Every run file is validated first: a garbled ``run.json`` or ``history.csv`` (a
    logged warning) makes the run unfinished, so it is rebuilt rather than trusted; so
    does a damaged ``model.keras`` (:func:`model_problem`: one warning, the file is
    deleted and the run trained again, its per-frame metrics recomputed).
    """
    meta = read_json(files.config)
    if not (meta and meta.get("status") == "done"
            and meta.get("fingerprint") == config.fingerprint()
            and (files.model.is_file() or not need_model)
            and read_history(files.history, config.epochs) is not None):
        return False
    if need_model:
        problem = model_problem(files.model)
        if problem is not None:
            _discard_damaged_model(files.model, problem)
            return False
    return True


#: At most this many finished runs with other settings are kept beside a run folder
#: (``<name>.previous-<fingerprint>``): a dense model is 170-250 MB.  When another is set
#: aside, the oldest set aside of blurutils' own (holding only run files) is deleted.
MAX_SET_ASIDE = 2
_SET_ASIDE_NAME = re.compile(r"^(?P<run>.+)\.previous-(?P<tag>[A-Za-z0-9]{1,16})(?:-\d+)?$")
#: Every file a run folder can hold: a set-aside folder with anything else in it holds a
#: user's file and is never deleted.
_RUN_FOLDER_FILES = frozenset(RUN_FILE_NAMES) | {"diagnostics.json"}
#: Where lines about set-aside runs go when no ``report`` is passed (the study sets it).
_set_aside_report: ContextVar[Callable[[str], None] | None] = ContextVar(
    "blurutils_set_aside_report", default=None)


@contextlib.contextmanager
def reporting_set_aside(report: Callable[[str], None]) -> Iterator[None]:
    """Send the lines of runs brought back or removed (:func:`bring_back_run`) to
    ``report`` while the block runs."""
    token = _set_aside_report.set(report)
    try:
        yield
    finally:
        _set_aside_report.reset(token)


def _report_line(report: Callable[[str], None] | None, line: str) -> None:
    report = report or _set_aside_report.get()
    if report is None:
        log.info("%s", line)
    else:
        report(line)


def set_aside_run(files: RunFiles, meta: dict[str, Any],
                  report: Callable[[str], None] = print, *, prune: bool = True) -> Path | None:
    """Clear a run folder that holds a run of other settings, losing nothing finished.

    A finished run (``status: done``) is renamed to ``<name>.previous-<fingerprint>``
    beside it, and one line says so; at most :data:`MAX_SET_ASIDE` are kept per run (the
    oldest of blurutils' own go, :func:`prune_set_aside`).  An unfinished one loses only
    the files a run writes (:data:`RUN_FILE_NAMES`, checkpoints), by exact name, never
    anything a user put there.  Returns where a finished run was kept, or None.
    """
    if meta.get("status") == "done":
        tag = "".join(c for c in str(meta.get("fingerprint", "")) if c.isalnum())[:16] or "old"
        kept = files.dir.with_name(f"{files.dir.name}.previous-{tag}")
        n = 1
        while kept.exists():
            n += 1
            kept = files.dir.with_name(f"{files.dir.name}.previous-{tag}-{n}")
        files.dir.rename(kept)
        with contextlib.suppress(OSError):
            os.utime(kept)  # its time is when it was set aside: the oldest go first
        report(f"{files.dir.name}: a finished run with other settings is kept in {kept.name}/ "
               "(delete it to free the space)")
        if prune:
            prune_set_aside(files, report=report)
        return kept
    for path in list(files.dir.iterdir()):
        if path.name in RUN_FILE_NAMES or _CHECKPOINT_NAME.match(path.name):
            path.unlink(missing_ok=True)
    return None


def set_aside_folders(files: RunFiles) -> list[Path]:
    """The finished runs set aside beside ``files.dir`` (``<name>.previous-<tag>[-n]``),
    oldest first."""
    try:
        entries = list(files.dir.parent.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _SET_ASIDE_NAME.match(entry.name)
        try:
            if (match and match["run"] == files.dir.name and entry.is_dir()
                    and not entry.is_symlink()):
                found.append((entry.stat().st_mtime_ns, entry.name, entry))
        except OSError:
            continue
    return [entry for _, _, entry in sorted(found)]


def set_aside_candidates(files: RunFiles, config: RunConfig) -> list[Path]:
    """Set-aside runs named with ``config``'s fingerprint, newest first (not yet checked)."""
    tag = config.fingerprint()[:16]
    return [folder for folder in reversed(set_aside_folders(files))
            if _SET_ASIDE_NAME.match(folder.name)["tag"] == tag]


def _only_run_files(folder: Path) -> bool:
    """Whether ``folder`` holds a run's files and nothing else (nothing of a user's)."""
    from .paths import is_temporary_name

    try:
        entries = list(folder.iterdir())
        return (folder / "run.json").is_file() and all(
            entry.is_file() and not entry.is_symlink()
            and (entry.name in _RUN_FOLDER_FILES or _CHECKPOINT_NAME.match(entry.name)
                 or is_temporary_name(entry.name))
            for entry in entries)
    except OSError:
        return False


def prune_set_aside(files: RunFiles, keep: int = MAX_SET_ASIDE,
                    report: Callable[[str], None] | None = None) -> list[Path]:
    """Delete the oldest set-aside runs of ``files.dir`` beyond ``keep``, one line each.

    Only blurutils' own: a folder named ``<name>.previous-…`` that holds run files and
    nothing else, emptied by exact name, then removed.  A folder with anything else in
    it (a user's notes) is kept and not counted.  Returns the folders deleted.
    """
    ours = [folder for folder in set_aside_folders(files) if _only_run_files(folder)]
    removed = []
    for folder in ours[:max(0, len(ours) - keep)]:
        try:
            for entry in list(folder.iterdir()):
                entry.unlink()
            folder.rmdir()
        except OSError:
            continue
        removed.append(folder)
        _report_line(report, f"{files.dir.name}: removed the oldest run kept with other "
                             f"settings, {folder.name}/ (at most {keep} are kept)")
    return removed


def bring_back_run(files: RunFiles, kept: Path,
                   report: Callable[[str], None] | None = None) -> bool:
    """Put the finished run set aside in ``kept`` back into ``files.dir`` instead of
    training it again.  The run there now (of other settings) is set aside in turn if
    finished, or loses its own files if not.  False, and nothing moved, when the folder
    holds something else (a user's file)."""
    line = lambda text: _report_line(report, text)  # noqa: E731
    if files.dir.exists():
        meta = read_json(files.config)
        if meta:  # finished: set aside; unfinished: its own files go
            set_aside_run(files, meta, line, prune=False)
        if files.dir.exists():
            try:
                files.dir.rmdir()
            except OSError:
                return False
    try:
        kept.rename(files.dir)
    except OSError:
        return False
    line(f"{files.dir.name}: these settings were trained before; brought back "
         f"{kept.name}/ instead of training again")
    prune_set_aside(files, report=report)
    return True


def bring_back_finished(files: RunFiles, config: RunConfig,
                        report: Callable[[str], None] | None = None, *,
                        need_model: bool = True,
                        usable: Callable[[Path], bool] | None = None) -> bool:
    """If ``files.dir`` does not hold ``config``'s run but a set-aside folder holds it
    finished (:func:`is_done`, and ``usable(folder)`` when given), bring it back
    (:func:`bring_back_run`).  Returns whether it did."""
    candidates = set_aside_candidates(files, config)
    if not candidates:
        return False
    meta = read_json(files.config) if files.config.exists() else None
    if meta and meta.get("fingerprint") == config.fingerprint():
        return False  # this configuration's own run: reuse or resume it
    for kept in candidates:
        if is_done(RunFiles(kept), config, need_model=need_model) and (
                usable is None or usable(kept)):
            return bring_back_run(files, kept, report)
    return False


def _keras_callbacks():
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        """After an epoch: record its losses, save model + optimizer state, then
        (atomically) the state file that points at it, then drop older checkpoints.
        A kill at any moment leaves a consistent (state, checkpoint) pair.

        A dense model with its Adam state takes longer to write than a whole epoch on
        the sample clip (docs/BENCHMARKS.md), so a checkpoint is written only once
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
    epoch, history = state.get("epoch"), state.get("history", [])
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1
            and isinstance(history, list) and len(history) == epoch
            and all(isinstance(row, dict) for row in history)):
        log.warning("state %s is corrupt (epoch %r, %s history rows); training from scratch",
                    files.state, epoch, len(history) if isinstance(history, list) else "no")
        return None
    ckpt = files.dir / Path(str(state["checkpoint"])).name
    try:
        model = keras.models.load_model(ckpt, safe_mode=True)
    except Exception as exc:  # a corrupt checkpoint is rebuilt, never trusted
        log.warning("checkpoint %s is unusable (%s); training from scratch", ckpt.name, exc)
        return None
    return model, epoch, list(history)


def train_run(config: RunConfig, frames: np.ndarray, train: Examples, test: Examples,
              run_dir: Path, *, model=None, report: Callable[[str], None] = print):
    """Train one model with one loss (resuming if interrupted); return the model.

    ``model``: a Keras model you built (functional, or Sequential with a
    ``keras.Input``) to train instead of the package's ``config.model``; it takes
    (height, width, k) frames and returns (height, width, 1).  It is trained as a copy
    whose weights are drawn again from ``config.seed``, with ``config``'s loss and the
    optimizer of ``config.model``; the model you pass is left untouched.

    A run is reused only if it finished with the same configuration and the same
    architecture (:func:`blurutils.models.architecture_hash`, stored in ``run.json``):
    returns the trained model from ``model.keras`` then (nothing is retrained).
    """
    quiet_tensorflow()
    import keras

    from .blurloss import loss_from_name
    from .losses import last_axis_cosine_proximity
    from .models import architecture_hash, make_optimizer

    user_model = model
    files = RunFiles(run_dir)
    keras.backend.clear_session()
    seed_everything(config.seed)
    fresh = _initial_model(config, frames.shape[1:], user_model)
    architecture = architecture_hash(fresh)
    # A run of these settings set aside earlier (settings switched back) is reused.
    bring_back_finished(files, config, report, usable=lambda kept: (
        read_json(RunFiles(kept).config) or {}).get("architecture") == architecture)
    meta = read_json(files.config)
    same_architecture = bool(meta) and meta.get("architecture") == architecture
    if same_architecture and is_done(files, config):
        try:
            trained = keras.models.load_model(files.model, safe_mode=True)
        except Exception as exc:  # a corrupt or unsafe model file is retrained, never trusted
            log.warning("model %s is unusable (%s); training again", files.model, exc)
        else:
            report(f"{config.name:<22} already trained; loading {files.model.name}")
            return trained
    if meta and (meta.get("fingerprint") != config.fingerprint() or not same_architecture):
        set_aside_run(files, meta, report)  # another configuration: keep it, start clean
    files.dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(files.config, _run_json("training", config, architecture))

    resumed = None
    if files.state.is_file():
        fresh = None  # the checkpoint's model replaces it: free its weights first
        keras.backend.clear_session()
        seed_everything(config.seed)
        resumed = _load_checkpoint(files)
    if resumed:
        model, initial_epoch, history = resumed
        report(f"{config.name:<22} resuming after epoch {initial_epoch}")
    else:
        if fresh is None:
            # A checkpoint that failed to load part-way (its config read, its weights
            # corrupt) has already drawn initial weights: seed again, so training from
            # scratch starts exactly as a run that never had a checkpoint.
            keras.backend.clear_session()
            seed_everything(config.seed)
            fresh = _initial_model(config, frames.shape[1:], user_model)
        model, initial_epoch, history = fresh, 0, []
        loss = last_axis_cosine_proximity if config.cp_last_axis else loss_from_name(config.loss)
        model.compile(optimizer=make_optimizer(config.model), loss=loss,
                      jit_compile=False,  # decided below, from the steps left to do
                      steps_per_execution=config.steps_per_execution)
    if initial_epoch < config.epochs:
        n_steps = steps_per_epoch(len(train), config.batch_size)
        # Keras runs whole executions, so one that straddles an epoch's end would take
        # batches from the next epoch: use the largest divisor of the epoch's steps.
        per_execution = max(d for d in range(1, min(config.steps_per_execution, n_steps) + 1)
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
    write_text_atomic(files.config, _run_json("done", config, architecture))
    files.state.unlink(missing_ok=True)
    for old in files.dir.glob("checkpoint-*.keras"):
        old.unlink(missing_ok=True)
    return model


def _run_json(status: str, config: RunConfig, architecture: str) -> str:
    """run.json's text: status, fingerprint, the model's architecture hash, the config."""
    return json.dumps({"status": status, "fingerprint": config.fingerprint(),
                       "architecture": architecture, **asdict(config)}, indent=2)


def _initial_model(config: RunConfig, frame_shape: tuple[int, ...], user_model=None):
    """The untrained model of a run, its weights drawn now (call after seeding).

    The package's ``config.model``, or a copy of ``user_model`` with new weights, after
    checking that it maps ``frame_shape`` frames (as many as ``config.model`` takes) to
    one frame.
    """
    import keras

    from .models import build_model

    if user_model is None:
        return build_model(config.model, conv_filters=config.conv_filters,
                           frame_shape=tuple(frame_shape))
    if not isinstance(user_model, keras.Model):
        raise ConfigError(f"model must be a keras.Model, not {type(user_model).__name__}")
    k = config.spec.n_inputs
    expected_in, expected_out = (None, *frame_shape, k), (None, *frame_shape, 1)
    try:
        got_in, got_out = tuple(user_model.input_shape), tuple(user_model.output_shape)
    except (AttributeError, ValueError) as exc:
        raise ConfigError("model must be built from keras.Input and layers (functional, "
                          f"or Sequential starting with keras.Input): {exc}") from exc
    if (got_in, got_out) != (expected_in, expected_out):
        raise ConfigError(
            f"model maps {got_in[1:]} to {got_out[1:]}; a {config.model} run needs "
            f"{expected_in[1:]} (frames as channels) to {expected_out[1:]}")
    try:
        return keras.models.clone_model(user_model)
    except Exception as exc:  # subclassed models cannot be copied from their config
        raise ConfigError("model must be built from keras.Input and layers (functional, "
                          f"or Sequential starting with keras.Input): {exc}") from exc


def save_model(model, path: Path) -> None:
    """Save the trained model without optimizer state (a third of the size), atomically."""
    import keras

    # A new functional model over the same layers: same weights, nothing compiled.
    bare = keras.Model(model.inputs, model.outputs, name=model.name)
    with atomic_path(path) as tmp:
        bare.save(tmp)


def model_shapes(name: str, frame_shape: tuple[int, int] | None = None
                 ) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(input, output) shape of one example of the named model, batch axis left out:
    its catalog spec's input frames as channels in, one frame out, both of
    ``frame_shape`` (default the paper's; e.g. ``((100, 200, 2), (100, 200, 1))`` for
    Bi-Directional).  Here rather than in ``models.py``, whose code is part of every
    run's fingerprint."""
    from .catalog import model_spec
    from .frames import FRAME_SHAPE

    height, width = FRAME_SHAPE if frame_shape is None else frame_shape
    return (height, width, model_spec(name).n_inputs), (height, width, 1)


def load_trained_model(path: Path | str | None = None, name: str = "Bi-Directional",
                       loss: str = "MSE", frame_shape: tuple[int, int] | None = None):
    """A trained ``name`` model from ``path`` (default: the ``reproduce`` run
    ``results/runs/<name>-<loss>/model.keras``), checked before use: the file exists
    and is a complete ``.keras`` archive (:func:`model_problem`), Keras loads it (safely,
    uncompiled), and it maps the model's frames to one frame
    (:func:`model_shapes` of ``frame_shape``, default the paper's).
    Every problem is one line (ConfigError) naming the file and how to get a good one."""
    from .catalog import model_spec
    from .paths import results_dir
    from .session import quiet_tensorflow

    spec = model_spec(name)
    model_path = (Path(path) if path else
                  results_dir() / "runs" / f"{spec.name}-{loss}" / "model.keras")
    train = f"python -m blurutils reproduce --models {spec.name} --losses {loss}"
    if not model_path.is_file():
        raise ConfigError(f"{model_path}: no trained {spec.name} model; train one with "
                          f"`{train}` or pass --model")
    problem = model_problem(model_path)
    if problem is not None:  # Keras would say "File not found" for a file that exists
        raise ConfigError(f"{model_path}: the model file is damaged ({problem}); train it "
                          f"again (`{train}`) or pass another --model")
    quiet_tensorflow()
    import keras

    from . import blurloss, losses  # noqa: F401  (register the custom losses)

    try:
        model = keras.models.load_model(model_path, safe_mode=True, compile=False)
    except Exception as exc:
        raise ConfigError(f"{model_path}: not a loadable Keras model ({exc})") from None
    expected_in, expected_out = model_shapes(
        spec.name, None if frame_shape is None else tuple(frame_shape))
    if tuple(model.input_shape[1:]) != expected_in:
        raise ConfigError(f"{model_path}: input shape {model.input_shape[1:]} is not a "
                          f"{spec.name} model's {expected_in}")
    if tuple(model.output_shape[1:]) != expected_out:
        raise ConfigError(f"{model_path}: output shape {model.output_shape[1:]} is not a "
                          f"{spec.name} model's {expected_out}")
    return model


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
