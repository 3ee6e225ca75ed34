"""A queueing service: c parallel workers, a FIFO queue and a service-time distribution.

The Attestation Service, the Key Provider Service, the status endpoint and each KMS server
are instances. The service keeps two time-weighted levels in the recorder,
``<name>.busy`` (workers in use, with the capacity, so utilisation is busy/capacity) and
``<name>.queue`` (requests waiting), and reports each request's queue wait.

A request's service time (its demand) is drawn from the stream of the requester
(``<kind>.<requester>``, e.g. ``attestation_service.esx-01``), so a host's demands do not
depend on how many requests other hosts made (common random numbers).

One station with Poisson arrivals is an M/G/c queue. The trust authority spreads requests
round-robin over its nodes, so each node sees every n-th arrival: with Poisson arrivals to
the cluster, per-node inter-arrival times are Erlang-n, not exponential, and a node is a
G/G/c station; the M/G/c (Erlang C) results hold for a single station fed directly.

A worker that is free when a request arrives, with nobody waiting, is taken at once without
a SimPy event, and one given back while nobody waits is freed without one (:class:`Lock`):
the same grants in the same order as ``simpy.Resource``, with two events fewer per request.

A request may carry its client's deadline. With ``drop_expired`` a worker that picks up a
request whose deadline has passed discards it at once (deadline propagation, as RPC stacks
do); otherwise it serves it anyway and the answer reaches nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, NamedTuple

import simpy

from sim.analysis.recorder import Level
from sim.processes.context import Context
from sim.scenario.distributions import DistributionModel

_HELD = object()
"""What stands in :attr:`Lock.users` for a slot taken without a request event."""


class Slot:
    """One use of a :class:`Lock`, as a context manager: ``pending`` is the request to
    wait for (None when the slot was free and is held already). Leaving the block gives
    the slot back, or withdraws the request if it was never granted, as a
    ``simpy.Resource`` request's own ``with`` block does."""

    __slots__ = ("lock", "pending")

    def __init__(self, lock: Lock, pending: simpy.resources.resource.Request | None) -> None:
        self.lock = lock
        self.pending = pending

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        lock, request = self.lock, self.pending
        held: object = _HELD
        if request is not None:
            request.cancel()  # a request still queued leaves the queue
            held = request
        if exc_type is GeneratorExit:  # a generator cleaned up: SimPy releases nothing either
            return
        lock.give_back(held)


class Lock(simpy.Resource):
    """A ``simpy.Resource`` (FIFO, ``capacity`` slots) whose free slots cost no event.

    :meth:`slot` takes a free slot at once when nobody waits (a ``simpy.Resource`` would
    grant the request at once too, but through an event the process then waits for, with
    nothing else able to take that slot meanwhile); otherwise it makes an ordinary request.
    Giving a slot back while nobody waits frees it at once, where ``simpy.Resource`` makes a
    ``Release`` event whose only work, granting the next waiting request, has nobody to
    grant. Who is granted when, and in what order, is what ``simpy.Resource`` does; only
    the event count falls (and the continuing process's next events are scheduled before,
    not after, events of the same instant: an order that matters only for exact ties)."""

    def slot(self) -> Slot:
        """Take a slot: held at once if one is free and nobody waits, else a request to
        wait for (``Slot.pending``)."""
        if len(self.users) < self.capacity and not self.put_queue:
            self.users.append(_HELD)  # type: ignore[arg-type]
            return Slot(self, None)
        return Slot(self, self.request())

    def give_back(self, held: object) -> None:
        """Free the slot ``held`` (a granted request, or the marker of a slot taken at once):
        through SimPy's ``Release`` event when someone waits (it grants the next one), at
        once otherwise (that event would find no one to grant)."""
        if self.put_queue:
            self.release(held)  # type: ignore[arg-type]
            return
        users = self.users
        if held in users:  # else a request withdrawn before it was granted
            users.remove(held)


def demand_stream(kind: str, requester: str) -> str:
    """The stream of ``requester``'s service times at every service of ``kind``."""
    return f"{kind}.{requester}"


class ServiceDown(Exception):
    """The service's node is down: the request is refused (connection refused)."""


class Served(NamedTuple):
    """What became of one request: the work's result (None when dropped), how long it
    waited for a worker, and whether it was dropped because its deadline had passed (an
    immutable named tuple: made once per request, it costs a third of a frozen dataclass)."""

    result: Any
    waited: float
    dropped: bool = False


class Service:
    """c workers in front of one FIFO queue."""

    def __init__(
        self, ctx: Context, name: str, workers: int, service_time: DistributionModel, stream: str
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.name = name
        self.kind = name.split(".")[0]
        self.workers = workers
        self.distribution = service_time
        self.service_time = ctx.sampler(stream, service_time)
        self.resource = Lock(ctx.env, capacity=workers)
        self._demands: dict[str, Callable[[], float]] = {}
        self.up = True
        self.drop_expired = False
        self._busy: Level = ctx.recorder.level(f"{name}.busy", capacity=workers)
        self._queue: Level = ctx.recorder.level(f"{name}.queue")

    def _update(self) -> None:
        now = self.env.now
        self._busy.set(now, self.resource.count)
        self._queue.set(now, len(self.resource.queue))

    def demand(self, requester: str | None) -> float:
        """One service time for a request of ``requester`` (from its own stream), or from
        the service's stream for an anonymous request."""
        if requester is None:
            return self.service_time()
        draw = self._demands.get(requester)
        if draw is None:  # every service of this kind shares the requester's sampler
            draw = self.ctx.sampler(demand_stream(self.kind, requester), self.distribution)
            self._demands[requester] = draw
        return draw()

    def serve(
        self,
        work: Callable[[], Any] | None = None,
        requester: str | None = None,
        deadline: float | None = None,
    ) -> Generator[Any, Any, Served]:
        """Queue, hold a worker for one service time, run ``work`` (the real computation,
        instantaneous in simulated time) and return what became of the request."""
        if not self.up:
            raise ServiceDown(self.name)
        arrived = self.env.now
        try:
            with self.resource.slot() as turn:
                self._update()  # the request is queued (or already granted)
                if turn.pending is not None:
                    yield turn.pending
                waited = self.env.now - arrived
                if self.drop_expired and deadline is not None and self.env.now >= deadline:
                    return Served(None, waited, dropped=True)
                if turn.pending is not None:  # granted later: busy and queue have moved
                    self._update()
                yield self.env.timeout(self.demand(requester))
                if not self.up:
                    raise ServiceDown(self.name)
                result = work() if work is not None else None
        finally:
            self._update()  # after the release: the next request may hold the worker now
        return Served(result, waited)
