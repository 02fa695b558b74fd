"""Command line: ``python -m blurutils {fetch,frames,blur,reproduce} ...``.

Any user error prints one line on stderr and exits with status 2 (no traceback; set
``BLURUTILS_DEBUG=1`` to see it); a problem of the machine rather than the input (a full
disk, a results folder in use, a killed worker) prints one line and exits with status 1.
Ctrl-C, SIGTERM and SIGHUP stop the worker process, print one line saying how to resume
and exit with status 130, 143 and 129.  No message carries a password or token from a URL.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .errors import BlurUtilsError, ConfigError, MachineError, redact
from .isolation import Stopped, stop_signals_as_interrupts
from .paths import results_folder

if TYPE_CHECKING:
    from .report import StudyResult
    from .seeds import SeedsResult

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value} is too large (at most {MAX_COUNT:,})")
    return value


#: Largest count any option takes (frames, epochs, steps, tiles): a typo such as
#: ``--n-frames 10000000000`` is a one-line error, not hours of work or a memory error.
MAX_COUNT = 1_000_000
#: Largest time in seconds ``--start`` / ``--end`` take (over 11 days of video).
MAX_SECONDS = 1e6


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} must be between 0 and 2**32 - 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text[:40]} must be a finite time between 0 and "
                                         f"{MAX_SECONDS:g} seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blurutils", description=(
        "Reproduce, audit and extend 'Quantitative Analysis of Blurring Effects in "
        "Autoencoder Architectures for Video Interpolation'."))
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_source_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("source", nargs="?", default="sample",
                       help="sample (default; bundled 132-frame Big Buck Bunny clip), excerpt "
                            "(bundled 1,500 frames of the film), synthetic, bigbuckbunny, "
                            "a video file, or an http(s) URL")
        p.add_argument("--n-frames", type=_positive_int, default=None,
                       help="length of the synthetic clip (default 12000)")
        p.add_argument("--seed", type=_seed, default=None, help="seed of the synthetic clip")

    def add_study_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", default=None,
                       help="smoke | demo | excerpt | standard (default) | paper | film (see README)")
        p.add_argument("--config", default=None, help="YAML file with settings (see "
                                                      "config.yaml in any results folder)")
        p.add_argument("--source", default=None,
                       help="sample | excerpt | synthetic | bigbuckbunny | a video path | a URL")
        p.add_argument("--out", default=None, help="results folder (default results/)")
        p.add_argument("--models", default=None, help="comma-separated subset of "
                       "Backward,Forward,Bi-Directional,Convolutional")
        p.add_argument("--losses", default=None, help="comma-separated subset of MSE,MSLE,CP "
                       "(or BASE+BLUR[@lambda] for the blur-aware loss)")
        p.add_argument("--epochs", type=_positive_int, default=None)
        p.add_argument("--max-frames", type=_positive_int, default=None)
        p.add_argument("--synthetic-frames", type=_positive_int, default=None)
        p.add_argument("--seed", type=_seed, default=None)
        p.add_argument("--seeds", default=None,
                       help="several training seeds, e.g. 0-4 or 0,3,7: one study per seed "
                            "under OUT/seeds/, tables with 95%% intervals over seeds")
        p.add_argument("--split", default=None,
                       help="interleaved (default; no leakage) | random (the paper's; "
                            "leaks test frames into training inputs) | blocked")
        p.add_argument("--keep-cuts", action="store_true", default=None,
                       help="keep the triplets that span a cut or hold a black or flat "
                            "frame (the paper's way); by default they are dropped")
        p.add_argument("--conv-filters", type=_positive_int, default=None)
        p.add_argument("--frame-layout", default=None,
                       help="the dense models' frames: paper (100x200, default) | half "
                            "(50x100, for machines under 6 GB) | auto")

    p = sub.add_parser("fetch", help="resolve a source to a local video file and print its path")
    add_source_options(p)

    p = sub.add_parser("frames", help="decode and preprocess a video to uint8 (N, 100, 200) "
                                      "frames, cached under data/frames")
    add_source_options(p)
    p.add_argument("--max-frames", type=_positive_int, default=None)
    p.add_argument("--step", type=_positive_int, default=1, help="keep every n-th frame")
    p.add_argument("--start", type=_seconds, default=None, help="start time in seconds")
    p.add_argument("--end", type=_seconds, default=None, help="end time in seconds")
    p.add_argument("--no-cache", action="store_true", help="decode again, ignoring the cache")

    p = sub.add_parser("blur", help="Blur Factor of an image, a video's frames or a saved "
                                    "frames array (.npy), with a summary")
    p.add_argument("path", help="image file, video file or .npy array")
    p.add_argument("--tile", type=_positive_int, default=None,
                   help="also report per-tile (local) Blur Factor with this tile size")

    p = sub.add_parser("reproduce", help="run the study (12 runs) and write tables, "
                                         "figures and REPORT.md")
    add_study_options(p)
    _add_dask_options(p)
    p.add_argument("--compat", default=None,
                   help="reproduce the authors' code: fillnet (all six quirks), or some of "
                        "pairs,backward,bidirectional,reshape,conv_loss,conv_frames "
                        "(letters a-f also work); default: the paper's text")
    p = sub.add_parser("audit", help="run the study with the authors' quirks all on, each "
                                     "alone off, all off, and all on with the optimizer "
                                     "steps matched; write audit.csv/.md")
    add_study_options(p)
    _add_dask_options(p)
    p.add_argument("--core", action="store_true",
                   help="only the variants the conclusions rest on: all on, all off, "
                        "steps matched, and -d (it reuses the all-on runs)")
    p = sub.add_parser("interpolate", help="double a clip's frame rate with a trained "
                                           "Bi-Directional model or a baseline; writes "
                                           "MP4, GIF and a side-by-side strip")
    p.add_argument("source", help="sample, excerpt, synthetic, bigbuckbunny, a video file or an http(s) URL")
    p.add_argument("--method", default="flow",
                   help="bidirectional (a trained model) | blend | flow (default) | copy")
    p.add_argument("--out", required=True, help="output video, e.g. results/interp.mp4")
    p.add_argument("--model", default=None, help="Bi-Directional model (.keras); default: "
                   "results/runs/Bi-Directional-MSE/model.keras from `reproduce`")
    p.add_argument("--max-frames", type=_positive_int, default=None)
    p.add_argument("--evaluate", action="store_true",
                   help="hide every odd frame, predict it, and score it against the truth")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files that blurutils did not write (its "
                        "own earlier outputs for this --out are replaced anyway)")
    return parser


def _source_options(args: argparse.Namespace) -> dict:
    return {k: v for k, v in (("n_frames", args.n_frames), ("seed", args.seed)) if v is not None}


def _check_source_name(source: str) -> None:
    """A local source whose name the system cannot hold (a name over 255 bytes, a path
    over 4096) is one line (SourceError), before anything stats or hashes it."""
    from .errors import SourceError
    from .paths import check_name_length

    if "://" not in str(source):
        check_name_length(source, "file name", SourceError)


def cmd_fetch(args: argparse.Namespace) -> None:
    from .sources import resolve_source

    _check_source_name(args.source)
    print(resolve_source(args.source, **_source_options(args)))


def cmd_frames(args: argparse.Namespace) -> None:
    from .film import FILM_CREDIT, pre_credit_frames
    from .frames import cache_path, film_frame_limit, load_frames
    from .sources import resolve_source

    _check_source_name(args.source)
    options = dict(max_frames=args.max_frames, step=args.step, start=args.start, end=args.end)
    frames = load_frames(args.source, cache=not args.no_cache, **options,
                         **_source_options(args))
    print(f"{len(frames)} frames, shape {frames.shape}, dtype {frames.dtype}")
    video = resolve_source(args.source, **_source_options(args))
    if pre_credit_frames(video) is not None:
        print(f"the film before its end credits; credit: {FILM_CREDIT}")
    if not args.no_cache:
        options["max_frames"] = film_frame_limit(video, **options)
        cached = cache_path(video, **options)
        print(f"cache: {cached}" if cached.is_file() else
              "cache: not written (see the warning above); the frames were decoded anyway")


def cmd_blur(args: argparse.Namespace) -> None:
    import numpy as np

    from .errors import MetricInputError
    from .frames import read_frames_file
    from .metrics import blur_factor, local_blur_factor, summarize

    data = read_frames_file(Path(args.path))
    if np.asarray(data).dtype.kind == "f" and data.size and np.isfinite(data).all():
        low, high = float(data.min()), float(data.max())
        if low < 0.0 or high > 1.0:
            # Blur Factor scales with the square of intensity: values in 0..255 read as
            # 0..1 would give a BF 65,025 times too small.
            raise MetricInputError(
                f"{args.path}: float values from {low:.4g} to {high:.4g} are outside [0, 1]; "
                "save the frames as uint8 (0..255) or as floats divided by 255")
    try:
        values = blur_factor(data)
    except MetricInputError as exc:  # name the file, not the metric's argument
        raise MetricInputError(f"{args.path}: {exc}") from None
    stats = summarize(values)
    kind = "image" if data.ndim == 2 else f"{len(data)} frames"
    print(f"{args.path}: {kind} of {data.shape[-2]}x{data.shape[-1]} (rows x columns)")
    print("Blur Factor: " + "  ".join(
        f"{k} {stats[k]:.4g}" for k in ("mean", "std", "median", "iqr", "min", "max")))
    print(f"finite {stats['n_finite']} of {stats['n']}; infinite (flat images) {stats['n_inf']}")
    if args.tile:
        local = local_blur_factor(data, tile=args.tile)
        print(f"local Blur Factor, {args.tile}x{args.tile} tiles: maps of shape "
              f"{local.shape[-2:]}; median over tiles {summarize(local)['median']:.4g}")


def _add_dask_options(p: argparse.ArgumentParser) -> None:
    """``--dask-workers`` / ``--dask-scheduler``: train the runs on a Dask cluster
    (docs/cluster.md); without them nothing changes and Dask is not imported."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--dask-workers", type=_positive_int, default=None, metavar="N",
                       help="train the runs on a local Dask cluster of N worker processes")
    group.add_argument("--dask-scheduler", default=None, metavar="ADDRESS",
                       help="train the runs on a running Dask cluster, e.g. tcp://host:8786 "
                            "(see docs/cluster.md)")


def _dask_executor(args: argparse.Namespace):
    """The Dask executor the options ask for (checked now, started later), or None."""
    if args.dask_workers is None and args.dask_scheduler is None:
        return None
    from .cluster import executor_from_options

    return executor_from_options(args.dask_workers, args.dask_scheduler)


def _study_config(args: argparse.Namespace, **extra):
    from .config import DEFAULT_PROFILE, load_config, make_config

    overrides = dict(source=args.source, out=args.out, models=args.models, losses=args.losses,
                     epochs=args.epochs, max_frames=args.max_frames,
                     synthetic_frames=args.synthetic_frames, seed=args.seed, split=args.split,
                     seeds=getattr(args, "seeds", None), keep_cuts=args.keep_cuts,
                     conv_filters=args.conv_filters, frame_layout=args.frame_layout, **extra)
    if args.config:
        config = load_config(args.config, profile=args.profile, **overrides)
    else:
        config = make_config(args.profile or DEFAULT_PROFILE, **overrides)
    _check_source_name(config.source)
    return config


def cmd_reproduce(args: argparse.Namespace) -> None:
    from .report import console_tables
    from .study import run_study

    config = _study_config(args, compat=args.compat)
    executor = _dask_executor(args)
    print(f"blurutils reproduce: profile {config.profile}, source {redact(config.source)}, "
          f"{len(config.models)} models x {len(config.losses)} losses -> {config.out}/",
          flush=True)
    if config.seeds:
        return _reproduce_seeds(config, executor, args.config)
    with results_folder(config.out, rebuild_config=args.config), \
            executor or contextlib.nullcontext():
        result = run_study(config, report=lambda line: print(redact(line), flush=True),
                           executor=executor)
    print(console_tables(result.table1, result.table2, result.verdicts))
    _finish(result)
    print(f"Tables, figures and per-run files are in {result.out}/")


def _reproduce_seeds(config, executor=None, config_file: str | None = None) -> None:
    from .report import console_tables
    from .seeds import run_seeds

    print(f"{len(config.seeds)} seeds: {', '.join(map(str, config.seeds))}", flush=True)
    with results_folder(config.out, rebuild_config=config_file), \
            executor or contextlib.nullcontext():
        result = run_seeds(config, config.seeds,
                           report=lambda line: print(redact(line), flush=True),
                           executor=executor)
    print(console_tables(result.table1, result.table2, result.verdicts, over_seeds=True))
    _finish(result)


def _finish(result: StudyResult | SeedsResult) -> None:
    """Record ``run_info.json`` for a finished ``reproduce`` and say where its report is."""
    from .report import write_run_info

    write_run_info(result.out, result.seconds, redact("reproduce " + " ".join(sys.argv[2:])))
    print(f"\nDone in {result.seconds:.0f} s. Report: {result.files['report']}")


def cmd_interpolate(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from .errors import ConfigError
    from .frames import load_frames, probe_video
    from .interpolate import (METHODS, check_outputs, interpolate, record_output, write_gif,
                              write_video)
    from .paths import check_name_length
    from .figures import save_figure
    from .viz import rbf_over_time_figure, strip_figure
    from .sources import resolve_source
    from .training import load_trained_model

    if args.method not in METHODS:
        raise ConfigError(f"unknown method {args.method!r} (expected one of {', '.join(METHODS)})")
    _check_source_name(args.source)
    if args.model:
        check_name_length(args.model, "--model")
    check_name_length(args.out, "--out", reserve=40)  # + "_over_time.png", a temporary
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".mp4":
        raise ConfigError(f"{out}: the output must be an .mp4 file")
    video = resolve_source(args.source)
    outputs = [out, out.with_suffix(".gif"), out.with_name(out.stem + "_strip.png")]
    if args.evaluate:
        outputs += [out.with_name(out.stem + "_metrics.csv"),
                    out.with_name(out.stem + "_over_time.png")]
    inputs = [video] + ([Path(args.model)] if args.model else [])
    # before any work: inputs are never outputs, a user's files are never replaced
    check_outputs(outputs, inputs, overwrite=args.overwrite)
    model = load_trained_model(args.model) if args.method == "bidirectional" else None
    frames = load_frames(args.source, max_frames=args.max_frames)
    fps = probe_video(video).get("fps") or 25.0
    if not 0 < fps <= 1000:
        fps = 25.0
    result = interpolate(frames, args.method, model=model, evaluate=args.evaluate)
    # Evaluated: the input was every other frame, so the output has the original rate.
    out_fps = fps if args.evaluate else 2 * fps
    record_output(write_video(result.frames, out, out_fps), out)
    gif = record_output(write_gif(result.frames, out.with_suffix(".gif"), out_fps), out)
    strip = record_output(save_figure(strip_figure(result, title=f"{args.method}: {args.source}"),
                                      out.with_name(out.stem + "_strip.png")), out)
    print(f"{len(result.frames)} frames ({int(result.predicted.sum())} interpolated) at "
          f"{out_fps:g} fps -> {out}, {gif.name}, {strip.name}")
    if result.metrics is not None:
        from .evaluation import write_csv

        metrics_csv = out.with_name(out.stem + "_metrics.csv")
        write_csv(result.metrics, metrics_csv)
        record_output(metrics_csv, out)
        record_output(save_figure(rbf_over_time_figure({args.method: result.metrics}),
                                  out.with_name(out.stem + "_over_time.png")), out)
        m = result.metrics
        print(f"against the hidden frames: mean RBF {m['rbf'].mean():.3f} "
              f"(std {m['rbf'].std():.3f}), mean PSNR {m['psnr'].mean():.2f} dB, "
              f"mean SSIM {m['ssim'].mean():.3f}")


def cmd_audit(args: argparse.Namespace) -> None:
    from .audit import run_audit

    config = _study_config(args)
    if config.compat:
        raise ConfigError("audit: the config sets compat; the audit chooses the quirks itself "
                          "(remove compat from the config)")
    from .audit import audit_variants

    n_variants = len(audit_variants(args.core))
    print(f"blurutils audit: profile {config.profile}, source {redact(config.source)}: "
          f"{n_variants} variants of {len(config.models)} models x {len(config.losses)} "
          f"losses -> {config.out}/", flush=True)
    executor = _dask_executor(args)
    with results_folder(config.out, rebuild_config=args.config), \
            executor or contextlib.nullcontext():
        result = run_audit(config, report=lambda line: print(redact(line), flush=True),
                           core_only=args.core, executor=executor)
    print("\nDoes each of the paper's findings survive once the quirks are removed?")
    for row in result.findings.itertuples():
        print(f"  {row.observation:<6} survives: {row.survives:<10} {row.verdict}")
    print(f"\nDone in {result.seconds:.0f} s. Audit: {result.files['markdown']}")


COMMANDS = {"fetch": cmd_fetch, "frames": cmd_frames, "blur": cmd_blur,
            "reproduce": cmd_reproduce, "audit": cmd_audit, "interpolate": cmd_interpolate}


class _SafeStream:
    """stdout or stderr as the command line writes to it: what the stream cannot take
    never stops the work.  A character its encoding lacks (``PYTHONIOENCODING=latin-1``
    and a "≈") is written escaped (``\\u2248``); a reader that went away (``| head -1``)
    sends the rest of the output to ``os.devnull``, the standard advice for
    ``BrokenPipeError``, so a long study goes on and finishes its files."""

    def __init__(self, stream):
        self._stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if self.closed_by_reader:
            return len(text)
        try:
            try:
                return self._stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(self._stream, "encoding", None) or "ascii"
                return self._stream.write(
                    text.encode(encoding, "backslashreplace").decode(encoding))
        except (BrokenPipeError, ConnectionResetError):
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        if self.closed_by_reader:
            return
        try:
            self._stream.flush()
        except (BrokenPipeError, ConnectionResetError):
            self._to_devnull()

    def _to_devnull(self) -> None:
        self.closed_by_reader = True
        try:  # what is still buffered, and what Python flushes at exit, goes nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = _SafeStream(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = _SafeStream(sys.stderr)
    try:
        return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, _SafeStream):
                stream.flush()
        sys.stdout, sys.stderr = saved


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    debug = os.environ.get("BLURUTILS_DEBUG", "") not in ("", "0")
    if not debug:
        # FFmpeg (inside OpenCV) logs its own lines, e.g. "moov atom not found", on
        # stderr for files that are not video; the error we raise already says so.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    try:
        with stop_signals_as_interrupts():
            COMMANDS[args.command](args)
    except MachineError as exc:  # not the user's input: the machine, a kill, another run
        if debug:
            raise
        print(f"blurutils {args.command}: error: {redact(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except BlurUtilsError as exc:
        if debug:
            raise
        print(f"blurutils {args.command}: error: {redact(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Stopped as stop:
        if debug:
            raise
        print(f"\nblurutils {args.command}: stopped by {stop.name}; finished work is saved — "
              "run the same command again to resume", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"\nblurutils {args.command}: interrupted; finished work is saved — run the same "
              "command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - only the machine's limits; a bug re-raises
        line, status = _limit_line(exc)
        if line is None or debug:
            raise
        print(f"blurutils {args.command}: error: {redact(line)}", file=sys.stderr)
        return status
    return 0


def _limit_line(exc: BaseException) -> tuple[str | None, int]:
    """(one line, exit status) for an exception that is a limit of this machine rather
    than a bug: out of memory (1), a name too long for the system or a read-only file
    system (2) met somewhere the input checks could not foresee; else (None, 0)."""
    import errno

    from .isolation import memory_message, out_of_memory
    from .paths import short_path

    if out_of_memory(exc):
        return memory_message(exc), EXIT_FAILED
    if isinstance(exc, OSError) and exc.errno in (errno.ENAMETOOLONG, errno.EROFS):
        where = short_path(exc.filename) if exc.filename else "a file"
        hint = ("use shorter names (at most 255 bytes a name, 4096 a path)"
                if exc.errno == errno.ENAMETOOLONG else "choose a writable folder")
        return f"{where}: {exc.strerror or exc}; {hint}", EXIT_USAGE
    return None, 0
