"""The study's configuration: one dataclass, five profiles, YAML in and out.

Profiles (every field can still be overridden):

* ``smoke``    – seconds; for tests: 16 frames of the sample clip, 2 epochs, no XLA.
  A check that everything runs, not a result.
* ``demo``     – minutes: the whole bundled sample clip (132 frames), all 12 runs at the
  paper's hyperparameters.  Too little data for the dense models: ~14 Adam steps each,
  so they predict about the mean frame (the learning diagnostics say so).
* ``standard`` – the default of ``reproduce``: 5,000 frames of the synthetic clip at the
  paper's hyperparameters, a few hundred Adam steps per dense model — the smallest
  offline scale at which every model learns to interpolate.
* ``paper``    – the paper's scale: 12,000 frames, 10 epochs; for a long CPU run or a
  GPU, on a URL (the paper's video), a local file or ``synthetic``.
* ``film``     – the paper's scale on a real animated film: Big Buck Bunny before its
  end credits (11,768 frames, through pip from the package index), triplets that span
  a cut or hold a flat frame dropped.

The dataclass's own defaults are the ``demo`` profile.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import (ALL_BASELINES, ALL_LOSSES, ALL_MODELS, CONV_BATCH_SIZE, DENSE_BATCH_SIZE,
                      baseline_name, canonical_loss_name, model_spec)
from .errors import ConfigError


@dataclass
class StudyConfig:
    """Everything needed to rerun the study.  Defaults are the ``demo`` profile."""

    profile: str = "demo"
    source: str = "sample"            # sample | excerpt | synthetic | bigbuckbunny | a path | a URL
    max_frames: int | None = None     # cap on frames decoded (None: the whole clip)
    frame_step: int = 1               # keep every n-th frame
    synthetic_frames: int = 12000     # length of the synthetic clip, when source=synthetic
    models: list[str] = field(default_factory=lambda: list(ALL_MODELS))
    losses: list[str] = field(default_factory=lambda: list(ALL_LOSSES))  # + e.g. MSE+BLUR
    baselines: list[str] = field(default_factory=lambda: list(ALL_BASELINES))  # no learning
    epochs: int = 10                  # paper, section 3
    dense_batch_size: int = DENSE_BATCH_SIZE  # paper, section 3
    conv_batch_size: int = CONV_BATCH_SIZE    # paper, section 3
    conv_filters: int = 16            # paper's text (the authors' code: 32 for MSE/MSLE)
    test_fraction: float = 0.3        # paper, stage 6
    split: str = "interleaved"        # interleaved (no leakage) | random (paper; leaks) | blocked
    keep_cuts: bool = False           # keep triplets across cuts and flat frames (the paper)
    seed: int = 0
    seeds: list[int] = field(default_factory=list)  # several: one study per seed (0-4, 0,3,7)
    dense_jit_compile: bool | str = "auto"  # XLA for the dense models; "auto": only for
    #                                   runs long enough to repay its compile
    conv_jit_compile: bool = False    # XLA slows the conv model at batch 1
    conv_steps_per_execution: int = 32  # batch-1 steps per call: faster, same result
    checkpoint_interval_s: float = 30.0  # 0: checkpoint after every epoch
    frame_layout: str = "paper"       # paper (100x200) | half (50x100, small machines) | auto
    compat: list[str] = field(default_factory=list)  # the authors' quirks (blurutils.compat)
    isolate_runs: bool = True         # each run in a fresh process: memory back after each
    keep_models: bool = True          # keep runs/*/model.keras (large for dense models)
    out: str = "results"

    def __post_init__(self) -> None:
        from .pairs import SPLIT_METHODS

        self.models = [model_spec(m).name for m in _as_list(self.models, "models")]
        self.losses = [_loss_name(name) for name in _as_list(self.losses, "losses")]
        self.baselines = _baseline_names(self.baselines)
        self.seeds = parse_seeds(self.seeds) if self.seeds not in ([], (), "", None) else []
        from .compat import parse_compat

        self.compat = list(parse_compat(self.compat))
        from .machine import frame_layout_for

        self.frame_layout = frame_layout_for(self.frame_layout)  # "auto" -> what fits here
        for name, (low, high) in LIMITS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not low <= value <= high:
                raise ConfigError(f"{name}={_short(value)}: must be between {low:,} and "
                                  f"{high:,}" + (" (a positive integer)" if low == 1 else ""))
        if self.max_frames is not None and self.max_frames < 3:
            raise ConfigError(f"max_frames={self.max_frames}: must be at least 3")
        if not 0 < self.test_fraction < 1:  # NaN fails too
            raise ConfigError(f"test_fraction={self.test_fraction}: must be between 0 and 1")
        if self.split not in SPLIT_METHODS:
            raise ConfigError(f"split={_short(self.split)}: expected one of "
                              f"{', '.join(SPLIT_METHODS)}")
        if not 0 <= self.checkpoint_interval_s <= MAX_CHECKPOINT_INTERVAL_S:  # NaN fails too
            raise ConfigError(f"checkpoint_interval_s={self.checkpoint_interval_s}: must be "
                              f"between 0 and {MAX_CHECKPOINT_INTERVAL_S:g} seconds")
        if not 0 <= self.seed < 2**32:  # what NumPy and Keras accept as a seed
            raise ConfigError(f"seed={_short(self.seed)}: must be between 0 and 2**32 - 1")
        if self.dense_jit_compile not in (True, False, "auto"):
            raise ConfigError(f"dense_jit_compile={self.dense_jit_compile!r}: expected true, "
                              "false or 'auto'")
        for name in ("source", "out"):
            text = getattr(self, name)
            if not text or "\0" in text or len(text) > MAX_PATH_CHARS:
                raise ConfigError(f"{name}={_short(text)}: expected a non-empty name or path "
                                  f"of at most {MAX_PATH_CHARS} characters, without NUL bytes")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Bounds on every number a config can set, so that a typo (``epochs: 1e9``) is a
#: one-line error instead of a hang or a memory error hours later.
LIMITS: dict[str, tuple[int, int]] = {
    "epochs": (1, 1_000),
    "dense_batch_size": (1, 65_536),
    "conv_batch_size": (1, 65_536),
    "conv_filters": (1, 1_024),
    "frame_step": (1, 100_000),
    "synthetic_frames": (1, 1_000_000),
    "conv_steps_per_execution": (1, 10_000),
    "max_frames": (1, 1_000_000),
}
MAX_CHECKPOINT_INTERVAL_S = 86_400.0
MAX_PATH_CHARS = 4_096
#: A config file larger than this is not a config file.
MAX_CONFIG_BYTES = 1 << 20
#: YAML nodes a config may expand to once aliases are followed (a real one has ~30).
MAX_CONFIG_NODES = 10_000


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a huge value stays one short line."""
    text = repr(value) if not isinstance(value, (list, tuple, dict)) or len(value) < 50 \
        else f"<{type(value).__name__} of {len(value)} items>"
    return text if len(text) <= limit else text[:limit - 1] + "…"


#: Frames of the ``standard`` profile: enough synthetic frames for every model to get
#: a few hundred Adam steps at the paper's batch size (docs/BENCHMARKS.md has its time).
STANDARD_FRAMES = 5000
#: The profile of ``reproduce`` and ``make_config`` when none is named.
DEFAULT_PROFILE = "standard"
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(max_frames=16, epochs=2, dense_jit_compile=False),
    "demo": dict(),
    # The notebooks' study: the bundled minute of the film (blurutils.sources.EXCERPT),
    # every frame, triplets across its 23 cuts dropped; every model learns in minutes.
    "excerpt": dict(source="excerpt"),
    "standard": dict(source="synthetic", max_frames=STANDARD_FRAMES,
                     synthetic_frames=STANDARD_FRAMES),
    # Models are not kept at this scale (9 large dense models); the tables need only the
    # per-frame metrics.  Set keep_models: true to keep them (e.g. for `interpolate`).
    "paper": dict(source="synthetic", max_frames=12000, synthetic_frames=12000,
                  checkpoint_interval_s=60.0, keep_models=False),
    # The real film at the paper's scale: Big Buck Bunny before its end credits
    # (11,768 frames, blurutils.film), triplets across cuts dropped, models not kept.
    "film": dict(source="bigbuckbunny", checkpoint_interval_s=60.0, keep_models=False),
}


def _as_list(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, (list, tuple)) or not value \
            or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}={_short(value)}: expected a non-empty list of names")
    return list(value)


def _baseline_names(value: Any) -> list[str]:
    if value in ("", "none", None) or value == []:
        return []
    return [baseline_name(name) for name in _as_list(value, "baselines")]


def _loss_name(name: str) -> str:
    return canonical_loss_name(name)


def make_config(profile: str = DEFAULT_PROFILE, **overrides: Any) -> StudyConfig:
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
    raise ConfigError(f"{origin}: {key}={_short(value)} has type {type(value).__name__}, "
                      f"expected {names}")


def load_config(path: Path | str, **overrides: Any) -> StudyConfig:
    """Read a YAML config safely; ``overrides`` win over the file.

    Safe-YAML only (a ``!!python`` tag runs nothing), and bounded: the file must be a
    regular file (a FIFO would block) of at most :data:`MAX_CONFIG_BYTES`, each key may
    appear once in a mapping, and aliases may not expand past :data:`MAX_CONFIG_NODES`
    nodes (an "alias bomb").  Every problem is a one-line ConfigError.
    """
    import yaml

    from .paths import check_regular_file

    path = Path(path)
    check_regular_file(path, "config")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes; a config file "
                          "holds a few settings")
    try:
        values = _load_yaml(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8)") from None
    except _ConfigTooLarge as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config") from None
    if values is None:  # an empty file
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(values).__name__}")
    file_profile = values.pop("profile", None)
    profile = overrides.pop("profile", None) or file_profile or DEFAULT_PROFILE
    if not isinstance(profile, str) or profile not in PROFILES:
        raise ConfigError(f"{path}: unknown profile {profile!r}")
    base = dict(PROFILES[profile], profile=profile)
    base.update(values)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(base, origin=str(path))


def dump_config(config: StudyConfig) -> str:
    """YAML text that :func:`load_config` reads back to the same configuration.

    A password or token in a source URL is written as ``***`` (it must never reach a
    results folder that may be shared); such a file reads back with the redacted URL, so
    rerunning from it needs the real URL again (``--source``), or the cached download.
    """
    import yaml

    from .errors import redact

    values = config.to_dict()
    values["source"] = redact(values["source"])
    return yaml.safe_dump(values, sort_keys=False)


class _ConfigTooLarge(Exception):
    """A mapping repeats a key, or aliases expand past the node limit."""


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` with duplicate keys and alias bombs refused (see load_config)."""
    loader = _strict_loader_class()(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _strict_loader_class():
    import yaml

    global _STRICT_LOADER
    if _STRICT_LOADER is not None:
        return _STRICT_LOADER

    class StrictSafeLoader(yaml.SafeLoader):
        """SafeLoader (the constructors of ``yaml.safe_load``) that also refuses a key
        repeated in one mapping and documents that expand past MAX_CONFIG_NODES nodes."""

        def construct_document(self, node):
            size = _expanded_nodes(node, {}, yaml)
            if size > MAX_CONFIG_NODES:
                raise _ConfigTooLarge(f"expands to more than {MAX_CONFIG_NODES:,} YAML nodes "
                                      "once its aliases are followed; a config holds a few "
                                      "settings")
            return super().construct_document(node)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict[tuple[str, str], int] = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode) \
                            or key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise _ConfigTooLarge(f"key {_short(key_node.value)} appears twice "
                                              f"(lines {seen[key]} and {line}); each setting "
                                              "may appear once")
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    _STRICT_LOADER = StrictSafeLoader
    return StrictSafeLoader


_STRICT_LOADER = None


def _expanded_nodes(node: Any, memo: dict[int, int], yaml: Any) -> int:
    """How many nodes ``node`` stands for once every alias is copied out (each shared
    node counted every time it is referred to); capped just past the limit."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once
    total = 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        children = []
    for child in children:
        total += _expanded_nodes(child, memo, yaml)
        if total > MAX_CONFIG_NODES:
            break
    memo[key] = total
    return total


#: At most this many seeds in one study (each is a whole grid of trainings).
MAX_SEEDS = 100
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_seeds(value: Any) -> list[int]:
    """Seeds from ``"0-4"``, ``"0,3,7"``, an int or a list of ints (a YAML list).

    Duplicates are dropped (first occurrence kept); each seed is in [0, 2**32).
    """
    import numpy as np

    if isinstance(value, bool):
        raise ConfigError(f"seeds={value!r}: expected seeds like 0-4, 0,3,7 or a list")
    if isinstance(value, (int, np.integer)):
        items: list[Any] = [int(value)]
    elif isinstance(value, str):
        text = value.strip()
        match = _RANGE.match(text)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if high < low:
                raise ConfigError(f"seeds={value!r}: the range ends before it starts")
            if high - low + 1 > MAX_SEEDS:
                raise ConfigError(f"seeds={value!r}: at most {MAX_SEEDS} seeds")
            items = list(range(low, high + 1))
        else:
            items = [part.strip() for part in text.split(",")]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ConfigError(f"seeds={value!r}: expected seeds like 0-4, 0,3,7 or a list")
    seeds: list[int] = []
    for item in items:
        if isinstance(item, bool) or not (isinstance(item, (int, np.integer))
                                          or (isinstance(item, str) and item.isdigit())):
            raise ConfigError(f"seeds={value!r}: {item!r} is not a whole number >= 0")
        seed = int(item)
        if not 0 <= seed < 2**32:
            raise ConfigError(f"seeds={value!r}: seed {seed} is outside 0 .. 2**32 - 1")
        if seed not in seeds:
            seeds.append(seed)
    if not seeds:
        raise ConfigError(f"seeds={value!r}: no seeds given")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"seeds={value!r}: at most {MAX_SEEDS} seeds")
    return seeds
