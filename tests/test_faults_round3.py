"""Faults of the third review round (docs/RELIABILITY.md, rows F1-F16): files blurutils did
not write, output a terminal cannot take, names at the system's limits, ``--out`` where
it cannot work, damaged or set-aside runs, a read-only data folder, stale temporaries
after SIGKILL, and a memory limit.

Each test meets the fault for real: a real closed pipe, a real ``latin-1`` stdout, real
over-long names, a real git repository, a real read-only mount (``unshare``), real
SIGKILLs, a real ``ulimit -v``.  Runs that train use the smoke profile with one
convolutional run (seconds); the finished study is made once per module (``conv_study``)
and copied by each test that changes it.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import env_for, one_line

from blurutils.errors import ConfigError
from blurutils.paths import RESULTS_MARKER, prepare_results_folder

REPO = Path(__file__).resolve().parents[1]
#: One convolutional run of the smoke profile, no baselines: the smallest study.
CONV_STUDY = """\
profile: smoke
models: [Convolutional]
losses: [MSE]
baselines: none
"""
RUN = "Convolutional-MSE"


def cli(*args: str, data: Path, cwd: Path | None = None, timeout: float = 300,
        **kwargs) -> subprocess.CompletedProcess:
    """``python -m blurutils ARGS`` in a fresh process with the data folder ``data``."""
    env = env_for(data, **kwargs.pop("env", {}))
    return subprocess.run([sys.executable, "-m", "blurutils", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def reproduce_conv(tmp: Path, out: Path, *extra: str, data: Path | None = None,
                   **kwargs) -> subprocess.CompletedProcess:
    config = tmp / "conv.yaml"
    config.write_text(CONV_STUDY)
    return cli("reproduce", "--config", str(config), "--out", str(out), *extra,
               data=data or tmp / "data", **kwargs)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def conv_study(tmp_path_factory):
    """A finished one-run smoke study, made by ``reproduce`` whose stdout is a pipe
    nobody reads (closed before the command starts: ``| head -0``); the process and the
    folder (tests copy it before changing anything)."""
    tmp = tmp_path_factory.mktemp("conv-study")
    config = tmp / "conv.yaml"
    config.write_text(CONV_STUDY)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "blurutils", "reproduce", "--config", str(config),
             "--out", str(tmp / "out")], env=env_for(tmp / "data"), stdout=write_end,
            stderr=subprocess.PIPE, text=True, timeout=600)
    finally:
        os.close(write_end)
    return proc, tmp / "out"


def copy_study(conv_study, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(conv_study[1], out)
    return out


# ============================================================ 1. files blurutils did not write

@pytest.mark.parametrize("name, text", [
    ("REPORT.md", "# my own notes on the study\n"),
    ("config.yaml", "profile: demo\nepochs: 10\n"),
    ("table1_blur_factor.csv", "paper_row,mean\nmine,1\n"),
])
def test_results_folder_refuses_a_users_file(tmp_path, name, text):
    out = tmp_path / "mine"
    out.mkdir()
    (out / name).write_text(text)
    with pytest.raises(ConfigError, match=f"holds {name} that blurutils did not write"):
        prepare_results_folder(out)
    assert snapshot(out) == {name: text.encode()}  # nothing written, nothing removed


def test_cli_reproduce_refuses_a_users_report_and_writes_nothing(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "REPORT.md").write_text("# mine\n")
    proc = reproduce_conv(tmp_path, out)
    one_line(proc.stderr, "reproduce", "REPORT.md", "did not write", "another --out")
    assert proc.returncode == 2
    assert snapshot(out) == {"REPORT.md": b"# mine\n"}


def test_results_folder_of_an_earlier_blurutils_is_adopted(tmp_path):
    """A folder an earlier blurutils wrote (no marker yet) is recognised by its dumped
    config.yaml, or its runs' run.json, and marked; unrelated files do not block."""
    from blurutils.config import dump_config, make_config

    dumped = tmp_path / "dumped"
    dumped.mkdir()
    (dumped / "config.yaml").write_text(dump_config(make_config("smoke", out=str(dumped))))
    (dumped / "REPORT.md").write_text("# written by blurutils 0.1\n")
    runs = tmp_path / "runs-only" / "runs" / RUN
    runs.mkdir(parents=True)
    (runs / "run.json").write_text(json.dumps(
        {"status": "done", "fingerprint": "0" * 16, "model": "Convolutional", "loss": "MSE"}))
    multi_seed = tmp_path / "multi-seed" / "seeds" / "seed-0"  # an unmarked seeds study
    multi_seed.mkdir(parents=True)
    (multi_seed / "config.yaml").write_text(dump_config(make_config("smoke", out=str(dumped))))
    unrelated = tmp_path / "notes"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("mine")
    for folder in (dumped, tmp_path / "runs-only", tmp_path / "multi-seed", unrelated,
                   tmp_path / "new"):
        assert prepare_results_folder(folder) == folder
        assert (folder / RESULTS_MARKER).is_file()
        assert prepare_results_folder(folder) == folder  # marked: reused as it is
    assert (unrelated / "notes.txt").read_text() == "mine"


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                   capture_output=True, env={k: v for k, v in os.environ.items()
                                             if not k.startswith("GIT_")})


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_committed_results_are_refused_unless_their_own_rebuild(tmp_path):
    """A clone's committed results folder: ``--out`` there is refused in one line,
    every committed file intact; its own rebuild (``make reference``'s form, ``--config
    ref/standard.yaml --out ref/standard``) runs, and adds no marker among them."""
    clone = tmp_path / "clone"
    committed = clone / "ref" / "standard"
    committed.mkdir(parents=True)
    for name in ("REPORT.md", "config.yaml", "table1_blur_factor.csv"):
        (committed / name).write_text(f"committed {name}\n")
    (clone / "ref" / "standard.yaml").write_text(CONV_STUDY)
    _git("init", "-q", cwd=clone)
    _git("add", ".", cwd=clone)
    _git("commit", "-qm", "reference results", cwd=clone)
    before = snapshot(committed)

    refused = cli("reproduce", "--profile", "smoke", "--models", "Convolutional", "--losses",
                  "MSE", "--out", "ref/standard", data=tmp_path / "data", cwd=clone)
    one_line(refused.stderr, "reproduce", "committed to git", "another --out",
             "ref/standard.yaml")
    assert refused.returncode == 2 and snapshot(committed) == before

    rebuilt = cli("reproduce", "--config", "ref/standard.yaml", "--out", "ref/standard",
                  data=tmp_path / "data", cwd=clone, timeout=600)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert (committed / "REPORT.md").read_text() != before["REPORT.md"].decode()
    assert (committed / "runs" / RUN / "per_frame_metrics.csv").is_file()
    assert not (committed / RESULTS_MARKER).exists()


def test_the_checkouts_reference_results_are_refused():
    """``--out reference_results/standard`` in the checkout: refused before anything in
    it is touched (git or not)."""
    folder = REPO / "reference_results" / "standard"
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    with pytest.raises(ConfigError, match="committed to git.*reference_results/standard.yaml"):
        prepare_results_folder(folder)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before


def test_interpolate_never_replaces_a_users_gif_or_strip(tmp_path):
    """``--out x/clip.mp4`` beside a user's clip.gif and clip_strip.png: refused (exit 2)
    before any work; --overwrite replaces them; blurutils' own outputs are replaced by
    the same command run again without it."""
    folder = tmp_path / "x"
    folder.mkdir()
    mine = {"clip.gif": b"my animation", "clip_strip.png": b"my strip"}
    for name, data in mine.items():
        (folder / name).write_bytes(data)
    args = ("interpolate", "sample", "--method", "copy", "--max-frames", "4",
            "--out", str(folder / "clip.mp4"))
    refused = cli(*args, data=tmp_path / "data")
    one_line(refused.stderr, "interpolate", "clip.gif", "did not write", "--overwrite")
    assert refused.returncode == 2 and refused.stdout == ""
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == mine

    replaced = cli(*args, "--overwrite", data=tmp_path / "data")
    assert replaced.returncode == 0, replaced.stderr
    assert (folder / "clip.gif").read_bytes()[:3] == b"GIF"
    again = cli(*args, data=tmp_path / "data")  # its own outputs now: replaced silently
    assert again.returncode == 0, again.stderr


# ============================================================ 2. output the terminal cannot take

def test_reproduce_into_a_closed_pipe_finishes_without_a_traceback(conv_study):
    """``reproduce … | head -1``: every line after the reader left goes to os.devnull;
    the study finishes and writes all its files, exit 0, no BrokenPipeError."""
    proc, out = conv_study
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    assert (out / "REPORT.md").is_file() and (out / "table1_blur_factor.csv").is_file()
    assert (out / "runs" / RUN / "per_frame_metrics.csv").is_file()


def test_a_latin1_terminal_gets_escapes_not_a_traceback(tmp_path):
    import cv2

    image = tmp_path / "bild≈.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (100, 200), np.uint8))
    latin1 = {"PYTHONIOENCODING": "latin-1"}
    done = cli("blur", str(image), data=tmp_path / "data", env=latin1)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "bild\\u2248.png: image of 100x200" in done.stdout
    missing = cli("blur", str(tmp_path / "fehlt≈.png"), data=tmp_path / "data", env=latin1)
    assert missing.returncode == 2
    one_line(missing.stderr, "blur", "fehlt\\u2248.png", "no such file")


# ============================================================ 3. names at the system's limits

@pytest.mark.parametrize("command", ["frames", "blur", "reproduce"])
def test_a_file_name_over_255_bytes_is_one_line(tmp_path, command):
    long_name = str(tmp_path / ("a" * 300 + ".mp4"))
    args = ([command, long_name] if command != "reproduce" else
            ["reproduce", "--profile", "smoke", "--source", long_name, "--out",
             str(tmp_path / "out")])
    proc = cli(*args, data=tmp_path / "data")
    assert proc.returncode == 2, proc.stderr[-2000:]
    one_line(proc.stderr, command, "file name too long", "304 bytes", "255")
    assert not (tmp_path / "out").exists()


def test_an_out_of_4000_characters_is_one_line_before_writing(tmp_path):
    """The folder itself could be made, but the files a study writes below it would
    pass the system's 4096-byte limit: refused before anything is created."""
    base = tmp_path / "o"
    out = base / "/".join(["c" * 199] * ((4000 - len(str(base))) // 200))
    out = out / ("d" * (4000 - len(str(out)) - 1))  # 4,000 characters in all
    assert len(str(out)) == 4000 and max(map(len, out.parts)) < 255
    proc = reproduce_conv(tmp_path, out)
    assert proc.returncode == 2, proc.stderr[-2000:]
    one_line(proc.stderr, "reproduce", "path too long", "4,095 bytes")
    assert not base.exists()


# ============================================================ 4. --out where it cannot work

@pytest.mark.parametrize("where", ["data", "data/frames/x"])
def test_out_in_the_data_folder_is_refused_at_once(tmp_path, where):
    """--out the data folder (it waited 900 s on its own lock) or inside its frames
    cache: one line, exit 2, at once, nothing written there."""
    data = tmp_path / "data"
    proc = reproduce_conv(tmp_path, tmp_path / where, data=data, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    one_line(proc.stderr, "reproduce", "data folder", "another --out")
    assert not (data / "config.yaml").exists() and not (data / "frames" / "x").exists()


def test_out_in_the_checkouts_data_folder_is_refused(monkeypatch):
    monkeypatch.delenv("BLURUTILS_DATA_DIR")
    if not (REPO / "data" / "README.md").is_file():
        pytest.skip("no data/ folder in this checkout")
    for out in (REPO / "data", REPO / "data" / "frames"):
        with pytest.raises(ConfigError, match="data folder"):
            prepare_results_folder(out)


# ============================================================ 5. damaged run files

def test_a_damaged_model_of_a_finished_run_is_retrained_with_one_warning(conv_study, tmp_path):
    out = copy_study(conv_study, tmp_path)
    model = out / "runs" / RUN / "model.keras"
    metrics = (out / "runs" / RUN / "per_frame_metrics.csv").read_bytes()
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # cut short
    proc = reproduce_conv(tmp_path, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if "unusable" in line]
    assert len(warnings) == 1 and "model.keras" in warnings[0], proc.stderr
    assert "already done" not in proc.stdout and "epoch  2/2" in proc.stdout
    from blurutils.training import model_problem

    assert model_problem(model) is None
    assert (out / "runs" / RUN / "per_frame_metrics.csv").read_bytes() == metrics


def keras_like(path: Path, **entries: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_model_problem_checks_without_loading(tmp_path):
    from blurutils.training import model_problem

    good = keras_like(tmp_path / "good.keras", **{
        "metadata.json": b"{}", "config.json": b'{"class_name": "Functional"}',
        "model.weights.h5": b"w" * 1000})
    assert model_problem(good) is None
    cut = tmp_path / "cut.keras"
    cut.write_bytes(good.read_bytes()[:-40])
    flipped = bytearray(good.read_bytes())
    start = flipped.find(b"w" * 100)
    flipped[start + 10] ^= 0xFF  # a damaged weight: its checksum no longer matches
    (tmp_path / "flipped.keras").write_bytes(bytes(flipped))
    no_weights = keras_like(tmp_path / "no-weights.keras",
                            **{"config.json": b'{"class_name": "Functional"}'})
    for path, words in ((cut, "not a complete"), (tmp_path / "flipped.keras", "not a complete"),
                        (no_weights, "no weights")):
        problem = model_problem(path)
        assert problem and words in problem, (path.name, problem)


def test_interpolate_says_the_model_file_is_damaged(tmp_path):
    """It said "File not found" for a file that exists."""
    damaged = tmp_path / "model.keras"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"w" * 100_000)
    damaged.write_bytes(buffer.getvalue()[:50_000])
    proc = cli("interpolate", "sample", "--method", "bidirectional", "--model", str(damaged),
               "--out", str(tmp_path / "x.mp4"), data=tmp_path / "data")
    assert proc.returncode == 2
    line = one_line(proc.stderr, "interpolate", "model.keras", "damaged")
    assert "not found" not in line.lower()
    assert not (tmp_path / "x.mp4").exists()


# ============================================================ 6. set-aside runs

def test_switching_a_setting_back_brings_back_the_set_aside_run(conv_study, tmp_path):
    out = copy_study(conv_study, tmp_path)
    metrics = (out / "runs" / RUN / "per_frame_metrics.csv").read_bytes()
    other = reproduce_conv(tmp_path, out, "--epochs", "1")
    assert other.returncode == 0, other.stderr[-3000:]
    assert "epoch  1/1" in other.stdout and f"{RUN}.previous-" in other.stdout
    back = reproduce_conv(tmp_path, out)
    assert back.returncode == 0, back.stderr[-3000:]
    assert "brought back" in back.stdout, back.stdout
    assert not re.search(r"epoch +\d+/\d+", back.stdout)  # nothing trained
    assert (out / "runs" / RUN / "per_frame_metrics.csv").read_bytes() == metrics
    kept = sorted(p.name for p in (out / "runs").iterdir() if p.name != RUN)
    assert len(kept) == 1 and kept[0].startswith(f"{RUN}.previous-")  # the 1-epoch run


def _fake_finished(files, epochs: int) -> None:
    from blurutils.training import RunConfig, write_history

    config = RunConfig(model="Convolutional", loss="MSE", epochs=epochs)
    files.dir.mkdir(parents=True)
    files.config.write_text(json.dumps({"status": "done", "fingerprint": config.fingerprint()}))
    keras_like(files.model, **{"config.json": b'{"class_name": "Functional"}',
                               "model.weights.h5": b"w"})
    write_history(files.history, [{"epoch": e, "loss": 0.5, "val_loss": 0.6}
                                  for e in range(1, epochs + 1)])


def test_set_aside_runs_are_bounded_oldest_first_and_never_a_users(tmp_path):
    from blurutils.training import (MAX_SET_ASIDE, RunConfig, RunFiles, read_json,
                                    set_aside_folders, set_aside_run)

    files = RunFiles(tmp_path / "runs" / RUN)
    lines: list[str] = []
    kept = []
    for epochs in range(1, MAX_SET_ASIDE + 4):
        _fake_finished(files, epochs)
        kept.append(set_aside_run(files, read_json(files.config), lines.append))
        os.utime(kept[-1], ns=(epochs * 10**9, epochs * 10**9))  # set aside in this order
        if epochs == 2:
            (kept[-1] / "my-notes.txt").write_text("a user's file: never deleted")
    left = set_aside_folders(files)
    ours = [folder for folder in left if not (folder / "my-notes.txt").exists()]
    assert len(ours) == MAX_SET_ASIDE and ours == kept[-MAX_SET_ASIDE:]
    assert kept[1] in left and (kept[1] / "my-notes.txt").is_file()
    assert not kept[0].exists() and sum("removed the oldest" in line for line in lines) == 2
    assert RunConfig(model="Convolutional", loss="MSE", epochs=1).fingerprint()[:16] in \
        kept[0].name


def test_train_run_brings_back_a_set_aside_run(tmp_path):
    from blurutils.pairs import examples_for, split_targets
    from blurutils.training import RunConfig, train_run

    frames = np.random.default_rng(0).integers(0, 256, (8, 100, 200), dtype=np.uint8)
    split = split_targets(len(frames))
    train, test = examples_for("forward", split.train), examples_for("forward", split.test)
    base = dict(model="Convolutional", loss="MSE", batch_size=1, conv_filters=2,
                jit_compile=False, checkpoint_interval_s=0)
    run_dir = tmp_path / "runs" / RUN
    for epochs in (1, 2):
        train_run(RunConfig(epochs=epochs, **base), frames, train, test, run_dir,
                  report=lambda line: None)
    lines: list[str] = []
    train_run(RunConfig(epochs=1, **base), frames, train, test, run_dir, report=lines.append)
    assert any("brought back" in line for line in lines), lines
    assert not any("epoch " in line for line in lines)
    assert json.loads((run_dir / "run.json").read_text())["epochs"] == 1


# ============================================================ 7. the machine's limits

def _can_mount_read_only(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(["unshare", "-rm", "sh", "-c",
                           f"mount --bind {probe} {probe} && mount -o remount,bind,ro {probe} "
                           f"&& ! touch {probe}/x"], capture_output=True)
    return done.returncode == 0


def test_a_read_only_data_folder_with_complete_caches_is_used(tmp_path):
    """A real read-only mount (user and mount namespace): the cached frames are read;
    frames not cached are decoded with a warning; writing a video there is one line."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs unshare with a user and mount namespace")
    data = tmp_path / "data"
    first = cli("frames", "sample", "--max-frames", "5", data=data)
    assert first.returncode == 0, first.stderr
    before = snapshot(data)
    script = (f"mount --bind {data} {data} && mount -o remount,bind,ro {data} && "
              f"{sys.executable} -m blurutils frames sample --max-frames 5; echo rc=$?; "
              f"{sys.executable} -m blurutils frames sample --max-frames 6; echo rc=$?; "
              f"{sys.executable} -m blurutils fetch synthetic --n-frames 10; echo rc=$?")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env_for(data),
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.count("rc=0") == 2 and "rc=2" in proc.stdout, proc.stdout + proc.stderr
    assert "5 frames" in proc.stdout and "cache: not written" in proc.stdout
    assert "Traceback" not in proc.stderr and "not writable" not in proc.stderr
    assert "blurutils fetch: error:" in proc.stderr and "Read-only file system" in proc.stderr
    assert snapshot(data) == before


def test_stale_temporaries_of_killed_processes_leave_the_data_folder(tmp_path):
    """SIGKILL while the frames cache and the synthetic video are being written leaves
    their temporaries; the next blurutils process that takes the data lock removes
    them — and nothing else: a user's look-alike and a live process's stay."""
    data = tmp_path / "data"
    frames_dir, raw = data / "frames", data / "raw"
    killed = cli("frames", "sample", "--max-frames", "7", data=data,
                 env={"BLURUTILS_CRASH_AT": "write:1"})
    assert killed.returncode == -9
    stale_npy = list(frames_dir.glob(".*.bu*.tmp.npy"))
    assert len(stale_npy) == 1 and stale_npy[0].stat().st_size > 100_000
    user = frames_dir / ".notes.tmp.npy"
    user.write_bytes(b"mine")
    live = frames_dir / f".other.bu{os.getpid()}-abcdefgh.tmp.npy"  # this process lives
    live.write_bytes(b"in flight")
    killed = cli("fetch", "synthetic", "--n-frames", "10", data=data,
                 env={"BLURUTILS_CRASH_AT": "write:1"})
    assert killed.returncode == -9
    assert not stale_npy[0].exists()  # removed by the second process, under the lock
    stale_mp4 = list(raw.glob(".synthetic-*.bu*.tmp.mp4"))
    assert len(stale_mp4) == 1
    done = cli("frames", "sample", "--max-frames", "5", data=data)
    assert done.returncode == 0, done.stderr
    assert not stale_mp4[0].exists()
    assert user.read_bytes() == b"mine" and live.read_bytes() == b"in flight"


def test_a_memory_limit_is_one_line_exit_1(tmp_path):
    """Under ``ulimit -v`` 1.5 GB the run's worker cannot even map TensorFlow: one line
    naming the limit and --frame-layout half, exit 1, no traceback."""
    limit = int(1.5 * 2**30)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = cli("reproduce", "--profile", "smoke", "--models", "Forward", "--losses", "MSE",
               "--out", str(tmp_path / "out"), data=tmp_path / "data", preexec_fn=limited)
    assert proc.returncode == 1, proc.stderr[-3000:]
    one_line(proc.stderr, "reproduce", "out of memory", "ulimit -v", "--frame-layout half")
