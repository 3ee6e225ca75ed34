"""Tests for the two-tier event queue: the same events, in SimPy's order, counted alike."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.processes.event_queue import FAR_AHEAD, TieredEnvironment


class _CountingSimPy(simpy.Environment):
    """Plain SimPy, counting calls of ``step``: what the tiered environment must match."""

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def step(self) -> None:
        self.events_processed += 1
        super().step()


# delays on both sides of FAR_AHEAD, ties included, so that events due together come
# from both heaps
_DELAYS = [0.0, 0.5, 1.0, FAR_AHEAD - 0.5, FAR_AHEAD, FAR_AHEAD + 0.5, 2 * FAR_AHEAD, 300.0]

_Plan = list[tuple[int, list[tuple[int, int]]]]


def _play(env: simpy.Environment, plan: _Plan) -> list[tuple[float, str]]:
    """Run ``plan`` on ``env``: processes that start after a delay, then wait on timeouts,
    on shared events another process succeeds (URGENT and NORMAL at one instant) or on a
    ``call_later``-style callback; returns (time, what) in the order things happened."""
    trace: list[tuple[float, str]] = []
    gates: list[simpy.Event] = [env.event() for _ in range(3)]

    def proc(k: int, start: int, steps: list[tuple[int, int]]) -> Generator[Any, Any, None]:
        yield env.timeout(_DELAYS[start])
        trace.append((env.now, f"{k} start"))
        for n, (kind, d) in enumerate(steps):
            delay = _DELAYS[d]
            if kind == 0:
                yield env.timeout(delay)
            elif kind == 1:  # open a gate others may be waiting on
                gate = gates[d % 3]
                if not gate.triggered:
                    gate.succeed(k)
                gates[d % 3] = env.event()
                yield env.timeout(0)
            elif kind == 2:  # wait on a gate, or a timeout, whichever first
                yield gates[d % 3] | env.timeout(delay)
            else:  # a bare callback, as call_later does
                tick = env.timeout(delay)
                tick.callbacks.append(lambda _e, k=k, n=n: trace.append((env.now, f"{k}.{n} cb")))
                yield tick
            trace.append((env.now, f"{k}.{n}"))

    for k, (start, steps) in enumerate(plan):
        env.process(proc(k, start, steps))
    env.run(until=10 * FAR_AHEAD)
    trace.append((env.now, f"peek {env.peek()}"))
    env.run()
    return trace


_plans = st.lists(
    st.tuples(
        st.integers(0, len(_DELAYS) - 1),
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, len(_DELAYS) - 1)), max_size=8),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(_plans)
def test_events_run_in_simpys_order_and_are_counted_alike(plan: _Plan) -> None:
    """Whatever mix of near and far timeouts, ties, gates and callbacks: the same things
    happen at the same times in the same order as in plain SimPy, with as many steps."""
    tiered, plain = TieredEnvironment(), _CountingSimPy()
    assert _play(tiered, plan) == _play(plain, plan)
    assert tiered.events_processed == plain.events_processed
    assert tiered.now == plain.now


def _both(check: Callable[[simpy.Environment], Any]) -> tuple[Any, Any]:
    return check(TieredEnvironment()), check(_CountingSimPy())


def test_far_events_wait_in_the_far_heap_and_come_out_in_order() -> None:
    env = TieredEnvironment()
    seen: list[float] = []
    for delay in (500.0, 0.25, FAR_AHEAD + 1, 3.0, 500.0):
        env.timeout(delay).callbacks.append(lambda e: seen.append(env.now))
    assert len(env._far) == 3 and len(env._queue) == 2  # the split is real
    assert env.peek() == 0.25
    env.run()
    assert seen == [0.25, 3.0, FAR_AHEAD + 1, 500.0, 500.0]
    assert env.peek() == float("inf")
    assert env.events_processed == 6  # five timeouts, and the step that found none left


def test_run_until_an_event_returns_its_value_and_a_processed_one_at_once() -> None:
    def check(env: simpy.Environment) -> tuple[Any, Any, float]:
        def worker() -> Generator[Any, Any, str]:
            yield env.timeout(2 * FAR_AHEAD)
            return "done"

        proc = env.process(worker())
        first = env.run(until=proc)
        return first, env.run(until=proc), env.now

    tiered, plain = _both(check)
    assert tiered == plain == ("done", "done", 2 * FAR_AHEAD)


def test_run_until_a_time_not_ahead_is_refused() -> None:
    env = TieredEnvironment()
    env.run(until=5)
    with pytest.raises(ValueError, match="greater than the current simulation time"):
        env.run(until=5)


def test_an_event_that_never_comes_is_a_runtime_error_as_in_simpy() -> None:
    for env in (TieredEnvironment(), _CountingSimPy()):
        env.timeout(FAR_AHEAD * 2)
        with pytest.raises(RuntimeError, match="No scheduled events left"):
            env.run(until=env.event())


def test_a_failed_event_crashes_the_run_unless_defused() -> None:
    def check(env: simpy.Environment) -> tuple[str, float]:
        def failing() -> Generator[Any, Any, None]:
            yield env.timeout(FAR_AHEAD * 3)
            raise KeyError("lost")

        env.process(failing())
        try:
            env.run()
        except KeyError as exc:
            return repr(exc.__cause__), env.now
        return "no crash", env.now

    tiered, plain = _both(check)
    assert tiered == plain == ("KeyError('lost')", FAR_AHEAD * 3)

    env = TieredEnvironment()
    failed = env.event()
    failed.fail(ValueError("seen"))
    failed.defused = True
    env.run()
    assert env.events_processed == 2


def test_a_stop_between_callbacks_leaves_the_rest_for_the_next_run() -> None:
    """``run(until=event)`` stops after the event's own callbacks up to the stop; the ones
    after it run first thing in the next run (SimPy puts them back, ahead of all)."""

    def check(env: simpy.Environment) -> tuple[list[str], int]:
        seen: list[str] = []
        gate = env.timeout(FAR_AHEAD + 5)
        gate.callbacks.append(lambda e: seen.append("before"))
        env.run(until=1.0)
        later = env.timeout(0)  # scheduled before the stop, still runs after the rest
        later.callbacks.append(lambda e: seen.append("other"))
        stop_at = env.event()
        gate.callbacks.append(lambda e: stop_at.succeed())
        env.run(until=gate)
        gate.callbacks.append(lambda e: seen.append("after"))  # appended after the stop
        seen.append("stopped")
        env.run()
        return seen, env.events_processed

    tiered, plain = _both(check)
    assert tiered == plain


def test_the_environments_event_makers_are_bound_once_like_simpys_own() -> None:
    """``env.timeout``, ``env.process`` ... are the instance's own, made once (SimPy binds
    them only for its own class, so a subclass made a bound method at every use), and make
    the same events."""
    import simpy.core

    from sim.processes.context import CountingEnvironment

    makers = [n for n, a in vars(simpy.Environment).items() if type(a) is simpy.core.BoundClass]
    assert {"timeout", "process", "event", "all_of", "any_of"} <= set(makers)
    for env in (TieredEnvironment(), CountingEnvironment()):
        for name in makers:
            assert name in vars(env) and getattr(env, name) is getattr(env, name)
        timeout = env.timeout(2.5, value="v")
        assert type(timeout) is simpy.Timeout and timeout.env is env
        assert env.run(until=timeout) == "v" and env.now == 2.5
