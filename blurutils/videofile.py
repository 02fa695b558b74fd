"""Opening a video quietly, and checking a video file just written before it is trusted.

``cv2.VideoWriter`` only warns when a write fails, so every video the project writes
(the synthetic clip, an interpolated video) is read back here before it is renamed
into place.  OpenCV's and FFmpeg's own log lines are kept off stderr around every open,
read and write (:mod:`blurutils.quiet`), so a failure ends with the project's one line;
one that the machine caused (a full disk, the process's file-size limit) is a
:class:`~blurutils.errors.DiskFullError` (exit status 1), not the input's fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from .errors import DiskFullError, FrameError
from .quiet import opencv_path, quiet_native

#: A video cut off within this many bytes of the process's file-size limit was stopped
#: by the limit (FFmpeg's writes stop exactly at it; its buffer is 32 kB).
_LIMIT_SLACK = 64 << 10


def open_video(path: Path | str) -> Any:
    """``cv2.VideoCapture`` of ``path``, opened with OpenCV's and FFmpeg's log lines kept
    off stderr (a file that is not a video makes them print several)."""
    with quiet_native():
        return cv2.VideoCapture(opencv_path(path, FrameError))


def not_a_video_error(path: Path | str, detail: str = "") -> FrameError:
    """The one-line error for a file OpenCV cannot open as a video.  A file that starts
    like an image OpenCV reads (a PNG, a JPEG…) but did not decode is called a damaged
    image, not a video."""
    with quiet_native():
        image = bool(cv2.haveImageReader(opencv_path(path, FrameError)))
    if image:
        return FrameError(f"{path}: not a readable image: it starts like one OpenCV reads, "
                          "but it is damaged or cut short")
    return FrameError(f"{path}: not a video OpenCV can decode{detail}")


def file_size_limit() -> int | None:
    """This process's file-size limit in bytes (``ulimit -f``), or None if unlimited."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def machine_limit_error(path: Path | str, target: Path | str | None = None
                        ) -> DiskFullError | None:
    """Why the machine, not the input, cut the video at ``path`` short, if it did: a
    nearly full disk under ``target``'s folder, or a file that reached the process's
    file-size limit.  ``None`` otherwise."""
    from .paths import disk_full_error, free_bytes

    path = Path(path)
    target = Path(target) if target is not None else path
    size = path.stat().st_size if path.exists() else 0
    free = free_bytes(target.parent)
    if free is not None and free < max(16 << 20, size):
        return disk_full_error(target.parent, None, target.name)
    limit = file_size_limit()
    if limit is not None and size + _LIMIT_SLACK >= limit:
        return DiskFullError(
            f"{target.parent}: the file-size limit of this process (ulimit -f, "
            f"{_megabytes(limit)}) stopped the write of {target.name} at "
            f"{_megabytes(size)}; raise the limit (ulimit -f unlimited) or write a shorter "
            "video, and run the same command again")
    return None


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def verify_video(path: Path | str, expected: int, target: Path | str | None = None,
                 error: type[Exception] = FrameError) -> None:
    """Check that the video just written at ``path`` holds ``expected`` frames, before
    it is renamed onto ``target``.

    ``cv2.VideoWriter`` only warns when a write fails (a full disk), so without this a
    truncated file would be renamed into place and trusted later.  The header's frame
    count must match and the last frame must decode.  A shortfall on a nearly full
    disk, or at the process's file-size limit, is a
    :class:`~blurutils.errors.DiskFullError` naming the folder.
    """
    path = Path(path)
    target = Path(target) if target is not None else path
    with quiet_native():
        cap = cv2.VideoCapture(opencv_path(path, error))
        try:
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            last_ok = False
            if count == expected and count > 0:
                cap.set(cv2.CAP_PROP_POS_FRAMES, count - 1)
                last_ok = bool(cap.read()[0])
        finally:
            cap.release()
    if count == expected and last_ok:
        return
    machine = machine_limit_error(path, target)
    if machine is not None:
        raise machine
    raise error(f"{target}: the video written holds {count} readable frames, not {expected}; "
                "it was not kept")
