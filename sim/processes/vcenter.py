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
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import simpy

from sim.domain.stream_cipher import NonceLedger
from sim.metrics import Recorder
from sim.processes.host import TrustedHost
from sim.processes.inventory import Vm, VmPool
from sim.processes.services import ServiceDown
from sim.processes.trust_authority import ATTESTED, UNKNOWN, TrustAuthority
from sim.processes.vmotion import encrypted_transfer, precopy
from sim.scenario import VMotion
from sim.topology import Paths


class WorkloadVCenter:
    """One workload vCenter managing trusted clusters."""

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        hosts: list[TrustedHost],
        ta: TrustAuthority,
        pool: VmPool,
        paths: Paths,
        recorder: Recorder,
        poll_interval: float,
        placement: str,
        vmotion: VMotion,
        dirty_rate: float,
        rng: np.random.Generator,
        ledger: NonceLedger,
        lifetime: Callable[[], float],
        setup_time: Callable[[], float],
        switchover_time: Callable[[], float],
    ) -> None:
        self.env = env
        self.name = name
        self.node = f"vcenter:{name}"
        self.hosts = hosts
        self.by_name = {h.name: h for h in hosts}
        self.by_cluster: dict[str, list[TrustedHost]] = {}
        for h in hosts:
            self.by_cluster.setdefault(h.cluster, []).append(h)
        self.ta = ta
        self.pool = pool
        self.paths = paths
        self.recorder = recorder
        self.poll_interval = poll_interval
        self.placement = placement
        self.vmotion = vmotion
        self.dirty_rate = dirty_rate
        self.rng = rng
        self.ledger = ledger
        self.lifetime = lifetime
        self.setup_time = setup_time
        self.switchover_time = switchover_time
        self.view: dict[str, str] = {h.name: UNKNOWN for h in hosts}
        self._migrations = 0
        for h in hosts:
            h.on_power_off = self.power_off

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

    def _poll(self, node: Any, names: list[str]) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.paths.delay(self.node, node.name))
        statuses = yield from self.ta.poll_status(node, names)
        yield self.env.timeout(self.paths.delay(node.name, self.node))
        now = self.env.now
        for h in names:
            new = statuses[h]
            if new != self.view[h]:
                self.view[h] = new
                self.recorder.add("status_views", time=now, vcenter=self.name, host=h, status=new)

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
        self.env.process(self._lifetime(vm, vm.epoch))

    def _lifetime(self, vm: Vm, epoch: int) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.lifetime())
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
            duration_s=None,
            iterations=None,
            bytes_transferred=None,
            payload_bytes=None,
            bandwidth_Bps=None,
        )
        candidates = self._candidates(vm, exclude=src.name)
        if not candidates:
            return
        dst = candidates[int(self.rng.integers(len(candidates)))]
        row["destination"] = dst.name
        vm.migrating = True
        epoch = vm.epoch
        boots = (src.boots, dst.boots)
        dst.used_memory += vm.memory
        try:
            ok = True
            if vm.needs_key:
                ok = yield from dst.obtain_key(vm, "vmotion")
            if not ok:
                row.update(outcome="failed", reason="vmotion.key_not_released", end=self.env.now)
                return
            bw = self.paths.bottleneck(src.node, dst.node)
            if vm.migrates_encrypted:
                bw = min(bw, self.vmotion.cipher_rate)
            plan = precopy(
                vm.memory,
                self.dirty_rate,
                bw,
                self.vmotion.switchover_threshold,
                self.vmotion.max_iterations,
                self.switchover_time(),
            )
            yield self.env.timeout(self.setup_time() + plan.duration)
            if vm.epoch != epoch or (src.boots, dst.boots) != boots or not (src.up and dst.up):
                row.update(outcome="failed", reason="vmotion.host_down", end=self.env.now)
                return
            payload = 0
            if vm.migrates_encrypted:
                self._migrations += 1
                size = vm.memory if self.vmotion.payload == "full" else int(self.vmotion.payload)
                check = encrypted_transfer(
                    f"{self.name}-m{self._migrations}",
                    min(size, vm.memory),
                    int(self.vmotion.packet_size),
                    self.rng.bytes,
                    self.ledger,
                )
                if not check.intact:
                    row.update(outcome="failed", reason=check.reason, end=self.env.now)
                    return
                payload = check.payload_bytes
            src.vms.pop(vm.name, None)
            src.used_memory -= vm.memory
            dst.vms[vm.name] = vm
            vm.host = dst.name
            row.update(
                outcome="completed",
                reason="",
                end=self.env.now,
                duration_s=self.env.now - start,
                iterations=plan.iterations,
                bytes_transferred=plan.bytes_transferred,
                payload_bytes=payload,
                bandwidth_Bps=bw,
            )
        finally:
            if vm.epoch == epoch:  # a VM powered off and on again may be moving anew
                vm.migrating = False
            if row["outcome"] != "completed":
                dst.used_memory -= vm.memory
