"""Each cluster's placement inputs as arrays, kept up to date as they change.

Every power-on and every vMotion asks which hosts of the VM's cluster could take it: up, out
of maintenance mode, with room for its memory and, for a VM that needs a key, seen as
attested by the vCenter; least-loaded placement then takes the first of the least loaded.
Walking the cluster's hosts for that, reading each one's state, cost about a microsecond a
host: some 3 % of a run of 10,000 hosts in clusters of 50. Here each cluster holds those
inputs as arrays (:class:`ClusterIndex`), which the hosts update as their state changes
(:class:`~sim.processes.host_capacity.CapacityState`) and the vCenter as its view of a host
changes; a placement is a few array operations.

The answers are the walk's: the same hosts in the same (cluster) order, and the same choice.
Memory is compared as the integers it is (``used + memory <= host memory`` as
``memory <= host memory - used``); a load is ``used / host memory`` divided in float64, as
Python divides two integers below 2**53 (both exact, one correctly rounded division); of
equal loads the first in cluster order wins, as with ``min``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

NO_ROOM = int(np.iinfo(np.int64).min)
"""The free memory of a host that takes no VM (down or in maintenance mode): below any
VM's memory, so it never has room."""


class Placeable(Protocol):
    """What the index needs of a host: its name and its memory (bytes)."""

    @property
    def name(self) -> str: ...

    @property
    def memory(self) -> int: ...


H = TypeVar("H", bound=Placeable, covariant=True)

Mask = npt.NDArray[np.bool_]


class ClusterIndex(Generic[H]):
    """The hosts of one cluster, in cluster order, with the memory each has free for a new
    VM (:data:`NO_ROOM` when it takes none), the memory in use, and whether the vCenter sees
    each as attested."""

    def __init__(self, hosts: Sequence[H]) -> None:
        n = len(hosts)
        self._hosts = np.empty(n, dtype=object)
        for i, h in enumerate(hosts):
            self._hosts[i] = h
        self.position = {h.name: i for i, h in enumerate(hosts)}
        self._total = [int(h.memory) for h in hosts]
        self._memory = np.array(self._total, dtype=np.int64)
        self.free = np.full(n, NO_ROOM, dtype=np.int64)
        self.used = np.zeros(n, dtype=np.int64)
        self.attested = np.zeros(n, dtype=bool)

    def host_changed(self, position: int, takes_vms: bool, used: int) -> None:
        """The host at ``position`` is (or is not) up and out of maintenance mode
        (``takes_vms``) with ``used`` bytes of memory in use."""
        self.used[position] = used
        self.free[position] = self._total[position] - used if takes_vms else NO_ROOM

    def view_changed(self, host: str, attested: bool) -> None:
        """The vCenter now sees ``host`` as attested, or no longer."""
        self.attested[self.position[host]] = attested

    def with_room(self, memory: int, exclude: str | None = None) -> Mask:
        """Which hosts could take a VM of ``memory`` bytes (``exclude`` left out)."""
        room: Mask = self.free >= memory
        if exclude is not None:
            at = self.position.get(exclude)
            if at is not None:
                room[at] = False
        return room

    def hosts(self, mask: Mask) -> list[H]:
        """The hosts ``mask`` selects, in cluster order."""
        selected: list[H] = self._hosts[mask].tolist()
        return selected

    def least_loaded(self, mask: Mask) -> H | None:
        """The first of the least loaded hosts ``mask`` selects (None if it selects none)."""
        at = np.flatnonzero(mask)
        if not at.size:
            return None
        load = self.used[at] / self._memory[at]
        chosen: H = self._hosts[at[int(np.argmin(load))]]
        return chosen

    def first(self, mask: Mask) -> H | None:
        """The first host in cluster order that ``mask`` selects (None if it selects none)."""
        at = np.flatnonzero(mask)
        return self._hosts[at[0]] if at.size else None
