"""What every SimPy component shares: the environment, named random streams, the recorder and
the network paths.

A component is built from its own scenario section plus one :class:`Context`; it takes its
random numbers from the context's named streams (``ctx.sampler("host.esx-01.tpm-sign",
dist)``), so no component needs a sampler handed to it and none builds its peers.

Streams belong to the entity whose behaviour they drive, one per purpose: a host's TPM
signing times, its jitter and its demands on each service; a VM's lifetime; a link's
latency; a vCenter's placement choices. Changing one component (rebooting one host, adding a
VM, raising the migration rate) then leaves the random numbers of every other component
where they were (common random numbers), so differences between two scenarios come from the
change, not from reshuffled draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np
import simpy

from sim.analysis.recorder import Recorder
from sim.processes.alarms import AlarmEnvironment
from sim.processes.network import Paths
from sim.rng import Streams
from sim.scenario.distributions import (
    DistributionModel,
    Fixed,
    make_parked_sampler,
    make_sampler,
)

ENTITY_BATCH = 32
"""Draws per batch of a sampler. Streams belong to single entities (one host, one VM, one
link), of which an estate has many, so batches stay small to keep memory in bounds."""


def call_later(env: simpy.Environment, delay: float, action: Callable[[], None]) -> None:
    """Run ``action`` after ``delay`` simulated seconds.

    For a fire-and-forget step (a message that arrives, a timer that expires) this is one
    ``Timeout`` with the call attached, where a process doing the same costs three events
    (its start, the timeout, its end) and a generator. An exception in ``action`` ends the
    run, as one in an unwatched process would."""
    env.timeout(delay).callbacks.append(lambda _event: action())


class CountingEnvironment(AlarmEnvironment):
    """The estate's SimPy environment: it counts the events it processes
    (:attr:`events_processed`), keeps far and near events apart
    (:mod:`sim.processes.event_queue`) and has the clock of the simulation's deadlines
    (:class:`~sim.processes.alarms.Alarms`)."""


@dataclass(frozen=True)
class Context:
    """The environment, streams, recorder and network paths of one simulated estate."""

    env: CountingEnvironment
    streams: Streams
    recorder: Recorder
    paths: Paths
    _samplers: dict[str, tuple[DistributionModel, Callable[[], float]]] = field(
        default_factory=dict, repr=False
    )

    def stream(self, name: str) -> np.random.Generator:
        """The named random stream ``name`` (the same generator on every call)."""
        return self.streams.stream(name)

    def sampler(
        self, stream: str, dist: DistributionModel, batch: int = ENTITY_BATCH
    ) -> Callable[[], float]:
        """Successive draws of ``dist`` from stream ``stream`` (drawn ``batch`` at a time).
        Every caller naming the same stream shares one sampler (and so one sequence of
        draws); a stream serves one distribution only."""
        entry = self._samplers.get(stream)
        if entry is None:
            if isinstance(dist, Fixed):  # no draws: spare the stream
                entry = (dist, repeat(dist.value).__next__)
            elif batch <= ENTITY_BATCH and not self.streams.has(stream):
                parked = self.streams.park(stream)  # an entity's stream: keep it small
                entry = (dist, make_parked_sampler(dist, parked.draw, batch))
            else:
                entry = (dist, make_sampler(dist, self.streams.stream(stream), batch))
            self._samplers[stream] = entry
        elif entry[0] is not dist and entry[0] != dist:  # models compare slowly: same object first
            raise ValueError(f"stream {stream!r} already serves another distribution")
        return entry[1]
