"""A trusted ESXi host: the parts it plays, each owning its state.

- TPM and boot (:mod:`sim.processes.host_boot`): what the host runs (image, server, TPM),
  the changes staged for its next boot, the measured boot. Drift, upgrades, repairs and
  remediation hand the host a change; only the host applies it.
- Attestation client (:mod:`sim.processes.host_agent`): the Trusted Infrastructure Agent
  (kmxa), attesting at boot, periodically and on demand (or when the verifier polls), the
  report it holds and the status it reports to the vCenter.
- Key cache (:mod:`sim.processes.host_keys`): the VM keys the host holds; :meth:`obtain_key`
  fetches a missing one from the Key Provider Service, attesting first if need be.
- Capacity (:mod:`sim.processes.host_capacity`): up, maintenance mode and memory in use,
  which the vCenter and the vMotion engine change through the host's methods.

A reboot re-measures the whole boot chain into a reset TPM; in TPM mode a new TPM first
costs the recovery of the secure configuration (:mod:`sim.processes.secure_config`). What
the host does with its vCenter (VMs powered off, maintenance mode, crashes, status reports)
goes through ports the builder connects (:mod:`sim.processes.wiring`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from sim.domain.image import EsxiImage, Platform
from sim.domain.installed import Change, Installed
from sim.domain.reasons import Reason
from sim.domain.reasons import reason as registered_reason
from sim.domain.report import SignedOnUse
from sim.domain.tpm import VirtualTPM
from sim.processes.attestation_status import UNKNOWN
from sim.processes.context import Context
from sim.processes.drafts import KeyRequestDraft
from sim.processes.host_agent import AttestationClient
from sim.processes.host_boot import Applied, BootChain
from sim.processes.host_capacity import CapacityState
from sim.processes.host_keys import HeldKey, KeyCache
from sim.processes.inventory import Vm
from sim.processes.network import Unreachable
from sim.processes.secure_config import SecureConfiguration
from sim.processes.services import ServiceDown
from sim.processes.status_view import StatusReport
from sim.processes.trust_authority import TrustAuthority
from sim.processes.wiring import Port
from sim.scenario.distributions import DistributionModel
from sim.scenario.model import Attestation


@dataclass(frozen=True)
class HostSpec:
    """One trusted host as built: its place in the inventory, its memory, and the TPM,
    server and approved ESXi image it starts with."""

    name: str
    vcenter: str
    cluster: str
    memory: int
    tpm: VirtualTPM
    platform: Platform
    image: EsxiImage
    key_persistence: bool = False
    config_recovery: DistributionModel | None = None  # TPM mode's recovery; None: not TPM mode
    registered: bool = True  # False: set up during the run, attests once its cluster is


class TrustedHost(CapacityState):
    """One trusted ESXi host: its boot chain, agent, key cache and capacity."""

    def __init__(self, ctx: Context, spec: HostSpec, cfg: Attestation, ta: TrustAuthority) -> None:
        self.env = ctx.env
        self.name = spec.name
        self.node = f"host:{spec.name}"
        self.vcenter = spec.vcenter
        self.cluster = spec.cluster
        self.memory = spec.memory
        self.track_capacity(ctx.recorder.capacity)
        self.vms: dict[str, Vm] = {}
        self.chain = BootChain(Installed(spec.image, spec.platform, spec.tpm))
        self.ta = ta
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self.config = cfg
        self.agent = AttestationClient(ctx, self, cfg, ta, spec.registered)
        # drawn two numbers at most, at the start: a parked stream (the same numbers as its
        # generator, for a fraction of the cost of making one)
        self._startup = ctx.streams.park(f"host.{spec.name}.startup")
        self.key_cache = KeyCache(spec.name, spec.key_persistence, ctx.recorder)
        recovery, stream = spec.config_recovery, f"host.{spec.name}.config-recovery"
        self.secure_config = SecureConfiguration(
            spec.tpm.ek_public_der,
            None if recovery is None else lambda: ctx.sampler(stream, recovery)(),
        )
        owner = f"host {spec.name}"
        # what the host's vCenter does when it powers off a VM, reports its status, enters
        # maintenance mode (moves its VMs away) and crashes (vSphere HA restarts its VMs)
        self.power_off: Port[Callable[[Vm, str], None]] = Port(owner, "power_off")
        self.status_to = self.agent.status_to
        self.evacuate: Port[Callable[[TrustedHost], Generator[Any, Any, None]]] = Port(
            owner, "evacuate"
        )
        self.crashed: Port[Callable[[TrustedHost, list[Vm]], None]] = Port(owner, "crashed")
        self._going_down = False

    # --- boot and reboot ----------------------------------------------------------------

    def start(self, startup: str, index: int) -> None:
        """Bring the host up at the start of the run (host ``index`` of the estate).

        ``steady_state``: the estate has been running; the host holds the report of its
        last attestation and attests next when the attestation renewal process would (age
        and residual time drawn from its equilibrium, see :func:`equilibrium_phase`).
        ``cold_boot``: every host boots now and attests at once; its next period has a
        uniformly random phase."""
        if not self.agent.registered:  # set up during the run: no attestation until registered
            self._power_up("start")
            return
        interval = self.config.interval
        if startup == "cold_boot":
            self.boot(first_period=self._startup.draw(lambda g: float(g.uniform(0, interval))))
            return
        u1, u2 = self._startup.draw(lambda g: (float(g.random()), float(g.random())))
        age, residual = equilibrium_phase(interval, self.config.jitter, u1, u2)
        self._power_up("start")
        node = self.ta.primary[index % len(self.ta.primary)]
        report = self.ta.held_report(self.name, node, self.image.image_id, age)
        self.agent.resume(report, self.env.now - age + self.ta.report_lifetime, residual)

    def boot(self, first_period: float | None = None) -> None:
        """Apply staged changes, measure the boot chain into a reset TPM, start the agent.

        The agent attests at once; its next attestation follows after ``first_period``
        (default: one interval plus jitter). A polled agent (``initiator: verifier``) waits
        for the verifier's next poll instead."""
        self._power_up("boot")
        self.agent.booted(first_period)

    def _power_up(self, reason: str) -> None:
        chain = self.chain
        chain.power_up(self.env.now)
        self.ta.first_contact(self.name, self.platform.hardware_id, self.tpm)
        if reason != "start":  # a running estate's hosts keep the keys they hold
            ek = self.tpm.ek_public_der
            self.key_cache.boot(self.platform.secure_boot, ek, self.env.now)
        self.agent.forget_report()
        self._set_up(True)
        self.recorder.add(
            "host_events", time=self.env.now, host=self.name, event="up", reason=reason
        )

    def reboot(
        self, duration: float, why: str = "reboot", kind: str = "planned"
    ) -> Generator[Any, Any, None]:
        """Take the host down for ``duration``, then boot it again. A ``planned`` reboot
        first enters maintenance mode (the vCenter moves the VMs away; what cannot move is
        powered off); a ``crash`` takes the VMs down with it and vSphere HA restarts them
        elsewhere. A host already going down or down ignores the call."""
        if not self.up or self._going_down:
            return
        self._going_down = True
        if kind == "planned":
            yield from self.evacuate.target(self)
        self._set_up(False)
        self._going_down = False
        self.recorder.add(
            "host_events", time=self.env.now, host=self.name, event="down", reason=why
        )
        self.agent.stop(why)
        vms = list(self.vms.values())
        power_off = self.power_off.target
        for vm in vms:
            power_off(vm, why)
        if kind == "crash":
            self.crashed.target(self, vms)
        self.agent.send_status(UNKNOWN)  # not responding
        yield self.env.timeout(duration)
        self.chain.apply_staged()  # the new hardware is in before the boot is tried
        recovery = self.secure_config.recovery(self.tpm.ek_public_der)
        if recovery is not None:  # TPM mode, new TPM: cannot boot until recovered
            self.recorder.add(
                "host_events", time=self.env.now, host=self.name, event="config_recovery",
                reason="tpm_changed",
            )  # fmt: skip
            yield self.env.timeout(recovery)
        self.boot()
        self._set_maintenance(False)

    # --- what the host runs, and the VMs on it -------------------------------------------

    @property
    def image(self) -> EsxiImage:
        """The ESXi image the host runs."""
        return self.chain.image

    @property
    def platform(self) -> Platform:
        """The server the host runs on."""
        return self.chain.platform

    @property
    def tpm(self) -> VirtualTPM:
        """The host's TPM."""
        return self.chain.tpm

    @property
    def boots(self) -> int:
        """How many times the host has booted."""
        return self.chain.boots

    def stage(self, change: Change, applied: Applied | None = None) -> None:
        """Apply ``change`` to what the host runs at its next boot (``applied`` is told
        when it took effect)."""
        self.chain.stage(change, applied)

    def stage_only(self, change: Change) -> None:
        """Make ``change`` the only change staged for the next boot (remediation)."""
        self.chain.stage_only(change)

    def load_now(self, change: Change, measure: Callable[[VirtualTPM], object]) -> None:
        """Apply ``change`` while the host runs, measured into its TPM by ``measure``."""
        self.chain.load_now(change, measure)

    def admit(self, vm: Vm) -> None:
        """``vm`` runs here now (its memory already reserved)."""
        self.vms[vm.name] = vm

    def evict(self, vm: Vm) -> None:
        """``vm`` no longer runs here (powered off or moved away): its memory is released."""
        self.vms.pop(vm.name, None)
        self.release(vm.memory)

    # --- the agent, as others ask it --------------------------------------------------------

    def begin_attesting(self) -> None:
        """The host's trusted cluster is registered: its agent starts (attesting at once)."""
        self.agent.begin_attesting()

    @property
    def has_valid_report(self) -> bool:
        """Whether the agent holds a report that has not expired (by its own clock)."""
        return self.agent.has_valid_report

    @property
    def report(self) -> SignedOnUse | None:
        """The report the agent holds (its JWT is ``.token``, signed when first read), if
        any."""
        return self.agent.report

    @property
    def first_poll(self) -> float:
        """When the verifier first polls this host (``initiator: verifier``)."""
        return self.agent.first_poll

    def answer_poll(self) -> Generator[Any, Any, None]:
        """The verifier polls this host (see :meth:`AttestationClient.answer_poll`)."""
        return self.agent.answer_poll()

    def period(self) -> float:
        """One re-attestation period: ``interval`` plus a draw of the host's jitter."""
        return self.agent.period()

    def status_report(self) -> StatusReport:
        """The host's own status now: attested until its report expires, if it holds one."""
        return self.agent.status_report()

    # --- keys ----------------------------------------------------------------------------

    def hold_key(self, vm: str, kek: bytes, now: float) -> None:
        """Keep ``vm``'s KEK in the host's key cache, sealed to its current state."""
        seal = HeldKey(kek, self.platform.secure_boot, self.tpm.ek_public_der)
        self.key_cache.add(vm, seal, now)

    def obtain_key(self, vm: Vm, purpose: str) -> Generator[Any, Any, bool]:
        """Make ``vm``'s key available here: from the host's key cache, else from the Key
        Provider Service (attesting first if the agent holds no unexpired report). Records
        the request once answered (or at the end of the run); True when the host has the key."""
        start = self.env.now
        if vm.name in self.key_cache:
            self.recorder.add(
                "key_requests", time=start, host=self.name, vm=vm.name, purpose=purpose,
                outcome="host_cache", reason="", latency_s=0.0,
            )  # fmt: skip
            return True
        wrapped = vm.wrapped_kek
        draft = KeyRequestDraft(
            start, self.name, vm.name, purpose, None if wrapped is None else wrapped.provider
        )
        recorder = self.recorder
        recorder.opened(draft)
        agent = self.agent
        if not agent.has_valid_report:
            yield from agent.ensure_attested("on_demand")
        node = self.ta.pick_node()
        if node is None or wrapped is None:
            recorder.closed(draft, draft.record("failed", Reason.KPS_UNAVAILABLE.text))
            return False
        draft.node = node.name
        try:
            yield self.env.timeout(self.paths.delay(self.node, node.name))
            out = yield from self.ta.release_key(node, self.name, agent.report, wrapped)
        except Unreachable:
            recorder.closed(draft, draft.record("failed", Reason.KPS_UNREACHABLE.text))
            return False
        except ServiceDown:
            recorder.closed(draft, draft.record("failed", Reason.KPS_UNAVAILABLE.text))
            return False
        released = out.material is not None
        reason = out.reason or ""
        answer = {
            "node": out.node,
            "cache_hit": out.cache_hit,
            "kms_get": out.kms_get,
            "kms_timeouts": out.kms_timeouts,
        }
        outcome = "released" if released else "refused"
        if out.material is not None:
            recorder.key_released(self.name, self.env.now)
            self.hold_key(vm.name, out.material, self.env.now)
        elif not reason or registered_reason(reason).refusal:  # the report did not qualify
            if reason == Reason.REPORT_UNKNOWN_ISSUER:  # signed by a retired key: attest anew
                agent.forget_report()
            recorder.add(
                "refusals",
                time=self.env.now,
                host=self.name,
                vm=vm.name,
                kind="key_release",
                reason=out.reason,
            )
        else:
            outcome = "failed"
        try:
            yield self.env.timeout(self.paths.delay(node.name, self.node))
        except Unreachable:  # the answer cannot come back
            recorder.closed(draft, draft.record("failed", Reason.KPS_UNREACHABLE.text, **answer))
            return False
        record = draft.record(outcome, reason, latency_s=self.env.now - start, **answer)
        recorder.closed(draft, record)
        return released


def equilibrium_phase(interval: float, jitter: float, u1: float, u2: float) -> tuple[float, float]:
    """Age of the current period and time to the next attestation, in equilibrium.

    Periods are ``X = interval + U(0, jitter)`` (an attestation's own latency of a second
    or so is left out). Seen at a random moment, the period in progress is length-biased,
    density ``x f(x) / E[X]``, and the moment is uniform within it; so age and residual are
    ``V X*`` and ``(1 - V) X*``, each with the equilibrium density ``P(X > w) / E[X]``.
    ``u1`` and ``u2`` are independent uniform(0, 1) draws: ``X*`` by inversion of its CDF
    ``(x^2 - T^2) / ((T + J)^2 - T^2)`` on ``[T, T + J]``, then ``V = u2``."""
    t, j = interval, jitter
    length = math.sqrt(t * t + u1 * ((t + j) ** 2 - t * t)) if j > 0 else t
    return u2 * length, (1.0 - u2) * length
