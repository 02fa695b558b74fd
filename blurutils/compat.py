"""Paper-compatibility mode: the authors' published code, one switch per quirk.

The paper's text and the authors' script (``lucasmccabe/FillNet``) differ in ways that
move the published tables (``docs/authors-code.md`` lists them).  The study
follows the text by default; each switch below turns one of the code's behaviours
back on, so :mod:`blurutils.audit` can show which published findings depend on which
quirk.  ``fillnet`` (or ``all``) switches on all six.

Where each switch acts:

* ``pairs`` – :func:`blurutils.pairs.fillnet_pair_split` and :func:`pair_examples`;
* ``backward``, ``bidirectional`` – :func:`model_offsets` (which frames feed a model);
* ``reshape`` – :func:`blur_layout` (what the blur metrics see);
* ``conv_loss`` – :func:`conv_run_settings` (loss axis, filters);
* ``conv_frames`` – :func:`frame_format_for` (the conv model's frames).
"""

from __future__ import annotations

from typing import Any, Iterable

from .errors import ConfigError

#: What notebook 09 uses (this module is its own face: docs/architecture.md).
__all__ = ["QUIRKS", "QUIRK_LABELS", "describe", "frame_format_for", "model_offsets",
           "parse_compat", "run_folder_name"]

#: Each quirk of the authors' code, in the order of the issue and the reference list.
QUIRKS: dict[str, str] = {
    "pairs": "non-overlapping pairs (0→1, 2→3, …) split by train_test_split(random_state=42)",
    "backward": "'Backward' trained as a forward model (the input/target swap done twice)",
    "bidirectional": "Bi-Directional trained on frames (2i+1, 2i+3) → 2i (extrapolation)",
    "reshape": "dense models' Blur Factor measured on each frame reshaped to (200, 100)",
    "conv_loss": "conv CP over the last axis only (a constant: no learning); "
                 "32 filters for MSE/MSLE",
    "conv_frames": "conv frames 200 tall × 100 wide, nearest-neighbour resize",
}
#: Short labels for tables and folder names.
QUIRK_LABELS: dict[str, str] = {
    "pairs": "a", "backward": "b", "bidirectional": "c",
    "reshape": "d", "conv_loss": "e", "conv_frames": "f",
}
ALL_QUIRKS = tuple(QUIRKS)
_ALIASES = {"fillnet": ALL_QUIRKS, "all": ALL_QUIRKS, "none": (), "paper": ()}
#: The quirks that change how each model is trained (so they name its run folder).
_TRAINING_QUIRKS = {
    "Forward": ("pairs",),
    "Backward": ("pairs", "backward"),
    "Bi-Directional": ("pairs", "bidirectional"),
    "Convolutional": ("pairs", "conv_loss", "conv_frames"),
}


def parse_compat(value: Any) -> tuple[str, ...]:
    """Quirk names from ``fillnet``, ``none``, ``pairs,reshape`` or a list, in canonical order.

    Letters from the issue, ``a`` … ``f``, are accepted too.
    """
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").replace("+", " ").split() if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"compat={value!r}: expected quirk names such as 'fillnet' or "
                          f"'pairs,reshape'")
    by_letter = {letter: name for name, letter in QUIRK_LABELS.items()}
    chosen: set[str] = set()
    for item in value:
        key = item.strip().lower().replace("-", "_")
        if key in _ALIASES:
            chosen.update(_ALIASES[key])
        elif key in QUIRKS:
            chosen.add(key)
        elif key in by_letter:
            chosen.add(by_letter[key])
        else:
            raise ConfigError(f"unknown compat switch {item!r} (expected fillnet, none or any "
                              f"of {', '.join(QUIRKS)})")
    return tuple(q for q in ALL_QUIRKS if q in chosen)


def describe(quirks: Iterable[str]) -> str:
    """``all six quirks on`` / ``none`` / ``a, d`` style label of a set of quirks."""
    quirks = tuple(quirks)
    if not quirks:
        return "none"
    if set(quirks) == set(ALL_QUIRKS):
        return "fillnet (all six)"
    return "+".join(quirks)


def training_quirks(model: str, quirks: Iterable[str]) -> tuple[str, ...]:
    """The switches among ``quirks`` that change how ``model`` is trained."""
    relevant = _TRAINING_QUIRKS.get(model, ())
    return tuple(q for q in ALL_QUIRKS if q in quirks and q in relevant)


def run_folder_name(run_name: str, model: str, quirks: Iterable[str]) -> str:
    """``Forward-MSE`` for the faithful run, ``Forward-MSE~fillnet-a`` with quirk (a) on.

    Runs that a quirk does not touch keep their faithful folder, so an audit reuses
    (and never retrains) the runs that its variants have in common.
    """
    active = training_quirks(model, quirks)
    if not active:
        return run_name
    return f"{run_name}~fillnet-{''.join(QUIRK_LABELS[q] for q in active)}"


def model_offsets(model: str, direction_offsets: tuple[int, ...],
                  quirks: Iterable[str]) -> tuple[int, ...]:
    """Input frame offsets (relative to the target) of ``model`` under ``quirks``.

    (b): Backward's inputs and targets were swapped twice, so it is a forward model
    (offset −1).  (c): the Bi-Directional model saw frames t+1 and t+3 for target t.
    """
    quirks = tuple(quirks)
    if model == "Backward" and "backward" in quirks:
        return (-1,)
    if model == "Bi-Directional" and "bidirectional" in quirks:
        return (1, 3)
    return tuple(direction_offsets)


def measures_reshaped(kind: str, quirks: Iterable[str]) -> bool:
    """(d): blur metrics of a dense model's frames on the (200, 100) reshape."""
    return kind == "dense" and "reshape" in tuple(quirks)


def conv_run_settings(loss: str, filters: int, quirks: Iterable[str]) -> tuple[int, bool]:
    """(e): ``(filters, cp_last_axis)`` for the conv model with ``loss``.

    With the quirk, MSE and MSLE use 32 filters and CP the authors' 16, over the last
    axis only; without it, ``filters`` (the paper's 16) and a whole-frame CP.
    """
    if "conv_loss" not in tuple(quirks):
        return filters, False
    base = loss.split("+")[0]
    return (16, base == "CP") if base == "CP" else (32, False)


def frame_format_for(kind: str, quirks: Iterable[str]) -> str:
    """(f): ``fillnet_conv`` frames (200 × 100, nearest) for the conv model, else ``paper``."""
    return "fillnet_conv" if kind == "conv" and "conv_frames" in tuple(quirks) else "paper"
