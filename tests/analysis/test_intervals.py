"""Interval arithmetic checked against point sampling."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.intervals import contains, first_outside, intersect, subtract, total, union

spans = st.lists(
    st.tuples(st.integers(0, 50), st.integers(1, 20)).map(
        lambda t: (float(t[0]), float(t[0] + t[1]))
    ),
    max_size=6,
)
POINTS = [x / 2 for x in range(0, 160)]


@given(spans, spans)
@settings(max_examples=200, deadline=None)
def test_set_operations_agree_with_membership(a: list, b: list) -> None:
    """Union, intersection and difference hold exactly the points the set operations say."""
    ua, ub = union(a), union(b)
    inside = lambda ss, t: any(s <= t < e for s, e in ss)  # noqa: E731
    for t in POINTS:
        assert contains(ua, t) == inside(a, t)
        assert contains(intersect(ua, ub), t) == (inside(a, t) and inside(b, t))
        assert contains(subtract(ua, ub), t) == (inside(a, t) and not inside(b, t))
    assert all(s < e for s, e in ua) and all(x[1] < y[0] for x, y in itertools.pairwise(ua))
    assert total(subtract(ua, ub)) + total(intersect(ua, ub)) == total(ua)


@given(spans, st.floats(0, 80))
@settings(max_examples=100, deadline=None)
def test_first_outside_is_outside_and_everything_before_is_inside(a: list, t: float) -> None:
    """first_outside(t) is not covered, and [t, it) is."""
    ua = union(a)
    end = first_outside(ua, t)
    assert not contains(ua, end)
    assert end == t or all(contains(ua, t + (end - t) * k / 10) for k in range(10))
