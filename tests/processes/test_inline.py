"""Tests for running a process body inline in the calling process, detachable on interrupt."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.processes.context import CountingEnvironment
from sim.processes.inline import run_inline


def _body(
    env: simpy.Environment, steps: list[float], log: list[tuple[float, int]]
) -> Generator[simpy.Event, Any, str]:
    for k, step in enumerate(steps):
        yield env.timeout(step)
        log.append((env.now, k))
    return "done"


def test_inline_returns_the_body_value_with_two_events_fewer_than_a_process() -> None:
    counts = []
    for inline in (False, True):
        env = CountingEnvironment()
        log: list[tuple[float, int]] = []
        got: list[str] = []

        def caller(
            env: CountingEnvironment = env,
            log: list[tuple[float, int]] = log,
            got: list[str] = got,
            inline: bool = inline,
        ) -> Generator[simpy.Event, Any, None]:
            body = _body(env, [1.0, 2.0], log)
            got.append((yield from run_inline(env, body)) if inline else (yield env.process(body)))

        env.process(caller())
        env.run()
        assert got == ["done"]
        assert log == [(1.0, 0), (3.0, 1)]
        counts.append(env.events_processed)
    assert counts[0] - counts[1] == 2  # the body's own start and end


def test_a_failed_event_reaches_the_body() -> None:
    env = simpy.Environment()
    caught: list[str] = []

    def body() -> Generator[simpy.Event, Any, int]:
        event = env.event()
        event.fail(RuntimeError("refused"))
        try:
            yield event
        except RuntimeError as exc:
            caught.append(str(exc))
        yield env.timeout(1.0)
        return 7

    def caller() -> Generator[simpy.Event, Any, int]:
        return (yield from run_inline(env, body()))

    proc = env.process(caller())
    env.run()
    assert caught == ["refused"]
    assert proc.value == 7


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 20).map(lambda v: v / 4), min_size=1, max_size=8),
    st.integers(0, 60).map(lambda v: v / 4 + 0.125),
)
def test_an_interrupted_caller_leaves_the_body_to_finish_as_a_process_would(
    steps: list[float], interrupt_at: float
) -> None:
    """The body's steps happen at the same times whether it ran as a process of its own or
    inline in a caller interrupted part way (it carries on alone); the caller sees the
    interrupt at its time."""
    as_process: list[tuple[float, int]] = []
    env = simpy.Environment()
    env.process(_body(env, steps, as_process))
    env.run()

    inline: list[tuple[float, int]] = []
    seen: list[object] = []
    env = simpy.Environment()

    def caller() -> Generator[simpy.Event, Any, None]:
        try:
            seen.append((yield from run_inline(env, _body(env, steps, inline))))
        except simpy.Interrupt as stop:
            seen.append((env.now, stop.cause))

    proc = env.process(caller())

    def interrupter() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(interrupt_at)
        if proc.is_alive:
            proc.interrupt("deadline")

    env.process(interrupter())
    env.run()
    assert inline == as_process
    finished_at = sum(steps)
    assert seen == (["done"] if finished_at < interrupt_at else [(interrupt_at, "deadline")])


def test_a_body_exception_propagates_to_the_caller() -> None:
    env = simpy.Environment()

    def body() -> Generator[simpy.Event, Any, None]:
        yield env.timeout(1.0)
        raise ValueError("bad")

    def caller() -> Generator[simpy.Event, Any, None]:
        yield from run_inline(env, body())

    env.process(caller())
    with pytest.raises(ValueError, match="bad"):
        env.run()
