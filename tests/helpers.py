"""Helpers shared by several test files: the hostile inputs' builders (for the ``bad`` and
``bad2`` fixtures in conftest.py), the one-line error check, and a URL holding secrets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import cv2
import numpy as np

#: A URL with a password and a token: neither may appear in any message or file.
SECRET_URL = "https://alice:hunter2@videos.example.com/clip.mp4?id=7&access_token=s3cr"


def one_line(err: str, command: str, *words: str) -> str:
    """Exactly one non-empty line on stderr, naming the command and ``words``."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"blurutils {command}: error: "), line
    for word in words:
        assert word.lower() in line.lower(), (word, line)
    return line


def write_video(path: Path, n: int, width: int, height: int, fourcc: str = "mp4v") -> Path:
    """``n`` frames of random noise, ``width`` x ``height``, written with OpenCV."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(n):
        writer.write(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    writer.release()
    return path


def make_fifo(path: Path) -> Path:
    """A named pipe at ``path``."""
    os.mkfifo(path)
    return path


class Payload:
    """Unpickling this creates ``marker``: proof that a pickle was (not) executed."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def env_for(data: Path, **extra: str) -> dict[str, str]:
    """The environment for a ``python -m blurutils`` subprocess on its own data folder
    ``data`` (this checkout on PYTHONPATH, no crash points or debug switches inherited)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BLURUTILS_DEBUG", "BLURUTILS_CRASH_AT", "PYTHONIOENCODING")}
    env.update(PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               BLURUTILS_DATA_DIR=str(data),
               BLURUTILS_RESULTS_DIR=str(data.parent / "default-results"), **extra)
    return env
