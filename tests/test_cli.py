"""The command line: ``python -m blurutils {fetch,frames,blur,reproduce}``.

Successful commands that need no TensorFlow run in-process (``main([...])``); every
user error runs in a subprocess, so that what reaches the real stderr (including
lines printed by C libraries such as FFmpeg or TensorFlow) is checked: exit status 2,
exactly one line, no traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurutils.cli import main

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["fetch", "frames", "blur", "reproduce"]


def cli(*args: str, cwd: Path | None = None, debug: bool = False,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m blurutils ARGS`` with this test's data folder."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BLURUTILS_DEBUG", "OPENCV_FFMPEG_LOGLEVEL", "TF_CPP_MIN_LOG_LEVEL")}
    env["PYTHONPATH"] = str(REPO)
    env["BLURUTILS_DATA_DIR"] = os.environ["BLURUTILS_DATA_DIR"]  # set per test (conftest)
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
