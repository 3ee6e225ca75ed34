"""A sweep cell's Kaplan-Meier figures, pooled over its replications.

A time-to-event figure (:data:`sim.analysis.durations.DURATION_METRICS`) is summarised for a
cell by one Kaplan-Meier estimate over every observation of its successful runs (read from
their ``durations.json``), never by averaging the runs' own medians or restricted means: a
run whose median does not exist (more than half censored) still contributes its
observations, and each observation counts once whatever run it came from.

The row of ``cells.csv`` for such a metric has ``estimator`` ``pooled Kaplan-Meier``; ``n``
is the number of pooled observations and ``censored`` how many of them were censored;
``mean`` holds the pooled figure; for ``km_median`` the interval is Brookmeyer and Crowley's
on the log-log scale (``ci_low``/``ci_high``, empty when open; no half-width, it is not
symmetric), for ``km_restricted_mean`` the estimate ± z·SE with Greenwood's standard error,
kept within [0, horizon]; ``ci_method`` names which. The pooled observations of one run are
not independent of each other (they share the run's estate), so these intervals are narrower
than intervals over runs would be; the per-run figures stay in ``index.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.analysis.durations import DURATION_METRICS, read_durations
from sim.analysis.survival import Durations, KaplanMeier, z_value

POOLED = "pooled Kaplan-Meier"
"""The ``estimator`` of a cell row pooled over replications."""
MEAN_OVER_RUNS = "mean over runs"
"""The ``estimator`` of a cell row that is the mean (Student-t interval) of the runs' values."""

BROOKMEYER_CROWLEY = "Brookmeyer-Crowley log-log"
"""The ``ci_method`` of a pooled median: Brookmeyer and Crowley's interval, Greenwood's
variance on the log-log scale."""
GREENWOOD = "Greenwood normal"
"""The ``ci_method`` of a pooled restricted mean: ± z Greenwood standard errors."""

POOLED_LEAVES = ("km_median", "km_median_ci_low", "km_median_ci_high", "km_restricted_mean")
"""The leaves of a time-to-event figure that a cell pools instead of averaging."""


def pooled_metric(metric: str) -> tuple[str, str] | None:
    """(figure, leaf) when ``metric`` is a Kaplan-Meier leaf of a time-to-event figure."""
    figure, _, leaf = metric.rpartition(".")
    return (figure, leaf) if figure in DURATION_METRICS and leaf in POOLED_LEAVES else None


def run_durations(out: Path, runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Durations]]:
    """The survival data of each run (index rows with the run folder's ``path`` in ``out``)."""
    return [read_durations(out / str(r["path"])) for r in runs]


def pooled_row(
    parts: Sequence[Mapping[str, Durations]], figure: str, leaf: str, horizon: float | None
) -> dict[str, Any]:
    """The ``cells.csv`` columns of one pooled Kaplan-Meier figure (see the module doc)."""
    data = Durations.pooled(p[figure] for p in parts if figure in p)
    km = KaplanMeier.fit(data.ended, data.censored)
    row: dict[str, Any] = {
        "estimator": POOLED,
        "n": len(data.ended) + len(data.censored),
        "censored": len(data.censored),
        "mean": None,
        "std": None,
        "ci_half_width": None,
        "ci_low": None,
        "ci_high": None,
        "ci_method": None,
    }
    if leaf == "km_restricted_mean":
        if horizon is None:
            return row
        value, se = km.restricted_mean(horizon), km.restricted_mean_se(horizon)
        row["mean"] = value
        if value is not None and se is not None:
            half = z_value(0.95) * se
            row.update(
                ci_half_width=half,
                ci_low=max(0.0, value - half),
                ci_high=min(horizon, value + half),
                ci_method=GREENWOOD,
            )
        return row
    low, high = km.median_interval()
    if leaf == "km_median":
        row.update(mean=km.median(), ci_low=low, ci_high=high, ci_method=BROOKMEYER_CROWLEY)
    else:
        row["mean"] = low if leaf == "km_median_ci_low" else high
    return row
