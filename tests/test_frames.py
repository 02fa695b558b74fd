"""Tests for blurutils.frames: decoding, crop/grey/resize, options, the cache, errors.

The sample clip (Big Buck Bunny, 132 frames, 1280x720) is decoded once per session by
the ``sample_frames`` fixture (conftest.py) and once more for the ``step`` check; every
other video here is a tiny clip written with OpenCV.  Every test has its own data
folder (``BLURUTILS_DATA_DIR``, autouse fixture in conftest.py).  Hostile files
(corrupt videos, a pickled cache, a clip too long for memory) come from the ``bad`` and
``bad2`` fixtures in conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from blurutils import frames as frames_mod
from blurutils.errors import FrameError, SourceError
from blurutils.frames import (FRAME_SHAPE, cache_path, crop_box, extract_frames, load_frames,
                              preprocess_frame, read_cache, to_unit_float)
from blurutils.paths import frames_dir
from blurutils.sources import sample_path


def write_video(path: Path, n: int, width: int, height: int, *, fourcc: str = "mp4v",
                seed: int = 0) -> Path:
    """Write ``n`` random colour frames; return the path."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0,
                             (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(seed)
    for _ in range(n):
        writer.write(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    writer.release()
    assert path.stat().st_size > 0
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Independent decode with plain OpenCV (BGR frames)."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(frame)
    cap.release()
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame 400x200 mp4v clip (already 2:1), outside any data folder."""
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", 12, 400, 200)


def frame_files() -> list[str]:
    """Everything in data/frames, hidden temporaries included."""
    return sorted(p.name for p in frames_dir().iterdir())


# --------------------------------------------------------------------------- the sample clip

def test_extract_sample_clip(sample_frames: np.ndarray, sample_video: Path) -> None:
    assert sample_frames.dtype == np.uint8
    assert sample_frames.shape == (132, 100, 200)
    assert sample_frames.std() > 10  # real picture content, not a blank decode
    # Frame 50 by hand: decode, crop 1280x720 to 1280x640 (rows 40..679), grey, area-resize.
    cap = cv2.VideoCapture(str(sample_video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    for _ in range(51):
        ok, bgr = cap.read()
        assert ok
    cap.release()
    grey = cv2.cvtColor(bgr[40:680], cv2.COLOR_BGR2GRAY)
    manual = cv2.resize(grey, (200, 100), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(sample_frames[50], manual)


def test_sample_options(sample_frames: np.ndarray, sample_video: Path) -> None:
    every_second = extract_frames(sample_video, step=2, progress=False)
    assert every_second.shape == (66, 100, 200)
    np.testing.assert_array_equal(every_second, sample_frames[::2])
    # max_frames and start/end stop decoding early, so these are cheap.
    first10 = extract_frames(sample_video, max_frames=10)
    np.testing.assert_array_equal(first10, sample_frames[:10])
    window = extract_frames(sample_video, start=1.0, end=2.0)  # 25 fps: frames 25..49
    assert window.shape == (25, 100, 200)
    np.testing.assert_array_equal(window, sample_frames[25:50])
    combo = extract_frames(sample_video, start=0.4, end=2.0, step=3, max_frames=5)
    np.testing.assert_array_equal(combo, sample_frames[10:50:3][:5])


# --------------------------------------------------------------------------- preprocessing

@pytest.mark.parametrize("width, height, box", [
    (400, 200, (0, 0, 400, 200)),        # exactly 2:1: untouched
    (1280, 720, (0, 40, 1280, 640)),     # 16:9 is taller than 2:1: rows cut
    (640, 480, (0, 80, 640, 320)),       # 4:3
    (300, 600, (0, 225, 300, 150)),      # portrait
    (1000, 300, (200, 0, 600, 300)),     # wider than 2:1: columns cut
    (201, 100, (0, 0, 200, 100)),        # rounding to the nearest pixel
])
def test_crop_box(width: int, height: int, box: tuple[int, int, int, int]) -> None:
    assert crop_box(width, height) == box
    x, y, w, h = box
    assert w / h == pytest.approx(2.0, abs=0.011)
    assert 0 <= x and x + w <= width and 0 <= y and y + h <= height


def test_preprocess_frame_crops_centre_then_resizes() -> None:
    rng = np.random.default_rng(3)
    bgr = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    bgr[:80] = (255, 255, 255)    # top band: must be cropped away
    bgr[400:] = (0, 0, 255)       # bottom band (red): must be cropped away
    out = preprocess_frame(bgr)
    assert out.dtype == np.uint8 and out.shape == (100, 200)
    manual = cv2.resize(cv2.cvtColor(bgr[80:400, 0:640], cv2.COLOR_BGR2GRAY), (200, 100),
                        interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(out, manual)
    # Changing only the cropped bands changes nothing.
    other = bgr.copy()
    other[:80] = 0
    other[400:] = rng.integers(0, 256, (80, 640, 3), dtype=np.uint8)
    np.testing.assert_array_equal(preprocess_frame(other), out)
    # A plain resize without the crop (the authors' way) would differ.
    uncropped = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (200, 100),
                           interpolation=cv2.INTER_AREA)
    assert not np.array_equal(out, uncropped)


def test_preprocess_wide_frame_cuts_columns_and_accepts_grey() -> None:
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 256, (300, 1000), dtype=np.uint8)
    out = preprocess_frame(grey)
    manual = cv2.resize(grey[:, 200:800], (200, 100), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(out, manual)


def test_greyscale_uses_bgr_order() -> None:
    # Pure blue and pure red give different greys (0.114 vs 0.299 of 255).
    blue = np.zeros((200, 400, 3), np.uint8)
    blue[..., 0] = 255
    red = np.zeros((200, 400, 3), np.uint8)
    red[..., 2] = 255
    assert preprocess_frame(blue)[50, 100] == 29
    assert preprocess_frame(red)[50, 100] == 76


def test_to_unit_float() -> None:
    x = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    out = to_unit_float(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, x / 255.0, rtol=1e-7)
    assert out.min() == 0.0 and out.max() == 1.0


def test_extract_small_clip_matches_manual_decode(clip: Path) -> None:
    frames = extract_frames(clip)
    raw = decode_all(clip)
    assert frames.shape == (len(raw), 100, 200) == (12, 100, 200)
    for got, bgr in zip(frames, raw):
        manual = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (200, 100),
                            interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(got, manual)


# --------------------------------------------------------------------------- the cache

def test_load_frames_writes_cache_atomically_and_reads_it(clip: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    first = load_frames(clip)
    assert first.shape == (12, 100, 200) and first.dtype == np.uint8
    target = cache_path(clip, max_frames=None, step=1, start=None, end=None)
    assert target.parent == frames_dir()
    assert frame_files() == [target.name]        # one .npy, no *.tmp* leftovers
    np.testing.assert_array_equal(np.load(target), first)

    def boom(*args, **kwargs):
        raise AssertionError("extract_frames called although the cache is valid")

    monkeypatch.setattr(frames_mod, "extract_frames", boom)
    second = load_frames(clip)
    np.testing.assert_array_equal(second, first)
    with pytest.raises(AssertionError, match="cache is valid"):
        load_frames(clip, cache=False)             # cache=False really decodes


def test_different_options_use_different_cache_files(clip: Path) -> None:
    full = load_frames(clip)
    short = load_frames(clip, max_frames=5)
    stepped = load_frames(clip, step=2)
    np.testing.assert_array_equal(short, full[:5])
    np.testing.assert_array_equal(stepped, full[::2])
    names = frame_files()
    assert len(names) == 3 and all(n.endswith(".npy") and ".tmp" not in n for n in names)
    keys = {cache_path(clip, max_frames=m, step=s, start=None, end=None)
            for m, s in [(None, 1), (5, 1), (None, 2)]}
    assert len(keys) == 3


def test_cache_is_invalidated_when_the_video_changes(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 5, 400, 200, seed=1)
    before = cache_path(video, step=1)
    write_video(video, 6, 400, 200, seed=2)
    assert cache_path(video, step=1) != before


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage, not an npy file\xff" * 20)


def _corrupt_truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt_shape(path: Path) -> None:
    np.save(path, np.zeros((12, 50, 50), np.uint8))


def _corrupt_dtype(path: Path) -> None:
    np.save(path, np.zeros((12, *FRAME_SHAPE), np.float32))


def _corrupt_too_few(path: Path) -> None:
    np.save(path, np.zeros((2, *FRAME_SHAPE), np.uint8))


@pytest.mark.parametrize("corrupt", [_corrupt_garbage, _corrupt_truncated, _corrupt_shape,
                                     _corrupt_dtype, _corrupt_too_few])
def test_corrupt_cache_is_deleted_and_rebuilt(clip: Path, corrupt) -> None:
    good = load_frames(clip)
    target = cache_path(clip, max_frames=None, step=1, start=None, end=None)
    good_bytes = target.read_bytes()
    corrupt(target)
    assert read_cache(target) is None
    assert not target.exists()                      # detected and deleted
    target.write_bytes(good_bytes)
    corrupt(target)
    again = load_frames(clip)                       # rebuilt from the video
    np.testing.assert_array_equal(again, good)
    cached = np.load(target)
    assert cached.dtype == np.uint8
    np.testing.assert_array_equal(cached, good)
    assert frame_files() == [target.name]


# --------------------------------------------------------------------------- errors

def assert_nothing_cached() -> None:
    assert frame_files() == []


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(FrameError, match="nope.mp4.*no such file"):
        extract_frames(path)
    with pytest.raises(SourceError, match="nope.mp4"):   # load_frames resolves it first
        load_frames(path)
    assert_nothing_cached()


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    with pytest.raises(FrameError, match="folder.mp4.*directory"):
        extract_frames(folder)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(FrameError, match="empty.mp4.*empty"):
        extract_frames(path)


def test_text_file_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(FrameError, match="notes.mp4.*not a video"):
        extract_frames(path)
    with pytest.raises(FrameError, match="notes.mp4"):
        load_frames(path)
    assert_nothing_cached()


def test_truncated_sample_clip(tmp_path: Path, sample_video: Path) -> None:
    # The sample's moov atom (the index) is at the end of the file, so a cut-off copy
    # is not recognised as a video at all.
    data = sample_video.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(FrameError, match="cut.mp4.*(not a video|truncated|corrupt|no frame)"):
        extract_frames(path)
    with pytest.raises(FrameError, match="cut.mp4"):
        load_frames(path)
    assert_nothing_cached()


def test_truncated_avi_is_detected_by_frame_count(tmp_path: Path) -> None:
    # An AVI keeps its header (frame count) at the start, so a cut-off copy opens and
    # decodes some frames: the shortfall against the header must be reported.
    video = write_video(tmp_path / "full.avi", 30, 400, 200, fourcc="MJPG")
    assert len(extract_frames(video)) == 30
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    assert 3 <= len(decode_all(cut)) < 25   # OpenCV itself decodes part of it
    with pytest.raises(FrameError, match=r"cut.avi.*truncated.*of the 30 frames"):
        extract_frames(cut)
    with pytest.raises(FrameError, match="truncated"):
        load_frames(cut)
    assert_nothing_cached()
    # Asking only for the frames that are present is fine.
    assert len(extract_frames(cut, max_frames=5)) == 5


@pytest.mark.parametrize("n", [1, 2])
def test_too_few_frames(tmp_path: Path, n: int) -> None:
    path = write_video(tmp_path / f"n{n}.mp4", n, 400, 200)
    with pytest.raises(FrameError, match=rf"n{n}.mp4.*only {n} frame"):
        extract_frames(path)
    with pytest.raises(FrameError, match=f"n{n}.mp4"):
        load_frames(path)
    assert_nothing_cached()


def test_three_frames_is_enough(tmp_path: Path) -> None:
    assert extract_frames(write_video(tmp_path / "n3.mp4", 3, 400, 200)).shape == (3, 100, 200)


def test_frames_too_small(tmp_path: Path) -> None:
    path = write_video(tmp_path / "small.mp4", 5, 160, 120)
    with pytest.raises(FrameError, match=r"small.mp4.*160x120.*smaller than 200x100"):
        extract_frames(path)
    with pytest.raises(FrameError, match="small.mp4"):
        load_frames(path)
    assert_nothing_cached()


@pytest.mark.parametrize("options, word", [
    (dict(max_frames=2), "max_frames"),
    (dict(max_frames=0), "max_frames"),
    (dict(step=0), "step"),
    (dict(step=-1), "step"),
    (dict(start=-1.0), "start"),
    (dict(start=2.0, end=2.0), "end"),
    (dict(start=3.0, end=1.0), "end"),
    (dict(end=0), "end"),
])
def test_bad_options(clip: Path, options: dict, word: str,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FrameError, match=word):
        extract_frames(clip, **options)
    # load_frames rejects them before resolving or decoding anything.
    monkeypatch.setattr(frames_mod, "extract_frames",
                        lambda *a, **k: pytest.fail("decoded despite bad options"))
    with pytest.raises(FrameError, match=word):
        load_frames("sample", **options)
    assert_nothing_cached()


def test_unknown_source_name() -> None:
    with pytest.raises(SourceError, match="smaple"):
        load_frames("smaple")
    assert_nothing_cached()


# --------------------------------------------------------------------------- read-ahead decoding

def _decoders() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name == "blurutils-decode"]


def test_an_error_while_preprocessing_stops_the_decoding_thread(clip: Path, monkeypatch) -> None:
    import blurutils.frames as frames_module

    calls = []

    def fail_on_third(bgr, layout="paper"):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("preprocessing failed")
        return preprocess_frame(bgr, layout)

    monkeypatch.setattr(frames_module, "preprocess_frame", fail_on_third)
    with pytest.raises(RuntimeError, match="preprocessing failed"):
        extract_frames(clip)
    assert len(calls) == 3 and _decoders() == []


def test_an_error_in_the_decoding_thread_reaches_the_caller(clip: Path, monkeypatch) -> None:
    real = cv2.VideoCapture

    class Failing:
        def __init__(self, path):
            self.cap, self.n = real(path), 0

        def read(self):
            self.n += 1
            if self.n == 4:
                raise MemoryError("decoder ran out of memory")
            return self.cap.read()

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Failing)
    with pytest.raises(MemoryError, match="decoder ran out of memory"):
        extract_frames(clip)
    assert _decoders() == []


@pytest.mark.parametrize("options", [dict(), dict(step=3), dict(max_frames=4),
                                     dict(step=2, max_frames=3)])
def test_read_ahead_keeps_frame_selection(clip: Path, options: dict) -> None:
    """Frames first, first+step, ... up to max_frames: the same as a plain loop."""
    expected = [preprocess_frame(f) for f in decode_all(clip)][::options.get("step", 1)]
    expected = expected[:options.get("max_frames", len(expected))]
    np.testing.assert_array_equal(extract_frames(clip, **options), np.stack(expected))


# --------------------------------------------------------------------------- hostile files

def test_api_corrupt_video_is_a_frame_error(bad):
    for key in ("corrupt", "corrupt_mp4"):
        with pytest.raises(FrameError, match=rf"{bad[key].name}: truncated or corrupt"):
            extract_frames(bad[key])
        with pytest.raises(FrameError, match=bad[key].name):
            load_frames(bad[key])
    assert list(frames_dir().iterdir()) == []          # nothing cached from a bad video


def test_safety_pickled_frames_cache_is_rejected_and_rebuilt(bad):
    """A .npy frame cache holding a pickled object array is deleted and rebuilt; the
    pickle is never executed."""
    marker = bad["dir"] / "PICKLE-RAN"
    load_frames("sample", max_frames=5)
    target = cache_path(sample_path(), max_frames=5, step=1, start=None, end=None)
    good = target.read_bytes()
    target.write_bytes(bad["pickled"].read_bytes())
    assert read_cache(target) is None
    assert not target.exists()
    target.write_bytes(bad["pickled"].read_bytes())
    assert load_frames("sample", max_frames=5).shape == (5, 100, 200)
    assert target.read_bytes() == good
    assert not marker.exists()


def test_safety_pickle_payload_is_live_with_allow_pickle(bad, tmp_path):
    """Control: the payload is real — np.load(allow_pickle=True) would run it."""
    marker = bad["dir"] / "PICKLE-RAN"
    np.load(bad["pickled"], allow_pickle=True)
    assert marker.exists()
    marker.unlink()


@pytest.mark.parametrize("name", ["..mp4", "...", "a..b.mp4", "-rf .mp4", "$(touch x).mp4",
                                  "vidéo ünïcode.mp4", "x" * 240 + ".mp4", "back\\slash.mp4"])
def test_safety_frame_caches_stay_in_frames_dir(name, tmp_path):
    video = tmp_path / name
    video.write_bytes(b"not decoded here")
    target = cache_path(video, max_frames=None, step=1, start=None, end=None)
    assert target.resolve().parent == frames_dir().resolve()
    assert target.suffix == ".npy" and ".." not in target.stem and "\\" not in target.name


def test_api_frame_count_is_bounded_by_memory_not_by_the_header(bad2, monkeypatch):
    """Frames are allocated as they arrive; past MAX_FRAME_BYTES a video without
    max_frames is one line, not a MemoryError."""
    import blurutils.frames as frames_mod

    monkeypatch.setattr(frames_mod, "MAX_FRAME_BYTES", 4 * 100 * 200)
    with pytest.raises(FrameError, match=r"more than 4 frames .*--max-frames"):
        extract_frames(bad2["clip"])
    assert len(extract_frames(bad2["clip"], max_frames=4)) == 4
