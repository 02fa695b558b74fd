"""Loss names, without Keras: what ``MSE``, ``cp + blur@0.5`` and friends mean.

Configuration is checked before any model is built, often in a process that never
trains (a notebook kernel that hands runs to worker processes, the CLI's argument
check).  Keeping the names here, apart from :mod:`blurutils.losses` and
:mod:`blurutils.blurloss`, lets those checks run without importing TensorFlow
(~0.7 GB resident), which is what keeps notebook 07 inside Binder's 2 GB.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ConfigError

#: The paper's three losses (section 3.3).
LOSS_NAMES = ("MSE", "MSLE", "CP")
#: The blur-aware variants of the paper's losses, with the default lambda.
BLUR_LOSS_NAMES = tuple(f"{name}+BLUR" for name in LOSS_NAMES)
#: Default weight of the blur penalty (:mod:`blurutils.blurloss`).
DEFAULT_LAMBDA = 0.1

_BLUR_NAME = re.compile(r"^\s*([A-Za-z]+)\s*\+\s*BLUR\s*(?:@\s*([^\s]+))?\s*$", re.IGNORECASE)


def _check_lambda(lam: Any) -> float:
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise ConfigError(f"lambda {lam!r}: not a number") from None
    if isinstance(lam, bool) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"lambda {lam!r}: must be a finite number >= 0")
    return value


def parse_blur_loss_name(name: str) -> tuple[str, float]:
    """``"MSE+BLUR"`` -> ("MSE", 0.1); ``"cp+blur@0.5"`` -> ("CP", 0.5).

    Case and spaces around ``+`` and ``@`` are ignored.  Raises
    :class:`~blurutils.errors.ConfigError` for anything else.
    """
    match = _BLUR_NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ConfigError(f"unknown blur-aware loss {name!r} (expected BASE+BLUR or "
                          f"BASE+BLUR@LAMBDA with BASE one of {', '.join(LOSS_NAMES)}, "
                          "e.g. MSE+BLUR or CP+BLUR@0.5)")
    base = match.group(1).upper()
    if base not in LOSS_NAMES:
        raise ConfigError(f"unknown base loss {match.group(1)!r} in {name!r} "
                          f"(expected one of {', '.join(LOSS_NAMES)})")
    lam = DEFAULT_LAMBDA if match.group(2) is None else _check_lambda(match.group(2))
    return base, lam


def blur_loss_name(base: str, lam: float = DEFAULT_LAMBDA) -> str:
    """Canonical name: ``"MSE+BLUR"`` for the default lambda, ``"MSE+BLUR@0.5"`` otherwise."""
    base = base.upper()
    return f"{base}+BLUR" if lam == DEFAULT_LAMBDA else f"{base}+BLUR@{lam:g}"


def is_blur_aware_name(name: str) -> bool:
    """Whether ``name`` looks like a blur-aware loss name (``...+BLUR[@lambda]``)."""
    return isinstance(name, str) and "+BLUR" in name.upper().replace(" ", "")


def canonical_loss_name(name: str) -> str:
    """``mse`` -> ``MSE``; ``cp + blur@0.5`` -> ``CP+BLUR@0.5``; unknown -> ConfigError.

    Besides the paper's three losses, ``BASE+BLUR[@lambda]`` names the blur-aware loss
    of :mod:`blurutils.blurloss` (the paper's first recommendation).
    """
    key = str(name).strip().upper()
    if key in LOSS_NAMES:
        return key
    if is_blur_aware_name(key):
        return blur_loss_name(*parse_blur_loss_name(key))
    raise ConfigError(f"unknown loss {name!r} (expected one of {', '.join(LOSS_NAMES)}, "
                      "or BASE+BLUR for the blur-aware loss)")
