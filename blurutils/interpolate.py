"""Interpolated video: double a clip's frame rate with a trained model or a baseline.

This is what video interpolation is for, and the paper never shows it.  The N input
frames are spaced out to positions 0, 2, 4, ... of a 2N-1 frame timeline and every odd
position t is predicted from its neighbours t-1 and t+1 — exactly how the
Bi-Directional autoencoder and the baselines are trained and scored, so the same code
paths (``pairs.examples_for``, ``training.predict``, ``baselines.predict_baseline``)
serve both.

With ``evaluate=True`` the clip's even frames are the input and its odd frames the
truth, so every interpolated frame can be scored (RBF and PSNR over time expose
flicker between sharp and blurry frames).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError
from .paths import atomic_path

METHODS = ("bidirectional", "blend", "flow", "copy")
_BASELINE = {"blend": "Linear blend", "flow": "Optical flow", "copy": "Copy previous"}


@dataclass
class Interpolation:
    """A doubled clip: ``frames`` (2N-1, H, W) uint8, which of them are ``predicted``,
    and, when the truth is known, per-frame metrics of the predicted ones."""

    frames: np.ndarray
    predicted: np.ndarray
    truth: np.ndarray | None = None
    metrics: pd.DataFrame | None = None


def interleave(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames at even positions of a 2N-1 timeline (odd ones zero) and the odd indices."""
    if frames.ndim != 3 or len(frames) < 2:
        raise ConfigError(f"need at least 2 frames to interpolate, got shape {frames.shape}")
    spaced = np.zeros((2 * len(frames) - 1,) + frames.shape[1:], dtype=np.uint8)
    spaced[::2] = frames
    return spaced, np.arange(1, len(spaced), 2)


def predict_midpoints(spaced: np.ndarray, targets: np.ndarray, method: str,
                      model=None) -> np.ndarray:
    """Float predictions in [0, 1] of ``spaced[targets]`` from their two neighbours."""
    if method == "bidirectional":
        if model is None:
            raise ConfigError("method 'bidirectional' needs a trained Bi-Directional model")
        from .pairs import examples_for
        from .training import predict

        return predict(model, spaced, examples_for("bidirectional", targets))
    if method in _BASELINE:
        from .baselines import predict_baseline

        return predict_baseline(_BASELINE[method], spaced, targets)
    raise ConfigError(f"unknown method {method!r} (expected one of {', '.join(METHODS)})")


def to_uint8(pred: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(pred) * 255.0), 0, 255).astype(np.uint8)


def interpolate(frames: np.ndarray, method: str = "flow", *, model=None,
                evaluate: bool = False) -> Interpolation:
    """Double the frame rate of uint8 frames (N, H, W).

    ``evaluate=False``: every frame is kept and N-1 new ones are made (2N-1 in all).
    ``evaluate=True``: the even frames are the input, the odd ones are hidden and
    predicted, and ``metrics`` scores each prediction against its hidden truth.
    """
    from .evaluation import frame_metrics

    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ConfigError(f"frames must be uint8, got {frames.dtype}")
    if evaluate:
        if len(frames) < 3:
            raise ConfigError("evaluate needs at least 3 frames (an odd one to hide)")
        usable = len(frames) if len(frames) % 2 else len(frames) - 1
        spaced, targets = interleave(frames[:usable:2])
        truth = frames[:usable]
    else:
        spaced, targets = interleave(frames)
        truth = None
    pred = predict_midpoints(spaced, targets, method, model)
    spaced[targets] = to_uint8(pred)
    predicted = np.zeros(len(spaced), dtype=bool)
    predicted[targets] = True
    metrics = None
    if truth is not None:
        metrics = frame_metrics(pred, truth[targets], targets)
    return Interpolation(spaced, predicted, truth, metrics)


def write_video(frames: np.ndarray, path: Path | str, fps: float) -> Path:
    """Greyscale frames -> MP4 (mp4v), written atomically; OpenCV's log lines stay off
    stderr, and a full disk or file-size limit is a one-line DiskFullError."""
    import cv2

    from .quiet import opencv_path, quiet_native
    from .videofile import verify_video

    path = Path(path)
    height, width = frames.shape[1:]
    opencv_path(path, ConfigError)  # a name OpenCV cannot take: one line, not SIGSEGV
    with atomic_path(path, needed=frames.nbytes // 20) as tmp:
        with quiet_native():  # OpenCV warns once per lost frame, straight to fd 2
            writer = cv2.VideoWriter(opencv_path(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                     (width, height))
            try:
                if not writer.isOpened():
                    raise ConfigError(f"{path}: OpenCV cannot write an MP4 here")
                for frame in frames:
                    writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
            finally:
                writer.release()
        verify_video(tmp, len(frames), path, error=ConfigError)  # a full disk only warns
    return path


def check_outputs(outputs: list[Path], inputs: list[Path], *, overwrite: bool = False) -> None:
    """Refuse, before any work, outputs that would overwrite an input or land in the
    data folder (the frames cache and downloads), or that cannot be written: a
    directory in the way, a file where a folder should be, a read-only folder.

    An existing output is replaced only if blurutils wrote it (its record beside the
    video, :func:`record_output`, names it with its size and time) or ``overwrite``:
    a user's own ``clip.gif`` or ``clip_strip.png`` is never replaced without a word."""
    from .paths import data_root

    def same(a: Path, b: Path) -> bool:
        try:
            return a.resolve() == b.resolve() or (a.exists() and b.exists()
                                                  and os.path.samefile(a, b))
        except OSError:
            return False

    data = data_root().resolve()
    for out in outputs:
        for source in inputs:
            if same(out, source):
                raise ConfigError(f"{out}: is an input of this command ({source.name}); "
                                  "choose another --out, inputs are never overwritten")
        resolved = out.resolve()
        if resolved == data or data in resolved.parents:
            raise ConfigError(f"{out}: inside the data folder {data} (frame caches and "
                              "downloads); choose another --out")
        if out.is_dir():
            raise ConfigError(f"{out}: is a directory; --out names the video to write, "
                              "e.g. results/interp.mp4")
        folder = out.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise ConfigError(f"{out}: cannot be written: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConfigError(f"{out}: cannot be written: {folder} is not writable")
    if not overwrite:
        foreign = [out for out in outputs if not _written_here(out, outputs[0])]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise ConfigError(f"{foreign[0]}: already exists and blurutils did not write it"
                              f"{more}; choose another --out, or pass --overwrite to "
                              "replace it")


def _record_path(video: Path) -> Path:
    """Beside ``video``: blurutils' record of the outputs it wrote for this --out."""
    return video.with_name(f".{video.stem}.blurutils-outputs.json")


def _read_record(video: Path) -> dict:
    try:
        record = _record_path(video)
        if record.stat().st_size > 1 << 16:
            return {}
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _written_here(path: Path, video: Path) -> bool:
    """Whether ``path`` is missing, or is the very file blurutils wrote there (same
    size and modification time as recorded)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return _read_record(video).get(path.name) == [st.st_size, st.st_mtime_ns]


def record_output(path: Path, video: Path) -> Path:
    """Note ``path`` (just written for the output ``video``) as blurutils' own, so the
    same command run again may replace it; returns ``path``."""
    from .paths import write_text_atomic

    path = Path(path)
    record = _read_record(video)
    st = path.stat()
    record[path.name] = [st.st_size, st.st_mtime_ns]
    write_text_atomic(_record_path(video), json.dumps(record, sort_keys=True) + "\n")
    return path


def write_gif(frames: np.ndarray, path: Path | str, fps: float) -> Path:
    """Greyscale frames -> looping animated GIF (Pillow), written atomically."""
    from PIL import Image

    path = Path(path)
    images = [Image.fromarray(f, mode="L") for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(1, round(1000 / fps)), loop=0)
    return path
