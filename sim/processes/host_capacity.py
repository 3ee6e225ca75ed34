"""The part of a trusted host's state that capacity is made of: whether it is up, whether it
is in maintenance mode, and the memory in use on it.

Each is a property whose setter tells the run's
:class:`~sim.analysis.capacity.CapacityTracker` at once, so the exact capacity step
functions change where the state changes, with no polling and no SimPy event. The fourth
input, the vCenter's view of the host, is told by the view itself
(:mod:`sim.processes.status_view`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from sim.analysis.capacity import CapacityTracker

if TYPE_CHECKING:
    from sim.processes.placement_index import ClusterIndex


class CapacityState:
    """Up, maintenance mode and memory in use of one host, reported to the tracker. The
    host changes them itself (:meth:`_set_up`); its vCenter and the vMotion engine ask it
    through :meth:`reserve`, :meth:`release` and :meth:`enter_maintenance`."""

    env: simpy.Environment
    name: str
    memory: int

    def track_capacity(self, tracker: CapacityTracker) -> None:
        """Join ``tracker`` (down, not in maintenance mode, no memory in use)."""
        self._capacity = tracker
        self._up = False
        self._maintenance = False
        self._used_memory = 0
        self._index: ClusterIndex[CapacityState] | None = None
        self._position = 0
        tracker.add_host(self.name, self.memory)

    def join_index(self, index: ClusterIndex[CapacityState]) -> None:
        """Keep ``index`` (the placement arrays of the host's cluster) up to date from now on."""
        self._index = index
        self._position = index.position[self.name]
        self._tell_index()

    def _tell_index(self) -> None:
        if self._index is not None:
            takes_vms = self._up and not self._maintenance
            self._index.host_changed(self._position, takes_vms, self._used_memory)

    @property
    def up(self) -> bool:
        """Whether the host is up (booted, not down for a reboot, repair or crash)."""
        return self._up

    def _set_up(self, value: bool) -> None:
        self._up = value
        self._capacity.host_up(self.env.now, self.name, value)
        self._tell_index()

    @property
    def maintenance(self) -> bool:
        """Whether the host is in maintenance mode (evacuating or evacuated: no new VMs)."""
        return self._maintenance

    def _set_maintenance(self, value: bool) -> None:
        self._maintenance = value
        self._capacity.maintenance(self.env.now, self.name, value)
        self._tell_index()

    def enter_maintenance(self) -> None:
        """The host's vCenter puts it in maintenance mode (no new VMs from now on)."""
        self._set_maintenance(True)

    @property
    def used_memory(self) -> int:
        """Memory of the VMs on the host plus reservations for VMs arriving or starting."""
        return self._used_memory

    def reserve(self, memory: int) -> None:
        """Hold ``memory`` for a VM arriving or starting here (or running here)."""
        self._used_memory += memory
        self._capacity.memory_in_use(self.env.now, self.name, self._used_memory)
        self._tell_index()

    def release(self, memory: int) -> None:
        """Give back ``memory`` held by :meth:`reserve`."""
        self._used_memory -= memory
        self._capacity.memory_in_use(self.env.now, self.name, self._used_memory)
        self._tell_index()
