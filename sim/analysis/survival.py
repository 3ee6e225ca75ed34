"""Right-censored time-to-event figures: Kaplan-Meier estimates beside the plain statistics.

A duration that may not end (a drift's time to lapse, a repaired host's time to restore, an
HA restart's latency) is observed only if its event happens within the time it was watched;
one still open at the end (of its window or of the run) is *right-censored* at the time it
was watched. The mean over the events that happened is biased low when many are censored, so
every time-to-event figure also reports:

- ``censored``: how many observations were censored;
- ``km_median``: the Kaplan-Meier median, the smallest time at which the estimated survival
  S(t) (probability that the event has not yet happened) falls to 0.5 or below; None when it
  never does within the observed times;
- ``km_median_ci_low`` / ``km_median_ci_high``: its 95% confidence interval by the method of
  Brookmeyer and Crowley with Greenwood's variance on the log-log scale: the times at which
  the pointwise log-log band of S, ``S^exp(±z·σ/|log S|)`` with ``σ² = Σ d/(n(n-d))``,
  first falls to 0.5 or below (the lower band gives the low end, the upper band the high
  end); None when that band never falls that far (the interval is open above);
- ``km_restricted_mean``: the restricted mean, the area under S(t) from 0 to ``km_horizon``,
  a horizon fixed before the run (``metrics.rmst_horizon``), so runs and cells estimate the
  same quantity; None when S is not known up to the horizon (every observation ended before
  it and S had not reached 0);
- ``km_horizon``: that horizon.

A sweep cell pools the observations of its replications into one estimate
(:func:`km_figures` over :meth:`Durations.pooled`), never a mean of per-run medians.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from sim.analysis.stats import stats


@dataclass(frozen=True)
class Durations:
    """The observations of one time-to-event figure: the durations whose event happened
    (``ended``) and those censored at the time they were watched (``censored``)."""

    ended: tuple[float, ...] = ()
    censored: tuple[float, ...] = ()

    @classmethod
    def of(cls, ended: Iterable[float], censored: Iterable[float]) -> Durations:
        """Observations from two iterables of seconds."""
        return cls(tuple(float(x) for x in ended), tuple(float(x) for x in censored))

    @classmethod
    def pooled(cls, parts: Iterable[Durations]) -> Durations:
        """Every observation of ``parts`` (replications of one cell) as one sample."""
        ended: list[float] = []
        censored: list[float] = []
        for part in parts:
            ended.extend(part.ended)
            censored.extend(part.censored)
        return cls(tuple(ended), tuple(censored))


@dataclass(frozen=True)
class KaplanMeier:
    """The Kaplan-Meier estimate as its steps: at each distinct event time (ascending) the
    number at risk, the events, the survival just after it and Greenwood's cumulative sum
    ``Σ d/(n(n-d))`` up to it; ``followup`` is the largest observed time."""

    times: tuple[float, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    survival: tuple[float, ...]
    greenwood: tuple[float, ...]
    followup: float | None

    @classmethod
    def fit(cls, ended: Sequence[float], censored: Sequence[float]) -> KaplanMeier:
        """The estimate from event and censoring times (a censoring tied with an event
        counts as still at risk at that event, as usual)."""
        all_times = np.asarray([*ended, *censored], dtype=float)
        followup = float(all_times.max()) if all_times.size else None
        uniq, counts = np.unique(np.asarray(ended, dtype=float), return_counts=True)
        at_risk = [int(np.count_nonzero(all_times >= t)) for t in uniq]
        surv: list[float] = []
        green: list[float] = []
        s, g = 1.0, 0.0
        for n, d in zip(at_risk, counts.tolist(), strict=True):
            s *= 1.0 - d / n
            g = math.inf if n == d else g + d / (n * (n - d))
            surv.append(s)
            green.append(g)
        return cls(
            tuple(float(t) for t in uniq),
            tuple(at_risk),
            tuple(int(d) for d in counts),
            tuple(surv),
            tuple(green),
            followup,
        )

    def median(self) -> float | None:
        """The smallest event time at which S falls to 0.5 or below (None: never)."""
        return _first_at_most(self.times, self.survival, 0.5)

    def band(self, confidence: float = 0.95) -> tuple[list[float], list[float]]:
        """The pointwise log-log confidence band of S at each event time: (lower, upper).
        Where S is 0 the lower end is 0 and the upper one stays where it was (Greenwood's
        variance is infinite there; lifelines instead lets the upper end fall there, so its
        interval then ends at the last event time where this one stays open)."""
        z = z_value(confidence)
        lower: list[float] = []
        upper: list[float] = []
        last_upper = 1.0
        for s, g in zip(self.survival, self.greenwood, strict=True):
            if s <= 0.0:
                lower.append(0.0)
                upper.append(last_upper)
                continue
            if s >= 1.0:
                lower.append(1.0)
                upper.append(1.0)
                continue
            spread = z * math.sqrt(g) / abs(math.log(s))
            lower.append(s ** math.exp(spread))
            last_upper = s ** math.exp(-spread)
            upper.append(last_upper)
        return lower, upper

    def median_interval(self, confidence: float = 0.95) -> tuple[float | None, float | None]:
        """The Brookmeyer-Crowley interval of the median on the log-log scale: the first
        event times at which the lower and the upper band fall to 0.5 or below."""
        lower, upper = self.band(confidence)
        return (
            _first_at_most(self.times, lower, 0.5),
            _first_at_most(self.times, upper, 0.5),
        )

    def _areas(self, horizon: float) -> tuple[float, list[float]] | None:
        """The area under S on [0, horizon] and, per event time before the horizon, the area
        from it to the horizon; None when S is unknown somewhere before the horizon."""
        if self.followup is None:
            return None
        pieces: list[float] = []  # area of each constant piece of S before the horizon
        prev_t, prev_s = 0.0, 1.0
        for t, s in zip(self.times, self.survival, strict=True):
            if t >= horizon:
                break
            pieces.append(prev_s * (t - prev_t))
            prev_t, prev_s = t, s
        if prev_s > 0.0 and horizon > self.followup:
            return None  # S after the last observation is unknown
        pieces.append(prev_s * (horizon - prev_t))
        tails = [math.fsum(pieces[i:]) for i in range(1, len(pieces))]
        return math.fsum(pieces), tails

    def restricted_mean(self, horizon: float) -> float | None:
        """The area under S from 0 to ``horizon`` (None when S is unknown up to it)."""
        areas = self._areas(horizon)
        return None if areas is None else areas[0]

    def restricted_mean_se(self, horizon: float) -> float | None:
        """Standard error of :meth:`restricted_mean` by Greenwood's formula,
        ``Var = Σ A_i² d_i / (n_i (n_i - d_i))`` over event times before the horizon, with
        ``A_i`` the area under S from the i-th event time to the horizon."""
        areas = self._areas(horizon)
        if areas is None:
            return None
        var = math.fsum(
            a * a * d / (n * (n - d))
            for a, n, d in zip(areas[1], self.at_risk, self.events, strict=False)
            if n > d
        )
        return math.sqrt(var)


Z_95 = 1.959963984540054
"""``ndtri(0.975)``, the two-sided 95 % normal quantile, as SciPy computes it (a test checks
it bit for bit): every run's summary needs it, and SciPy's import would cost it 0.2 s."""


def z_value(confidence: float) -> float:
    """The two-sided standard normal quantile of ``confidence`` (1.96 for 0.95), by
    ``scipy.special.ndtri``, which ``scipy.stats.norm.ppf`` computes it with (importing
    ``scipy.special`` alone costs half a second less than ``scipy.stats``; 0.95, the
    summary's level, needs no import at all)."""
    if confidence == 0.95:
        return Z_95
    from scipy.special import ndtri

    return float(ndtri(0.5 + confidence / 2))


def _first_at_most(times: Sequence[float], values: Sequence[float], level: float) -> float | None:
    """The first time whose value is at most ``level``, allowing for rounding (a survival
    of exactly 0.5, such as 4/8, may be computed as 0.5000000000000001)."""
    at_most = level + _ROUNDING
    return next((t for t, v in zip(times, values, strict=True) if v <= at_most), None)


_ROUNDING = 1e-12


def kaplan_meier(
    events: Sequence[float], censored: Sequence[float]
) -> tuple[list[float], list[float]]:
    """The Kaplan-Meier survival function as its steps: the event times, ascending, and the
    estimated survival S just after each."""
    km = KaplanMeier.fit(events, censored)
    return list(km.times), list(km.survival)


def km_figures(
    events: Sequence[float], censored: Sequence[float], horizon: float
) -> dict[str, float | None]:
    """KM median with its Brookmeyer-Crowley interval, and the restricted mean at
    ``horizon`` (None where undefined, see the module doc)."""
    km = KaplanMeier.fit(events, censored)
    low, high = km.median_interval()
    return {
        "km_median": km.median(),
        "km_median_ci_low": low,
        "km_median_ci_high": high,
        "km_restricted_mean": km.restricted_mean(horizon),
        "km_horizon": float(horizon),
    }


def time_to_event(durations: Durations, horizon: float) -> dict[str, float | int | None]:
    """The statistics of the events that happened (count, mean, p50, p95, p99, max), the
    number censored, and the Kaplan-Meier figures over both."""
    out: dict[str, float | int | None] = dict(stats(durations.ended))
    out["censored"] = len(durations.censored)
    out.update(km_figures(durations.ended, durations.censored, horizon))
    return out
