"""Descriptive statistics of one run, and confidence intervals over independent replications.

:func:`stats` gives count, mean, p50, p95, p99 and max of one run's values.

Each replication of a sweep cell is one independent run (its own seed), so a cell's figure
is estimated by the sample mean of the per-run values, with the two-sided Student-t
interval ``mean ± t(1 - α/2, n - 1) · s / √n`` (s the sample standard deviation). With one
replication the half-width is undefined (reported as None). Runs in which a metric is
undefined (for example no drift lapsed) are left out of that metric's sample, and ``n``
says how many remained.

Every summary figure is non-negative (a count, a time, a share), and a Student-t interval
of a skewed non-negative sample can reach below 0 (a time of -971 s). :func:`nonneg_estimate`
gives an interval that cannot: for strictly positive values a t interval on the log scale
(the modified Cox interval for the mean of a log-normal sample), for values that include 0
a percentile bootstrap of the mean drawn from the named stream :data:`BOOTSTRAP_STREAM`;
its ``method`` says which. Two cells are compared by :func:`paired` (a t interval on the
per-seed differences, for cells that share seeds under common random numbers) or
:func:`welch` (unequal variances) otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.rng import Streams

BOOTSTRAP_STREAM = "analysis.bootstrap"
"""The named stream (under root seed :data:`BOOTSTRAP_SEED`) the percentile bootstrap draws
its resamples from: an interval depends only on the values, never on what ran before."""
BOOTSTRAP_SEED = 0
BOOTSTRAP_RESAMPLES = 4000
"""Resamples of one percentile bootstrap."""

T_METHOD = "t"
LOG_T_METHOD = "log-t"
BOOTSTRAP_METHOD = "bootstrap"
NO_VARIATION = "no variation"
"""The ``method`` of an interval: Student's t, t on the log scale, percentile bootstrap, or
none needed (every value equal: the figure is exact)."""


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval over ``n`` replications; ``method`` says how the
    interval was made (:data:`T_METHOD`, :data:`LOG_T_METHOD`, :data:`BOOTSTRAP_METHOD`,
    :data:`NO_VARIATION`; empty without an interval)."""

    n: int
    mean: float | None
    std: float | None
    half_width: float | None
    low: float | None
    high: float | None
    confidence: float = 0.95
    method: str = T_METHOD

    def as_row(self) -> dict[str, float | int | str | None]:
        """The estimate as table columns (``ci_half_width`` is Student's t half-width)."""
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci_half_width": self.half_width,
            "ci_low": self.low,
            "ci_high": self.high,
            "ci_method": self.method,
        }


def t_quantile(p: float, dof: float) -> float:
    """The ``p`` quantile of Student's t with ``dof`` degrees of freedom.

    ``scipy.special.stdtrit`` is what ``scipy.stats.t.ppf`` computes it with, to the bit;
    importing ``scipy.special`` alone, on first use, costs half a second less than
    ``scipy.stats`` (which every run's summary would otherwise pay)."""
    if p == 0:  # stdtrit gives +inf here; the quantile is -inf (as t.ppf says)
        return -math.inf
    from scipy.special import stdtrit

    return float(stdtrit(dof, p))


NOISE = 1e-9
"""Relative spread below which values are taken as equal (floating-point noise: sums of
the same times in another order differ in the last digits)."""

WELCH = "Welch t"
PAIRED = "paired t"
SINGLE = "single runs"
"""The ``test`` of a :class:`Difference`."""


@dataclass(frozen=True)
class Difference:
    """``mean(b) - mean(a)`` with a confidence interval by ``test`` (:data:`WELCH`,
    :data:`PAIRED` or :data:`SINGLE`: no interval). ``n`` is the number of pairs (paired) or
    the smaller sample; ``no_variation`` says every run (or every pair's difference) was the
    same, so the difference is exact and no interval is given."""

    diff: float
    half_width: float | None
    dof: float | None
    confidence: float = 0.95
    test: str = WELCH
    n: int = 0
    no_variation: bool = False

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.diff - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.diff + self.half_width

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0 (a difference beyond the
        replications' noise); False without an interval."""
        low, high = self.low, self.high
        return low is not None and high is not None and (low > 0 or high < 0)


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference | None:
    """The difference of means ``b - a`` with Welch's t interval: standard error
    ``√(s_a²/n_a + s_b²/n_b)``, degrees of freedom by Welch-Satterthwaite. None when either
    sample is empty; no interval when either has fewer than two values, nor when neither
    varies (``no_variation``)."""
    ea, eb = estimate(a, confidence), estimate(b, confidence)
    if ea.mean is None or eb.mean is None:
        return None
    diff = eb.mean - ea.mean
    n = min(ea.n, eb.n)
    if ea.std is None or eb.std is None:
        return Difference(diff, None, None, confidence, SINGLE, n)
    va, vb = ea.std**2 / ea.n, eb.std**2 / eb.n
    se = math.sqrt(va + vb)
    scale = max(abs(ea.mean), abs(eb.mean))
    if se <= NOISE * scale:
        diff = 0.0 if abs(diff) <= NOISE * scale else diff
        return Difference(diff, None, None, confidence, WELCH, n, no_variation=True)
    dof = (va + vb) ** 2 / (va**2 / (ea.n - 1) + vb**2 / (eb.n - 1))
    return Difference(diff, t_quantile(0.5 + confidence / 2, dof) * se, dof, confidence, WELCH, n)


def paired(
    pairs: Sequence[tuple[float | None, float | None]], confidence: float = 0.95
) -> Difference | None:
    """The mean of the per-pair differences ``b - a`` with the Student-t interval
    ``d̄ ± t(1 - α/2, n - 1) · s_d / √n`` over the ``n`` pairs where both are defined (the
    interval of ``scipy.stats.ttest_rel(b, a)``). None without a pair; no interval with one
    pair, nor when every difference is the same (``no_variation``; differences within
    :data:`NOISE` of the values' magnitude are floating-point noise: the same, or 0)."""
    both = [(a, b) for a, b in pairs if a is not None and b is not None]
    est = estimate(_finite([b - a for a, b in both]), confidence)
    if est.mean is None:
        return None
    if est.std is None:
        return Difference(est.mean, None, None, confidence, PAIRED, est.n)
    scale = max(abs(v) for pair in both for v in pair)
    if est.std <= NOISE * scale:
        diff = 0.0 if abs(est.mean) <= NOISE * scale else est.mean
        return Difference(diff, None, None, confidence, PAIRED, est.n, no_variation=True)
    return Difference(est.mean, est.half_width, est.n - 1.0, confidence, PAIRED, est.n)


def estimate(values: Sequence[float | None], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval of the defined values."""
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return Estimate(0, None, None, None, None, None, confidence, "")
    mean = math.fsum(xs) / n
    if n == 1:
        return Estimate(1, mean, None, None, None, None, confidence, "")
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    std = math.sqrt(var)
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Estimate(n, mean, std, half, mean - half, mean + half, confidence)


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else math.inf


def log_t_interval(xs: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The modified Cox interval for the mean of strictly positive values, a t interval on
    the log scale: with ``y = ln x`` (mean ȳ, variance s²),
    ``exp(ȳ + s²/2 ± t(1 - α/2, n - 1) · √(s²/n + s⁴/(2(n - 1))))``. Both bounds are
    positive (the upper one may be infinite when the logs spread very widely)."""
    ys = [math.log(x) for x in xs]
    n = len(ys)
    mean = math.fsum(ys) / n
    var = math.fsum((y - mean) ** 2 for y in ys) / (n - 1)
    half = t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(var / n + var**2 / (2 * (n - 1)))
    centre = mean + var / 2
    return _exp(centre - half), _exp(centre + half)


def bootstrap_interval(xs: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean: the α/2 and 1 - α/2 quantiles of the
    means of :data:`BOOTSTRAP_RESAMPLES` resamples (with replacement) drawn from the named
    stream :data:`BOOTSTRAP_STREAM`. It lies within [min, max] of the values."""
    gen = Streams(BOOTSTRAP_SEED).stream(BOOTSTRAP_STREAM)
    arr = np.asarray(xs, dtype=float)
    picks = gen.integers(0, len(arr), size=(BOOTSTRAP_RESAMPLES, len(arr)))
    means = arr[picks].mean(axis=1)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return max(float(low), float(arr.min())), min(float(high), float(arr.max()))


def nonneg_estimate(values: Sequence[float | None], confidence: float = 0.95) -> Estimate:
    """Mean of non-negative values with an interval that stays non-negative and holds the
    mean: the log-scale t interval (:func:`log_t_interval`) when every value is positive
    and that interval holds the sample mean (values far from log-normal can put it beside
    the mean), else the percentile bootstrap (:func:`bootstrap_interval`, widened to the
    mean in the rare case its resamples miss it); no interval when every value is the same
    (``method`` :data:`NO_VARIATION`: the mean is exact, low = high = mean) or with one value.
    ``half_width`` stays Student's t half-width (the sequential replication rule's
    criterion). A sample with a negative value is not a non-negative figure: it keeps
    Student's t interval (``method`` :data:`T_METHOD`)."""
    base = estimate(values, confidence)
    xs = _finite(values)
    if base.std is None or base.mean is None or min(xs) < 0:
        return base
    if max(xs) - min(xs) <= NOISE * max(xs):
        return Estimate(base.n, base.mean, 0.0, 0.0, base.mean, base.mean, confidence, NO_VARIATION)
    method = LOG_T_METHOD
    low, high = log_t_interval(xs, confidence) if min(xs) > 0 else (math.inf, -math.inf)
    if not low <= base.mean <= high:
        low, high = bootstrap_interval(xs, confidence)
        low, high = min(low, base.mean), max(high, base.mean)
        method = BOOTSTRAP_METHOD
    return Estimate(base.n, base.mean, base.std, base.half_width, low, high, confidence, method)


def relative_change(diff: float, reference: float | None) -> float | None:
    """``diff`` as a fraction of ``|reference|`` (None when the reference is 0 or unknown)."""
    if reference is None or reference == 0:
        return None
    return diff / abs(reference)


def stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p95, p99 and max of ``values`` (None where there are none)."""
    if not values:
        return {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    arr = np.asarray(values, dtype=float)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "count": len(values),
        "mean": float(arr.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(arr.max()),
    }
