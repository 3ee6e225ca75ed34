"""Exact step-function statistics and the capacity tracker (pure, no simulation)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.analysis.capacity import CapacityTracker, threshold_hosts
from sim.analysis.steps import StepFunction


def _sampled_min(changes: list[tuple[float, int]], every: float, end: float) -> int:
    """The minimum a sampler every ``every`` seconds would see of a step function given as
    (time, value) changes starting at time 0."""
    seen = []
    t = 0.0
    while t <= end:
        seen.append([v for at, v in changes if at <= t][-1])
        t += every
    return min(seen)


def test_an_outage_between_two_samples_is_missed_by_sampling_but_not_by_the_tracker() -> None:
    """Four hosts attested; esx-2 down from 910 s to 1153 s (243 s), between the samples at
    900 s and 1200 s: the samples never see fewer than 4, the tracker's minimum is 3 (at
    910 s, for 243 s), the time below 4 hosts is exactly 243 s and the mean over 1800 s is
    4 - 243/1800."""
    cap = CapacityTracker()
    for i in range(4):
        cap.add_host(f"esx-{i}", 1024)
    cap.configure(vm_memory=256, start=0.0)
    for i in range(4):
        cap.host_up(0.0, f"esx-{i}", True)
        cap.view(0.0, f"esx-{i}", True)
    cap.host_up(910.0, "esx-2", False)
    cap.host_up(1153.0, "esx-2", True)
    out = cap.summary(1800.0, threshold=1.0)
    assert _sampled_min([(0.0, 4), (910.0, 3), (1153.0, 4)], 300.0, 1800.0) == 4
    hosts = out["attested_hosts"]
    assert hosts["min"] == 3 and hosts["min_at_s"] == 910.0
    assert hosts["min_duration_s"] == 243.0 and hosts["min_longest_s"] == 243.0
    assert hosts["below_threshold_s"] == 243.0
    assert hosts["time_at_level_s"] == {"3": 243.0, "4": 1800.0 - 243.0}
    assert hosts["mean"] == pytest.approx(4 - 243 / 1800, rel=1e-12)
    # slots: 1024 // 256 = 4 per usable host, 16 in all, 12 during the outage
    assert out["encrypted_vm_slots"]["min"] == 12 and out["encrypted_vm_slots"]["max"] == 16


def test_a_host_in_maintenance_mode_counts_as_attested_but_not_usable() -> None:
    """Two attested hosts of 1000 MB, slots of 300 MB (3 each); esx-1 in maintenance mode
    from 100 s to 400 s: attested stays 2, usable is 1 for those 300 s, and the slots drop
    from 6 to 3; 500 MB in use on esx-0 from 200 s leaves it 1 slot (500 // 300)."""
    cap = CapacityTracker()
    cap.add_host("esx-0", 1000)
    cap.add_host("esx-1", 1000)
    cap.configure(vm_memory=300, start=0.0)
    for name in ("esx-0", "esx-1"):
        cap.host_up(0.0, name, True)
        cap.view(0.0, name, True)
    cap.maintenance(100.0, "esx-1", True)
    cap.memory_in_use(200.0, "esx-0", 500)
    cap.maintenance(400.0, "esx-1", False)
    out = cap.summary(500.0, threshold=1.0)
    assert out["attested_hosts"]["min"] == 2 and out["attested_hosts"]["below_threshold_s"] == 0
    assert out["usable_hosts"]["min"] == 1 and out["usable_hosts"]["below_threshold_s"] == 300
    # slots: 6 on [0,100), 3 on [100,200), 1 on [200,400), 1 + 3 = 4 on [400,500)
    slots = out["encrypted_vm_slots"]
    assert (slots["min"], slots["min_at_s"], slots["min_duration_s"]) == (1, 200.0, 200.0)
    assert slots["mean"] == pytest.approx((6 * 100 + 3 * 100 + 1 * 200 + 4 * 100) / 500)


def test_the_warm_up_clips_the_figures_and_changes_at_one_instant_leave_the_last() -> None:
    """Start of statistics at 100 s: a dip to 1 on [50, 150) counts for 50 s only; a host
    that goes down and up again at the same instant (300 s) never makes a level."""
    cap = CapacityTracker()
    cap.add_host("a", 10)
    cap.add_host("b", 10)
    cap.configure(vm_memory=1, start=100.0)
    for name in ("a", "b"):
        cap.host_up(0.0, name, True)
        cap.view(0.0, name, True)
    cap.host_up(50.0, "a", False)
    cap.host_up(150.0, "a", True)
    cap.host_up(300.0, "b", False)
    cap.host_up(300.0, "b", True)
    hosts = cap.summary(400.0, threshold=1.0)["attested_hosts"]
    assert hosts["time_at_level_s"] == {"1": 50.0, "2": 250.0}
    assert (hosts["min"], hosts["min_at_s"], hosts["min_duration_s"]) == (1, 100.0, 50.0)
    assert hosts["min_longest_s"] == 50.0


def test_the_threshold_is_a_fraction_of_hosts_rounded_up() -> None:
    """0.9 of 16 hosts is 14.4, so capacity is below it at 14 hosts or fewer (threshold 15);
    0.75 of 4 is exactly 3."""
    assert threshold_hosts(0.9, 16) == 15
    assert threshold_hosts(0.75, 4) == 3
    assert threshold_hosts(1.0, 10_000) == 10_000


def test_no_time_passed_gives_no_figures() -> None:
    """A step function read at its start has no minimum, mean or maximum."""
    out = StepFunction(5).summary(0.0, threshold=3)
    assert out["min"] is None and out["mean"] is None and out["time_at_level_s"] == {}


_STEPS = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 6)), max_size=30)


@given(_STEPS, st.integers(0, 400), st.integers(0, 60))
def test_step_statistics_equal_a_brute_force_over_unit_times(
    steps: list[tuple[int, int]], start: int, tail: int
) -> None:
    """For random integer-timed step sequences, the tracker's time at each level, mean,
    minimum (with when and how long) and maximum equal a second-by-second recount."""
    f = StepFunction(0, start=float(start))
    now, timeline = 0, []  # timeline[t] = value on [t, t + 1)
    value = 0
    for gap, new in steps:
        timeline += [value] * gap
        now += gap
        f.set(float(now), new)
        value = new
    timeline += [value] * tail
    now += tail
    seen = timeline[start:]
    out = f.summary(float(now), threshold=3)
    if not seen:
        assert out["min"] is None and out["time_at_level_s"] == {}
        return
    levels = {str(v): float(seen.count(v)) for v in sorted(set(seen))}
    low = min(seen)
    first = seen.index(low)
    longest = run = 0
    for v in seen:
        run = run + 1 if v == low else 0
        longest = max(longest, run)
    assert out["time_at_level_s"] == levels
    assert out["mean"] == pytest.approx(sum(seen) / len(seen), rel=1e-12)
    assert (out["min"], out["max"]) == (low, max(seen))
    assert out["min_at_s"] == float(start + first)
    assert out["min_duration_s"] == float(seen.count(low))
    assert out["min_longest_s"] == float(longest)
    assert out["below_threshold_s"] == float(sum(1 for v in seen if v < 3))
