"""Descriptive statistics of one run, and confidence intervals over independent replications.

:func:`stats` gives count, mean, p50, p95, p99 and max of one run's values.

Each replication of a sweep cell is one independent run (its own seed), so a cell's figure
is estimated by the sample mean of the per-run values, with the two-sided Student-t
interval ``mean ± t(1 - α/2, n - 1) · s / √n`` (s the sample standard deviation). With one
replication the half-width is undefined (reported as None). Runs in which a metric is
undefined (for example no drift lapsed) are left out of that metric's sample, and ``n``
says how many remained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval over ``n`` replications."""

    n: int
    mean: float | None
    std: float | None
    half_width: float | None
    low: float | None
    high: float | None
    confidence: float = 0.95

    def as_row(self) -> dict[str, float | int | None]:
        """The estimate as table columns."""
        return {
            "n": self.n,
            "mean": self.mean,
            "std": self.std,
            "ci_half_width": self.half_width,
            "ci_low": self.low,
            "ci_high": self.high,
        }


def t_quantile(p: float, dof: float) -> float:
    """The ``p`` quantile of Student's t with ``dof`` degrees of freedom (SciPy is imported
    here, on first use, so that commands that never compute one start fast)."""
    from scipy import stats as st

    return float(st.t.ppf(p, dof))


@dataclass(frozen=True)
class Difference:
    """``mean(b) - mean(a)`` with Welch's confidence interval (unequal variances)."""

    diff: float
    half_width: float | None
    dof: float | None
    confidence: float = 0.95

    @property
    def low(self) -> float | None:
        return None if self.half_width is None else self.diff - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None else self.diff + self.half_width


def welch(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Difference | None:
    """The difference of means ``b - a`` with Welch's t interval: standard error
    ``√(s_a²/n_a + s_b²/n_b)``, degrees of freedom by Welch-Satterthwaite. None when either
    sample is empty; no interval when either has fewer than two values."""
    ea, eb = estimate(a, confidence), estimate(b, confidence)
    if ea.mean is None or eb.mean is None:
        return None
    diff = eb.mean - ea.mean
    if ea.std is None or eb.std is None:
        return Difference(diff, None, None, confidence)
    va, vb = ea.std**2 / ea.n, eb.std**2 / eb.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(diff, 0.0, float(ea.n + eb.n - 2), confidence)
    dof = (va + vb) ** 2 / (va**2 / (ea.n - 1) + vb**2 / (eb.n - 1))
    return Difference(diff, t_quantile(0.5 + confidence / 2, dof) * se, dof, confidence)


def estimate(values: Sequence[float | None], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval of the defined values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return Estimate(0, None, None, None, None, None, confidence)
    mean = math.fsum(xs) / n
    if n == 1:
        return Estimate(1, mean, None, None, None, None, confidence)
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    std = math.sqrt(var)
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Estimate(n, mean, std, half, mean - half, mean + half, confidence)


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
