"""Tests for blurutils.statistics: intervals over seeds and frames, paired tests, verdict rates.

Checked against independent calculations: Student-t intervals worked by hand with
t quantiles from printed tables, the coverage of both intervals over many simulated
replications (an AR(1) series for the block bootstrap, whose true mean is known), the
closed-form mean and variance of the moving-block bootstrap, and Wilcoxon p-values from
a full enumeration of the 2**n sign patterns.  The segment-level functions: segments of
hand-built index arrays, effective sample sizes from explicit pair loops and from
statsmodels' autocorrelation, the cluster-robust standard error by its formula, sign
tests from binomial coefficients, Clopper-Pearson bounds in closed form and by their
defining tail sums, and interval coverage on simulated AR(1) test sets.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from blurutils.errors import MetricInputError
from blurutils import statistics as st
from blurutils.pairs import split_targets
from blurutils.statistics import (BootstrapCI, EffectiveN, MeanCI, PairedTest, SegmentCI,
                                  SegmentBootstrapCI, SegmentPairedTest, SimulatedCoverage,
                                  binomial_interval, binomial_upper_bound, block_bootstrap_ci,
                                  block_bootstrap_means, contiguous_segments,
                                  default_block_length, effective_n, holds_rate,
                                  holds_rate_with_interval, mean_ci_over_seeds, optimal_block,
                                  paired_segment_test, paired_test, segment_bootstrap_ci,
                                  segment_t_ci, simulated_coverage, verdict_counts)

#: Student-t quantiles from printed tables (not from scipy).
T_0975_DF2 = 4.302653
T_0975_DF4 = 2.776445
T_095_DF4 = 2.131847


def ar1(rng: np.random.Generator, n: int, phi: float, reps: int) -> np.ndarray:
    """``reps`` stationary AR(1) series of length n, mean 0: x_t = phi x_{t-1} + e_t."""
    e = rng.standard_normal((reps, n))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / math.sqrt(1 - phi ** 2)
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


# --------------------------------------------------------------------------- t over seeds

def test_mean_ci_hand_worked() -> None:
    # 1, 2, 3: mean 2, s = 1, half-width t(0.975, 2) * 1 / sqrt(3).
    ci = mean_ci_over_seeds([1.0, 2.0, 3.0])
    assert isinstance(ci, MeanCI)
    half = T_0975_DF2 / math.sqrt(3)
    assert ci.mean == 2.0 and ci.n == 3 and (ci.n_inf, ci.n_nan) == (0, 0)
    assert ci.low == pytest.approx(2 - half, rel=1e-6)
    assert ci.high == pytest.approx(2 + half, rel=1e-6)
    # 2, 4, 4, 4, 5: mean 3.8, squared deviations sum 4.8, s^2 = 4.8 / 4 = 1.2.
    s = math.sqrt(1.2)
    for level, t in ((0.95, T_0975_DF4), (0.90, T_095_DF4)):
        ci = mean_ci_over_seeds(np.array([2, 4, 4, 4, 5]), confidence=level)
        assert ci.mean == pytest.approx(3.8, rel=1e-12)
        assert ci.high - ci.mean == pytest.approx(t * s / math.sqrt(5), rel=1e-6)
        assert ci.mean - ci.low == pytest.approx(t * s / math.sqrt(5), rel=1e-6)


def test_mean_ci_coverage_over_many_replications() -> None:
    # Three seeds from a normal distribution: the t interval covers the true mean in
    # 95% of replications (binomial s.e. over 3000 replications: 0.4%).
    rng = np.random.default_rng(11)
    samples = rng.normal(7.0, 2.0, size=(3000, 3))
    cis = [mean_ci_over_seeds(s) for s in samples]
    assert np.mean([c.low <= 7.0 <= c.high for c in cis]) == pytest.approx(0.95, abs=0.015)


def test_mean_ci_leaves_out_and_counts_non_finite() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = mean_ci_over_seeds([1.0, math.inf, 2.0, math.nan, 3.0, -math.inf])
    assert (ci.n, ci.n_inf, ci.n_nan) == (3, 2, 1)
    assert ci[:3] == mean_ci_over_seeds([1.0, 2.0, 3.0])[:3]


def test_mean_ci_one_zero_and_equal_values() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = mean_ci_over_seeds([4.5])
        none = mean_ci_over_seeds([math.inf, math.nan])
        empty = mean_ci_over_seeds([])
        same = mean_ci_over_seeds([2.5, 2.5, 2.5])
    assert one.mean == 4.5 and one.n == 1 and math.isnan(one.low) and math.isnan(one.high)
    assert none.n == 0 and (none.n_inf, none.n_nan) == (1, 1)
    assert all(math.isnan(v) for v in none[:3]) and all(math.isnan(v) for v in empty[:3])
    assert same == MeanCI(2.5, 2.5, 2.5, 3, 0, 0)


# --------------------------------------------------------------------------- block bootstrap

def test_default_block_length_is_cube_root() -> None:
    for n in (1, 2, 7, 8, 9, 27, 28, 39, 64, 65, 1000, 3600):
        b = default_block_length(n)
        assert (b - 1) ** 3 < n <= b ** 3, n     # b = ceil(n^(1/3)) exactly
    assert default_block_length(39) == 4 and default_block_length(64) == 4


def test_block_bootstrap_closed_form_moments() -> None:
    # With n = k * L, a moving-block resample mean is the average of k block means,
    # each drawn uniformly from the n - L + 1 blocks: its expectation is the mean of
    # those block means and its variance their (population) variance over k.
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal(60)) * 0.1 + 5.0
    length, k = 5, 12
    blocks = np.array([x[i:i + length].mean() for i in range(60 - length + 1)])
    means = block_bootstrap_means(x, block=length, n_boot=40000, seed=9)
    assert means.shape == (40000,)
    assert means.mean() == pytest.approx(blocks.mean(), abs=4 * blocks.std() / math.sqrt(k * 40000))
    assert means.var() == pytest.approx(blocks.var() / k, rel=0.03)
    # A cut-short last block: n = 7, L = 3 -> blocks of 3, 3 and 1; one resample by hand.
    y = np.arange(7.0) ** 2
    starts = np.random.default_rng(5).integers(0, 5, size=(1, 3))[0]
    by_hand = np.concatenate([y[starts[0]:starts[0] + 3], y[starts[1]:starts[1] + 3],
                              y[starts[2]:starts[2] + 1]]).mean()
    assert block_bootstrap_means(y, block=3, n_boot=1, seed=5)[0] == pytest.approx(by_hand,
                                                                                  rel=1e-12)


def test_block_bootstrap_covers_ar1_mean_where_iid_bootstrap_fails() -> None:
    # AR(1) with phi = 0.5: the variance of the mean is 3x the i.i.d. value.  Over 400
    # series of 400 values, the block bootstrap (default block 8) covers the true mean
    # close to 95% (theory: a little under, ~93%, the block variance's known bias);
    # resampling single frames covers it far less often (~73%).
    x = ar1(np.random.default_rng(2024), 400, 0.5, 400)
    cis = [block_bootstrap_ci(s, n_boot=400, seed=i) for i, s in enumerate(x)]
    assert cis[0].block == 8
    coverage = np.mean([c.low <= 0.0 <= c.high for c in cis])
    assert 0.90 <= coverage <= 0.98
    iid_cis = [block_bootstrap_ci(s, block=1, n_boot=400, seed=i) for i, s in enumerate(x)]
    iid = np.mean([c.low <= 0.0 <= c.high for c in iid_cis])
    assert iid < 0.80 and coverage - iid > 0.1


def test_block_bootstrap_deterministic_and_seed_dependent() -> None:
    x = np.sin(np.arange(39) / 5.0) + np.random.default_rng(0).normal(0, 0.2, 39)
    a = block_bootstrap_ci(x, seed=4)
    assert isinstance(a, BootstrapCI)
    assert a == block_bootstrap_ci(x, seed=4)
    assert a != block_bootstrap_ci(x, seed=5)
    assert a.mean == pytest.approx(x.mean(), rel=1e-12)
    assert a.low < a.mean < a.high
    assert (a.n, a.block, a.n_boot) == (39, 4, 2000)
    # The interval is the percentile interval of the replicate means.
    means = block_bootstrap_means(x, 4, 2000, 4)
    assert [a.low, a.high] == pytest.approx(np.quantile(means, [0.025, 0.975]), rel=1e-12)
    narrow = block_bootstrap_ci(x, seed=4, confidence=0.5)
    assert a.low < narrow.low < narrow.high < a.high


def test_block_bootstrap_edge_cases() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = block_bootstrap_ci([1.0, math.inf, 3.0, math.nan, 2.0, 4.0], block=2, seed=0)
        one = block_bootstrap_ci([2.0, math.inf])
        none = block_bootstrap_ci([math.nan])
        const = block_bootstrap_ci([3.0] * 10)
        whole = block_bootstrap_ci([1.0, 5.0, 2.0], block=3)
    assert (ci.n, ci.n_inf, ci.n_nan) == (4, 1, 1) and ci.mean == 2.5
    assert ci == block_bootstrap_ci([1.0, 3.0, 2.0, 4.0], block=2, seed=0)._replace(
        n_inf=1, n_nan=1)
    assert one.mean == 2.0 and math.isnan(one.low) and math.isnan(one.high) and one.n_inf == 1
    assert none.n == 0 and math.isnan(none.mean)
    assert (const.low, const.high) == (3.0, 3.0)
    assert whole.low == whole.high == pytest.approx(8 / 3)     # one block: the series


# --------------------------------------------------------------------------- Wilcoxon

def enumerated_pvalue(d: np.ndarray) -> float:
    """Two-sided p-value of W+ from all 2**n sign patterns (zeros dropped, ties averaged)."""
    d = d[d != 0]
    absd = np.abs(d)
    ranks = np.array([np.sum(absd < v) + (np.sum(absd == v) + 1) / 2 for v in absd])
    w_obs = ranks[d > 0].sum()
    sums = np.array([sum(r for r, s in zip(ranks, signs) if s)
                     for signs in itertools.product((0, 1), repeat=len(d))])
    tol = 1e-9
    p = 2 * min(np.mean(sums <= w_obs + tol), np.mean(sums >= w_obs - tol))
    return min(p, 1.0)


def test_paired_test_matches_exact_enumeration() -> None:
    a = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    b = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    r = paired_test(a, b)
    assert isinstance(r, PairedTest)
    d = a - b
    assert r.pvalue == pytest.approx(enumerated_pvalue(d), rel=1e-9)
    # Negative ranks: |-0.147| is rank 3 and |-0.08| rank 2 of 9 -> W- = 5 = statistic.
    assert r.statistic == 5.0
    assert (r.n, r.n_dropped, r.n_zero) == (9, 0, 0)
    assert r.median_difference == pytest.approx(np.median(d), rel=1e-12)
    # Swapping a and b changes nothing but the sign of the median difference.
    s = paired_test(b, a)
    assert (s.statistic, s.pvalue) == (r.statistic, r.pvalue)
    assert s.median_difference == pytest.approx(-r.median_difference)


def test_paired_test_ties_and_zeros_match_enumeration() -> None:
    # Tied |differences| and a zero difference: scipy uses a permutation test for <= 13
    # pairs, which is the full enumeration.
    # Wilcoxon's rule drops the zero (other rules rank it and get p = 0.0625 here).
    a = np.array([3.0, 5.0, 2.0, 7.0, 4.0, 6.0, 1.0, 8.0, 2.5, 9.0])
    b = np.array([1.0, 3.0, 3.0, 4.0, 4.0, 2.0, 0.0, 5.0, 2.5, 9.5])
    r = paired_test(a, b)
    assert r.n == 10 and r.n_zero == 2
    assert r.pvalue == pytest.approx(enumerated_pvalue(a - b), rel=1e-9)
    assert r.pvalue == pytest.approx(3 / 64, rel=1e-9)


def test_paired_test_all_positive_small_sample() -> None:
    # Five positive differences: the only pattern as extreme is all five up or all
    # down, p = 2 / 2**5.
    r = paired_test([2.0, 3.0, 5.0, 7.0, 11.0], [1.0] * 5)
    assert r.pvalue == pytest.approx(2 / 32, rel=1e-12) and r.statistic == 0.0


def test_paired_test_large_sample_detects_a_shift() -> None:
    rng = np.random.default_rng(8)
    base = rng.gamma(2.0, 20.0, 200)
    noise = rng.normal(0, 1.0, 200)
    shifted = paired_test(base + 0.8 + noise, base)
    same = paired_test(base + noise, base)
    assert shifted.pvalue < 1e-6 and shifted.median_difference > 0.5
    assert same.pvalue > 0.01


def test_paired_test_drops_non_finite_pairs_and_handles_equal_inputs() -> None:
    a = np.array([1.0, math.inf, 3.0, math.nan, 5.0, 6.0, 7.0])
    b = np.array([0.5, 2.0, math.inf, 1.0, 4.0, 4.5, 8.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = paired_test(a, b)
        equal = paired_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
        empty = paired_test([math.nan, 1.0], [1.0, math.inf])
    assert (r.n, r.n_dropped) == (4, 3)
    assert r == paired_test([1.0, 5.0, 6.0, 7.0], [0.5, 4.0, 4.5, 8.0])._replace(n_dropped=3)
    assert equal == PairedTest(0.0, 1.0, 3, 0, 3, 0.0)
    assert empty.n == 0 and empty.n_dropped == 2 and math.isnan(empty.pvalue)


# --------------------------------------------------------------------------- verdicts as rates

def test_holds_rate_phrases_and_counts() -> None:
    assert holds_rate(["holds", "does not hold", "holds"]) == "holds in 2 of 3 seeds"
    assert holds_rate(["holds"]) == "holds in 1 of 1 seed"
    assert holds_rate(["does not hold"] * 2) == "holds in 0 of 2 seeds"
    assert holds_rate([" Holds ", "not tested", "not meaningful", "does not hold"]) == \
        "holds in 1 of 2 seeds (1 not tested, 1 not meaningful)"
    assert holds_rate(["not tested"] * 3) == "not tested in 3 seeds"
    assert holds_rate(["not tested", "not meaningful", "not meaningful"]) == \
        "not tested in 1 seed, not meaningful in 2 seeds"
    assert holds_rate([]) == "no seeds"
    assert holds_rate(("holds", "holds"), unit="clip") == "holds in 2 of 2 clips"
    assert verdict_counts(["holds", "not tested", "holds", "does not hold"]) == {
        "holds": 2, "does not hold": 1, "not tested": 1, "not meaningful": 0,
        "tested": 3, "total": 4}


@pytest.mark.parametrize("bad", [["holds", "maybe"], ["held"], [None], "holds", [1]])
def test_holds_rate_rejects_unknown_verdicts(bad) -> None:
    with pytest.raises(MetricInputError, match="verdict"):
        holds_rate(bad)


# --------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1, math.nan, "high", None])
def test_bad_confidence_raises(confidence) -> None:
    with pytest.raises(MetricInputError, match="confidence"):
        mean_ci_over_seeds([1.0, 2.0], confidence=confidence)
    with pytest.raises(MetricInputError, match="confidence"):
        block_bootstrap_ci([1.0, 2.0, 3.0], confidence=confidence)


@pytest.mark.parametrize("values", [np.zeros((2, 3)), ["a", "b"], [True, False],
                                    np.array([1 + 2j])])
def test_bad_values_raise(values) -> None:
    with pytest.raises(MetricInputError, match="values"):
        mean_ci_over_seeds(values)
    with pytest.raises(MetricInputError, match="values"):
        block_bootstrap_ci(values)
    with pytest.raises(MetricInputError, match="^a: "):
        paired_test(values, [1.0, 2.0])


@pytest.mark.parametrize("kwargs, what", [({"block": 0}, "block"), ({"block": 11}, "block"),
                                          ({"block": 2.5}, "block"), ({"n_boot": 0}, "n_boot"),
                                          ({"n_boot": "10"}, "n_boot")])
def test_bad_bootstrap_settings_raise(kwargs, what) -> None:
    with pytest.raises(MetricInputError, match=what):
        block_bootstrap_ci(np.arange(10.0), **kwargs)


def test_bootstrap_means_rejects_non_finite_and_empty() -> None:
    with pytest.raises(MetricInputError, match="NaN or infinite"):
        block_bootstrap_means([1.0, math.inf], block=1, n_boot=5)
    with pytest.raises(MetricInputError, match="empty"):
        block_bootstrap_means([], block=1, n_boot=5)


def test_paired_test_length_mismatch() -> None:
    with pytest.raises(MetricInputError, match="a and b"):
        paired_test([1.0, 2.0, 3.0], [1.0, 2.0])


# --------------------------------------------------------------------------- segments

def test_contiguous_segments_gaps_and_cuts() -> None:
    frames = np.array([3, 4, 5, 9, 10, 11, 12, 20])
    plain = contiguous_segments(frames)
    assert plain.dtype == np.int64 and plain.tolist() == [0, 0, 0, 1, 1, 1, 1, 2]
    # A cut at 11 separates 10 and 11; a cut at 9 falls on a gap that already separates;
    # cuts at the first frame (3), inside a gap (7) or past the end (100) change nothing.
    assert contiguous_segments(frames, cuts=[11, 9, 3, 7, 100]).tolist() == \
        [0, 0, 0, 1, 1, 2, 2, 3]
    assert contiguous_segments(frames, cuts=np.array([100, 4])).tolist() == \
        [0, 1, 1, 2, 2, 2, 2, 3]
    assert contiguous_segments([]).tolist() == [] and contiguous_segments([5]).tolist() == [0]
    assert contiguous_segments(np.arange(5), cuts=[]).tolist() == [0] * 5


@pytest.mark.parametrize("frames, cuts", [([3, 2], None), ([1, 1, 2], None),
                                          ([1.0, 2.0], None), ([True, False], None),
                                          (np.zeros((2, 2), dtype=int), None),
                                          ([1, 2], [1.5])])
def test_contiguous_segments_rejects_bad_indices(frames, cuts) -> None:
    with pytest.raises(MetricInputError, match="frames|cuts"):
        contiguous_segments(frames, cuts)


def test_contiguous_segments_of_the_interleaved_split() -> None:
    # Each segment is one run of consecutive test targets; as many segments as test
    # targets whose predecessor is not a test target.
    split = split_targets(1000, seed=3)
    seg = contiguous_segments(split.test)
    test = set(split.test.tolist())
    assert seg[-1] + 1 == sum(1 for t in split.test if t - 1 not in test)
    for s in np.unique(seg):
        run = split.test[seg == s]
        assert run[-1] - run[0] + 1 == run.size


def ess_by_hand(x: list[float], seg: list[int]) -> float:
    """Initial-positive-sequence effective n with explicit loops over within-segment pairs."""
    ok = [i for i, v in enumerate(x) if math.isfinite(v)]
    n = len(ok)
    m = sum(x[i] for i in ok) / n
    c0 = sum((x[i] - m) ** 2 for i in ok)
    total, k = 0.0, 1
    while True:
        pairs = [(i, i + k) for i in range(len(x) - k) if seg[i] == seg[i + k]
                 and math.isfinite(x[i]) and math.isfinite(x[i + k])]
        if not pairs:
            break
        r = sum((x[i] - m) * (x[j] - m) for i, j in pairs) / c0
        if r <= 0:
            break
        total += r
        k += 1
    return n / (1 + 2 * total)


def test_effective_n_matches_explicit_pair_loops() -> None:
    rng = np.random.default_rng(4)
    x = ar1(rng, 90, 0.8, 1)[0] + 3.0
    seg = np.repeat([0, 1, 2, 3, 4], [20, 25, 10, 30, 5])
    r = effective_n(x, seg)
    assert isinstance(r, EffectiveN)
    assert r.n_effective == pytest.approx(ess_by_hand(x.tolist(), seg.tolist()), rel=1e-10)
    assert (r.n_frames, r.n_segments) == (90, 5)
    # NaN and infinity: left out with their pairs; a segment left empty is not counted.
    y = x.copy()
    y[[3, 50, 51]] = [math.nan, math.inf, -math.inf]
    y[85:] = math.nan                                     # all of segment 4
    r = effective_n(y, seg)
    assert r.n_effective == pytest.approx(ess_by_hand(y.tolist(), seg.tolist()), rel=1e-10)
    assert (r.n_frames, r.n_segments) == (82, 4)


def test_effective_n_single_series_matches_statsmodels_acf() -> None:
    from statsmodels.tsa.stattools import acf

    x = ar1(np.random.default_rng(5), 600, 0.9, 1)[0]
    rho = acf(x, nlags=599, fft=False)[1:]
    stop = int(np.argmax(rho <= 0))
    r = effective_n(x)
    assert r.n_lags == stop
    assert r.n_effective == pytest.approx(600 / (1 + 2 * rho[:stop].sum()), rel=1e-9)
    assert r.lag1_autocorrelation == pytest.approx(rho[0] * 600 / 599, rel=1e-9)


def test_effective_n_of_ar1_and_of_constant_segments() -> None:
    # AR(1): n (1 - phi) / (1 + phi) independent values' worth.
    x = ar1(np.random.default_rng(6), 20000, 0.9, 1)[0]
    r = effective_n(x)
    assert r.n_effective == pytest.approx(20000 * 0.1 / 1.9, rel=0.2)
    assert r.lag1_autocorrelation == pytest.approx(0.9, abs=0.01)
    # Frames constant within a segment: each segment is worth exactly one value.
    levels = np.random.default_rng(7).normal(size=12)
    seg = np.repeat(np.arange(12), 8)
    r = effective_n(levels[seg], seg)
    assert r.n_effective == pytest.approx(12.0, rel=1e-12) and r.n_segments == 12
    assert r.lag1_autocorrelation == pytest.approx(1.0, rel=1e-12) and r.n_lags == 7
    # Alternating values and constants: nothing to correct; empty: NaN.
    assert effective_n([1.0, 2.0] * 5).n_effective == 10.0
    assert effective_n([4.0] * 6) == EffectiveN(6, 1, 6.0, math.nan, 0)._replace(
        lag1_autocorrelation=effective_n([4.0] * 6).lag1_autocorrelation)
    assert math.isnan(effective_n([4.0] * 6).lag1_autocorrelation)
    empty = effective_n([math.nan])
    assert empty.n_frames == 0 and math.isnan(empty.n_effective)


def test_segment_bootstrap_width_matches_between_segment_spread() -> None:
    # Equal segments: a resample's mean is the mean of k drawn segment means, whose
    # spread is the (population) s.d. of the segment means over sqrt(k).
    rng = np.random.default_rng(8)
    k, size = 40, 10
    seg = np.repeat(np.arange(k), size)
    x = rng.normal(size=k)[seg] + rng.normal(0, 0.1, k * size) + 5.0
    ci = segment_bootstrap_ci(x, seg, n_boot=20000, seed=1)
    assert isinstance(ci, SegmentBootstrapCI)
    means = x.reshape(k, size).mean(axis=1)
    expected = 2 * 1.959964 * means.std() / math.sqrt(k)
    assert ci.high - ci.low == pytest.approx(expected, rel=0.05)
    assert ci.mean == pytest.approx(x.mean(), rel=1e-12)
    assert (ci.n, ci.n_segments, ci.n_boot, ci.method) == (400, 40, 20000, "percentile")
    # Treating every frame as a segment gives the ordinary (far narrower) bootstrap.
    frames = segment_bootstrap_ci(x, np.arange(x.size), n_boot=4000, seed=1)
    assert frames.high - frames.low == pytest.approx(
        2 * 1.959964 * x.std() / math.sqrt(x.size), rel=0.1)
    assert frames.high - frames.low < 0.5 * (ci.high - ci.low)


def test_segment_bootstrap_non_finite_seed_and_edges() -> None:
    seg = np.repeat([10, 20, 30, 40], 5)
    x = np.sin(np.arange(20.0)) + np.repeat([1.0, 2.0, 0.5, 1.5], 5)
    y = x.copy()
    y[2] = math.inf
    y[10:15] = math.nan                                   # all of segment 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = segment_bootstrap_ci(y, seg, n_boot=500, seed=3)
    keep = np.isfinite(y)
    clean = segment_bootstrap_ci(y[keep], seg[keep], n_boot=500, seed=3)
    assert ci == clean._replace(n_inf=1, n_nan=5)
    assert (ci.n, ci.n_segments) == (14, 3)
    assert ci.mean == pytest.approx(y[keep].mean(), rel=1e-12)
    assert ci == segment_bootstrap_ci(y, seg, n_boot=500, seed=3)
    assert ci != segment_bootstrap_ci(y, seg, n_boot=500, seed=4)
    narrow = segment_bootstrap_ci(x, seg, seed=3, confidence=0.5)
    wide = segment_bootstrap_ci(x, seg, seed=3)
    assert wide.low < narrow.low < narrow.high < wide.high
    bca = segment_bootstrap_ci(x, seg, seed=3, method="bca")
    assert bca.method == "bca" and bca.low < bca.mean < bca.high
    one = segment_bootstrap_ci([1.0, 2.0, 3.0], [7, 7, 7])
    assert one.mean == 2.0 and one.n_segments == 1 and math.isnan(one.low)
    same = segment_bootstrap_ci([1.0, 3.0, 2.0, 2.0], [0, 0, 1, 1])
    assert (same.low, same.high) == (2.0, 2.0)
    none = segment_bootstrap_ci([math.nan, math.inf], [0, 1])
    assert none.n == 0 and math.isnan(none.mean) and (none.n_inf, none.n_nan) == (1, 1)


@pytest.mark.parametrize("kwargs, what", [({"method": "studentized"}, "method"),
                                          ({"segments": None}, "segments"),
                                          ({"segments": [0, 1]}, "segments"),
                                          ({"segments": [0.0, math.nan, 1.0]}, "segments"),
                                          ({"n_boot": 0}, "n_boot"),
                                          ({"confidence": 1.0}, "confidence")])
def test_segment_bootstrap_rejects_bad_settings(kwargs, what) -> None:
    args = {"values": [1.0, 2.0, 3.0], "segments": [0, 0, 1], **kwargs}
    with pytest.raises(MetricInputError, match=what):
        segment_bootstrap_ci(**args)


def test_segment_t_ci_by_its_formula() -> None:
    # 1, 2 | 3, 4 | 10, 12: mean 32/6, segment sums 3, 7, 22 of 2 frames each.
    x = [1.0, 2.0, 3.0, 4.0, 10.0, 12.0]
    ci = segment_t_ci(x, [0, 0, 1, 1, 2, 2])
    assert isinstance(ci, SegmentCI)
    m = 32 / 6
    se = math.sqrt(3 / 2 * sum((s - 2 * m) ** 2 for s in (3, 7, 22))) / 6
    assert ci.mean == pytest.approx(m, rel=1e-12) and ci.std_error == pytest.approx(se, rel=1e-9)
    assert ci.high - ci.mean == pytest.approx(T_0975_DF2 * se, rel=1e-6)
    assert ci.mean - ci.low == pytest.approx(T_0975_DF2 * se, rel=1e-6)
    # Unequal segments, 5 of them (4 df), a NaN left out, labels in any order.
    rng = np.random.default_rng(9)
    sizes = [3, 7, 1, 5, 4]
    seg = np.repeat([5, 1, 9, 2, 7], sizes)
    y = rng.normal(size=20)
    y_nan = np.append(y, math.nan)
    ci = segment_t_ci(y_nan, np.append(seg, 5), confidence=0.90)
    m = y.mean()
    sums = [y[seg == s].sum() - (seg == s).sum() * m for s in (5, 1, 9, 2, 7)]
    se = math.sqrt(5 / 4 * sum(v * v for v in sums)) / 20
    assert ci.std_error == pytest.approx(se, rel=1e-9) and (ci.n, ci.n_nan) == (20, 1)
    assert ci.high - ci.low == pytest.approx(2 * T_095_DF4 * se, rel=1e-6)
    assert ci.n_segments == 5
    one = segment_t_ci([1.0, 2.0], [0, 0])
    assert one.mean == 1.5 and math.isnan(one.low) and math.isnan(one.std_error)
    assert segment_t_ci([1.0, 3.0, 2.0, 2.0], [0, 0, 1, 1])[:3] == (2.0, 2.0, 2.0)
    assert math.isnan(segment_t_ci([math.inf], [0]).mean)


def test_optimal_block_follows_the_autocorrelation() -> None:
    from arch.bootstrap import optimal_block_length

    rng = np.random.default_rng(10)
    slow = ar1(rng, 1500, 0.97, 1)[0]
    white = rng.normal(size=1500)
    b = optimal_block(slow)
    assert b == math.ceil(optimal_block_length(slow)["circular"].iloc[0])
    assert b > 2 * default_block_length(1500)
    assert optimal_block(white) <= 5
    with_inf = np.insert(slow, 7, math.inf)
    assert optimal_block(with_inf) == b
    assert optimal_block([2.0] * 50) == 1 and optimal_block([1.0, 2.0]) == 1


# --------------------------------------------------------------------------- paired segments

def test_paired_segment_test_hand_built() -> None:
    # Segment means of a - b: +1, +2, +0.5, +3, -1 and one exactly 0 (left out of both
    # tests): 4 favour a, 1 favours b.
    d = np.array([1, 1, 1, 2, 1, 3, 0.5, 0.5, 0.5, 3, 4, 2, -1, -2, 0, -1, 1, 0])
    seg = np.repeat(np.arange(6), 3)
    b = np.linspace(10.0, 20.0, 18)
    r = paired_segment_test(b + d, b, seg)
    assert isinstance(r, SegmentPairedTest)
    assert (r.n_segments, r.n_favouring, r.n_against, r.n, r.n_dropped) == (6, 4, 1, 18, 0)
    # Two-sided sign test, 4 of 5: 2 * (C(5,0) + C(5,1)) / 2**5.
    assert r.sign_p == pytest.approx(12 / 32, rel=1e-12)
    assert r.wilcoxon_p == pytest.approx(enumerated_pvalue(np.array([1, 2, 0.5, 3, -1, 0.0])),
                                         rel=1e-9)
    assert r.mean_difference == pytest.approx(d.mean(), rel=1e-12)
    assert r.low < r.mean_difference < r.high
    boot = segment_bootstrap_ci(d, seg)
    assert (r.low, r.high) == pytest.approx((boot.low, boot.high), rel=1e-12)
    t = paired_segment_test(b + d, b, seg, interval="t")
    tci = segment_t_ci(d, seg)
    assert (t.low, t.high) == pytest.approx((tci.low, tci.high), rel=1e-12)
    assert t[:5] == pytest.approx(r[:5], rel=1e-12)
    swapped = paired_segment_test(b, b + d, seg)
    assert (swapped.n_favouring, swapped.n_against) == (1, 4)
    assert swapped.sign_p == r.sign_p and swapped.mean_difference == -r.mean_difference


def test_paired_segment_test_where_per_frame_wilcoxon_misleads() -> None:
    # 18 segments of 50 strongly correlated frames: 8 segments lie clearly above, 10
    # a little below.  Per frame the Wilcoxon test is overwhelming; per segment 8 of 18
    # is what chance gives: p = 1 - C(18, 9) / 2**18.
    rng = np.random.default_rng(12)
    offsets = np.array([2.0] * 8 + [-0.5] * 10)
    seg = np.repeat(np.arange(18), 50)
    d = offsets[seg] + rng.normal(0, 0.1, seg.size)
    base = rng.gamma(4.0, 5.0, seg.size)
    per_frame = paired_test(base + d, base)
    r = paired_segment_test(base + d, base, seg, n_boot=500)
    assert per_frame.pvalue < 1e-20
    assert (r.n_segments, r.n_favouring, r.n_against) == (18, 8, 10)
    assert r.sign_p == pytest.approx(1 - math.comb(18, 9) / 2 ** 18, rel=1e-12)
    assert r.sign_p == pytest.approx(0.8145, abs=1e-4)
    # Over segments the signed ranks are 11..18 up, 1..10 down: no evidence either.
    assert r.wilcoxon_p > 0.1
    ways = [1] + [0] * 171                     # subsets of ranks 1..18 by their sum
    for rank in range(1, 19):
        for total in range(171, rank - 1, -1):
            ways[total] += ways[total - rank]
    assert r.wilcoxon_p == pytest.approx(2 * sum(ways[:56]) / 2 ** 18, rel=1e-9)   # W- = 55


def test_paired_segment_test_non_finite_and_degenerate() -> None:
    a = np.array([1.0, math.inf, 3.0, 4.0, math.nan, 6.0])
    b = np.array([0.0, 2.0, 2.0, 3.0, 5.0, 5.0])
    seg = np.array([0, 0, 1, 1, 2, 2])
    r = paired_segment_test(a, b, seg)
    assert (r.n, r.n_dropped, r.n_segments, r.n_favouring) == (4, 2, 3, 3)
    assert r.sign_p == pytest.approx(2 / 8, rel=1e-12)
    same = paired_segment_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0, 1, 2])
    assert (same.sign_p, same.wilcoxon_p, same.n_favouring, same.n_against) == (1.0, 1.0, 0, 0)
    none = paired_segment_test([math.nan], [1.0], [0])
    assert none.n_segments == 0 and math.isnan(none.sign_p) and none.n_dropped == 1
    with pytest.raises(MetricInputError, match="a and b"):
        paired_segment_test([1.0, 2.0], [1.0], [0, 0])
    with pytest.raises(MetricInputError, match="interval"):
        paired_segment_test([1.0], [1.0], [0], interval="normal")
    with pytest.raises(MetricInputError, match="segments"):
        paired_segment_test([1.0, 2.0], [1.0, 2.0], [0])


# --------------------------------------------------------------------------- k of n

def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k + 1))


def test_binomial_interval_closed_forms_and_tail_sums() -> None:
    # 0 of n: upper = 1 - (alpha/2)^(1/n); n of n: lower = (alpha/2)^(1/n).
    assert binomial_interval(0, 2) == pytest.approx((0.0, 1 - math.sqrt(0.025)), abs=1e-12)
    assert binomial_interval(0, 2)[1] == pytest.approx(0.8419, abs=1e-4)
    assert binomial_interval(3, 3) == pytest.approx((0.025 ** (1 / 3), 1.0), abs=1e-12)
    assert binomial_interval(1, 2) == pytest.approx((1 - math.sqrt(0.975), math.sqrt(0.975)),
                                                    abs=1e-12)
    # Clopper-Pearson by definition: P(X >= k | low) = P(X <= k | high) = alpha / 2.
    for k, n in ((1, 5), (2, 7), (8, 18), (9, 10)):
        low, high = binomial_interval(k, n)
        assert 1 - binomial_cdf(k - 1, n, low) == pytest.approx(0.025, abs=1e-9)
        assert binomial_cdf(k, n, high) == pytest.approx(0.025, abs=1e-9)
    # Exact: coverage at least 95% for every true rate.
    n = 6
    bounds = [binomial_interval(k, n) for k in range(n + 1)]
    for p in np.linspace(0.001, 0.999, 199):
        cover = sum(math.comb(n, k) * p ** k * (1 - p) ** (n - k)
                    for k, (lo, hi) in enumerate(bounds) if lo <= p <= hi)
        assert cover >= 0.95 - 1e-9
    assert binomial_interval(0, 0) == (0.0, 1.0)


def test_binomial_upper_bound_zero_of_two() -> None:
    # 0 of 2 seeds is compatible with the claim holding in up to 77.6% of seeds.
    u = binomial_upper_bound(0, 2)
    assert u == pytest.approx(1 - math.sqrt(0.05), rel=1e-9)
    assert round(u, 3) == 0.776
    for k, n in ((0, 2), (1, 3), (4, 10)):
        assert binomial_cdf(k, n, binomial_upper_bound(k, n)) == pytest.approx(0.05, abs=1e-9)
    assert binomial_upper_bound(0, 2, confidence=0.9) == pytest.approx(1 - math.sqrt(0.1))
    assert binomial_upper_bound(3, 3) == 1.0 and binomial_upper_bound(0, 0) == 1.0


@pytest.mark.parametrize("k, n, what", [(3, 2, "more than"), (-1, 2, "k"), (1, -2, "n"),
                                        (1.0, 2, "k"), (1, "2", "n")])
def test_binomial_rejects_bad_counts(k, n, what) -> None:
    with pytest.raises(MetricInputError, match=what):
        binomial_interval(k, n)
    with pytest.raises(MetricInputError, match=what):
        binomial_upper_bound(k, n)


def test_holds_rate_with_interval_phrases() -> None:
    assert holds_rate_with_interval(["does not hold"] * 2) == \
        "holds in 0 of 2 seeds (95% CI 0–84%)"
    assert holds_rate_with_interval(["holds"] * 3) == "holds in 3 of 3 seeds (95% CI 29–100%)"
    assert holds_rate_with_interval(["holds", "holds", "does not hold", "does not hold",
                                     "does not hold"]) == "holds in 2 of 5 seeds (95% CI 5–85%)"
    assert holds_rate_with_interval(["holds", "does not hold", "not tested", "not meaningful"]) \
        == "holds in 1 of 2 seeds (95% CI 1–99%; 1 not tested, 1 not meaningful)"
    assert holds_rate_with_interval(["holds", "holds"], unit="clip", confidence=0.9) == \
        "holds in 2 of 2 clips (90% CI 22–100%)"
    assert holds_rate_with_interval(["not tested"] * 2) == holds_rate(["not tested"] * 2)
    assert holds_rate_with_interval([]) == "no seeds"
    with pytest.raises(MetricInputError, match="verdict"):
        holds_rate_with_interval(["maybe"])


# --------------------------------------------------------------------------- coverage

def test_simulated_coverage_segment_intervals_hold_naive_ones_do_not() -> None:
    # The study's layout: 1,500 test frames in blocks of 50, frames correlated at 0.97.
    # Segment intervals come near 95%; intervals that treat frames (or 12-frame blocks)
    # as the units cover far less often.  Bands are ~3 binomial s.e. of 100 series.
    boot = simulated_coverage("segment_bootstrap", 0.97, 1500, 50, n_series=100, seed=1,
                              n_boot=300)
    t = simulated_coverage("segment_t", 0.97, 1500, 50, n_series=100, seed=1)
    assert isinstance(boot, SimulatedCoverage) and boot.method == "segment_bootstrap"
    assert 0.85 <= boot.coverage <= 0.99 and 0.87 <= t.coverage <= 1.0
    assert boot.low <= boot.coverage <= boot.high
    assert 15 < boot.mean_segments < 25 and t.mean_segments == boot.mean_segments
    assert 0.9 < t.mean_width / boot.mean_width < 1.3
    frame = simulated_coverage("frame_t", 0.97, 1500, 50, n_series=100, seed=1)
    block = simulated_coverage("block_bootstrap", 0.97, 1500, 50, n_series=100, seed=1,
                               n_boot=300)
    assert frame.coverage < 0.5 and block.coverage < 0.85
    assert block.mean_width < 0.7 * boot.mean_width
    # Independent frames: the per-frame interval is right.
    assert simulated_coverage("frame_t", 0.0, 300, 50, n_series=200, seed=2).coverage >= 0.9


def test_simulated_coverage_series_have_the_asked_autocorrelation() -> None:
    seen: list[tuple[float, float, int]] = []

    def record(values: np.ndarray, segments: np.ndarray) -> tuple[float, float]:
        r = effective_n(values, segments)
        seen.append((r.lag1_autocorrelation, float(np.mean(values ** 2)), r.n_segments))
        assert np.all(np.diff(segments) >= 0) and values.size == 1000
        return -1.0, 1.0

    r = simulated_coverage(record, 0.9, 1000, 40, n_series=40, seed=3)
    lag1, var, segs = map(np.array, zip(*seen))
    assert r.method == "record" and r.n_series == 40 and r.mean_width == 2.0
    assert lag1.mean() == pytest.approx(0.9, abs=0.02)
    assert var.mean() == pytest.approx(1.0, abs=0.15)      # stationary, variance 1
    assert r.mean_segments == pytest.approx(segs.mean())
    assert simulated_coverage(record, 0.9, 1000, 40, n_series=40, seed=3) == r


@pytest.mark.parametrize("kwargs, what", [({"method": "bootstrap"}, "method"),
                                          ({"phi": 1.0}, "phi"), ({"phi": "x"}, "phi"),
                                          ({"n_frames": 1}, "n_frames"),
                                          ({"test_fraction": 1.0}, "test_fraction")])
def test_simulated_coverage_rejects_bad_settings(kwargs, what) -> None:
    args = {"method": "frame_t", "phi": 0.5, "n_frames": 100, "segment_length": 10,
            "n_series": 2, **kwargs}
    with pytest.raises(MetricInputError, match=what):
        simulated_coverage(**args)


def test_docstring_examples() -> None:
    import doctest

    failures, tried = doctest.testmod(st)
    assert tried >= 25 and failures == 0
