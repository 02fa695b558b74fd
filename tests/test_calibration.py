"""Tests for blurutils.calibration: the known degradations, the calibration table, the
verdicts, the figure and the command line.

The frames are built here: a few small frames with flat regions, sharp rectangles and
disks, a gradient and a faint texture, like the film's.  Each measure's direction on
each degradation is pinned on them at the strongest level and in *every* frame (the
table's smallest and largest ratio), as measured, and checked again on the medians of
the reference calibration over the film and the synthetic clip
(``reference_results/calibration/``); where the film behaves differently (the blur
effect on stripes two rows wide) the pin is the weaker statement that holds for both.  Exact identities (``BF(a * P) = BF(P) / a**2``,
invariance to a brightness shift) are checked to rounding.  The verdicts are checked
on a hand-made table whose every number is known.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from blurutils import calibration as cal
from blurutils.calibration import (DEFAULT_MEASURES, DEGRADATIONS, MEASURES,
                                   SHORT_VERDICT_COLUMNS, VERDICT_CRITERIA, calibrate,
                                   calibration_figure, calibration_verdicts, degrade,
                                   evenly_spaced)
from blurutils.errors import ConfigError, MetricInputError
from blurutils.metrics import blur_factor, laplacian_variance


def make_frames(n: int = 4, h: int = 60, w: int = 80, seed: int = 0) -> np.ndarray:
    """uint8 (n, h, w): a gradient, flat rectangles and disks with sharp edges, and a
    faint texture (smoothed noise, std 0.04)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for _ in range(n):
        img = 0.3 + 0.3 * xx / w + 0.1 * yy / h
        for _ in range(6):
            y0, x0 = rng.integers(0, h - 10), rng.integers(0, w - 10)
            img[y0:y0 + rng.integers(6, 20), x0:x0 + rng.integers(6, 20)] = rng.uniform(0.1, 0.9)
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(4, 10)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0.1, 0.9)
        texture = cv2.GaussianBlur(rng.normal(0, 1, (h, w)), (0, 0), 1.0)
        img = img + 0.04 * texture / texture.std()
        out.append(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    return make_frames()


@pytest.fixture(scope="module")
def table(frames) -> pd.DataFrame:
    """Every measure (the edge width without reference too) on every degradation."""
    return calibrate(frames, measures=list(MEASURES), threads=1)


def row(table: pd.DataFrame, measure: str, degradation: str, level: float) -> pd.Series:
    sel = table[(table["measure"] == measure) & (table["degradation"] == degradation)
                & np.isclose(table["level"], level)]
    assert len(sel) == 1, (measure, degradation, level)
    return sel.iloc[0]


# --------------------------------------------------------------------------- directions

ALL = list(MEASURES)
#: Measured direction per measure at the strongest level, in every frame: "up" rated
#: blurrier, "down" rated sharper, "same" unchanged (to rounding), "near" within 2 %,
#: "not up" never rated blurrier.
DIRECTIONS: dict[tuple[str, float], dict[str, str]] = {
    ("gaussian_blur", 3.0): {m: "up" for m in ALL},
    ("down_up", 4.0): {m: "up" for m in ALL},
    # (the blur effect and the no-reference edge width are left out: JPEG's blocks make
    # them rate some frames sharper, the synthetic clip's median among them)
    ("jpeg", 10.0): {m: "up" for m in ("bf", "bf_matched", "tbf", "hfbf", "edge_width")},
    ("brightness", -0.1): {m: "same" for m in ALL},
    ("brightness", 0.1): {m: "same" for m in ALL},
    ("contrast", 0.5): {"bf": "up", "tbf": "up", "bf_matched": "same", "blur_effect": "same",
                        "hfbf": "same", "edge_width": "same", "edge_width_self": "same"},
    ("contrast", 1.5): {"bf": "down", "tbf": "down", "bf_matched": "same",
                        "blur_effect": "same", "hfbf": "same", "edge_width": "same",
                        "edge_width_self": "same"},
    ("noise", 8.0): {m: "down" for m in ALL},
    # Stripes one row wide: the Sobel kernels of Tenengrad ([1, 2, 1] across, [-1, 0, 1]
    # along) cancel a period-2 pattern, so only the border rows change it; the blur
    # effect keeps the blurrier of its two axes, the one along the stripes; the edge
    # width follows rows, along which a stripe adds a constant.
    ("stripes", 8.0): {"bf": "down", "bf_matched": "down", "hfbf": "down", "tbf": "near",
                       "blur_effect": "same", "edge_width": "same", "edge_width_self": "same"},
    # Two rows wide: no longer in the Sobel kernels' null space, Tenengrad is fooled.
    # The blur effect sees sharper rows across the stripes only: unchanged in a frame
    # whose blurrier axis runs along them (these frames), lower in one whose blurrier
    # axis runs across them (some of the film's).
    ("wide_stripes", 8.0): {"bf": "down", "bf_matched": "down", "hfbf": "down", "tbf": "down",
                            "blur_effect": "not up", "edge_width": "same",
                            "edge_width_self": "same"},
    # Vertical stripes break the rows' monotone runs: the edge width is fooled.
    ("column_stripes", 8.0): {"bf": "down", "bf_matched": "down", "hfbf": "down",
                              "edge_width": "down", "edge_width_self": "down",
                              "tbf": "near", "blur_effect": "near"},
}


@pytest.mark.parametrize("degradation, level, measure, expected",
                         [(d, lv, m, e) for (d, lv), exp in DIRECTIONS.items()
                          for m, e in exp.items()],
                         ids=lambda v: str(v))
def test_each_measures_direction_on_each_degradation(table, degradation, level, measure,
                                                     expected):
    r = row(table, measure, degradation, level)
    assert r["n_frames"] == 4
    low, high = r["min_ratio"], r["max_ratio"]
    if expected == "up":
        assert low > 1.0
    elif expected == "down":
        assert high < 1.0
    elif expected == "same":
        assert low == pytest.approx(1.0, abs=1e-9) and high == pytest.approx(1.0, abs=1e-9)
    elif expected == "not up":
        assert high <= 1.0 + 1e-9
    else:
        assert 0.98 < low and high < 1.02 and not (low == high == 1.0)


def test_every_measure_rises_steadily_with_gaussian_blur_in_every_frame(table):
    for measure in ALL:
        rows = table[(table["measure"] == measure) & (table["degradation"] == "gaussian_blur")]
        assert (rows["monotone_share"] == 1.0).all(), measure
        assert (rows["spearman"] == 1.0).all(), measure
        assert np.all(np.diff(rows["median_ratio"].to_numpy()) > 0), measure
    # Down-and-up sampling blurs too.
    rows = table[table["degradation"] == "down_up"]
    assert (rows["monotone_share"] == 1.0).all()


def test_bf_scales_with_contrast_and_the_matched_bf_does_not(table):
    # BF(a * P + b) = BF(P) / a**2, exactly, in every frame; so does Tenengrad.
    for factor in (0.5, 1.5):
        for measure in ("bf", "tbf"):
            r = row(table, measure, "contrast", factor)
            assert r["min_ratio"] == pytest.approx(factor ** -2, rel=1e-9)
            assert r["max_ratio"] == pytest.approx(factor ** -2, rel=1e-9)
        r = row(table, "bf_matched", "contrast", factor)
        assert r["median_ratio"] == pytest.approx(1.0, abs=1e-9)


def test_noise_fools_the_laplacian_most(table):
    """Noise makes every measure rate a frame sharper at 8 grey levels; the Laplacian's
    variance (BF, matched or not) most: its ratio is the lowest of all."""
    ratios = {m: row(table, m, "noise", 8.0)["median_ratio"] for m in ALL}
    assert ratios["bf"] < 0.5 and ratios["bf_matched"] < 0.5
    assert max(ratios["bf"], ratios["bf_matched"]) < min(
        v for m, v in ratios.items() if m not in ("bf", "bf_matched"))
    # ... already at 1 grey level, in every frame.
    assert row(table, "bf", "noise", 1.0)["max_ratio"] < 1.0


def test_faint_noise_widens_edges(table):
    """Noise of 1 grey level breaks the ties of flat regions beside an edge, so the walk
    to the extrema goes on a little further: the edge width rises (in every frame)."""
    for measure in ("edge_width", "edge_width_self"):
        assert row(table, measure, "noise", 1.0)["min_ratio"] > 1.0


def test_table_shape_and_columns(table):
    n_levels = sum(len(d.levels) for d in DEGRADATIONS.values())
    assert len(table) == len(MEASURES) * n_levels
    assert list(table.columns) == ["measure", "degradation", "level", "severity", "unit",
                                   "n_frames", "median_ratio", "q1_ratio", "q3_ratio",
                                   "min_ratio", "max_ratio", "share_blurrier",
                                   "monotone_share", "spearman"]
    assert (table["min_ratio"] <= table["q1_ratio"]).all()
    assert (table["q1_ratio"] <= table["median_ratio"]).all()
    assert (table["median_ratio"] <= table["q3_ratio"]).all()
    assert (table["q3_ratio"] <= table["max_ratio"]).all()
    # Only degradations that blur get a monotone share.
    blurs = table["degradation"].map(lambda d: DEGRADATIONS[d].blurs)
    assert table.loc[blurs, "monotone_share"].notna().all()
    assert table.loc[~blurs, "monotone_share"].isna().all()


def test_default_measures_and_threads_do_not_change_numbers(frames):
    one = calibrate(frames[:2], degradations=["gaussian_blur", "noise"], threads=1)
    two = calibrate(frames[:2], degradations=["gaussian_blur", "noise"], threads=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(dict.fromkeys(one["measure"])) == list(DEFAULT_MEASURES)


def test_flat_frames_are_left_out(frames):
    flat = np.full((1, *frames.shape[1:]), 128, dtype=np.uint8)
    table = calibrate(np.concatenate([frames[:2], flat]), measures=["bf"],
                      degradations=["contrast"], threads=1)
    assert (table["n_frames"] == 2).all()
    with pytest.raises(MetricInputError, match="flat"):
        calibrate(flat, threads=1)


@pytest.mark.parametrize("frames_, kwargs, error, match", [
    (np.zeros((2, 20, 20)), {}, MetricInputError, "dtype"),
    (np.zeros((20, 20), np.uint8), {}, MetricInputError, "shape"),
    (np.zeros((0, 20, 20), np.uint8), {}, MetricInputError, "shape"),
    (None, {"measures": ["sharpness"]}, ConfigError, "sharpness"),
    (None, {"degradations": []}, ConfigError, "degradation"),
    (None, {"min_std": "x"}, ConfigError, "min_std"),
])
def test_calibrate_rejects_bad_input(frames, frames_, kwargs, error, match):
    with pytest.raises(error, match=match):
        calibrate(frames if frames_ is None else frames_, threads=1, **kwargs)


@pytest.mark.parametrize("threads", [0, 1.5, "2", True])
def test_calibrate_rejects_bad_threads(frames, threads):
    with pytest.raises(ConfigError, match="threads"):
        calibrate(frames, threads=threads)


def test_monotone_share_and_spearman_against_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    scores = np.cumsum(rng.random((50, 6)), axis=1)        # rising in every row
    scores[:10] = rng.random((10, 6))                      # 10 rows in random order
    scores[10, 2] = scores[10, 1]                          # a tie: not strictly rising
    assert cal._rising_share(scores) == pytest.approx(39 / 50)
    expected = np.median([spearmanr(np.arange(6), s).statistic for s in scores])
    assert cal._median_spearman(scores) == pytest.approx(expected)
    scores[0, 0] = np.nan                                   # left out of the median
    expected = np.median([spearmanr(np.arange(6), s).statistic for s in scores[1:]])
    assert cal._median_spearman(scores) == pytest.approx(expected)


# --------------------------------------------------------------------------- degradations

def test_degradations_do_what_they_say(frames):
    unit = frames.astype(np.float64) / 255.0
    # Contrast about the mean: same mean, std times the factor.
    out = degrade(frames, "contrast", 1.5)
    np.testing.assert_allclose(out.mean(axis=(1, 2)), unit.mean(axis=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1.5 * unit.std(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(degrade(frames, "brightness", -0.1), unit - 0.1, atol=1e-15)
    # Stripes: +a on even rows, -a on odd rows; two rows wide; on columns.
    a = 4 / 255
    diff = degrade(frames, "stripes", 4) - unit
    np.testing.assert_allclose(diff[:, 0::2], a, atol=1e-15)
    np.testing.assert_allclose(diff[:, 1::2], -a, atol=1e-15)
    diff = degrade(frames, "wide_stripes", 4) - unit
    np.testing.assert_allclose(diff[:, 0::4], a, atol=1e-15)
    np.testing.assert_allclose(diff[:, 1::4], a, atol=1e-15)
    np.testing.assert_allclose(diff[:, 2::4], -a, atol=1e-15)
    diff = degrade(frames, "column_stripes", 4) - unit
    np.testing.assert_allclose(diff[:, :, 0::2], a, atol=1e-15)
    np.testing.assert_allclose(diff[:, :, 1::2], -a, atol=1e-15)
    # Noise: the std asked for, reproducible from the seed.
    noise = degrade(frames, "noise", 8) - unit
    assert noise.std() == pytest.approx(8 / 255, rel=0.02)
    np.testing.assert_array_equal(degrade(frames, "noise", 8), degrade(frames, "noise", 8))
    assert not np.array_equal(degrade(frames, "noise", 8, seed=1), degrade(frames, "noise", 8))
    # Blurs keep the mean (reflected borders) and lower the Laplacian's variance.
    for kind, level in (("gaussian_blur", 1.0), ("down_up", 2.0)):
        out = degrade(frames, kind, level)
        np.testing.assert_allclose(out.mean(axis=(1, 2)), unit.mean(axis=(1, 2)), atol=2e-3)
        assert (laplacian_variance(out) < laplacian_variance(unit)).all()
    np.testing.assert_allclose(degrade(frames, "down_up", 1.0), unit, atol=1e-12)
    # JPEG: 8-bit values, close to the frame at high quality, further at low.
    hi, lo = degrade(frames, "jpeg", 95), degrade(frames, "jpeg", 10)
    np.testing.assert_allclose(hi * 255, np.rint(hi * 255), atol=1e-9)
    assert np.abs(hi - unit).mean() < np.abs(lo - unit).mean()


def test_degrade_shapes_and_errors(frames):
    assert degrade(frames[0], "gaussian_blur", 1).shape == frames.shape[1:]
    assert degrade(frames[0] / 255.0, "noise", 1).dtype == np.float64
    np.testing.assert_allclose(degrade(frames[0], "stripes", 2),
                               degrade(frames[:1], "stripes", 2)[0])
    with pytest.raises(ConfigError, match="blurr"):
        degrade(frames, "blurr", 1)
    with pytest.raises(ConfigError, match="level"):
        degrade(frames, "noise", "much")
    with pytest.raises(ConfigError, match="finite"):
        degrade(frames, "noise", math.inf)
    with pytest.raises(MetricInputError, match="dtype"):
        degrade(frames.astype(np.int32), "noise", 1)
    with pytest.raises(MetricInputError, match="shape"):
        degrade(np.zeros(10), "noise", 1)


def test_every_degradation_has_increasing_levels_and_a_unit():
    for name, spec in DEGRADATIONS.items():
        severity = np.array(spec.levels) * (-1 if name == "jpeg" else 1)  # lower = stronger
        assert np.all(np.diff(severity) > 0), name
        assert spec.unit and spec.description


def test_evenly_spaced():
    x = np.arange(101)
    picked, index = evenly_spaced(x, 5)
    np.testing.assert_array_equal(index, [0, 25, 50, 75, 100])
    np.testing.assert_array_equal(picked, index)
    picked, index = evenly_spaced(x[:3], 5)
    np.testing.assert_array_equal(index, [0, 1, 2])


# --------------------------------------------------------------------------- verdicts

def hand_table() -> pd.DataFrame:
    """Two measures whose every median ratio is chosen: ``good`` passes everything,
    ``bad`` fails all but the blur criterion (blur unit 1 for both: ratio e at 0.5)."""
    e = math.e
    rows = []

    def add(measure, degradation, ratios, monotone=None):
        for severity, (level, ratio) in enumerate(ratios, 1):
            rows.append(dict(measure=measure, degradation=degradation, level=level,
                             severity=severity, median_ratio=ratio,
                             monotone_share=monotone if monotone is not None else math.nan,
                             spearman=1.0 if monotone is not None else math.nan))

    for m, monotone in (("good", 0.95), ("bad", 0.95)):
        add(m, "gaussian_blur", [(0.5, e), (1.0, e ** 2)], monotone)
        add(m, "down_up", [(2.0, 2.0), (4.0, 3.0)], 1.0)
        add(m, "jpeg", [(90.0, 0.9), (10.0, 1.4)])
    add("good", "contrast", [(0.5, e ** 0.05), (1.5, e ** -0.08)])
    add("good", "brightness", [(-0.1, 1.0), (0.1, 1.0)])
    add("good", "noise", [(1.0, e ** 0.2), (8.0, e ** -0.9)])
    add("good", "stripes", [(1.0, 1.0), (8.0, e ** -0.5)])
    add("good", "wide_stripes", [(2.0, 1.0), (8.0, e ** 0.3)])
    add("good", "column_stripes", [(2.0, 1.0), (8.0, e ** -0.9)])
    add("bad", "contrast", [(0.5, 4.0), (1.5, 1 / 2.25)])
    add("bad", "brightness", [(-0.1, e ** 0.2), (0.1, 1.0)])
    add("bad", "noise", [(1.0, e ** -0.5), (8.0, e ** -1.2)])
    add("bad", "stripes", [(1.0, 1.0), (8.0, 1.0)])
    add("bad", "wide_stripes", [(2.0, e ** -1.5), (8.0, e ** -2)])
    add("bad", "column_stripes", [(2.0, e ** -2.0), (8.0, e ** -3.0)])
    return pd.DataFrame(rows)


def test_verdicts_on_a_hand_made_table():
    v = calibration_verdicts(hand_table()).set_index("measure")
    good, bad = v.loc["good"], v.loc["bad"]
    assert good["blur_unit"] == pytest.approx(1.0) and bad["blur_unit"] == pytest.approx(1.0)
    assert good["blur_top_ratio"] == pytest.approx(math.e ** 2)
    assert good["rises_with_blur"] and bad["rises_with_blur"]
    assert good["contrast_effect"] == pytest.approx(0.08) and good["ignores_contrast"]
    assert bad["contrast_effect"] == pytest.approx(math.log(4)) and not bad["ignores_contrast"]
    assert good["brightness_effect"] == 0.0 and good["ignores_brightness"]
    assert bad["brightness_effect"] == pytest.approx(0.2) and not bad["ignores_brightness"]
    # Sharpening up to one blur unit is resisted; a blurrier rating never counts.
    assert good["noise_sharpening"] == pytest.approx(0.9) and good["resists_noise"]
    assert good["noise_resisted_up_to"] == 8.0
    assert bad["noise_sharpening"] == pytest.approx(1.2) and not bad["resists_noise"]
    assert bad["noise_resisted_up_to"] == 1.0
    assert good["wide_stripes_sharpening"] == 0.0 and good["resists_stripes"]
    # Stripes one row wide resisted, two rows wide not: not resisted.
    assert bad["stripes_sharpening"] == 0.0 and bad["wide_stripes_sharpening"] == 2.0
    assert not bad["resists_stripes"] and bad["wide_stripes_resisted_up_to"] == 0.0
    assert good["resists_column_stripes"] and not bad["resists_column_stripes"]
    assert good["down_up_rated_blurrier"] and good["jpeg_strongest_ratio"] == 1.4
    assert good["passes"] and not bad["passes"]
    assert set(VERDICT_CRITERIA) <= set(v.columns)


def test_verdict_rises_with_blur_needs_nine_frames_in_ten():
    table = hand_table()
    blur = table["degradation"] == "gaussian_blur"
    table.loc[blur & (table["measure"] == "good"), "monotone_share"] = 0.85
    v = calibration_verdicts(table).set_index("measure")
    assert not v.loc["good", "rises_with_blur"] and not v.loc["good", "passes"]


def test_verdicts_per_source_and_bad_tables(table):
    both = pd.concat([table.assign(source="a"), table.assign(source="b")], ignore_index=True)
    v = calibration_verdicts(both)
    assert len(v) == 2 * len(MEASURES) and list(v.columns[:2]) == ["source", "measure"]
    pd.testing.assert_frame_equal(v[v["source"] == "a"].drop(columns="source")
                                  .reset_index(drop=True), calibration_verdicts(table))
    with pytest.raises(ConfigError, match="median_ratio"):
        calibration_verdicts(table.drop(columns="median_ratio"))


def test_verdicts_of_the_test_frames(table):
    """What the measured directions add up to on these frames (the film's and the
    synthetic clip's verdicts are in reference_results/calibration/)."""
    v = calibration_verdicts(table).set_index("measure")
    assert v["rises_with_blur"].all() and v["ignores_brightness"].all()
    assert list(v.index[~v["ignores_contrast"]]) == ["bf", "tbf"]
    assert not v.loc["bf", "resists_noise"] and not v.loc["bf_matched", "resists_noise"]
    assert not v.loc["tbf", "resists_stripes"]              # the two-rows-wide stripes
    assert not v.loc["edge_width", "resists_column_stripes"]
    assert v.loc["hfbf", "passes"]


# --------------------------------------------------------------------------- figure

def test_figure(table, tmp_path):
    path = calibration_figure(table, tmp_path / "one.png")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] > image.shape[0] > 300
    both = pd.concat([table.assign(source="film"), table.assign(source="synthetic")])
    assert calibration_figure(both, tmp_path / "two.png", title="t").is_file()
    with pytest.raises(ConfigError, match="median_ratio"):
        calibration_figure(table.drop(columns="median_ratio"), tmp_path / "no.png")


# --------------------------------------------------------------------------- command line

@pytest.fixture
def fake_sources(monkeypatch):
    """``load_frames`` replaced: each source gives six small frames, one of them flat."""
    asked = []

    def load_frames(source, progress=None, **options):
        asked.append((source, options))
        frames = make_frames(6, seed=len(asked))
        frames[3] = 90
        return frames

    monkeypatch.setattr("blurutils.frames.load_frames", load_frames)
    return asked


def test_command_line_writes_the_calibration(fake_sources, tmp_path, capsys):
    out = tmp_path / "calibration"
    assert cal.main(["--out", str(out), "--frames", "4", "--measures", "bf",
                     "edge_width"]) == 0
    assert [s for s, _ in fake_sources] == ["bigbuckbunny", "synthetic"]
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "calibration.csv", "calibration.png", "calibration_verdicts.csv",
        "calibration_verdicts.md"]
    table = pd.read_csv(out / "calibration.csv")
    assert list(dict.fromkeys(table["source"])) == ["film", "synthetic"]
    assert set(table["measure"]) == {"bf", "edge_width"}
    # 4 of 6 frames picked (0, 2, 3, 5); frame 3 is flat and left out.
    assert (table["n_frames"] == 3).all()
    verdicts = pd.read_csv(out / "calibration_verdicts.csv")
    assert len(verdicts) == 4 and verdicts["passes"].dtype == bool
    md = (out / "calibration_verdicts.md").read_text()
    assert [c.strip() for c in md.splitlines()[0].split("|")[1:-1]] == SHORT_VERDICT_COLUMNS
    assert len(md.splitlines()) == 2 + 4
    readme = (out / "README.md").read_text()
    assert "python -m blurutils.calibration --out calibration --frames 4 --measures bf " \
           "edge_width" in readme
    assert "Big Buck Bunny" in readme and "CC BY 3.0" in readme
    assert "3 measured, 1 left out as flat" in readme
    assert str(tmp_path) not in readme
    assert capsys.readouterr().out.splitlines()[0].endswith("calibration.csv")


@pytest.mark.parametrize("args, match", [(["--frames", "0"], "--frames 0"),
                                         ([], "not a folder")])
def test_command_line_bad_input_is_one_line_and_exit_2(fake_sources, tmp_path, capsys,
                                                       args, match):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert cal.main(["--out", str(target), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err


def test_command_line_bad_argument_exits_2_with_one_line():
    done = subprocess.run([sys.executable, "-m", "blurutils.calibration", "--out", "x",
                           "--sources", "moon"], capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "moon" in done.stderr


# --------------------------------------------------------------------------- reference results

REFERENCE = Path(__file__).resolve().parents[1] / "reference_results" / "calibration"


def test_the_reference_calibration_is_complete_and_consistent():
    names = {"README.md", "calibration.csv", "calibration_verdicts.csv",
             "calibration_verdicts.md", "calibration.png"}
    assert names <= {p.name for p in REFERENCE.iterdir()}
    assert sum(p.stat().st_size for p in REFERENCE.iterdir()) < 2 * 2 ** 20
    table = pd.read_csv(REFERENCE / "calibration.csv")
    assert set(table["source"]) == {"film", "synthetic"}
    assert set(table["measure"]) == set(DEFAULT_MEASURES)
    assert set(table["degradation"]) == set(DEGRADATIONS)
    assert (table["n_frames"] >= 199).all()
    # The verdicts are what the table gives.
    stored = pd.read_csv(REFERENCE / "calibration_verdicts.csv")
    again = calibration_verdicts(table)
    assert list(stored.columns) == list(again.columns)
    pd.testing.assert_frame_equal(stored, again, check_dtype=False, rtol=1e-8)
    md = (REFERENCE / "calibration_verdicts.md").read_text().splitlines()
    assert [c.strip() for c in md[0].split("|")[1:-1]] == SHORT_VERDICT_COLUMNS
    assert len(md) == 2 + len(stored)
    readme = (REFERENCE / "README.md").read_text()
    assert "python -m blurutils.calibration --out reference_results/calibration" in readme
    assert "Blender Foundation" in readme and "CC BY 3.0" in readme


def test_the_reference_medians_go_the_pinned_ways():
    """The directions pinned above on this file's frames hold for the medians over the
    film's and the synthetic clip's frames."""
    table = pd.read_csv(REFERENCE / "calibration.csv")
    for (degradation, level), expected in DIRECTIONS.items():
        for measure, direction in expected.items():
            if measure not in DEFAULT_MEASURES:
                continue
            for source in ("film", "synthetic"):
                r = row(table[table["source"] == source], measure, degradation, level)
                med = r["median_ratio"]
                where = (source, measure, degradation, level, med)
                if direction == "up":
                    assert med > 1.0, where
                elif direction == "down":
                    assert med < 1.0, where
                elif direction == "same":
                    assert med == pytest.approx(1.0, abs=1e-9), where
                elif direction == "not up":
                    assert med <= 1.0 + 1e-9, where
                else:
                    assert 0.98 < med < 1.02, where
