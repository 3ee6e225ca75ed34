"""Running a process body inside the calling process, detachable when the caller stops.

An attestation attempt sends one round to one trust-authority node and waits for it or for
its deadline. As a process of its own the round costs two SimPy events (its start and its
end) and the wait on it one more (the race with the deadline). :func:`run_inline` runs the
round's generator in the attempting process instead, event by event as ``yield from`` would.
If the caller is interrupted meanwhile (its deadline rang, or its host went down) the round
must go on regardless, as work already sent to a node does: the generator is handed to a new
process that waits for the very event the round was waiting for and carries on from there,
and the interrupt is raised in the caller. The round's results are then the same as had it
run as a process from the start; only the events of the same instant may be processed in
another order.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

import simpy

T = TypeVar("T")

Body = Generator[simpy.Event, Any, T]


def run_inline(env: simpy.Environment, body: Body[T]) -> Generator[simpy.Event, Any, T]:
    """Drive ``body`` in the calling process and return its value; if the caller is
    interrupted, ``body`` carries on in a process of its own and the interrupt propagates."""
    try:
        event = body.send(None)
        while True:
            try:
                value = yield event
            except simpy.Interrupt:
                env.process(_carry_on(body, event))
                raise
            except BaseException as failure:  # the event failed: the body sees its exception
                event = body.throw(failure)
                continue
            event = body.send(value)
    except StopIteration as stop:
        result: T = stop.value
        return result


def _carry_on(body: Body[T], event: simpy.Event) -> Generator[simpy.Event, Any, T]:
    """The rest of ``body``, from the moment it waits for ``event``."""
    try:
        while True:
            try:
                value = yield event
            except BaseException as failure:
                event = body.throw(failure)
                continue
            event = body.send(value)
    except StopIteration as stop:
        result: T = stop.value
        return result
