"""Kaplan-Meier figures for right-censored times, against estimates worked out by hand."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.survival import kaplan_meier, km_figures, time_to_event


def test_kaplan_meier_by_hand() -> None:
    """Events at 2 and 5, censored at 3 and 8: S = 3/4 after 2 (4 at risk), 3/8 after 5
    (2 at risk); median 5; restricted mean to 8 = 2 + 0.75*3 + 0.375*3 = 5.375."""
    times, surv = kaplan_meier([2.0, 5.0], [3.0, 8.0])
    assert times == [2.0, 5.0]
    assert surv == pytest.approx([0.75, 0.375])
    km = km_figures([2.0, 5.0], [3.0, 8.0])
    assert km["km_median"] == 5.0
    assert km["km_restricted_mean"] == pytest.approx(5.375)
    assert km["km_horizon"] == 8.0


def test_without_censoring_km_is_the_empirical_distribution() -> None:
    """No censoring: the restricted mean to the largest time is the plain mean."""
    km = km_figures([1.0, 2.0, 6.0], [])
    assert km["km_restricted_mean"] == pytest.approx(3.0)
    assert km["km_median"] == 2.0


def test_all_censored_has_no_median_and_survival_one() -> None:
    """Nothing happened: survival stays 1, no median, restricted mean = horizon."""
    km = km_figures([], [4.0, 10.0])
    assert km == {"km_median": None, "km_restricted_mean": 10.0, "km_horizon": 10.0}
    assert km_figures([], [])["km_horizon"] is None


def test_time_to_event_reports_censored_count_beside_the_event_mean() -> None:
    """The mean is over events only; censored observations are counted and used by KM."""
    out = time_to_event([10.0, 20.0], [100.0])
    assert out["count"] == 2 and out["mean"] == 15.0 and out["censored"] == 1
    assert out["km_restricted_mean"] is not None and out["km_restricted_mean"] > 15.0


@given(
    st.lists(st.floats(0.1, 100), min_size=1, max_size=20),
    st.lists(st.floats(0.1, 100), max_size=20),
)
@settings(max_examples=60, deadline=None)
def test_restricted_mean_lies_between_event_mean_bounds(
    events: list[float], censored: list[float]
) -> None:
    """Survival is non-increasing in [0, 1] and the restricted mean within [0, horizon]."""
    _, surv = kaplan_meier(events, censored)
    assert all(0 <= s <= 1 for s in surv)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(surv))
    km = km_figures(events, censored)
    assert km["km_horizon"] is not None and km["km_restricted_mean"] is not None
    assert 0 <= km["km_restricted_mean"] <= km["km_horizon"] + 1e-9
