"""Downloading a video from an http(s) URL with yt-dlp, into the data folder.

:func:`blurutils.sources.resolve_source` sends every URL source here; the teaching path
(``sample``, ``synthetic``, a local file) never imports this module's yt-dlp side.

* The URL is parsed and checked before anything touches the network: only http(s),
  a sane host, no playlists.
* The cache name is derived from the URL alone (``youtube-<id>`` or ``url-<hash>``,
  only ``[A-Za-z0-9_-]``), so a video downloaded once works offline and no URL can
  name a file outside ``raw_dir()``.
* Bounded: a size limit (checked as bytes arrive, not only from Content-Length), a
  per-read timeout and a limit on the whole download's wall time.
* One writer at a time (:func:`blurutils.paths.data_lock`); the file is renamed into
  place only when complete.
* Secrets stay in the URL: a password or token is never written to the sidecar JSON
  or to any message (:func:`blurutils.errors.redact`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from blurutils.errors import SourceError, redact
from blurutils.paths import build_once, raw_dir, write_text_atomic

__all__ = [
    "DEFAULT_MAX_FILESIZE",
    "DEFAULT_MAX_SECONDS",
    "FORMAT_SELECTOR",
    "FORMAT_SORT",
    "OFFLINE_HINT",
    "cache_key",
    "download_url",
    "youtube_id",
]

#: Largest download accepted (bytes) and longest time one may take (seconds).
DEFAULT_MAX_FILESIZE = 200 * 2**20
DEFAULT_MAX_SECONDS = 1800.0

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
OFFLINE_HINT = "offline, use the source 'sample', 'excerpt', 'synthetic' or a local video file"

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com",
                            "music.youtube.com", "youtube-nocookie.com",
                            "www.youtube-nocookie.com"})
_YOUTUBE_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_YOUTUBE_PATH_PREFIXES = ("shorts", "embed", "live", "v", "e")
# "scheme:" with at least two letters, so that "C:\\video.mp4" stays a path.
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")
_HOST = re.compile(r"^[\w.\-]+$|^\[[0-9A-Fa-f:.]+\]$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_KEY_OK = re.compile(r"[A-Za-z0-9_-]+")
_PARTIAL_SUFFIXES = (".part", ".ytdl", ".temp", ".tmp")


def _split_http_url(url: str) -> urllib.parse.SplitResult:
    """Parse ``url``; SourceError unless it is an http(s) URL with a sane host."""
    text = url.strip()
    match = URL_SCHEME.match(text)
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
    port, no fragment, ``/`` for an empty path, and no ``user:password@`` (the same
    video whoever logs in; and a config whose URL was redacted still finds it)."""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) \
        else f"{host}:{port}"
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


def check_inside(path: Path, folder: Path) -> None:
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
    """Raised from the progress hook when a download passes ``max_filesize`` or takes
    longer than ``max_seconds`` in all."""


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


def _progress_hook(url: str, max_filesize: int | None, show: bool,
                   max_seconds: float | None = None, started: float | None = None):
    """A yt-dlp progress hook that enforces ``max_filesize`` and ``max_seconds`` and
    draws one status line.

    yt-dlp checks ``max_filesize`` only against a Content-Length header, so a server
    that sends none could otherwise fill the disk; this hook stops it as it grows.  Its
    ``socket_timeout`` applies to each read, so a server that trickles a byte at a time
    would never be cut off; the hook also stops a download past ``max_seconds`` in all.
    """
    state = {"last": 0.0, "drawn": False}
    started = time.monotonic() if started is None else started
    shown = redact(url)

    def hook(status: dict[str, Any]) -> None:
        done = status.get("downloaded_bytes") or 0
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        if status.get("status") == "downloading" and max_filesize is not None:
            if done > max_filesize or (status.get("total_bytes") or 0) > max_filesize:
                raise _TooLarge(f"larger than the size limit ({max(done, total or 0)} bytes "
                                f"> max_filesize {max_filesize} bytes)")
        if status.get("status") == "downloading" and max_seconds is not None \
                and time.monotonic() - started > max_seconds:
            raise _TooLarge(f"slower than the time limit ({done} bytes in more than "
                            f"{max_seconds:g} s, max_seconds)")
        if not show:
            return
        now = time.monotonic()
        finished = status.get("status") == "finished"
        if not finished and now - state["last"] < 0.2:
            return
        state["last"] = now
        pct = f"{100.0 * done / total:5.1f}% of {_format_bytes(total)}" if total \
            else _format_bytes(done)
        sys.stderr.write(f"\rdownloading {shown}: {pct}\x1b[K")
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


def download_url(url: str, *, max_filesize: int | None = DEFAULT_MAX_FILESIZE,
                 socket_timeout: float = 20.0, progress: bool | None = None,
                 max_seconds: float | None = DEFAULT_MAX_SECONDS) -> Path:
    """Download ``url`` with yt-dlp into ``raw_dir()/<cache_key>.mp4``, or reuse it.

    The cache is checked before anything touches the network.  The download goes to
    a private temporary folder in ``raw_dir()`` and is renamed into place only when
    complete; that folder (with any ``.part`` file) is always removed.  A small
    ``<key>.json`` sidecar records the URL, title and chosen format.  The file keeps
    the ``.mp4`` name even if a fallback format is another container: the decoder
    probes the content, and the sidecar records the real extension (and the URL with
    any password or token redacted).  ``max_seconds`` bounds the whole download.
    The data folder is locked meanwhile: a second process wanting it waits.
    """
    key = cache_key(url)  # validates the URL first
    for name, value in (("max_filesize", max_filesize), ("max_seconds", max_seconds),
                        ("socket_timeout", socket_timeout)):
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise SourceError(f"cannot download {url}: {name}={value!r} must be > 0")
    raw = raw_dir()
    target = raw / f"{key}.mp4"
    check_inside(target, raw)
    return build_once(target, lambda: _download(url, key, raw, target, max_filesize,
                                                socket_timeout, progress, max_seconds))


def _download(url: str, key: str, raw: Path, target: Path, max_filesize: int | None,
              socket_timeout: float, progress: bool | None,
              max_seconds: float | None) -> Path:
    started = time.monotonic()

    show = _stderr_is_tty() if progress is None else bool(progress)
    try:
        import yt_dlp
    except ImportError:
        raise SourceError(f"cannot download {url}: yt-dlp is not installed "
                          f"(pip install yt-dlp); {OFFLINE_HINT}") from None

    logger = _Logger()
    hook = _progress_hook(url, max_filesize, show, max_seconds, started)
    tmp = Path(tempfile.mkdtemp(prefix=f".download-{key}-", dir=raw))
    try:
        options = _ydl_options(tmp, key, logger, hook, max_filesize, socket_timeout)
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=False)
                _reject_unsuitable(url, info)
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    raise _TooLarge(f"slower than the time limit (more than {max_seconds:g} "
                                    "s before the download started, max_seconds)")
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
        "url": redact(url),  # a password or token never reaches a file
        "key": key,
        "id": info.get("id"),
        "extractor": info.get("extractor_key") or info.get("extractor"),
        "title": info.get("title"),
        "webpage_url": redact(info["webpage_url"]) if info.get("webpage_url") else None,
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
