"""The data and results folders: building a cached file once."""

from __future__ import annotations

from pathlib import Path

import pytest

from blurutils.paths import build_once


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def test_build_once_builds_a_missing_file_and_returns_what_build_returns(data_dir):
    target = data_dir / "video.mp4"
    calls = []

    def build() -> Path:
        calls.append(1)
        target.write_bytes(b"frames")
        return target

    assert build_once(target, build) == target
    assert build_once(target, build) == target
    assert calls == [1] and target.read_bytes() == b"frames"


def test_build_once_rebuilds_an_empty_file(data_dir):
    target = data_dir / "video.mp4"
    target.write_bytes(b"")
    built = data_dir / "elsewhere.mp4"
    built.write_bytes(b"x")
    assert build_once(target, lambda: built) == built


def test_build_once_does_not_build_what_appeared_while_it_waited(data_dir, monkeypatch):
    """Another process finished the file between the first look and the lock."""
    import blurutils.paths as paths

    target = data_dir / "video.mp4"
    real_lock = paths.data_lock

    def lock_after_the_other_process(**kwargs):
        target.write_bytes(b"from the other process")
        return real_lock(**kwargs)

    monkeypatch.setattr(paths, "data_lock", lock_after_the_other_process)
    assert build_once(target, lambda: pytest.fail("built twice")) == target
    assert target.read_bytes() == b"from the other process"
