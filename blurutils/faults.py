"""Crash points: where the interruption tests kill the process on purpose.

Setting ``BLURUTILS_CRASH_AT="<point>[:<n>[:<signal>]]"`` makes the process kill itself
(``SIGKILL`` by default, or ``SIGINT`` for Ctrl-C, ``SIGTERM``, ``SIGHUP``) the n-th time
it reaches the named point; ``<signal>`` ``ENOSPC`` instead raises the ``OSError`` of a
full disk there (every n-th time and after, as a full disk stays full), which is how the
tests try a full disk without one.  ``tests/test_interruption.py`` uses this to stop ``reproduce`` at exact
moments — during frame extraction, mid-epoch, right after a checkpoint, between runs,
while writing a result — and then checks that rerunning gives the same results as a
run that was never interrupted.  Unset (always, in normal use) it costs one dict
lookup.

Points: ``frame`` (a frame decoded), ``batch`` (a training step finished),
``checkpoint`` (a checkpoint file saved, its state file not yet), ``run`` (a run's
results saved, the next run not started), ``write`` (an atomic write done, not yet
renamed into place).  Counts are per process: each run's worker process
(:mod:`blurutils.isolation`) inherits the setting and counts from zero.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

POINTS = ("frame", "batch", "checkpoint", "run", "write")
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Kill this process here if ``BLURUTILS_CRASH_AT`` names this point and count."""
    spec = os.environ.get("BLURUTILS_CRASH_AT")
    if not spec:
        return
    point, _, rest = spec.partition(":")
    if point != name:
        return
    count, _, sig = rest.partition(":")
    _reached[name] += 1
    if sig == "ENOSPC":
        if _reached[name] >= int(count or 1):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), getattr(signal, sig or "SIGKILL"))
