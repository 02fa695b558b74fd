"""A procedurally generated, cartoon-like video, deterministic for a seed.

It stands in for an animated film when no real one can be downloaded (offline runs,
CI, tests): the blur study only needs footage with the same ingredients as a
cartoon, namely a smooth painted background seen through a panning camera,
hard-edged flat-coloured shapes with dark outlines that move and rotate at
different speeds, and now and then a motion-blurred frame.

Everything is decided by ``seed`` alone.  The camera path, the shapes' paths and the
blur schedule are closed-form functions of the frame index drawn from separate
random streams, so frame ``t`` is the same whatever ``n_frames`` is, and the first
frames of a long video equal those of a short one.

Frames are BGR ``uint8`` like OpenCV's; colours are chosen so that shapes stay
distinct from the background once greyscaled.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from blurutils.errors import SourceError
from blurutils.paths import atomic_path

__all__ = [
    "iter_synthetic_frames",
    "synthetic_blur_schedule",
    "write_synthetic_video",
]

#: Fixed-point bits for OpenCV drawing: coordinates are passed times 16, which
#: gives shapes sub-pixel positions (smooth slow motion) without resampling.
_SHIFT = 4
_ONE = 1 << _SHIFT

_OUTLINE_BGR = (28, 22, 20)


# --------------------------------------------------------------------------- checks

def _check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an int, or raise SourceError naming ``name``."""
    if isinstance(value, bool):
        raise SourceError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise SourceError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise SourceError(f"{name} must be >= {minimum}, got {number}")
    return number


def _check_size(n_frames: object, width: object, height: object,
                seed: object) -> tuple[int, int, int, int]:
    """Validate the common arguments; raise SourceError on the first bad one."""
    n = _check_int("n_frames", n_frames, 1)
    w = _check_int("width", width, 16)
    h = _check_int("height", height, 16)
    s = _check_int("seed", seed, 0)
    return n, w, h, s


def _streams(seed: int) -> tuple[np.random.Generator, ...]:
    """Independent generators for background, camera, shapes and blur.

    Separate streams keep, e.g., the blur schedule unchanged if the shape code
    draws one more number.
    """
    children = np.random.SeedSequence(seed).spawn(4)
    return tuple(np.random.default_rng(child) for child in children)


# ---------------------------------------------------------------------- background

def _luma(bgr: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of BGR colours (what cv2.COLOR_BGR2GRAY computes)."""
    bgr = np.asarray(bgr, dtype=np.float64)
    return 0.114 * bgr[..., 0] + 0.587 * bgr[..., 1] + 0.299 * bgr[..., 2]


def _hsv_np(h: float, s: float, v: float) -> np.ndarray:
    """HSV in [0, 1] to BGR float in [0, 255] (standard formula, no OpenCV quirks)."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - math.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array([b, g, r], dtype=np.float64) * 255.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int],
                  cell: float) -> np.ndarray:
    """Value noise in roughly [-1, 1]: coarse random grid upsampled bicubically."""
    h, w = shape
    gh, gw = max(2, int(round(h / cell)) + 2), max(2, int(round(w / cell)) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * cell), int(gh * cell)), interpolation=cv2.INTER_CUBIC)
    return big[:h, :w] / 1.5


def _render_background(rng: np.random.Generator, tex_h: int, tex_w: int,
                       scale: float) -> tuple[np.ndarray, float]:
    """Pre-render the painted backdrop the camera pans over; return (BGR, mean luma).

    Two octaves of smooth noise plus soft diagonal stripes, mapped between two
    muted colours of mid luma, so hard-edged shapes stand out in greyscale.
    """
    field = (_smooth_noise(rng, (tex_h, tex_w), 90.0 * scale)
             + 0.45 * _smooth_noise(rng, (tex_h, tex_w), 28.0 * scale))
    yy, xx = np.mgrid[0:tex_h, 0:tex_w].astype(np.float32)
    angle = rng.uniform(0.0, math.pi)
    period = rng.uniform(40.0, 90.0) * scale
    phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2.0 * math.pi / period)
    field += 0.35 * np.sin(phase)
    lo, hi = np.percentile(field, [1.0, 99.0])
    t = np.clip((field - lo) / max(hi - lo, 1e-6), 0.0, 1.0)

    hue = rng.uniform(0.0, 1.0)
    dark = _hsv_np(hue, rng.uniform(0.25, 0.5), rng.uniform(0.40, 0.50))
    light = _hsv_np((hue + rng.uniform(-0.12, 0.12)) % 1.0,
                    rng.uniform(0.15, 0.35), rng.uniform(0.72, 0.82))
    image = dark[None, None, :] + t[..., None] * (light - dark)[None, None, :]
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image), float(_luma(image.mean(axis=(0, 1))))


# ---------------------------------------------------------------------- the camera

@dataclass(frozen=True)
class _Camera:
    """Top-left corner of the view over the texture: a sum of slow sinusoids."""

    cx: float
    cy: float
    ax: tuple[float, float]
    ay: tuple[float, float]
    wx: tuple[float, float]
    wy: tuple[float, float]
    px: tuple[float, float]
    py: tuple[float, float]

    @classmethod
    def random(cls, rng: np.random.Generator, span_x: int, span_y: int,
               scale: float) -> "_Camera":
        """A path that stays inside ``[0, span]`` and pans at about 0.5-2.5 px/frame."""
        def amps(span: int) -> tuple[float, float]:
            a1 = rng.uniform(0.55, 0.70) * span / 2.0
            return a1, rng.uniform(0.15, 0.28) * span / 2.0

        def omegas(amp: float, speed: float) -> tuple[float, float]:
            w1 = speed * scale / max(amp, 1.0)
            return w1, w1 * rng.uniform(2.1, 3.3)

        ax, ay = amps(span_x), amps(span_y)
        return cls(cx=span_x / 2.0, cy=span_y / 2.0, ax=ax, ay=ay,
                   wx=omegas(ax[0], rng.uniform(1.2, 2.0)),
                   wy=omegas(ay[0], rng.uniform(0.4, 0.9)),
                   px=tuple(rng.uniform(0, 2 * math.pi, 2)),
                   py=tuple(rng.uniform(0, 2 * math.pi, 2)))

    def position(self, t: int) -> tuple[int, int]:
        """Integer offset (x, y) of frame ``t``: whole pixels, so no resampling."""
        x = self.cx + sum(a * math.sin(w * t + p) for a, w, p in zip(self.ax, self.wx, self.px))
        y = self.cy + sum(a * math.sin(w * t + p) for a, w, p in zip(self.ay, self.wy, self.py))
        return int(round(x)), int(round(y))

    def velocity(self, t: int) -> tuple[float, float]:
        """Camera velocity (dx/dt, dy/dt) at frame ``t`` in px/frame."""
        vx = sum(a * w * math.cos(w * t + p) for a, w, p in zip(self.ax, self.wx, self.px))
        vy = sum(a * w * math.cos(w * t + p) for a, w, p in zip(self.ay, self.wy, self.py))
        return vx, vy


# ---------------------------------------------------------------------- the shapes

_KINDS = ("circle", "ellipse", "rect", "triangle", "polygon", "star")


@dataclass(frozen=True)
class _Shape:
    """A flat-coloured outlined shape bouncing around the frame and spinning."""

    kind: str
    colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    radius: float           # bounding radius in px, used for the bounce
    local: np.ndarray       # (k, 2) outline vertices around the origin, for polygons
    aspect: float           # ellipse minor/major ratio
    x0: float
    y0: float
    vx: float
    vy: float
    angle0: float
    spin: float             # rad/frame
    thickness: int


def _regular(k: int) -> np.ndarray:
    a = np.linspace(0.0, 2.0 * math.pi, k, endpoint=False)
    return np.stack([np.cos(a), np.sin(a)], axis=1)


def _pick_colour(rng: np.random.Generator, bg_luma: float) -> tuple[np.ndarray, np.ndarray]:
    """A saturated flat colour whose luma is far from the background's, and an accent."""
    for _ in range(50):
        colour = _hsv_np(rng.uniform(0.0, 1.0), rng.uniform(0.55, 0.95),
                         rng.choice([rng.uniform(0.25, 0.45), rng.uniform(0.85, 1.0)]))
        if abs(float(_luma(colour)) - bg_luma) >= 45.0:
            break
    accent = np.where(_luma(colour) > 128.0, colour * 0.45, 255.0 - (255.0 - colour) * 0.3)
    return colour, accent


def _random_shapes(rng: np.random.Generator, width: int, height: int,
                   bg_luma: float) -> list[_Shape]:
    """Five to eight shapes of mixed kinds, sizes, speeds and spins."""
    scale = min(width / 400.0, height / 200.0)
    base = min(width, height)
    count = int(rng.integers(5, 9))
    kinds = list(_KINDS) + list(rng.choice(_KINDS, size=max(0, count - len(_KINDS))))
    kinds = [kinds[i] for i in rng.permutation(len(kinds))[:count]]
    shapes = []
    for kind in kinds:
        radius = float(rng.uniform(0.07, 0.17) * base)
        radius = min(radius, 0.45 * base)
        if kind == "rect":
            w, h = 1.0, rng.uniform(0.45, 0.9)
            local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / math.hypot(w, h)
        elif kind == "triangle":
            local = _regular(3) * np.array([1.0, rng.uniform(0.7, 1.0)])
        elif kind == "polygon":
            local = _regular(int(rng.integers(5, 7)))
        elif kind == "star":
            points = int(rng.integers(5, 7))
            local = _regular(2 * points) * np.where(np.arange(2 * points) % 2 == 0,
                                                    1.0, rng.uniform(0.42, 0.55))[:, None]
        else:
            local = np.zeros((0, 2))
        speed = rng.uniform(0.4, 4.5) * scale
        heading = rng.uniform(0.0, 2.0 * math.pi)
        colour, accent = _pick_colour(rng, bg_luma)
        shapes.append(_Shape(
            kind=kind,
            colour=tuple(int(round(c)) for c in colour),
            accent=tuple(int(round(c)) for c in accent),
            radius=radius, local=local, aspect=float(rng.uniform(0.45, 0.7)),
            x0=float(rng.uniform(0.0, 1.0)), y0=float(rng.uniform(0.0, 1.0)),
            vx=speed * math.cos(heading), vy=speed * math.sin(heading),
            angle0=float(rng.uniform(0.0, 2.0 * math.pi)),
            spin=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.005, 0.08)),
            thickness=max(1, int(round(2.0 * scale))),
        ))
    return shapes


def _bounce(start: float, travelled: float, lo: float, hi: float) -> float:
    """Position after moving ``travelled`` from ``start`` between walls lo and hi.

    A triangle wave: the closed form of bouncing, so any frame is computed directly.
    """
    span = hi - lo
    if span <= 1e-9:
        return lo
    x = (start - lo + travelled) % (2.0 * span)
    return lo + (x if x <= span else 2.0 * span - x)


def _fixed(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates to OpenCV's fixed-point int32 (``shift=_SHIFT``)."""
    return np.round(points * _ONE).astype(np.int32)


def _draw_shape(frame: np.ndarray, shape: _Shape, t: int) -> None:
    """Draw ``shape`` as at frame ``t`` onto ``frame`` in place."""
    height, width = frame.shape[:2]
    r = shape.radius
    x = _bounce(r + shape.x0 * (width - 2 * r), shape.vx * t, r, width - r)
    y = _bounce(r + shape.y0 * (height - 2 * r), shape.vy * t, r, height - r)
    angle = shape.angle0 + shape.spin * t
    line = cv2.LINE_AA
    outline, thick = _OUTLINE_BGR, shape.thickness
    centre = (int(round(x * _ONE)), int(round(y * _ONE)))
    if shape.kind in ("circle", "ellipse"):
        if shape.kind == "circle":
            axes = (int(round(r * _ONE)), int(round(r * _ONE)))
        else:
            axes = (int(round(r * _ONE)), int(round(r * shape.aspect * _ONE)))
        deg = math.degrees(angle)
        cv2.ellipse(frame, centre, axes, deg, 0, 360, shape.colour, -1, line, _SHIFT)
        # An off-centre spot makes the spin visible, like a painted ball.
        c, s = math.cos(angle), math.sin(angle)
        spot = (x + 0.45 * r * c, y + 0.45 * r * s * (1.0 if shape.kind == "circle"
                                                      else shape.aspect))
        spot_r = int(round(0.28 * r * (1.0 if shape.kind == "circle" else shape.aspect) * _ONE))
        cv2.circle(frame, (int(round(spot[0] * _ONE)), int(round(spot[1] * _ONE))),
                   max(spot_r, _ONE), shape.accent, -1, line, _SHIFT)
        cv2.ellipse(frame, centre, axes, deg, 0, 360, outline, thick, line, _SHIFT)
        return
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    pts = shape.local @ rot.T * r + np.array([x, y])
    poly = _fixed(pts)[None]
    cv2.fillPoly(frame, poly, shape.colour, line, _SHIFT)
    # A smaller inner copy in the accent colour: a second hard edge inside the shape.
    inner = _fixed(shape.local @ rot.T * (0.45 * r) + np.array([x, y]))[None]
    cv2.fillPoly(frame, inner, shape.accent, line, _SHIFT)
    cv2.polylines(frame, poly, True, outline, thick, line, _SHIFT)


# ------------------------------------------------------------------ motion blur

def _blur_runs(n_frames: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Blurred stretches as (start, stop, kernel length), about 10 % of frames.

    Runs of 1-4 frames separated by gaps of 8-37 frames: fast action in a
    cartoon is blurred for a few frames at a time, not at random single frames.
    Drawn sequentially, so a longer video extends a shorter one's schedule.
    """
    runs = []
    t = int(rng.integers(2, 20))
    while t < n_frames:
        length = int(rng.integers(1, 5))
        kernel = int(rng.integers(7, 18))
        runs.append((t, min(t + length, n_frames), kernel))
        t += length + int(rng.integers(8, 38))
    return runs


def synthetic_blur_schedule(n_frames: int, seed: int = 0) -> np.ndarray:
    """Which frames of the synthetic video carry motion blur, as a bool array.

    The ground truth for checking blur metrics and detectors: frame ``t`` of
    ``iter_synthetic_frames(..., seed=seed)`` is blurred iff ``schedule[t]``.
    It depends only on ``n_frames`` and ``seed``, not on the frame size.
    """
    n, _, _, s = _check_size(n_frames, 16, 16, seed)
    rng = _streams(s)[3]
    schedule = np.zeros(n, dtype=bool)
    for start, stop, _ in _blur_runs(n, rng):
        schedule[start:stop] = True
    return schedule


def _line_kernel(length: int, angle: float) -> np.ndarray:
    """A normalised anti-aliased line of ``length`` px at ``angle`` (radians)."""
    size = length if length % 2 else length + 1
    kernel = np.zeros((size, size), dtype=np.float32)
    half = (length - 1) / 2.0
    mid = (size - 1) / 2.0
    dx, dy = half * math.cos(angle), half * math.sin(angle)
    p1 = (int(round((mid - dx) * _ONE)), int(round((mid - dy) * _ONE)))
    p2 = (int(round((mid + dx) * _ONE)), int(round((mid + dy) * _ONE)))
    cv2.line(kernel, p1, p2, 1.0, 1, cv2.LINE_AA, _SHIFT)
    total = float(kernel.sum())
    if total <= 0.0:
        kernel[int(mid), int(mid)] = 1.0
        total = 1.0
    return kernel / total


# ---------------------------------------------------------------------- the frames

def _render_frames(n_frames: int, width: int, height: int,
                   seed: int) -> Iterator[np.ndarray]:
    """Generate the frames; arguments are already validated."""
    bg_rng, cam_rng, shape_rng, blur_rng = _streams(seed)
    scale = min(width / 400.0, height / 200.0)
    span_x = max(8, int(round(0.9 * width)))
    span_y = max(4, int(round(0.5 * height)))
    texture, bg_luma = _render_background(bg_rng, height + span_y + 1, width + span_x + 1,
                                          max(scale, 0.1))
    camera = _Camera.random(cam_rng, span_x, span_y, scale)
    shapes = _random_shapes(shape_rng, width, height, bg_luma)

    kernel_at: dict[int, int] = {}
    for start, stop, length in _blur_runs(n_frames, blur_rng):
        for t in range(start, stop):
            kernel_at[t] = max(3, int(round(length * max(scale, 0.2))))

    for t in range(n_frames):
        ox, oy = camera.position(t)
        frame = texture[oy:oy + height, ox:ox + width].copy()
        for shape in shapes:
            _draw_shape(frame, shape, t)
        length = kernel_at.get(t)
        if length is not None:
            vx, vy = camera.velocity(t)
            angle = math.atan2(vy, vx)
            frame = cv2.filter2D(frame, -1, _line_kernel(length, angle),
                                 borderType=cv2.BORDER_REFLECT)
        yield frame


def iter_synthetic_frames(n_frames: int, width: int = 400, height: int = 200,
                          seed: int = 0) -> Iterator[np.ndarray]:
    """Yield ``n_frames`` BGR uint8 frames of shape (height, width, 3).

    A cartoon-like stand-in for an animated film: a panning textured backdrop,
    5-8 outlined flat shapes that move, bounce and spin, and motion blur on the
    frames flagged by :func:`synthetic_blur_schedule`.  The same seed always gives
    the same frames, and frame ``t`` does not depend on ``n_frames``.
    Arguments are checked at once (SourceError), not at the first ``next()``.
    """
    n, w, h, s = _check_size(n_frames, width, height, seed)
    return _render_frames(n, w, h, s)


def write_synthetic_video(path: str | Path, n_frames: int, width: int = 400,
                          height: int = 200, fps: float = 25.0, seed: int = 0) -> Path:
    """Write the synthetic video as an MP4 (mp4v) at ``path`` and return the path.

    The file appears only when complete (written beside it, its frames counted back,
    then renamed), so neither a crash nor a full disk leaves a truncated video that
    later runs would take as cached.
    Raises SourceError for bad arguments (including an odd width or height, which
    the MPEG-4 encoder would silently crop) or when OpenCV cannot write the file, and
    DiskFullError when the machine stops the write (a full disk, ``ulimit -f``).
    OpenCV's and FFmpeg's log lines stay off stderr (``blurutils.quiet``).
    """
    n, w, h, s = _check_size(n_frames, width, height, seed)
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise SourceError(f"fps must be a number > 0, got {fps!r}")
    if not (math.isfinite(float(fps)) and float(fps) > 0.0):
        raise SourceError(f"fps must be a finite number > 0, got {fps!r}")
    for name, value in (("width", w), ("height", h)):
        if value % 2:
            raise SourceError(f"{name} must be even for an MP4 (mp4v) video, got {value}")
    target = Path(path)
    if target.is_dir():
        raise SourceError(f"cannot write video to {target}: it is a directory")
    from blurutils.quiet import opencv_path, quiet_native
    from blurutils.videofile import machine_limit_error, verify_video

    opencv_path(target, SourceError)  # a folder name OpenCV cannot take: one line, not SIGSEGV
    with atomic_path(target, needed=n * w * h // 20) as tmp:
        # OpenCV logs one warning per frame a full disk loses (thousands), straight to
        # fd 2: kept off stderr, so the failure below is the one line the user sees.
        with quiet_native():
            writer = cv2.VideoWriter(opencv_path(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                     (w, h))
            try:
                if not writer.isOpened():
                    raise SourceError(f"cannot open an mp4v video writer for {target} "
                                      f"({w}x{h} at {fps} fps); use a .mp4 path")
                for frame in _render_frames(n, w, h, s):
                    writer.write(frame)
            finally:
                writer.release()
        if tmp.stat().st_size == 0:
            raise machine_limit_error(tmp, target) or SourceError(
                f"OpenCV wrote an empty video for {target} ({w}x{h})")
        # OpenCV only warns when a write fails (a full disk, a file-size limit): count
        # the frames back before the file is renamed into place and trusted later.
        verify_video(tmp, n, target, error=SourceError)
    return target
