"""Attested and usable capacity of the estate as exact step functions of simulated time.

A host is *attested capacity* while it is up and its workload vCenter's view of it is
``attested``; it is *usable capacity* while it is also not in maintenance mode (a host
entering maintenance mode is evacuated and takes no new VM, so its attested status offers
nothing to a placement). ``encrypted_vm_slots`` counts the VMs of the mean configured size
that fit in the free memory of the usable hosts, host by host.

The processes tell :class:`CapacityTracker` of every change of the four inputs where it
happens (a host going up or down, entering or leaving maintenance mode, its memory in use,
its vCenter's view); the tracker keeps each host's share and the three totals as
:class:`~sim.analysis.steps.StepFunction` s, so every change costs O(1) and no figure
depends on a sampling period. It knows nothing of SimPy.
"""

from __future__ import annotations

import math
from typing import Any

from sim.analysis.steps import StepFunction

__all__ = ["CapacityTracker", "threshold_hosts"]


class _Host:
    """One host's inputs and its current share of each total."""

    __slots__ = ("attested", "in_use", "maintenance", "memory", "share", "up")

    def __init__(self, memory: int) -> None:
        self.memory = memory
        self.in_use = 0
        self.up = False
        self.attested = False  # its vCenter's view says attested
        self.maintenance = False
        self.share = (0, 0, 0)  # attested, usable, slots


def threshold_hosts(fraction: float, hosts: int) -> int:
    """The host count a ``capacity.threshold`` fraction stands for: the smallest whole
    number of hosts that is at least that fraction of them (rounding up)."""
    return math.ceil(fraction * hosts - 1e-9)


class CapacityTracker:
    """The estate's attested hosts, usable hosts and encrypted-VM slots, exactly."""

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}
        self.vm_memory = 1.0
        self.attested = StepFunction()
        self.usable = StepFunction()
        self.slots = StepFunction(levels=False)  # too many levels to keep each

    @property
    def hosts(self) -> int:
        """Hosts the tracker knows."""
        return len(self._hosts)

    def configure(self, vm_memory: float, start: float) -> None:
        """Count slots of ``vm_memory`` (the mean VM size) and statistics from ``start``
        (the end of the warm-up). Called before the run starts."""
        self.vm_memory = max(float(vm_memory), 1.0)
        for stepper in (self.attested, self.usable, self.slots):
            stepper.start = start
        for host in self._hosts.values():
            self._refresh(0.0, host)

    def add_host(self, name: str, memory: int) -> None:
        """A host of ``memory`` joins the estate (down, not attested, nothing in use)."""
        self._hosts[name] = _Host(memory)

    def _host(self, name: str) -> _Host:
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host(0)
        return host

    def host_up(self, now: float, name: str, up: bool) -> None:
        """The host went up (or down) at ``now``."""
        host = self._host(name)
        if host.up != up:
            host.up = up
            self._refresh(now, host)

    def view(self, now: float, name: str, attested: bool) -> None:
        """The host's vCenter began (or ceased) to see it as attested at ``now``."""
        host = self._host(name)
        if host.attested != attested:
            host.attested = attested
            self._refresh(now, host)

    def maintenance(self, now: float, name: str, on: bool) -> None:
        """The host entered (or left) maintenance mode at ``now``."""
        host = self._host(name)
        if host.maintenance != on:
            host.maintenance = on
            self._refresh(now, host)

    def memory_in_use(self, now: float, name: str, used: int) -> None:
        """The memory in use on the host (VMs and reservations) became ``used`` at ``now``."""
        host = self._host(name)
        host.in_use = used
        attested, usable, slots = host.share
        if usable:  # only a usable host's free memory counts
            now_slots = int(max(0, host.memory - used) // self.vm_memory)
            if now_slots != slots:
                host.share = (attested, usable, now_slots)
                self.slots.set(now, self.slots.value + now_slots - slots)

    def _refresh(self, now: float, host: _Host) -> None:
        attested = 1 if host.up and host.attested else 0
        usable = 0 if host.maintenance else attested
        slots = int(max(0, host.memory - host.in_use) // self.vm_memory) if usable else 0
        old = host.share
        if old == (attested, usable, slots):
            return
        host.share = (attested, usable, slots)
        self.attested.add(now, attested - old[0])
        self.usable.add(now, usable - old[1])
        self.slots.add(now, slots - old[2])

    def summary(self, now: float, threshold: float) -> dict[str, Any]:
        """The exact figures from the start of statistics to ``now``; ``threshold`` is the
        ``capacity.threshold`` fraction of hosts below which time is counted."""
        level = threshold_hosts(threshold, self.hosts)
        slots = self.slots.summary(now)
        return {
            "hosts": self.hosts,
            "threshold_hosts": level,
            "attested_hosts": self.attested.summary(now, level),
            "usable_hosts": self.usable.summary(now, level),
            "encrypted_vm_slots": slots,
        }
