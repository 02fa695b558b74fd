"""The command line: ``python -m blurutils {fetch,frames,blur,reproduce}``.

Successful commands that need no TensorFlow run in-process (``main([...])``); every
user error runs in a subprocess, so that what reaches the real stderr (including
lines printed by C libraries such as FFmpeg or TensorFlow) is checked: exit status 2,
exactly one line, no traceback.

Bad inputs and hostile files (docs/RELIABILITY.md): each is one line and exit status 2
(or 1 for a locked folder or a full disk), and a frames cache and a results folder made
earlier are byte-for-byte intact afterwards (``precious``); SIGTERM and SIGHUP stop the
worker process like Ctrl-C, and a worker never outlives its parent.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import closed_port, one_line

from blurutils import sources
from blurutils.cli import main
from blurutils.frames import cache_path, load_frames
from blurutils.paths import RESULTS_MARKER, frames_dir, raw_dir
from blurutils.sources import sample_path

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["fetch", "frames", "blur", "reproduce"]


def cli(*args: str, cwd: Path | None = None, debug: bool = False,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m blurutils ARGS`` with this test's data folder (and, given ``cwd``,
    a default results folder inside it, so nothing reaches the checkout's ``results/``)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BLURUTILS_DEBUG", "OPENCV_FFMPEG_LOGLEVEL", "TF_CPP_MIN_LOG_LEVEL",
                        "BLURUTILS_CRASH_AT")}
    env["PYTHONPATH"] = str(REPO)
    env["BLURUTILS_DATA_DIR"] = os.environ["BLURUTILS_DATA_DIR"]  # set per test (conftest)
    if cwd is not None:
        env["BLURUTILS_RESULTS_DIR"] = str(Path(cwd) / "default-results")
    if debug:
        env["BLURUTILS_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", "blurutils", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_user_error(proc: subprocess.CompletedProcess, command: str, *words: str) -> str:
    """Exit 2, exactly one line on stderr naming the command, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith(f"blurutils {command}: error: "), line
    for word in words:
        assert word.lower() in line.lower(), (word, line)
    return line


@pytest.fixture(autouse=True)
def _restore_env(monkeypatch):
    """``main`` may set OPENCV_FFMPEG_LOGLEVEL in os.environ; undo it after each test."""
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "placeholder")
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL")
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)


def noise_image(seed: int = 0, shape=(100, 200)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def scipy_bf(image01: np.ndarray) -> float:
    from scipy import ndimage

    return 1.0 / ndimage.laplace(image01.astype(np.float64), mode="reflect").var()


def printed_stat(out: str, name: str) -> float:
    match = re.search(rf"Blur Factor:.*\b{name} (\S+)", out)
    assert match, out
    return float(match.group(1))


# --------------------------------------------------------------------------- help

def test_top_level_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for sub in SUBCOMMANDS:
        assert sub in out


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help_exits_zero(sub, capsys):
    with pytest.raises(SystemExit) as info:
        main([sub, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: blurutils {sub}")


def test_help_in_a_subprocess():
    proc = cli("reproduce", "--help", timeout=120)
    assert proc.returncode == 0
    assert "--profile" in proc.stdout and "--epochs" in proc.stdout
    assert proc.stderr == ""


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- fetch / frames

def test_fetch_sample_prints_an_existing_mp4(capsys, sample_video):
    assert main(["fetch", "sample"]) == 0
    out = capsys.readouterr().out.strip()
    path = Path(out)
    assert path.suffix == ".mp4"
    assert path.is_file() and path.stat().st_size > 0
    assert path == sample_video.resolve()


def test_fetch_a_local_file_prints_its_path(capsys, sample_video, tmp_path):
    assert main(["fetch", str(sample_video)]) == 0
    assert Path(capsys.readouterr().out.strip()) == sample_video.resolve()


def test_frames_sample_max_frames_5(capsys, isolated_data_dir):
    assert main(["frames", "sample", "--max-frames", "5"]) == 0
    out = capsys.readouterr().out
    assert "5 frames" in out
    assert "(5, 100, 200)" in out and "uint8" in out
    match = re.search(r"^cache: (.+)$", out, re.MULTILINE)
    assert match, out
    cache = Path(match.group(1))
    assert cache.is_file()
    assert cache.resolve().is_relative_to(isolated_data_dir.resolve())
    frames = np.load(cache)
    assert frames.shape == (5, 100, 200) and frames.dtype == np.uint8


def test_frames_no_cache_prints_no_cache_path(capsys, isolated_data_dir):
    assert main(["frames", "sample", "--max-frames", "4", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "4 frames" in out and "cache:" not in out
    assert not list(isolated_data_dir.rglob("*.npy"))


# --------------------------------------------------------------------------- blur

def test_blur_on_an_image_file(capsys, tmp_path):
    image = noise_image()
    path = tmp_path / "noise.png"
    assert cv2.imwrite(str(path), image)
    assert main(["blur", str(path)]) == 0
    out = capsys.readouterr().out
    assert "image of 100x200" in out
    assert "mean" in out and "median" in out
    expected = scipy_bf(image / 255.0)
    assert printed_stat(out, "mean") == pytest.approx(expected, rel=1e-3)
    assert printed_stat(out, "median") == pytest.approx(expected, rel=1e-3)
    assert "finite 1 of 1" in out


def test_blur_on_an_image_with_tiles(capsys, tmp_path):
    path = tmp_path / "noise.png"
    cv2.imwrite(str(path), noise_image(1))
    assert main(["blur", str(path), "--tile", "25"]) == 0
    out = capsys.readouterr().out
    assert "25x25 tiles" in out and "(4, 8)" in out


def test_blur_on_a_npy_frames_array(capsys, tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.random((4, 100, 200))
    frames[2] = 0.5                                   # flat: BF is infinite
    path = tmp_path / "frames.npy"
    np.save(path, frames)
    assert main(["blur", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4 frames of 100x200" in out
    finite = [scipy_bf(f) for i, f in enumerate(frames) if i != 2]
    assert printed_stat(out, "mean") == pytest.approx(np.mean(finite), rel=1e-3)
    assert printed_stat(out, "median") == pytest.approx(np.median(finite), rel=1e-3)
    assert "finite 3 of 4" in out and "infinite (flat images) 1" in out


def test_blur_on_a_video(capsys, sample_video, sample_frames):
    assert main(["blur", str(sample_video)]) == 0
    out = capsys.readouterr().out
    assert f"{len(sample_frames)} frames of 100x200" in out
    assert "mean" in out and "median" in out
    expected = [scipy_bf(f / 255.0) for f in sample_frames]
    assert printed_stat(out, "median") == pytest.approx(np.median(expected), rel=1e-3)


# --------------------------------------------------------------------------- user errors

@pytest.fixture
def files(tmp_path):
    """Assorted bad inputs."""
    text = tmp_path / "notes.txt"
    text.write_text("these are notes, not a video\n")
    fake_video = tmp_path / "fake.mp4"
    fake_video.write_bytes(b"not really an mp4 file\n" * 20)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("epochs: [1\n")
    unknown_key = tmp_path / "unknown.yaml"
    unknown_key.write_text("profile: smoke\nlearning_rate: 0.1\n")
    nan = tmp_path / "nan.npy"
    frames = np.random.default_rng(0).random((3, 100, 200))
    frames[1, 5, 5] = np.nan
    np.save(nan, frames)
    flat_npy = tmp_path / "flat.npy"
    np.save(flat_npy, np.zeros(10))
    plain = tmp_path / "plain-file"
    plain.write_text("a regular file, not a folder\n")
    compat_config = tmp_path / "compat.yaml"
    compat_config.write_text("profile: smoke\ncompat: fillnet\n")
    return dict(text=text, fake_video=fake_video, bad_yaml=bad_yaml, unknown_key=unknown_key,
                nan=nan, flat_npy=flat_npy, plain=plain, compat_config=compat_config,
                dir=tmp_path)


@pytest.mark.parametrize("args, command, words", [
    (["fetch", "smaple"], "fetch", ["unknown source", "sample"]),
    (["frames", "nosuch-source"], "frames", ["unknown source"]),
    (["fetch", "{dir}/missing.mp4"], "fetch", ["no such file"]),
    (["frames", "{dir}/missing.mp4"], "frames", ["no such file"]),
    (["blur", "{dir}/missing.png"], "blur", ["no such file"]),
    (["fetch", "{dir}"], "fetch", ["directory"]),
    (["frames", "{dir}"], "frames", ["directory"]),
    (["blur", "{dir}"], "blur", ["directory"]),
    (["frames", "{text}"], "frames", ["not a video"]),
    (["frames", "{fake_video}"], "frames", ["not a video"]),
    (["blur", "{text}"], "blur", ["not a video"]),
    (["blur", "{fake_video}"], "blur", ["not a video"]),
    (["fetch", "file://{fake_video}"], "fetch", ["file:"]),
    (["frames", "file:///etc/hostname"], "frames", ["file:"]),
    (["blur", "{nan}"], "blur", ["nan.npy", "NaN"]),
    (["blur", "{flat_npy}"], "blur", ["flat.npy", "shape"]),
    (["reproduce", "--profile", "bogus"], "reproduce", ["unknown profile", "bogus"]),
    (["reproduce", "--epochs", "0"], "reproduce", ["--epochs"]),
    (["reproduce", "--epochs", "abc"], "reproduce", ["--epochs", "abc"]),
    (["reproduce", "--config", "{bad_yaml}"], "reproduce", ["YAML"]),
    (["reproduce", "--config", "{unknown_key}"], "reproduce", ["learning_rate"]),
    (["reproduce", "--config", "{dir}/missing.yaml"], "reproduce", ["cannot read"]),
    (["reproduce", "--compat", "fillnt"], "reproduce", ["unknown compat switch", "fillnt"]),
    (["reproduce", "--frame-layout", "huge"], "reproduce", ["frame layout", "huge"]),
    (["audit", "--profile", "bogus"], "audit", ["unknown profile", "bogus"]),
    (["audit", "--config", "{compat_config}"], "audit", ["sets compat"]),
    (["frames", "sample", "--max-frames", "x"], "frames", ["--max-frames"]),
], ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_user_errors_are_one_line_and_exit_2(files, args, command, words):
    args = [a.format(**files) for a in args]
    assert_user_error(cli(*args, cwd=files["dir"], timeout=120), command, *words)


@pytest.mark.parametrize("option, value, word", [
    ("--models", "Sideways", "Sideways"),
    ("--models", "Forward,b", "'b'"),
    ("--losses", "L1", "L1"),
    ("--seed", "-1", "seed"),
])
def test_bad_names_and_values_in_reproduce_are_one_line(files, option, value, word):
    """These are checked by the config, which imports Keras: TensorFlow's start-up
    lines must not reach stderr."""
    proc = cli("reproduce", "--profile", "smoke", option, value, "--out",
               str(files["dir"] / "out"), cwd=files["dir"], timeout=180)
    assert_user_error(proc, "reproduce", word)
    assert not (files["dir"] / "out").exists()  # nothing written before the check


@pytest.mark.parametrize("kind", ["under-a-file", "read-only-folder"])
def test_unwritable_results_folder_is_one_line(files, kind):
    if kind == "under-a-file":
        out = files["plain"] / "sub"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write into a read-only folder")
        locked = files["dir"] / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        out = locked / "results"
    try:
        proc = cli("reproduce", "--profile", "smoke", "--models", "Forward", "--losses", "MSE",
                   "--epochs", "1", "--out", str(out), cwd=files["dir"], timeout=180)
    finally:
        if kind != "under-a-file":
            (files["dir"] / "locked").chmod(0o700)
    assert_user_error(proc, "reproduce", "not writable", str(out))


def test_user_errors_in_process_return_2(capsys, tmp_path):
    assert main(["fetch", str(tmp_path / "missing.mp4")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "no such file" in captured.err


def test_debug_shows_the_traceback(tmp_path):
    proc = cli("fetch", str(tmp_path / "missing.mp4"), debug=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert "SourceError" in proc.stderr


def test_debug_shows_the_traceback_in_process(tmp_path, monkeypatch):
    from blurutils.errors import SourceError

    monkeypatch.setenv("BLURUTILS_DEBUG", "1")
    with pytest.raises(SourceError):
        main(["fetch", str(tmp_path / "missing.mp4")])


def test_debug_zero_means_off(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BLURUTILS_DEBUG", "0")
    assert main(["fetch", str(tmp_path / "missing.mp4")]) == 2


# --------------------------------------------------------------------------- reproduce

def test_reproduce_end_to_end(tmp_path):
    out = tmp_path / "results"
    proc = cli("reproduce", "--profile", "smoke", "--models", "Forward", "--losses", "MSE",
               "--epochs", "1", "--out", str(out), cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "Table 1" in proc.stdout and "Table 2" in proc.stdout
    assert "REPORT.md" in proc.stdout
    assert "Forward MLAE - MSE" in proc.stdout
    assert "Forward-MSE" in proc.stdout and "epoch  1/1" in proc.stdout
    for observation in ("BF-1", "RBF-3"):
        assert re.search(rf"{observation}\s+not tested", proc.stdout), proc.stdout

    assert (out / "REPORT.md").is_file()
    assert (out / "runs" / "Forward-MSE" / "model.keras").is_file()
    import pandas as pd

    table1 = pd.read_csv(out / "table1_blur_factor.csv")
    assert table1["paper_row"].tolist() == ["Forward MLAE - MSE"]
    assert np.isfinite(table1["mean"]).all()
    history = pd.read_csv(out / "runs" / "Forward-MSE" / "history.csv")
    assert history["epoch"].tolist() == [1]
    from blurutils.config import load_config

    config = load_config(out / "config.yaml")
    assert (config.profile, config.models, config.losses, config.epochs) == (
        "smoke", ["Forward"], ["MSE"], 1)


# --------------------------------------------------------------------------- bad inputs

def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under ``folders``: path -> sha256 of its bytes."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


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
                       ("runs/Forward-MSE/per_frame_metrics.csv", "frame,bf_pred\n1,3.5\n"),
                       (RESULTS_MARKER, "{}")]:  # written by blurutils, so it may be reused
        (results / name).write_text(text)
    shot = {"cache": snapshot(frames_dir()), "results": snapshot(results)}
    assert len(shot["cache"]) == 1 and len(shot["results"]) == 7
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


# ----------------------------------------------------------------- URLs in-process

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


# ----------------------------------------------------------------- caches, pickles and YAML tags

def test_corrupt_frames_cache_via_cli_is_rebuilt(capsys):
    """A frames cache holding garbage is detected, deleted and rebuilt, not trusted."""
    assert main(["frames", "sample", "--max-frames", "5"]) == 0
    target = cache_path(sample_path(), max_frames=5, step=1, start=None, end=None)
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2])                     # cut short
    assert main(["frames", "sample", "--max-frames", "5"]) == 0
    assert "5 frames, shape (5, 100, 200), dtype uint8" in capsys.readouterr().out
    assert target.read_bytes() == good


def test_safety_pickled_npy_in_blur_cli(bad, tmp_path):
    proc = cli("blur", str(bad["pickled"]), cwd=tmp_path)
    assert_user_error(proc, "blur", "pickled.npy", "allow_pickle=False")
    assert not (bad["dir"] / "PICKLE-RAN").exists()


def test_safety_yaml_python_tag_in_reproduce_cli(bad, precious, tmp_path):
    proc = cli("reproduce", "--config", str(bad["yaml_evil"]), "--out",
               str(tmp_path / "results"), cwd=tmp_path)
    assert_user_error(proc, "reproduce", "evil.yaml", "not valid YAML")
    assert not (bad["dir"] / "YAML-RAN").exists()
    assert_nothing_lost(precious, tmp_path)


# ----------------------------------------------------------------- second round (issue 16)
# Own only what you wrote, validate before you destroy, bound every input, survive a full
# disk and SIGTERM, never echo a secret.  docs/RELIABILITY.md rows 38-.

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


def test_cli_data_dir_that_is_a_file_is_one_line(bad2, tmp_path):
    env_before = os.environ["BLURUTILS_DATA_DIR"]
    os.environ["BLURUTILS_DATA_DIR"] = str(bad2["a_file"])
    try:
        proc = cli("frames", "sample", "--max-frames", "5", cwd=tmp_path)
    finally:
        os.environ["BLURUTILS_DATA_DIR"] = env_before
    assert_user_error(proc, "frames", "BLURUTILS_DATA_DIR", "a-file", "not a folder")
    assert bad2["a_file"].read_text() == "not a folder"


# ----------------------------------------------------------------- locks

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


# ----------------------------------------------------------------- what the commands use
# The command line's handlers call these; each lives in its own stage's module.

@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.png", ["no such file"]),
    (lambda d: d, ["is a directory"]),
    (lambda d: _write(d / "cut.npy", _npy_header((1000, 100, 200))), ["truncated", "claims"]),
    (lambda d: _write(d / "huge.npy", _npy_header((10**6, 10**4, 10**3))),
     ["header claims", "bytes blur reads"]),
    (lambda d: _write(d / "garbage.npy", b"not an array at all"), ["not a readable .npy"]),
])
def test_frames_file_reader_on_a_bad_file_is_one_line(tmp_path, make, words):
    """``frames.read_frames_file`` (``blur``'s reader): every bad file is one FrameError
    line naming the file, raised from headers before anything large is read."""
    from blurutils.errors import FrameError
    from blurutils.frames import read_frames_file

    path = make(tmp_path)
    with pytest.raises(FrameError) as caught:
        read_frames_file(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, (word, message)


def test_frames_file_reader_reads_an_image_and_an_array(tmp_path):
    from blurutils.frames import read_frames_file

    image = noise_image()
    cv2.imwrite(str(tmp_path / "a.png"), image)
    np.save(tmp_path / "a.npy", np.stack([image, image[::-1]]))
    assert np.array_equal(read_frames_file(tmp_path / "a.png"), image)
    assert read_frames_file(tmp_path / "a.npy").shape == (2, 100, 200)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy header (uint8, ``shape``) with no data after it."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_model_shapes_come_from_the_catalog_and_the_frame_shape():
    """``training.model_shapes``: each catalog model's input frames as channels, one frame
    out, of the package's frame shape (no literal 100x200 anywhere but ``frames``)."""
    from blurutils.catalog import MODELS
    from blurutils.frames import FRAME_SHAPE
    from blurutils.training import model_shapes

    expected = {"Backward": 1, "Forward": 1, "Bi-Directional": 2, "Convolutional": 1}
    assert set(expected) == set(MODELS)
    for name, k in expected.items():
        assert model_shapes(name) == ((*FRAME_SHAPE, k), (*FRAME_SHAPE, 1))
    assert model_shapes("bi", (50, 100)) == ((50, 100, 2), (50, 100, 1))


def test_trained_model_loader_refuses_a_missing_or_damaged_file(tmp_path, monkeypatch):
    """``training.load_trained_model``: a missing or damaged model is one ConfigError line,
    checked before TensorFlow is imported; the default is the ``reproduce`` run's model."""
    from blurutils.errors import ConfigError
    from blurutils.training import load_trained_model

    monkeypatch.setenv("BLURUTILS_RESULTS_DIR", str(tmp_path / "results"))
    default = tmp_path / "results" / "runs" / "Bi-Directional-MSE" / "model.keras"
    train = "`python -m blurutils reproduce --models Bi-Directional --losses MSE`"
    with pytest.raises(ConfigError) as caught:
        load_trained_model(None)
    assert str(caught.value) == (f"{default}: no trained Bi-Directional model; train one "
                                 f"with {train} or pass --model")
    damaged = _write(tmp_path / "damaged.keras", b"PK\x03\x04 cut short")
    with pytest.raises(ConfigError, match=r"damaged\.keras: the model file is damaged \(") as c:
        load_trained_model(damaged)
    assert str(c.value).endswith(f"train it again ({train}) or pass another --model")


def test_trained_model_loader_checks_the_catalog_shape(tmp_path):
    """A loadable model of the wrong shape (a one-frame model given as Bi-Directional) is
    one line naming the shape the catalog and the frame shape ask for."""
    from blurutils.errors import ConfigError
    from blurutils.session import quiet_tensorflow
    from blurutils.training import load_trained_model

    quiet_tensorflow()
    import keras

    inputs = keras.Input((100, 200, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    path = tmp_path / "one-frame.keras"
    model.save(path)
    with pytest.raises(ConfigError) as caught:
        load_trained_model(path)
    assert str(caught.value) == (f"{path}: input shape (100, 200, 1) is not a "
                                 "Bi-Directional model's (100, 200, 2)")
    assert load_trained_model(path, "Forward").output_shape == (None, 100, 200, 1)


def test_stop_signals_become_stopped_and_handlers_come_back():
    """``isolation.stop_signals_as_interrupts``: SIGTERM inside raises Stopped (exit status
    143 in the command line); the previous handler is back afterwards; outside the
    main thread it changes nothing."""
    import signal
    import threading
    import time

    from blurutils.isolation import Stopped, stop_signals_as_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as caught:
        with stop_signals_as_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler's exception ends the sleep at once
    assert (caught.value.signum, caught.value.name) == (signal.SIGTERM, "SIGTERM")
    assert signal.getsignal(signal.SIGTERM) == before

    seen = []

    def in_a_thread():
        with stop_signals_as_interrupts():
            seen.append(signal.getsignal(signal.SIGHUP))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGHUP)]


def test_console_tables_are_written_once_for_a_study_and_for_seeds():
    """``report.console_tables``: the text ``reproduce`` prints after a study, with the
    columns of one study or of the mean over seeds."""
    import pandas as pd

    from blurutils.report import CONSOLE_COLUMNS, console_tables

    table = pd.DataFrame({c: [1.23456] for c in set(sum(CONSOLE_COLUMNS.values(), []))})
    verdicts = pd.DataFrame({"observation": ["O1"], "paper": ["holds"], "blur": ["fails"],
                             "verdict": ["mixed"], "claim": ["MSE blurs most"]})
    text = console_tables(table, table, verdicts)
    lines = text.splitlines()
    assert lines[:2] == ["", "Table 1: Blur Factor of the test predictions"]
    assert lines[2].split() == CONSOLE_COLUMNS[False] and "1.235" in lines[3]
    assert "Table 2: Relative Blur Factor" in lines and "n_seeds" not in text
    assert lines[-1] == f"  O1     {'holds':<14} | {'fails':<14} | {'mixed':<14} MSE blurs most"
    seeds = console_tables(table, table, verdicts[["observation", "verdict", "claim"]],
                           over_seeds=True).splitlines()
    assert seeds[1] == "Table 1: Blur Factor, mean over seeds with a 95% interval"
    assert seeds[2].split() == CONSOLE_COLUMNS[True]
    assert seeds[-2:] == ["The paper's observations over seeds:",
                          f"  O1     {'mixed':<40} MSE blurs most"]
