"""The earlier forms of two steps of a vMotion, kept as references for the tests that show
the current forms equivalent (``tests/processes/test_bandwidth.py``,
``tests/test_behaviour_vmotion_forms.py``).

- :class:`EventfulLock`: every migration slot is requested and given back through SimPy
  events, as ``simpy.Resource`` does, where :class:`~sim.processes.services.Lock` takes a
  free slot, and gives one back that nobody waits for, without an event.
- :class:`RacingLinks`: a sending process races its transfer's timeout with a rate-change
  event (a ``Condition``), where :class:`~sim.processes.bandwidth.SharedLinks` waits for the
  timeout alone and is interrupted on a rate change.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from sim.processes.bandwidth import SharedLinks, Stream
from sim.processes.network import Paths
from sim.processes.services import Lock, Slot


class EventfulLock(Lock):
    """A :class:`Lock` whose every slot is a request event and every give-back a release
    event: ``simpy.Resource`` used in a ``with`` block."""

    def slot(self) -> Slot:
        return Slot(self, self.request())

    def give_back(self, held: object) -> None:
        self.release(held)  # type: ignore[arg-type]


class RacingLinks(SharedLinks):
    """Shared links whose senders race each transfer's timeout with a rate-change event."""

    def __init__(self, env: simpy.Environment, paths: Paths) -> None:
        super().__init__(env, paths)
        self.changed: dict[int, simpy.Event] = {}

    def send(self, stream: Stream, nbytes: float) -> Generator[Any, Any, None]:
        self._advance()
        stream.left = float(nbytes)
        while stream.left > 0:
            self.changed[stream.seq] = self.env.event()
            done = self.env.timeout(stream.left / stream.rate)
            yield done | self.changed[stream.seq]
            self._advance()
            if done.processed:  # the transfer ran out at this rate (not a rate change)
                stream.left = 0.0
        del self.changed[stream.seq]

    def _reallocate(self, components: list[list[Stream]]) -> None:
        streams = sorted((s for c in components for s in c), key=lambda s: s.seq)
        before = [s.rate for s in streams]
        super()._reallocate(components)  # this form's senders are never set: none interrupted
        for s, rate in zip(streams, before, strict=True):
            wake = self.changed.get(s.seq)
            if s.rate != rate and wake is not None and not wake.triggered:
                wake.succeed()
