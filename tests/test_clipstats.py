"""Clip statistics, checked against direct calculations on hand-built clips."""

from __future__ import annotations

import numpy as np
import pytest

from blurutils.clipstats import clip_statistics, compare_clips, main
from blurutils.errors import BlurUtilsError


def _clip(hold: int = 10, moving: int = 10) -> np.ndarray:
    """A textured frame held still, then panned 2 px a frame, then a cut to another."""
    rng = np.random.default_rng(0)
    texture = np.kron(rng.integers(40, 220, (30, 80)), np.ones((4, 4))).astype(np.uint8)
    still = [texture[:100, :200]] * hold
    pan = [texture[:100, 2 * i:2 * i + 200] for i in range(1, moving + 1)]
    other = [255 - texture[:100, 100:300]] * 5
    return np.stack(still + pan + other)


def test_statistics_match_direct_calculations():
    frames = _clip()
    stats = clip_statistics(frames)
    assert stats["frames"] == len(frames)
    # 9 of the 23 transitions within shots are holds (the cut is left out).
    assert stats["static_share"] == pytest.approx(13 / 23)
    assert stats["cuts_per_1000_frames"] == pytest.approx(1000 / len(frames))
    std = frames.reshape(len(frames), -1).std(axis=1) / 255
    assert stats["contrast_median"] == pytest.approx(np.median(std))
    assert stats["intensity_mean"] == pytest.approx(frames.mean() / 255)
    assert stats["dark_share"] == pytest.approx(np.mean(frames < 26))
    assert stats["histogram_entropy_bits"] > 5


def test_a_moving_clip_has_more_flow_than_a_still_one():
    moving = clip_statistics(_clip(hold=3, moving=20))
    still = clip_statistics(_clip(hold=20, moving=3))
    assert moving["flow_median_px"] > still["flow_median_px"]
    assert moving["static_share"] < still["static_share"]


def test_compare_clips_has_one_row_per_clip():
    table = compare_clips({"a": _clip(), "b": _clip(5, 15)})
    assert table["clip"].tolist() == ["a", "b"]


def test_bad_frames_and_bad_arguments_are_one_line(capsys):
    with pytest.raises(BlurUtilsError, match="uint8"):
        clip_statistics(np.zeros((5, 10, 10), np.float32))
    assert main(["nonsense", "--out", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "NAME=SOURCE" in err[0]
