"""Tests for the alarm clock: deadlines that cost no event when called off."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.processes.alarms import Alarms, Timer
from sim.processes.context import CountingEnvironment


def test_an_alarm_rings_once_at_its_exact_time() -> None:
    env = CountingEnvironment()
    seen: list[float] = []
    at = 0.1 + 0.2  # a time `now + (at - now)` would not reproduce from another `now`
    env.run(until=0.07)
    env.alarms.at(at, lambda: seen.append(env.now))
    env.run()
    assert seen == [at]


def test_a_cancelled_alarm_never_rings_and_costs_no_event_when_others_ring_later() -> None:
    env = CountingEnvironment()
    seen: list[str] = []
    first = env.alarms.at(5.0, lambda: seen.append("first"))
    env.alarms.at(10.0, lambda: seen.append("second"))
    first.cancel()
    assert not first.pending
    env.run(until=100.0)
    assert seen == ["second"]
    # the timer armed for the first alarm rings once (finding it cancelled) and arms the
    # second: two timers for two alarms set, one of them called off after being armed (and
    # the run's own `until` event)
    assert env.events_processed == 3


def test_alarms_cancelled_before_the_timer_is_armed_cost_nothing() -> None:
    env = CountingEnvironment()
    seen: list[int] = []
    env.alarms.at(1.0, lambda: seen.append(0))
    later = [env.alarms.at(2.0 + k, lambda k=k: seen.append(k)) for k in range(1, 100)]
    for alarm in later[:-1]:
        alarm.cancel()
    env.run(until=1000.0)
    assert seen == [0, 99]
    # one timer per alarm that rang, none for the 98 others (and the `until` event)
    assert env.events_processed == 3


def test_an_alarm_set_earlier_than_the_armed_one_rings_first() -> None:
    env = CountingEnvironment()
    seen: list[tuple[float, str]] = []
    env.alarms.at(10.0, lambda: seen.append((env.now, "late")))
    env.alarms.at(3.0, lambda: seen.append((env.now, "early")))
    env.run()
    assert seen == [(3.0, "early"), (10.0, "late")]


def test_an_alarm_in_the_past_is_refused() -> None:
    env = CountingEnvironment()
    env.run(until=5.0)
    with pytest.raises(ValueError, match="before now"):
        env.alarms.at(4.0, lambda: None)
    with pytest.raises(ValueError, match="before now"):
        env.schedule_at(Timer(env), 4.0)


def test_an_alarm_interrupts_a_waiting_process_with_its_cause() -> None:
    env = CountingEnvironment()
    cause = object()
    got: list[tuple[float, object]] = []

    def waiter() -> Generator[simpy.Event, Any, None]:
        me = env.active_process
        assert me is not None
        env.alarms.at(env.now + 10.0, lambda: me.interrupt(cause))
        try:
            yield env.timeout(60.0)
        except simpy.Interrupt as stop:
            got.append((env.now, stop.cause))

    env.process(waiter())
    env.run()
    assert got == [(10.0, cause)]


def _cancelled(delay: float, fraction: float | None) -> bool:
    return fraction is not None and delay > 0


def _reference(plan: list[tuple[float, float, float | None]]) -> list[tuple[float, int]]:
    """What one ``Timeout`` per alarm gives: (time rung, alarm index), in time, then
    setting order (alarms set at one instant are set in index order)."""
    rung = sorted(
        (set_at + delay, set_at, k)
        for k, (set_at, delay, fraction) in enumerate(plan)
        if not _cancelled(delay, fraction)
    )
    return [(at, k) for at, _, k in rung]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 20).map(float),
            st.integers(0, 20).map(lambda v: v / 2),
            st.one_of(st.none(), st.sampled_from([0.25, 0.5, 0.75])),
        ),
        max_size=25,
    )
)
def test_alarms_ring_as_timeouts_do_less_the_cancelled(
    plan: list[tuple[float, float, float | None]],
) -> None:
    """Whatever is set when, in whichever lane, and called off when (strictly between its
    setting and its time), the alarms that ring are those a timeout per alarm would fire
    for, at the same times, in time then setting order, and the clock never uses more
    events than one per alarm set."""
    env = CountingEnvironment()
    seen: list[tuple[float, int]] = []
    alarms: Alarms = env.alarms
    for k, (set_at, delay, fraction) in enumerate(plan):

        def one(
            k: int = k,
            set_at: float = set_at,
            delay: float = delay,
            fraction: float | None = fraction,
        ) -> Generator[simpy.Event, Any, None]:
            yield env.timeout(set_at)
            # in the default lane or one of two others: lanes never change the order
            lane = alarms if k % 3 == 0 else alarms.lane(f"lane {k % 3}")
            alarm = lane.at(env.now + delay, lambda: seen.append((env.now, k)))
            if _cancelled(delay, fraction):
                assert fraction is not None
                yield env.timeout(delay * fraction)
                alarm.cancel()

        env.process(one())
    env.run()
    assert seen == _reference(plan)
    own = sum(3 + _cancelled(d, f) for _, d, f in plan)  # each process's start, waits, end
    timers = env.events_processed - 1 - own  # 1: the step that finds the queue empty
    assert timers <= len(plan)
    assert len(alarms) == 0  # nothing is left behind once all has rung


def test_a_lanes_heap_is_rebuilt_when_its_cancelled_alarms_outnumber_live_ones() -> None:
    """A status lapsing after a day and renewed every minute: the cancelled lapses would
    pile up until they reached the head; the clock holds at most about twice the live
    alarms instead, and the live ones still ring at their times."""
    env = CountingEnvironment()
    alarms = env.alarms
    lapses = alarms.lane("status lapses")
    rang: list[tuple[float, int]] = []
    held: list[int] = []

    def host(k: int) -> Generator[simpy.Event, Any, None]:
        lapse = None
        for _ in range(200):
            if lapse is not None:
                lapse.cancel()
            lapse = lapses.at(env.now + 86400.0, lambda: rang.append((env.now, k)))
            held.append(len(alarms))
            yield env.timeout(60.0)

    for k in range(20):
        env.process(host(k))
    env.run()
    assert max(held) <= 2 * 20 + Alarms.COMPACT_AT
    assert sorted(rang) == sorted((199 * 60.0 + 86400.0, k) for k in range(20))
