"""Writing a study's results: tables as CSV and Markdown, figures, and REPORT.md.

Every file is written atomically; a rerun of a finished study rewrites identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import StudyConfig
from .errors import redact
from .evaluation import write_csv
from .paths import write_text_atomic





@dataclass
class StudyResult:
    """What a study produced: per-frame metrics per run, tables, and output paths."""

    config: StudyConfig
    out: Path
    metrics: dict[tuple[str, str], pd.DataFrame]
    histories: dict[tuple[str, str], pd.DataFrame]
    table1: pd.DataFrame
    table2: pd.DataFrame
    comparison: pd.DataFrame
    verdicts: pd.DataFrame
    table3: pd.DataFrame = field(default_factory=pd.DataFrame)
    baselines: dict[str, pd.DataFrame] = field(default_factory=dict)
    run_dirs: dict[tuple[str, str], Path] = field(default_factory=dict)
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    leaked_test_targets: int = 0
    n_train: int = 0
    n_test: int = 0
    measure_verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    shots: "ShotSummary | None" = None  # noqa: F821  (blurutils.shots.ShotSummary)
    dropped_targets: tuple[int, int] = (0, 0)  # (training, test) triplets across cuts
    credit: str | None = None  # attribution the source's licence asks for


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt) + "\n"


#: Columns of Tables 1 and 2 as the command line prints them: one study, and the mean
#: over seeds.
CONSOLE_COLUMNS = {False: ["paper_row", "mean", "ci_low", "ci_high", "median", "n_inf",
                           "learned"],
                   True: ["paper_row", "mean", "ci_low", "ci_high", "n_seeds",
                          "interpolates_in"]}


def console_tables(table1: pd.DataFrame, table2: pd.DataFrame, verdicts: pd.DataFrame, *,
                   over_seeds: bool = False) -> str:
    """What ``reproduce`` prints once a study ends (the caller prints it): Tables 1 and 2
    (:data:`CONSOLE_COLUMNS`, 4 significant digits) and one line per observation of
    the paper — with the paper's measure and the calibrated blur measures beside the
    verdict for one study, the verdict over seeds with ``over_seeds``."""
    fmt = lambda v: f"{v:.4g}"  # noqa: E731
    columns = CONSOLE_COLUMNS[over_seeds]
    over = ", mean over seeds with a 95% interval" if over_seeds else ""
    lines = [f"\nTable 1: Blur Factor{over or ' of the test predictions'}",
             table1[columns].to_string(index=False, float_format=fmt),
             f"\nTable 2: Relative Blur Factor{over}",
             table2[columns].to_string(index=False, float_format=fmt)]
    if over_seeds:
        lines.append("\nThe paper's observations over seeds:")
        lines += [f"  {row.observation:<6} {row.verdict:<40} {row.claim}"
                  for row in verdicts.itertuples()]
        return "\n".join(lines)
    lines.append("\nThe paper's observations (paper's measure | calibrated blur measures | "
                 "means only, no tolerance):")
    for row in verdicts.itertuples():
        readings = (f"{row.paper:<14} | {row.blur:<14} | "
                    if hasattr(row, "paper") and isinstance(row.paper, str) else "")
        lines.append(f"  {row.observation:<6} {readings}{row.verdict:<14} {row.claim}")
    return "\n".join(lines)


def write_outputs(result: StudyResult, truth: dict) -> dict[str, Path]:
    """Write tables, comparison, figures and REPORT.md; return their paths."""
    from .figures import study_figures

    out = result.out
    files: dict[str, Path] = {}
    for key, table in (("table1", result.table1), ("table2", result.table2)):
        name = "table1_blur_factor" if key == "table1" else "table2_relative_blur_factor"
        write_csv(table, out / f"{name}.csv")
        write_text_atomic(out / f"{name}.md", markdown_table(table))
        files[key] = out / f"{name}.csv"
    write_csv(result.comparison, out / "paper_comparison.csv")
    write_text_atomic(out / "paper_comparison.md",
                      markdown_table(result.comparison) + "\n"
                      + "\n".join(_reading_lines(result.verdicts)))
    files["comparison"] = out / "paper_comparison.csv"
    write_csv(result.verdicts, out / "verdicts.csv")
    if len(result.measure_verdicts):
        write_csv(result.measure_verdicts, out / "verdicts_by_measure.csv")
        files["measure_verdicts"] = out / "verdicts_by_measure.csv"
    if len(result.diagnostics):
        write_csv(result.diagnostics, out / "diagnostics.csv")
        files["diagnostics"] = out / "diagnostics.csv"
    write_csv(result.table3, out / "table3_blur_and_fidelity.csv")
    write_text_atomic(out / "table3_blur_and_fidelity.md", markdown_table(result.table3))
    files["table3"] = out / "table3_blur_and_fidelity.csv"
    files.update(study_figures(result.histories, result.table1, result.table2,
                               result.run_dirs, out))
    files["report"] = out / "REPORT.md"
    write_text_atomic(files["report"], render_report(result, truth, files))
    return files


def render_report(result: StudyResult, truth: dict, files: dict[str, Path]) -> str:
    """REPORT.md: what was run, the tables, the comparison, the verdicts, the figures."""
    c = result.config
    lines = [
        *rerun_note_lines(result.out, c.profile),
        "# Blur in autoencoder video interpolation — reproduction report", "",
        f"Profile `{c.profile}`, source `{redact(c.source)}`, {c.epochs} epochs, seed {c.seed}, "
        f"{c.split} {1 - c.test_fraction:.0%}/{c.test_fraction:.0%} split, "
        f"convolutional filters {c.conv_filters}. Full settings: [config.yaml](config.yaml).", "",
        "Blur Factor BF = 1 / var(Laplacian) (higher = blurrier); Relative Blur Factor "
        "RBF = BF(pred) / BF(true) − 1 (> 0: blurrier than the truth). Frames are measured "
        "in their true 100×200 layout (the authors' code reshaped them to 200×100; see the "
        "project README).", "",
        f"Ground-truth test frames: mean BF {truth['mean']:.4g} (std {truth['std']:.3g}, "
        f"median {truth['median']:.4g}, n = {truth['n']}).", "",
        *([f"Frames: {result.credit}.", ""] if result.credit else []),
        *_split_lines(result),
        *_shot_lines(result),
        *_diagnostics_lines(result),
        "## Table 1 — Blur Factor of the predictions", "", markdown_table(result.table1),
        "## Table 2 — Relative Blur Factor", "", markdown_table(result.table2),
        "## Beside the paper", "",
        "The paper trained on ~12,000 frames of *Bambi*; these numbers come from "
        f"`{redact(c.source)}`, so magnitudes differ. What should carry over are the orderings "
        "the six observations describe.", "", markdown_table(result.comparison),
        *_reading_lines(result.verdicts),
        *dense_fidelity_lines(result.diagnostics),
        *_measure_lines(result),
        "## Beyond the paper: blur next to fidelity, and baselines with no learning", "",
        "Means over the test frames. `abs_rbf_mean`: distance from the truth's blur in "
        "either direction; `rbf_matched_mean`: RBF after matching each prediction's mean "
        "and std to its target (var(Lap(a·P)) = a²·var(Lap(P)), so contrast alone moves "
        "BF); `blurrier_tiles`: share of 25×25 tiles blurrier than the truth; PSNR (dB) "
        "and SSIM: fidelity. Copying the previous frame scores RBF ≈ 0 while being the "
        "wrong frame — report RBF together with PSNR/SSIM, never alone.", "",
        markdown_table(result.table3),
        "## Figures", "",
    ]
    for key in ("figure2", "figure3", "figure4", "figure5"):
        if key in files:
            lines += [f"![{key}]({files[key].name})", ""]
    lines += ["## Files", "",
              "- `runs/<Model>-<LOSS>/`: `history.csv`, `model.keras`, `per_frame_metrics.csv` "
              "(dense models also `per_frame_metrics_reshaped.csv`: blur measured on the "
              "authors' (200, 100) reshape), `extreme_frames.npz` (Figure 5's frames), "
              "`run.json`",
              "- [table1_blur_factor.csv](table1_blur_factor.csv), "
              "[table2_relative_blur_factor.csv](table2_relative_blur_factor.csv), "
              "[paper_comparison.csv](paper_comparison.csv), [verdicts.csv](verdicts.csv), "
              "[table3_blur_and_fidelity.csv](table3_blur_and_fidelity.csv)",
              "- `baselines/<name>.csv`: per-frame metrics of each no-learning baseline", ""]
    return "\n".join(lines)


def _split_lines(result: StudyResult) -> list[str]:
    c = result.config
    line = (f"Split: {result.n_train} training and {result.n_test} test "
            f"{'pairs' if 'pairs' in c.compat else 'targets'} ({c.split}, seed {c.seed}). ")
    if result.leaked_test_targets:
        line += (f"**{result.leaked_test_targets} of the {result.n_test} test targets are "
                 "inputs or targets of training examples** (the random split of overlapping "
                 "triplets leaks; the default interleaved split does not).")
    else:
        line += "No test target is an input or a target of any training example."
    return [line, ""]


#: Columns of the compact verdicts table in REPORT.md (the reasons follow as a list).
_READING_COLUMNS = ["observation", "claim", "paper", "blur", "verdict", "n_segments"]


def _reading_lines(verdicts: pd.DataFrame) -> list[str]:
    """The observations: both readings with inference, then the means-only verdict."""
    lines = ["### The paper's observations, checked", ""]
    if "paper" not in verdicts:
        return lines + [markdown_table(verdicts)]
    table = verdicts[[c for c in _READING_COLUMNS if c in verdicts]].rename(columns={
        "paper": "paper's measure", "blur": "blur (calibrated measures)",
        "verdict": "means only", "n_segments": "test segments"})
    lines += ["Each observation is read twice: on the **paper's measure** (BF, RBF) and on "
              "**blur** (the calibrated measures: 1 / high-frequency share and contrast-matched "
              "BF, docs/calibration.md). Each comparison it makes is a ratio of "
              "per-frame scores on the same test frames with a 95% interval over the "
              "contiguous test segments (frames within a segment are correlated); "
              "*undetermined* when an interval straddles the claim. *means only* is the "
              "table comparison of means with no tolerance.", "",
              markdown_table(table), ""]
    for _, row in verdicts.iterrows():
        if isinstance(row.get("paper_reason"), str) and row["paper_reason"]:
            lines.append(f"- **{row['observation']}**, paper's measure: {row['paper_reason']}. "
                         f"Blur: {row.get('blur_reason', '')}.")
    return lines + [""]


#: Cuts listed one by one in REPORT.md up to this many (the rest are in shots.csv).
_LISTED_CUTS = 200


def _shot_lines(result: StudyResult) -> list[str]:
    """Cuts, flat frames and the triplets dropped across them."""
    shots = result.shots
    if shots is None:
        return []
    lengths = shots.shot_lengths()
    flat = ", ".join(f"{a}–{b}" if b > a else str(a) for a, b in shots.flat_runs()) or "none"
    train, test = result.dropped_targets
    lines = ["## Shots and cuts", "",
             f"{len(shots.cuts)} cuts, so {shots.n_shots} shots (median length "
             f"{float(np.median(lengths)):.0f} frames, shortest {int(lengths.min())}, longest "
             f"{int(lengths.max())}); {len(shots.flat)} black or flat frames (runs: {flat}). "
             "A cut at c means frames c−1 and c belong to different shots "
             "(`blurutils.shots`)."]
    if result.config.keep_cuts:
        lines += ["Triplets across cuts and flat frames are **kept** (`keep_cuts`, the "
                  "paper's way): some targets must be predicted from another shot."]
    else:
        lines += [f"Triplets that span a cut or hold a flat frame are dropped: {train} "
                  f"training and {test} test targets (`--keep-cuts` keeps them)."]
    if shots.cuts:
        listed = ", ".join(map(str, shots.cuts[:_LISTED_CUTS]))
        more = len(shots.cuts) - _LISTED_CUTS
        lines += ["", f"Cuts at frames: {listed}" + (f" … and {more} more" if more > 0 else "")]
    return lines + [""]


def _diagnostics_lines(result: StudyResult) -> list[str]:
    d = result.diagnostics
    if not len(d):
        return []
    idle = d[~d["learned"].isin(["yes", "baseline (no learning)"])]["method"].tolist()
    runs = [m for m in d["method"] if " MLAE - " in m]
    idle_runs = [m for m in idle if m in runs]
    lines = ["## Did the models learn to interpolate?", "",
             "Learning diagnostics per run and baseline: `input_gain_db` = mean PSNR of each "
             "prediction to its own target minus its mean PSNR to the *other* test targets "
             "at least 3 frames away (~0: the prediction ignores its input); `spread` = per-pixel std of the "
             "predictions across test frames over that of the targets (~0: one picture for "
             "every input); `mean_frame_gain_db` = PSNR gain over predicting the mean "
             "training frame for every target. A run with input gain < 1 dB "
             "does not interpolate: its Blur Factor is that of an average picture, and every "
             "verdict resting on it reads *not meaningful*.", "",
             markdown_table(d, floatfmt=".3g")]
    if idle_runs:
        lines += [f"**{len(idle_runs)} of {len(runs)} runs do not interpolate** at this scale: "
                  + ", ".join(idle_runs) + ". Give them more training steps (more frames, "
                  "e.g. the `default` profile) before reading their blur.", ""]
    else:
        lines += [f"All {len(runs)} runs interpolate (input gain ≥ 1 dB).", ""]
    return lines


#: The no-learning baselines a dense run's fidelity is read against.
_FIDELITY_BARS = ("Copy previous", "Linear blend")


def dense_fidelity_lines(diagnostics: pd.DataFrame) -> list[str]:
    """How far the dense runs — on which five of the six observations rest (all but
    BF-3) — are from copying the previous frame and blending the neighbours, in PSNR: a
    blur verdict between runs that fit their targets worse than a copy says little about
    interpolation.  Empty when the diagnostics lack the runs or the baselines."""
    if not len(diagnostics) or "psnr_own_db" not in diagnostics:
        return []
    psnr = diagnostics.set_index("method")["psnr_own_db"].astype(float)
    dense = psnr[[" MLAE - " in m and not m.startswith("Convolutional") for m in psnr.index]]
    if dense.empty or not set(_FIDELITY_BARS) <= set(psnr.index):
        return []
    copy, blend = (float(psnr[name]) for name in _FIDELITY_BARS)
    below_copy, below_blend = int((dense < copy).sum()), int((dense < blend).sum())
    return [f"**What the dense runs' verdicts rest on.** Five of the six observations (all "
            f"but BF-3) compare dense runs. Their PSNR is {dense.min():.1f}–{dense.max():.1f} "
            f"dB, against {copy:.1f} dB for copying the previous frame and {blend:.1f} dB for "
            f"blending the neighbours: {below_copy} of {len(dense)} dense runs are below "
            f"copying, {below_blend} below blending ({dense.min() - blend:+.1f} to "
            f"{dense.max() - blend:+.1f} dB from blending).", ""]


def _measure_lines(result: StudyResult) -> list[str]:
    if not len(result.measure_verdicts):
        return []
    return ["### The observations under other sharpness measures", "",
            "The variance of the Laplacian rewards noise and contrast as well as sharp "
            "edges. Each observation judged again with Tenengrad (mean squared Sobel "
            "gradient), scikit-image's blur effect (Crété-Roffet et al.) and the share "
            "of spectral energy above a quarter of Nyquist, each turned into a "
            "higher-is-blurrier score with a relative version like RBF "
            "(`verdicts_by_measure.csv`; per-frame values in each run's "
            "`per_frame_metrics.csv`). A finding that holds under one measure only is a "
            "finding about that measure.", "",
            markdown_table(result.measure_verdicts)]


def write_run_info(out: Path, seconds: float, command: str) -> Path:
    """``run_info.json``: how long the command took, on what machine, from which commit
    (kept apart from the tables so that those stay byte-identical on reruns)."""
    import datetime
    import json
    import subprocess

    from .machine import package_version
    from .machine import describe_machine

    commit = None
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=10)
        commit = done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    info = {"command": command, "seconds": round(seconds, 1),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": describe_machine(), "blurutils": package_version(), "commit": commit,
            **numeric_environment()}
    path = out / "run_info.json"
    write_text_atomic(path, json.dumps(info, indent=1) + "\n")
    return path


#: The committed reference results a profile's study is compared with, when the
#: results folder holds no earlier run (``reference_results/<folder>/run_info.json``).
REFERENCE_FOLDERS = {"standard": "standard", "paper": "paper-scale"}


def numeric_environment() -> dict[str, object]:
    """What ``run_info.json`` records of what can move a number: the versions of
    TensorFlow, Keras, NumPy, SciPy, OpenCV, scikit-image and pandas (the CPU's
    instruction-set flags are in ``machine``)."""
    from .machine import package_versions

    return {"packages": package_versions()}


def rerun_note_lines(out: Path, profile: str | None = None) -> list[str]:
    """REPORT.md's first line when this run's package versions or CPU flags differ
    from those that made the earlier results: the previous run's ``run_info.json`` in
    ``out`` (written before this run replaces it), else the committed reference results
    of ``profile``.  ``[]`` when they agree or nothing was recorded."""
    import json

    from .machine import cpu_flags, environment_differences
    from .paths import REPO_DIR

    now = {**numeric_environment(), "machine": {"cpu_flags": cpu_flags()}}
    candidates = [(Path(out) / "run_info.json", "the previous run in this folder was")]
    if profile in REFERENCE_FOLDERS:
        folder = f"reference_results/{REFERENCE_FOLDERS[profile]}"
        candidates.append((REPO_DIR / folder / "run_info.json",
                           f"the committed reference results (`{folder}/`) were"))
    for path, what in candidates:
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(before, dict) or "packages" not in before:
            continue
        was, has = environment_differences(before, now)
        if was:
            return [f"> **Note:** {what} made with {', '.join(was)}; this run has "
                    f"{', '.join(has)} — numbers may differ as another seed's do.", ""]
        return []
    return []
