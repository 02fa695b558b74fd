"""The study's configuration: one dataclass, three profiles, YAML in and out.

Profiles (every field can still be overridden):

* ``smoke``  – seconds; for tests: 16 frames of the sample clip, 2 epochs, no XLA.
* ``quick``  – the default: the whole bundled sample clip (132 frames), all 12 runs
  at the paper's hyperparameters (10 epochs, batch 64 / 1), minutes on 2 CPU cores.
* ``paper``  – the paper's scale: 12,000 frames, 10 epochs; for a long CPU run or a
  GPU, on a URL (the paper's video), a local file or ``synthetic``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

ALL_MODELS = ("Backward", "Forward", "Bi-Directional", "Convolutional")
ALL_LOSSES = ("MSE", "MSLE", "CP")
ALL_BASELINES = ("Copy previous", "Linear blend", "Optical flow")


@dataclass
class StudyConfig:
    """Everything needed to rerun the study.  Defaults are the ``quick`` profile."""

    profile: str = "quick"
    source: str = "sample"            # sample | synthetic | a video path | an http(s) URL
    max_frames: int | None = None     # cap on frames decoded (None: the whole clip)
    frame_step: int = 1               # keep every n-th frame
    synthetic_frames: int = 12000     # length of the synthetic clip, when source=synthetic
    models: list[str] = field(default_factory=lambda: list(ALL_MODELS))
    losses: list[str] = field(default_factory=lambda: list(ALL_LOSSES))  # + e.g. MSE+BLUR
    baselines: list[str] = field(default_factory=lambda: list(ALL_BASELINES))  # no learning
    epochs: int = 10                  # paper, section 3
    dense_batch_size: int = 64        # paper, section 3
    conv_batch_size: int = 1          # paper, section 3
    conv_filters: int = 16            # paper's text (the authors' code: 32 for MSE/MSLE)
    test_fraction: float = 0.3        # paper, stage 6
    split: str = "random"             # random (paper) | blocked
    seed: int = 0
    dense_jit_compile: bool | str = "auto"  # XLA: ~1.3x faster dense steps after a 2-3 s
    #                                   compile; "auto": only for runs of 50+ steps
    conv_jit_compile: bool = False    # XLA: ~2-4x slower for the conv model at batch 1
    conv_steps_per_execution: int = 32  # batch-1 steps per call: ~2x faster, same result
    checkpoint_interval_s: float = 30.0  # 0: checkpoint after every epoch
    frame_layout: str = "paper"       # paper (100x200) | half (50x100, small machines) | auto
    compat: list[str] = field(default_factory=list)  # the authors' quirks (blurutils.compat)
    isolate_runs: bool = True         # each run in a fresh process: memory back after each
    keep_models: bool = True          # keep runs/*/model.keras (170 MB per dense model)
    out: str = "results"

    def __post_init__(self) -> None:
        from .models import model_spec  # name look-ups only: no TensorFlow here
        from .pairs import SPLIT_METHODS

        self.models = [model_spec(m).name for m in _as_list(self.models, "models")]
        self.losses = [_loss_name(name) for name in _as_list(self.losses, "losses")]
        self.baselines = _baseline_names(self.baselines)
        from .compat import parse_compat

        self.compat = list(parse_compat(self.compat))
        from .machine import frame_layout_for

        self.frame_layout = frame_layout_for(self.frame_layout)  # "auto" -> what fits here
        for name in ("epochs", "dense_batch_size", "conv_batch_size", "conv_filters",
                     "frame_step", "synthetic_frames", "conv_steps_per_execution"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be a positive integer")
        if self.max_frames is not None and self.max_frames < 3:
            raise ConfigError(f"max_frames={self.max_frames}: must be at least 3")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction={self.test_fraction}: must be between 0 and 1")
        if self.split not in SPLIT_METHODS:
            raise ConfigError(f"split={self.split!r}: expected one of {', '.join(SPLIT_METHODS)}")
        if self.checkpoint_interval_s < 0:
            raise ConfigError(f"checkpoint_interval_s={self.checkpoint_interval_s}: must be >= 0")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed}: must be >= 0")
        if self.dense_jit_compile not in (True, False, "auto"):
            raise ConfigError(f"dense_jit_compile={self.dense_jit_compile!r}: expected true, "
                              "false or 'auto'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(max_frames=16, epochs=2, dense_jit_compile=False),
    "quick": dict(),
    # Models are not kept at this scale (9 dense models: 1.5 GB); the tables need only the
    # per-frame metrics.  Set keep_models: true to keep them (e.g. for `interpolate`).
    "paper": dict(source="synthetic", max_frames=12000, synthetic_frames=12000,
                  checkpoint_interval_s=60.0, keep_models=False),
}


def _as_list(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, (list, tuple)) or not value \
            or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}={value!r}: expected a non-empty list of names")
    return list(value)


def _baseline_names(value: Any) -> list[str]:
    from .baselines import baseline_name

    if value in ("", "none", None) or value == []:
        return []
    return [baseline_name(name) for name in _as_list(value, "baselines")]


def _loss_name(name: str) -> str:
    from .loss_names import canonical_loss_name

    return canonical_loss_name(name)


def make_config(profile: str = "quick", **overrides: Any) -> StudyConfig:
    """A profile's configuration with ``overrides`` (``None`` values are ignored)."""
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r} (expected one of {', '.join(PROFILES)})")
    values = dict(PROFILES[profile], profile=profile)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(values)


def from_dict(values: dict[str, Any], origin: str = "config") -> StudyConfig:
    """Build a config from plain values, checking every key and type."""
    hints = typing.get_type_hints(StudyConfig)
    known = {f.name for f in dataclasses.fields(StudyConfig)}
    unknown = sorted(map(str, set(values) - known))
    if unknown:
        raise ConfigError(f"{origin}: unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    checked = {key: _check_type(key, value, hints[key], origin) for key, value in values.items()}
    return StudyConfig(**checked)


def _check_type(key: str, value: Any, hint: Any, origin: str) -> Any:
    # Only a union (``int | None``) lists alternatives; ``list[str]`` is one type.
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = typing.get_args(hint) if union else (hint,)
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:
        base = typing.get_origin(kind) or kind
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base is bool and isinstance(value, bool):
            return value
        if base is str and isinstance(value, str):
            return value
        if base is list and isinstance(value, (list, tuple, str)):
            return value
    names = " or ".join(getattr(k, "__name__", str(k)) for k in allowed)
    raise ConfigError(f"{origin}: {key}={value!r} has type {type(value).__name__}, expected {names}")


def load_config(path: Path | str, **overrides: Any) -> StudyConfig:
    """Read a YAML config (``yaml.safe_load``); ``overrides`` win over the file."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if values is None:  # an empty file
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
    file_profile = values.pop("profile", None)
    profile = overrides.pop("profile", None) or file_profile or "quick"
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"{path}: unknown profile {profile!r}")
    base = dict(PROFILES[profile], profile=profile)
    base.update(values)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(base, origin=str(path))


def dump_config(config: StudyConfig) -> str:
    """YAML text that :func:`load_config` reads back to the same configuration."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)
