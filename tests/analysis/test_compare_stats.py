"""Intervals of comparisons: paired and Welch differences against SciPy, and intervals of
non-negative figures that never reach below 0."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst

from sim.analysis.stats import (
    BOOTSTRAP_METHOD,
    LOG_T_METHOD,
    NO_VARIATION,
    PAIRED,
    WELCH,
    nonneg_estimate,
    paired,
    welch,
)

A = [412.0, 430.0, 409.0, 441.0, 425.0]
B = [418.0, 433.0, 416.0, 445.0, 431.0]


def test_paired_interval_is_scipy_ttest_rel() -> None:
    """The paired interval is the confidence interval of scipy's ttest_rel(b, a)."""
    d = paired(list(zip(A, B, strict=True)))
    assert d is not None and d.test == PAIRED and d.n == 5
    ref = sst.ttest_rel(B, A)
    ci = ref.confidence_interval(0.95)
    assert d.diff == pytest.approx(5.2)  # mean of 6, 3, 7, 4, 6
    assert d.low == pytest.approx(ci.low) and d.high == pytest.approx(ci.high)
    assert d.dof == ref.df == 4
    assert d.excludes_zero  # every pair went up


def test_welch_interval_is_scipy_ttest_ind_unequal_variances() -> None:
    """Welch's interval is the one of scipy's ttest_ind(b, a, equal_var=False)."""
    d = welch(A, B)
    assert d is not None and d.test == WELCH
    ref = sst.ttest_ind(B, A, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert d.low == pytest.approx(ci.low) and d.high == pytest.approx(ci.high)
    assert d.dof == pytest.approx(ref.df)
    assert not d.excludes_zero  # the seeds' shared noise swamps +5.2 when unpaired


def test_paired_is_narrower_than_welch_on_shared_noise() -> None:
    """The same data paired by seed gives a narrower interval than Welch's."""
    dp, dw = paired(list(zip(A, B, strict=True))), welch(A, B)
    assert dp is not None and dw is not None
    assert dp.half_width is not None and dw.half_width is not None
    assert dp.half_width < dw.half_width


def test_constant_differences_have_no_interval_but_say_no_variation() -> None:
    """Every pair differing by exactly 2 (or both samples constant) is an exact difference,
    not a zero-width interval."""
    d = paired([(1.0, 3.0), (5.0, 7.0), (9.0, 11.0)])
    assert d is not None and d.no_variation and d.diff == 2.0
    assert d.low is None and d.high is None and not d.excludes_zero
    w = welch([4.0, 4.0], [6.0, 6.0])
    assert w is not None and w.no_variation and w.diff == 2.0 and w.half_width is None


def test_floating_point_noise_counts_as_no_variation() -> None:
    """Equal figures summed in another order (8.54088255507395 against 8.540882555074404)
    differ by 5e-14: no difference and no interval, not a 1e-13-wide one."""
    d = paired([(4.9, 4.9), (8.54088255507395, 8.540882555074404), (15.8, 15.8)])
    assert d is not None and d.no_variation and d.diff == 0.0
    assert nonneg_estimate([8.54088255507395, 8.540882555074404]).method == NO_VARIATION


def test_pairs_with_an_undefined_side_are_left_out() -> None:
    """A pair where either run left the figure undefined does not count."""
    d = paired([(1.0, 2.0), (None, 5.0), (2.0, None), (3.0, 5.0)])
    assert d is not None and d.n == 2 and d.diff == pytest.approx(1.5)


def test_log_t_interval_by_hand() -> None:
    """Values 1, e, e²: logs 0, 1, 2 (mean 1, variance 1); the modified Cox interval is
    exp(1 + 1/2 ± t(0.975, 2)·√(1/3 + 1/(2·2))) with t(0.975, 2) = 4.302653 (tables)."""
    est = nonneg_estimate([1.0, math.e, math.e**2])
    half = 4.302652729911275 * math.sqrt(1 / 3 + 1 / 4)
    assert est.method == LOG_T_METHOD
    assert est.low == pytest.approx(math.exp(1.5 - half))
    assert est.high == pytest.approx(math.exp(1.5 + half))
    assert est.mean == pytest.approx((1 + math.e + math.e**2) / 3)


def test_log_t_beside_the_mean_falls_back_to_the_bootstrap() -> None:
    """900 runs at 100 and 100 at 0.001 (mean about 90): the logs are far from normal and
    the log-scale interval lies wholly above 6,000; the bootstrap is used instead."""
    values = [100.0] * 900 + [0.001] * 100
    est = nonneg_estimate(values)
    assert est.method == BOOTSTRAP_METHOD
    assert est.low is not None and est.high is not None
    assert est.low <= 90.0001 <= est.high


def test_bootstrap_with_zeros_is_reproducible_and_within_the_values() -> None:
    """Values with a 0 take the percentile bootstrap from the named stream: the same
    interval every time, inside [min, max], around the mean."""
    values = [0.0, 3.0, 0.0, 5.0, 2.0, 8.0]
    first, second = nonneg_estimate(values), nonneg_estimate(values)
    assert first.method == BOOTSTRAP_METHOD and first == second
    assert first.low is not None and first.high is not None
    assert 0.0 <= first.low < 3.0 < first.high <= 8.0  # mean 18 / 6 = 3


def test_equal_values_are_exact() -> None:
    """Every replication equal: the mean is exact, named 'no variation'."""
    est = nonneg_estimate([77.0, 77.0, 77.0])
    assert est.method == NO_VARIATION and est.low == est.high == 77.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.just(0.0),
            st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False),
        ),
        min_size=2,
        max_size=30,
    )
)
def test_nonneg_interval_never_goes_below_zero(values: list[float]) -> None:
    """For any non-negative sample the interval's lower bound is at least 0 and the
    interval holds the mean."""
    est = nonneg_estimate(values)
    assert est.low is not None and est.high is not None and est.mean is not None
    assert est.low >= 0.0
    assert est.low <= est.mean <= est.high
