"""Interruption and determinism of `python -m blurutils reproduce`, end to end.

A reproduce run is killed with SIGKILL at five different moments — during frame
extraction, mid-epoch, right after a checkpoint file is saved (before its state file),
between runs, and in the middle of an atomic write; the mid-epoch and checkpoint kills
hit the run's worker process (``blurutils.isolation``) — each time resumed by running the
same command again, and the end result must be byte-identical to a run that was never
interrupted.  Crash points come from ``blurutils.faults`` (``BLURUTILS_CRASH_AT``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The smallest grid that still meets every crash point: a dense and a conv run.
CONFIG = """\
profile: smoke
models: [Forward, Convolutional]
losses: [MSE]
baselines: none
checkpoint_interval_s: 0
"""
RESULT_FILES = ["table1_blur_factor.csv", "table2_relative_blur_factor.csv",
                "paper_comparison.csv", "verdicts.csv"]
RUNS = ["Forward-MSE", "Convolutional-MSE"]


def reproduce(tmp: Path, out: str, *extra: str, crash: str | None = None,
              data: str = "data") -> subprocess.CompletedProcess:
    config = tmp / "study.yaml"
    config.write_text(CONFIG)
    env = dict(os.environ, BLURUTILS_DATA_DIR=str(tmp / data), PYTHONPATH=str(REPO))
    env.pop("BLURUTILS_CRASH_AT", None)
    if crash:
        env["BLURUTILS_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-m", "blurutils", "reproduce", "--config",
                           str(config), "--out", str(tmp / out), *extra],
                          env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """Ctrl-C as in a terminal, even when the tests run in the background, where the
    shell starts them with SIGINT ignored (and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def result_bytes(out: Path) -> dict[str, bytes]:
    files = {name: (out / name).read_bytes() for name in RESULT_FILES}
    for run in RUNS:
        for name in ("per_frame_metrics.csv", "history.csv"):
            files[f"{run}/{name}"] = (out / "runs" / run / name).read_bytes()
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    tmp = tmp_path_factory.mktemp("reference")
    done = reproduce(tmp, "out")
    assert done.returncode == 0, done.stderr
    return tmp, result_bytes(tmp / "out")


def test_killed_at_five_moments_then_resumed_equals_uninterrupted(reference, tmp_path):
    _, expected = reference
    # Each run trains in its own worker process: a kill there ends the worker, and the
    # study stops with exit status 1 and one line; a kill in the main process ends it.
    kills = [
        ("frame:5", "main"),       # decoding the clip: no frame cache yet
        ("batch:2", "worker"),     # Forward-MSE, epoch 2, after epoch 1's checkpoint
        ("checkpoint:1", "worker"),  # Forward-MSE resumed: checkpoint saved, state file not
        ("run:1", "main"),         # Forward-MSE finished, Convolutional-MSE not started
        ("write:12", "main"),      # mid-way through an atomic write of the study's outputs
    ]
    for crash, where in kills:
        killed = reproduce(tmp_path, "out", crash=crash)
        if where == "main":
            assert killed.returncode == -signal.SIGKILL, (crash, killed.stdout, killed.stderr)
        else:
            assert killed.returncode == 1, (crash, killed.stdout, killed.stderr)
            line, = killed.stderr.strip().splitlines()
            assert "killed by SIGKILL" in line and "run the same command again" in line
    # The first kill came before the frame cache existed; later ones resumed runs.
    assert list((tmp_path / "data" / "frames").glob("*.npy"))
    final = reproduce(tmp_path, "out")
    assert final.returncode == 0, final.stderr
    assert result_bytes(tmp_path / "out") == expected
    leftovers = [p for p in (tmp_path / "out").rglob("*")
                 if ".tmp" in p.name or p.name.startswith("checkpoint-") or p.name == "state.json"]
    assert leftovers == []


def test_resume_after_mid_epoch_kill_continues_from_checkpoint(tmp_path):
    config_runs = ["--models", "Convolutional", "--losses", "MSE"]
    killed = reproduce(tmp_path, "out", *config_runs, crash="batch:2")
    assert killed.returncode == 1 and "Convolutional-MSE: the training process was killed" \
        in killed.stderr
    assert (tmp_path / "out" / "runs" / "Convolutional-MSE" / "state.json").is_file()
    resumed = reproduce(tmp_path, "out", *config_runs)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 1" in resumed.stdout
    again = reproduce(tmp_path, "out", *config_runs)
    assert "already done" in again.stdout
    assert not re.search(r"epoch +\d+/\d+", again.stdout)  # nothing trained


def test_ctrl_c_stops_cleanly_with_one_line(tmp_path):
    stopped = reproduce(tmp_path, "out", "--models", "Convolutional", "--losses", "MSE",
                        crash="batch:1:SIGINT")
    assert stopped.returncode == 130
    lines = stopped.stderr.strip().splitlines()
    assert len(lines) == 1 and "interrupted" in lines[0] and "again to resume" in lines[0]
    assert "Traceback" not in stopped.stderr


def test_same_seed_identical_different_seed_differs(reference, tmp_path):
    _, expected = reference
    runs = ["--models", "Convolutional", "--losses", "MSE"]
    same = reproduce(tmp_path, "same", *runs)
    other = reproduce(tmp_path, "other", *runs, "--seed", "1")
    assert same.returncode == 0 and other.returncode == 0, same.stderr + other.stderr
    name = "Convolutional-MSE/per_frame_metrics.csv"
    same_bytes = (tmp_path / "same" / "runs" / name).read_bytes()
    other_bytes = (tmp_path / "other" / "runs" / name).read_bytes()
    assert same_bytes == expected[name]
    assert other_bytes != expected[name]
