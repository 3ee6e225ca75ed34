"""A workload vCenter: VM placement and vMotion, on its view of host attestation status.

The view (:mod:`sim.processes.status_view`) learns each host's status from the host's own
reports (default) or by polling the trust authority; its lag behind the truth is part of
what the time-to-refusal metric measures. Placement (first-fit or least-loaded) refuses a
host it sees as not attested for a VM that needs a key; unencrypted VMs may still go there.
A VM that needs a key starts only once the chosen host obtained the key from the Key
Provider Service. Running VMs keep running when their host loses attestation.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sim.analysis.records import Placement
from sim.domain.reasons import Reason
from sim.processes.alarms import VM_LIFETIMES
from sim.processes.attestation_status import NOT_ATTESTED, UNKNOWN
from sim.processes.context import Context
from sim.processes.drafts import HaRestartDraft, MigrationDraft, PlacementDraft
from sim.processes.host import TrustedHost
from sim.processes.inventory import Vm, VmPool
from sim.processes.placement_index import ClusterIndex, Mask
from sim.processes.status_view import StatusReport, StatusView
from sim.processes.trust_authority import TrustAuthority
from sim.processes.vmotion import COMPLETED, Migrator
from sim.rng import ByteSource
from sim.scenario.distributions import DistributionModel
from sim.scenario.model import VCenter

STATUS_REFUSALS = {
    NOT_ATTESTED: Reason.STATUS_NOT_ATTESTED.text,
    UNKNOWN: Reason.STATUS_UNKNOWN.text,
}
"""The reason a placement skips a host its vCenter does not see as attested."""


@dataclass(frozen=True)
class VmRules:
    """How a vCenter runs its VMs: their lifetime, and vSphere HA's restart delay."""

    lifetime: DistributionModel
    restart_delay: DistributionModel


def lifetime_stream(vm: str) -> str:
    """The name of the random stream of ``vm``'s lifetimes."""
    return f"vm.{vm}.lifetime"


class WorkloadVCenter:
    """One workload vCenter managing trusted clusters."""

    def __init__(
        self,
        ctx: Context,
        spec: VCenter,
        hosts: list[TrustedHost],
        ta: TrustAuthority,
        pool: VmPool,
        vmotion: Migrator,
        rules: VmRules,
    ) -> None:
        self.env = ctx.env
        self.name = spec.name
        self.node = f"vcenter:{spec.name}"
        self.hosts = hosts
        self.by_name = {h.name: h for h in hosts}
        self.by_cluster: dict[str, list[TrustedHost]] = {}
        for h in hosts:
            self.by_cluster.setdefault(h.cluster, []).append(h)
        self.ta = ta
        self.pool = pool
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self.placement = spec.placement
        self.vmotion = vmotion
        self.ctx = ctx
        self.placement_rng = ctx.stream(f"vcenter.{spec.name}.placement")
        self._lifetimes = ctx.env.alarms.lane(VM_LIFETIMES)
        self.vmotion_keys = ByteSource(ctx.stream(f"vcenter.{spec.name}.vmotion-keys")).take
        self.rules = rules
        self.lifetime = rules.lifetime
        self.status = StatusView(ctx, spec, [h.name for h in hosts], ta)
        self._index = {c: ClusterIndex(members) for c, members in self.by_cluster.items()}
        self._index_of = {h.name: self._index[h.cluster] for h in hosts}
        for h in hosts:
            h.join_index(self._index_of[h.name])
        self.status.watch(self._view_changed)

    def _view_changed(self, host: str, attested: bool) -> None:
        self._index_of[host].view_changed(host, attested)

    @property
    def view(self) -> dict[str, str]:
        """The vCenter's current view of each managed host's status."""
        return self.status.view

    def start(self, steady_state: bool) -> None:
        """Start learning host status. In an estate that has been running (``steady_state``)
        the view starts as each host would have reported (or the trust authority would have
        answered a poll); otherwise unknown."""
        initial = None
        if steady_state:
            now = self.env.now
            if self.status.reports_from_hosts:
                initial = {h.name: h.status_report() for h in self.hosts}
            else:
                initial = {
                    h.name: StatusReport(h.name, 0, self.ta.status_of(h.name, now))
                    for h in self.hosts
                }
        self.status.start(initial)

    # --- placement -------------------------------------------------------------------------

    def _eligible(
        self, vm: Vm, exclude: str | None = None
    ) -> tuple[ClusterIndex[TrustedHost], Mask]:
        """The VM's cluster and which of its hosts could take the VM: up, out of maintenance
        mode, with room and (for a VM that needs a key) seen as attested. Hosts skipped only
        for their status are recorded as refusals, in cluster order."""
        index = self._index[vm.cluster]
        room = index.with_room(vm.memory, exclude)
        if vm.needs_key:
            refused = room & ~index.attested
            if np.count_nonzero(refused):  # rare: a host seen as not attested has room
                for h in index.hosts(refused):
                    self.recorder.add(
                        "refusals",
                        time=self.env.now,
                        host=h.name,
                        vm=vm.name,
                        kind="placement",
                        reason=STATUS_REFUSALS[self.view[h.name]],
                    )
                room &= index.attested
        return index, room

    def _candidates(self, vm: Vm, exclude: str | None = None) -> list[TrustedHost]:
        """The hosts that could take ``vm`` (:meth:`_eligible`), in cluster order."""
        index, room = self._eligible(vm, exclude)
        return index.hosts(room)

    def _choose(self, vm: Vm) -> TrustedHost | None:
        """Where placement puts ``vm``: the first eligible host (``first_fit``) or the first
        of the least loaded (``least_loaded``); None if no host is eligible."""
        index, room = self._eligible(vm)
        if self.placement == "first_fit":
            return index.first(room)
        return index.least_loaded(room)

    def power_on(self, vm: Vm, trigger: str = "power_on") -> Generator[Any, Any, Placement]:
        """Place and power on a stopped VM (the key is fetched by the chosen host); the
        ``placements`` record, written once its outcome is known."""
        now = self.env.now
        host = self._choose(vm)
        draft = PlacementDraft(now, self.name, vm.name, trigger, vm.needs_key)
        if host is None:
            record = draft.record("refused", Reason.PLACEMENT_NO_ELIGIBLE_HOST.text)
            self.recorder.write(record)
            return record
        draft.host = host.name
        self.recorder.opened(draft)
        host.reserve(vm.memory)
        self.pool.starting(vm)  # reserved while the key is fetched
        ok = True
        if vm.needs_key:
            ok = yield from host.obtain_key(vm, "power_on")
        if not ok or not host.up:
            host.release(vm.memory)
            self.pool.start_failed(vm)
            reason = (
                Reason.PLACEMENT_KEY_NOT_RELEASED.text
                if not ok
                else Reason.PLACEMENT_HOST_DOWN.text
            )
            record = draft.record("failed", reason)
            self.recorder.closed(draft, record)
            return record
        record = draft.record("placed", "")
        self.recorder.closed(draft, record)
        host.admit(vm)
        self.pool.started(vm, host.name)
        self.start_lifetime(vm)
        return record

    def start_lifetime(self, vm: Vm) -> None:
        """Run ``vm`` (just started) for a lifetime drawn from the workload, then power it
        off, unless it stopped or restarted in the meantime. An alarm, not a process: a
        VM's life costs at most one event, none when it outlives the run."""
        lifetime = self.ctx.sampler(lifetime_stream(vm.name), self.lifetime, 4)()
        self._life_ends_in(lifetime, vm, vm.epoch)

    def _life_ends_in(self, delay: float, vm: Vm, epoch: int) -> None:
        self._lifetimes.at(self.env.now + delay, partial(self._life_ends, vm, epoch))

    def _life_ends(self, vm: Vm, epoch: int) -> None:
        if vm.epoch != epoch:
            return  # it stopped or restarted meanwhile: that life is over already
        if vm.migrating:
            self._life_ends_in(1.0, vm, epoch)  # power it off once it has landed
        elif vm.host is not None:
            self.power_off(vm, "lifetime")

    def power_off(self, vm: Vm, why: str) -> None:
        """Power off a running VM (end of life, or its host going down)."""
        if vm.host is None:
            return
        self._host(vm.host).evict(vm)
        self.pool.stopped_vm(vm)

    def _host(self, name: str) -> TrustedHost:
        return self.by_name[name]

    # --- vMotion ---------------------------------------------------------------------------

    def migrate(self, vm: Vm, trigger: str = "drs") -> Generator[Any, Any, None]:
        """Move a running VM to another host of its cluster (for DRS or maintenance)."""
        if vm.host is None or vm.migrating:
            return
        src = self._host(vm.host)
        draft = MigrationDraft(
            self.env.now, vm.name, trigger, src.name, vm.needs_key, vm.migrates_encrypted
        )
        candidates = self._candidates(vm, exclude=src.name)
        if not candidates:
            self.recorder.write(
                draft.record(self.env.now, "refused", Reason.VMOTION_NO_ELIGIBLE_HOST.text)
            )
            return
        dst = candidates[int(self.placement_rng.integers(len(candidates)))]
        yield from self._move(vm, src, dst, draft)

    def migrate_to(
        self, vm: Vm, destination: str, trigger: str = "manual"
    ) -> Generator[Any, Any, None]:
        """Move a running VM to host ``destination`` of this vCenter without placement's
        checks (an administrator's manual vMotion)."""
        if vm.host is None or vm.migrating:
            return
        src = self._host(vm.host)
        draft = MigrationDraft(
            self.env.now, vm.name, trigger, src.name, vm.needs_key, vm.migrates_encrypted
        )
        yield from self._move(vm, src, self._host(destination), draft)

    def _move(
        self, vm: Vm, src: TrustedHost, dst: TrustedHost, draft: MigrationDraft
    ) -> Generator[Any, Any, None]:
        """Carry out the migration ``draft`` of ``vm`` from ``src`` to ``dst`` with the
        vMotion engine, and do the bookkeeping: the VM's row, both hosts' memory and VMs,
        the ``migrations`` record."""
        draft.destination = dst.name
        self.recorder.opened(draft)
        self.pool.migration_started(vm)
        epoch = vm.epoch
        dst.reserve(vm.memory)
        moved = False
        try:
            out = yield from self.vmotion.move(
                vm, src, dst, self.name, self.vmotion_keys, progress=draft
            )
            if out.outcome == COMPLETED:
                src.evict(vm)
                dst.admit(vm)
                self.pool.moved(vm, dst.name)
                moved = True
            record = draft.record(self.env.now, out.outcome, out.reason, **out.measured)
            self.recorder.closed(draft, record)
        finally:
            self.pool.migration_over(vm, epoch)
            if not moved:
                dst.release(vm.memory)

    # --- maintenance mode and HA -------------------------------------------------------------

    def evacuate(self, host: TrustedHost) -> Generator[Any, Any, None]:
        """Maintenance mode: no new VM goes to ``host``; its VMs move to other hosts of the
        cluster by vMotion (encrypted ones only where their key is released); those that
        cannot move are powered off."""
        host.enter_maintenance()
        moves = [
            self.env.process(self.migrate(vm, "maintenance"))
            for vm in list(host.vms.values())
            if not vm.migrating
        ]
        if moves:
            yield self.env.all_of(moves)
        while any(vm.migrating for vm in host.vms.values()):
            yield self.env.timeout(1.0)  # a DRS move of one of its VMs is still under way
        for vm in list(host.vms.values()):
            self.power_off(vm, "maintenance")

    def ha_restart(self, host: TrustedHost, vms: list[Vm]) -> None:
        """vSphere HA: ``host`` crashed; each of its VMs is restarted on another host of the
        cluster after the restart delay (an encrypted one only on a host seen as attested,
        once the key is there)."""
        for vm in vms:
            self.env.process(self._restart(vm, host.name, self.env.now))

    def _restart(self, vm: Vm, failed: str, crashed_at: float) -> Generator[Any, Any, None]:
        draft = HaRestartDraft(crashed_at, vm.name, failed, vm.needs_key)
        self.recorder.opened(draft)
        delay = self.ctx.sampler(f"vm.{vm.name}.ha-restart", self.rules.restart_delay)()
        yield self.env.timeout(delay)
        if vm.host is not None:  # powered on again meanwhile
            self.recorder.closed(draft, draft.record("already_running"))
            return
        placed = yield from self.power_on(vm, "ha_restart")
        restarted = placed.outcome == "placed"
        record = draft.record(
            "restarted" if restarted else placed.outcome,
            restarted_on=placed.host,
            reason=placed.reason,
            latency_s=self.env.now - crashed_at if restarted else None,
        )
        self.recorder.closed(draft, record)
