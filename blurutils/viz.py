"""What the notebooks show: frame strips, crops and splits, architecture diagrams,
loss curves, predictions beside the truth, Laplacians, local blur maps, an interactive
frame browser, audit heatmaps and the interpolated-video strips — drawn with Matplotlib
and seaborn.

Nothing here computes a result the study reports, reads a results folder or writes a
file: every number shown comes from :mod:`blurutils.metrics` and
:mod:`blurutils.evaluation`, and the paper's Figures 2-5 with their data and PNG files
live in :mod:`blurutils.figures`.  Each function returns the Matplotlib figure (or the
widget), so a notebook cell that calls it displays it once.  :func:`setup_matplotlib`
is the one place where the backend and the seaborn theme are chosen.

This module is also the notebooks' face for pictures (``from blurutils import viz``;
``__all__`` is what they use).  Introduced in ``notebooks/00_overview``
(``show_frames``, ``show_architecture``), ``02_preprocess_frames`` (``show_crop``,
``show_split``), ``03``-``06`` (``model_table``, ``show_history``, ``show_predictions``),
``08_blur_analysis`` (``show_laplacians``, ``show_blur_map``, ``show_test_frame``,
``frame_browser``) and ``09_beyond_the_paper`` (``show_audit_heatmap``,
``show_blur_vs_fidelity``, ``strip_figure``, ``rbf_over_time_figure``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .metrics import (blur_factor, laplacian, laplacian_variance, local_blur_factor, psnr,
                      relative_blur_factor)
from .pairs import Examples

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .interpolate import Interpolation

__all__ = [
    "Predictions", "architecture_layers", "frame_browser", "model_table",
    "rbf_over_time_figure", "show_architecture", "show_audit_heatmap", "show_blur_map",
    "show_blur_vs_fidelity", "show_crop", "show_frames", "show_history", "show_laplacians",
    "show_predictions", "show_split", "show_test_frame", "strip_figure",
    "with_static_fallback",
]

#: Panel width in inches for one 200x100 frame (height follows the 2:1 aspect).
PANEL_WIDTH = 2.6
#: Resolution of figures made of frames: a panel is then about 200 pixels wide, the
#: frame's own size, which keeps the notebooks' stored images small.
FRAME_DPI = 80


@dataclass(frozen=True)
class Predictions:
    """One run's test predictions: which frames went in, and what came out."""

    name: str             # the run, e.g. "Forward-MSE"
    examples: Examples    # test examples: input frame indices and target frame index
    frames: np.ndarray    # predicted frames, float (n, H, W) in [0, 1]
    #: the frames ``examples`` index, in the run's layout (``blurutils.study.run_frames``);
    #: None: those passed to the plotting function.  Needed when runs of one study use
    #: different layouts (dense models on 50x100 frames under 6 GB, the conv model not).
    source: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.examples):
            raise ValueError(f"{self.name}: {len(self.frames)} predictions for "
                             f"{len(self.examples)} examples")
        if self.source is not None and self.source.shape[1:] != self.frames.shape[1:]:
            raise ValueError(f"{self.name}: predictions of {self.frames.shape[1:]} but source "
                             f"frames of {self.source.shape[1:]}")

    def frames_of(self, frames: np.ndarray) -> np.ndarray:
        """The frames this run's examples index: its own ``source``, else ``frames``."""
        return frames if self.source is None else self.source


# --------------------------------------------------------------------------- helpers

def setup_matplotlib(*, seaborn_theme: bool = False):
    """Pyplot, with the non-interactive Agg backend outside a notebook kernel (scripts,
    worker processes, tests); with ``seaborn_theme`` the seaborn style of the paper's
    figures.  Returns ``pyplot``."""
    import matplotlib

    if "ipykernel" not in sys.modules and matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if seaborn_theme:
        import seaborn as sns

        sns.set_theme(style="whitegrid", context="notebook")
    return plt


def _pyplot():
    return setup_matplotlib()


def _seaborn():
    setup_matplotlib(seaborn_theme=True)
    import seaborn as sns

    return sns


def _unit(image: np.ndarray) -> np.ndarray:
    """An image as float in [0, 1] (uint8 divided by 255), trailing channel dropped."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def _grid(n_rows: int, n_cols: int, *, width: float = PANEL_WIDTH, aspect: float = 0.5,
          extra_height: float = 0.45, constrained: bool = False):
    """Rows x columns of frame panels; ``constrained`` leaves room for colour bars."""
    plt = _pyplot()
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False, dpi=FRAME_DPI,
                             layout="constrained" if constrained else None,
                             figsize=(width * n_cols, (width * aspect + extra_height) * n_rows))
    return fig, axes


def _frame(ax: "Axes", image: np.ndarray, title: str = "") -> None:
    """Draw one greyscale frame in [0, 1] (or uint8) without ticks."""
    ax.imshow(_unit(image), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


def _laplacian_panel(ax: "Axes", lap: np.ndarray, limit: float, title: str) -> Any:
    image = ax.imshow(lap, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return image


def format_bf(value: float) -> str:
    """A Blur Factor for a caption: 3 significant digits, ``inf`` for a flat frame."""
    return "inf" if math.isinf(value) else f"{value:.3g}"


# --------------------------------------------------------------------------- frames

def show_frames(frames: Sequence[np.ndarray] | np.ndarray, titles: Sequence[str] | None = None,
                *, ncols: int | None = None, suptitle: str | None = None,
                width: float = PANEL_WIDTH) -> "Figure":
    """A strip (or grid) of greyscale frames with optional titles."""
    n = len(frames)
    if n == 0:
        raise ValueError("no frames to show")
    ncols = min(n, ncols or n)
    nrows = math.ceil(n / ncols)
    fig, axes = _grid(nrows, ncols, width=width)
    for k, ax in enumerate(axes.flat):
        if k < n:
            _frame(ax, frames[k], titles[k] if titles is not None else "")
        else:
            ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def show_crop(image: np.ndarray, box: tuple[int, int, int, int], title: str = "") -> "Figure":
    """A raw frame (BGR colour or grey) with the centre-crop box ``(x, y, w, h)`` drawn."""
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    arr = np.asarray(image)
    height, width = arr.shape[:2]
    fig, ax = plt.subplots(figsize=(5.2, 5.2 * height / width + 0.4), dpi=FRAME_DPI)
    if arr.ndim == 3:
        ax.imshow(arr[..., ::-1])  # OpenCV's BGR -> RGB for display
    else:
        ax.imshow(arr, cmap="gray", vmin=0, vmax=255)
    x, y, w, h = box
    ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="yellow",
                           linewidth=2.0, linestyle="--"))
    ax.set_title(title or f"crop box: x={x}, y={y}, {w}x{h}", fontsize=10)
    ax.set_xticks([0, width - 1])
    ax.set_yticks([0, height - 1])
    fig.tight_layout()
    return fig


def show_split(n_frames: int, train: np.ndarray, test: np.ndarray) -> "Figure":
    """Which frame of the clip is a training target, a test target, or only an input."""
    plt = _pyplot()
    role = np.zeros(n_frames, dtype=int)
    role[np.asarray(train, dtype=int)] = 1
    role[np.asarray(test, dtype=int)] = 2
    fig, ax = plt.subplots(figsize=(9.5, 1.5))
    colours = {0: ("lightgrey", "input only"), 1: ("tab:blue", "train target"),
               2: ("tab:orange", "test target")}
    for value, (colour, label) in colours.items():
        idx = np.flatnonzero(role == value)
        ax.bar(idx, np.ones(len(idx)), width=1.0, color=colour, label=f"{label} ({len(idx)})")
    ax.set_xlim(-0.5, n_frames - 0.5)
    ax.set_yticks([])
    ax.set_xlabel("frame number")
    # Above the axes, clear of the bars (every bar reaches the top of the axes).
    ax.legend(ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- models

@dataclass(frozen=True)
class LayerBox:
    """One box of an architecture diagram: what the layer is and which part it belongs to."""

    label: str      # e.g. "Dense 1024\nReLU"
    part: str       # "input", "encoder", "code", "decoder" or "output"
    size: int       # values the layer outputs per example (sets the box's height)


def architecture_layers(name: str, *, conv_filters: int = 16,
                        frame_shape: tuple[int, int] | None = None) -> list[LayerBox]:
    """The layers of a model of the catalogue, from input frame(s) to output frame, as
    :func:`blurutils.models.build_model` builds it — read from the catalogue and the
    builders' constants, without Keras.

    This Keras-free copy of the four architectures lives here, beside the one picture
    that draws it (:func:`show_architecture`), rather than in :mod:`blurutils.models`:
    notebook 00 draws the models before TensorFlow is ever loaded, and any edit to
    ``models.py`` changes :func:`blurutils.models.builder_source_hash`, hence every
    trained run's fingerprint — a diagram must not retrain a study.  The copy cannot
    drift unseen: ``tests/test_viz.py`` compares it with the models ``build_model``
    builds, layer by layer.
    """
    from .catalog import model_spec
    from .frames import FRAME_SHAPE
    from .models import DENSE_UNITS

    spec = model_spec(name)
    height, width = frame_shape or FRAME_SHAPE
    pixels = height * width
    k = spec.n_inputs
    frames_in = "frames t−1, t+1" if k == 2 else (
        "frame t+1" if spec.direction == "backward" else "frame t−1")
    boxes = [LayerBox(f"{frames_in}\n{height}×{width}" + (f"×{k}" if k > 1 else ""),
                      "input", pixels * k)]
    if spec.kind == "dense":
        boxes.append(LayerBox(f"flatten\n{pixels * k:,}", "input", pixels * k))
        middle = DENSE_UNITS.index(min(DENSE_UNITS))
        for i, units in enumerate(DENSE_UNITS):
            part = "encoder" if i < middle else "code" if i == middle else "decoder"
            boxes.append(LayerBox(f"Dense {units}\nReLU", part, units))
        boxes.append(LayerBox(f"Dense {pixels:,}\nsigmoid", "output", pixels))
        boxes.append(LayerBox(f"reshape\n{height}×{width}", "output", pixels))
        return boxes
    f = conv_filters
    h2, w2, h4, w4 = -(-height // 2), -(-width // 2), -(-height // 4), -(-width // 4)
    boxes += [LayerBox(f"Conv {f}, 3×3\nReLU", "encoder", pixels * f),
              LayerBox(f"max-pool 2×2\n{h2}×{w2}×{f}", "encoder", h2 * w2 * f),
              LayerBox(f"Conv {f}, 3×3\nReLU", "encoder", h2 * w2 * f),
              LayerBox(f"max-pool 2×2\n{h4}×{w4}×{f}", "code", h4 * w4 * f),
              LayerBox(f"Conv {f}, 3×3\nReLU", "decoder", h4 * w4 * f),
              LayerBox(f"upsample 2×\n{h2}×{w2}×{f}", "decoder", h2 * w2 * f),
              LayerBox(f"Conv {f}, 3×3\nReLU", "decoder", h2 * w2 * f),
              LayerBox(f"upsample 2×\n{height}×{width}×{f}", "decoder", pixels * f),
              LayerBox("Conv 1, 3×3\nsigmoid", "output", pixels)]
    return boxes


#: Colours of the parts of an autoencoder in :func:`show_architecture`.
PART_COLOURS = {"input": "#d9d9d9", "encoder": "#9ecae1", "code": "#fdae6b",
                "decoder": "#a1d99b", "output": "#d9d9d9"}


def show_architecture(name: str, *, conv_filters: int = 16,
                      frame_shape: tuple[int, int] | None = None) -> "Figure":
    """A diagram of one of the paper's autoencoders: one box per layer, left to right,
    each box's height growing with the number of values it passes on, coloured by part
    (encoder, code, decoder)."""
    plt = _pyplot()
    from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

    from .catalog import model_spec

    boxes = architecture_layers(name, conv_filters=conv_filters, frame_shape=frame_shape)
    sizes = np.log10([max(b.size, 1) for b in boxes])
    heights = 0.25 + 0.75 * (sizes - sizes.min()) / max(np.ptp(sizes), 1e-9)
    step, box_w = 1.0, 0.78
    fig, ax = plt.subplots(figsize=(0.95 * len(boxes) + 0.4, 2.9))
    for i, (box, h) in enumerate(zip(boxes, heights)):
        ax.add_patch(Rectangle((i * step, -h / 2), box_w, h, facecolor=PART_COLOURS[box.part],
                               edgecolor="black", linewidth=0.8))
        ax.text(i * step + box_w / 2, -0.62, box.label, ha="center", va="top", fontsize=7.5)
        if i:
            ax.add_patch(FancyArrowPatch(((i - 1) * step + box_w, 0), (i * step, 0),
                                         arrowstyle="-|>", mutation_scale=8, linewidth=0.8))
    ax.set_xlim(-0.15, len(boxes) * step - step + box_w + 0.15)
    ax.set_ylim(-1.05, 0.62)
    ax.set_axis_off()
    spec = model_spec(name)
    kind = "convolutional autoencoder" if spec.kind == "conv" else "multilayer (dense) autoencoder"
    ax.set_title(f"{spec.name}: {kind}", fontsize=10)
    parts = [p for p in PART_COLOURS if p != "output"]
    labels = {"input": "input / output", "encoder": "encoder", "code": "code (bottleneck)",
              "decoder": "decoder"}
    ax.legend(handles=[Patch(facecolor=PART_COLOURS[p], edgecolor="black", label=labels[p])
                       for p in parts], loc="upper center", bbox_to_anchor=(0.5, 1.0),
              ncol=len(parts), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig



def model_table(model: Any) -> pd.DataFrame:
    """A condensed ``model.summary()``: one row per layer with output shape and parameters."""
    rows = []
    for layer in model.layers:
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = ()
        rows.append(dict(layer=layer.name, kind=type(layer).__name__,
                         output_shape=str(shape).replace("None", "batch"),
                         params=int(layer.count_params())))
    return pd.DataFrame(rows)


def show_history(histories: Mapping[str, pd.DataFrame] | pd.DataFrame,
                 title: str = "Loss per epoch") -> "Figure":
    """Training (solid) and test (dashed) loss per epoch, one colour per run.

    ``histories`` maps a run name to its ``history.csv`` table (epoch, loss, val_loss);
    a single table is drawn as one run.
    """
    plt = _pyplot()
    if isinstance(histories, pd.DataFrame):
        histories = {"run": histories}
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    for k, (name, h) in enumerate(histories.items()):
        colour = f"C{k % 10}"
        ax.plot(h["epoch"], h["loss"], "-o", color=colour, markersize=3, label=f"{name} train")
        ax.plot(h["epoch"], h["val_loss"], "--s", color=colour, markersize=3,
                label=f"{name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- predictions

def show_predictions(frames: np.ndarray, predictions: Sequence[Predictions] | Predictions,
                     rows: Sequence[int] | None = None, *, n: int = 3) -> "Figure":
    """Test examples side by side: input frame(s), the truth, and each run's prediction.

    ``rows`` picks examples by position in the test set (default: ``n`` evenly spaced).
    Titles give each frame's Blur Factor; a prediction's also gives its RBF.  All runs
    must predict the same target frames (true for one study: the split is shared).
    """
    if isinstance(predictions, Predictions):
        predictions = [predictions]
    first = predictions[0]
    if rows is None:
        rows = np.linspace(0, len(first.examples) - 1, min(n, len(first.examples))).round()
    rows = [int(r) for r in rows]
    n_inputs = max(p.examples.inputs.shape[1] for p in predictions)
    n_cols = n_inputs + 1 + len(predictions)
    fig, axes = _grid(len(rows), n_cols)
    shown = first.frames_of(frames)
    for r, row in enumerate(rows):
        target = int(first.examples.targets[row])
        truth = shown[target]
        inputs = first.examples.inputs[row]
        for c in range(n_inputs):
            if c < len(inputs):
                _frame(axes[r, c], shown[inputs[c]], f"input: frame {inputs[c]}")
            else:
                axes[r, c].set_axis_off()
        bf_true = blur_factor(truth)
        _frame(axes[r, n_inputs], truth, f"truth: frame {target}\nBF {format_bf(bf_true)}")
        for k, pred in enumerate(predictions):
            if int(pred.examples.targets[row]) != target:
                raise ValueError(f"{pred.name} predicts frame {pred.examples.targets[row]} "
                                 f"at row {row}, not {target}")
            image = pred.frames[row]
            own_truth = _unit(pred.frames_of(frames)[target])  # in the run's own layout
            _frame(axes[r, n_inputs + 1 + k], image,
                   f"{pred.name}\nBF {format_bf(blur_factor(image))}, "
                   f"RBF {relative_blur_factor(image, own_truth):+.2f}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- blur

def show_laplacians(images: Mapping[str, np.ndarray], *, limit: float | None = None) -> "Figure":
    """Each image above its Laplacian, on one shared colour scale, with var and BF.

    The shared scale (``limit``; default the 99.5th percentile of |Laplacian| over all
    images) makes a blurry image's faint Laplacian look faint beside a sharp one's.
    """
    names = list(images)
    units = [_unit(images[k]) for k in names]
    laps = [laplacian(u) for u in units]
    if limit is None:
        limit = float(np.percentile(np.abs(np.concatenate([l.ravel() for l in laps])), 99.5))
        limit = limit if limit > 0 else 1.0
    fig, axes = _grid(2, len(names), extra_height=0.55, constrained=True)
    for c, (name, unit, lap) in enumerate(zip(names, units, laps)):
        _frame(axes[0, c], unit, name)
        image = _laplacian_panel(axes[1, c], lap, limit,
                                 f"Laplacian: var {laplacian_variance(unit):.3g}\n"
                                 f"BF {format_bf(blur_factor(unit))}")
    fig.colorbar(image, ax=axes[1, :].tolist(), fraction=0.03, label="Laplacian")
    return fig


def show_blur_map(images: Mapping[str, np.ndarray], tile: int | tuple[int, int] = 25
                  ) -> "Figure":
    """Each image beside its local Blur Factor map (log10 BF per tile, shared scale).

    Flat tiles (BF = inf) are drawn in the colour of the blurriest finite tile and
    hatched.  This is the local analysis the paper's conclusion asks for.
    """
    plt = _pyplot()
    names = list(images)
    units = [_unit(images[k]) for k in names]
    maps = [local_blur_factor(u, tile) for u in units]
    finite = np.concatenate([m[np.isfinite(m)] for m in maps]) if maps else np.array([])
    lo, hi = (np.log10(finite.min()), np.log10(finite.max())) if finite.size else (0.0, 1.0)
    fig, axes = plt.subplots(len(names), 2, squeeze=False, dpi=FRAME_DPI, layout="constrained",
                             figsize=(2 * PANEL_WIDTH + 1.0, (PANEL_WIDTH * 0.5 + 0.6) * len(names)))
    for r, (name, unit, bmap) in enumerate(zip(names, units, maps)):
        _frame(axes[r, 0], unit, name)
        logmap = np.log10(np.where(np.isfinite(bmap), bmap, 10 ** hi))
        h, w = unit.shape
        th, tw = h // bmap.shape[0], w // bmap.shape[1]
        ax = axes[r, 1]
        image = ax.imshow(logmap, cmap="magma", vmin=lo, vmax=hi, interpolation="nearest",
                          extent=(0, bmap.shape[1] * tw, bmap.shape[0] * th, 0))
        for i, j in zip(*np.nonzero(~np.isfinite(bmap))):
            ax.add_patch(_hatch(j * tw, i * th, tw, th))
        whole = blur_factor(unit)
        ax.set_title(f"local BF of {th}x{tw} tiles\n(whole frame: BF {format_bf(whole)})",
                     fontsize=9)
        ax.set_axis_off()
    fig.colorbar(image, ax=axes[:, 1].tolist(), shrink=min(1.0, 0.4 + 0.15 * len(names)),
                 label="log10 BF")
    return fig


def _hatch(x: float, y: float, w: float, h: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, hatch="///", edgecolor="white", linewidth=0)


def show_test_frame(frames: np.ndarray, pred: Predictions, row: int) -> "Figure":
    """One test example in full: input(s), truth, prediction, their Laplacians, the error.

    The title gives BF of the truth and of the prediction, RBF and PSNR, all from
    :mod:`blurutils.metrics`.
    """
    if not 0 <= row < len(pred.examples):
        raise IndexError(f"row {row} is outside the {len(pred.examples)} test examples")
    target = int(pred.examples.targets[row])
    inputs = [int(i) for i in pred.examples.inputs[row]]
    frames = pred.frames_of(frames)
    truth = _unit(frames[target])
    image = _unit(pred.frames[row])
    fig, axes = _grid(2, 4, extra_height=0.55, constrained=True)
    for c in range(2):
        if c < len(inputs):
            _frame(axes[0, c], frames[inputs[c]], f"input: frame {inputs[c]}")
        else:
            axes[0, c].set_axis_off()
    bf_true, bf_pred = blur_factor(truth), blur_factor(image)
    _frame(axes[0, 2], truth, f"truth: frame {target}, BF {format_bf(bf_true)}")
    _frame(axes[0, 3], image, f"prediction, BF {format_bf(bf_pred)}")
    lap_true, lap_pred = laplacian(truth), laplacian(image)
    limit = float(np.percentile(np.abs(lap_true), 99.5)) or 1.0
    _laplacian_panel(axes[1, 0], lap_true, limit, "Laplacian of the truth")
    _laplacian_panel(axes[1, 1], lap_pred, limit, "Laplacian of the prediction")
    error = axes[1, 2].imshow(np.abs(image - truth), cmap="viridis", vmin=0.0, vmax=0.5)
    axes[1, 2].set_title("|prediction - truth|", fontsize=9)
    axes[1, 2].set_axis_off()
    fig.colorbar(error, ax=axes[1, 2], fraction=0.05)
    axes[1, 3].set_axis_off()
    rbf = relative_blur_factor(image, truth)
    axes[1, 3].text(0.02, 0.5, f"{pred.name}\ntest example {row}\n\nBF truth  {format_bf(bf_true)}"
                    f"\nBF pred   {format_bf(bf_pred)}\nRBF       {rbf:+.3f}"
                    f"\nPSNR      {psnr(image, truth):.1f} dB",
                    family="monospace", fontsize=9, va="center", transform=axes[1, 3].transAxes)
    return fig


def frame_browser(frames: np.ndarray, predictions: Sequence[Predictions]) -> Any:
    """An ipywidgets browser over the test frames: a slider and a run selector.

    Each position draws :func:`show_test_frame`.  Returns the widget: display it.  It
    draws its first frame when built, into the widget's own output area, which only a
    live front end shows (a headless run keeps it in the notebook's widget state, not
    in the cell's outputs), so notebooks also draw one frame statically.
    """
    import ipywidgets as widgets

    if not predictions:
        raise ValueError("no predictions to browse")
    by_name = {p.name: p for p in predictions}
    n = min(len(p.examples) for p in predictions)
    slider = widgets.IntSlider(value=0, min=0, max=n - 1, step=1, description="test frame",
                               continuous_update=False)
    run = widgets.Dropdown(options=list(by_name), value=predictions[0].name, description="run")

    def draw(row: int, name: str) -> None:
        plt = _pyplot()
        fig = show_test_frame(frames, by_name[name], row)
        plt.show()
        plt.close(fig)

    return widgets.interactive(draw, row=slider, name=run)


class WithStaticFallback:
    """A widget that carries a static PNG of its first view in the same output.

    A live front end renders the widget (the richest type it knows); a static viewer
    without the widget state shows the PNG instead, so no second figure is drawn under
    a live widget.  Build it with :func:`with_static_fallback`.
    """

    def __init__(self, widget: Any, png: bytes) -> None:
        self.widget, self.png = widget, png

    def _repr_mimebundle_(self, include=None, exclude=None):
        import base64

        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data or {})
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        return (data, metadata) if metadata else data


def with_static_fallback(widget: Any, fig: "Figure") -> WithStaticFallback:
    """``widget`` to display with ``fig`` as its static fallback (``fig`` is closed)."""
    import io

    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FRAME_DPI)
    plt.close(fig)
    return WithStaticFallback(widget, buffer.getvalue())


# --------------------------------------------------------------------------- beyond the paper

def _symlog(values: np.ndarray) -> np.ndarray:
    """``sign(v) * log10(1 + |v|)``: a log scale that keeps 0 and negative values."""
    return np.sign(values) * np.log10(1.0 + np.abs(values))


def show_audit_heatmap(table: pd.DataFrame, value: str = "bf_mean", *, log: bool = True,
                       title: str | None = None) -> "Figure":
    """One statistic of an audit as a heatmap: a row per run, a column per variant.

    ``table`` is :attr:`blurutils.audit.AuditResult.table` (long: one row per variant
    and run, with ``variant``, ``paper_row`` and ``value`` columns); rows and columns
    keep the order in which they first appear (the audit's order: all on, each quirk
    alone off, all off).  Each cell is annotated with its value (3 significant
    digits; whole numbers from 1,000).  With ``log``, the colour is log10(value) when
    every value is positive (a Blur Factor) and ``sign · log10(1 + |value|)``
    otherwise (an RBF can be negative), so a tenfold change reads as one step
    whatever the magnitude.
    """
    plt = _pyplot()
    for column in ("variant", "paper_row", value):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r} (expected an audit table)")
    if table.empty:
        raise ValueError("the audit table is empty")
    wide = table.pivot(index="paper_row", columns="variant", values=value)
    wide = wide.loc[list(dict.fromkeys(table["paper_row"])), list(dict.fromkeys(table["variant"]))]
    raw = wide.to_numpy(dtype=np.float64)
    finite = raw[np.isfinite(raw)]
    if not log:
        colour, label = raw, value
    elif finite.size and (finite > 0).all():
        with np.errstate(divide="ignore", invalid="ignore"):
            colour, label = np.log10(raw), f"log10 {_AXIS_WORDS.get(value, value)}"
    else:
        colour, label = _symlog(raw), f"sign * log10(1 + |{_AXIS_WORDS.get(value, value)}|)"
    colour = np.where(np.isfinite(colour), colour, np.nan)
    n_rows, n_cols = raw.shape
    fig, ax = plt.subplots(figsize=(1.0 + 0.95 * n_cols + 2.6, 0.9 + 0.42 * n_rows),
                           layout="constrained")
    image = ax.imshow(np.ma.masked_invalid(colour), cmap="viridis", aspect="auto")
    shown = colour[np.isfinite(colour)]
    low, high = (shown.min(), shown.max()) if shown.size else (0.0, 1.0)
    for i in range(n_rows):
        for j in range(n_cols):
            v = raw[i, j]
            text = ("-" if np.isnan(v) else "inf" if np.isinf(v)
                    else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}")
            shade = colour[i, j]
            dark = np.isfinite(shade) and shade < low + 0.6 * (high - low)
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(n_cols), [str(c) for c in wide.columns], fontsize=9)
    ax.set_yticks(range(n_rows), [str(r).replace(" MLAE", "") for r in wide.index], fontsize=9)
    ax.tick_params(length=0)
    ax.set_xlabel("variant (quirks of the authors' code switched on or off)")
    ax.set_title(title or f"{value} per run and variant", fontsize=11)
    fig.colorbar(image, ax=ax, label=label, fraction=0.04)
    return fig


#: Axis labels, in words with units, for the columns of StudyResult.table3.
_AXIS_WORDS = {"psnr_mean": "mean PSNR (dB)", "ssim_mean": "mean SSIM", "abs_rbf_mean": "mean |RBF|",
               "rbf_mean": "mean RBF", "bf_mean": "mean Blur Factor",
               "rbf_matched_mean": "mean RBF, contrast matched"}


def show_blur_vs_fidelity(table: pd.DataFrame, *, fidelity: str = "psnr_mean",
                          blur: str = "abs_rbf_mean") -> "Figure":
    """Blur against fidelity, one point per method: is it sharp *and* right?

    ``table`` is :attr:`blurutils.study.StudyResult.table3` (``method``, ``kind`` and
    the blur and fidelity means).  x: ``fidelity`` (mean PSNR in dB by default: right
    is closer to the true frame); y: ``blur`` (mean |RBF| by default: down is closer
    to the truth's blur), on a log scale (values below 1e-3 are drawn at 1e-3).
    Autoencoders are circles, baselines squares.  A method low on the chart but far
    left — copying the previous frame — matches the truth's blur without being the
    right frame: why RBF must be read beside PSNR or SSIM.
    """
    plt = _pyplot()
    for column in ("method", "kind", fidelity, blur):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r} (expected StudyResult.table3)")
    fig, ax = plt.subplots(figsize=(6.8, 3.8), layout="constrained")
    floor = 1e-3
    for k, row in enumerate(table.itertuples(index=False)):
        x = float(getattr(row, fidelity))
        y = max(float(abs(getattr(row, blur))), floor)
        baseline = str(row.kind).startswith("baseline")
        ax.scatter([x], [y], s=55, marker="s" if baseline else "o", color=f"C{k % 10}",
                   edgecolor="black", linewidth=0.6, zorder=3)
        ax.annotate(str(row.method).replace(" MLAE", ""), (x, y), textcoords="offset points",
                    xytext=(6, 4 if k % 2 == 0 else -11), fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel(f"{_AXIS_WORDS.get(fidelity, fidelity)} (higher: closer to the true frame)")
    ax.set_ylabel(f"{_AXIS_WORDS.get(blur, blur)} (lower: blur closer to the truth's)")
    ax.set_title("Blur against fidelity (circles: autoencoders, squares: no learning)",
                 fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.25, y=0.2)
    return fig


# --------------------------------------------------------------------------- interpolated video

def strip_figure(result: "Interpolation", n: int = 4, title: str = ""):
    """Side-by-side strip: original neighbours | interpolated | truth (where known)."""
    plt = _pyplot()

    targets = np.flatnonzero(result.predicted)
    picks = targets[np.linspace(0, len(targets) - 1, min(n, len(targets))).astype(int)]
    rows = [("frame t-1", -1), ("interpolated t", 0), ("frame t+1", 1)]
    if result.truth is not None:
        rows.append(("truth t", None))
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(2.6 * len(picks), 1.5 * len(rows)),
                             squeeze=False)
    for col, t in enumerate(picks):
        for row, (label, offset) in enumerate(rows):
            image = result.truth[t] if offset is None else result.frames[t + offset]
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(label, fontsize=8)
            if row == 0:
                ax.set_title(f"t = {t}", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def rbf_over_time_figure(metrics: dict[str, pd.DataFrame]):
    """RBF (and PSNR) of each interpolated frame against time, one line per method:
    flicker between sharp and blurry frames shows as a jagged line."""
    sns = _seaborn()
    data = pd.concat([df.assign(method=name) for name, df in metrics.items()],
                     ignore_index=True)
    long = data.melt(id_vars=["frame", "method"], value_vars=["rbf", "psnr"],
                     var_name="metric", value_name="value")
    grid = sns.relplot(data=long, kind="line", x="frame", y="value", hue="method",
                       row="metric", height=2.4, aspect=3.0,
                       facet_kws=dict(sharey=False))
    grid.set_titles("{row_name} of each interpolated frame")
    return grid.figure
