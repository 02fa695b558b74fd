"""What a clip is like, in the numbers that drive Blur Factor and interpolation difficulty.

BF = 1 / var(Laplacian) depends on a frame's edges *and* its contrast; how hard a frame
is to interpolate depends on how far things move between frames, how often nothing
moves, and how often the shot changes.  :func:`clip_statistics` measures these on the
preprocessed frames (grey, 100x200, the paper's pipeline) so that two sources — the
synthetic clip and a real film, say — can be put side by side
(:func:`compare_clips`, :func:`clip_figure`; ``python -m blurutils.clipstats``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .errors import BlurUtilsError
from .metrics import laplacian_variance
from .shots import find_cuts, frame_differences

__all__ = ["STATIC_DIFFERENCE", "clip_figure", "clip_statistics", "compare_clips"]

#: A transition whose mean absolute difference is below this (0-1 scale, half a grey
#: level) is a hold: nothing visible moved.
STATIC_DIFFERENCE = 0.002
#: Most frame pairs optical flow is measured on (evenly spaced; Farneback is slow).
FLOW_PAIRS = 300


def _flow_magnitudes(frames: np.ndarray, pairs: int = FLOW_PAIRS) -> np.ndarray:
    """Median optical-flow magnitude (pixels per frame) of evenly spaced frame pairs."""
    starts = np.unique(np.linspace(0, len(frames) - 2, min(pairs, len(frames) - 1)).astype(int))
    out = np.empty(len(starts))
    for i, s in enumerate(starts):
        flow = cv2.calcOpticalFlowFarneback(frames[s], frames[s + 1], None, 0.5, 3, 15, 3, 5,
                                            1.2, 0)
        out[i] = np.median(np.hypot(flow[..., 0], flow[..., 1]))
    return out


def clip_statistics(frames: np.ndarray) -> dict[str, float]:
    """Motion, cuts, contrast, sharpness and intensity of uint8 (N, H, W) frames."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 3 or len(frames) < 3:
        raise BlurUtilsError(f"frames: expected uint8 (N >= 3, H, W), got {frames.dtype} "
                             f"{frames.shape}")
    diff = frame_differences(frames)
    cuts = find_cuts(frames)
    within = np.ones(len(diff), dtype=bool)
    within[cuts - 1] = False  # the transitions that are cuts
    std = frames.reshape(len(frames), -1).std(axis=1) / 255.0
    var_lap = np.asarray(laplacian_variance(frames), dtype=np.float64)
    bf = np.where(var_lap > 0, 1.0 / np.where(var_lap > 0, var_lap, 1.0), np.inf)
    counts = np.bincount(frames.ravel(), minlength=256).astype(np.float64)
    share = counts / counts.sum()
    nonzero = share[share > 0]
    flow = _flow_magnitudes(frames)
    return {
        "frames": float(len(frames)),
        "cuts_per_1000_frames": 1000.0 * len(cuts) / len(frames),
        "diff_p10": float(np.quantile(diff[within], 0.10)),
        "diff_median": float(np.median(diff[within])),
        "diff_p99": float(np.quantile(diff[within], 0.99)),
        "static_share": float(np.mean(diff[within] < STATIC_DIFFERENCE)),
        "flow_median_px": float(np.median(flow)),
        "flow_p90_px": float(np.quantile(flow, 0.90)),
        "contrast_median": float(np.median(std)),
        "var_laplacian_median": float(np.median(var_lap)),
        "bf_true_median": float(np.median(bf)),
        "intensity_mean": float((np.arange(256) / 255.0 * share).sum()),
        "dark_share": float(share[:26].sum()),
        "bright_share": float(share[230:].sum()),
        "histogram_entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()),
    }


def compare_clips(clips: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row of :func:`clip_statistics` per named clip."""
    rows = [dict(clip=name, **clip_statistics(frames)) for name, frames in clips.items()]
    return pd.DataFrame(rows)


def clip_figure(clips: dict[str, np.ndarray], path: Path | str, *,
                caption: str | None = None) -> Path:
    """Three panels: the frame-difference distribution (holds and cuts show at its
    ends), per-frame contrast and per-frame BF, one line per clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, frames in clips.items():
        diff = np.sort(frame_differences(frames))
        axes[0].plot(np.maximum(diff, 1e-5), np.linspace(0, 1, len(diff)), label=name)
        std = np.sort(frames.reshape(len(frames), -1).std(axis=1) / 255.0)
        axes[1].plot(std, np.linspace(0, 1, len(std)), label=name)
        var_lap = np.asarray(laplacian_variance(frames), dtype=np.float64)
        bf = np.sort(1.0 / var_lap[var_lap > 0])
        axes[2].plot(bf, np.linspace(0, 1, len(bf)), label=name)
    axes[0].set(xscale="log", xlabel="mean |frame difference| (0-1)",
                ylabel="share of transitions", title="Motion between frames")
    axes[0].axvline(STATIC_DIFFERENCE, color="grey", lw=0.8, ls=":")
    axes[1].set(xlabel="per-frame std of grey levels", ylabel="share of frames",
                title="Contrast")
    axes[2].set(xscale="log", xlabel="BF of the true frame", ylabel="share of frames",
                title="Blur Factor")
    axes[2].legend(fontsize=8)
    if caption:
        fig.text(0.01, 0.005, caption, fontsize=7, color="0.3")
    fig.tight_layout(rect=(0, 0.04 if caption else 0, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m blurutils.clipstats --out DIR NAME=SOURCE ...``: the table and figure."""
    from .frames import load_frames
    from .paths import write_text_atomic

    parser = argparse.ArgumentParser(prog="python -m blurutils.clipstats",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+", help="NAME=SOURCE (a source name, a video file "
                        "or a URL); NAME=SOURCE@N takes the first N frames")
    parser.add_argument("--out", required=True, help="folder for clip_statistics.csv/.md/.png")
    parser.add_argument("--caption", default=None, help="credit line under the figure")
    args = parser.parse_args(argv)
    try:
        clips = {}
        for item in args.clips:
            name, sep, source = item.partition("=")
            if not sep or not name or not source:
                raise BlurUtilsError(f"{item!r}: expected NAME=SOURCE")
            source, _, count = source.partition("@")
            options = {"max_frames": int(count)} if count else {}
            if source == "synthetic" and count:
                options["n_frames"] = int(count)
            clips[name] = load_frames(source, progress=False, **options)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table = compare_clips(clips)
        table.to_csv(out / "clip_statistics.csv", index=False, float_format="%.6g")
        write_text_atomic(out / "clip_statistics.md",
                          table.set_index("clip").T.to_markdown(floatfmt=".4g") + "\n")
        clip_figure(clips, out / "clip_statistics.png", caption=args.caption)
    except (BlurUtilsError, ValueError) as exc:
        print(f"blurutils.clipstats: error: {exc}", file=sys.stderr)
        return 2
    print(table.set_index("clip").T.to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
