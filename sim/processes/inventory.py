"""Virtual machines and the pool that tracks which are running, stopped or moving.

A VM needs a key (from the Key Provider Service) to power on or to arrive by vMotion when it
is encrypted, by storage policy or by having a vTPM; it carries its KEK wrapped with its key
provider's primary key. The pool offers O(1) uniform random
choice of a stopped or a running VM so the workload generators stay cheap at 10,000 VMs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sim.domain.key_hierarchy import WrappedKek

Encryption = Literal["none", "storage_policy", "vtpm"]
VMotionMode = Literal["disabled", "opportunistic", "required"]


@dataclass(eq=False)
class Vm:
    """One virtual machine."""

    name: str
    vcenter: str
    cluster: str
    memory: int
    encryption: Encryption
    vmotion_mode: VMotionMode
    wrapped_kek: WrappedKek | None
    host: str | None = None
    migrating: bool = False
    epoch: int = 0

    @property
    def needs_key(self) -> bool:
        """Encrypted VMs need their key wherever they run."""
        return self.encryption != "none"

    @property
    def migrates_encrypted(self) -> bool:
        """Encrypted VMs always migrate encrypted; others unless the mode is disabled
        (opportunistic falls back to plain only when a side cannot encrypt, which no ESXi
        6.5+ host in this model cannot)."""
        return self.needs_key or self.vmotion_mode != "disabled"


class _IndexedSet:
    """A set with O(1) add, remove and uniform random choice (deterministic order)."""

    def __init__(self) -> None:
        self.items: list[Vm] = []
        self.where: dict[str, int] = {}

    def add(self, vm: Vm) -> None:
        if vm.name not in self.where:
            self.where[vm.name] = len(self.items)
            self.items.append(vm)

    def discard(self, vm: Vm) -> None:
        i = self.where.pop(vm.name, None)
        if i is None:
            return
        last = self.items.pop()
        if last is not vm:
            self.items[i] = last
            self.where[last.name] = i

    def choice(self, rng: np.random.Generator) -> Vm | None:
        if not self.items:
            return None
        return self.items[int(rng.integers(len(self.items)))]

    def __len__(self) -> int:
        return len(self.items)


class VmPool:
    """Every VM of the estate, indexed by run state."""

    def __init__(self, vms: list[Vm]) -> None:
        self.vms = vms
        self.by_name = {vm.name: vm for vm in vms}
        self.running = _IndexedSet()
        self.stopped = _IndexedSet()
        for vm in vms:
            (self.running if vm.host else self.stopped).add(vm)

    def started(self, vm: Vm, host: str) -> None:
        """``vm`` now runs on ``host``."""
        vm.host = host
        vm.epoch += 1
        self.stopped.discard(vm)
        self.running.add(vm)

    def starting(self, vm: Vm) -> None:
        """``vm`` is being powered on (no longer stopped while its host fetches its key)."""
        self.stopped.discard(vm)

    def start_failed(self, vm: Vm) -> None:
        """The power-on of ``vm`` failed: it is stopped again."""
        self.stopped.add(vm)

    def migration_started(self, vm: Vm) -> None:
        """``vm`` starts moving to another host."""
        vm.migrating = True

    def moved(self, vm: Vm, host: str) -> None:
        """``vm`` now runs on ``host`` (a completed vMotion)."""
        vm.host = host

    def migration_over(self, vm: Vm, epoch: int) -> None:
        """The move of ``vm`` that began in run ``epoch`` of it is over (unless the VM was
        powered off and on since: it may be moving anew)."""
        if vm.epoch == epoch:
            vm.migrating = False

    def stopped_vm(self, vm: Vm) -> None:
        """``vm`` is powered off."""
        vm.host = None
        vm.migrating = False
        vm.epoch += 1
        self.running.discard(vm)
        self.stopped.add(vm)
