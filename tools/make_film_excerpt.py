"""Rebuild the bundled film excerpt (the ``excerpt`` source) from the whole film.

The notebooks train on a minute of *Big Buck Bunny* that ships inside the package
(``blurutils/data/``), so that a lab runs offline and every student gets the same frames.
This script is how that file was made; users never need it.  It

1. gets the film through the ``bigbuckbunny`` source (pip, from moviepy 2.2.1's sdist;
   :mod:`blurutils.film`), or takes ``--film PATH``;
2. cuts frames ``EXCERPT.first_frame`` .. ``EXCERPT.last_frame`` (counted as OpenCV
   decodes them), scales them 2x down with area averaging (1280x720 -> 640x360) and
   encodes them with libx264 at CRF 23, no audio, no metadata, at the film's 24 fps;
3. checks the result: frame count, size, and that its preprocessed frames stay close to
   the film's own (PSNR and the Blur Factor's ratio, printed), then prints its sha256
   for :data:`blurutils.sources.EXCERPT`.

libx264 comes from the ffmpeg binary in the ``imageio-ffmpeg`` wheel (PyPI), which is
not one of the project's dependencies: ``pip install imageio-ffmpeg`` first.  Encoders
differ between ffmpeg builds, so a rebuild may not be byte-identical; its checks say
whether it is as good.

    python tools/make_film_excerpt.py [--film bbb.mp4] [--out blurutils/data/NAME]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from blurutils.frames import preprocess_frame
from blurutils.sources import EXCERPT

REPO = Path(__file__).resolve().parents[1]
CRF = 23


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        sys.exit("make_film_excerpt: needs the ffmpeg of imageio-ffmpeg "
                 "(pip install imageio-ffmpeg)")
    return imageio_ffmpeg.get_ffmpeg_exe()


def encode(film: Path, out: Path) -> None:
    """Cut, scale and encode the excerpt into ``out`` (written whole or not at all)."""
    first, last = EXCERPT.first_frame, EXCERPT.last_frame
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        partial = Path(tmp) / out.name
        subprocess.run(
            [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(film),
             "-vf", f"select='between(n\\,{first}\\,{last})',"
                    f"scale={EXCERPT.width}:{EXCERPT.height}:flags=area,"
                    f"setpts=N/{EXCERPT.fps:g}/TB",
             "-an", "-c:v", "libx264", "-crf", str(CRF), "-preset", "slow",
             "-pix_fmt", "yuv420p", "-fps_mode", "passthrough", "-map_metadata", "-1",
             "-movflags", "+faststart", str(partial)],
            check=True)
        partial.replace(out)


def _decoded(path: Path, first: int, count: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, first)
    frames = []
    for _ in range(count):
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(preprocess_frame(bgr))
    capture.release()
    return np.asarray(frames)


def check(film: Path, out: Path) -> None:
    """Print how close the excerpt's preprocessed frames are to the film's."""
    capture = cv2.VideoCapture(str(out))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.release()
    ours = _decoded(out, 0, EXCERPT.n_frames + 1)
    if len(ours) != EXCERPT.n_frames or size != (EXCERPT.width, EXCERPT.height):
        sys.exit(f"make_film_excerpt: {out} has {len(ours)} frames of {size}, expected "
                 f"{EXCERPT.n_frames} of {(EXCERPT.width, EXCERPT.height)}")
    theirs = _decoded(film, EXCERPT.first_frame, EXCERPT.n_frames)
    error = ((ours.astype(np.float64) - theirs) ** 2).mean(axis=(1, 2))
    psnr = 10 * np.log10(255.0 ** 2 / np.maximum(error, 1e-12))

    def laplacian_variance(frames: np.ndarray) -> np.ndarray:
        return np.array([cv2.Laplacian(f, cv2.CV_64F).var() for f in frames])

    bf_ratio = laplacian_variance(theirs) / laplacian_variance(ours)
    print(f"{out.name}: {out.stat().st_size:,} bytes, {len(ours)} frames; preprocessed "
          f"against the film's own: PSNR min {psnr.min():.1f} dB, median "
          f"{np.median(psnr):.1f} dB; BF(excerpt) / BF(film) median "
          f"{np.median(bf_ratio):.3f} (5-95%: {np.percentile(bf_ratio, 5):.3f}-"
          f"{np.percentile(bf_ratio, 95):.3f})")
    print(f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--film", type=Path, help="the film (default: the bigbuckbunny source)")
    parser.add_argument("--out", type=Path, default=REPO / "blurutils" / "data" / EXCERPT.file_name)
    args = parser.parse_args(argv)
    if args.film is None:
        from blurutils.film import film_path

        args.film = film_path(progress=True)
    encode(args.film, args.out)
    check(args.film, args.out)


if __name__ == "__main__":
    main()
