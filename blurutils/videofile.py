"""Checking a video file just written, before it is trusted.

``cv2.VideoWriter`` only warns when a write fails, so every video the project writes
(the synthetic clip, an interpolated video) is read back here before it is renamed
into place.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from .errors import FrameError


def verify_video(path: Path | str, expected: int, target: Path | str | None = None,
                 error: type[Exception] = FrameError) -> None:
    """Check that the video just written at ``path`` holds ``expected`` frames, before
    it is renamed onto ``target``.

    ``cv2.VideoWriter`` only warns when a write fails (a full disk), so without this a
    truncated file would be renamed into place and trusted later.  The header's frame
    count must match and the last frame must decode.  A shortfall on a nearly full
    disk is a :class:`~blurutils.errors.DiskFullError` naming the folder.
    """
    from .paths import disk_full_error, free_bytes

    path = Path(path)
    target = Path(target) if target is not None else path
    cap = cv2.VideoCapture(str(path))
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
    free = free_bytes(target.parent)
    size = path.stat().st_size if path.exists() else 0
    if free is not None and free < max(16 << 20, size):
        raise disk_full_error(target.parent, None, target.name)
    raise error(f"{target}: the video written holds {count} readable frames, not {expected}; "
                "it was not kept")
