"""Third-party noise never buries the project's one line (``blurutils.quiet``).

OpenCV logs one ``[ WARN…] … Failed to write frame`` per frame a full disk loses, and an
``[ERROR…]`` line for a damaged image, from C++ straight to file descriptor 2.  These
tests run the command line in a fresh process and count what reaches the real stderr:
a full disk (a real 1 MiB tmpfs; mounting needs root, as CI has), the process's
file-size limit (``RLIMIT_FSIZE`` with SIGXFSZ ignored, so writes fail with ``EFBIG``)
and a damaged PNG.  ``BLURUTILS_DEBUG=1`` keeps the native lines visible.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from blurutils.errors import FrameError
from blurutils.quiet import quiet_native

REPO = Path(__file__).resolve().parents[1]
#: 400 frames of 400x200 are about 3 MB as mp4v: three times what the tmpfs holds.
SYNTHETIC = ["fetch", "synthetic", "--n-frames", "400"]


def run_cli(args: list[str], data: Path, *, debug: bool = False, preexec_fn=None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m blurutils ARGS`` with ``data`` as its data folder and no inherited
    log-level settings, so what OpenCV would print by default is what is counted."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BLURUTILS_DEBUG", "OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL",
                        "BLURUTILS_CRASH_AT")}
    env["PYTHONPATH"] = str(REPO)
    env["BLURUTILS_DATA_DIR"] = str(data)
    if debug:
        env["BLURUTILS_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-m", "blurutils", *args], env=env,
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=preexec_fn)


def stderr_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def leftovers(folder: Path) -> list[str]:
    """Videos and temporaries left in ``folder`` (lock files are expected)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith(".blurutils.lock"))


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    """A real 1 MiB tmpfs (unmounted afterwards), or a skip saying why there is none."""
    if sys.platform != "linux":
        pytest.skip("tmpfs is Linux's")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot run mount ({exc}); a full-disk test needs a real tmpfs")
    if done.returncode != 0:
        pytest.skip("mounting a 1 MiB tmpfs is not permitted here (needs root or "
                    f"CAP_SYS_ADMIN, as CI has): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child, before exec
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_tmpfs_while_writing_the_synthetic_clip_is_one_line(tiny_tmpfs: Path):
    data = tiny_tmpfs / "data"
    proc = run_cli(SYNTHETIC, data)
    lines = stderr_lines(proc)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert len(lines) <= 3, f"{len(lines)} lines on stderr: {lines[:5]}"
    assert not any("WARN" in line or "ERROR" in line for line in lines), lines
    assert lines[-1].startswith("blurutils fetch: error: "), lines
    assert "no space left on the device" in lines[-1] and "synthetic-n400" in lines[-1]
    assert leftovers(data) == []  # no partial video, no temporary


def test_file_size_limit_while_writing_the_synthetic_clip_is_the_machines_limit(
        tmp_path: Path):
    data = tmp_path / "data"
    proc = run_cli(SYNTHETIC, data, preexec_fn=_file_size_limit(1_000_000))
    lines = stderr_lines(proc)
    assert proc.returncode == 1, proc.stderr[-2000:]  # the machine's limit, not the input
    assert len(lines) <= 3, f"{len(lines)} lines on stderr: {lines[:5]}"
    assert lines[-1].startswith("blurutils fetch: error: "), lines
    assert "file-size limit" in lines[-1] and "ulimit -f" in lines[-1], lines[-1]
    assert "readable frames" not in lines[-1]
    assert leftovers(data) == []


def test_api_file_size_limit_is_a_disk_full_error_and_leaves_nothing(tmp_path: Path):
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n"
              "from blurutils.errors import DiskFullError, MachineError\n"
              "from blurutils.synthetic import write_synthetic_video\n"
              "try:\n"
              f"    write_synthetic_video({str(tmp_path / 'v.mp4')!r}, 200)\n"
              "except DiskFullError as exc:\n"
              "    assert isinstance(exc, MachineError)\n"
              "    print(exc)\n"
              "    sys.exit(7)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("BLURUTILS_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 7, proc.stderr[-2000:]
    assert "file-size limit" in proc.stdout
    assert stderr_lines(proc) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def damaged_png(tmp_path: Path) -> Path:
    """A PNG whose signature is intact and whose chunks are garbled."""
    image = np.random.default_rng(0).integers(0, 256, (100, 200), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    data = bytearray(encoded.tobytes())
    for i in range(40, len(data), 7):
        data[i] ^= 0x55
    path = tmp_path / "x.png"
    path.write_bytes(bytes(data))
    return path


def test_damaged_png_for_blur_is_one_line_calling_it_an_image(damaged_png: Path,
                                                              tmp_path: Path):
    proc = run_cli(["blur", str(damaged_png)], tmp_path / "data")
    assert proc.returncode == 2, proc.stderr
    lines = stderr_lines(proc)
    assert len(lines) == 1, lines
    assert lines[0].startswith("blurutils blur: error: ")
    assert "x.png: not a readable image" in lines[0]
    assert "video" not in lines[0]


def test_debug_keeps_opencvs_own_lines_visible(damaged_png: Path, tmp_path: Path):
    proc = run_cli(["blur", str(damaged_png)], tmp_path / "data", debug=True)
    assert proc.returncode != 0
    assert "[ERROR" in proc.stderr or "[ WARN" in proc.stderr, proc.stderr[-2000:]
    assert "not a readable image" in proc.stderr


def test_api_damaged_png_as_a_video_is_a_frame_error_naming_an_image(damaged_png: Path,
                                                                     capfd):
    from blurutils.frames import extract_frames

    with pytest.raises(FrameError, match="x.png: not a readable image"):
        extract_frames(damaged_png)
    assert capfd.readouterr().err == ""


# --------------------------------------------------------------------------- quiet_native

def test_quiet_native_keeps_fd2_writes_off_stderr_and_restores_it(capfd, monkeypatch):
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)
    with quiet_native():
        os.write(2, b"native noise\n")
        with quiet_native():  # nested: still captured, still restored once
            os.write(2, b"more noise\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_quiet_native_gives_back_what_it_caught_when_a_bug_escapes(capfd, monkeypatch):
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)
    with pytest.raises(ZeroDivisionError):
        with quiet_native():
            os.write(2, b"why it failed\n")
            1 / 0
    assert "why it failed" in capfd.readouterr().err


def test_quiet_native_drops_the_noise_behind_a_project_error(capfd, monkeypatch):
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)
    with pytest.raises(FrameError):
        with quiet_native():
            os.write(2, b"noise\n")
            raise FrameError("the one line")
    assert capfd.readouterr().err == ""


def test_quiet_native_silences_opencv_and_restores_its_level(monkeypatch):
    monkeypatch.delenv("BLURUTILS_DEBUG", raising=False)
    logging = cv2.utils.logging
    before = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_WARNING)
    try:
        with quiet_native(capture=False):
            assert logging.getLogLevel() == logging.LOG_LEVEL_SILENT
        assert logging.getLogLevel() == logging.LOG_LEVEL_WARNING
    finally:
        logging.setLogLevel(before)


def test_quiet_native_is_a_no_op_with_blurutils_debug(capfd, monkeypatch):
    monkeypatch.setenv("BLURUTILS_DEBUG", "1")
    with quiet_native():
        os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"
