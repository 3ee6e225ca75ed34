"""The measurement processes: the periodic sample of every level (the ``levels`` time
series), the end of the warm-up, when the levels' summary statistics restart, and the
attested-capacity time series (``capacity``), a sample for plots: the summary's capacity
figures come from the exact step functions of :mod:`sim.analysis.capacity`, which the hosts
and vCenter views update at every change."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from sim.processes.attestation_status import ATTESTED
from sim.processes.context import Context
from sim.processes.host import TrustedHost


class LevelSampler:
    """Samples every level each ``every`` seconds and resets their statistics at
    ``warmup`` (if positive)."""

    def __init__(self, ctx: Context, every: float, warmup: float) -> None:
        self.env = ctx.env
        self.recorder = ctx.recorder
        self.every = every
        self.warmup = warmup

    def start(self) -> None:
        """Start the sampler and, with a warm-up, its end."""
        self.env.process(self._sampler())
        if self.warmup > 0:
            self.env.process(self._end_warmup())

    def _sampler(self) -> Generator[Any, Any, None]:
        while True:
            self.recorder.sample_levels(self.env.now)
            yield self.env.timeout(self.every)

    def _end_warmup(self) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.warmup)
        for level in self.recorder.levels.values():
            level.reset(self.env.now)


class CapacitySampler:
    """Samples capacity every ``every`` seconds into the ``capacity`` table (for plots): the
    hosts that are up, those their vCenter sees as attested, those holding a report, the
    free memory on the attested hosts and how many VMs of mean size would fit on the usable
    ones (attested and not in maintenance mode)."""

    def __init__(
        self,
        ctx: Context,
        every: float,
        hosts: Sequence[TrustedHost],
        views: Callable[[str], str],
        vm_memory: float,
    ) -> None:
        self.env = ctx.env
        self.recorder = ctx.recorder
        self.every = every
        self.hosts = tuple(hosts)
        self.views = views
        self.vm_memory = max(vm_memory, 1.0)

    def start(self) -> None:
        """Start sampling (from time 0)."""
        self.env.process(self._sampler())

    def sample(self) -> None:
        """Record one sample now."""
        up = [h for h in self.hosts if h.up]
        attested = [h for h in up if self.views(h.name) == ATTESTED]
        free = [max(0, h.memory - h.used_memory) for h in attested]
        usable = [max(0, h.memory - h.used_memory) for h in attested if not h.maintenance]
        self.recorder.add(
            "capacity",
            time=self.env.now,
            hosts_up=len(up),
            attested_hosts=len(attested),
            holding_report=sum(1 for h in up if h.has_valid_report),
            free_memory_attested=int(sum(free)),
            encrypted_vm_slots=int(sum(f // self.vm_memory for f in usable)),
        )

    def _sampler(self) -> Generator[Any, Any, None]:
        while True:
            self.sample()
            yield self.env.timeout(self.every)
