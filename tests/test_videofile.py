"""Checking a video file just written: a writer that loses frames (a full disk) is caught.

``cv2.VideoWriter`` only warns when a write fails, so ``blurutils.videofile`` reads every
video the project writes (the synthetic clip, an interpolated MP4) back before it is
renamed into place; here a wrapped writer drops frames and nothing is kept.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from blurutils.errors import ConfigError, SourceError
from blurutils.paths import raw_dir
from blurutils.sources import synthetic_path


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
