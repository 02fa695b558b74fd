"""Run one piece of work in a fresh process, so its memory goes back when it ends.

Why: TensorFlow keeps most of what a dense model's training allocates (oneDNN and
allocator caches) until the process exits, even after ``keras.backend.clear_session``
and ``gc``, so a grid in one process grows run after run.  Each run in its own fresh
process peaks at one run's size instead (numbers in docs/BENCHMARKS.md).

:func:`run_in_child` calls ``function(*args, report=...)`` in a child process.  The
child's ``report`` lines travel back through a pipe and are reported by the parent
(so they reach a notebook's output); an error in the child is raised again in the
parent (a :class:`~blurutils.errors.BlurUtilsError` keeps its one-line message); a
child killed by a signal raises :class:`WorkerKilled`, whose message says that
finished work is saved.  Ctrl-C stops the child and raises ``KeyboardInterrupt``;
SIGTERM or SIGHUP to the parent (which :func:`stop_signals_as_interrupts`, held by the
command line, turns into :class:`Stopped`, a ``KeyboardInterrupt``) stop it the same
way.  A child killed on its own, by any signal, is :class:`WorkerKilled`.  A child
never outlives its parent: it watches its parent and exits quietly once the parent is gone, so a parent killed with
SIGKILL leaves no orphan training on (and no ``BrokenPipeError`` traceback).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator

from .errors import BlurUtilsError, MachineError


class WorkerKilled(MachineError):
    """The child process died without finishing (killed by a signal, or crashed)."""


class OutOfMemory(MachineError):
    """The work needed more memory than this machine (or its ``ulimit -v``) allows."""


#: Words of the errors that mean "no memory left" without being a MemoryError: a shared
#: library that cannot be mapped under ``ulimit -v``, TensorFlow's allocator, C++.
_NO_MEMORY_WORDS = ("failed to map segment", "cannot allocate memory", "std::bad_alloc",
                    "oom when allocating", "out of memory")


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the process ran out of memory (or address space)."""
    import errno

    if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    first_line = (str(exc).splitlines() or [""])[0].lower()  # not a traceback's text
    return isinstance(exc, (ImportError, OSError, RuntimeError, ValueError)) and any(
        word in first_line for word in _NO_MEMORY_WORDS)


def memory_message(exc: BaseException | str) -> str:
    """One line for running out of memory: what failed, the address-space limit if one
    is set (``ulimit -v``), and what to do (smaller frames, fewer models, more memory)."""
    import resource

    detail = " ".join(str(exc).split())[:120] or type(exc).__name__
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError):
        soft = resource.RLIM_INFINITY
    limit = (f"this process may use at most {soft / 2**30:.2g} GiB of address space "
             "(ulimit -v)" if soft not in (resource.RLIM_INFINITY, -1) else
             "the machine has no memory left for it")
    return (f"out of memory ({detail}): {limit}; use --frame-layout half (50x100 frames for "
            "the dense models, for machines under 6 GB), fewer --models, or allow more "
            "memory, and run the same command again")


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP asked this process to stop: handled like Ctrl-C, with the exit
    status ``128 + signum`` (143, 129)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


#: Signals that stop a run like Ctrl-C does (``kill``, systemd, Docker, a closed terminal).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_signals_as_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` (a KeyboardInterrupt) in the main
    thread while this is held, so they stop the worker and leave the same resumable
    state as Ctrl-C; the previous handlers come back afterwards.  Outside the main
    thread (where Python cannot set handlers) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        for sig in STOP_SIGNALS:  # a second signal must not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        raise Stopped(signum)

    saved = {}
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run_in_child(function: Callable[..., Any], *args: Any, name: str,
                 report: Callable[[str], None] = print) -> None:
    """Run ``function(*args, report=...)`` in a fresh Python process and wait for it.

    ``function`` must be importable (a module-level function) and its arguments
    picklable; its return value is not sent back (write results to files).

    The child is a plain ``python -m blurutils.isolation`` (not ``multiprocessing``'s
    spawn, which re-imports the caller's ``__main__``: that breaks for code run from
    stdin and re-runs any script that lacks an ``if __name__ == "__main__"`` guard).
    The job arrives pickled on its stdin; messages come back on a private pipe.
    """
    read_fd, write_fd = os.pipe()
    try:
        child = subprocess.Popen([sys.executable, "-m", "blurutils.isolation", str(write_fd),
                                  str(os.getpid())],
                                 stdin=subprocess.PIPE, pass_fds=(write_fd,),
                                 env=_child_env())
    finally:
        os.close(write_fd)  # the child's copy stays open: EOF here once it is gone
    messages = Connection(read_fd, writable=False)
    error: tuple[BlurUtilsError | None, str, str] | None = None
    try:
        child.stdin.write(pickle.dumps((function, args)))
        child.stdin.close()
        while True:
            try:
                kind, payload = messages.recv()
            except EOFError:
                break
            if kind == "line":
                report(payload)
            elif kind == "error":
                error = payload
        child.wait()
    except BaseException:  # Ctrl-C, SIGTERM (or anything else) in the parent: stop the child
        child.kill()
        child.wait()
        raise
    finally:
        messages.close()
    if error is not None:
        _raise_child_error(name, *error)
    if child.returncode == 130:  # the child alone got Ctrl-C: stop here as well
        raise KeyboardInterrupt
    if child.returncode != 0:
        raise WorkerKilled(_death_message(name, child.returncode))


def _child_env() -> dict[str, str]:
    """The parent's environment, with its ``sys.path`` so the child imports the same
    ``blurutils`` (a source checkout run without installing included)."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(
        [*paths, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]))
    return env


def _child_main(fd: int, parent: int | None = None) -> int:
    messages = Connection(fd, readable=False)
    if parent is not None:
        _exit_with_parent(parent)

    def send(message: tuple) -> None:
        try:
            messages.send(message)
        except OSError:  # the parent is gone (BrokenPipeError): stop quietly
            os._exit(1)

    def report(line: str) -> None:
        send(("line", str(line)))

    try:
        function, args = pickle.loads(sys.stdin.buffer.read())
        function(*args, report=report)
        return 0
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        # A BlurUtilsError travels whole (its class and one-line message); anything
        # else as text, with the child's traceback for BLURUTILS_DEBUG.
        known = exc if isinstance(exc, BlurUtilsError) else None
        if known is None and out_of_memory(exc):
            # this module runs as __main__ here: the class the parent unpickles is
            # blurutils.isolation's
            from blurutils.isolation import OutOfMemory as ParentsOutOfMemory

            known = ParentsOutOfMemory(memory_message(exc))
        send(("error", (known, f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        return 1
    finally:
        try:
            messages.close()
        except OSError:
            pass


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """Exit this (child) process as soon as ``parent`` is no longer its parent.

    A parent killed with SIGKILL cannot stop its child; without this the child would
    train on as an orphan and fail later writing to the closed pipe.  A thread polls
    ``os.getppid()`` (portable, and unaffected by which parent thread started us).
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="blurutils-parent-watch", daemon=True).start()


class ChildError(RuntimeError):
    """An unexpected exception (a bug, not a user error) inside the child process;
    its message ends with the child's traceback."""

    def __init__(self, message: str, child_traceback: str):
        super().__init__(message)
        self.child_traceback = child_traceback


def _raise_child_error(name: str, known: BlurUtilsError | None, message: str,
                       trace: str) -> None:
    if isinstance(known, OutOfMemory):
        raise OutOfMemory(f"{name}: {known}")
    if known is not None:  # its message is already one clear line
        raise known
    raise ChildError(f"{name}: {message} (in the run's worker process)\n\n"
                     f"Traceback in the worker process:\n{trace}", trace)


def _death_message(name: str, exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
    else:
        how, hint = f"exited with status {exitcode}", ""
    return (f"{name}: the training process was {how}{hint}; finished work is saved — "
            "run the same command again to resume")


if __name__ == "__main__":
    sys.exit(_child_main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None))
