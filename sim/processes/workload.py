"""The estate's workload: Poisson streams of power-ons and DRS-like migrations.

A power-on picks a stopped VM uniformly and asks its vCenter to place it; each powered-on VM
runs for a lifetime drawn from the scenario, then powers off (that part lives in the
vCenter). A migration picks a running VM uniformly and asks its vCenter to move it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.processes.context import Context
from sim.processes.inventory import VmPool
from sim.processes.vcenter import WorkloadVCenter
from sim.scenario.model import Workload as WorkloadSpec


class Workload:
    """Generates power-on and migration requests."""

    def __init__(
        self,
        ctx: Context,
        spec: WorkloadSpec,
        pool: VmPool,
        vcenters: dict[str, WorkloadVCenter],
    ) -> None:
        self.env = ctx.env
        self.spec = spec
        self.pool = pool
        self.vcenters = vcenters
        self.power_on_rng = ctx.stream("workload.power-ons")
        self.migration_rng = ctx.stream("workload.migrations")

    def start(self) -> None:
        """Start the request streams whose rate is positive."""
        if self.spec.power_on_rate > 0:
            self.env.process(self.power_ons(self.spec.power_on_rate))
        if self.spec.migration_rate > 0:
            self.env.process(self.migrations(self.spec.migration_rate))

    def power_ons(self, rate: float) -> Generator[Any, Any, None]:
        """Power-on requests at ``rate`` per second."""
        rng = self.power_on_rng
        while True:
            yield self.env.timeout(float(rng.exponential(1.0 / rate)))
            vm = self.pool.stopped.choice(rng)
            if vm is not None:
                self.env.process(self.vcenters[vm.vcenter].power_on(vm))

    def migrations(self, rate: float) -> Generator[Any, Any, None]:
        """Migration requests at ``rate`` per second."""
        rng = self.migration_rng
        while True:
            yield self.env.timeout(float(rng.exponential(1.0 / rate)))
            vm = self.pool.running.choice(rng)
            if vm is not None and not vm.migrating:
                self.env.process(self.vcenters[vm.vcenter].migrate(vm))
