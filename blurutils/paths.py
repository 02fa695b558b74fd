"""Where blurutils keeps downloaded videos, frame caches and results, and how it writes.

The data folder is, in order of preference: ``$BLURUTILS_DATA_DIR``; the ``data/``
folder of the source checkout this package was imported from (the normal case for
students, ``pip install -e .``); otherwise ``~/.cache/blurutils``.

Ownership rules (``docs/RELIABILITY.md``): blurutils deletes only files it created, by
exact name; a results folder and the data folder have one writer at a time (a real
file lock, :func:`results_lock` and :func:`data_lock`); a full disk is one line naming
the folder (:class:`~blurutils.errors.DiskFullError`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

from .errors import ConfigError, DiskFullError, FolderBusyError
from .faults import crash_point

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

#: Name of the lock file blurutils keeps in a results folder and in the data folder.
LOCK_NAME = ".blurutils.lock"
#: How long a second process waits for the data folder before giving up (seconds).
DATA_LOCK_TIMEOUT_S = float(os.environ.get("BLURUTILS_DATA_LOCK_TIMEOUT", "900"))
#: Temporary files blurutils writes: ``.<stem>.bu<pid>-<random>.tmp<suffix>``.  Only
#: names of exactly this form, whose process is gone, are ever removed.
_TMP_NAME = re.compile(r"^\..*\.bu(\d+)-[A-Za-z0-9_]{8}\.tmp[^/]*$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def data_dir() -> Path:
    """Return the root of the data cache (created if missing).

    A ``$BLURUTILS_DATA_DIR`` that is a file, or a folder that cannot be created or
    written, is a one-line ConfigError rather than a traceback at the first write.
    """
    env = os.environ.get("BLURUTILS_DATA_DIR")
    if env:
        root = Path(env).expanduser()
    elif (REPO_DIR / "data" / "README.md").is_file():
        root = REPO_DIR / "data"
    else:
        root = Path.home() / ".cache" / "blurutils"
    where = "BLURUTILS_DATA_DIR" if env else "data folder"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{where} {root} is not a folder (a file is in the way)") from None
    except OSError as exc:
        raise ConfigError(f"{where} {root} cannot be created "
                          f"({exc.strerror or exc})") from None
    if not root.is_dir():
        raise ConfigError(f"{where} {root} is not a folder (a file is in the way)")
    if not os.access(root, os.W_OK | os.X_OK):
        raise ConfigError(f"{where} {root} is not writable (permission denied); set "
                          "BLURUTILS_DATA_DIR to a writable folder")
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


def _sub_dir(name: str) -> Path:
    path = data_dir() / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{path} is not a folder (a file is in the way)") from None
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder (a file is in the way)")
    return path


def raw_dir() -> Path:
    """Folder for downloaded and generated videos (``data/raw``)."""
    return _sub_dir("raw")


def frames_dir() -> Path:
    """Folder for cached frame arrays (``data/frames``)."""
    return _sub_dir("frames")


# --------------------------------------------------------------------------- full disk

def is_disk_full(exc: BaseException) -> bool:
    """True for an OSError that means "no space left" (or over quota)."""
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def free_bytes(folder: Path | str) -> int | None:
    """Free space in ``folder``'s file system, or None if it cannot be read."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"  # pragma: no cover


def disk_full_error(folder: Path | str, needed: int | None = None,
                    what: str = "") -> DiskFullError:
    """The one-line error for a full disk: the folder, the space free and needed."""
    folder = Path(folder)
    need = f", about {_size(needed)} needed" if needed else ""
    what = f" while writing {what}" if what else ""
    return DiskFullError(
        f"{folder}: no space left on the device{what} ({_size(free_bytes(folder))} free"
        f"{need}); free some space, or point BLURUTILS_DATA_DIR / --out elsewhere, and run "
        "the same command again")


# --------------------------------------------------------------------------- atomic writes

@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None, *,
                needed: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    A crash or kill while writing leaves at most a stray temporary file (named
    ``.<stem>.bu<pid>-<random>.tmp<suffix>``, so :func:`remove_stale_temporaries` can
    recognise it and nothing else), never a half-written ``target``.  ``suffix`` keeps
    the extension some writers insist on (``np.save`` adds ``.npy``, OpenCV picks the
    codec from ``.mp4``).  A full disk (``ENOSPC``) while writing or renaming becomes a
    one-line :class:`~blurutils.errors.DiskFullError` naming the folder; ``needed``
    (bytes, if known) goes into that message.
    """
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.bu{os.getpid()}-",
                                        suffix=f".tmp{suffix}", dir=target.parent)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(target.parent, needed, target.name) from None
        raise
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
        yield tmp
        crash_point("write")
        os.replace(tmp, target)
    except OSError as exc:
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full_error(target.parent, needed, target.name) from None
        raise
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def remove_stale_temporaries(folder: Path | str) -> int:
    """Delete temporary files that a killed blurutils process left in a results folder.

    Only blurutils' own names (``.<stem>.bu<pid>-<random>.tmp...``, see
    :func:`atomic_path`) whose process no longer runs are removed, in ``folder``, its
    direct sub-folders and ``runs/*`` — never a user's file that merely looks temporary,
    never another live run's file, and never a walk through a whole home folder.
    Returns how many were removed.
    """
    folder = Path(folder)
    places = [folder]
    with contextlib.suppress(OSError):
        places += [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    with contextlib.suppress(OSError):
        runs = folder / "runs"
        if runs.is_dir() and not runs.is_symlink():
            places += [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]
    removed = 0
    for place in places:
        try:
            entries = list(place.iterdir())
        except OSError:
            continue
        for entry in entries:
            match = _TMP_NAME.match(entry.name)
            if match is None or _alive(int(match.group(1))):
                continue
            try:
                if stat.S_ISREG(entry.lstat().st_mode) and entry.lstat().st_uid == os.getuid():
                    entry.unlink()
                    removed += 1
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (ours or another user's)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, OSError):
        return False
    return True


def write_text_atomic(target: Path | str, text: str) -> None:
    """Write ``text`` to ``target`` so readers see the old file or the whole new one."""
    with atomic_path(target, needed=len(text.encode("utf-8"))) as tmp:
        tmp.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- special files

def check_regular_file(path: Path | str, what: str, error: type[Exception] = ConfigError
                       ) -> Path:
    """Refuse anything but an existing regular file (a FIFO or device would block or
    never end), before it is opened; raise ``error`` with one line."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise error(f"{path}: is {kind}, not a {what} file")
    return path


# --------------------------------------------------------------------------- locks

_locks: dict[str, object] = {}
_locks_guard = threading.Lock()


def _lock_for(folder: Path):
    """One reentrant ``filelock.FileLock`` per lock file in this process."""
    from filelock import FileLock

    path = str(folder / LOCK_NAME)
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = FileLock(path, thread_local=False)
        return lock


def _holder(folder: Path) -> str:
    try:
        text = (folder / (LOCK_NAME + ".pid")).read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


@contextlib.contextmanager
def _held(folder: Path, timeout: float, busy: Callable[[Path], str],
          note: Callable[[str], None] | None) -> Iterator[None]:
    from filelock import Timeout

    lock = _lock_for(folder)
    first = not lock.is_locked
    try:
        if note is not None and first:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                note(f"waiting for another blurutils process{_holder(folder)} using {folder} "
                     f"(up to {timeout:g} s)")
                lock.acquire(timeout=timeout)
        else:
            lock.acquire(timeout=timeout)
    except Timeout:
        raise FolderBusyError(busy(folder)) from None
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(folder, None, LOCK_NAME) from None
        raise ConfigError(f"{folder}: cannot lock the folder ({exc.strerror or exc})") from None
    try:
        if first:
            with contextlib.suppress(OSError):
                (folder / (LOCK_NAME + ".pid")).write_text(str(os.getpid()), encoding="utf-8")
        yield
    finally:
        lock.release()


def results_lock(folder: Path | str, timeout: float = 0.0):
    """Context manager: hold the results folder's lock (one writer at a time).

    A second process that finds it held gets one line (FolderBusyError) after
    ``timeout`` seconds (0: at once) instead of writing into another run's files.
    Reentrant within one process.  The folder must exist.
    """
    def busy(f: Path) -> str:
        return (f"{f}: another blurutils run{_holder(f)} is writing to this results folder; "
                "wait for it to finish, or use another --out")
    return _held(Path(folder), timeout, busy, None)


def data_lock(timeout: float | None = None, note: Callable[[str], None] | None = None):
    """Context manager: hold the data folder's lock while writing downloads, synthetic
    videos or frame caches.  A second process waits (saying so once through ``note``)
    up to ``timeout`` seconds (default :data:`DATA_LOCK_TIMEOUT_S`), then gets one line."""
    timeout = DATA_LOCK_TIMEOUT_S if timeout is None else timeout

    def busy(f: Path) -> str:
        return (f"{f}: another blurutils process{_holder(f)} has been using the data folder "
                f"for more than {timeout:g} s; wait for it, or set BLURUTILS_DATA_DIR to "
                "another folder")
    return _held(data_dir(), timeout, busy, note)


def _has_content(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def build_once(target: Path, build: Callable[[], Path]) -> Path:
    """``target`` if it is already in the data folder (non-empty); else ``build()`` it
    under :func:`data_lock`, after checking again that no other process built it while
    this one waited.  ``build`` must write atomically; its return value is returned."""
    if _has_content(target):
        return target
    with data_lock(note=lambda line: print(line, file=sys.stderr, flush=True)):
        if _has_content(target):  # another process built it while this one waited
            return target
        return build()


def prepare_results_folder(folder: Path | str) -> Path:
    """Check that ``folder`` can hold results (create it), and remove only blurutils'
    own stale temporaries in it.  Raises a one-line ConfigError; deletes nothing else.

    Call it before anything in the folder is written, inside :func:`results_lock`.
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        fd, probe = tempfile.mkstemp(prefix=f".write-test.bu{os.getpid()}-", suffix=".tmp",
                                     dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(folder) from None
        raise ConfigError(f"{folder}: results folder is not writable "
                          f"({exc.strerror or exc})") from None
    remove_stale_temporaries(folder)
    return folder
