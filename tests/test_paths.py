"""The data and results folders: building a cached file once, temporaries, locks, a full disk."""

from __future__ import annotations

import os
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


# ----------------------------------------------------------------- ownership, locks, full disk

def test_results_folder_keeps_user_files_that_look_temporary(tmp_path):
    """Only blurutils' own temporaries of dead processes are removed, by exact form,
    never deeper than runs/*, never a live process's (another run's in-flight write)."""
    from blurutils.paths import RESULTS_MARKER, prepare_results_folder

    out = tmp_path / "results"
    (out / "runs" / "Forward-MSE").mkdir(parents=True)
    (out / RESULTS_MARKER).write_text("{}")  # a results folder blurutils wrote
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


def test_locks_are_reentrant_in_one_process(tmp_path):
    from blurutils.paths import data_lock, results_lock

    with results_lock(tmp_path), results_lock(tmp_path), data_lock(), data_lock():
        assert (tmp_path / ".blurutils.lock").exists()


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
