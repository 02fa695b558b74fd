"""Where blurutils keeps downloaded videos, frame caches and results.

The data folder is, in order of preference: ``$BLURUTILS_DATA_DIR``; the ``data/``
folder of the source checkout this package was imported from (the normal case for
students, ``pip install -e .``); otherwise ``~/.cache/blurutils``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .faults import crash_point

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent


def data_dir() -> Path:
    """Return the root of the data cache (created if missing)."""
    env = os.environ.get("BLURUTILS_DATA_DIR")
    if env:
        root = Path(env).expanduser()
    elif (REPO_DIR / "data" / "README.md").is_file():
        root = REPO_DIR / "data"
    else:
        root = Path.home() / ".cache" / "blurutils"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def results_dir() -> Path:
    """Default folder for study outputs: ``$BLURUTILS_RESULTS_DIR``, else the checkout's
    ``results/`` (or ``./results`` when blurutils is installed elsewhere).

    Notebooks run from ``notebooks/``; this keeps their outputs beside ``make
    reproduce``'s instead of in a stray ``notebooks/results``.
    """
    env = os.environ.get("BLURUTILS_RESULTS_DIR")
    if env:
        return Path(env).expanduser()
    if (REPO_DIR / "pyproject.toml").is_file() and (REPO_DIR / "blurutils").is_dir():
        return REPO_DIR / "results"
    return Path.cwd() / "results"


def raw_dir() -> Path:
    """Folder for downloaded and generated videos (``data/raw``)."""
    path = data_dir() / "raw"
    path.mkdir(parents=True, exist_ok=True)
    return path


def frames_dir() -> Path:
    """Folder for cached frame arrays (``data/frames``)."""
    path = data_dir() / "frames"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    A crash or kill while writing leaves at most a stray ``.tmp`` file, never a
    half-written ``target``.  ``suffix`` keeps the extension some writers insist on
    (``np.save`` adds ``.npy``, OpenCV picks the codec from ``.mp4``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp
        crash_point("write")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: Path | str) -> int:
    """Delete temporary files that a killed process left behind in ``folder`` (recursively).

    They are never read (only complete files are renamed into place); this only frees
    the space.  Returns how many were removed.
    """
    removed = 0
    for tmp in Path(folder).rglob(".*.tmp*"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def write_text_atomic(target: Path | str, text: str) -> None:
    """Write ``text`` to ``target`` so readers see the old file or the whole new one."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
