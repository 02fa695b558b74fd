"""Reliability and safety (issue #7, sections 3 and 4): bad inputs and hostile files.

Section 3 — every bad input a user can give is answered with exit status 2 and exactly
one non-empty line on stderr naming the input and the problem (no traceback), or, through
the API, with a specific :class:`~blurutils.errors.BlurUtilsError` subclass; and nothing
already computed is lost: a frames cache made by an earlier command and an earlier
study's results folder are byte-for-byte untouched afterwards.  Many bad inputs are
already tested at the API level in test_frames/test_sources/test_metrics/test_config and
some on the command line in test_cli; this file adds the rest (``docs/RELIABILITY.md``
maps every case to its test).

Section 4 — safety: only http(s) URLs reach yt-dlp; nothing a user passes can write
outside the data folder; models load in Keras's safe mode (a Lambda layer is refused,
its code never runs); ``.npy`` files load with ``allow_pickle=False``; YAML loads with
``yaml.safe_load``'s constructors (a ``!!python`` tag runs nothing).

Second round (issue 16, at the end of the file): ownership (only blurutils' own
temporaries are deleted; real file locks on the results and data folders), validation
before anything is destroyed, bounds on every number and size, special files refused, a
full disk, SIGTERM/SIGHUP, corrupt run files, secrets in URLs, inputs as outputs.

Everything here is fast: the only training is two tiny 1-epoch conv runs.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurutils import sources
from blurutils.cli import main
from blurutils.errors import BlurUtilsError, ConfigError, FrameError, SourceError
from blurutils.frames import cache_path, extract_frames, load_frames, read_cache
from blurutils.paths import data_dir, frames_dir, raw_dir
from blurutils.sources import cache_key, resolve_source, sample_path, synthetic_path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "blurutils"


# --------------------------------------------------------------------------- helpers

def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m blurutils ARGS`` in a fresh process, with this test's data folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BLURUTILS_DEBUG", "OPENCV_FFMPEG_LOGLEVEL", "TF_CPP_MIN_LOG_LEVEL",
                        "BLURUTILS_CRASH_AT")}
    env["PYTHONPATH"] = str(REPO)
    env["BLURUTILS_DATA_DIR"] = os.environ["BLURUTILS_DATA_DIR"]  # per test (conftest)
    env["BLURUTILS_RESULTS_DIR"] = str(cwd / "default-results")
    return subprocess.run([sys.executable, "-m", "blurutils", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def one_line(err: str, command: str, *words: str) -> str:
    """Exactly one non-empty line on stderr, naming the command and ``words``."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"blurutils {command}: error: "), line
    for word in words:
        assert word.lower() in line.lower(), (word, line)
    return line


def assert_user_error(proc: subprocess.CompletedProcess, command: str, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout
    return one_line(proc.stderr, command, *words)


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under ``folders``: path -> sha256 of its bytes."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def write_video(path: Path, n: int, width: int, height: int, fourcc: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(n):
        writer.write(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    writer.release()
    return path


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class Payload:
    """Unpickling this creates ``marker``: proof that a pickle was (not) executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def _restore_env(monkeypatch):
    """``main`` may set OPENCV_FFMPEG_LOGLEVEL in os.environ; undo it after each test."""
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "placeholder")
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL")
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> dict[str, Path]:
    """Bad input files, made once (read only by the tests)."""
    d = tmp_path_factory.mktemp("bad")
    files: dict[str, Path] = {"dir": d}
    files["empty"] = d / "empty.mp4"
    files["empty"].touch()
    files["n1"] = write_video(d / "one-frame.mp4", 1, 400, 200)
    files["n2"] = write_video(d / "two-frames.mp4", 2, 400, 200)
    files["small"] = write_video(d / "small.mp4", 5, 160, 120)
    full = write_video(d / "full.avi", 30, 400, 200, fourcc="MJPG").read_bytes()
    files["truncated"] = d / "truncated.avi"
    files["truncated"].write_bytes(full[: int(len(full) * 0.4)])
    damaged = bytearray(full)          # every 7th byte of the middle third flipped
    for i in range(len(damaged) // 3, 2 * len(damaged) // 3, 7):
        damaged[i] ^= 0xFF
    files["corrupt"] = d / "corrupt.avi"
    files["corrupt"].write_bytes(bytes(damaged))
    mp4 = bytearray(write_video(d / "full.mp4", 30, 400, 200).read_bytes())
    for i in range(len(mp4) // 3, 2 * len(mp4) // 3, 7):
        mp4[i] ^= 0xFF
    files["corrupt_mp4"] = d / "corrupt.mp4"
    files["corrupt_mp4"].write_bytes(bytes(mp4))
    files["inf"] = d / "inf.npy"
    np.save(files["inf"], np.full((3, 100, 200), np.inf))
    files["int64"] = d / "int64.npy"
    np.save(files["int64"], np.zeros((3, 100, 200), np.int64))
    files["rgb"] = d / "rgb.npy"
    np.save(files["rgb"], np.zeros((2, 100, 200, 3)))
    files["pickled"] = d / "pickled.npy"
    np.save(files["pickled"], np.array([Payload(d / "PICKLE-RAN"), None], dtype=object),
            allow_pickle=True)
    flat = np.random.default_rng(0).random((3, 100, 200))
    flat[1] = 0.5                                      # one constant frame: BF = inf
    files["constant"] = d / "one-constant-frame.npy"
    np.save(files["constant"], flat)
    files["yaml_type"] = d / "wrong-type.yaml"
    files["yaml_type"].write_text('profile: smoke\nepochs: "ten"\n')
    files["yaml_key"] = d / "typo.yaml"
    files["yaml_key"].write_text("profile: smoke\nepoch: 3\n")
    files["yaml_evil"] = d / "evil.yaml"
    files["yaml_evil"].write_text(
        f"epochs: !!python/object/apply:os.system ['touch {d / 'YAML-RAN'}']\n")
    return files


@pytest.fixture
def precious(tmp_path) -> dict[str, dict[str, str]]:
    """What earlier commands computed: a frames cache (``frames sample --max-frames
    5``) and a study's results folder.  Returns their snapshot."""
    load_frames("sample", max_frames=5)
    results = tmp_path / "results"
    (results / "runs" / "Forward-MSE").mkdir(parents=True)
    for name, text in [("config.yaml", "profile: demo\nepochs: 10\n"),
                       ("table1_blur_factor.csv", "paper_row,mean\nForward MLAE - MSE,3.5\n"),
                       ("REPORT.md", "# an earlier study\n"),
                       ("runs/Forward-MSE/run.json", '{"status": "done"}'),
                       ("runs/Forward-MSE/model.keras", "weights"),
                       ("runs/Forward-MSE/per_frame_metrics.csv", "frame,bf_pred\n1,3.5\n")]:
        (results / name).write_text(text)
    shot = {"cache": snapshot(frames_dir()), "results": snapshot(results)}
    assert len(shot["cache"]) == 1 and len(shot["results"]) == 6
    return shot


def assert_nothing_lost(precious: dict[str, dict[str, str]], tmp_path: Path) -> None:
    """The earlier frames cache is intact; the results folder is exactly as it was."""
    cache = snapshot(frames_dir())
    assert {k: cache.get(k) for k in precious["cache"]} == precious["cache"]
    # A command that got as far as taking the folder's lock leaves its (empty) lock
    # file and the pid beside it; every earlier file is byte-identical, nothing else new.
    after = {k: v for k, v in snapshot(tmp_path / "results").items()
             if not Path(k).name.startswith(".blurutils.lock")}
    assert after == precious["results"]


# --------------------------------------------------------------------------- §3 CLI, one line

CLI_CASES = {
    # id: (argv, command, words the line must contain)
    "empty-video": (["frames", "{empty}"], "frames", ["empty.mp4", "empty (0 bytes)"]),
    "truncated-video": (["frames", "{truncated}"], "frames",
                        ["truncated.avi", "truncated", "of the 30 frames"]),
    "corrupt-video": (["frames", "{corrupt}"], "frames", ["corrupt.avi", "corrupt"]),
    "corrupt-mp4-blur": (["blur", "{corrupt_mp4}"], "blur", ["corrupt.mp4", "corrupt"]),
    "one-frame-video": (["frames", "{n1}"], "frames", ["one-frame.mp4", "only 1 frame"]),
    "two-frame-video": (["frames", "{n2}"], "frames", ["two-frames.mp4", "only 2 frame"]),
    "frames-too-small": (["frames", "{small}"], "frames",
                         ["small.mp4", "160x120", "smaller than 200x100"]),
    "malformed-url": (["fetch", "http://exa mple.com/a.mp4"], "fetch",
                      ["malformed URL", "exa mple.com"]),
    "url-without-host": (["frames", "http:/nohost"], "frames", ["malformed URL", "no host"]),
    "ftp-url": (["fetch", "ftp://example.com/a.mp4"], "fetch",
                ["unsupported URL scheme 'ftp:'", "only http"]),
    "javascript-url": (["frames", "javascript:alert(1)"], "frames",
                       ["'javascript:'", "only http"]),
    "unreachable-url": (["fetch", "http://127.0.0.1:{port}/clip.mp4"], "fetch",
                        ["cannot download", "127.0.0.1", "refused", "offline"]),
    "unknown-source": (["frames", "synthtic"], "frames",
                       ["unknown source 'synthtic'", "did you mean 'synthetic'"]),
    "zero-max-frames": (["frames", "sample", "--max-frames", "0"], "frames",
                        ["--max-frames", "positive"]),
    "two-max-frames": (["frames", "sample", "--max-frames", "2"], "frames",
                       ["max_frames=2", "at least 3"]),
    "negative-n-frames": (["fetch", "synthetic", "--n-frames", "-5"], "fetch",
                          ["--n-frames", "-5"]),
    "negative-epochs": (["reproduce", "--epochs", "-1", "--out", "{out}"], "reproduce",
                        ["--epochs", "-1"]),
    "inf-array": (["blur", "{inf}"], "blur", ["inf.npy", "infinite"]),
    "int64-array": (["blur", "{int64}"], "blur", ["int64.npy", "dtype int64"]),
    "rgb-array-shape": (["blur", "{rgb}"], "blur", ["rgb.npy", "shape (2, 100, 200, 3)"]),
    "yaml-wrong-type": (["reproduce", "--config", "{yaml_type}", "--out", "{out}"],
                        "reproduce", ["wrong-type.yaml", "epochs='ten'", "expected int"]),
    "yaml-unknown-key": (["reproduce", "--config", "{yaml_key}", "--out", "{out}"],
                         "reproduce", ["typo.yaml", "unknown key(s) epoch"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_bad_input(case, bad, precious, tmp_path):
    argv, command, words = CLI_CASES[case]
    values = {**{k: str(v) for k, v in bad.items()}, "port": str(closed_port()),
              "out": str(tmp_path / "results")}
    proc = cli(*[a.format(**values) for a in argv], cwd=tmp_path)
    assert_user_error(proc, command, *words)
    assert proc.stdout == ""
    assert_nothing_lost(precious, tmp_path)


def test_api_corrupt_video_is_a_frame_error(bad):
    for key in ("corrupt", "corrupt_mp4"):
        with pytest.raises(FrameError, match=rf"{bad[key].name}: truncated or corrupt"):
            extract_frames(bad[key])
        with pytest.raises(FrameError, match=bad[key].name):
            load_frames(bad[key])
    assert list(frames_dir().iterdir()) == []          # nothing cached from a bad video


def test_cli_empty_test_split_keeps_earlier_results(precious, tmp_path):
    """4 frames, blocked split: 1 training target, 0 test targets.  The frames are
    decoded before the split is known; the earlier results (config.yaml included) stay."""
    proc = cli("reproduce", "--profile", "smoke", "--max-frames", "4", "--split", "blocked",
               "--out", str(tmp_path / "results"), cwd=tmp_path)
    assert_user_error(proc, "reproduce", "4 frames give 1 training and 0 test targets",
                      "use more frames")
    assert_nothing_lost(precious, tmp_path)


def test_cli_unknown_model_keeps_earlier_results(precious, tmp_path, capfd):
    """In-process (test_cli.py checks the same error in a subprocess): the earlier
    study's folder is untouched."""
    assert main(["reproduce", "--profile", "smoke", "--models", "Forward,LSTM",
                 "--out", str(tmp_path / "results")]) == 2
    one_line(capfd.readouterr().err, "reproduce", "unknown model 'LSTM'")
    assert_nothing_lost(precious, tmp_path)


def test_cli_constant_frame_is_counted_not_averaged(bad, capsys):
    """A flat frame has BF = inf: reported and counted, never averaged (exit 0)."""
    assert main(["blur", str(bad["constant"])]) == 0
    out = capsys.readouterr().out
    assert "finite 2 of 3; infinite (flat images) 1" in out
    from blurutils.metrics import blur_factor

    bf = blur_factor(np.load(bad["constant"]))
    assert np.isinf(bf[1]) and np.isfinite(bf[[0, 2]]).all()
    assert f"mean {np.mean(bf[[0, 2]]):.4g}" in out


# --------------------------------------------------------------------------- §3 URLs in-process

class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    """Keeps the server's own tracebacks off stderr (yt-dlp hangs up after reading the
    headers when the size is over the limit): only blurutils' stderr is under test."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass


@pytest.fixture
def server(tmp_path, bad):
    root = tmp_path / "www"
    root.mkdir()
    (root / "clip.mp4").write_bytes(bad["small"].read_bytes())
    srv = _QuietServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def test_cli_url_larger_than_the_size_limit(server, bad, precious, tmp_path, capfd,
                                            monkeypatch):
    monkeypatch.setitem(sources.resolve_source.__kwdefaults__, "max_filesize", 1000)
    url = f"{server}/clip.mp4"
    assert main(["fetch", url]) == 2
    captured = capfd.readouterr()
    assert captured.out == ""
    one_line(captured.err, "fetch", url, "larger than the size limit",
             f"{bad['small'].stat().st_size} bytes > 1000 bytes")
    assert list(raw_dir().iterdir()) == []            # no partial download left
    assert_nothing_lost(precious, tmp_path)


def test_cli_playlist_url(monkeypatch, precious, tmp_path, capfd):
    yt_dlp = pytest.importorskip("yt_dlp")
    downloads = []

    class Playlist:
        def __init__(self, params):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def extract_info(self, url, download=True):
            return {"_type": "playlist", "id": "PL1", "entries": [{"id": "a"}, {"id": "b"}]}

        def process_ie_result(self, info, download=True):
            downloads.append(info)

    monkeypatch.setattr(yt_dlp, "YoutubeDL", Playlist)
    url = "https://www.youtube.com/playlist?list=PL1"
    assert main(["frames", url]) == 2
    captured = capfd.readouterr()
    one_line(captured.err, "frames", url, "playlist or channel, not a single video")
    assert downloads == [] and list(raw_dir().iterdir()) == []
    assert_nothing_lost(precious, tmp_path)


# --------------------------------------------------------------------------- §3 caches and models

def test_corrupt_frames_cache_via_cli_is_rebuilt(capsys):
    """A frames cache holding garbage is detected, deleted and rebuilt, not trusted."""
    assert main(["frames", "sample", "--max-frames", "5"]) == 0
    target = cache_path(sample_path(), max_frames=5, step=1, start=None, end=None)
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2])                     # cut short
    assert main(["frames", "sample", "--max-frames", "5"]) == 0
    assert "5 frames, shape (5, 100, 200), dtype uint8" in capsys.readouterr().out
    assert target.read_bytes() == good


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


# --------------------------------------------------------------------------- §4 safety

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


def test_safety_pickled_frames_cache_is_rejected_and_rebuilt(bad):
    """A .npy frame cache holding a pickled object array is deleted and rebuilt; the
    pickle is never executed."""
    marker = bad["dir"] / "PICKLE-RAN"
    load_frames("sample", max_frames=5)
    target = cache_path(sample_path(), max_frames=5, step=1, start=None, end=None)
    good = target.read_bytes()
    target.write_bytes(bad["pickled"].read_bytes())
    assert read_cache(target) is None
    assert not target.exists()
    target.write_bytes(bad["pickled"].read_bytes())
    assert load_frames("sample", max_frames=5).shape == (5, 100, 200)
    assert target.read_bytes() == good
    assert not marker.exists()


def test_safety_pickled_npy_in_blur_cli(bad, tmp_path):
    proc = cli("blur", str(bad["pickled"]), cwd=tmp_path)
    assert_user_error(proc, "blur", "pickled.npy", "allow_pickle=False")
    assert not (bad["dir"] / "PICKLE-RAN").exists()


def test_safety_pickle_payload_is_live_with_allow_pickle(bad, tmp_path):
    """Control: the payload is real — np.load(allow_pickle=True) would run it."""
    marker = bad["dir"] / "PICKLE-RAN"
    np.load(bad["pickled"], allow_pickle=True)
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize("text", [
    "epochs: !!python/object/apply:os.system ['touch {marker}']\n",
    "!!python/object/apply:os.system ['touch {marker}']\n",
    "seed: !!python/object/new:subprocess.check_output [['touch', '{marker}']]\n",
    "out: !!python/name:os.system\n",
])
def test_safety_yaml_python_tags_run_nothing(tmp_path, text):
    from blurutils.config import load_config

    marker = tmp_path / "YAML-RAN"
    path = tmp_path / "evil.yaml"
    path.write_text(text.format(marker=marker))
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(path)
    assert "evil.yaml" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


def test_safety_yaml_python_tag_in_reproduce_cli(bad, precious, tmp_path):
    proc = cli("reproduce", "--config", str(bad["yaml_evil"]), "--out",
               str(tmp_path / "results"), cwd=tmp_path)
    assert_user_error(proc, "reproduce", "evil.yaml", "not valid YAML")
    assert not (bad["dir"] / "YAML-RAN").exists()
    assert_nothing_lost(precious, tmp_path)


NOT_HTTP = ["file:///etc/passwd", "FILE://localhost/etc/hostname", "ftp://example.com/a.mp4",
            "javascript:alert(1)", "data:video/mp4;base64,AAAA", "../../../etc/passwd.mp4",
            "videos/../../x.mp4", "http:/nohost", "http:nohost/a.mp4", "https:///a.mp4",
            " file:///etc/passwd", "sftp://host/a.mp4", "//example.com/a.mp4"]


@pytest.fixture
def refuse_ytdlp(monkeypatch):
    """Constructing yt_dlp.YoutubeDL fails the test."""
    yt_dlp = pytest.importorskip("yt_dlp")
    calls: list = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("yt_dlp.YoutubeDL constructed for a non-http(s) source")

    monkeypatch.setattr(yt_dlp, "YoutubeDL", refuse)
    return calls


@pytest.mark.parametrize("source", NOT_HTTP)
def test_safety_only_http_urls_reach_ytdlp(source, refuse_ytdlp, tmp_path, capfd):
    with pytest.raises(SourceError):
        resolve_source(source)
    with pytest.raises(BlurUtilsError):
        load_frames(source)
    for command in ("fetch", "frames"):
        assert main([command, source]) == 2
        one_line(capfd.readouterr().err, command)
    assert refuse_ytdlp == []
    assert list(raw_dir().iterdir()) == [] and list(frames_dir().iterdir()) == []


def test_safety_only_http_urls_reach_ytdlp_in_a_study(refuse_ytdlp, tmp_path):
    from blurutils.config import make_config
    from blurutils.study import run_study

    config = make_config("smoke", source="file:///etc/passwd", out=str(tmp_path / "out"),
                         models=["Forward"], losses=["MSE"])
    with pytest.raises(SourceError, match="only http:// and https://"):
        run_study(config, report=lambda line: None)
    assert refuse_ytdlp == []
    assert not (tmp_path / "out" / "config.yaml").exists()


def test_safety_http_urls_do_reach_ytdlp(refuse_ytdlp):
    """Control: the refusal fixture works — an http URL does construct yt-dlp."""
    with pytest.raises(AssertionError, match="constructed"):
        resolve_source("https://example.com/clip.mp4")
    assert len(refuse_ytdlp) == 1


HOSTILE_URLS = [
    "https://example.com/../../../../etc/passwd",
    "https://example.com/%2e%2e/%2e%2e/%2e%2e/x.mp4",
    "https://example.com/..%2F..%2F..%2Fx.mp4",
    "https://www.youtube.com/watch?v=..%2F..%2Fetc",
    "https://youtu.be/../../x",
    "https://example.com/a\\..\\..\\b.mp4",
    "https://example.com/x.mp4?out=../../y&name=/etc/passwd",
    "https://example.com/%00.mp4",
    "https://example.com/" + "a" * 5000 + ".mp4",
    "https://例え.jp/ビデオ/../../動画.mp4",
    "http://user:pa/ss@example.com/x.mp4",
]


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=range(len(HOSTILE_URLS)))
def test_safety_url_downloads_stay_in_raw_dir(url, monkeypatch, tmp_path):
    """Whatever the URL, the download lands in raw_dir()/<key>.mp4 (resolved parent is
    raw_dir), yt-dlp is told to write only into a private folder in raw_dir, and a
    file yt-dlp reports outside that folder is never taken."""
    yt_dlp = pytest.importorskip("yt_dlp")
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"outside the data folder")
    seen: list[dict] = []

    class Fake:
        def __init__(self, params):
            self.params = params
            seen.append(params)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def extract_info(self, url, download=True):
            return {"id": "x", "title": "../../evil", "ext": "mp4"}

        def process_ie_result(self, info, download=True):
            home = Path(self.params["paths"]["home"])
            name = self.params["outtmpl"]["default"].replace("%(ext)s", "mp4")
            (home / name).write_bytes(b"video bytes")
            return {**info, "requested_downloads": [{"filepath": str(outside)}]}

    monkeypatch.setattr(yt_dlp, "YoutubeDL", Fake)
    try:
        key = cache_key(url)
    except SourceError:
        with pytest.raises(SourceError):
            resolve_source(url)
        assert seen == []
        return
    path = resolve_source(url, progress=False)
    raw = raw_dir().resolve()
    assert path.resolve().parent == raw and path.name == f"{key}.mp4"
    assert path.read_bytes() == b"video bytes"
    assert outside.read_bytes() == b"outside the data folder"      # not moved or taken
    params = seen[0]
    assert Path(params["paths"]["home"]).resolve().parent == raw
    assert params["paths"]["temp"] == params["paths"]["home"]
    assert os.sep not in params["outtmpl"]["default"] and ".." not in params["outtmpl"]["default"]
    assert params["cachedir"] is False and params["restrictfilenames"] is True
    assert sorted(p.name for p in raw.iterdir()) == [f"{key}.json", f"{key}.mp4"]
    assert [p for p in data_dir().rglob("*") if p.is_file() and p.parent != raw
            and not p.name.startswith(".blurutils.lock")] == []  # the data folder's lock


@pytest.mark.parametrize("options", [
    dict(n_frames="../../x"), dict(seed="0/../../../tmp/x"), dict(width="400/.."),
    dict(fps="25/../../x"), dict(fps=float("nan")), dict(n_frames=12.5), dict(seed=True),
])
def test_safety_synthetic_options_never_reach_a_path(options, monkeypatch):
    import blurutils.synthetic

    monkeypatch.setattr(blurutils.synthetic, "write_synthetic_video",
                        lambda *a, **k: pytest.fail("writer called with a bad option"))
    with pytest.raises(SourceError):
        synthetic_path(**options)
    assert list(raw_dir().iterdir()) == []


@pytest.mark.parametrize("options", [
    dict(seed=-1), dict(n_frames=10**12), dict(fps=1e300), dict(fps=0.001),
    dict(width=np.int64(400), seed=np.int32(7)),
])
def test_safety_synthetic_files_stay_in_raw_dir(options, monkeypatch):
    import blurutils.synthetic

    written: list[Path] = []

    def fake_writer(target, n, **kwargs):
        written.append(Path(target))
        Path(target).write_bytes(b"video")
        return target

    monkeypatch.setattr(blurutils.synthetic, "write_synthetic_video", fake_writer)
    path = synthetic_path(**options)
    assert written and written[0].resolve().parent == raw_dir().resolve()
    assert path.resolve().parent == raw_dir().resolve()


@pytest.mark.parametrize("name", ["..mp4", "...", "a..b.mp4", "-rf .mp4", "$(touch x).mp4",
                                  "vidéo ünïcode.mp4", "x" * 240 + ".mp4", "back\\slash.mp4"])
def test_safety_frame_caches_stay_in_frames_dir(name, tmp_path):
    video = tmp_path / name
    video.write_bytes(b"not decoded here")
    target = cache_path(video, max_frames=None, step=1, start=None, end=None)
    assert target.resolve().parent == frames_dir().resolve()
    assert target.suffix == ".npy" and ".." not in target.stem and "\\" not in target.name


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and \
                isinstance(func.value, ast.Name) else ""
            yield node, owner, name


def _keyword(node: ast.Call, key: str):
    for kw in node.keywords:
        if kw.arg == key and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return "missing"


def test_safety_package_source_uses_only_safe_loaders():
    """Every loader call in blurutils/ is the safe one: load_model(safe_mode=True),
    np.load(allow_pickle=False), yaml.safe_load; no pickle, eval or exec; Keras's unsafe
    deserialization is never enabled.

    Two exceptions: ``isolation.py`` pickles a run's job to its own worker process over
    that process's stdin and a private pipe — never to or from a file; ``cluster.py``
    unpickles, inside a Dask task, only the job its own caller pickled (Dask itself moves
    tasks between the machines of a trusted cluster with pickle)."""
    found = {"load_model": 0, "np.load": 0, "yaml.safe_load": 0}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                banned = {"pickle", "dill", "marshal", "shelve"} & set(names)
                assert not banned or (path.name in ("isolation.py", "cluster.py")
                                      and banned == {"pickle"}), path
        for node, owner, name in _calls(tree):
            where = f"{path.name}:{node.lineno}"
            if name == "load_model":
                assert _keyword(node, "safe_mode") is True, where
                found["load_model"] += 1
            elif owner in ("np", "numpy") and name == "load":
                assert _keyword(node, "allow_pickle") is False, where
                found["np.load"] += 1
            elif owner == "yaml":
                assert name in ("safe_load", "safe_dump"), where
                found["yaml.safe_load"] += name == "safe_load"
            assert name not in ("eval", "exec", "enable_unsafe_deserialization"), where
        for node in ast.walk(tree):  # no unsafe YAML loader is even named
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "yaml":
                assert node.attr not in ("Loader", "UnsafeLoader", "FullLoader", "load",
                                         "unsafe_load", "full_load", "load_all"), path.name
    # Configs load through a subclass of yaml.SafeLoader (safe_load's constructors, plus
    # duplicate-key and alias-bomb checks): it counts as a safe_load.
    import yaml

    from blurutils import config as config_module

    assert issubclass(config_module._strict_loader_class(), yaml.SafeLoader)
    found["yaml.safe_load"] += 1
    assert all(found.values()), found


# =========================================================================== second round
# Issue 16: own only what you wrote, validate before you destroy, bound every input,
# survive a full disk and SIGTERM, never echo a secret.  docs/RELIABILITY.md rows 38-.

def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.fixture(scope="module")
def bad2(tmp_path_factory) -> dict[str, Path]:
    """Hostile inputs of the second round, made once (read only by the tests)."""
    d = tmp_path_factory.mktemp("bad2")
    files: dict[str, Path] = {"dir": d}
    files["fifo_yaml"] = _fifo(d / "config.yaml")
    files["fifo_npy"] = _fifo(d / "frames.npy")
    files["fifo_mp4"] = _fifo(d / "video.mp4")
    huge = d / "huge-header.npy"               # a header claiming 8 TB, 128 bytes of data
    with open(huge, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
        f.write(b"\0" * 128)
    files["huge_npy"] = huge
    short = d / "short.npy"                    # a header promising more than the file holds
    np.save(short, np.zeros((3, 100, 200), np.uint8))
    short.write_bytes(short.read_bytes()[:-1000])
    files["short_npy"] = short
    files["float255"] = d / "float255.npy"
    np.save(files["float255"], np.random.default_rng(0).random((3, 100, 200)) * 255)
    files["negative"] = d / "negative.npy"
    np.save(files["negative"], np.random.default_rng(0).random((2, 100, 200)) - 0.5)
    from PIL import Image
    rng = np.random.default_rng(1)
    pages = [Image.fromarray(rng.integers(0, 256, (100, 200), dtype=np.uint8), mode="L")
             for _ in range(5)]
    files["gif"] = d / "animated.gif"
    pages[0].save(files["gif"], save_all=True, append_images=pages[1:], duration=40, loop=0)
    files["yaml_big"] = d / "big.yaml"
    files["yaml_big"].write_text("profile: smoke\n" + "# padding\n" * 120_000)
    files["yaml_bomb"] = d / "bomb.yaml"
    files["yaml_bomb"].write_text(
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "models: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n")
    files["yaml_dup"] = d / "dup.yaml"
    files["yaml_dup"].write_text("profile: smoke\nepochs: 2\nseed: 1\nepochs: 50\n")
    files["yaml_seed"] = d / "seed.yaml"
    files["yaml_seed"].write_text("profile: smoke\nseed: 4294967296\n")
    files["yaml_epochs"] = d / "epochs.yaml"
    files["yaml_epochs"].write_text("profile: smoke\nepochs: 1000000000\n")
    files["yaml_steps"] = d / "steps.yaml"
    files["yaml_steps"].write_text("profile: smoke\nconv_steps_per_execution: 1000000000000\n")
    files["yaml_nan"] = d / "nan.yaml"
    files["yaml_nan"].write_text("profile: smoke\ncheckpoint_interval_s: .nan\n")
    files["yaml_nul"] = d / "nul.yaml"
    files["yaml_nul"].write_text('profile: smoke\nsource: "clip\\0.mp4"\n')
    # An AVI whose header claims two billion frames (10 are there).
    avi = bytearray(write_video(d / "ten.avi", 10, 400, 200, fourcc="MJPG").read_bytes())
    import struct
    struct.pack_into("<I", avi, avi.find(b"avih") + 8 + 16, 2_000_000_000)
    struct.pack_into("<I", avi, avi.find(b"strh") + 8 + 32, 2_000_000_000)
    files["billions"] = d / "billions.avi"
    files["billions"].write_bytes(bytes(avi))
    files["clip"] = write_video(d / "clip.mp4", 6, 400, 200)
    files["a_file"] = d / "a-file"
    files["a_file"].write_text("not a folder")
    return files


CLI_CASES_2 = {
    # id: (argv, command, words the line must contain)
    "seed-too-large": (["reproduce", "--seed", "4294967296", "--out", "{out}"], "reproduce",
                       ["--seed", "2**32"]),
    "yaml-seed-too-large": (["reproduce", "--config", "{yaml_seed}", "--out", "{out}"],
                            "reproduce", ["seed=4294967296", "2**32"]),
    "epochs-too-large": (["reproduce", "--epochs", "2000000", "--out", "{out}"], "reproduce",
                         ["--epochs", "too large"]),
    "yaml-epochs-too-large": (["reproduce", "--config", "{yaml_epochs}", "--out", "{out}"],
                              "reproduce", ["epochs=1000000000", "between 1 and 1,000"]),
    "yaml-steps-too-large": (["reproduce", "--config", "{yaml_steps}", "--out", "{out}"],
                             "reproduce", ["conv_steps_per_execution", "between 1 and"]),
    "yaml-nan-interval": (["reproduce", "--config", "{yaml_nan}", "--out", "{out}"],
                          "reproduce", ["checkpoint_interval_s=nan"]),
    "yaml-nul-in-source": (["reproduce", "--config", "{yaml_nul}", "--out", "{out}"],
                           "reproduce", ["source=", "NUL"]),
    "start-nan": (["frames", "sample", "--start", "nan"], "frames", ["--start", "finite"]),
    "end-inf": (["frames", "sample", "--end", "inf"], "frames", ["--end", "finite"]),
    "n-frames-huge": (["fetch", "synthetic", "--n-frames", "10000000000"], "fetch",
                      ["--n-frames", "too large"]),
    "fifo-config": (["reproduce", "--config", "{fifo_yaml}", "--out", "{out}"], "reproduce",
                    ["config.yaml", "named pipe"]),
    "fifo-npy": (["blur", "{fifo_npy}"], "blur", ["frames.npy", "named pipe"]),
    "fifo-video": (["frames", "{fifo_mp4}"], "frames", ["video.mp4", "named pipe"]),
    "npy-header-terabytes": (["blur", "{huge_npy}"], "blur",
                             ["huge-header.npy", "header claims", "8,000,000,000,000 bytes"]),
    "npy-header-truncated": (["blur", "{short_npy}"], "blur", ["short.npy", "truncated"]),
    "video-header-billions": (["frames", "{billions}"], "frames",
                              ["billions.avi", "decoded 10 of the 2000000000 frames"]),
    "yaml-too-large": (["reproduce", "--config", "{yaml_big}", "--out", "{out}"], "reproduce",
                       ["big.yaml", "larger than 1,048,576 bytes"]),
    "yaml-alias-bomb": (["reproduce", "--config", "{yaml_bomb}", "--out", "{out}"],
                        "reproduce", ["bomb.yaml", "expands to more than 10,000"]),
    "yaml-duplicate-key": (["reproduce", "--config", "{yaml_dup}", "--out", "{out}"],
                           "reproduce", ["dup.yaml", "'epochs' appears twice", "lines 2 and 4"]),
    "float-0-255-blur": (["blur", "{float255}"], "blur", ["float255.npy", "outside [0, 1]"]),
    "float-negative-blur": (["blur", "{negative}"], "blur", ["negative.npy", "outside [0, 1]"]),
    "interpolate-out-is-input": (["interpolate", "{clip}", "--method", "copy", "--out",
                                  "{clip}"], "interpolate", ["clip.mp4", "is an input"]),
    "interpolate-out-is-directory": (["interpolate", "{clip}", "--method", "copy", "--out",
                                      "{dir}/adir.mp4"], "interpolate", ["is a directory"]),
    "interpolate-out-under-a-file": (["interpolate", "{clip}", "--method", "copy", "--out",
                                      "{a_file}/x.mp4"], "interpolate",
                                     ["a-file is a file, not a folder"]),
    "interpolate-out-in-frames-cache": (["interpolate", "{clip}", "--method", "copy", "--out",
                                         "{data}/frames/x.mp4"], "interpolate",
                                        ["inside the data folder"]),
    "url-password-redacted": (["fetch", "http://alice:hunter2@127.0.0.1:{port}/a.mp4?token=s3cr"],
                              "fetch", ["http://***@127.0.0.1", "token=***"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES_2))
def test_cli_bad_input_second_round(case, bad2, precious, tmp_path):
    """Exit 2, one line, no traceback, empty stdout, and nothing computed lost; a FIFO
    never blocks (each command is over in seconds)."""
    argv, command, words = CLI_CASES_2[case]
    (bad2["dir"] / "adir.mp4").mkdir(exist_ok=True)
    values = {k: str(v) for k, v in bad2.items()}
    values.update(out=str(tmp_path / "results"), port=str(closed_port()),
                  data=os.environ["BLURUTILS_DATA_DIR"])
    proc = cli(*[a.format(**values) for a in argv], cwd=tmp_path)
    line = assert_user_error(proc, command, *words)
    assert proc.stdout == ""
    assert "hunter2" not in proc.stderr + proc.stdout and "s3cr" not in proc.stderr
    if "float" in case:  # the message says what to do
        assert "divided by 255" in line
    assert_nothing_lost(precious, tmp_path)
    assert bad2["clip"].stat().st_size > 0 and bad2["a_file"].read_text() == "not a folder"


def test_cli_blur_on_an_animated_gif_measures_every_frame(bad2, capsys):
    """A multi-page image is a clip: each page is measured, not only the first."""
    assert main(["blur", str(bad2["gif"])]) == 0
    out = capsys.readouterr().out
    assert "5 frames of 100x200" in out and "finite 5 of 5" in out


def test_api_frame_count_is_bounded_by_memory_not_by_the_header(bad2, monkeypatch):
    """Frames are allocated as they arrive; past MAX_FRAME_BYTES a video without
    max_frames is one line, not a MemoryError."""
    import blurutils.frames as frames_mod

    monkeypatch.setattr(frames_mod, "MAX_FRAME_BYTES", 4 * 100 * 200)
    with pytest.raises(FrameError, match=r"more than 4 frames .*--max-frames"):
        extract_frames(bad2["clip"])
    assert len(extract_frames(bad2["clip"], max_frames=4)) == 4


def test_cli_data_dir_that_is_a_file_is_one_line(bad2, tmp_path):
    env_before = os.environ["BLURUTILS_DATA_DIR"]
    os.environ["BLURUTILS_DATA_DIR"] = str(bad2["a_file"])
    try:
        proc = cli("frames", "sample", "--max-frames", "5", cwd=tmp_path)
    finally:
        os.environ["BLURUTILS_DATA_DIR"] = env_before
    assert_user_error(proc, "frames", "BLURUTILS_DATA_DIR", "a-file", "not a folder")
    assert bad2["a_file"].read_text() == "not a folder"


# ----------------------------------------------------------------- ownership and locks

def test_results_folder_keeps_user_files_that_look_temporary(tmp_path):
    """Only blurutils' own temporaries of dead processes are removed, by exact form,
    never deeper than runs/*, never a live process's (another run's in-flight write)."""
    from blurutils.paths import prepare_results_folder

    out = tmp_path / "results"
    (out / "runs" / "Forward-MSE").mkdir(parents=True)
    (out / "notes" / "deep" / "er").mkdir(parents=True)
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    mine = os.getpid()
    user = {out / ".notes.tmp.txt": "mine", out / ".x.tmp": "mine too",
            out / "runs" / ".model.tmp.keras": "user's",
            out / "runs" / "Forward-MSE" / f".model.bu{mine}-abcdefgh.tmp.keras": "in flight",
            out / "notes" / "deep" / "er" / f".old.bu{dead}-abcdefgh.tmp.csv": "too deep"}
    stale = [out / f".table1.bu{dead}-abcdefgh.tmp.csv",
             out / "runs" / "Forward-MSE" / f".history.bu{dead}-a1b2c3d4.tmp.csv"]
    for path, text in user.items():
        path.write_text(text)
    for path in stale:
        path.write_text("left by a killed run")
    assert prepare_results_folder(out) == out
    assert all(path.read_text() == text for path, text in user.items())
    assert not any(path.exists() for path in stale)


def test_atomic_path_names_its_temporary_with_its_process(tmp_path):
    from blurutils.paths import _TMP_NAME, atomic_path

    with atomic_path(tmp_path / "table.csv") as tmp:
        match = _TMP_NAME.match(tmp.name)
        assert match and int(match.group(1)) == os.getpid()
        tmp.write_text("x")
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_cli_second_reproduce_into_a_locked_folder_is_one_line(bad2, precious, tmp_path):
    """A real OS lock (filelock): while another process holds the results folder, a
    second reproduce says so in one line, exit 1, before touching anything."""
    from filelock import FileLock

    out = tmp_path / "results"
    (out / ".blurutils.lock.pid").write_text("4242")
    before = snapshot(out)
    with FileLock(str(out / ".blurutils.lock")):
        proc = cli("reproduce", "--profile", "smoke", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    one_line(proc.stderr, "reproduce", "another blurutils run", "process 4242",
             "another --out")
    assert {k: v for k, v in snapshot(out).items() if ".blurutils.lock" not in k} == \
        {k: v for k, v in before.items() if ".blurutils.lock" not in k}
    after = snapshot(out)
    assert {k: after.get(k) for k in precious["results"]} == precious["results"]


def test_cli_data_folder_lock_waits_then_says_so(tmp_path):
    """The data folder is locked while frames are decoded and cached: another process
    waits (one note), and after its timeout says so in one line (exit 1)."""
    from filelock import FileLock

    data = Path(os.environ["BLURUTILS_DATA_DIR"])
    data.mkdir(parents=True, exist_ok=True)
    os.environ["BLURUTILS_DATA_LOCK_TIMEOUT"] = "0.3"
    try:
        with FileLock(str(data / ".blurutils.lock")):
            proc = cli("frames", "sample", "--max-frames", "5", cwd=tmp_path)
    finally:
        del os.environ["BLURUTILS_DATA_LOCK_TIMEOUT"]
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr and len(lines) == 2, proc.stderr
    assert lines[0].startswith("waiting for another blurutils process")
    assert lines[1].startswith("blurutils frames: error: ") and "data folder" in lines[1]
    assert not list(frames_dir().glob("*.npy"))
    assert cli("frames", "sample", "--max-frames", "5", cwd=tmp_path).returncode == 0


def test_locks_are_reentrant_in_one_process(tmp_path):
    from blurutils.paths import data_lock, results_lock

    with results_lock(tmp_path), results_lock(tmp_path), data_lock(), data_lock():
        assert (tmp_path / ".blurutils.lock").exists()


# ----------------------------------------------------------------- full disk

def test_cli_full_disk_writing_the_synthetic_clip_is_one_line(tmp_path):
    """ENOSPC at the rename (injected: BLURUTILS_CRASH_AT=write:1:ENOSPC) is one line
    naming the folder, exit 1; nothing is left in data/raw."""
    os.environ["BLURUTILS_CRASH_AT"] = "write:1:ENOSPC"
    try:
        env_proc = subprocess.run(
            [sys.executable, "-m", "blurutils", "fetch", "synthetic", "--n-frames", "4"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        del os.environ["BLURUTILS_CRASH_AT"]
    assert env_proc.returncode == 1, env_proc.stderr
    one_line(env_proc.stderr, "fetch", str(raw_dir()), "no space left", "free")
    assert list(raw_dir().iterdir()) == []


def test_cli_full_disk_for_the_frames_cache_keeps_the_frames(tmp_path):
    """The cache is optional: a full disk while writing it is a warning; the frames
    are still decoded and used (exit 0)."""
    proc = subprocess.run(
        [sys.executable, "-m", "blurutils", "frames", "sample", "--max-frames", "5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), "BLURUTILS_CRASH_AT": "write:1:ENOSPC"})
    assert proc.returncode == 0, proc.stderr
    assert "5 frames, shape (5, 100, 200)" in proc.stdout and "not written" in proc.stdout
    assert "could not write the frame cache" in proc.stderr and "Traceback" not in proc.stderr
    assert list(frames_dir().iterdir()) == []


def test_api_full_disk_in_atomic_path_names_the_folder_and_the_space(tmp_path, monkeypatch):
    import errno

    from blurutils.errors import DiskFullError
    from blurutils.paths import atomic_path

    with pytest.raises(DiskFullError) as err:
        with atomic_path(tmp_path / "model.keras", needed=5_000_000) as tmp:
            tmp.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    message = str(err.value)
    assert str(tmp_path) in message and "5.0 MB needed" in message and "free" in message
    assert list(tmp_path.iterdir()) == []


class _DroppingWriter:
    """cv2.VideoWriter that silently loses frames after the first ``keep`` (what a
    full disk does: OpenCV only warns)."""

    keep = 3
    real = cv2.VideoWriter

    def __init__(self, *args):
        self._real = self.real(*args)
        self._n = 0

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return self._real.isOpened()

    def write(self, frame):
        self._n += 1
        if self._n <= self.keep:
            self._real.write(frame)

    def release(self):
        self._real.release()


def test_api_truncated_synthetic_video_is_never_renamed_into_place(monkeypatch):
    import blurutils.synthetic as synthetic_mod

    fake_cv2 = type(sys)("cv2_with_a_full_disk")
    fake_cv2.__dict__.update({k: getattr(cv2, k) for k in dir(cv2) if not k.startswith("__")})
    fake_cv2.VideoWriter = _DroppingWriter
    monkeypatch.setattr(synthetic_mod, "cv2", fake_cv2)
    with pytest.raises(SourceError, match=r"holds 3 readable frames, not 8; it was not kept"):
        synthetic_path(n_frames=8)
    assert list(raw_dir().iterdir()) == []


def test_api_truncated_interpolated_mp4_is_never_renamed_into_place(tmp_path, monkeypatch):
    from blurutils.interpolate import write_video as write_interpolated

    monkeypatch.setattr(cv2, "VideoWriter", _DroppingWriter)
    frames = np.random.default_rng(0).integers(0, 256, (7, 100, 200), dtype=np.uint8)
    with pytest.raises(ConfigError, match="holds 3 readable frames, not 7"):
        write_interpolated(frames, tmp_path / "out.mp4", 25.0)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- signals

SLEEPER = '''
import os, time

def nap(*, report):
    report(f"worker {os.getpid()} started")
    time.sleep(120)
'''
DRIVER = '''
import sys
sys.path.insert(0, {folder!r})
import sleeper
from blurutils import cli
from blurutils.isolation import run_in_child
cli.COMMANDS["fetch"] = lambda args: run_in_child(sleeper.nap, name="Forward-MSE",
                                                  report=lambda line: print(line, flush=True))
sys.exit(cli.main(["fetch"]))
'''


def _start_worker(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A parent running blurutils.cli.main whose command waits on a worker process;
    returns once the worker has reported its pid."""
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    parent = subprocess.Popen([sys.executable, "-c", DRIVER.format(folder=str(tmp_path))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    line = parent.stdout.readline()  # blocks until the worker speaks (or the parent dies)
    assert line.startswith("worker "), (line, parent.stderr.read() if parent.poll() else "")
    return parent, int(line.split()[1])


def _gone(pid: int, timeout: float = 10.0) -> bool:
    import psutil

    try:
        psutil.Process(pid).wait(timeout=timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


@pytest.mark.parametrize("sig, status", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_and_sighup_behave_like_ctrl_c(sig, status, tmp_path):
    """The worker is stopped, one line says work is saved and how to resume, and the
    exit status is 128 + the signal's number."""
    import signal

    parent, worker = _start_worker(tmp_path)
    parent.send_signal(getattr(signal, sig))
    out, err = parent.communicate(timeout=30)
    assert parent.returncode == status, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"blurutils fetch: stopped by {sig}; finished work is saved — run the "
                     "same command again to resume"], err
    assert _gone(worker), "the worker outlived its parent"


def test_a_worker_never_outlives_a_parent_killed_with_sigkill(tmp_path):
    import signal

    parent, worker = _start_worker(tmp_path)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
    assert _gone(worker), "orphaned worker still running"


# ----------------------------------------------------------------- corrupt run files

def _finished_run(tmp_path: Path, epochs: int = 2):
    from blurutils.training import RunConfig, RunFiles, write_history

    config = RunConfig(model="Convolutional", loss="MSE", epochs=epochs)
    files = RunFiles(tmp_path / "runs" / config.name)
    files.dir.mkdir(parents=True)
    files.config.write_text(json.dumps({"status": "done", "fingerprint": config.fingerprint()}))
    files.model.write_bytes(b"weights")
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
    assert (kept / "model.keras").read_bytes() == b"weights"
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


# ----------------------------------------------------------------- secrets

SECRET_URL = "https://alice:hunter2@videos.example.com/clip.mp4?id=7&access_token=s3cr"


def test_secrets_are_redacted_in_every_error_message():
    from blurutils.errors import redact

    for error in (SourceError, FrameError, ConfigError):
        assert "hunter2" not in str(error(f"cannot download {SECRET_URL}: 403"))
    assert redact(SECRET_URL) == ("https://***@videos.example.com/clip.mp4?id=7"
                                  "&access_token=***")
    for text in ("https://example.com/a.mp4?v=1&X-Amz-Signature=abc&X-Amz-Credential=k",
                 "http://h/x?sig=abc", "http://h/x?api_key=abc&apikey=abc&password=abc"):
        assert "abc" not in redact(text) and "***" in redact(text)
    assert redact(PAPER := "https://www.youtube.com/watch?v=MaWnvvrngyQ") == PAPER


def test_secrets_never_reach_config_yaml(tmp_path):
    from blurutils.config import dump_config, load_config, make_config

    config = make_config("smoke", source=SECRET_URL)
    text = dump_config(config)
    assert "hunter2" not in text and "s3cr" not in text
    path = tmp_path / "config.yaml"
    path.write_text(text)
    # user:password is not part of the download's cache key, so a config written with
    # it redacted still finds the video downloaded with it.
    login = "https://alice:hunter2@videos.example.com/clip.mp4?id=7"
    path.write_text(dump_config(make_config("smoke", source=login)))
    assert "hunter2" not in path.read_text()
    assert cache_key(load_config(path).source) == cache_key(login)


def test_secrets_never_reach_the_download_sidecar(server):
    host = server.replace("http://", "")
    url = f"http://alice:hunter2@{host}/clip.mp4?session_token=s3cr"
    path = resolve_source(url)
    sidecar = path.with_suffix(".json").read_text()
    assert "hunter2" not in sidecar and "s3cr" not in sidecar
    assert json.loads(sidecar)["url"] == f"http://***@{host}/clip.mp4?session_token=***"


class _TrickleHandler(http.server.BaseHTTPRequestHandler):
    """Sends a large video a few bytes at a time: each read is quick (no socket
    timeout), the whole download never ends."""

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        import time
        for _ in range(400):
            self.wfile.write(b"\0" * 64)
            self.wfile.flush()
            time.sleep(0.01)


def test_download_total_time_is_bounded():
    srv = _QuietServer(("127.0.0.1", 0), _TrickleHandler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/slow.mp4"
        with pytest.raises(SourceError, match=r"slower than the time limit .*0\.5 s"):
            resolve_source(url, max_seconds=0.5)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)
    assert list(raw_dir().iterdir()) == []
