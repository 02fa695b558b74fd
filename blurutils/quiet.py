"""Keeping OpenCV's and FFmpeg's log lines off stderr, so a failure ends with the project's
one line alone (``docs/RELIABILITY.md``).

OpenCV logs from C++ straight to file descriptor 2 — a full disk gives one
``[ WARN…] … Failed to write frame`` per lost frame (thousands), a damaged PNG an
``[ERROR…]`` line — and FFmpeg inside it logs lines of its own; none of it passes
through ``sys.stderr``, so Python-level redirection cannot hide it.  Importing this
module therefore sets OpenCV's log level to silent and FFmpeg's to quiet for the process
(unless ``OPENCV_LOG_LEVEL`` / ``OPENCV_FFMPEG_LOGLEVEL`` say otherwise), and
:func:`quiet_native` wraps each read and write the package does: the levels are silenced
for its duration and, with ``capture=True``, whatever native code still writes to fd 2
goes to a temporary file instead, stderr being restored afterwards.  The project's own
exception then carries the one line.  ``BLURUTILS_DEBUG=1`` turns all of this off, so
the native lines stay visible.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import IO, Iterator

__all__ = ["debugging", "opencv_path", "quiet_native", "silence_defaults"]

#: FFmpeg's ``AV_LOG_QUIET``; OpenCV reads ``OPENCV_FFMPEG_LOGLEVEL`` when it first
#: opens a file with FFmpeg, so it is set at import, before any capture or writer.
_FFMPEG_QUIET = "-8"


def debugging() -> bool:
    """True when ``BLURUTILS_DEBUG`` asks for tracebacks and third-party log lines."""
    return os.environ.get("BLURUTILS_DEBUG", "") not in ("", "0")


def _opencv_logging():
    import cv2

    return cv2.utils.logging


def silence_defaults() -> None:
    """Make FFmpeg quiet and OpenCV silent for this process, unless ``BLURUTILS_DEBUG``
    is set or the user chose the levels with their own environment variables."""
    if debugging():
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", _FFMPEG_QUIET)
    if "OPENCV_LOG_LEVEL" not in os.environ:
        logging = _opencv_logging()
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)


def opencv_path(path: "os.PathLike[str] | str", error: type[Exception] | None = None) -> str:
    """The ``str`` to give OpenCV for ``path``, so that it opens exactly that file.

    OpenCV turns a ``str`` into UTF-8 bytes, and its Python bindings crash (SIGSEGV, no
    message) on the lone surrogates Python uses for bytes a file name holds that the
    locale cannot decode: a Latin-1 name such as ``caf\\xe9.mp4`` (unzipped from an old
    archive), or any non-ASCII name under ``LANG=C`` without Python's UTF-8 mode.  The
    name's bytes are therefore decoded as UTF-8 here, which OpenCV encodes back to the
    same bytes.  A name whose bytes are not UTF-8 cannot be opened by OpenCV at all:
    ``error`` (a project error class) is raised with one line saying so, showing the
    bytes as ``\\xe9`` (``UnicodeDecodeError`` without ``error``)."""
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a str the locale cannot encode: OpenCV writes it as UTF-8
        return os.fspath(path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if error is None:
            raise
        shown = raw.decode("utf-8", "backslashreplace")
        bad = next(part for part in raw.split(b"/") if not _is_utf8(part))
        what = "file" if bad == raw.split(b"/")[-1] else "folder"
        raise error(f"{shown}: the {what} name '{bad.decode('utf-8', 'backslashreplace')}' is "
                    "not UTF-8 (\\x.. are bytes of another encoding), and OpenCV opens only "
                    f"UTF-8 names; rename the {what} (e.g. convmv -f latin1 -t utf8 --notest "
                    "NAME) and run the same command again") from None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _State:
    """Process-wide: fd 2 and OpenCV's log level are shared by all threads, so the first
    context to enter changes them and the last to leave restores them."""

    lock = threading.Lock()
    depth = 0
    level: int | None = None
    captures = 0
    saved_fd: int | None = None
    sink: IO[bytes] | None = None


def _redirect() -> None:
    """Point fd 2 at a temporary file (``/dev/null`` if none can be made)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        sink: IO[bytes] = tempfile.TemporaryFile()
    except OSError:  # a full /tmp: drop the lines instead
        sink = open(os.devnull, "wb")
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (a daemon): nothing to protect
        sink.close()
        return
    os.dup2(sink.fileno(), 2)
    _State.saved_fd, _State.sink = saved, sink


def _restore() -> bytes:
    """Put fd 2 back; return what was written to it meanwhile (at most 64 kB)."""
    saved, sink = _State.saved_fd, _State.sink
    _State.saved_fd = _State.sink = None
    if saved is None or sink is None:
        return b""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    text = b""
    with contextlib.suppress(OSError, ValueError):
        if sink.name != os.devnull:
            sink.seek(0)
            text = sink.read(64 << 10)
    sink.close()
    return text


@contextlib.contextmanager
def quiet_native(capture: bool = True) -> Iterator[None]:
    """Silence OpenCV and FFmpeg around one read or write; with ``capture``, also send
    anything native code writes to fd 2 meanwhile to a temporary file.

    What was captured is dropped when the block succeeds or raises one of the
    project's errors (whose one line says what happened); for any other exception (a
    bug) it is written back to stderr ahead of the traceback, so nothing that explains
    a bug is lost.  A no-op with ``BLURUTILS_DEBUG=1``.
    """
    if debugging():
        yield
        return
    from .errors import BlurUtilsError

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", _FFMPEG_QUIET)
    logging = _opencv_logging()
    with _State.lock:
        _State.depth += 1
        if _State.depth == 1:
            _State.level = logging.getLogLevel()
            logging.setLogLevel(logging.LOG_LEVEL_SILENT)
        if capture:
            _State.captures += 1
            if _State.captures == 1:
                _redirect()
    captured = b""
    bug = False
    try:
        yield
    except BlurUtilsError:
        raise
    except BaseException as exc:
        bug = not isinstance(exc, (KeyboardInterrupt, SystemExit))
        raise
    finally:
        with _State.lock:
            if capture:
                _State.captures -= 1
                if _State.captures == 0:
                    captured = _restore()
            _State.depth -= 1
            if _State.depth == 0 and _State.level is not None:
                logging.setLogLevel(_State.level)
                _State.level = None
        if bug and captured:
            with contextlib.suppress(Exception):
                sys.stderr.write(captured.decode("utf-8", "replace"))
                sys.stderr.flush()


silence_defaults()
