"""A workload vCenter: its view of host attestation status, VM placement and vMotion.

The vCenter learns each host's status by polling the trust authority every
``status_poll_interval``; between polls its view may be stale, which is exactly the delay the
time-to-refusal metric measures. Placement (first-fit or least-loaded) refuses a host it sees
as not attested for a VM that needs a key; unencrypted VMs may still go there. A VM that
needs a key starts only once the chosen host obtained the key from the Key Provider Service.
Running VMs keep running when their host loses attestation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

import simpy

from sim.processes.attestation_status import ATTESTED, UNKNOWN
from sim.processes.context import Context
from sim.processes.host import TrustedHost
from sim.processes.inventory import Vm, VmPool
from sim.processes.services import ServiceDown
from sim.processes.trust_authority import TrustAuthority, TrustNode
from sim.processes.vmotion import Migrator
from sim.scenario.distributions import DistributionModel
from sim.scenario.model import VCenter


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
        lifetime: DistributionModel,
    ) -> None:
        self.env: simpy.Environment = ctx.env
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
        self.poll_interval = spec.status_poll_interval
        self.placement = spec.placement
        self.vmotion = vmotion
        self.ctx = ctx
        self.placement_rng = ctx.stream(f"vcenter.{spec.name}.placement")
        self.vmotion_keys = ctx.stream(f"vcenter.{spec.name}.vmotion-keys")
        self.lifetime = lifetime
        self.view: dict[str, str] = {h.name: UNKNOWN for h in hosts}
        for h in hosts:
            h.on_power_off = self.power_off

    def start(self, steady_state: bool) -> None:
        """Start learning host status. In an estate that has been running (``steady_state``)
        the view starts as the trust authority's status of each host; otherwise unknown."""
        if steady_state:
            for h in self.hosts:
                self._set_view(h.name, self.ta.status_of(h.name, self.env.now))
        self.env.process(self.poll_loop())

    # --- status ----------------------------------------------------------------------------

    def poll_loop(self) -> Generator[Any, Any, None]:
        """Poll the trust authority for the status of every managed host, forever; a poll
        that finds its node down is lost and the view stays as it was."""
        names = [h.name for h in self.hosts]
        while True:
            node = self.ta.pick_node()
            if node is not None:
                with contextlib.suppress(ServiceDown):
                    yield from self._poll(node, names)
            yield self.env.timeout(self.poll_interval)

    def _poll(self, node: TrustNode, names: list[str]) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.paths.delay(self.node, node.name))
        statuses = yield from self.ta.poll_status(node, names, self.name)
        yield self.env.timeout(self.paths.delay(node.name, self.node))
        for h in names:
            self._set_view(h, statuses[h])

    def _set_view(self, host: str, status: str) -> None:
        if status != self.view[host]:
            self.view[host] = status
            self.recorder.add(
                "status_views", time=self.env.now, vcenter=self.name, host=host, status=status
            )

    # --- placement -------------------------------------------------------------------------

    def _candidates(self, vm: Vm, exclude: str | None = None) -> list[TrustedHost]:
        """Hosts of the VM's cluster that are up, have room and (for a VM that needs a
        key) are seen as attested. Hosts skipped only for their status are recorded as
        refusals."""
        out: list[TrustedHost] = []
        for h in self.by_cluster[vm.cluster]:
            if h.name == exclude or not h.up or h.used_memory + vm.memory > h.memory:
                continue
            if vm.needs_key and self.view[h.name] != ATTESTED:
                self.recorder.add(
                    "refusals",
                    time=self.env.now,
                    host=h.name,
                    vm=vm.name,
                    kind="placement",
                    reason=f"vcenter.status.{self.view[h.name]}",
                )
                continue
            out.append(h)
        return out

    def _choose(self, hosts: list[TrustedHost]) -> TrustedHost | None:
        if not hosts:
            return None
        if self.placement == "first_fit":
            return hosts[0]
        return min(hosts, key=lambda h: h.used_memory / h.memory)

    def power_on(self, vm: Vm) -> Generator[Any, Any, None]:
        """Place and power on a stopped VM (the key is fetched by the chosen host)."""
        now = self.env.now
        host = self._choose(self._candidates(vm))
        row = self.recorder.add(
            "placements",
            time=now,
            vcenter=self.name,
            vm=vm.name,
            host=None,
            needs_key=vm.needs_key,
            outcome="refused",
            reason="placement.no_eligible_host",
        )
        if host is None:
            return
        row["host"] = host.name
        host.used_memory += vm.memory
        self.pool.stopped.discard(vm)  # reserved while the key is fetched
        ok = True
        if vm.needs_key:
            ok = yield from host.obtain_key(vm, "power_on")
        if not ok or not host.up:
            host.used_memory -= vm.memory
            self.pool.stopped.add(vm)
            row.update(
                outcome="failed",
                reason="placement.key_not_released" if not ok else "placement.host_down",
            )
            return
        row.update(outcome="placed", reason="")
        host.vms[vm.name] = vm
        self.pool.started(vm, host.name)
        self.start_lifetime(vm)

    def start_lifetime(self, vm: Vm) -> None:
        """Run ``vm`` (just started) for a lifetime drawn from the workload, then power it
        off, unless it stopped or restarted in the meantime."""
        self.env.process(self._lifetime(vm, vm.epoch))

    def _lifetime(self, vm: Vm, epoch: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.ctx.sampler(f"vm.{vm.name}.lifetime", self.lifetime, 4)())
        while vm.migrating and vm.epoch == epoch:
            yield self.env.timeout(1.0)
        if vm.epoch == epoch and vm.host is not None:
            self.power_off(vm, "lifetime")

    def power_off(self, vm: Vm, why: str) -> None:
        """Power off a running VM (end of life, or its host going down)."""
        if vm.host is None:
            return
        host = self._host(vm.host)
        host.vms.pop(vm.name, None)
        host.used_memory -= vm.memory
        self.pool.stopped_vm(vm)

    def _host(self, name: str) -> TrustedHost:
        return self.by_name[name]

    # --- vMotion ---------------------------------------------------------------------------

    def migrate(self, vm: Vm) -> Generator[Any, Any, None]:
        """A DRS-like move of a running VM to another host of its cluster."""
        if vm.host is None or vm.migrating:
            return
        src = self._host(vm.host)
        start = self.env.now
        row = self.recorder.add(
            "migrations",
            start=start,
            end=None,
            vm=vm.name,
            source=src.name,
            destination=None,
            needs_key=vm.needs_key,
            encrypted=vm.migrates_encrypted,
            outcome="refused",
            reason="vmotion.no_eligible_host",
        )
        candidates = self._candidates(vm, exclude=src.name)
        if not candidates:
            return
        dst = candidates[int(self.placement_rng.integers(len(candidates)))]
        row["destination"] = dst.name
        yield from self.vmotion.move(vm, src, dst, row, self.name, self.vmotion_keys)
