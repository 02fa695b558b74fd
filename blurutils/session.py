"""Setting up a notebook kernel or a worker process: TensorFlow kept quiet, one seed
for everything, report filters for long runs, and paths printed without the machine's
folders.

Importing this module does not import TensorFlow; :func:`quiet_tensorflow` and
:func:`seed_everything` do, when called.  Notebooks that train nothing never call them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable


def quiet_tensorflow() -> None:
    """Import TensorFlow without its start-up log lines, and keep it quiet afterwards.

    TensorFlow 2.21 prints oneDNN/CUDA notices from C++ at import time, which
    ``TF_CPP_MIN_LOG_LEVEL`` no longer silences; they would land in notebook outputs.
    The import runs with file descriptor 2 pointed at a temporary file, whose text is
    shown only if the import fails.
    """
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if "tensorflow" not in sys.modules:
        import tempfile

        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except BaseException:
                os.dup2(saved, 2)
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
                raise
            finally:
                os.dup2(saved, 2)
                os.close(saved)
    import absl.logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    absl.logging.set_verbosity(absl.logging.ERROR)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras from one number.

    TensorFlow's op-determinism switch is deliberately not used: Keras turns XLA off
    when it is on, which makes the dense models ~3x slower on CPU.  Reruns on the same
    machine are still identical (XLA's CPU kernels and our input pipeline are
    deterministic); ``tests/test_training.py`` checks this byte for byte.
    """
    quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)


def display_path(path: os.PathLike | str) -> str:
    """A path to print in a notebook without the machine's folders in it.

    Paths under the results folder print as ``results/...``, under the data cache as
    ``data/...``, under the checkout relative to it; anything else by its name only.
    """
    from .paths import REPO_DIR, data_dir, results_dir

    path = Path(path).resolve()
    for root, label in ((results_dir(), "results"), (data_dir(), "data"), (REPO_DIR, "")):
        try:
            rel = path.relative_to(Path(root).resolve())
        except ValueError:
            continue
        return str(Path(label) / rel) if label else str(rel)
    return path.name


def last_epoch_only(epochs: int, report: Callable[[str], None] = print) -> Callable[[str], None]:
    """A ``report`` for :func:`blurutils.study.run_study` that keeps one line per run.

    Per-epoch lines are dropped except the last (``epoch N/N``), so a 12-run grid
    prints about 13 lines instead of 130.
    """
    def keep(line: str) -> None:
        if " epoch " not in line or f"epoch {epochs:>2}/{epochs}" in line:
            report(line)

    return keep


def trained_runs_only(epochs: int, report: Callable[[str], None] = print
                      ) -> Callable[[str], None]:
    """A ``report`` for :func:`blurutils.audit.run_audit` that prints what was trained.

    Keeps the audit's variant headers and one line per run trained (its last epoch,
    as :func:`last_epoch_only`); drops the per-variant split line and the
    ``already done`` lines of runs that an earlier variant trained, so an audit of
    eight variants prints one line per distinct training instead of one per cell.
    Introduced in ``notebooks/09_beyond_the_paper``.
    """
    last = last_epoch_only(epochs, report)

    def keep(line: str) -> None:
        if "already done" in line or " frames of " in line:
            return
        last(line)

    return keep


class StoppedByUser(Exception):
    """A notebook cell stopped with Ctrl-C / *Interrupt*: IPython shows its message as one
    line (``_render_traceback_``) instead of a traceback, and *Run All* stops here."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class one_line_interrupt:
    """Context manager for a long notebook cell: an interrupt inside it is re-raised as
    :class:`StoppedByUser` with ``message`` (one line; finished work is kept)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __enter__(self) -> "one_line_interrupt":
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            raise StoppedByUser(self.message) from None
        return False
