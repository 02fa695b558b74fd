"""Uncertainty for the study's findings: intervals over seeds and frames, paired tests,
verdicts as rates.

One seed gives one number per run; whether a finding holds can change with the seed,
and the per-frame standard deviation is not an uncertainty of the mean because
consecutive test frames are strongly correlated.  These pure functions give:

* :func:`mean_ci_over_seeds` — Student-t interval of the mean over per-seed means;
* :func:`block_bootstrap_ci` — moving-block bootstrap interval of a per-frame mean,
  which keeps the temporal correlation within blocks;
* :func:`paired_test` — Wilcoxon signed-rank test of two runs on the same test frames;
* :func:`holds_rate` and :func:`verdict_counts` — "holds in k of n seeds".

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
    rate alone is used.  Pass a longer ``block`` when frames stay correlated for longer.

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
    overstates the evidence somewhat; read it per seed, beside the seed rates.

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
