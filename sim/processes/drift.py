"""Drift, remediation and reboots.

A drift event changes what a host runs; the kinds and their effects are registered in
:mod:`sim.domain.drift_kinds` (an unapproved VIB, another ESXi build, Secure Boot off, a
changed driver, a swapped TPM...), and the injector calls a kind's functions to apply it.
Whether the change is *measured at runtime* or only *at the next boot* is a scenario
setting per kind:

- runtime, a runtime-measurable kind (VIB, driver): the change is loaded now and measured
  into the running TPM at once (and is part of the image from then on, so later boots
  measure it too);
- runtime, other kinds: these changes need a reboot, so the host reboots now;
- boot: the change is staged and takes effect at the host's next reboot.

Remediation restores the host's approved image, platform and TPM and reboots it. Each drift
event is a draft the injector hands to the recorder (:class:`sim.analysis.recorder.DriftDraft`)
and keeps up to date (when it took effect, when remediation closed it); its ``drift_events``
record is written once, with the derived columns, by :func:`sim.analysis.drift.finalise_drift`
at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from sim.analysis.recorder import DriftDraft
from sim.domain import drift_kinds
from sim.domain.drift_kinds import DriftFacts
from sim.domain.image import (
    EsxiImage,
)
from sim.domain.installed import Installed, restore
from sim.domain.tpm import VirtualTPM
from sim.processes.context import Context
from sim.processes.host import TrustedHost
from sim.rng import ParkedStream
from sim.scenario.distributions import DistributionModel
from sim.scenario.model import Drift, DriftKind, RandomDrift, Reboots


@dataclass(frozen=True)
class DriftOrder:
    """One drift to apply: its kind, when (after it) it is remediated and the host
    rebooted (None: never), and the acceptance level of an unapproved VIB."""

    kind: DriftKind
    remediate_after: float | None = None
    reboot_after: float | None = None
    acceptance: str = "PartnerSupported"


class DriftInjector:
    """Applies drift to hosts, schedules remediation, and reboots hosts."""

    def __init__(
        self,
        ctx: Context,
        drift: Drift,
        reboots: Reboots,
        hosts: dict[str, TrustedHost],
        new_tpm: Callable[[str, int], VirtualTPM],
    ) -> None:
        self.env = ctx.env
        self.ctx = ctx
        self.spec = drift
        self.reboots = reboots
        self.hosts = hosts
        self.recorder = ctx.recorder
        self.measured_at = dict(drift.measured_at)
        self.new_tpm = new_tpm
        self.baseline = {n: (h.image, h.platform, h.tpm) for n, h in hosts.items()}
        self._count = 0
        self._open: dict[str, list[DriftDraft]] = {n: [] for n in hosts}

    def start(self) -> None:
        """Start the scheduled and random drift and reboots of the scenario."""
        env, ctx = self.env, self.ctx
        for i, d in enumerate(self.spec.scheduled):
            # Each scheduled drift draws from its own stream: a stream serves one
            # distribution, and scheduled and random drift may each bring their own.
            reboot = (
                None
                if d.reboot_after is None
                else self._draw(d.host, f"install-reboot.scheduled-{i}", d.reboot_after)
            )
            order = DriftOrder(d.kind, d.remediate_after, reboot, d.acceptance)
            env.process(self.at(d.at, d.host, order))
        rd = self.spec.random
        if rd.rate > 0 and rd.kinds:
            for name in self.hosts:
                self._next_random(name, rd, ctx.streams.park(f"host.{name}.drift"))
        for r in self.reboots.scheduled:
            env.process(self.reboot_at(r.at, r.host, r.kind))
        if self.reboots.rate > 0:
            for name in self.hosts:
                rng = ctx.stream(f"host.{name}.reboots")
                env.process(self.random_reboots(name, self.reboots.rate, rng))

    def _draw(self, host: str, purpose: str, dist: DistributionModel) -> float:
        return self.ctx.sampler(f"host.{host}.{purpose}", dist)()

    def reboot_duration(self, host: str) -> float:
        """How long the next reboot of ``host`` takes (from the host's own stream)."""
        return self.ctx.sampler(f"host.{host}.reboot-duration", self.reboots.duration)()

    # --- drift ---------------------------------------------------------------------------

    def at(self, when: float, host: str, order: DriftOrder) -> Generator[Any, Any, None]:
        """Wait until ``when``, then drift ``host``."""
        yield self.env.timeout(max(0.0, when - self.env.now))
        self.apply(host, order)

    def _next_random(self, host: str, spec: RandomDrift, stream: ParkedStream) -> None:
        """Poisson drift on ``host`` at the spec's rate, kinds drawn uniformly: the next
        one is an alarm (no process per host: a host's drift costs one event each)."""
        wait = stream.draw(lambda g: float(g.exponential(1.0 / spec.rate)))
        self.env.alarms.at(self.env.now + wait, partial(self._random_drift, host, spec, stream))

    def _random_drift(self, host: str, spec: RandomDrift, stream: ParkedStream) -> None:
        kind = spec.kinds[stream.draw(lambda g: int(g.integers(len(spec.kinds))))]
        order = DriftOrder(
            kind,
            None if spec.remediate_after is None
            else self._draw(host, "remediation", spec.remediate_after),
            None if spec.reboot_after is None
            else self._draw(host, "install-reboot", spec.reboot_after),
            spec.acceptance,
        )  # fmt: skip
        self.apply(host, order)
        self._next_random(host, spec, stream)

    def apply(self, name: str, order: DriftOrder) -> None:
        """Drift host ``name`` now (or record the attempt as blocked)."""
        self._count += 1
        drift_id = self._count
        host, kind = self.hosts[name], order.kind
        measured = self.measured_at[kind]
        draft = DriftDraft(drift_id, name, kind.value, self.env.now, measured)
        self.recorder.drift_began(draft)
        spec = drift_kinds.BY_NAME[kind.value]
        facts = DriftFacts(drift_id, name, order.acceptance, lambda: self.new_tpm(name, drift_id))
        if spec.blocked(facts, host.platform):
            draft.outcome = "blocked"  # nothing changes on the host
            return
        self._open[name].append(draft)
        change = spec.change(facts)

        def applied() -> None:
            if draft.effective_at is None:
                draft.effective_at = self.env.now

        if measured == "runtime" and spec.measure is not None and host.up:
            host.load_now(change, spec.measure(facts))
            draft.effective_at = self.env.now
        else:
            host.stage(change, applied)
            if measured == "runtime":
                self.env.process(host.reboot(self.reboot_duration(name), "drift"))
        if order.reboot_after is not None:
            self.env.process(self._install_reboot(name, order.reboot_after))
        if order.remediate_after is not None:
            self.env.process(self._remediate(name, draft, order.remediate_after))

    def _install_reboot(self, name: str, after: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(after)
        yield from self.hosts[name].reboot(self.reboot_duration(name), "drift")

    def _remediate(self, name: str, draft: DriftDraft, after: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(after)
        if draft.remediated_at is not None:
            return  # an earlier remediation of this host already restored it
        host = self.hosts[name]
        # Restoring the approved state undoes every drift of the host, staged ones too.
        host.stage_only(restore(Installed(*self.baseline[name])))
        for open_drift in self._open[name]:
            open_drift.remediated_at = self.env.now
        self._open[name] = []
        yield from host.reboot(self.reboot_duration(name), "remediation")

    def adopt_tpm(self, name: str) -> int:
        """An administrator registered the TPM host ``name`` now runs with: it becomes the
        host's approved TPM (what remediation restores), and every open TPM-swap drift of
        the host closes now. Returns how many drifts closed."""
        host = self.hosts[name]
        image, platform, _ = self.baseline[name]
        self.baseline[name] = (image, platform, host.tpm)
        closed = [d for d in self._open[name] if drift_kinds.BY_NAME[d.kind].adopted_with_tpm]
        for draft in closed:
            draft.remediated_at = self.env.now
        self._open[name] = [r for r in self._open[name] if r not in closed]
        return len(closed)

    def adopt_image(self, name: str, image: EsxiImage) -> None:
        """Host ``name`` was upgraded to ``image``: remediation restores that from now on."""
        _, platform, tpm = self.baseline[name]
        self.baseline[name] = (image, platform, tpm)

    def adopt_hardware(self, name: str) -> None:
        """Host ``name`` was repaired: its current TPM and server are its approved ones."""
        host = self.hosts[name]
        self.baseline[name] = (self.baseline[name][0], host.platform, host.tpm)

    # --- reboots -------------------------------------------------------------------------

    def reboot_at(self, when: float, host: str, kind: str = "planned") -> Generator[Any, Any, None]:
        """A reboot (planned, or a crash) of ``host`` at ``when``."""
        yield self.env.timeout(max(0.0, when - self.env.now))
        yield from self.hosts[host].reboot(self.reboot_duration(host), "reboot", kind)

    def random_reboots(
        self, host: str, rate: float, rng: np.random.Generator
    ) -> Generator[Any, Any, None]:
        """Poisson reboots of ``host`` at ``rate`` per second, of the scenario's kind."""
        kind = self.reboots.kind
        while True:
            yield self.env.timeout(float(rng.exponential(1.0 / rate)))
            reason = "crash" if kind == "crash" else "reboot"
            yield from self.hosts[host].reboot(self.reboot_duration(host), reason, kind)
