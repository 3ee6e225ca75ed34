"""Alarms: many deadlines, few SimPy events.

An attestation attempt that may time out, or a host status that lapses unless a newer report
renews it, sets a deadline that is nearly always called off before it comes: the answer
arrives within a second of a 10 s timeout; the next report arrives long before the last one
expires. A SimPy ``Timeout`` per deadline costs an event each, fired for nothing. The
:class:`Alarms` clock keeps the deadlines in a heap and one timer armed, at the earliest
deadline still set: a cancelled alarm costs no event, and the clock wakes once per alarm that
rings, plus once whenever every alarm due before the next live one had been cancelled (about
once per timeout period when attempts are short, instead of once per attempt).

An alarm rings at exactly its time: the timer is scheduled at the absolute time (``now +
(at - now)`` may land one unit in the last place away from ``at``), with SimPy's normal
priority, as a ``Timeout`` of the same time would be. Alarms due at the same time ring in the
order they were set. Only the order among events of the very same instant can differ from
one ``Timeout`` per deadline.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from heapq import heapify, heappop, heappush

import simpy
from simpy.events import NORMAL


class Timer(simpy.Event):
    """An event triggered from the start (as a ``Timeout``) that calls ``then`` when
    processed, for :meth:`AlarmEnvironment.schedule_at` to schedule at an absolute time."""

    def __init__(
        self, env: simpy.Environment, then: Callable[[simpy.Event], None] | None = None
    ) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        if then is not None:
            self.callbacks.append(then)


class AlarmEnvironment(simpy.Environment):
    """A SimPy environment that schedules events at absolute times, with the clock of the
    simulation's deadlines (:attr:`alarms`)."""

    def __init__(self) -> None:
        super().__init__()
        self.alarms = Alarms(self)

    def schedule_at(self, event: Timer, at: float) -> None:
        """Schedule the triggered ``event`` at the simulated time ``at`` (not before now),
        with normal priority."""
        if at < self.now:
            raise ValueError(f"cannot schedule at {at}, before now ({self.now})")
        heappush(self._queue, (at, NORMAL, next(self._eid), event))


class Alarm:
    """One deadline: ``action`` is called at ``at`` unless :meth:`cancel` was called first."""

    __slots__ = ("action", "at", "clock")

    def __init__(self, at: float, action: Callable[[], object], clock: Alarms) -> None:
        self.at = at
        self.action: Callable[[], object] | None = action
        self.clock: Alarms | None = clock  # None once out of the clock's heap

    def cancel(self) -> None:
        """Call the alarm off (nothing happens if it has rung already)."""
        if self.action is not None:
            self.action = None
            if self.clock is not None:
                self.clock.called_off()

    def leave(self) -> None:
        """The alarm left its clock's heap (it is due now)."""
        self.clock = None

    def take(self) -> Callable[[], object] | None:
        """The action to call now that the alarm rings (None if it was called off); the
        alarm is spent."""
        action, self.action = self.action, None
        return action

    @property
    def pending(self) -> bool:
        """Whether the alarm is still set (neither rung nor cancelled)."""
        return self.action is not None


class Alarms:
    """The alarms of one simulation, with SimPy timers armed only where needed: there is
    always a timer due at or before the earliest alarm still set, and never one more timer
    than alarms set (a timer is armed for an alarm only when no timer is due at or before
    it, so each alarm accounts for one timer at most).

    A cancelled alarm stays in the heap until it reaches the head, unless cancelled alarms
    come to outnumber the live ones (long deadlines renewed often, such as a status that
    lapses after a day and is renewed every five minutes): then the heap is rebuilt without
    them, so it never holds more than about twice the alarms still set."""

    COMPACT_AT = 1024
    """Cancelled alarms held before the heap may be rebuilt without them."""

    def __init__(self, env: AlarmEnvironment) -> None:
        self.env = env
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._timers: list[float] = []  # when the armed timers are due (a heap)
        self._cancelled = 0  # cancelled alarms still in the heap

    def __len__(self) -> int:
        """Alarms held (cancelled ones included until they reach the head of the heap or
        the heap is rebuilt)."""
        return len(self._heap)

    def called_off(self) -> None:
        """An alarm in the heap was cancelled: rebuild the heap without the cancelled ones
        once they are many and outnumber the live ones."""
        self._cancelled += 1
        if self._cancelled >= self.COMPACT_AT and 2 * self._cancelled > len(self._heap):
            live = []
            for entry in self._heap:
                if entry[2].action is not None:
                    live.append(entry)
                else:
                    entry[2].leave()
            heapify(live)
            self._heap = live
            self._cancelled = 0

    def at(self, when: float, action: Callable[[], object]) -> Alarm:
        """Call ``action`` at simulated time ``when`` (not before now) unless cancelled."""
        if when < self.env.now:
            raise ValueError(f"alarm at {when} is before now ({self.env.now})")
        alarm = Alarm(when, action, self)
        heappush(self._heap, (when, next(self._order), alarm))
        if not self._timers or when < self._timers[0]:
            self._arm(when)
        return alarm

    def _arm(self, when: float) -> None:
        heappush(self._timers, when)
        self.env.schedule_at(Timer(self.env, self._ring), when)

    def _ring(self, _timer: simpy.Event) -> None:
        now, heap = self.env.now, self._heap
        heappop(self._timers)  # this timer (timers ring in the order they are due)
        due: list[Alarm] = []
        while heap and (heap[0][0] <= now or heap[0][2].action is None):
            alarm = heappop(heap)[2]
            alarm.leave()
            if alarm.action is not None:
                due.append(alarm)
            else:
                self._cancelled -= 1
        for alarm in due:  # in time, then setting order
            action = alarm.take()
            if action is not None:  # an earlier action may have cancelled it
                action()
        heap = self._heap  # an action may have cancelled alarms, and the heap been rebuilt
        while heap and heap[0][2].action is None:
            heappop(heap)[2].leave()
            self._cancelled -= 1
        if heap and (not self._timers or heap[0][0] < self._timers[0]):
            self._arm(heap[0][0])
