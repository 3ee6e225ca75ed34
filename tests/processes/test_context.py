"""Tests for what every SimPy component shares: the counting environment and timers."""

from __future__ import annotations

import pytest

from sim.processes.context import CountingEnvironment, call_later


def test_call_later_runs_the_action_once_at_its_time() -> None:
    """Each action runs once, at now + delay, in time order; a timer costs one event."""
    env = CountingEnvironment()
    seen: list[tuple[float, str]] = []
    call_later(env, 2.5, lambda: seen.append((env.now, "b")))
    call_later(env, 1.0, lambda: seen.append((env.now, "a")))
    call_later(env, 0.0, lambda: seen.append((env.now, "now")))
    env.run(until=3.0)
    assert seen == [(0.0, "now"), (1.0, "a"), (2.5, "b")]
    assert env.events_processed == 4  # the three timers and the run's own `until` event


def test_call_later_keeps_the_order_of_timers_due_together() -> None:
    """Timers due at the same instant run in the order they were set (as processes'
    timeouts would)."""
    env = CountingEnvironment()
    seen: list[int] = []
    for k in range(5):
        call_later(env, 1.0, lambda k=k: seen.append(k))
    env.run()
    assert seen == [0, 1, 2, 3, 4]


def test_an_exception_in_a_timer_ends_the_run() -> None:
    env = CountingEnvironment()

    def boom() -> None:
        raise RuntimeError("boom")

    call_later(env, 1.0, boom)
    with pytest.raises(RuntimeError, match="boom"):
        env.run()
    assert env.now == 1.0
