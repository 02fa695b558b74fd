"""Tests for blurutils.statistics: intervals over seeds and frames, paired tests, verdict rates.

Checked against independent calculations: Student-t intervals worked by hand with
t quantiles from printed tables, the coverage of both intervals over many simulated
replications (an AR(1) series for the block bootstrap, whose true mean is known), the
closed-form mean and variance of the moving-block bootstrap, and Wilcoxon p-values from
a full enumeration of the 2**n sign patterns.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from blurutils.errors import MetricInputError
from blurutils.statistics import (BootstrapCI, MeanCI, PairedTest, block_bootstrap_ci,
                                  block_bootstrap_means, default_block_length, holds_rate,
                                  mean_ci_over_seeds, paired_test, verdict_counts)

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
