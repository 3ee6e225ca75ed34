"""A queueing service: c parallel workers, a FIFO queue and a service-time distribution.

The Attestation Service, the Key Provider Service, the status endpoint and each KMS server
are instances. The service keeps two time-weighted levels in the recorder,
``<name>.busy`` (workers in use, with the capacity, so utilisation is busy/capacity) and
``<name>.queue`` (requests waiting), and reports each request's queue wait.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import simpy

from sim.analysis.recorder import Level
from sim.processes.context import Context
from sim.scenario.distributions import DistributionModel


class ServiceDown(Exception):
    """The service's node is down: the request is refused (connection refused)."""


class Service:
    """c workers in front of one FIFO queue (an M/G/c station when arrivals are Poisson)."""

    def __init__(
        self, ctx: Context, name: str, workers: int, service_time: DistributionModel, stream: str
    ) -> None:
        self.env = ctx.env
        self.name = name
        self.workers = workers
        self.service_time = ctx.sampler(stream, service_time)
        self.resource = simpy.Resource(ctx.env, capacity=workers)
        self.up = True
        self._busy: Level = ctx.recorder.level(f"{name}.busy", capacity=workers)
        self._queue: Level = ctx.recorder.level(f"{name}.queue")

    def _update(self) -> None:
        now = self.env.now
        self._busy.set(now, self.resource.count)
        self._queue.set(now, len(self.resource.queue))

    def serve(
        self, work: Callable[[], Any] | None = None
    ) -> Generator[Any, Any, tuple[Any, float]]:
        """Queue, hold a worker for one service time, run ``work`` (the real computation,
        instantaneous in simulated time) and return ``(work's result, queue wait)``."""
        if not self.up:
            raise ServiceDown(self.name)
        arrived = self.env.now
        try:
            with self.resource.request() as req:
                self._update()  # the request is queued (or already granted)
                yield req
                waited = self.env.now - arrived
                self._update()
                yield self.env.timeout(self.service_time())
                if not self.up:
                    raise ServiceDown(self.name)
                result = work() if work is not None else None
        finally:
            self._update()  # after the release: the next request may hold the worker now
        return result, waited
