"""Alarms: many deadlines, few SimPy events.

An attestation attempt that may time out, or a host status that lapses unless a newer report
renews it, sets a deadline that is nearly always called off before it comes: the answer
arrives within a second of a 10 s timeout; the next report arrives long before the last one
expires. A SimPy ``Timeout`` per deadline costs an event each, fired for nothing. The
:class:`Alarms` clock keeps the deadlines in a heap and one timer armed, at the earliest
deadline still set: a cancelled alarm costs no event, and the clock wakes once per alarm that
rings, plus once whenever every alarm due before the next live one had been cancelled (about
once per timeout period when attempts are short, instead of once per attempt).

Deadlines of one kind share a lane (:class:`AlarmLane`), a heap of its own: the attempt
timeouts set and called off every second then never walk the heap of 100,000 VM lifetimes
(at 10,000 hosts, popping from one heap of all deadlines took 3 % of the run). The lanes
share one setting order and one set of timers, so lanes change what an alarm costs, never
when or in which order alarms ring.

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

from sim.processes.event_queue import TieredEnvironment

ATTEMPT_TIMEOUTS = "attempt-timeouts"
"""The lane of the attestation attempts' timeouts (seconds ahead, nearly all called off)."""
STATUS_LAPSES = "status-lapses"
"""The lane of the vCenters' status lapses (one per host, renewed by each report)."""
VM_LIFETIMES = "vm-lifetimes"
"""The lane of the VMs' power-offs at the end of their lifetimes (one per running VM)."""


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


class AlarmEnvironment(TieredEnvironment):
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
        self._push_at(at, event)


class Alarm:
    """One deadline: ``action`` is called at ``at`` unless :meth:`cancel` was called first."""

    __slots__ = ("action", "at", "lane")

    def __init__(self, at: float, action: Callable[[], object], lane: AlarmLane) -> None:
        self.at = at
        self.action: Callable[[], object] | None = action
        self.lane: AlarmLane | None = lane  # None once out of its lane's heap

    def cancel(self) -> None:
        """Call the alarm off (nothing happens if it has rung already)."""
        if self.action is not None:
            self.action = None
            if self.lane is not None:
                self.lane.called_off()

    def leave(self) -> None:
        """The alarm left its lane's heap (it is due now)."""
        self.lane = None

    def take(self) -> Callable[[], object] | None:
        """The action to call now that the alarm rings (None if it was called off); the
        alarm is spent."""
        action, self.action = self.action, None
        return action

    @property
    def pending(self) -> bool:
        """Whether the alarm is still set (neither rung nor cancelled)."""
        return self.action is not None


_Entry = tuple[float, int, Alarm]


class AlarmLane:
    """One kind of deadline of a clock (attempt timeouts, status lapses, VM lifetimes), in a
    heap of its own: a lane's heap stays as small as the deadlines of its kind, so the many
    short deadlines set and called off every second never walk the heap of the 100,000
    VM lifetimes. Alarms are set through the clock's order, so alarms of all lanes ring in
    time, then setting, order.

    A cancelled alarm stays in the heap until it reaches the head, unless cancelled alarms
    come to outnumber the live ones (long deadlines renewed often, such as a status that
    lapses after a day and is renewed every five minutes): then the heap is rebuilt without
    them, so it never holds more than about twice the alarms still set."""

    __slots__ = ("_cancelled", "clock", "heap")

    def __init__(self, clock: Alarms) -> None:
        self.clock = clock
        self.heap: list[_Entry] = []
        self._cancelled = 0  # cancelled alarms still in the heap

    def __len__(self) -> int:
        return len(self.heap)

    def at(self, when: float, action: Callable[[], object]) -> Alarm:
        """Call ``action`` at simulated time ``when`` (not before now) unless cancelled."""
        clock = self.clock
        if when < clock.env.now:
            raise ValueError(f"alarm at {when} is before now ({clock.env.now})")
        alarm = Alarm(when, action, self)
        heappush(self.heap, (when, next(clock.order), alarm))
        if not clock.timers or when < clock.timers[0]:
            clock.arm(when)
        return alarm

    def called_off(self) -> None:
        """An alarm in the heap was cancelled: rebuild the heap without the cancelled ones
        once they are many and outnumber the live ones."""
        self._cancelled += 1
        if self._cancelled >= Alarms.COMPACT_AT and 2 * self._cancelled > len(self.heap):
            live = []
            for entry in self.heap:
                if entry[2].action is not None:
                    live.append(entry)
                else:
                    entry[2].leave()
            heapify(live)
            self.heap = live
            self._cancelled = 0

    def take_due(self, now: float, due: list[_Entry]) -> None:
        """Move the alarms due by ``now`` to ``due``, dropping the cancelled ones met on
        the way (up to the first live alarm not yet due)."""
        heap = self.heap
        while heap and (heap[0][0] <= now or heap[0][2].action is None):
            entry = heappop(heap)
            entry[2].leave()
            if entry[2].action is not None:
                due.append(entry)
            else:
                self._cancelled -= 1

    def next_live(self) -> float | None:
        """When the earliest alarm still set is due (None: none is), once the cancelled
        alarms at the head are dropped."""
        heap = self.heap
        while heap and heap[0][2].action is None:
            heappop(heap)[2].leave()
            self._cancelled -= 1
        return heap[0][0] if heap else None


class Alarms:
    """The alarms of one simulation, in lanes (:class:`AlarmLane`), with SimPy timers armed
    only where needed: there is always a timer due at or before the earliest alarm still
    set, and never one more timer than alarms set (a timer is armed for an alarm only when
    no timer is due at or before it, so each alarm accounts for one timer at most)."""

    COMPACT_AT = 1024
    """Cancelled alarms a lane holds before its heap may be rebuilt without them."""

    def __init__(self, env: AlarmEnvironment) -> None:
        self.env = env
        self.order = itertools.count()  # setting order, shared by the lanes
        self.timers: list[float] = []  # when the armed timers are due (a heap)
        self._lanes: dict[str, AlarmLane] = {}
        self._default = self.lane("")

    def __len__(self) -> int:
        """Alarms held (cancelled ones included until they reach the head of their lane's
        heap or the heap is rebuilt)."""
        return sum(len(lane) for lane in self._lanes.values())

    def lane(self, name: str) -> AlarmLane:
        """The lane ``name`` (made on first use): set deadlines of one kind there."""
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = AlarmLane(self)
        return lane

    def at(self, when: float, action: Callable[[], object]) -> Alarm:
        """Call ``action`` at simulated time ``when`` (not before now) unless cancelled (in
        the clock's default lane)."""
        return self._default.at(when, action)

    def arm(self, when: float) -> None:
        """Arm a timer for ``when`` (no timer is due at or before it)."""
        heappush(self.timers, when)
        self.env.schedule_at(Timer(self.env, self._ring), when)

    def _ring(self, _timer: simpy.Event) -> None:
        now = self.env.now
        heappop(self.timers)  # this timer (timers ring in the order they are due)
        due: list[_Entry] = []
        lanes = self._lanes.values()
        for lane in lanes:
            lane.take_due(now, due)
        if len(due) > 1:
            due.sort()  # in time, then setting order, across lanes
        for entry in due:
            action = entry[2].take()
            if action is not None:  # an earlier action may have cancelled it
                action()
        heads = [t for t in (lane.next_live() for lane in lanes) if t is not None]
        if heads:
            first = min(heads)
            if not self.timers or first < self.timers[0]:
                self.arm(first)
