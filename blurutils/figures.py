"""The paper's Figures 2-5, with the data they need and the files they make: loss
curves beside the paper's published curves, mean Blur Factor and Relative Blur Factor
beside the paper's Tables 1 and 2, local RBF maps of each model's extreme test frames,
and :func:`save_figure` / :func:`study_figures`, which write them as PNGs for a study's
report (:mod:`blurutils.report`, :mod:`blurutils.seeds`, :mod:`blurutils.calibration`).

What a notebook only *shows* (frame strips, predictions, Laplacians, widgets) lives in
:mod:`blurutils.viz`; this module reads the paper's numbers (:mod:`blurutils.reference`)
and a run's stored frames (:func:`blurutils.evaluation.load_extremes`), and writes files.
Notebooks 07 and 08 draw Figures 2-4 through :mod:`blurutils.experiments`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd

from .catalog import ALL_LOSSES, ALL_MODELS
from .paths import atomic_path
from .viz import setup_matplotlib

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def _pyplot():
    return setup_matplotlib()


def _seaborn():
    setup_matplotlib(seaborn_theme=True)
    import seaborn as sns

    return sns


OURS, PAPER = "This reproduction", "Paper (published)"


def loss_curves_frame(histories: dict[tuple[str, str], pd.DataFrame],
                      with_paper: bool = True) -> pd.DataFrame:
    """Long table of loss per epoch: source, model, loss, split (train/test), epoch, value."""
    rows = []
    for (model, loss), h in histories.items():
        for split, column in (("train", "loss"), ("test", "val_loss")):
            rows.append(pd.DataFrame(dict(source=OURS, model=model, loss=loss, split=split,
                                          epoch=h["epoch"], value=h[column])))
    if with_paper:
        from .reference import paper_loss_curves

        paper = paper_loss_curves()
        paper = paper[paper["loss"].isin({l for _, l in histories})]
        rows.append(paper.assign(source=PAPER,
                                 split=paper["split"].replace({"validation": "test"})))
    return pd.concat(rows, ignore_index=True)


def figure2_training_loss(histories: dict[tuple[str, str], pd.DataFrame]) -> "Figure":
    """Loss per epoch, one panel per loss, one line per model (conv included), ours above
    the paper's published dense-model curves."""
    sns = _seaborn()
    data = loss_curves_frame(histories)
    grid = sns.relplot(data=data, kind="line", x="epoch", y="value", row="source",
                       col="loss", hue="model", style="split", markers=True, dashes=True,
                       hue_order=[m for m in list(ALL_MODELS) if m in set(data["model"])],
                       col_order=[l for l in list(ALL_LOSSES) if l in set(data["loss"])],
                       row_order=[s for s in (OURS, PAPER) if s in set(data["source"])],
                       height=2.8, aspect=1.3, facet_kws=dict(sharey=False))
    grid.set_titles("{row_name} — {col_name}")
    grid.set_axis_labels("epoch", "loss")
    grid.figure.suptitle("Figure 2: training and test loss per epoch", y=1.02)
    return grid.figure


def _means_frame(table: pd.DataFrame, paper_column: str) -> pd.DataFrame:
    from .reference import paper_tables

    bounds = [c for c in ("ci_low", "ci_high") if c in table]
    ours = table[["model", "loss", "mean", *bounds]].assign(source=OURS)
    paper = paper_tables().rename(columns={paper_column: "mean"})[["model", "loss", "mean"]]
    paper = paper.assign(source=PAPER)
    keep = set(zip(ours["model"], ours["loss"]))
    paper = paper[[k in keep for k in zip(paper["model"], paper["loss"])]]
    return pd.concat([ours, paper], ignore_index=True)


def _bar_grid(data: pd.DataFrame, ylabel: str, title: str, symlog: bool) -> "Figure":
    sns = _seaborn()
    grid = sns.catplot(data=data, kind="bar", x="model", y="mean", hue="loss", col="source",
                       order=[m for m in list(ALL_MODELS) if m in set(data["model"])],
                       hue_order=[l for l in list(ALL_LOSSES) if l in set(data["loss"])],
                       col_order=[OURS, PAPER], errorbar=None, height=3.4, aspect=1.25,
                       sharey=True)
    lowest = float(data["mean"].min())
    if {"ci_low", "ci_high"} <= set(data):
        _error_bars(grid, data, [m for m in list(ALL_MODELS) if m in set(data["model"])],
                    [l for l in list(ALL_LOSSES) if l in set(data["loss"])])
    for ax in grid.axes.flat:
        if symlog:
            ax.set_yscale("symlog", linthresh=1.0)
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_ylim(bottom=min(-1.0, 2.0 * lowest))
        else:
            ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=15)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", ylabel)
    grid.figure.suptitle(title, y=1.03)
    return grid.figure


def _error_bars(grid, data: pd.DataFrame, order: list[str], hue_order: list[str]) -> None:
    """95% intervals (``ci_low``..``ci_high``) on this reproduction's bars."""
    ours = data[data["source"] == OURS].set_index(["model", "loss"])
    ax = grid.axes.flat[0]
    for loss, container in zip(hue_order, ax.containers):
        for model, bar in zip(order, container):
            if (model, loss) not in ours.index:
                continue
            row = ours.loc[(model, loss)]
            low, high = float(row["ci_low"]), float(row["ci_high"])
            if np.isfinite(low) and np.isfinite(high):
                x = bar.get_x() + bar.get_width() / 2
                ax.plot([x, x], [low, high], color="black", linewidth=1.0)


def figure3_blur_factor(table1: pd.DataFrame) -> "Figure":
    """Mean Blur Factor per model and loss, log scale as the paper, beside the paper's
    (with 95% intervals where ``table1`` has ``ci_low``/``ci_high``)."""
    return _bar_grid(_means_frame(table1, "bf_mean"), "mean Blur Factor (log)",
                     "Figure 3: mean Blur Factor of the test predictions", symlog=False)


def figure4_relative_blur_factor(table2: pd.DataFrame) -> "Figure":
    """Mean RBF per model and loss on a symmetric log scale, so negative values show
    (the paper's log scale hid them)."""
    return _bar_grid(_means_frame(table2, "rbf_mean"), "mean RBF (symlog; < 0 = sharper)",
                     "Figure 4: mean Relative Blur Factor of the test predictions",
                     symlog=True)


def figure5_local_blur_maps(extremes: dict[str, dict], tile: int = 25) -> "Figure":
    """Local Relative Blur Factor maps beside the frames, for each model's test frame
    closest to (best) and farthest from (worst) the truth's overall blur.

    ``extremes`` maps a run label to what :func:`blurutils.study.save_extremes` stored.
    Each map shows log10(1 + local RBF) per ``tile`` x ``tile`` tile — red: blurrier
    than the truth there, blue: sharper — so a frame whose global RBF is near 0 can
    still show regions of each.  The paper's second recommendation.
    """
    from .metrics import local_relative_blur_factor

    _seaborn()
    plt = _pyplot()
    fig, axes = plt.subplots(len(extremes), 4, squeeze=False, layout="constrained",
                             figsize=(13, 1.9 * len(extremes) + 0.6))
    image = None
    for r, (label, data) in enumerate(extremes.items()):
        for c, (which, i) in enumerate((("best", 0), ("worst", 1))):
            pred, true = data["pred"][i], data["true"][i]
            local = local_relative_blur_factor(pred, true, tile)
            log_ratio = np.log10(np.clip(1 + np.nan_to_num(local, nan=0.0, posinf=1e3), 1e-3, 1e3))
            ax_frame, ax_map = axes[r, 2 * c], axes[r, 2 * c + 1]
            ax_frame.imshow(pred, cmap="gray", vmin=0, vmax=255)
            ax_frame.set_title(f"{label}: {which} (frame {int(data['frame'][i])}, "
                               f"RBF {float(data['rbf'][i]):+.2f})", fontsize=8)
            h, w = pred.shape
            rows, cols = local.shape
            image = ax_map.imshow(log_ratio, cmap="coolwarm", vmin=-2, vmax=2,
                                  interpolation="nearest",
                                  extent=(0, cols * tile, rows * tile, 0))
            ax_map.set_xlim(0, w)
            ax_map.set_ylim(h, 0)
            ax_map.set_title(f"local RBF, {tile}x{tile} tiles: "
                             f"{np.mean(local > 0):.0%} blurrier", fontsize=8)
            for ax in (ax_frame, ax_map):
                ax.set_axis_off()
    if image is not None:
        fig.colorbar(image, ax=axes[:, [1, 3]].ravel().tolist(), shrink=0.8,
                     label="log10(1 + local RBF)")
    fig.suptitle("Figure 5 (beyond the paper): where the blur is — local RBF maps of each "
                 "model's best and worst test frame")
    return fig


def save_figure(fig: "Figure", path: Path) -> Path:
    """Save a figure as PNG atomically and close it."""
    plt = _pyplot()

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight",
                    metadata={"Software": None})
    plt.close(fig)
    return path


def study_figures(histories: Mapping[tuple[str, str], pd.DataFrame], table1: pd.DataFrame,
                  table2: pd.DataFrame, run_dirs: Mapping[tuple[str, str], Path],
                  out: Path) -> dict[str, Path]:
    """Figures 2-5 of a study, saved under ``out`` (Figure 5 when the runs stored their
    extreme frames: one row per model, for MSE or else the first loss)."""
    from .evaluation import load_extremes

    files = {
        "figure2": save_figure(figure2_training_loss(dict(histories)),
                               out / "figure2_training_loss.png"),
        "figure3": save_figure(figure3_blur_factor(table1), out / "figure3_blur_factor.png"),
        "figure4": save_figure(figure4_relative_blur_factor(table2),
                               out / "figure4_relative_blur_factor.png"),
    }
    losses = list(dict.fromkeys(loss for _, loss in run_dirs))
    loss = "MSE" if "MSE" in losses else (losses[0] if losses else None)
    extremes = {f"{model} {loss}": data for (model, run_loss), run_dir in run_dirs.items()
                if run_loss == loss and (data := load_extremes(run_dir)) is not None}
    if extremes:
        files["figure5"] = save_figure(figure5_local_blur_maps(extremes),
                                       out / "figure5_local_blur_maps.png")
    return files
