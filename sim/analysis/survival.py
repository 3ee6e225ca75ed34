"""Right-censored time-to-event figures: Kaplan-Meier estimates beside the plain statistics.

A drift's time to lapse (or detection, or refusal) is observed only if the event happens
within the drift's window; a drift remediated first, or still open at the end of the run, is
*right-censored* at its window's length. The mean over the events that happened is biased
low when many drifts are censored, so every time-to-event figure also reports:

- ``censored``: how many observations were censored;
- ``km_median``: the Kaplan-Meier median, the smallest time at which the estimated survival
  S(t) (probability that the event has not yet happened) falls to 0.5 or below; None when it
  never does within the observed times (more than half censored early);
- ``km_restricted_mean``: the restricted mean, the area under S(t) from 0 to ``km_horizon``,
  the largest observed time (event or censoring): the mean time to event when times are
  capped at the horizon.

The estimate is scipy's ``scipy.stats.ecdf`` on ``CensoredData``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.analysis.stats import stats


def kaplan_meier(
    events: Sequence[float], censored: Sequence[float]
) -> tuple[list[float], list[float]]:
    """The Kaplan-Meier survival function as its steps: the event times, ascending, and the
    estimated survival S just after each."""
    if not events:
        return [], []
    from scipy import stats as st  # on first use: `vtasim validate` never needs SciPy

    data = st.CensoredData(uncensored=np.asarray(events, float), right=np.asarray(censored, float))
    sf = st.ecdf(data).sf
    times: list[float] = []
    surv: list[float] = []
    last = 1.0
    for t, p in zip(sf.quantiles, sf.probabilities, strict=True):
        if p < last:  # scipy lists censoring times too; keep the steps
            times.append(float(t))
            surv.append(float(p))
            last = float(p)
    return times, surv


def km_figures(events: Sequence[float], censored: Sequence[float]) -> dict[str, float | None]:
    """KM median, restricted mean and its horizon (None for no observations)."""
    if not events and not censored:
        return {"km_median": None, "km_restricted_mean": None, "km_horizon": None}
    horizon = max([*events, *censored])
    times, surv = kaplan_meier(events, censored)
    median = next((t for t, s in zip(times, surv, strict=True) if s <= 0.5), None)
    area, prev_t, prev_s = 0.0, 0.0, 1.0
    for t, s in zip(times, surv, strict=True):
        area += prev_s * (t - prev_t)
        prev_t, prev_s = t, s
    area += prev_s * (horizon - prev_t)
    return {"km_median": median, "km_restricted_mean": area, "km_horizon": horizon}


def time_to_event(
    events: Sequence[float], censored: Sequence[float]
) -> dict[str, float | int | None]:
    """The statistics of the events that happened (count, mean, p50, p95, p99, max), the
    number censored, and the Kaplan-Meier figures over both."""
    out: dict[str, float | int | None] = dict(stats(events))
    out["censored"] = len(censored)
    out.update(km_figures(events, censored))
    return out
