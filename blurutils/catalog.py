"""The study's catalogue, without Keras: model, loss and baseline names, the paper's
row labels and order, and the batch sizes — each defined once, here.

Configuration is checked before any model is built, often in a process that never
trains (a notebook kernel that hands runs to worker processes, the CLI's argument
check).  Keeping the names here, apart from :mod:`blurutils.models`,
:mod:`blurutils.losses` and :mod:`blurutils.blurloss`, lets those checks run without
importing TensorFlow.
"""

from __future__ import annotations

import math
import re
from typing import Any

from dataclasses import dataclass

from .errors import ConfigError

#: Batch sizes of the paper (section 3): 64 for the multilayer autoencoders, 1 for
#: the convolutional one.
DENSE_BATCH_SIZE = 64
CONV_BATCH_SIZE = 1


@dataclass(frozen=True)
class ModelSpec:
    """What the study needs to know about one architecture."""

    name: str            # the name used in the paper's tables
    direction: str       # which neighbours feed it (see blurutils.pairs)
    kind: str            # "dense" or "conv"
    batch_size: int

    @property
    def n_inputs(self) -> int:
        return 2 if self.direction == "bidirectional" else 1


#: The paper's models, in the order of its tables.
MODELS: dict[str, ModelSpec] = {
    "Backward": ModelSpec("Backward", "backward", "dense", DENSE_BATCH_SIZE),
    "Forward": ModelSpec("Forward", "forward", "dense", DENSE_BATCH_SIZE),
    "Bi-Directional": ModelSpec("Bi-Directional", "bidirectional", "dense", DENSE_BATCH_SIZE),
    "Convolutional": ModelSpec("Convolutional", "forward", "conv", CONV_BATCH_SIZE),
}
ALL_MODELS = tuple(MODELS)


def model_spec(name: str) -> ModelSpec:
    """Look up a model by its table name or a unique prefix (``conv``, ``bi``), any case."""
    wanted = _normalise(name)
    matches = [spec for key, spec in MODELS.items() if _normalise(key).startswith(wanted)]
    if wanted and len(matches) == 1:
        return matches[0]
    raise ConfigError(f"unknown model {name!r} (expected one of {', '.join(MODELS)})")


def _normalise(name: str) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())

#: The paper's three losses (section 3.3), in the order of its tables.
LOSS_NAMES = ("MSE", "MSLE", "CP")
ALL_LOSSES = LOSS_NAMES
#: The blur-aware variants of the paper's losses, with the default lambda.
BLUR_LOSS_NAMES = tuple(f"{name}+BLUR" for name in LOSS_NAMES)
#: Default weight of the blur penalty (:mod:`blurutils.blurloss`).
DEFAULT_LAMBDA = 0.1

_BLUR_NAME = re.compile(r"^\s*([A-Za-z]+)\s*\+\s*BLUR\s*(?:@\s*([^\s]+))?\s*$", re.IGNORECASE)


def check_lambda(lam: Any) -> float:
    """A blur-loss weight as a float; ConfigError unless finite and >= 0."""
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
    lam = DEFAULT_LAMBDA if match.group(2) is None else check_lambda(match.group(2))
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


#: The no-learning baselines, by display name, in the order of the tables
#: (:mod:`blurutils.baselines` implements them).
ALL_BASELINES = ("Copy previous", "Linear blend", "Optical flow", "Mean frame")
#: Accepted spellings (compared with case, spaces, '-' and '_' removed).
_BASELINE_ALIASES = {
    "copyprevious": "Copy previous", "copy": "Copy previous",
    "linearblend": "Linear blend", "blend": "Linear blend", "average": "Linear blend",
    "opticalflow": "Optical flow", "flow": "Optical flow", "flowmidpoint": "Optical flow",
    "meanframe": "Mean frame", "mean": "Mean frame",
}


def baseline_name(name: str) -> str:
    """The display name of a baseline from any accepted spelling (``"flow"``, ``"copy"``)."""
    try:
        return _BASELINE_ALIASES[_normalise(name)]
    except KeyError:
        raise ConfigError(f"unknown baseline {name!r} (expected one of "
                          f"{', '.join(ALL_BASELINES)})") from None


def paper_row(model: str, loss: str) -> str:
    """The paper's row label, e.g. ``Bi-Directional MLAE - CP``.

    (The paper calls even the convolutional model "Convolutional MLAE".)
    """
    return f"{model} MLAE - {loss}"


def run_order(models: list[str], losses: list[str]) -> list[tuple[str, str]]:
    """(model, loss) pairs in the order of the paper's tables; losses the paper did not
    use (the blur-aware ``BASE+BLUR``) follow its three, in the order given."""
    extra = [l for l in losses if l not in ALL_LOSSES]
    return [(m, l) for m in ALL_MODELS for l in (*ALL_LOSSES, *extra)
            if m in models and l in losses]
