"""What every SimPy component shares: the environment, named random streams, the recorder and
the network paths.

A component is built from its own scenario section plus one :class:`Context`; it takes its
random numbers from the context's named streams (``ctx.sampler("vta.0.kps", dist)``), so
no component needs a sampler handed to it and none builds its peers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim.analysis.recorder import Recorder
from sim.processes.network import Paths
from sim.rng import Streams
from sim.scenario.distributions import DistributionModel, make_sampler


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def step(self) -> None:
        """Process the next event."""
        self.events_processed += 1
        super().step()


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

    def sampler(self, stream: str, dist: DistributionModel) -> Callable[[], float]:
        """Successive draws of ``dist`` from stream ``stream``. Every caller naming the same
        stream shares one sampler (and so one sequence of draws); a stream serves one
        distribution only."""
        entry = self._samplers.get(stream)
        if entry is None:
            entry = (dist, make_sampler(dist, self.streams.stream(stream)))
            self._samplers[stream] = entry
        elif entry[0] != dist:
            raise ValueError(f"stream {stream!r} already serves another distribution")
        return entry[1]
