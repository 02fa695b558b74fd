"""Uncertainty for the study's findings: intervals over seeds and frames, paired tests,
verdicts as rates.

One seed gives one number per run; whether a finding holds can change with the seed,
and the per-frame standard deviation is not an uncertainty of the mean because
consecutive test frames are strongly correlated.  These pure functions give:

* :func:`mean_ci_over_seeds` — Student-t interval of the mean over per-seed means;
* :func:`contiguous_segments` and :func:`effective_n` — the test frames' contiguous
  segments (or shots), and what the frames are worth as independent values;
* :func:`segment_t_ci` and :func:`segment_bootstrap_ci` — intervals of a per-frame mean
  with segments as the units (cluster-robust t; cluster bootstrap with arch);
* :func:`paired_segment_test` — sign and Wilcoxon tests of two runs over segments;
* :func:`simulated_coverage` — how often an interval method covers the mean of
  simulated series with the test set's layout and autocorrelation;
* :func:`holds_rate_with_interval`, :func:`binomial_interval`,
  :func:`binomial_upper_bound` — "holds in k of n seeds" with an exact interval;
* :func:`holds_rate` and :func:`verdict_counts` — "holds in k of n seeds";
* superseded for correlated test frames, kept for their callers and reference tables:
  :func:`block_bootstrap_ci` with its default block (too short: use a segment
  interval, or ``block=optimal_block(values)``) and :func:`paired_test`'s per-frame
  Wilcoxon test (use :func:`paired_segment_test`).  docs/statistics.md compares them.

Infinite and NaN values (a flat frame's Blur Factor, a run that produced nothing) are
never averaged: every function leaves them out and counts them, as
:func:`blurutils.metrics.summarize` does.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from .errors import MetricInputError

#: Verdict strings, as the study writes them; NOT_MEANINGFUL marks runs that do not
#: interpolate (a finding about their blur says nothing about interpolation).
HOLDS = "holds"
DOES_NOT_HOLD = "does not hold"
NOT_TESTED = "not tested"
NOT_MEANINGFUL = "not meaningful"
VERDICTS = (HOLDS, DOES_NOT_HOLD, NOT_TESTED, NOT_MEANINGFUL)


class MeanCI(NamedTuple):
    """A mean with its confidence interval; non-finite inputs left out and counted."""

    mean: float
    low: float
    high: float
    n: int        #: finite values used
    n_inf: int    #: infinite values left out
    n_nan: int    #: NaN values left out


class BootstrapCI(NamedTuple):
    """A mean with its block-bootstrap interval, and how it was computed."""

    mean: float
    low: float
    high: float
    n: int        #: finite values used
    n_inf: int    #: infinite values left out
    n_nan: int    #: NaN values left out
    block: int    #: block length used
    n_boot: int   #: bootstrap resamples


class PairedTest(NamedTuple):
    """A Wilcoxon signed-rank test of paired values ``a`` and ``b``."""

    statistic: float          #: scipy's: the smaller of the signed-rank sums W+ and W-
    pvalue: float             #: two-sided
    n: int                    #: pairs used (both values finite)
    n_dropped: int            #: pairs with a NaN or an infinity, left out
    n_zero: int               #: pairs used whose difference is 0 (no rank: Wilcoxon's rule)
    median_difference: float  #: median of ``a - b`` over the pairs used


def _confidence(confidence: Any) -> float:
    try:
        value = float(confidence)
    except (TypeError, ValueError):
        raise MetricInputError(f"confidence {confidence!r}: not a number") from None
    if not 0.0 < value < 1.0:
        raise MetricInputError(f"confidence {confidence!r}: must be in (0, 1)")
    return value


def _vector(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D float64 array (bool and non-numeric input rejected)."""
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.number) or arr.size == 0):
        raise MetricInputError(f"{name}: dtype {arr.dtype} is not numeric")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise MetricInputError(f"{name}: dtype {arr.dtype} is not real")
    if arr.ndim != 1:
        raise MetricInputError(f"{name}: shape {arr.shape} is not one value per seed or frame")
    return arr.astype(np.float64)


def _split_finite(arr: np.ndarray) -> tuple[np.ndarray, int, int]:
    n_nan = int(np.isnan(arr).sum())
    n_inf = int(np.isinf(arr).sum())
    return arr[np.isfinite(arr)], n_inf, n_nan


def mean_ci_over_seeds(values: Any, confidence: float = 0.95) -> MeanCI:
    """Mean over seeds with a Student-t confidence interval.

    ``values`` holds one number per seed (e.g. each seed's mean Blur Factor over its
    test frames); the seeds are independent, so the interval is
    ``mean +- t(1 - alpha/2, n - 1) * s / sqrt(n)`` with ``s`` the sample standard
    deviation (ddof=1).  It says how much the finding moves with the training seed,
    not how precise one seed's mean is (see :func:`block_bootstrap_ci`).

    Infinite and NaN values are left out and counted (``n_inf``, ``n_nan``), never
    averaged.  With one finite value the mean is that value and both bounds are NaN
    (no spread to estimate); with none, everything is NaN.

    Parameters
    ----------
    values : array_like
        One value per seed, 1-D.
    confidence : float, optional
        Coverage of the interval, in (0, 1).

    Returns
    -------
    MeanCI
        ``(mean, low, high, n, n_inf, n_nan)``.

    Examples
    --------
    >>> ci = mean_ci_over_seeds([1.0, 2.0, 3.0])      # mean 2, s = 1, t(0.975, 2) = 4.303
    >>> round(ci.mean, 6), round(ci.low, 4), round(ci.high, 4), ci.n
    (2.0, -0.4841, 4.4841, 3)
    >>> mean_ci_over_seeds([5.0, float("inf")])
    MeanCI(mean=5.0, low=nan, high=nan, n=1, n_inf=1, n_nan=0)
    """
    from scipy import stats

    level = _confidence(confidence)
    finite, n_inf, n_nan = _split_finite(_vector(values, "values"))
    n = int(finite.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0, n_inf, n_nan)
    mean = float(finite.mean())
    if n == 1:
        return MeanCI(mean, math.nan, math.nan, 1, n_inf, n_nan)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * float(finite.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n, n_inf, n_nan)


def default_block_length(n: int) -> int:
    """Default block length ``ceil(n ** (1/3))`` for a moving-block bootstrap of ``n`` values.

    For the variance of a mean the block length that minimises the mean squared error
    grows like ``n ** (1/3)`` (Hall, Horowitz & Jing, 1995, Biometrika 82); the constant
    depends on the autocorrelation, which 39 test frames cannot estimate well, so the
    rate alone is used.  Pass a longer ``block`` when frames stay correlated for longer:
    :func:`optimal_block` sizes one from the measured autocorrelation.

    Examples
    --------
    >>> [default_block_length(n) for n in (1, 8, 39, 3600)]
    [1, 2, 4, 16]
    """
    n = operator.index(n)
    if n < 1:
        return 1
    block = math.ceil(n ** (1 / 3))
    # Guard the float cube root (e.g. 64 ** (1/3) = 4.000000000000001).
    while block > 1 and (block - 1) ** 3 >= n:
        block -= 1
    return block


def _check_block(block: Any, n: int) -> int:
    try:
        value = operator.index(block)
    except TypeError:
        raise MetricInputError(f"block {block!r}: expected an int") from None
    if not 1 <= value <= max(n, 1):
        raise MetricInputError(f"block {block!r}: must be between 1 and the {n} values")
    return value


def _check_n_boot(n_boot: Any) -> int:
    try:
        value = operator.index(n_boot)
    except TypeError:
        raise MetricInputError(f"n_boot {n_boot!r}: expected an int") from None
    if value < 1:
        raise MetricInputError(f"n_boot {n_boot!r}: must be at least 1")
    return value


def block_bootstrap_means(values: Any, block: int, n_boot: int, seed: int | None = 0) -> np.ndarray:
    """Means of ``n_boot`` moving-block bootstrap resamples of a series of finite values.

    Each resample joins ``ceil(n / block)`` blocks of ``block`` consecutive values, each
    starting at a position drawn uniformly from ``0 .. n - block``, and keeps the first
    ``n`` values (the last block is cut short).  Deterministic for a given ``seed``.

    Parameters
    ----------
    values : array_like
        The series, 1-D, all finite.
    block : int
        Block length, 1 (the ordinary bootstrap) to ``n`` (every resample is the series).
    n_boot : int
        Number of resamples.
    seed : int or None, optional
        Seed of ``numpy.random.default_rng``; None draws fresh entropy.

    Returns
    -------
    ndarray
        ``n_boot`` float64 means.

    Examples
    --------
    >>> means = block_bootstrap_means([1.0, 2.0, 3.0, 4.0], block=4, n_boot=3)
    >>> means.tolist()                                   # one block: the whole series
    [2.5, 2.5, 2.5]
    """
    x = _vector(values, "values")
    if not np.isfinite(x).all():
        raise MetricInputError("values: contains NaN or infinite values")
    n = int(x.size)
    if n == 0:
        raise MetricInputError("values: empty")
    length = _check_block(block, n)
    count = _check_n_boot(n_boot)
    centre = float(x.mean())
    cum = np.concatenate([[0.0], np.cumsum(x - centre)])   # centred: exact block sums
    k = math.ceil(n / length)
    last = n - (k - 1) * length                             # length of the cut last block
    starts = np.random.default_rng(seed).integers(0, n - length + 1, size=(count, k))
    full = cum[starts[:, :-1] + length] - cum[starts[:, :-1]]
    tail = cum[starts[:, -1] + last] - cum[starts[:, -1]]
    return centre + (full.sum(axis=1) + tail) / n


def block_bootstrap_ci(per_frame_values: Any, block: int | None = None, n_boot: int = 2000,
                       seed: int | None = 0, confidence: float = 0.95) -> BootstrapCI:
    """Moving-block bootstrap confidence interval of the mean of per-frame values.

    Consecutive test frames are strongly correlated, so resampling single frames (the
    ordinary bootstrap) or ``std / sqrt(n)`` would make the interval far too narrow.
    Resampling blocks of consecutive frames (Künsch, 1989) keeps the correlation within
    each block; the interval is the percentile interval of the resampled means.  It
    measures how precisely one run's test frames pin down its mean, not how much the
    mean moves with the training seed (see :func:`mean_ci_over_seeds`).

    Superseded for the study's test frames: the default block ``ceil(n ** (1/3))`` is
    much shorter than their correlation, so the interval is too narrow
    (:func:`simulated_coverage`, docs/statistics.md).  Prefer :func:`segment_t_ci` or
    :func:`segment_bootstrap_ci` where the frames come in segments, and
    ``block=optimal_block(values)`` for one unbroken series.  Kept unchanged for its
    callers and the committed tables made with it.

    Infinite and NaN values are left out and counted; the remaining frames are treated
    as consecutive.  With fewer than two finite values the bounds are NaN.

    Parameters
    ----------
    per_frame_values : array_like
        One value per test frame, 1-D, in temporal order.
    block : int or None, optional
        Block length; None uses :func:`default_block_length` (``ceil(n ** (1/3))``: 4
        for 39 frames).
    n_boot : int, optional
        Number of bootstrap resamples.
    seed : int or None, optional
        Seed of the resampling: the same seed gives the same interval.
    confidence : float, optional
        Coverage of the interval, in (0, 1).

    Returns
    -------
    BootstrapCI
        ``(mean, low, high, n, n_inf, n_nan, block, n_boot)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(np.arange(40) / 4.0) + 1.0
    >>> ci = block_bootstrap_ci(x, seed=1)
    >>> ci.low < ci.mean < ci.high, ci.block, ci.n
    (True, 4, 40)
    >>> ci == block_bootstrap_ci(x, seed=1)               # deterministic for a seed
    True
    """
    level = _confidence(confidence)
    finite, n_inf, n_nan = _split_finite(_vector(per_frame_values, "per_frame_values"))
    n = int(finite.size)
    length = default_block_length(n) if block is None else _check_block(block, n)
    count = _check_n_boot(n_boot)
    if n == 0:
        return BootstrapCI(math.nan, math.nan, math.nan, 0, n_inf, n_nan, length, count)
    mean = float(finite.mean())
    if n == 1:
        return BootstrapCI(mean, math.nan, math.nan, 1, n_inf, n_nan, length, count)
    means = block_bootstrap_means(finite, length, count, seed)
    low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return BootstrapCI(mean, float(low), float(high), n, n_inf, n_nan, length, count)


def paired_test(a: Any, b: Any) -> PairedTest:
    """Wilcoxon signed-rank test that paired values ``a`` and ``b`` differ (two-sided).

    For two runs measured on the same test frames (e.g. per-frame BF of two losses):
    the test ranks the differences ``a - b`` and asks whether positive and negative
    ones balance.  It needs no normality, and pairing removes the frame-to-frame
    variation both runs share.  Consecutive frames are correlated, so the p-value
    overstates the evidence, by many orders of magnitude for the study's frames.
    Superseded by :func:`paired_segment_test`, which counts segments, not frames; kept
    unchanged for its callers and the committed tables made with it.

    ``scipy.stats.wilcoxon`` with its defaults: differences of 0 are dropped before
    ranking (Wilcoxon's rule); the p-value is exact for up to 50 pairs without ties or
    zeros, a full permutation test for up to 13 pairs with them, and the normal
    approximation otherwise.  Pairs with a NaN or infinity are left out and counted in
    ``n_dropped``.  When every difference is 0 there is no evidence of a difference:
    statistic 0, p-value 1.  With no usable pair everything is NaN.

    Parameters
    ----------
    a, b : array_like
        Paired values, 1-D, same length.

    Returns
    -------
    PairedTest
        ``(statistic, pvalue, n, n_dropped, n_zero, median_difference)``.

    Examples
    --------
    >>> r = paired_test([2.0, 3.0, 5.0, 7.0, 11.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    >>> r.statistic, r.pvalue, r.n, r.median_difference   # all 5 up: 2 / 2**5
    (0.0, 0.0625, 5, 4.0)
    """
    from scipy import stats

    x = _vector(a, "a")
    y = _vector(b, "b")
    if x.shape != y.shape:
        raise MetricInputError(f"a and b: lengths {x.size} and {y.size} differ")
    keep = np.isfinite(x) & np.isfinite(y)
    d = x[keep] - y[keep]
    n = int(d.size)
    n_dropped = int(x.size - n)
    if n == 0:
        return PairedTest(math.nan, math.nan, 0, n_dropped, 0, math.nan)
    n_zero = int(np.count_nonzero(d == 0))
    median = float(np.median(d))
    if n_zero == n:
        return PairedTest(0.0, 1.0, n, n_dropped, n_zero, median)
    res = stats.wilcoxon(d)
    return PairedTest(float(res.statistic), float(res.pvalue), n, n_dropped, n_zero, median)


def _normalise_verdicts(verdicts: Iterable[str]) -> list[str]:
    if isinstance(verdicts, str):
        raise MetricInputError("verdicts: expected a list of verdict strings, not one string")
    out = []
    for v in verdicts:
        key = v.strip().lower() if isinstance(v, str) else v
        if key not in VERDICTS:
            raise MetricInputError(f"verdict {v!r}: expected one of {', '.join(VERDICTS)}")
        out.append(key)
    return out


def verdict_counts(verdicts: Iterable[str]) -> dict[str, int]:
    """How many seeds gave each verdict, plus ``tested`` (holds or not) and ``total``.

    Examples
    --------
    >>> verdict_counts(["holds", "does not hold", "holds", "not tested"])
    {'holds': 2, 'does not hold': 1, 'not tested': 1, 'not meaningful': 0, 'tested': 3, 'total': 4}
    """
    keys = _normalise_verdicts(verdicts)
    counts = {v: keys.count(v) for v in VERDICTS}
    counts["tested"] = counts[HOLDS] + counts[DOES_NOT_HOLD]
    counts["total"] = len(keys)
    return counts


def holds_rate(verdicts: Iterable[str], unit: str = "seed") -> str:
    """A finding's verdicts over seeds as one phrase: ``"holds in 2 of 3 seeds"``.

    The rate counts only seeds where the finding was decided (``holds`` or ``does not
    hold``); seeds ``not tested`` (runs missing) or ``not meaningful`` (runs that do
    not interpolate) are named after it, e.g. ``"holds in 1 of 2 seeds (1 not
    tested)"``, never silently counted as failures.  Verdicts are matched ignoring case
    and surrounding spaces; any other string raises.  Counts: :func:`verdict_counts`.

    Parameters
    ----------
    verdicts : list of str
        One verdict per seed.
    unit : str, optional
        What each verdict is about, singular ("seed"; plural adds an "s").

    Returns
    -------
    str

    Examples
    --------
    >>> holds_rate(["holds", "does not hold", "holds"])
    'holds in 2 of 3 seeds'
    >>> holds_rate(["holds", "not tested", "not meaningful", "does not hold"])
    'holds in 1 of 2 seeds (1 not tested, 1 not meaningful)'
    >>> holds_rate(["not meaningful", "not meaningful"])
    'not meaningful in 2 seeds'
    """
    counts = verdict_counts(verdicts)

    def units(k: int) -> str:
        return f"{k} {unit}" if k == 1 else f"{k} {unit}s"

    others = [f"{counts[v]} {v}" for v in (NOT_TESTED, NOT_MEANINGFUL) if counts[v]]
    if counts["total"] == 0:
        return f"no {unit}s"
    if counts["tested"]:
        text = f"holds in {counts[HOLDS]} of {units(counts['tested'])}"
        return f"{text} ({', '.join(others)})" if others else text
    parts = [f"{v} in {units(counts[v])}" for v in (NOT_TESTED, NOT_MEANINGFUL) if counts[v]]
    return ", ".join(parts)


# =========================================================================== segments
#
# Consecutive test frames are so strongly correlated that a frame is not a unit of
# evidence; a contiguous block of test frames (a *segment*, or a shot) nearly is.  The
# functions below count, resample and test at that level, and check by simulation
# that the intervals they give cover the mean as often as they claim.

class EffectiveN(NamedTuple):
    """How many independent values a correlated series of per-frame values is worth."""

    n_frames: int                 #: finite values used
    n_segments: int               #: segments with at least one finite value
    n_effective: float            #: effective sample size of the mean
    lag1_autocorrelation: float   #: within-segment lag-1 autocorrelation (NaN: no pairs)
    n_lags: int                   #: lags summed before the first non-positive one


class SegmentBootstrapCI(NamedTuple):
    """A mean with its bootstrap interval over whole segments, and how it was computed."""

    mean: float
    low: float
    high: float
    n: int           #: finite values used
    n_inf: int       #: infinite values left out
    n_nan: int       #: NaN values left out
    n_segments: int  #: segments resampled (those with at least one finite value)
    n_boot: int      #: bootstrap resamples
    method: str      #: arch's interval method ("percentile", "bca", ...)


class SegmentCI(NamedTuple):
    """A mean with its cluster-robust Student-t interval over segments."""

    mean: float
    low: float
    high: float
    n: int           #: finite values used
    n_inf: int       #: infinite values left out
    n_nan: int       #: NaN values left out
    n_segments: int  #: segments with a finite value; the t quantile has n_segments - 1 df
    std_error: float  #: cluster-robust standard error of the mean


class SegmentPairedTest(NamedTuple):
    """A paired comparison of runs ``a`` and ``b`` with segments, not frames, as units."""

    n_segments: int          #: segments with at least one usable pair
    n_favouring: int         #: segments whose mean of ``a - b`` is above 0
    sign_p: float            #: two-sided exact sign test over segments (ties left out)
    wilcoxon_p: float        #: two-sided Wilcoxon signed-rank test over segment means
    mean_difference: float   #: mean of ``a - b`` over all usable pairs
    low: float               #: interval of ``mean_difference`` (segment bootstrap or t)
    high: float
    n_against: int           #: segments whose mean of ``a - b`` is below 0
    n: int                   #: usable pairs (both values finite)
    n_dropped: int           #: pairs with a NaN or an infinity, left out


class SimulatedCoverage(NamedTuple):
    """How often an interval method covered the true mean of simulated series."""

    coverage: float       #: fraction of intervals that contain the true mean
    low: float            #: exact (Clopper-Pearson) 95% interval of that fraction
    high: float
    n_series: int         #: simulated series
    mean_width: float     #: average interval width (the series have variance 1)
    mean_segments: float  #: contiguous test segments per series, on average
    n_frames: int         #: test frames per series
    method: str
    phi: float            #: lag-1 autocorrelation of the simulated AR(1) process


#: Interval methods :func:`simulated_coverage` knows by name.
COVERAGE_METHODS = ("segment_bootstrap", "segment_t", "block_bootstrap", "optimal_block",
                    "frame_t")
#: arch's interval methods that :func:`segment_bootstrap_ci` accepts.
SEGMENT_CI_METHODS = ("percentile", "basic", "norm", "bc", "bca")


def contiguous_segments(frames: Any, cuts: Any = None) -> np.ndarray:
    """Segment id of each frame: runs of adjacent frame indices not split by a cut.

    A new segment starts wherever two consecutive indices are not adjacent (a gap,
    e.g. a training block between two test blocks) or a cut lies between them; a cut
    at ``c`` separates frames ``c - 1`` and ``c`` (e.g. the first frame of a new shot).
    Ids count from 0 in frame order.  The interleaved split's test targets
    (:func:`blurutils.pairs.split_targets`) give one segment per run of test blocks.

    Parameters
    ----------
    frames : array_like of int
        Frame indices, 1-D, strictly increasing.
    cuts : array_like of int, optional
        Frame indices that start a new shot.

    Returns
    -------
    ndarray
        int64 segment ids, one per frame.

    Examples
    --------
    >>> contiguous_segments([3, 4, 5, 9, 10, 11, 12], cuts=[11]).tolist()
    [0, 0, 0, 1, 1, 2, 2]
    """
    f = _indices(frames, "frames")
    if f.size and np.any(np.diff(f) <= 0):
        raise MetricInputError("frames: must be strictly increasing frame indices")
    c = np.sort(_indices([] if cuts is None else cuts, "cuts"))
    new = np.zeros(f.size, dtype=bool)
    if f.size > 1:
        new[1:] = np.diff(f) > 1
        before = np.searchsorted(c, f, side="right")         # cuts at or before each frame
        new[1:] |= np.diff(before) > 0                       # a cut in (f[i-1], f[i]]
    return np.cumsum(new, dtype=np.int64)


def _indices(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise MetricInputError(f"{name}: expected a 1-D array of integer frame indices")
    return arr.astype(np.int64)


def _segment_codes(segments: Any, n: int) -> np.ndarray:
    """Segment labels as codes 0..k-1 (any labels: ints, strings), one per value."""
    if segments is None:
        raise MetricInputError("segments: required (see contiguous_segments)")
    labels = np.asarray(segments)
    if labels.ndim != 1 or labels.size != n:
        raise MetricInputError(f"segments: shape {labels.shape} does not match the {n} values")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise MetricInputError("segments: contains NaN or infinite labels")
    return np.unique(labels, return_inverse=True)[1].reshape(-1).astype(np.int64)


def effective_n(values: Any, segments: Any = None) -> EffectiveN:
    """Effective sample size of the mean of correlated per-frame values.

    ``n / (1 + 2 * sum(r_k))`` over lags ``k = 1, 2, ...`` up to (not including) the
    first ``r_k <= 0`` (the initial positive sequence), where ``r_k`` is the sample
    autocorrelation at lag ``k`` over the pairs of frames ``k`` apart *in the same
    segment*: deviations from the overall mean, summed over those pairs and divided
    by the sum of squared deviations (the usual divisor-``n`` estimate).  Without
    ``segments`` this is the textbook estimate for one series; with them, pairs that
    straddle two segments are not counted, i.e. segments are taken as independent, and
    a segment of ``L`` frames contributes ``L - k`` pairs at lag ``k`` (so short
    segments cannot claim long correlation).  Positions, not frame numbers, define the
    lag: pass the values of each segment in temporal order.

    ``lag1_autocorrelation`` is the lag-1 sum over the number of lag-1 pairs rather
    than over ``n``: an estimate of an AR(1) ``phi`` for :func:`simulated_coverage`.

    The estimate is what the number of frames is worth for a mean; compare it with the
    number of segments, which is what the segment bootstrap and the segment tests use
    as their sample size.  NaN and infinite values are left out of every sum (their
    pairs too), not counted in ``n_frames``.  A constant series has ``n_effective = n``.

    Parameters
    ----------
    values : array_like
        One value per frame, 1-D, in temporal order within each segment.
    segments : array_like, optional
        Segment label of each value (e.g. from :func:`contiguous_segments`); None: one
        series.

    Returns
    -------
    EffectiveN
        ``(n_frames, n_segments, n_effective, lag1_autocorrelation, n_lags)``.

    Examples
    --------
    >>> r = effective_n([1.0, 2.0, 1.0, 2.0, 1.0, 2.0])     # alternating: r_1 < 0
    >>> r.n_frames, r.n_effective, r.n_lags
    (6, 6.0, 0)
    """
    x = _vector(values, "values")
    codes = np.zeros(x.size, dtype=np.int64) if segments is None else \
        _segment_codes(segments, x.size)
    ok = np.isfinite(x)
    n = int(ok.sum())
    if n == 0:
        return EffectiveN(0, 0, math.nan, math.nan, 0)
    n_segments = int(np.unique(codes[ok]).size)
    d = np.where(ok, x - x[ok].mean(), 0.0)
    c0 = float(np.sum(d * d))
    if n == 1 or c0 == 0.0:
        return EffectiveN(n, n_segments, float(n), math.nan, 0)
    total, lag1, lags = 0.0, math.nan, 0
    for k in range(1, x.size):
        same = (codes[k:] == codes[:-k]) & ok[k:] & ok[:-k]
        if not same.any():
            break
        r = float(np.sum((d[k:] * d[:-k])[same])) / c0
        if k == 1:      # per pair, not per frame: the phi to simulate (simulated_coverage)
            lag1 = r * n / int(same.sum())
        if r <= 0:
            break
        total += r
        lags = k
    return EffectiveN(n, n_segments, n / (1.0 + 2.0 * total), lag1, lags)


def _pooled_mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of all frames of the drawn segments (arch calls this once per resample)."""
    return np.array([sums.sum() / counts.sum()])


def segment_bootstrap_ci(values: Any, segments: Any, n_boot: int = 2000,
                         confidence: float = 0.95, seed: int | None = 0,
                         method: str = "percentile") -> SegmentBootstrapCI:
    """Bootstrap interval of the mean of per-frame values, resampling whole segments.

    A cluster bootstrap: each resample draws as many segments as there are, with
    replacement, and its statistic is the mean of all frames of the drawn segments
    (each segment weighs by its frame count, as in the plain mean).  Segments far
    enough apart are close to independent while frames within one are not, so the
    segments, not the frames, are the units; no block length has to be chosen.  The
    resampling and the interval are :class:`arch.bootstrap.IIDBootstrap` applied to
    the per-segment (sum, count) pairs; ``method`` is passed to its ``conf_int``.
    Use :func:`simulated_coverage` to check the interval for the segment count at hand:
    with few segments every bootstrap interval is too narrow.

    Infinite and NaN values are left out and counted, never averaged; a segment with
    no finite value is dropped.  With one segment the bounds are NaN (no spread
    between segments to estimate); with none, everything is NaN.

    Parameters
    ----------
    values : array_like
        One value per frame, 1-D.
    segments : array_like
        Segment label of each value (e.g. from :func:`contiguous_segments`).
    n_boot : int, optional
        Number of bootstrap resamples.
    confidence : float, optional
        Coverage of the interval, in (0, 1).
    seed : int or None, optional
        Seed of the resampling: the same seed gives the same interval.
    method : str, optional
        One of :data:`SEGMENT_CI_METHODS` (arch's names).

    Returns
    -------
    SegmentBootstrapCI
        ``(mean, low, high, n, n_inf, n_nan, n_segments, n_boot, method)``.

    Examples
    --------
    >>> ci = segment_bootstrap_ci([1.0, 1.2, 3.0, 3.1, 2.0, float("inf")], [0, 0, 1, 1, 2, 2])
    >>> round(ci.mean, 4), ci.n, ci.n_inf, ci.n_segments, ci.low < ci.mean < ci.high
    (2.06, 5, 1, 3, True)
    """
    x = _vector(values, "values")
    codes = _segment_codes(segments, x.size)
    level = _confidence(confidence)
    count = _check_n_boot(n_boot)
    if method not in SEGMENT_CI_METHODS:
        raise MetricInputError(f"method {method!r}: expected one of "
                               f"{', '.join(SEGMENT_CI_METHODS)}")
    sums, counts, n, n_inf, n_nan = _segment_sums(x, codes)
    if n == 0:
        return SegmentBootstrapCI(math.nan, math.nan, math.nan, 0, n_inf, n_nan, 0, count,
                                  method)
    k = int(sums.size)
    mean = float(sums.sum() / n)
    if k == 1:
        return SegmentBootstrapCI(mean, math.nan, math.nan, n, n_inf, n_nan, 1, count, method)
    seg_means = sums / counts
    if np.all(seg_means == seg_means[0]):          # every resample has the same mean
        return SegmentBootstrapCI(mean, mean, mean, n, n_inf, n_nan, k, count, method)
    from arch.bootstrap import IIDBootstrap

    boot = IIDBootstrap(sums, counts, seed=seed)
    ci = boot.conf_int(_pooled_mean, reps=count, method=method, size=level)
    return SegmentBootstrapCI(mean, float(ci[0, 0]), float(ci[1, 0]), n, n_inf, n_nan, k,
                              count, method)


def _segment_sums(x: np.ndarray,
                  codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Per-segment sums and counts of the finite values; n, n_inf, n_nan."""
    ok = np.isfinite(x)
    inverse = np.unique(codes[ok], return_inverse=True)[1].reshape(-1)
    sums = np.bincount(inverse, weights=x[ok])
    counts = np.bincount(inverse).astype(np.float64)
    return sums, counts, int(ok.sum()), int(np.isinf(x).sum()), int(np.isnan(x).sum())


def segment_t_ci(values: Any, segments: Any, confidence: float = 0.95) -> SegmentCI:
    """Cluster-robust Student-t interval of the mean of per-frame values, segments as clusters.

    The mean of all frames with the cluster-robust (sandwich, CR1) standard error that
    treats segments as independent and frames within a segment as arbitrarily
    correlated, and a Student-t quantile with ``n_segments - 1`` degrees of freedom:
    statsmodels' ``OLS(values, 1).fit(cov_type="cluster", use_t=True)``.  The standard
    error is ``sqrt(k / (k - 1) * sum_s (S_s - n_s * mean) ** 2) / n`` for ``k``
    segments with sums ``S_s`` of ``n_s`` frames.  Same units and estimate as
    :func:`segment_bootstrap_ci`; the t quantile and the ``k / (k - 1)`` factor keep
    the interval honest when there are few segments, where a bootstrap's is too narrow
    (:func:`simulated_coverage`; docs/statistics.md).

    Infinite and NaN values are left out and counted, never averaged; a segment with
    no finite value is dropped.  With one segment the bounds are NaN; with none,
    everything is NaN.

    Examples
    --------
    >>> ci = segment_t_ci([1.0, 1.2, 3.0, 3.1, 2.0, float("nan")], [0, 0, 1, 1, 2, 2])
    >>> round(ci.mean, 4), ci.n, ci.n_nan, ci.n_segments, ci.low < ci.mean < ci.high
    (2.06, 5, 1, 3, True)
    """
    x = _vector(values, "values")
    codes = _segment_codes(segments, x.size)
    level = _confidence(confidence)
    sums, counts, n, n_inf, n_nan = _segment_sums(x, codes)
    k = int(sums.size)
    if n == 0:
        return SegmentCI(math.nan, math.nan, math.nan, 0, n_inf, n_nan, 0, math.nan)
    mean = float(sums.sum() / n)
    if k == 1:
        return SegmentCI(mean, math.nan, math.nan, n, n_inf, n_nan, 1, math.nan)
    seg_means = sums / counts
    if np.all(seg_means == seg_means[0]):          # no spread between segments
        return SegmentCI(mean, mean, mean, n, n_inf, n_nan, k, 0.0)
    from statsmodels.regression.linear_model import OLS

    finite = x[np.isfinite(x)]
    groups = np.unique(codes[np.isfinite(x)], return_inverse=True)[1].reshape(-1)
    fit = OLS(finite, np.ones(n)).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                      use_t=True)
    low, high = fit.conf_int(alpha=1.0 - level)[0]
    return SegmentCI(mean, float(low), float(high), n, n_inf, n_nan, k, float(fit.bse[0]))


def optimal_block(values: Any) -> int:
    """Moving-block length for :func:`block_bootstrap_ci`, sized from the autocorrelation.

    The Politis & White (2004; corrected by Patton, Politis & White, 2009) estimate of
    the block length that minimises the error of the bootstrap variance of a mean,
    from :func:`arch.bootstrap.optimal_block_length` (its ``circular`` column, which is
    also the moving-block bootstrap's), rounded up and kept between 1 and ``n``.  For a
    series without segment structure; where test frames come in segments, prefer
    :func:`segment_bootstrap_ci`.  Non-finite values are left out and the rest treated
    as consecutive, as :func:`block_bootstrap_ci` does.

    Examples
    --------
    >>> optimal_block([1.0, 2.0])     # too short to estimate anything
    1
    """
    x = _vector(values, "values")
    finite = x[np.isfinite(x)]
    n = int(finite.size)
    if n < 3 or np.all(finite == finite[0]):
        return 1
    from arch.bootstrap import optimal_block_length

    block = float(optimal_block_length(finite)["circular"].iloc[0])
    if not math.isfinite(block):
        return 1
    return int(min(max(math.ceil(block), 1), n))


def paired_segment_test(a: Any, b: Any, segments: Any, n_boot: int = 2000,
                        confidence: float = 0.95, seed: int | None = 0,
                        interval: str = "bootstrap") -> SegmentPairedTest:
    """Paired comparison of two runs on the same test frames, with segments as units.

    For each segment the mean of ``a - b`` over its frames; then an exact two-sided
    sign test (:func:`scipy.stats.binomtest`, p = 1/2) on how many segments favour
    ``a`` (mean difference above 0) against how many favour ``b`` (segments with a
    mean difference of exactly 0 are left out), a two-sided Wilcoxon signed-rank test
    (:func:`scipy.stats.wilcoxon`, its defaults) over the segment means, and the mean
    of ``a - b`` over all usable frames with its :func:`segment_bootstrap_ci` (or, with
    ``interval="t"``, its :func:`segment_t_ci`, which keeps its coverage with fewer
    segments; docs/statistics.md).  This
    replaces :func:`paired_test` for correlated test frames: per-frame p-values treat
    every frame as independent evidence, while a segment count says in how many
    independent-ish places the difference appears.

    Pairs with a NaN or an infinity are left out and counted in ``n_dropped``; a
    segment with no usable pair is dropped.  With no usable segment the p-values and
    the interval are NaN; when every segment mean is 0 both p-values are 1.

    Parameters
    ----------
    a, b : array_like
        Paired per-frame values, 1-D, same length.
    segments : array_like
        Segment label of each frame (e.g. from :func:`contiguous_segments`).
    n_boot, confidence, seed
        As for :func:`segment_bootstrap_ci` (``n_boot`` and ``seed`` unused with "t").
    interval : str, optional
        "bootstrap" (:func:`segment_bootstrap_ci`, percentile) or "t"
        (:func:`segment_t_ci`).

    Returns
    -------
    SegmentPairedTest
        ``(n_segments, n_favouring, sign_p, wilcoxon_p, mean_difference, low, high,
        n_against, n, n_dropped)``.

    Examples
    --------
    >>> r = paired_segment_test([2.0, 2.0, 3.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0, 2.0],
    ...                         [0, 0, 1, 1, 2])
    >>> r.n_segments, r.n_favouring, r.n_against, r.sign_p           # 2 of 3: p = 1
    (3, 2, 1, 1.0)
    """
    from scipy import stats

    if interval not in ("bootstrap", "t"):
        raise MetricInputError(f"interval {interval!r}: expected 'bootstrap' or 't'")
    x = _vector(a, "a")
    y = _vector(b, "b")
    if x.shape != y.shape:
        raise MetricInputError(f"a and b: lengths {x.size} and {y.size} differ")
    codes = _segment_codes(segments, x.size)
    keep = np.isfinite(x) & np.isfinite(y)
    d = x[keep] - y[keep]
    n = int(d.size)
    n_dropped = int(x.size - n)
    if n == 0:
        return SegmentPairedTest(0, 0, math.nan, math.nan, math.nan, math.nan, math.nan, 0,
                                 0, n_dropped)
    inverse = np.unique(codes[keep], return_inverse=True)[1].reshape(-1)
    seg = np.bincount(inverse, weights=d) / np.bincount(inverse)
    k = int(seg.size)
    up = int(np.count_nonzero(seg > 0))
    down = int(np.count_nonzero(seg < 0))
    if up + down == 0:
        sign_p = wilcoxon_p = 1.0
    else:
        sign_p = float(stats.binomtest(up, up + down, 0.5).pvalue)
        wilcoxon_p = float(stats.wilcoxon(seg).pvalue)
    if interval == "t":
        ci = segment_t_ci(d, codes[keep], confidence)
    else:
        ci = segment_bootstrap_ci(d, codes[keep], n_boot=n_boot, confidence=confidence,
                                  seed=seed)
    return SegmentPairedTest(k, up, sign_p, wilcoxon_p, ci.mean, ci.low, ci.high, down, n,
                             n_dropped)


def _count(value: Any, name: str) -> int:
    try:
        out = operator.index(value)
    except TypeError:
        raise MetricInputError(f"{name} {value!r}: expected an int") from None
    if out < 0:
        raise MetricInputError(f"{name} {value!r}: must not be negative")
    return out


def _k_of_n(k: Any, n: Any) -> tuple[int, int]:
    k, n = _count(k, "k"), _count(n, "n")
    if k > n:
        raise MetricInputError(f"k={k} is more than n={n}")
    return k, n


def binomial_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of a rate seen as ``k`` of ``n``.

    For "holds in k of n seeds": the range of true rates the count does not rule out,
    guaranteed to cover at least ``confidence`` (scipy's
    ``binomtest(k, n).proportion_ci(method="exact")``).  With ``n = 0`` nothing is
    known: ``(0.0, 1.0)``.

    Examples
    --------
    >>> [round(v, 4) for v in binomial_interval(0, 2)]     # 1 - 0.025 ** (1/2)
    [0.0, 0.8419]
    """
    from scipy import stats

    k, n = _k_of_n(k, n)
    level = _confidence(confidence)
    if n == 0:
        return 0.0, 1.0
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def binomial_upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound of a rate seen as ``k`` of ``n``.

    "Holds in 0 of 2 seeds" is what a finding that holds in most seeds still shows
    now and then: this is the largest rate the count rules out only at the
    ``1 - confidence`` level (Clopper-Pearson, scipy's ``binomtest(k, n,
    alternative="less")``).  With ``k = n`` or ``n = 0`` it is 1.

    Examples
    --------
    >>> round(binomial_upper_bound(0, 2), 4)               # 1 - 0.05 ** (1/2)
    0.7764
    """
    from scipy import stats

    k, n = _k_of_n(k, n)
    level = _confidence(confidence)
    if n == 0 or k == n:
        return 1.0
    ci = stats.binomtest(k, n, alternative="less").proportion_ci(confidence_level=level,
                                                                 method="exact")
    return float(ci.high)


def holds_rate_with_interval(verdicts: Iterable[str], unit: str = "seed",
                             confidence: float = 0.95) -> str:
    """:func:`holds_rate` with the exact interval of the rate: a count of seeds is small.

    ``"holds in 0 of 2 seeds (95% CI 0–84%)"``; seeds not tested or not meaningful are
    named after the interval (``"...; 1 not tested)"``) and are not part of ``n``.
    Without a decided seed the phrase is :func:`holds_rate`'s.

    Examples
    --------
    >>> holds_rate_with_interval(["does not hold", "does not hold"])
    'holds in 0 of 2 seeds (95% CI 0–84%)'
    >>> holds_rate_with_interval(["holds", "does not hold", "not tested"])
    'holds in 1 of 2 seeds (95% CI 1–99%; 1 not tested)'
    """
    level = _confidence(confidence)
    counts = verdict_counts(verdicts)
    if counts["tested"] == 0:
        return holds_rate(verdicts, unit)
    k, n = counts[HOLDS], counts["tested"]
    low, high = binomial_interval(k, n, level)
    others = [f"{counts[v]} {v}" for v in (NOT_TESTED, NOT_MEANINGFUL) if counts[v]]
    units = f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    note = f"{level * 100:g}% CI {low * 100:.0f}–{high * 100:.0f}%"
    details = f"{note}; {', '.join(others)}" if others else note
    return f"holds in {k} of {units} ({details})"


def _interleaved_test_frames(rng: np.random.Generator, n_frames: int, segment_length: int,
                             test_fraction: float) -> tuple[np.ndarray, int]:
    """Test frames as the interleaved split lays them out, and the clip's length.

    Blocks of ``segment_length`` frames; ``ceil(n_frames / segment_length)`` of them,
    drawn at random among ``test_fraction``-times as many, test (adjacent test blocks
    join into one segment); the rest of the clip is training frames between them.
    """
    n_test = math.ceil(n_frames / segment_length)
    n_blocks = max(n_test + 1, math.ceil(n_test / test_fraction))
    blocks = np.sort(rng.permutation(n_blocks)[:n_test])
    frames = (blocks[:, None] * segment_length + np.arange(segment_length)).reshape(-1)
    return frames[:n_frames], n_blocks * segment_length


def _coverage_interval(method: Any, values: np.ndarray, segments: np.ndarray, level: float,
                       n_boot: int, seed: int) -> tuple[float, float]:
    if callable(method):
        low, high = method(values, segments)
        return float(low), float(high)
    if method == "segment_bootstrap":
        ci = segment_bootstrap_ci(values, segments, n_boot, level, seed)
    elif method == "segment_t":
        ci = segment_t_ci(values, segments, level)
    elif method == "block_bootstrap":
        ci = block_bootstrap_ci(values, n_boot=n_boot, seed=seed, confidence=level)
    elif method == "optimal_block":
        ci = block_bootstrap_ci(values, block=optimal_block(values), n_boot=n_boot, seed=seed,
                                confidence=level)
    else:  # "frame_t"
        ci = mean_ci_over_seeds(values, level)
    return ci.low, ci.high


def simulated_coverage(method: Any, phi: float, n_frames: int, segment_length: int = 50,
                       n_series: int = 200, seed: int = 0, confidence: float = 0.95,
                       test_fraction: float = 0.3, n_boot: int = 1000) -> SimulatedCoverage:
    """Coverage of an interval for the mean, on simulated series laid out like the test set.

    Each of ``n_series`` replications simulates a stationary Gaussian AR(1) clip (mean 0,
    variance 1, lag-1 autocorrelation ``phi``: ``x_t = phi x_{t-1} + e_t``), lays
    ``n_frames`` test frames over it as the interleaved split does (blocks of
    ``segment_length`` frames drawn at random, a ``test_fraction`` of the clip, training
    blocks between them; segments by :func:`contiguous_segments`), computes the interval
    for the mean from the test frames and checks whether it contains 0.  A method whose
    coverage is well below ``confidence`` here is too narrow for real frames with that
    autocorrelation (take ``phi`` from :func:`effective_n`).

    ``method`` is one of :data:`COVERAGE_METHODS`: ``segment_bootstrap``
    (:func:`segment_bootstrap_ci`), ``segment_t`` (cluster-robust Student-t interval,
    :func:`segment_t_ci`), ``block_bootstrap`` (:func:`block_bootstrap_ci` with its
    default block), ``optimal_block`` (the same with :func:`optimal_block`), ``frame_t``
    (Student-t over frames, as if they were independent); or a callable
    ``(values, segments) -> (low, high)``.

    Returns
    -------
    SimulatedCoverage
        The fraction covered with its exact 95% interval, the mean width, and the mean
        number of segments.

    Examples
    --------
    >>> r = simulated_coverage("frame_t", 0.0, 100, 10, n_series=50)     # independent
    >>> r.n_series, r.mean_segments > 5, r.coverage > 0.8
    (50, True, True)
    """
    if not (callable(method) or method in COVERAGE_METHODS):
        raise MetricInputError(f"method {method!r}: expected a callable or one of "
                               f"{', '.join(COVERAGE_METHODS)}")
    try:
        rho = float(phi)
    except (TypeError, ValueError):
        raise MetricInputError(f"phi {phi!r}: not a number") from None
    if not -1.0 < rho < 1.0:
        raise MetricInputError(f"phi {phi!r}: must be in (-1, 1) (a stationary AR(1))")
    frames_n = _count(n_frames, "n_frames")
    length = _count(segment_length, "segment_length")
    series = _count(n_series, "n_series")
    if frames_n < 2 or length < 1 or series < 1:
        raise MetricInputError("n_frames >= 2, segment_length >= 1 and n_series >= 1 needed")
    if not 0.0 < float(test_fraction) < 1.0:
        raise MetricInputError(f"test_fraction {test_fraction!r}: must be in (0, 1)")
    level = _confidence(confidence)
    count = _check_n_boot(n_boot)
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    scale = math.sqrt(1.0 - rho * rho)
    covered, widths, n_segs = 0, [], []
    for _ in range(series):
        frames, clip = _interleaved_test_frames(rng, frames_n, length, float(test_fraction))
        shocks = rng.standard_normal(clip)
        shocks[1:] *= scale                            # x_0 ~ N(0, 1): stationary start
        x = lfilter([1.0], [1.0, -rho], shocks)
        segments = contiguous_segments(frames)
        low, high = _coverage_interval(method, x[frames], segments, level, count,
                                       int(rng.integers(2 ** 31)))
        covered += bool(low <= 0.0 <= high)
        widths.append(high - low)
        n_segs.append(int(segments[-1]) + 1)
    lo, hi = binomial_interval(covered, series, 0.95)
    name = getattr(method, "__name__", "custom") if callable(method) else method
    return SimulatedCoverage(covered / series, lo, hi, series, float(np.nanmean(widths)),
                             float(np.mean(n_segs)), frames_n, name, rho)
