"""Kaplan-Meier figures for right-censored times, against estimates worked out by hand."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.survival import Durations, KaplanMeier, kaplan_meier, km_figures, time_to_event


def test_kaplan_meier_by_hand() -> None:
    """Events at 2 and 5, censored at 3 and 8: S = 3/4 after 2 (4 at risk), 3/8 after 5
    (2 at risk); median 5; restricted mean to the fixed horizon 6 = 2 + 0.75*3 + 0.375*1
    = 4.625, to 4 = 2 + 0.75*2 = 3.5."""
    times, surv = kaplan_meier([2.0, 5.0], [3.0, 8.0])
    assert times == [2.0, 5.0]
    assert surv == pytest.approx([0.75, 0.375])
    km = km_figures([2.0, 5.0], [3.0, 8.0], 6.0)
    assert km["km_median"] == 5.0
    assert km["km_restricted_mean"] == pytest.approx(4.625)
    assert km["km_horizon"] == 6.0
    assert km_figures([2.0, 5.0], [3.0, 8.0], 4.0)["km_restricted_mean"] == pytest.approx(3.5)


def test_restricted_mean_is_none_beyond_what_was_observed() -> None:
    """Horizon 10 beyond the last observation (8) with S = 3/8 there: the area up to 10 is
    unknown, so None; once S reaches 0 (every observation an event) any horizon is fine:
    events 1, 2, 6 give 1 + 2/3 + 4*(1/3) = 3 at horizon 100."""
    assert km_figures([2.0, 5.0], [3.0, 8.0], 10.0)["km_restricted_mean"] is None
    assert km_figures([1.0, 2.0, 6.0], [], 100.0)["km_restricted_mean"] == pytest.approx(3.0)


def test_restricted_mean_standard_error_by_greenwood() -> None:
    """Events 2 (4 at risk) and 5 (2 at risk), horizon 6: A_1 = area from 2 to 6 = 0.75*3 +
    0.375 = 2.625, A_2 = area from 5 to 6 = 0.375; Var = 2.625²/(4*3) + 0.375²/(2*1)
    = 0.57421875 + 0.0703125 = 0.64453125."""
    km = KaplanMeier.fit([2.0, 5.0], [3.0, 8.0])
    assert km.restricted_mean_se(6.0) == pytest.approx(math.sqrt(0.64453125))


def test_median_interval_by_brookmeyer_crowley_on_the_log_log_scale() -> None:
    """20 subjects, events at 1..18, censored at 19 and 20. At k events S = (20-k)/20 and
    Greenwood's sum telescopes: Σ 1/(n(n-1)) for n = 20..21-k is 1/(20-k) - 1/20. The band
    is S^exp(±1.96·√G/|ln S|). Lower end: at k = 4, S = .8, G = 1/80 gives .8^exp(1.96 *
    0.1118/0.2231) = 0.551 > .5; at k = 5, S = .75, G = 1/60 gives .75^exp(1.96 *
    0.1291/0.2877) = 0.49993 <= .5, so 5. Upper end: at k = 14, S = .3, G = 1/6 - 1/20
    gives .3^exp(-1.96 * 0.3416/1.204) = 0.5014 > .5; at k = 15, S = .25, G = 0.15 gives
    .25^exp(-1.96 * 0.3873/1.386) = 0.4485, so 15. Median: S = 10/20 at 10."""
    events = [float(k) for k in range(1, 19)]
    km = km_figures(events, [19.0, 20.0], 20.0)
    assert km["km_median"] == 10.0
    assert (km["km_median_ci_low"], km["km_median_ci_high"]) == (5.0, 15.0)


def test_median_interval_is_open_above_when_the_band_stays_high() -> None:
    """Events 1..6 of 8 (censored 7, 8): the upper band at the last event, S = .25 with
    G = Σ 1/(n(n-1)) for n = 8..3 = 1/2 - 1/8 = .375, is .25^exp(-1.96·√.375/ln 4) = .558,
    never 0.5 or below: no upper end. The lower band is .387 already at the first event."""
    km = km_figures([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [7.0, 8.0], 8.0)
    assert km["km_median"] == 4.0
    assert km["km_median_ci_low"] == 1.0 and km["km_median_ci_high"] is None


def test_without_censoring_km_is_the_empirical_distribution() -> None:
    """No censoring: the restricted mean to the largest time is the plain mean."""
    km = km_figures([1.0, 2.0, 6.0], [], 6.0)
    assert km["km_restricted_mean"] == pytest.approx(3.0)
    assert km["km_median"] == 2.0


def test_all_censored_has_no_median_and_survival_one() -> None:
    """Nothing happened: survival stays 1, no median, restricted mean = horizon (when the
    observations reach it), none when nothing was observed."""
    km = km_figures([], [4.0, 10.0], 10.0)
    assert km["km_median"] is None and km["km_restricted_mean"] == 10.0
    assert km_figures([], [], 10.0)["km_restricted_mean"] is None


def test_time_to_event_reports_censored_count_beside_the_event_mean() -> None:
    """The mean is over events only; censored observations are counted and used by KM:
    events 10, 20, censored 100, horizon 50: 10 + (2/3)*10 + (1/3)*30 = 26.67."""
    out = time_to_event(Durations.of([10.0, 20.0], [100.0]), 50.0)
    assert out["count"] == 2 and out["mean"] == 15.0 and out["censored"] == 1
    assert out["km_restricted_mean"] == pytest.approx(10 + 20 / 3 + 10)


def test_pooling_is_one_estimate_not_a_mean_of_medians() -> None:
    """Run A: events 1, 2, 3 (median 2); run B: event 10, censored 20, 20 (S = 2/3: no
    median). Averaging the medians that exist gives 2; pooled, 6 at risk: S = 5/6, 4/6,
    3/6 after 1, 2, 3, so the pooled median is 3."""
    a, b = Durations.of([1.0, 2.0, 3.0], []), Durations.of([10.0], [20.0, 20.0])
    assert km_figures(a.ended, a.censored, 20.0)["km_median"] == 2.0
    assert km_figures(b.ended, b.censored, 20.0)["km_median"] is None
    pooled = Durations.pooled([a, b])
    assert km_figures(pooled.ended, pooled.censored, 20.0)["km_median"] == 3.0


def test_against_lifelines() -> None:
    """Median, its interval and the restricted mean agree with lifelines (where installed)
    on random data whose longest time is censored."""
    lifelines = pytest.importorskip("lifelines")
    import numpy as np
    from lifelines.utils import median_survival_times, restricted_mean_survival_time

    rng = np.random.default_rng(7)
    for _ in range(30):
        n = int(rng.integers(5, 60))
        t, c = rng.exponential(100, n).round(), rng.exponential(150, n).round()
        obs, ended = np.minimum(t, c), t <= c
        if not ended.any() or ended[np.argmax(obs)]:
            continue
        fit = lifelines.KaplanMeierFitter().fit(obs, ended)
        low, high = median_survival_times(fit.confidence_interval_).to_numpy()[0]
        km = km_figures(list(obs[ended]), list(obs[~ended]), 80.0)
        ours = [km[k] for k in ("km_median", "km_median_ci_low", "km_median_ci_high")]
        assert [math.inf if v is None else v for v in ours] == [
            fit.median_survival_time_,
            low,
            high,
        ]
        expected = restricted_mean_survival_time(fit, t=80.0)
        assert km["km_restricted_mean"] == pytest.approx(expected, rel=1e-6)


@given(
    st.lists(st.floats(0.1, 100), min_size=1, max_size=20),
    st.lists(st.floats(0.1, 100), max_size=20),
    st.floats(0.1, 100),
)
@settings(max_examples=60, deadline=None)
def test_restricted_mean_lies_within_the_horizon(
    events: list[float], censored: list[float], horizon: float
) -> None:
    """Survival is non-increasing in [0, 1]; the restricted mean, where defined, lies in
    [0, horizon] and is defined whenever the horizon is within the observed times; the
    median's interval contains the median."""
    _, surv = kaplan_meier(events, censored)
    assert all(0 <= s <= 1 for s in surv)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(surv))
    km = km_figures(events, censored, horizon)
    area = km["km_restricted_mean"]
    if horizon <= max(events + censored):
        assert area is not None
    if area is not None:
        assert 0 <= area <= horizon + 1e-9
    low, median, high = km["km_median_ci_low"], km["km_median"], km["km_median_ci_high"]
    if median is not None:
        assert low is not None and low <= median
        assert high is None or median <= high


def test_normal_quantile_is_scipys_bit_for_bit() -> None:
    """z_value gives what scipy.stats.norm.ppf gives, to the bit: through the kept constant
    at 0.95 and through scipy.special elsewhere."""
    from scipy import stats as sps

    from sim.analysis.survival import Z_95, z_value

    for confidence in (0.5, 0.8, 0.9, 0.95, 0.99, 0.999):
        assert z_value(confidence) == float(sps.norm.ppf(0.5 + confidence / 2))
    assert float(sps.norm.ppf(0.975)) == Z_95


def test_t_quantile_is_scipys_bit_for_bit() -> None:
    """t_quantile gives what scipy.stats.t.ppf gives, to the bit, including p = 0."""
    from scipy import stats as sps

    from sim.analysis.stats import t_quantile

    for p in (0.0, 0.025, 0.5, 0.9, 0.95, 0.975, 0.995):
        for dof in (1, 2, 3, 4.5, 9, 19, 29, 99, 1e6):
            assert t_quantile(p, dof) == float(sps.t.ppf(p, dof))
