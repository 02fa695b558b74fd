"""Training: the input pipeline, run configuration, and seeded, resumable, idempotent runs.

Runs are kept tiny so the module stays fast on two CPU cores: most use the
convolutional model with 2 filters (a few hundred parameters) on the first 20 frames of
the sample clip; two use the real 42M-parameter Forward model for two epochs.  Each
expensive run is a module-scoped fixture; a test that changes a run folder works on its
own copy (``shutil.copytree``), so tests do not depend on each other's order.

Damaged run files (``model.keras``, ``history.csv``, ``run.json``, ``state.json``) make a
run redo its work, never a traceback; a finished run with other settings is kept, not
deleted; saved models load in Keras's safe mode (a Lambda layer is refused, its code
never runs).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from blurutils.errors import ConfigError
from blurutils.pairs import Examples, examples_for
from blurutils.session import quiet_tensorflow
from blurutils.training import (
    XLA_MIN_STEPS, RunConfig, RunFiles, data_fingerprint, make_dataset, predict,
    steps_per_epoch, train_run, use_xla)

quiet_tensorflow()

import keras  # noqa: E402

import blurutils.training as training  # noqa: E402

H, W = 100, 200
N_FRAMES = 20
#: Conv runs: 13 training examples in batches of 2 = 7 steps per epoch (last one short).
CONV_TRAIN = np.arange(1, 14)
CONV_TEST = np.arange(14, 19)
CONV = dict(model="Convolutional", loss="MSE", epochs=3, batch_size=2, conv_filters=2,
            seed=0, jit_compile=False)
#: Dense runs: 10 training examples in batches of 4 (3 steps), 4 test examples.
DENSE_TRAIN = np.arange(1, 11)
DENSE_TEST = np.arange(11, 15)
DENSE = dict(model="Forward", loss="MSE", epochs=2, batch_size=4, seed=0, jit_compile=True)
FORWARD_PARAMS = 42_359_968


@dataclasses.dataclass
class Run:
    dir: Path
    history: bytes
    predictions: np.ndarray
    messages: list[str]


@pytest.fixture(scope="module")
def clip(sample_frames) -> np.ndarray:
    return sample_frames[:N_FRAMES]


def conv_data():
    return examples_for("forward", CONV_TRAIN), examples_for("forward", CONV_TEST)


def do_run(clip, run_dir: Path, train_ex: Examples, test_ex: Examples, **config) -> Run:
    messages: list[str] = []
    model = train_run(RunConfig(**config), clip, train_ex, test_ex, run_dir,
                      report=messages.append)
    return Run(Path(run_dir), (Path(run_dir) / "history.csv").read_bytes(),
               predict(model, clip, test_ex), messages)


def conv_run(clip, run_dir: Path, **changes) -> Run:
    return do_run(clip, run_dir, *conv_data(), **{**CONV, **changes})


def dense_run(clip, run_dir: Path, **changes) -> Run:
    return do_run(clip, run_dir, examples_for("forward", DENSE_TRAIN),
                  examples_for("forward", DENSE_TEST), **{**DENSE, **changes})


def copy_run(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(src, dst)  # copy2: keeps modification times
    return dst


def history_rows(run_dir: Path) -> list[list[str]]:
    lines = (run_dir / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss"
    return [line.split(",") for line in lines[1:]]


def leftovers(run_dir: Path) -> list[str]:
    """Checkpoint, state and temporary files that a finished run must not leave."""
    return sorted(p.name for p in run_dir.iterdir()
                  if p.name.startswith(("checkpoint-", "state", ".")) or ".tmp" in p.name)


# --- make_dataset ---------------------------------------------------------------------

def test_datasets_run_without_the_tf_data_autotuner():
    """Its background thread held a finished ten-epoch fit for ~50 s (measured)."""
    ds = make_dataset(np.zeros((6, 10, 12), np.uint8),
                      examples_for("forward", np.array([1, 2, 3])), 2, epochs=2, shuffle_seed=0)
    assert ds.options().autotune.enabled is False
    assert len(list(ds)) == 4  # 2 epochs of 2 batches: the pipeline is unchanged


def id_frames(n: int = 40) -> np.ndarray:
    """Frames whose every pixel is the frame's index, so a batch names its frames."""
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, H, W)).copy()


def batch_ids(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input frame ids (B, k), target ids (B,)) of every batch of an id_frames dataset."""
    out = []
    for x, y in ds:
        x, y = x.numpy(), y.numpy()
        out.append((np.rint(x[:, 0, 0, :] * 255).astype(int),
                    np.rint(y[:, 0, 0, 0] * 255).astype(int)))
    return out


@pytest.mark.parametrize("direction, k", [("forward", 1), ("backward", 1),
                                          ("bidirectional", 2)])
def test_dataset_batches_are_the_indexed_frames_scaled(clip, direction, k):
    targets = np.array([5, 1, 12, 3, 8, 17, 2])
    ex = examples_for(direction, targets)
    batches = list(make_dataset(clip, ex, 3))
    assert len(batches) == math.ceil(len(targets) / 3) == 3
    row = 0
    for x, y in batches:
        x, y = x.numpy(), y.numpy()
        b = len(x)
        assert x.shape == (b, H, W, k) and y.shape == (b, H, W, 1)
        assert x.dtype == np.float32 and y.dtype == np.float32
        assert 0 <= x.min() and x.max() <= 1 and 0 <= y.min() and y.max() <= 1
        rows = slice(row, row + b)
        want_x = np.stack([clip[ex.inputs[rows, j]] for j in range(k)], axis=-1) / np.float32(255)
        np.testing.assert_allclose(x, want_x, rtol=0, atol=1e-7)
        np.testing.assert_allclose(y[..., 0], clip[targets[rows]] / np.float32(255),
                                   rtol=0, atol=1e-7)
        row += b
    assert row == len(targets)


def test_bidirectional_channels_are_previous_then_next(clip):
    ex = examples_for("bidirectional", np.array([7]))
    x, y = next(iter(make_dataset(clip, ex, 1)))
    x = x.numpy()[0]
    np.testing.assert_allclose(x[..., 0] * 255, clip[6], atol=1e-4)
    np.testing.assert_allclose(x[..., 1] * 255, clip[8], atol=1e-4)
    np.testing.assert_allclose(y.numpy()[0, ..., 0] * 255, clip[7], atol=1e-4)


@pytest.mark.parametrize("n, bs", [(13, 2), (12, 4), (5, 64), (1, 1)])
def test_batches_per_epoch(n, bs):
    frames = id_frames()
    ex = examples_for("forward", np.arange(1, n + 1))
    assert steps_per_epoch(n, bs) == math.ceil(n / bs)
    ds = make_dataset(frames, ex, bs)
    assert int(ds.cardinality()) == len(list(ds)) == math.ceil(n / bs)
    ds3 = make_dataset(frames, ex, bs, epochs=3, shuffle_seed=1)
    assert int(ds3.cardinality()) == len(list(ds3)) == 3 * math.ceil(n / bs)


def test_unshuffled_order_is_the_given_order():
    targets = np.array([9, 3, 30, 4, 12])
    got = batch_ids(make_dataset(id_frames(), examples_for("forward", targets), 2))
    np.testing.assert_array_equal(np.concatenate([t for _, t in got]), targets)


def epochs_of(batches, per_epoch):
    return [batches[i:i + per_epoch] for i in range(0, len(batches), per_epoch)]


def same_batches(a, b) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(xa, xb) and np.array_equal(ta, tb) for (xa, ta), (xb, tb) in zip(a, b))


def test_shuffled_epochs_depend_only_on_seed_and_epoch():
    frames = id_frames()
    targets = np.arange(1, 31)
    ex = examples_for("bidirectional", targets)
    per_epoch = math.ceil(len(targets) / 4)
    full = batch_ids(make_dataset(frames, ex, 4, epochs=3, shuffle_seed=5))
    assert len(full) == 3 * per_epoch
    orders = []
    for epoch in epochs_of(full, per_epoch):
        ins = np.concatenate([i for i, _ in epoch])
        tgt = np.concatenate([t for _, t in epoch])
        assert sorted(tgt) == list(targets)              # every example once per epoch
        np.testing.assert_array_equal(ins, np.stack([tgt - 1, tgt + 1], axis=1))
        orders.append(tuple(tgt))
    assert len(set(orders)) == 3                          # a new order each epoch
    assert orders[0] != tuple(targets)                    # and really shuffled

    # Resuming at epoch 1 replays exactly what the uninterrupted dataset would have.
    resumed = batch_ids(make_dataset(frames, ex, 4, epochs=3, initial_epoch=1, shuffle_seed=5))
    assert same_batches(resumed, full[per_epoch:])
    last = batch_ids(make_dataset(frames, ex, 4, epochs=3, initial_epoch=2, shuffle_seed=5))
    assert same_batches(last, full[2 * per_epoch:])
    # The total number of epochs does not change the earlier epochs' orders.
    two = batch_ids(make_dataset(frames, ex, 4, epochs=2, shuffle_seed=5))
    assert same_batches(two, full[:2 * per_epoch])
    # Same seed, same batches; another seed, another order.
    assert same_batches(batch_ids(make_dataset(frames, ex, 4, epochs=3, shuffle_seed=5)), full)
    other = batch_ids(make_dataset(frames, ex, 4, epochs=3, shuffle_seed=6))
    assert not same_batches(other, full)


# --- RunConfig ------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [dict(epochs=0), dict(epochs=-1), dict(batch_size=0),
                                 dict(batch_size=-64), dict(steps_per_execution=0)])
def test_run_config_rejects_non_positive_values(bad):
    with pytest.raises(ConfigError):
        RunConfig("Forward", "MSE", **bad)


def test_run_config_name():
    assert RunConfig("Bi-Directional", "MSE").name == "Bi-Directional-MSE"


BASE = RunConfig("Forward", "MSE", data_fingerprint="abc")


@pytest.mark.parametrize("change", [
    dict(model="Backward"), dict(loss="CP"), dict(epochs=9), dict(seed=1),
    dict(batch_size=32), dict(conv_filters=32), dict(data_fingerprint="abd"),
    dict(extra={"paper_compat": True})])
def test_fingerprint_changes_with_what_is_computed(change):
    assert dataclasses.replace(BASE, **change).fingerprint() != BASE.fingerprint()


@pytest.mark.parametrize("change", [
    dict(jit_compile=False), dict(steps_per_execution=16), dict(checkpoint_interval_s=0.0)])
def test_fingerprint_ignores_speed_settings(change):
    assert dataclasses.replace(BASE, **change).fingerprint() == BASE.fingerprint()


@pytest.mark.parametrize("setting, steps, expected", [
    ("auto", XLA_MIN_STEPS - 1, False), ("auto", XLA_MIN_STEPS, True),
    (True, 1, True), (False, 10_000, False)])
def test_use_xla_only_pays_for_its_compile_on_long_runs(setting, steps, expected):
    assert use_xla(setting, steps) is expected


def test_quick_runs_skip_xla_and_long_ones_use_it(clip, tmp_path, monkeypatch):
    """"auto" decides from the steps left to do: 3 epochs x 7 steps = 21 steps."""
    short = train_run(RunConfig(**{**CONV, "jit_compile": "auto"}), clip, *conv_data(),
                      tmp_path / "short", report=lambda line: None)
    assert short.jit_compile is False
    monkeypatch.setattr(training, "XLA_MIN_STEPS", 21)
    long = train_run(RunConfig(**{**CONV, "jit_compile": "auto"}), clip, *conv_data(),
                     tmp_path / "long", report=lambda line: None)
    assert long.jit_compile is True


@pytest.mark.parametrize("value", ["yes", 1.5, None])
def test_jit_compile_must_be_true_false_or_auto(value):
    with pytest.raises(ConfigError, match="jit_compile"):
        RunConfig("Forward", "MSE", jit_compile=value)


def test_fingerprint_is_stable():
    assert RunConfig("Forward", "MSE", data_fingerprint="abc").fingerprint() == \
        BASE.fingerprint()


def test_data_fingerprint(clip):
    a, b = np.arange(1, 10), np.arange(10, 15)
    fp = data_fingerprint(clip, a, b)
    assert fp == data_fingerprint(clip.copy(), a.copy(), b.copy())
    changed = clip.copy()
    changed[3, 50, 100] ^= 1
    assert data_fingerprint(changed, a, b) != fp
    assert data_fingerprint(clip, a, b[:-1]) != fp
    assert data_fingerprint(clip, b, a) != fp


def test_unknown_loss_is_a_config_error(clip, tmp_path):
    with pytest.raises(ConfigError, match="unknown loss"):
        conv_run(clip, tmp_path / "run", loss="MAE")


# --- a real dense run -----------------------------------------------------------------

@pytest.fixture(scope="module")
def dense(clip, tmp_path_factory) -> Run:
    return dense_run(clip, tmp_path_factory.mktemp("dense") / "Forward-MSE")


def test_dense_run_files(dense):
    meta = json.loads((dense.dir / "run.json").read_text())
    config = RunConfig(**DENSE)
    assert meta["status"] == "done"
    assert meta["fingerprint"] == config.fingerprint()
    assert (meta["model"], meta["loss"], meta["epochs"]) == ("Forward", "MSE", 2)
    rows = history_rows(dense.dir)
    assert [int(r[0]) for r in rows] == [1, 2]
    losses = np.array([[float(v) for v in r[1:]] for r in rows])
    assert np.all(np.isfinite(losses)) and np.all(losses > 0)
    assert leftovers(dense.dir) == []
    assert sorted(p.name for p in dense.dir.iterdir()) == \
        ["history.csv", "model.keras", "run.json"]


def test_dense_model_is_saved_without_optimizer_state(dense, clip):
    path = RunFiles(dense.dir).model
    size = path.stat().st_size
    # float32 weights only: about params * 4 bytes; with Adam's two slots it would be 3x.
    assert FORWARD_PARAMS * 4 <= size < FORWARD_PARAMS * 4 * 1.1
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.count_params() == FORWARD_PARAMS
    assert getattr(loaded, "optimizer", None) is None
    again = predict(loaded, clip, examples_for("forward", DENSE_TEST))
    # Same weights; the trained model predicted through XLA (jit_compile=True), the
    # reloaded, uncompiled one may not, so allow float32 rounding differences.
    np.testing.assert_allclose(again, dense.predictions, rtol=0, atol=2e-6)


def test_predict_returns_frames_in_unit_interval(dense):
    p = dense.predictions
    assert p.shape == (len(DENSE_TEST), H, W)
    assert p.dtype == np.float32
    assert np.all(p >= 0) and np.all(p <= 1)
    assert np.std(p) > 0


def test_predict_with_a_two_frame_model(clip):
    keras.utils.set_random_seed(0)
    from blurutils.models import build_model

    ex = examples_for("bidirectional", np.array([3, 4, 5]))
    p = predict(build_model("bi"), clip, ex, batch_size=2)
    assert p.shape == (3, H, W) and p.dtype == np.float32
    assert np.all(p >= 0) and np.all(p <= 1)


def test_dense_run_is_deterministic_with_xla(dense, clip, tmp_path):
    assert RunConfig(**DENSE).jit_compile is True
    again = dense_run(clip, tmp_path / "Forward-MSE")
    assert again.history == dense.history
    assert np.array_equal(again.predictions, dense.predictions)


# --- conv runs: determinism, idempotence, resume ---------------------------------------

@pytest.fixture(scope="module")
def baseline(clip, tmp_path_factory) -> Run:
    """An uninterrupted 3-epoch conv run, the reference for the tests below."""
    return conv_run(clip, tmp_path_factory.mktemp("conv") / "Convolutional-MSE")


def test_baseline_run(baseline):
    rows = history_rows(baseline.dir)
    assert [int(r[0]) for r in rows] == [1, 2, 3]
    assert all(math.isfinite(float(v)) for r in rows for v in r[1:])
    assert len({r[1] for r in rows}) == 3  # it trains: the loss moves
    assert leftovers(baseline.dir) == []
    assert not any("resuming" in m or "already" in m for m in baseline.messages)
    assert sum("epoch" in m for m in baseline.messages) == 3


def test_same_seed_same_result(baseline, clip, tmp_path):
    again = conv_run(clip, tmp_path / "run")
    assert again.history == baseline.history
    assert np.array_equal(again.predictions, baseline.predictions)


def test_other_seed_other_result(baseline, clip, tmp_path):
    other = conv_run(clip, tmp_path / "run", seed=1)
    assert other.history != baseline.history
    assert not np.allclose(other.predictions, baseline.predictions)


def test_finished_run_is_not_retrained(baseline, clip, tmp_path):
    run_dir = copy_run(baseline.dir, tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    again = conv_run(clip, run_dir)
    assert len(again.messages) == 1 and "already trained" in again.messages[0]
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
    assert again.history == baseline.history
    assert np.array_equal(again.predictions, baseline.predictions)


def test_speed_settings_do_not_invalidate_a_finished_run(baseline, clip, tmp_path):
    run_dir = copy_run(baseline.dir, tmp_path)
    again = conv_run(clip, run_dir, jit_compile=True, steps_per_execution=7,
                     checkpoint_interval_s=0)
    assert "already trained" in again.messages[0]


def test_steps_per_execution_beyond_an_epoch_changes_nothing(baseline, clip, tmp_path):
    assert steps_per_epoch(len(CONV_TRAIN), CONV["batch_size"]) == 7
    fast = conv_run(clip, tmp_path / "run", steps_per_execution=32)
    assert fast.history == baseline.history
    assert np.array_equal(fast.predictions, baseline.predictions)


class Interrupted(KeyboardInterrupt):
    pass


@pytest.fixture(scope="module")
def interrupted(clip, tmp_path_factory) -> Path:
    """A conv run killed (KeyboardInterrupt) right after epoch 1's checkpoint was written.

    Tests must copy this folder before touching it.
    """
    original = training._keras_callbacks

    def interrupting_callbacks():
        EpochCheckpoint, EpochLog = original()

        class InterruptAfterFirstEpoch(EpochCheckpoint):
            def on_epoch_end(self, epoch, logs=None):
                super().on_epoch_end(epoch, logs)
                if epoch == 0:
                    raise Interrupted("simulated Ctrl-C after epoch 1")

        return InterruptAfterFirstEpoch, EpochLog

    run_dir = tmp_path_factory.mktemp("interrupted") / "Convolutional-MSE"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "_keras_callbacks", interrupting_callbacks)
        with pytest.raises(Interrupted):
            conv_run(clip, run_dir, checkpoint_interval_s=0)
    return run_dir


def test_interrupted_run_leaves_a_checkpoint(interrupted, baseline):
    meta = json.loads((interrupted / "run.json").read_text())
    assert meta["status"] == "training"
    state = json.loads((interrupted / "state.json").read_text())
    assert state["epoch"] == 1
    assert (interrupted / state["checkpoint"]).is_file()
    assert not (interrupted / "model.keras").exists()
    assert history_rows(interrupted) == history_rows(baseline.dir)[:1]


def test_resume_gives_the_uninterrupted_result(interrupted, baseline, clip, tmp_path):
    run_dir = copy_run(interrupted, tmp_path)
    resumed = conv_run(clip, run_dir)  # default checkpoint interval: speed setting only
    assert "resuming after epoch 1" in resumed.messages[0]
    assert sum("epoch" in m and "/3" in m for m in resumed.messages) == 2  # epochs 2, 3 only
    assert resumed.history == baseline.history
    assert np.array_equal(resumed.predictions, baseline.predictions)
    assert leftovers(run_dir) == []
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00not a keras file\xff" * 512)


def truncated_weights(path: Path) -> None:
    """A readable zip whose model config loads but whose weights file is cut short."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    assert any(name.endswith(".h5") for name in parts)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data[:100] if name.endswith(".h5") else data)


@pytest.mark.parametrize("corrupt", [garbage, truncated_weights])
def test_corrupt_checkpoint_restarts_from_scratch(interrupted, baseline, clip, tmp_path,
                                                  caplog, corrupt):
    run_dir = copy_run(interrupted, tmp_path)
    state = json.loads((run_dir / "state.json").read_text())
    corrupt(run_dir / state["checkpoint"])
    with caplog.at_level(logging.WARNING, logger="blurutils.training"):
        again = conv_run(clip, run_dir)
    assert any("unusable" in r.getMessage() for r in caplog.records)
    assert not any("resuming" in m for m in again.messages)
    assert sum("epoch" in m and "/3" in m for m in again.messages) == 3
    assert again.history == baseline.history
    assert np.array_equal(again.predictions, baseline.predictions)
    assert leftovers(run_dir) == []


@pytest.mark.parametrize("source", ["finished", "interrupted"])
def test_changed_config_retrains_from_scratch(source, interrupted, baseline, clip, tmp_path):
    run_dir = copy_run(baseline.dir if source == "finished" else interrupted, tmp_path)
    shorter = conv_run(clip, run_dir, epochs=2)
    assert not any("resuming" in m or "already" in m for m in shorter.messages)
    assert sum("epoch" in m and "/2" in m for m in shorter.messages) == 2
    # From scratch with the same seed: epochs 1-2 are the 3-epoch run's epochs 1-2.
    assert history_rows(run_dir) == history_rows(baseline.dir)[:2]
    meta = json.loads((run_dir / "run.json").read_text())
    assert (meta["status"], meta["epochs"]) == ("done", 2)
    assert meta["fingerprint"] == RunConfig(**{**CONV, "epochs": 2}).fingerprint()
    assert leftovers(run_dir) == []


def test_blur_aware_loss_trains_checkpoints_and_reloads(clip, tmp_path):
    """A BASE+BLUR run goes through the same resumable path: its checkpoints and final
    model hold the custom loss, which must load back (safe mode, registered class)."""
    first = conv_run(clip, tmp_path / "a", loss="MSE+BLUR@0.5", checkpoint_interval_s=0)
    assert RunConfig(**{**CONV, "loss": "MSE+BLUR@0.5"}).name.endswith("-MSE_BLUR_0.5")
    again = conv_run(clip, tmp_path / "a", loss="MSE+BLUR@0.5")
    assert any("already trained" in m for m in again.messages)
    np.testing.assert_array_equal(first.predictions, again.predictions)
    with pytest.raises(ConfigError, match="canonical"):
        RunConfig(**{**CONV, "loss": "mse+blur"})


# --- the architecture is part of a run's identity --------------------------------------

def test_finished_run_records_its_architecture(baseline):
    from blurutils.models import architecture_hash, build_model

    meta = json.loads((baseline.dir / "run.json").read_text())
    built = build_model("Convolutional", conv_filters=2, frame_shape=(H, W))
    assert meta["architecture"] == architecture_hash(built)
    saved = keras.models.load_model(baseline.dir / "model.keras", safe_mode=True)
    assert architecture_hash(saved) == meta["architecture"]


def test_fingerprint_changes_when_models_py_changes(monkeypatch):
    """Study parents never import TensorFlow, so they see an edited models.py through
    the fingerprint (the hash of its code), not through the built model."""
    import blurutils.models as models

    before = BASE.fingerprint()
    monkeypatch.setattr(models, "builder_source_hash", lambda: "edited")
    assert BASE.fingerprint() != before


def one_more_filter(monkeypatch) -> None:
    """Edit the package's builder: every conv layer gets one more filter."""
    import blurutils.models as models

    original = models.build_model
    monkeypatch.setattr(models, "build_model", lambda name, *, conv_filters, frame_shape:
                        original(name, conv_filters=conv_filters + 1, frame_shape=frame_shape))


def without_recorded_architecture(monkeypatch) -> None:
    """Nothing in the code changes, but run.json predates the architecture hash."""


@pytest.mark.parametrize("change", [one_more_filter, without_recorded_architecture])
def test_a_run_of_another_architecture_is_retrained(change, baseline, clip, tmp_path,
                                                     monkeypatch):
    run_dir = copy_run(baseline.dir, tmp_path)
    meta = json.loads((run_dir / "run.json").read_text())
    if change is without_recorded_architecture:
        del meta["architecture"]
        (run_dir / "run.json").write_text(json.dumps(meta))
    change(monkeypatch)
    again = conv_run(clip, run_dir)
    assert not any("already" in m or "resuming" in m for m in again.messages)
    assert sum("epoch" in m and "/3" in m for m in again.messages) == 3
    after = json.loads((run_dir / "run.json").read_text())
    assert after["status"] == "done" and after["fingerprint"] == meta["fingerprint"]
    from blurutils.models import architecture_hash

    trained = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    assert after["architecture"] == architecture_hash(trained)
    if change is one_more_filter:
        assert after["architecture"] != meta["architecture"]
        assert trained.layers[1].filters == CONV["conv_filters"] + 1
        assert again.history != baseline.history
    else:
        assert again.history == baseline.history  # same seed, same architecture
    reused = conv_run(clip, run_dir)                 # and now it is reused
    assert len(reused.messages) == 1 and "already trained" in reused.messages[0]


# --- a model built by the user ---------------------------------------------------------

TINY = (8, 16)
TINY_CONFIG = dict(model="Forward", loss="MSE", epochs=3, batch_size=4, seed=0,
                   jit_compile=False)


@pytest.fixture(scope="module")
def tiny_clip(clip) -> np.ndarray:
    """The clip's frames shrunk to 8x16: a user-built model trains in a blink."""
    import cv2

    return np.stack([cv2.resize(f, TINY[::-1], interpolation=cv2.INTER_AREA) for f in clip])


def user_mlae(units: int = 6) -> keras.Model:
    """A Forward MLAE as a student writes it: keras.Input, Dense layers, default names."""
    from keras import layers

    inputs = keras.Input((*TINY, 1))
    x = layers.Flatten()(inputs)
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dense(TINY[0] * TINY[1], activation="sigmoid")(x)
    return keras.Model(inputs, layers.Reshape((*TINY, 1))(x))


def user_run(tiny_clip, run_dir: Path, model: keras.Model, **changes) -> Run:
    messages: list[str] = []
    train_ex, test_ex = conv_data()
    trained = train_run(RunConfig(**{**TINY_CONFIG, **changes}), tiny_clip, train_ex, test_ex,
                        run_dir, model=model, report=messages.append)
    return Run(Path(run_dir), (Path(run_dir) / "history.csv").read_bytes(),
               predict(trained, tiny_clip, test_ex), messages)


@pytest.fixture(scope="module")
def user_baseline(tiny_clip, tmp_path_factory) -> Run:
    return user_run(tiny_clip, tmp_path_factory.mktemp("user") / "Forward-MSE", user_mlae())


def test_user_built_model_trains_with_the_run_machinery(user_baseline):
    from blurutils.models import architecture_hash

    meta = json.loads((user_baseline.dir / "run.json").read_text())
    assert meta["status"] == "done"
    assert meta["architecture"] == architecture_hash(user_mlae())
    assert [int(r[0]) for r in history_rows(user_baseline.dir)] == [1, 2, 3]
    assert sum("epoch" in m for m in user_baseline.messages) == 3
    assert user_baseline.predictions.shape == (len(CONV_TEST), *TINY)
    trained = keras.models.load_model(user_baseline.dir / "model.keras", safe_mode=True)
    assert [layer.units for layer in trained.layers if isinstance(layer, keras.layers.Dense)] \
        == [6, TINY[0] * TINY[1]]
    assert leftovers(user_baseline.dir) == []


def test_user_built_model_is_left_untouched_and_seeded(user_baseline, tiny_clip, tmp_path):
    """Its weights are drawn again from the seed: the same architecture built with other
    initial weights trains to the same result, and the model passed in is not trained."""
    model = user_mlae()
    before = [w.copy() for w in model.get_weights()]
    again = user_run(tiny_clip, tmp_path / "run", model)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert getattr(model, "optimizer", None) is None
    assert again.history == user_baseline.history
    assert np.array_equal(again.predictions, user_baseline.predictions)
    other_seed = user_run(tiny_clip, tmp_path / "seed1", user_mlae(), seed=1)
    assert other_seed.history != user_baseline.history


def test_user_built_model_is_reused_only_with_the_same_architecture(user_baseline, tiny_clip,
                                                                   tmp_path):
    run_dir = copy_run(user_baseline.dir, tmp_path)
    same = user_run(tiny_clip, run_dir, user_mlae())
    assert len(same.messages) == 1 and "already trained" in same.messages[0]
    assert np.array_equal(same.predictions, user_baseline.predictions)
    wider = user_run(tiny_clip, run_dir, user_mlae(units=7))
    assert not any("already" in m for m in wider.messages)
    assert sum("epoch" in m for m in wider.messages) == 3
    trained = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    assert trained.layers[2].units == 7


def test_user_built_copy_of_the_package_model_trains_identically(baseline, clip, tmp_path):
    """A student's Convolutional autoencoder, layer for layer the package's (other
    names), gives the package's run exactly: same seed, same weights, same result."""
    from keras import layers

    f = CONV["conv_filters"]
    inputs = keras.Input((H, W, 1))
    x = layers.Conv2D(f, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(f, 3, activation="relu", padding="same")(x)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(f, 3, activation="relu", padding="same")(x)
    x = layers.UpSampling2D(2)(x)
    x = layers.Conv2D(f, 3, activation="relu", padding="same")(x)
    x = layers.UpSampling2D(2)(x)
    outputs = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x)
    messages: list[str] = []
    trained = train_run(RunConfig(**CONV), clip, *conv_data(), tmp_path / "run",
                        model=keras.Model(inputs, outputs), report=messages.append)
    assert (tmp_path / "run" / "history.csv").read_bytes() == baseline.history
    assert np.array_equal(predict(trained, clip, conv_data()[1]), baseline.predictions)


def test_interrupted_user_built_run_resumes_to_the_same_result(user_baseline, tiny_clip,
                                                               tmp_path, monkeypatch):
    original = training._keras_callbacks

    def interrupting_callbacks():
        EpochCheckpoint, EpochLog = original()

        class InterruptAfterFirstEpoch(EpochCheckpoint):
            def on_epoch_end(self, epoch, logs=None):
                super().on_epoch_end(epoch, logs)
                if epoch == 0:
                    raise Interrupted("simulated Ctrl-C after epoch 1")

        return InterruptAfterFirstEpoch, EpochLog

    run_dir = tmp_path / "run"
    with monkeypatch.context() as mp:
        mp.setattr(training, "_keras_callbacks", interrupting_callbacks)
        with pytest.raises(Interrupted):
            user_run(tiny_clip, run_dir, user_mlae(), checkpoint_interval_s=0)
    assert json.loads((run_dir / "state.json").read_text())["epoch"] == 1
    resumed = user_run(tiny_clip, run_dir, user_mlae())
    assert "resuming after epoch 1" in resumed.messages[0]
    assert resumed.history == user_baseline.history
    assert np.array_equal(resumed.predictions, user_baseline.predictions)
    assert leftovers(run_dir) == []


@pytest.mark.parametrize("config, bad, match", [
    (TINY_CONFIG, lambda: "not a model", "keras.Model"),
    ({**TINY_CONFIG, "model": "Bi-Directional"}, user_mlae, r"\(8, 16, 2\)"),
    (TINY_CONFIG, lambda: build_model_on((16, 8)), r"\(8, 16, 1\)")],
    ids=["not a model", "one input frame for two", "frames of another size"])
def test_user_built_model_that_does_not_fit_is_a_config_error(config, bad, match, tiny_clip,
                                                              tmp_path):
    with pytest.raises(ConfigError, match=match):
        train_run(RunConfig(**config), tiny_clip, *conv_data(), tmp_path / "run",
                  model=bad(), report=lambda line: None)
    assert not (tmp_path / "run").exists()


def build_model_on(frame_shape) -> keras.Model:
    from blurutils.models import build_model

    return build_model("Forward", frame_shape=frame_shape)


# ----------------------------------------------------------------- damaged run files, safe loading

def tiny_run(tmp_path: Path, jit_compile: bool = False):
    """A 1-epoch, 2-filter conv run on 8 random frames (about 2 s)."""
    from blurutils.pairs import examples_for, split_targets
    from blurutils.training import RunConfig

    config = RunConfig("Convolutional", "MSE", epochs=1, batch_size=1, conv_filters=2,
                       jit_compile=jit_compile, checkpoint_interval_s=0)
    frames = np.random.default_rng(0).integers(0, 256, (8, 100, 200), dtype=np.uint8)
    split = split_targets(len(frames))
    return (config, frames, examples_for("forward", split.train),
            examples_for("forward", split.test), tmp_path / "run")


def mark_done(config, run_dir: Path, model_bytes: bytes) -> None:
    """A run folder that says it finished with ``config``, holding ``model_bytes``."""
    from blurutils.models import architecture_hash, build_model

    run_dir.mkdir(parents=True, exist_ok=True)
    architecture = architecture_hash(build_model(config.model, conv_filters=config.conv_filters))
    (run_dir / "run.json").write_text(json.dumps(
        {"status": "done", "fingerprint": config.fingerprint(), "architecture": architecture,
         **asdict(config)}))
    (run_dir / "history.csv").write_text("epoch,loss,val_loss\n1,0.1,0.1\n")
    (run_dir / "model.keras").write_bytes(model_bytes)


def test_corrupt_model_of_a_finished_run_is_retrained(tmp_path, caplog):
    """A finished run whose model.keras is garbage is retrained, not a traceback.

    Trained with XLA (jit_compile=True): the retrained model and the same model reloaded
    from model.keras predict bit-identically, because predict() never uses XLA."""
    import logging

    import keras

    from blurutils.training import predict, train_run

    config, frames, train, test, run_dir = tiny_run(tmp_path, jit_compile=True)
    mark_done(config, run_dir, b"not a keras zip file" * 50)
    messages: list[str] = []
    with caplog.at_level(logging.WARNING, logger="blurutils.training"):
        model = train_run(config, frames, train, test, run_dir, report=messages.append)
    assert any("model.keras is unusable" in r.getMessage() for r in caplog.records)
    assert any("epoch  1/1" in m for m in messages)              # trained again
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    reloaded = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    assert np.array_equal(predict(model, frames, test), predict(reloaded, frames, test))
    again: list[str] = []                                      # and now it is trusted
    train_run(config, frames, train, test, run_dir, report=again.append)
    assert any("already trained" in m for m in again)


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory) -> tuple[Path, Path]:
    """A ``.keras`` file whose Lambda layer creates ``marker`` whenever it runs."""
    from blurutils.session import quiet_tensorflow

    quiet_tensorflow()
    import keras

    d = tmp_path_factory.mktemp("lambda")
    marker = d / "LAMBDA-RAN"
    where = str(marker)
    inputs = keras.Input((100, 200, 1))
    outputs = keras.layers.Lambda(lambda x: (open(where, "w").close(), x)[1])(inputs)
    path = d / "evil.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink()                                    # building it ran the lambda once
    return path, marker


def test_safety_lambda_checkpoint_is_refused(lambda_model, tmp_path, caplog):
    import logging

    from blurutils.training import RunFiles, _load_checkpoint

    evil, marker = lambda_model
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint-001.keras").write_bytes(evil.read_bytes())
    (run_dir / "state.json").write_text(json.dumps(
        {"epoch": 1, "checkpoint": "checkpoint-001.keras",
         "history": [{"epoch": 1, "loss": 0.1, "val_loss": 0.1}]}))
    with caplog.at_level(logging.WARNING, logger="blurutils.training"):
        assert _load_checkpoint(RunFiles(run_dir)) is None     # unusable, not loaded
    assert any("Lambda" in r.getMessage() for r in caplog.records)
    assert not marker.exists()


def test_safety_lambda_model_of_a_finished_run_is_refused(lambda_model, tmp_path):
    """model.keras of a run marked done (matching fingerprint) holds a Lambda layer:
    train_run refuses to load it, trains a clean model instead, and the lambda never runs."""
    import keras

    from blurutils.training import train_run

    evil, marker = lambda_model
    config, frames, train, test, run_dir = tiny_run(tmp_path)
    mark_done(config, run_dir, evil.read_bytes())
    messages: list[str] = []
    model = train_run(config, frames, train, test, run_dir, report=messages.append)
    assert not marker.exists()
    assert not any("already trained" in m for m in messages)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    reloaded = keras.models.load_model(run_dir / "model.keras", safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in reloaded.layers)
    assert not marker.exists()


def test_safety_lambda_payload_is_live_without_safe_mode(lambda_model):
    """Control: the payload is real — loading with safe_mode=False does run it, so the
    two tests above would fail if the package ever dropped safe_mode=True."""
    import keras

    evil, marker = lambda_model
    assert not marker.exists()
    keras.models.load_model(evil, safe_mode=False)
    assert marker.exists()
    marker.unlink()


def fake_keras_bytes() -> bytes:
    """A zip with the entries of a ``.keras`` file (what ``model_problem`` checks
    without loading), holding no real model."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in (("metadata.json", "{}"),
                           ("config.json", '{"class_name": "Functional", "config": {}}'),
                           ("model.weights.h5", "weights")):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _finished_run(tmp_path: Path, epochs: int = 2):
    from blurutils.training import RunConfig, RunFiles, write_history

    config = RunConfig(model="Convolutional", loss="MSE", epochs=epochs)
    files = RunFiles(tmp_path / "runs" / config.name)
    files.dir.mkdir(parents=True)
    files.config.write_text(json.dumps({"status": "done", "fingerprint": config.fingerprint()}))
    files.model.write_bytes(fake_keras_bytes())
    write_history(files.history, [{"epoch": e, "loss": 0.5, "val_loss": 0.6}
                                  for e in range(1, epochs + 1)])
    return config, files


@pytest.mark.parametrize("name, text, words", [
    ("history.csv", "", "no epoch,loss,val_loss header"),
    ("history.csv", "\x00\x01garbage\n", "no epoch,loss,val_loss header"),
    ("history.csv", "epoch,loss,val_loss\n1,0.5,0.6\n", "1 epochs recorded, 2 expected"),
    ("history.csv", "epoch,loss,val_loss\n1,0.5,0.6\n2,abc,0.6\n", "line 3"),
    ("history.csv", "epoch,loss,val_loss\n1,0.5,0.6\n3,0.5,0.6\n", "line 3"),
    ("run.json", "", "unreadable"),
    ("run.json", '{"status": "done", "finger', "unreadable"),
    ("run.json", '["done"]', "not an object"),
])
def test_corrupt_run_files_are_detected_with_a_warning(name, text, words, tmp_path, caplog):
    """A garbled history.csv or run.json makes the run unfinished (it is redone), with a
    logged warning naming the file; the intact run is trusted."""
    from blurutils.training import is_done

    config, files = _finished_run(tmp_path)
    assert is_done(files, config)
    (files.dir / name).write_text(text)
    with caplog.at_level("WARNING", logger="blurutils.training"):
        assert not is_done(files, config)
    assert name in caplog.text and words in caplog.text


def test_a_finished_run_with_other_settings_is_kept_not_deleted(tmp_path):
    from blurutils.training import read_json, set_aside_run

    config, files = _finished_run(tmp_path)
    (files.dir / "my-notes.txt").write_text("user's")
    lines: list[str] = []
    kept = set_aside_run(files, read_json(files.config), lines.append)
    assert kept is not None and not files.dir.exists()
    assert kept.name == f"{config.name}.previous-{config.fingerprint()}"
    assert (kept / "model.keras").read_bytes() == fake_keras_bytes()
    assert (kept / "my-notes.txt").read_text() == "user's"
    assert len(lines) == 1 and kept.name in lines[0]


def test_an_unfinished_run_with_other_settings_loses_only_its_own_files(tmp_path):
    from blurutils.training import set_aside_run

    _, files = _finished_run(tmp_path)
    (files.dir / "checkpoint-003.keras").write_bytes(b"ckpt")
    (files.dir / "my-notes.txt").write_text("user's")
    (files.dir / "checkpoint-notes.txt").write_text("user's too")
    assert set_aside_run(files, {"status": "training"}, print) is None
    assert sorted(p.name for p in files.dir.iterdir()) == ["checkpoint-notes.txt",
                                                           "my-notes.txt"]


@pytest.mark.parametrize("state", [
    {"epoch": "x", "checkpoint": "checkpoint-001.keras", "history": []},
    {"epoch": 2, "checkpoint": "checkpoint-002.keras", "history": [{}]},
    {"epoch": 1, "checkpoint": "checkpoint-001.keras", "history": "nope"},
])
def test_corrupt_state_json_trains_from_scratch(state, tmp_path, caplog):
    from blurutils.training import RunFiles, _load_checkpoint

    files = RunFiles(tmp_path)
    files.state.write_text(json.dumps(state))
    with caplog.at_level("WARNING", logger="blurutils.training"):
        assert _load_checkpoint(files) is None
    assert "state.json is corrupt" in caplog.text


# --- the run's model spec -------------------------------------------------------------

#: RunConfig's fields, as written to every run.json (the spec is not one of them).
RUN_CONFIG_FIELDS = ["model", "loss", "epochs", "batch_size", "seed", "conv_filters",
                     "jit_compile", "steps_per_execution", "checkpoint_interval_s",
                     "data_fingerprint", "cp_last_axis", "extra"]


@pytest.mark.parametrize("name", ["Forward", "Backward", "Bi-Directional", "Convolutional"])
def test_run_config_carries_its_catalog_spec(name):
    import copy
    import pickle

    from blurutils.catalog import MODELS

    config = RunConfig(name, "MSE", data_fingerprint="abc")
    assert config.spec is MODELS[name]
    assert pickle.loads(pickle.dumps(config)).spec == config.spec  # to a worker process
    assert copy.deepcopy(config).spec == config.spec
    assert dataclasses.replace(config, model="Forward").spec is MODELS["Forward"]


def test_the_spec_changes_neither_the_fingerprint_nor_run_json():
    """The spec is no field: asdict, the fingerprint (its formula written out here) and
    run.json hold exactly what they held before it, so no committed run retrains."""
    import hashlib

    from blurutils.models import builder_source_hash

    config = RunConfig("Bi-Directional", "CP", epochs=3, seed=2, data_fingerprint="abc",
                       extra={"note": 1})
    assert list(asdict(config)) == RUN_CONFIG_FIELDS
    assert [f.name for f in dataclasses.fields(RunConfig)] == RUN_CONFIG_FIELDS
    hashed = {"model": "Bi-Directional", "loss": "CP", "epochs": 3, "batch_size": 64,
              "seed": 2, "conv_filters": 16, "data_fingerprint": "abc",
              "extra": {"note": 1}, "builders": builder_source_hash()}
    assert config.fingerprint() == hashlib.sha256(
        json.dumps(hashed, sort_keys=True).encode()).hexdigest()[:16]
    run_json = json.loads(training._run_json("done", config, "arch"))
    assert list(run_json) == ["status", "fingerprint", "architecture", *RUN_CONFIG_FIELDS]
    assert run_json["fingerprint"] == config.fingerprint()
    assert "spec" not in json.dumps(run_json)


def test_an_unknown_model_is_still_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'forward'"):
        RunConfig("forward", "MSE")  # canonical names only: the catalog resolves prefixes
