"""Exceptions raised for bad input, and for a machine that cannot do what was asked.

Every problem a user can cause (a wrong path, an unknown name, an unusable video)
raises a subclass of :class:`BlurUtilsError` with a one-line message that names the
input and the problem.  The command line turns these into one line on stderr and
exit status 2; a :class:`MachineError` (disk full, folder in use, worker killed) is
not the input's fault and exits with status 1.  Anything else is a bug and keeps its
traceback.

Messages never carry a secret: :func:`redact` removes passwords and tokens from any
URL in a message before it is stored in the exception, so a credential typed into a
source URL cannot reach stderr, a log or a report through an error.
"""

from __future__ import annotations

import re

#: ``scheme://user:password@`` in any text.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#'\"]*@")
#: Query or fragment parameters whose value is a secret (AWS/GCS signatures included).
_SECRET_PARAM = re.compile(
    r"(?i)([?&#;](?:[\w.\-]*(?:token|secret|passw(?:or)?d|passwd|pwd|sig|signature|"
    r"credential|auth|session|apikey|api_key|api-key|key))=)[^&#\s'\"]*")
REDACTED = "***"


def redact(text: object) -> str:
    """``text`` with URL credentials (``user:pass@``) and secret query values replaced by
    ``***``; everything else unchanged."""
    text = _USERINFO.sub(rf"\1{REDACTED}@", str(text))
    return _SECRET_PARAM.sub(rf"\1{REDACTED}", text)


class BlurUtilsError(Exception):
    """Base class: a problem with what the user asked for, explained in one line."""

    def __init__(self, message: object = "", *args: object):
        super().__init__(redact(message), *args)


class SourceError(BlurUtilsError):
    """A video source could not be resolved, downloaded or generated."""


class FrameError(BlurUtilsError):
    """A video could not be decoded into usable frames."""


class MetricInputError(BlurUtilsError, ValueError):
    """An array passed to a metric has the wrong shape, dtype or values."""


class ConfigError(BlurUtilsError, ValueError):
    """A configuration value or name is not valid."""


class MachineError(BlurUtilsError):
    """Not the input's fault: the machine or another process stopped the work
    (the command line exits with status 1, not 2)."""


class DiskFullError(MachineError, OSError):
    """A write failed because its file system is full (``ENOSPC``) or over quota."""


class FolderBusyError(MachineError):
    """Another blurutils process is writing to the same folder."""
