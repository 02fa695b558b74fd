"""Frames: the paper's stages 2-5 (extract, greyscale, crop and resize, normalise).

Every frame is decoded with OpenCV, converted to greyscale, centre-cropped to a 2:1
aspect ratio and resized with ``INTER_AREA`` to 200 wide x 100 tall — the paper's
"proportionally resize each frame to 200x100, cropping as necessary".  (The authors'
code resized without cropping; see ``docs/authors-code.md``.)

Frames stay ``uint8`` with shape (N, 100, 200) — 20 kB each — and are cached under
``data/frames/``; :func:`to_unit_float` normalises them to [0, 1] (stage 5) only when
they meet a model or a metric.  :func:`read_frames_file` reads the frames of any one
file (an image, a multi-page image, a saved .npy array, a video) for ``blur``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import FrameError
from .faults import crash_point
from .paths import atomic_path, check_name_length, check_regular_file, data_lock, frames_dir
from .quiet import opencv_path
from .videofile import not_a_video_error, open_video  # OpenCV/FFmpeg kept quiet

log = logging.getLogger(__name__)

#: Frame size used throughout the study: (height, width) = 100 rows x 200 columns.
FRAME_HEIGHT, FRAME_WIDTH = 100, 200
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH)
#: Frame formats: (height, width) and resampling.  ``paper`` is the study's; the
#: authors' code loaded the convolutional model's frames as ``fillnet_conv`` (200 tall,
#: 100 wide, nearest neighbour: ``docs/authors-code.md``).
#: ``half`` (50 x 100) is the low-memory layout for machines under 6 GB such as mybinder.org's
#: 2 GB: a dense model on it has a quarter of the parameters (see ``blurutils.machine``).
FRAME_FORMATS: dict[str, tuple[tuple[int, int], int]] = {
    "paper": (FRAME_SHAPE, cv2.INTER_AREA),
    "fillnet_conv": ((FRAME_WIDTH, FRAME_HEIGHT), cv2.INTER_NEAREST),
    "half": ((FRAME_HEIGHT // 2, FRAME_WIDTH // 2), cv2.INTER_AREA),
}
#: Bump when preprocessing changes, so stale caches are not trusted.
_PIPELINE_VERSION = 1
#: A video may decode a few frames fewer than its header promises without being broken.
_TRUNCATION_SLACK = 0.02
#: Most bytes of frames one decode keeps (200,000 paper-size frames); a longer video
#: needs ``max_frames`` or ``step``.  The header's frame count is never trusted for
#: memory: the array grows as frames actually arrive.
MAX_FRAME_BYTES = 4 << 30
#: Frame rates outside (0, this] in a header are treated as unknown (25 fps).
_MAX_FPS = 1000.0


def crop_box(width: int, height: int, aspect: float = FRAME_WIDTH / FRAME_HEIGHT
             ) -> tuple[int, int, int, int]:
    """Centre crop ``(x, y, w, h)`` of a width x height frame to the given aspect ratio."""
    if width / height > aspect:
        w, h = int(round(height * aspect)), height
    else:
        w, h = width, int(round(width / aspect))
    return (width - w) // 2, (height - h) // 2, w, h


def frame_format(name: str) -> tuple[tuple[int, int], int]:
    """``(shape, cv2 interpolation)`` of a named frame format (see ``FRAME_FORMATS``)."""
    try:
        return FRAME_FORMATS[name]
    except KeyError:
        raise FrameError(f"unknown frame format {name!r} "
                         f"(expected one of {', '.join(FRAME_FORMATS)})") from None


def preprocess_frame(bgr: np.ndarray, layout: str = "paper") -> np.ndarray:
    """One decoded BGR (or grey) frame -> uint8 greyscale (100, 200): crop, grey, resize.

    ``layout="fillnet_conv"`` gives the authors' conv-model frames instead (200, 100).
    """
    (out_h, out_w), interpolation = frame_format(layout)
    height, width = bgr.shape[:2]
    x, y, w, h = crop_box(width, height)
    view = bgr[y:y + h, x:x + w]
    grey = cv2.cvtColor(view, cv2.COLOR_BGR2GRAY) if view.ndim == 3 else view
    return cv2.resize(grey, (out_w, out_h), interpolation=interpolation)


def to_unit_float(frames: np.ndarray) -> np.ndarray:
    """Stage 5: uint8 intensities -> float32 in [0, 1]."""
    return np.asarray(frames, dtype=np.float32) / np.float32(255.0)


def probe_video(path: Path | str) -> dict[str, Any]:
    """Open ``path`` with OpenCV and return its header: frame_count, fps, width, height."""
    path = Path(path)
    _check_file(path)
    cap = open_video(opencv_path(path, FrameError))  # a non-UTF-8 name crashes OpenCV
    try:
        if not cap.isOpened():
            raise not_a_video_error(path)
        info = dict(frame_count=int(cap.get(cv2.CAP_PROP_FRAME_COUNT)),
                    fps=float(cap.get(cv2.CAP_PROP_FPS)),
                    width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                    height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()
    if info["width"] <= 0 or info["height"] <= 0:
        raise not_a_video_error(path, " (no frame size in its header)")
    return info


def _check_file(path: Path) -> None:
    if not path.exists():
        raise FrameError(f"{path}: no such file")
    if path.is_dir():
        raise FrameError(f"{path}: is a directory, not a video file")
    check_regular_file(path, "video", FrameError)  # a FIFO or device would block
    if path.stat().st_size == 0:
        raise FrameError(f"{path}: file is empty")
    try:
        with open(path, "rb"):
            pass
    except PermissionError as exc:  # OpenCV would call it "not a video"
        raise FrameError(f"{path}: {unreadable_reason(path, exc)}") from None


def unreadable_reason(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be read, in words: whose it is and its mode (a file another
    user wrote into a shared folder, e.g. with ``umask 077``)."""
    try:
        st = path.stat()
    except OSError:
        return f"cannot be read ({exc.strerror or exc})"
    try:
        import pwd

        owner = f"{pwd.getpwuid(st.st_uid).pw_name} (uid {st.st_uid})"
    except (ImportError, KeyError):
        owner = f"uid {st.st_uid}"
    whose = "yours" if st.st_uid == getattr(os, "geteuid", lambda: -1)() else f"owned by {owner}"
    return (f"not readable by this user ({exc.strerror or exc}: the file is {whose}, mode "
            f"{st.st_mode & 0o777:o}); ask its owner to make it readable (chmod a+r), or use "
            "a file or BLURUTILS_DATA_DIR folder of your own")


def _unreadable(path: Path) -> bool:
    """``path`` exists but this process may not read it."""
    try:
        with open(path, "rb"):
            return False
    except FileNotFoundError:
        return False
    except OSError:
        return True


class _ReadAhead(threading.Thread):
    """Decode a video in a background thread, a few frames ahead of the caller.

    OpenCV releases the GIL while it decodes, resizes and converts colour, so decoding
    frame i+1 overlaps with preprocessing frame i: on 2 cores this took extraction from
    0.60 to 0.68 of the raw decode rate (``docs/BENCHMARKS.md``).  The thread keeps
    the loop's rules: frames ``first, first + step, ...`` before index ``stop``, at most
    ``limit`` of them (others are only grabbed), and it notes whether it ran into the end
    of the file and how many frames it got through.
    """

    def __init__(self, cap: Any, first: int, step: int, stop: int | None,
                 limit: int | None, depth: int = 8):
        super().__init__(name="blurutils-decode", daemon=True)
        self.cap, self.first, self.step, self.stop, self.limit = cap, first, step, stop, limit
        self.index = 0            # frames read or grabbed so far
        self.hit_eof = False      # the file ended before stop / limit
        self.error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._halt = threading.Event()

    def run(self) -> None:
        sent = 0
        try:
            while self.limit is None or sent < self.limit:
                if self.stop is not None and self.index >= self.stop:
                    break
                wanted = self.index >= self.first and (self.index - self.first) % self.step == 0
                ok, bgr = self.cap.read() if wanted else (self.cap.grab(), None)
                if not ok:
                    self.hit_eof = True
                    break
                self.index += 1
                if wanted:
                    if not self._put(bgr):
                        return
                    sent += 1
        except BaseException as exc:  # raised again in the caller's thread
            self.error = exc
        finally:
            self._put(None)

    def _put(self, item: Any) -> bool:
        while not self._halt.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def frames(self):
        """The wanted frames, in order; re-raises an error from the decoding thread."""
        while (bgr := self._queue.get()) is not None:
            yield bgr
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Stop decoding (if the caller stopped early) and wait for the thread."""
        self._halt.set()
        self.join()


def extract_frames(path: Path | str, *, max_frames: int | None = None, step: int = 1,
                   start: float | None = None, end: float | None = None,
                   progress: bool | None = None, layout: str = "paper") -> np.ndarray:
    """Decode a video and return its preprocessed frames, uint8 (N, 100, 200).

    (``layout="fillnet_conv"``: (N, 200, 100), the authors' conv-model frames.)
    ``step`` keeps every step-th frame; ``start``/``end`` are times in seconds;
    ``max_frames`` caps the number of frames kept.  Raises :class:`FrameError` for
    files that are missing, empty, not video, truncated, too small or too short.
    """
    path = Path(path)
    _check_options(max_frames, step, start, end)
    shape, _ = frame_format(layout)
    info = probe_video(path)
    x, y, w, h = crop_box(info["width"], info["height"])
    if w < FRAME_WIDTH or h < FRAME_HEIGHT:
        raise FrameError(
            f"{path}: frames of {info['width']}x{info['height']} are smaller than "
            f"{FRAME_WIDTH}x{FRAME_HEIGHT} after cropping to 2:1 ({w}x{h})")
    fps = info["fps"] if 0 < info["fps"] <= _MAX_FPS else 25.0
    first = int(round(start * fps)) if start else 0
    stop = int(round(end * fps)) if end is not None else None
    header = info["frame_count"]
    last = min(header, stop) if (header > 0 and stop is not None) else (stop or header)
    expected = max(0, (last - first + step - 1) // step) if last else 0
    capacity = min(expected, max_frames) if max_frames else expected
    frame_bytes = shape[0] * shape[1]
    limit = max_frames or MAX_FRAME_BYTES // frame_bytes
    # A header may claim billions of frames: allocate for what arrives, not for that.
    frames = np.empty((min(max(capacity, 16), 1024), *shape), dtype=np.uint8)

    from tqdm.auto import tqdm

    tty = sys.stderr is not None and sys.stderr.isatty()  # None: stderr closed (2>&-)
    disable = (not tty) if progress is None else not progress
    bar = tqdm(total=capacity or None, desc=f"frames {path.name}", unit="frame",
               disable=disable, leave=False)
    cap = open_video(opencv_path(path, FrameError))
    reader = _ReadAhead(cap, first, step, stop, limit + (0 if max_frames else 1))
    reader.start()
    kept = 0
    try:
        for bgr in reader.frames():
            if kept == limit:  # only without max_frames: one frame past the bound
                raise FrameError(
                    f"{path}: more than {limit:,} frames ({MAX_FRAME_BYTES >> 30} GiB of "
                    "frames); pass --max-frames (max_frames) or --step to take fewer")
            if kept == len(frames):
                grown = min(2 * len(frames), limit)
                frames = np.concatenate([frames, np.empty((grown - len(frames), *shape),
                                                          dtype=np.uint8)])
            frames[kept] = preprocess_frame(bgr, layout)
            kept += 1
            bar.update(1)
            crash_point("frame")
    finally:
        reader.close()
        cap.release()
        bar.close()
    index, hit_eof = reader.index, reader.hit_eof
    if kept == 0:
        raise FrameError(f"{path}: no frame could be decoded (corrupt or unsupported video)")
    if hit_eof and header > 0 and index < header * (1 - _TRUNCATION_SLACK) - 1:
        raise FrameError(f"{path}: truncated or corrupt: decoded {index} of the "
                         f"{header} frames its header promises")
    if kept < 3:
        raise FrameError(f"{path}: only {kept} frame(s) decoded; at least 3 are needed "
                         "(a frame and both neighbours)")
    return frames[:kept] if kept == len(frames) else frames[:kept].copy()


def _check_options(max_frames: int | None, step: int, start: float | None,
                   end: float | None) -> None:
    if max_frames is not None and max_frames < 3:
        raise FrameError(f"max_frames={max_frames}: must be at least 3")
    if step < 1:
        raise FrameError(f"step={step}: must be a positive integer")
    for name, value in (("start", start), ("end", end)):
        if value is not None and not (isinstance(value, (int, float))
                                      and math.isfinite(value) and 0 <= value <= 1e6):
            raise FrameError(f"{name}={value!r}: must be a finite time between 0 and 1e6 "
                             "seconds")
    if end is not None and (end <= 0 or (start is not None and end <= start)):
        raise FrameError(f"end={end}: must be after start ({start or 0} s)")


def cache_path(video: Path | str, **options: Any) -> Path:
    """Where :func:`load_frames` caches frames of ``video`` decoded with ``options``.

    The key covers the file (absolute path, size, modification time), every option and
    the preprocessing version, so changing any of them makes a new cache entry.
    """
    video = Path(video).resolve()
    stat = video.stat()
    options = dict(options)
    if options.get("layout", "paper") == "paper":
        options.pop("layout", None)  # the study's frames keep the keys they always had
    shape, _ = frame_format(options.get("layout", "paper"))
    key = json.dumps(dict(file=str(video), size=stat.st_size, mtime_ns=stat.st_mtime_ns,
                          version=_PIPELINE_VERSION, shape=shape,
                          **{k: options.get(k) for k in sorted(options)}), sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in video.stem)[:40]
    return frames_dir() / f"{stem}-{digest}.npy"


def read_cache(path: Path, shape: tuple[int, int] = FRAME_SHAPE) -> np.ndarray | None:
    """Load a frame cache if it is a valid uint8 (N, *shape) array, else delete it."""
    if not path.is_file():
        return None
    try:
        frames = np.load(path, allow_pickle=False)
    except PermissionError as exc:  # another user's cache in a shared data folder: keep it
        log.warning("frame cache %s: %s; decoding the frames without it", path.name,
                    unreadable_reason(path, exc))
        return None
    except (OSError, ValueError, EOFError) as exc:
        log.warning("frame cache %s is unreadable (%s); rebuilding it", path.name, exc)
        path.unlink(missing_ok=True)
        return None
    if frames.dtype != np.uint8 or frames.ndim != 3 or frames.shape[1:] != tuple(shape) \
            or len(frames) < 3:
        log.warning("frame cache %s holds %s %s, not frames; rebuilding it",
                    path.name, frames.dtype, frames.shape)
        path.unlink(missing_ok=True)
        return None
    return frames


def load_frames(source: str | os.PathLike = "sample", *, max_frames: int | None = None,
                step: int = 1, start: float | None = None, end: float | None = None,
                cache: bool = True, progress: bool | None = None, layout: str = "paper",
                **source_options: Any) -> np.ndarray:
    """Frames of a source, preprocessed to uint8 (N, 100, 200), from the cache if present.

    ``source`` is ``"sample"`` (the bundled Big Buck Bunny clip), ``"excerpt"`` (the
    bundled minute of the film), ``"synthetic"``, a
    video file path or an http(s) URL (see :func:`blurutils.sources.resolve_source`,
    which also takes ``source_options`` such as ``n_frames`` and ``seed`` for the
    synthetic video).  The cache is written atomically, so an interrupted run never
    leaves a file that is later trusted.  ``layout`` names a frame format
    (``FRAME_FORMATS``; ``paper`` unless reproducing the authors' conv frames).
    """
    from .sources import resolve_source

    _check_options(max_frames, step, start, end)
    shape, _ = frame_format(layout)
    with data_lock(note=lambda line: log.warning("%s", line)):
        video = resolve_source(source, **source_options)
        max_frames = film_frame_limit(video, max_frames, step, start, end)
        options = dict(max_frames=max_frames, step=step, start=start, end=end)
        target = cache_path(video, layout=layout, **options)
        if cache:
            frames = read_cache(target, shape)
            if frames is not None:
                return frames
        frames = extract_frames(video, progress=progress, layout=layout, **options)
        if cache and not _unreadable(target):  # never replace a cache this user cannot read
            write_cache(target, frames)
    return frames


def film_frame_limit(video: Path, max_frames: int | None, step: int = 1,
                     start: float | None = None, end: float | None = None) -> int | None:
    """``max_frames`` capped so that a known film (``blurutils.film``) stops before its
    end credits: the named source and a byte-identical copy of it give the same frames.
    Only the plain whole-film request (no start, end or step) is capped and shares the
    cache; other requests are the user's own window on the file."""
    from .film import pre_credit_frames

    if step != 1 or start or end is not None:
        return max_frames
    limit = pre_credit_frames(video)
    if limit is None:
        return max_frames
    return limit if max_frames is None else min(max_frames, limit)


def write_cache(target: Path, frames: np.ndarray) -> bool:
    """Save ``frames`` as a frame cache (atomically).  The cache is optional: a write
    that fails (a full disk, a read-only folder) is a logged warning, and the caller
    keeps the frames it computed.  Returns whether the cache was written."""
    try:
        with atomic_path(target, needed=frames.nbytes + 128) as tmp:
            np.save(tmp, frames, allow_pickle=False)
    except OSError as exc:  # DiskFullError included
        log.warning("could not write the frame cache %s (%s); using the decoded frames "
                    "without a cache", target.name, exc)
        return False
    return True


# --------------------------------------------------------------------------- a frames file

#: Largest array :func:`read_frames_file` loads from a .npy file or a multi-page image
#: (bytes).
MAX_ARRAY_BYTES = 4 << 30
#: Most pages :func:`read_frames_file` reads from one multi-page image (an animated GIF,
#: a TIFF stack).
MAX_PAGES = 100_000


def read_frames_file(path: Path) -> np.ndarray:
    """Frames from an image, a multi-page image (each page a frame), a saved .npy
    array or a video (preprocessed), as ``blur`` measures them.  Only regular files are
    opened (a FIFO or a device would block or never end); sizes are checked from
    headers first.  Every problem is one line (:class:`~blurutils.errors.FrameError`)."""
    check_name_length(path, "file name", FrameError)
    if not path.exists():
        raise FrameError(f"{path}: no such file")
    if path.is_dir():
        raise FrameError(f"{path}: is a directory")
    check_regular_file(path, "image, video or .npy", FrameError)
    if path.suffix.lower() == ".npy":
        return _read_npy(path)
    if path.stat().st_size == 0:
        return extract_frames(path)  # its one-line "empty" error
    pages = 0
    name = opencv_path(path, FrameError)  # a non-UTF-8 name crashes OpenCV
    if cv2.haveImageReader(name):  # imcount logs an error for non-images
        try:
            pages = cv2.imcount(name)
        except cv2.error:
            pages = 0
    if pages > 1:
        return _read_pages(path, pages)
    image = cv2.imread(name, cv2.IMREAD_GRAYSCALE)
    if image is not None:
        return image
    return extract_frames(path)


def _read_npy(path: Path) -> np.ndarray:
    """A .npy array, after its header's shape and dtype are checked against the file's
    size and :data:`MAX_ARRAY_BYTES` (a header can claim terabytes)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            offset = handle.tell()
        size = path.stat().st_size
    except (OSError, ValueError, SyntaxError) as exc:
        raise FrameError(f"{path}: not a readable .npy array ({str(exc)[:120]})") from None
    count = 1
    for n in shape:
        count *= int(n)
    nbytes = count * dtype.itemsize
    if dtype.hasobject:
        raise FrameError(f"{path}: not a readable .npy array (Object arrays cannot be loaded "
                         "when allow_pickle=False)")
    if nbytes > MAX_ARRAY_BYTES:
        raise FrameError(f"{path}: its header claims a {dtype} array of shape {shape} "
                         f"({nbytes:,} bytes), more than the {MAX_ARRAY_BYTES:,} bytes blur "
                         "reads")
    if nbytes > size - offset:
        raise FrameError(f"{path}: truncated: its header claims {nbytes:,} bytes of data, the "
                         f"file holds {max(0, size - offset):,}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FrameError(f"{path}: not a readable .npy array ({exc})") from None


def _read_pages(path: Path, pages: int) -> np.ndarray:
    """Every page of a multi-page image (an animated GIF, a TIFF stack) as (N, H, W) grey
    frames: measured frame by frame like a video, never as its first page alone."""
    if pages > MAX_PAGES:
        raise FrameError(f"{path}: {pages:,} pages, more than the {MAX_PAGES:,} blur reads")
    ok, images = cv2.imreadmulti(opencv_path(path, FrameError), flags=cv2.IMREAD_GRAYSCALE)
    if not ok or not images:
        raise FrameError(f"{path}: a multi-page image whose pages OpenCV cannot decode")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise FrameError(f"{path}: its {len(images)} pages differ in size "
                         f"({', '.join(f'{w}x{h}' for h, w in sorted(shapes)[:3])}); save "
                         "them as separate images or as a video")
    stack = np.stack(images)
    if stack.nbytes > MAX_ARRAY_BYTES:  # pragma: no cover - bounded by MAX_PAGES in practice
        raise FrameError(f"{path}: its pages take more than {MAX_ARRAY_BYTES:,} bytes")
    return stack
