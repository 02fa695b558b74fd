"""Where blurutils keeps downloaded videos, frame caches and results, and how it writes.

The data folder is, in order of preference: ``$BLURUTILS_DATA_DIR``; the ``data/``
folder of the source checkout this package was imported from (the normal case for
students, ``pip install -e .``); otherwise ``~/.cache/blurutils``.

Ownership rules (``docs/RELIABILITY.md``): blurutils deletes only files it created, by
exact name; a results folder and the data folder have one writer at a time (a real
file lock, :func:`results_lock` and :func:`data_lock`; a results folder is prepared and
locked by :func:`results_folder`); a full disk is one line naming
the folder (:class:`~blurutils.errors.DiskFullError`).
"""

from __future__ import annotations

import contextlib
import errno
import json
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
#: A folder that cannot be written: a read-only file system, or no permission.
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


class NotWritableError(ConfigError, OSError):
    """A file could not be written because its folder is read-only (a read-only file
    system, no permission).  An OSError too, so a writer that treats its file as
    optional (the frames cache) still catches it."""


def data_root() -> Path:
    """Where the data folder is (see :func:`data_dir`), without creating or checking it."""
    env = os.environ.get("BLURUTILS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    if (REPO_DIR / "data" / "README.md").is_file():
        return REPO_DIR / "data"
    try:
        return Path.home() / ".cache" / "blurutils"
    except RuntimeError:  # no HOME, and a user id without a password-database entry
        raise ConfigError(f"no home folder to hold the data folder ~/.cache/blurutils (HOME is "
                          f"not set and user id {os.getuid()} has no entry in the password "
                          "database); set BLURUTILS_DATA_DIR to a writable folder") from None


def data_dir() -> Path:
    """Return the root of the data cache (created if missing).

    A ``$BLURUTILS_DATA_DIR`` that is a file, or a folder that cannot be created, is a
    one-line ConfigError rather than a traceback at the first write.  A folder that
    exists but cannot be written (a read-only file system) is returned: complete caches
    are read from it, and a write there is a one-line :class:`NotWritableError`.
    """
    root = data_root()
    where = "BLURUTILS_DATA_DIR" if os.environ.get("BLURUTILS_DATA_DIR") else "data folder"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{where} {root} is not a folder (a file is in the way)") from None
    except OSError as exc:
        raise ConfigError(f"{where} {root} cannot be created "
                          f"({exc.strerror or exc}); set BLURUTILS_DATA_DIR to a writable "
                          "folder") from None
    if not root.is_dir():
        raise ConfigError(f"{where} {root} is not a folder (a file is in the way)")
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
    root = data_dir()
    path = root / name
    try:
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # a shared data folder's sub-folders are shared too
                os.chmod(path, root.stat().st_mode & 0o7777)
    except FileExistsError:
        raise ConfigError(f"{path} is not a folder (a file is in the way)") from None
    except OSError as exc:  # a read-only data folder without this sub-folder
        raise ConfigError(f"{path} cannot be created ({exc.strerror or exc}); set "
                          "BLURUTILS_DATA_DIR to a writable folder") from None
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
        if exc.errno in _NOT_WRITABLE:
            raise not_writable_error(target, exc) from None
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


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` has the form of blurutils' temporaries (:func:`atomic_path`)."""
    return _TMP_NAME.match(name) is not None


def not_writable_error(target: Path, exc: OSError) -> NotWritableError:
    """The one-line error for a file that cannot be written: its folder is read-only."""
    return NotWritableError(f"{short_path(target.parent)}: cannot write {target.name} here "
                            f"({exc.strerror or exc}); choose a writable folder (--out, or "
                            "BLURUTILS_DATA_DIR for downloads and frame caches)")


def remove_stale_temporaries(folder: Path | str) -> int:
    """Delete temporary files that a killed blurutils process left in a results folder
    or in the data folder (:func:`data_lock` calls it for ``raw/`` and ``frames/``).

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


# --------------------------------------------------------------------------- long names

#: Bytes blurutils may add below a results folder: ``seeds/seed-N/``,
#: ``runs/<run>.previous-<fingerprint>-N/`` and a temporary's name
#: (``.per_frame_metrics_reshaped.bu<pid>-<random>.tmp.csv``) fit in it.
RESULTS_PATH_RESERVE = 200


def _name_limits(path: Path) -> tuple[int, int]:
    """(longest name, longest path) in bytes on the file system that holds ``path``."""
    probe = Path(os.path.abspath(path))
    for folder in (probe, *probe.parents):
        try:
            if folder.is_dir():
                return (int(os.pathconf(folder, "PC_NAME_MAX")),
                        int(os.pathconf(folder, "PC_PATH_MAX")))
        except (OSError, ValueError):
            continue
    return 255, 4096


def name_problem(path: Path | str, reserve: int = 0) -> str | None:
    """Why ``path`` cannot exist here, or None: a name in it longer than the file system
    allows (255 bytes), or a path longer than the system allows (4096 bytes, less
    ``reserve`` bytes for what will be written below it)."""
    text = os.fspath(path)
    name_max, path_max = _name_limits(Path(text))
    for part in Path(text).parts:
        size = len(os.fsencode(part))
        if size > name_max:
            return (f"file name too long: a name in it is {size:,} bytes, more than the "
                    f"{name_max} bytes the file system allows")
    size = len(os.fsencode(os.path.abspath(text)))
    if size + reserve >= path_max:
        room = f" (and up to {reserve} bytes more for the files written inside it)" \
            if reserve else ""
        return (f"path too long: {size:,} bytes{room}, more than the {path_max - 1:,} bytes "
                "the system allows")
    return None


def short_path(path: Path | str, keep: int = 60) -> str:
    """``path`` for a one-line message: a very long one keeps its start and end."""
    text = str(path)
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def check_name_length(path: Path | str, what: str, error: type[Exception] = ConfigError,
                      reserve: int = 0) -> None:
    """Raise ``error`` (one line) if ``path`` is a name the system cannot hold
    (:func:`name_problem`), before anything opens, creates or hashes it."""
    problem = name_problem(path, reserve)
    if problem is not None:
        raise error(f"{short_path(path)}: {problem}; use a shorter {what}")


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
            # The lock file takes its folder's read/write bits: in a folder a class shares
            # (1777, 2775) every user can take it, and waits, instead of writing without it.
            mode = folder.stat().st_mode & 0o666 | 0o600
            lock = _locks[path] = FileLock(path, mode=mode, thread_local=False)
        return lock


def _holder(folder: Path) -> str:
    try:
        text = (folder / (LOCK_NAME + ".pid")).read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return f" (process {text})" if text.isdigit() else ""


@contextlib.contextmanager
def _held(folder: Path, timeout: float, busy: Callable[[Path], str],
          note: Callable[[str], None] | None, *, read_only_ok: bool = False,
          on_first: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold ``folder``'s lock.  ``read_only_ok``: a folder where the lock file cannot be
    created (a read-only file system) is used without a lock, for reading (nothing can
    be written there anyway).  ``on_first`` runs once the outermost hold is taken."""
    from filelock import Timeout

    lock = _lock_for(folder)
    first = not lock.is_locked
    locked = True
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
        if not (read_only_ok and exc.errno in _NOT_WRITABLE):
            raise ConfigError(f"{folder}: cannot lock the folder "
                              f"({exc.strerror or exc})") from None
        locked = False  # read-only: read what is there, without a lock
    try:
        if first and locked:
            with contextlib.suppress(OSError):
                (folder / (LOCK_NAME + ".pid")).write_text(str(os.getpid()), encoding="utf-8")
            if on_first is not None:
                on_first()
        yield
    finally:
        if locked:
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
    up to ``timeout`` seconds (default :data:`DATA_LOCK_TIMEOUT_S`), then gets one line.

    Taking it removes blurutils' own stale temporaries in the data folder, ``raw/`` and
    ``frames/`` (:func:`remove_stale_temporaries`: a dead process's, by exact name).  On
    a read-only data folder it is not taken: complete caches are read without it."""
    timeout = DATA_LOCK_TIMEOUT_S if timeout is None else timeout

    def busy(f: Path) -> str:
        return (f"{f}: another blurutils process{_holder(f)} has been using the data folder "
                f"for more than {timeout:g} s; wait for it, or set BLURUTILS_DATA_DIR to "
                "another folder")
    folder = data_dir()
    # Holding the lock, no other blurutils process is writing here: the temporaries of
    # killed ones (a frames cache, a synthetic video cut off by SIGKILL) can go.
    return _held(folder, timeout, busy, note, read_only_ok=True,
                 on_first=lambda: remove_stale_temporaries(folder))


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


# --------------------------------------------------------------------------- results folders

#: The marker of a results folder blurutils writes: created (before any result) in a
#: new or empty folder, or in one that earlier versions of blurutils wrote.  A folder
#: without it is blurutils' only if it is empty or holds none of the names a study
#: writes (:data:`_RESULT_NAME`).
RESULTS_MARKER = ".blurutils-results.json"
#: What a study, an audit or a multi-seed study writes at the top of a results folder.
_RESULT_NAME = re.compile(
    r"^(config\.yaml|audit_config\.yaml|REPORT\.md|run_info\.json|runs|baselines|seeds|"
    r"audit-steps-matched|(table\d|paper_comparison|verdicts|diagnostics|paired_tests|audit|"
    r"figure\d)[\w.-]*\.(csv|md|png|json|yaml))$")
#: Committed results folders allowed in this process (their own rebuild, ``make
#: reference``): later calls for the same folder need not name the config again.
_REBUILDS: set[Path] = set()


def prepare_results_folder(folder: Path | str, *, rebuild_config: Path | str | None = None
                           ) -> Path:
    """Check that ``folder`` can hold results (create it, mark it as blurutils'), and
    remove only blurutils' own stale temporaries in it.  Raises a one-line ConfigError,
    before anything is written, for a folder that is not blurutils' to write:

    * a path the system cannot hold (a name over 255 bytes, a path over 4096 bytes with
      what a study writes below it);
    * the data folder, or a folder inside it (the frame caches and downloads);
    * a folder with files committed to git (the reference results), unless
      ``rebuild_config`` is that folder's own config, ``<folder>.yaml`` beside it (how
      ``make reference`` rebuilds ``reference_results/standard``);
    * a folder without blurutils' marker that holds files a study writes (a user's own
      ``REPORT.md``, ``config.yaml``, tables) — a folder an earlier blurutils wrote
      (its ``config.yaml`` is blurutils' own, or its runs' ``run.json``) is adopted.

    Deletes nothing else.  Call it before anything in the folder is written; commands
    and studies use :func:`results_folder`, which also locks the folder.
    """
    folder = Path(folder).expanduser()
    check_name_length(folder, "--out (results folder)", reserve=RESULTS_PATH_RESERVE)
    check_not_in_data_folder(folder, "--out")
    mark = _check_ownership(folder, rebuild_config)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory")
        fd, probe = tempfile.mkstemp(prefix=f".write-test.bu{os.getpid()}-", suffix=".tmp",
                                     dir=folder)
        os.close(fd)
        os.unlink(probe)
        if mark and not (folder / RESULTS_MARKER).is_file():
            write_text_atomic(folder / RESULTS_MARKER, json.dumps(
                {"written_by": "blurutils", "note": "a results folder blurutils writes; "
                 "blurutils replaces the files it writes here"}) + "\n")
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(folder) from None
        raise ConfigError(f"{short_path(folder)}: results folder is not writable "
                          f"({exc.strerror or exc})") from None
    remove_stale_temporaries(folder)
    return folder


@contextlib.contextmanager
def results_folder(folder: Path | str, *, rebuild_config: Path | str | None = None
                   ) -> Iterator[Path]:
    """Context manager: the one way into a results folder.  Prepares it (checks that it
    is blurutils' to write, creates and marks it, removes blurutils' own stale
    temporaries: :func:`prepare_results_folder`, which refuses a user's folder, a
    committed one or the data folder in one line), then holds its lock for the whole
    block (:func:`results_lock`: a second process gets one line, FolderBusyError).
    Yields the folder's path; reentrant within one process, so a command that holds
    it can call a study that takes it again.  ``rebuild_config`` as for
    :func:`prepare_results_folder` (``make reference``)."""
    prepared = prepare_results_folder(folder, rebuild_config=rebuild_config)
    with results_lock(prepared):
        yield prepared


def check_not_in_data_folder(folder: Path | str, what: str = "--out") -> None:
    """Refuse (one line) a results folder that is the data folder or inside it: the data
    folder's own lock, caches and downloads are no place for results."""
    folder = Path(folder).expanduser()
    try:
        data, target = data_root().resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return
    if target == data or data in target.parents:
        where = "is the data folder" if target == data else f"is inside the data folder {data}"
        raise ConfigError(f"{short_path(folder)}: {where} (downloads and frame caches); "
                          f"results need a folder of their own: choose another {what}")


def _check_ownership(folder: Path, rebuild_config: Path | str | None) -> bool:
    """Raise if blurutils must not write results in ``folder``; return whether to mark it."""
    try:
        resolved = folder.resolve()
        if resolved in _REBUILDS or any(parent in _REBUILDS for parent in resolved.parents):
            return False  # a committed folder being rebuilt, or a sub-folder of it
        if not folder.is_dir():
            return True  # new (or a file: creating it says so)
        if (folder / RESULTS_MARKER).is_file():
            return True
        entries = sorted(p.name for p in folder.iterdir())
    except OSError:
        return True  # creating or probing it gives the one-line reason
    if not [name for name in entries if not name.startswith(LOCK_NAME)]:
        return True  # empty
    committed = _committed_files(resolved)
    if committed:
        own = resolved.with_name(resolved.name + ".yaml")
        if rebuild_config is not None and Path(rebuild_config).expanduser().resolve() == own:
            _REBUILDS.add(resolved)
            return False  # its own rebuild; no marker among committed files
        rebuild = (f" (it is rebuilt only from its own config: --config "
                   f"{short_path(folder.parent / own.name)})" if own.is_file() else "")
        raise ConfigError(f"{short_path(folder)}: holds results committed to git "
                          f"({committed}); blurutils never overwrites them: choose another "
                          f"--out{rebuild}")
    ours = [name for name in entries if _RESULT_NAME.match(name)]
    if not ours or _written_by_blurutils(folder):
        return True
    more = f" and {len(ours) - 1} more" if len(ours) > 1 else ""
    raise ConfigError(f"{short_path(folder)}: holds {ours[0]}{more} that blurutils did not "
                      "write and would overwrite; choose another --out, or move those files "
                      "away")


def _committed_files(folder: Path) -> str:
    """One file of ``folder`` committed to git (the checkout's reference results, or any
    git work tree's tracked files), or "" when none is."""
    import subprocess

    reference = (REPO_DIR / "reference_results").resolve()
    if folder == reference or reference in folder.parents:
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        if files:
            return files[0] + (f" and {len(files) - 1} more" if len(files) > 1 else "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(["git", "-C", str(folder), "ls-files", "-z", "--", "."],
                              capture_output=True, timeout=30, env=env)
    except (OSError, subprocess.SubprocessError):
        return ""
    if done.returncode != 0:
        return ""
    names = [n for n in done.stdout.split(b"\0") if n]
    if not names:
        return ""
    return os.fsdecode(names[0]) + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def _written_by_blurutils(folder: Path) -> bool:
    """Whether an unmarked folder was written by an earlier blurutils: its config.yaml
    (or audit_config.yaml, or a multi-seed study's ``seeds/seed-N/config.yaml``) is a
    config blurutils dumped, or a run in ``runs/`` has blurutils' ``run.json``."""
    for name in ("config.yaml", "audit_config.yaml"):
        if _is_dumped_config(folder / name):
            return True
    try:
        seed_folders = (sorted(p for p in (folder / "seeds").iterdir()
                               if re.fullmatch(r"seed-\d+", p.name))[:100]
                        if (folder / "seeds").is_dir() else [])
    except OSError:
        seed_folders = []
    if any(_written_by_blurutils(seed) for seed in seed_folders):
        return True
    try:
        runs = sorted((folder / "runs").iterdir())[:100] if (folder / "runs").is_dir() else []
    except OSError:
        runs = []
    for run in runs:
        meta = _small_json(run / "run.json")
        if isinstance(meta, dict) and {"status", "fingerprint", "model", "loss"} <= set(meta):
            return True
    return False


def _small_json(path: Path) -> object:
    try:
        if not path.is_file() or path.stat().st_size > 1 << 20:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_dumped_config(path: Path) -> bool:
    """Whether ``path`` is a config.yaml that blurutils wrote (``config.dump_config``):
    every setting of its time, in the order StudyConfig declares them, ``out`` included."""
    import dataclasses

    import yaml

    try:
        if not path.is_file() or path.stat().st_size > 64 << 10:
            return False
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return False
    if not isinstance(values, dict):
        return False
    keys = list(values)
    if len(keys) < 12 or keys[0] != "profile" or "out" not in keys:
        return False
    # blurutils.config imports this module, so it is read from sys.modules (a caller
    # with a StudyConfig has imported it), never imported from here
    config = sys.modules.get(f"{__package__}.config")
    if config is None:
        return True
    order = [f.name for f in dataclasses.fields(config.StudyConfig)]
    return set(keys) <= set(order) and keys == sorted(keys, key=order.index)
