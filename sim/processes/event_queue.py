"""A SimPy environment whose event queue is split in two by how far ahead an event is due.

SimPy keeps every scheduled event in one binary heap of ``(time, priority, id, event)``. In
a large estate that heap holds one entry per host waiting out its re-attestation period
(10,000 at 10,000 hosts), while nearly every event pushed and popped is due within
seconds: a message's network delay, a TPM command, a service time. Each push and pop then
walks the depth of the large heap, entries scattered over a heap of a gigabyte and more, and
that walk cost about 6 % of a 10,000-host run.

:class:`TieredEnvironment` keeps events due more than :data:`FAR_AHEAD` seconds ahead in a
second heap. The next event is the earlier of the two heads, compared as whole entries, so
events are processed in exactly SimPy's order (time, then priority, then scheduling order):
the split changes what a push and a pop cost, never which event comes next. It also counts
the events it processes (:attr:`~TieredEnvironment.events_processed`), and runs them in one
loop (:meth:`~TieredEnvironment.run`) rather than one ``step`` call per event.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import Any, cast

import simpy
from simpy.core import BoundClass, EmptySchedule, Infinity, StopSimulation
from simpy.events import NORMAL, URGENT, EventPriority

FAR_AHEAD = 60.0
"""Events due more than this many simulated seconds after they are scheduled go to the far
heap: the re-attestation periods (minutes) and lifetimes there, the messages and service
times (milliseconds to seconds) in the near one."""

_Entry = tuple[float, EventPriority, int, simpy.Event]


class _Until(simpy.Event):
    """The event a run until a time stops at: triggered from the start, as SimPy's own."""

    def __init__(self, env: simpy.Environment) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None


def _bind_early(env: simpy.Environment) -> None:
    """Give ``env`` its own bound ``timeout``, ``process``, ``event``, ``all_of`` ... as
    SimPy's ``Environment`` does for itself: SimPy binds only the attributes of the
    instance's own class, so a subclass's ``env.timeout`` went through a descriptor that
    makes a new bound method at every use (~10 times an attestation). The same callables,
    made once."""
    for name, attribute in vars(simpy.Environment).items():
        if type(attribute) is BoundClass:
            setattr(env, name, getattr(env, name))


class TieredEnvironment(simpy.Environment):
    """A SimPy environment with a near and a far event heap, merged exactly when popped,
    that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        _bind_early(self)
        self._far: list[_Entry] = []
        self.events_processed = 0
        """Steps taken: every event processed, plus a step that found nothing to process
        (as counting calls of SimPy's ``step`` would give)."""

    def schedule(
        self, event: simpy.Event, priority: EventPriority = NORMAL, delay: Any = 0
    ) -> None:
        """Schedule ``event`` with ``priority`` ``delay`` seconds from now (SimPy's)."""
        entry = (self._now + delay, priority, next(self._eid), event)
        heappush(self._far if delay > FAR_AHEAD else self._queue, entry)

    def _push_at(self, at: float, event: simpy.Event) -> None:
        """Schedule ``event`` with normal priority at the absolute time ``at`` (not before
        now), into the heap its distance ahead belongs to."""
        entry = (at, NORMAL, next(self._eid), event)
        heappush(self._far if at - self._now > FAR_AHEAD else self._queue, entry)

    def peek(self) -> float:
        """The time of the next scheduled event (infinity if there is none)."""
        near, far = self._queue, self._far
        if far and (not near or far[0] < near[0]):
            return far[0][0]
        return near[0][0] if near else Infinity

    def _pop(self) -> _Entry:
        near, far = self._queue, self._far
        if far and (not near or far[0] < near[0]):
            return heappop(far)
        if not near:
            raise EmptySchedule
        return heappop(near)

    def step(self) -> None:
        """Process the next event (``EmptySchedule`` if there is none)."""
        self.events_processed += 1
        self._now, _, _, event = self._pop()
        self._fire(event)

    def _fire(self, event: simpy.Event) -> None:
        """Call ``event``'s callbacks; as SimPy's ``step``, a ``StopSimulation`` puts the
        callbacks not yet called back on the event, scheduled again before anything else,
        and a failed event that nothing defused crashes the run."""
        callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
        assert callbacks is not None
        for i, callback in enumerate(callbacks):
            try:
                callback(event)
            except StopSimulation:
                event.callbacks = callbacks[i + 1 :]
                self.schedule(event, EventPriority(-1))
                raise
        if not event.ok and not event.defused:
            failure = cast(BaseException, event.value)
            raise type(failure)(*failure.args) from failure  # a copy, with a fresh traceback

    def run(self, until: Any = None) -> Any:
        """Process events until ``until`` (a time or an event; None: until none are left),
        as SimPy's ``run``, in one loop."""
        if until is not None:
            if not isinstance(until, simpy.Event):
                at = until if isinstance(until, int) else float(until)
                if at <= self._now:
                    raise ValueError(
                        f"until ({at}) must be greater than the current simulation time"
                    )
                until = _Until(self)
                self.schedule(until, URGENT, at - self._now)
            elif until.callbacks is None:
                return until.value
            until.callbacks.append(StopSimulation.callback)
        try:
            self._loop()
        except StopSimulation as exc:
            return exc.args[0]
        except EmptySchedule:
            if until is not None:
                assert not until.triggered
                raise RuntimeError(
                    f'No scheduled events left but "until" event was not triggered: {until}'
                ) from None
        return None

    def _loop(self) -> None:
        """Process events until an exception (``StopSimulation`` or ``EmptySchedule`` at
        the latest) ends the run. The common case (one heap's head is due, callbacks that
        return) is inlined; a failed event or a stop goes through :meth:`_fire`."""
        near, far = self._queue, self._far
        steps = 0
        try:
            while True:
                steps += 1
                if far and (not near or far[0] < near[0]):
                    self._now, _, _, event = heappop(far)
                elif near:
                    self._now, _, _, event = heappop(near)
                else:
                    raise EmptySchedule
                callbacks = event.callbacks
                if len(callbacks) == 1 and event.ok:
                    event.callbacks = None  # type: ignore[assignment]
                    try:
                        callbacks[0](event)
                    except StopSimulation:
                        event.callbacks = []
                        self.schedule(event, EventPriority(-1))
                        raise
                else:
                    self._fire(event)
        finally:
            self.events_processed += steps
