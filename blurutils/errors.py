"""Exceptions raised for bad input.

Every problem a user can cause (a wrong path, an unknown name, an unusable video)
raises a subclass of :class:`BlurUtilsError` with a one-line message that names the
input and the problem.  The command line turns these into one line on stderr and
exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BlurUtilsError(Exception):
    """Base class: a problem with what the user asked for, explained in one line."""


class SourceError(BlurUtilsError):
    """A video source could not be resolved, downloaded or generated."""


class FrameError(BlurUtilsError):
    """A video could not be decoded into usable frames."""


class MetricInputError(BlurUtilsError, ValueError):
    """An array passed to a metric has the wrong shape, dtype or values."""


class ConfigError(BlurUtilsError, ValueError):
    """A configuration value or name is not valid."""
