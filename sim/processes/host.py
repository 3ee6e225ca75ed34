"""A trusted ESXi host and its Trusted Infrastructure Agent (kmxa).

The host owns a virtual TPM, the ESXi image it runs and the platform it runs on. At boot the
image and platform are measured into the TPM; the agent then attests (nonce from the
Attestation Service, a real TPM quote, the event log and its EK/AK identity), again every
``interval`` plus a uniform jitter, and on demand when it needs a key and holds no unexpired
report (``on_demand``). Attempts that time out or find no node are retried with exponential
back-off. With ``initiator: verifier`` the agent schedules nothing itself: the verifier's
poller (:mod:`sim.processes.verifier_poll`) sends it a nonce, and :meth:`answer_poll` quotes.

Changes that are measured only at boot are *staged* and applied on the next reboot; a reboot
re-measures the whole boot chain into a reset TPM; in TPM mode a new TPM first costs the
recovery of the secure configuration (:mod:`sim.processes.secure_config`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.domain.image import EsxiImage, Platform, measure_boot
from sim.domain.pki import public_der
from sim.domain.report import SignedOnUse
from sim.domain.tpm import VirtualTPM
from sim.domain.verifier import collect_evidence
from sim.processes.attestation_status import ATTESTED, NOT_ATTESTED, UNKNOWN
from sim.processes.context import Context
from sim.processes.drafts import Attempt, AttestationDraft, KeyRequestDraft
from sim.processes.host_capacity import CapacityState
from sim.processes.host_keys import HeldKey, KeyCache
from sim.processes.inventory import Vm
from sim.processes.network import Unreachable
from sim.processes.secure_config import SecureConfiguration
from sim.processes.services import Lock, ServiceDown
from sim.processes.status_view import StatusReport
from sim.processes.trust_authority import AttestOutcome, TrustAuthority, TrustNode
from sim.scenario.distributions import DistributionModel, Uniform
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


class TrustedHost(CapacityState):
    """One trusted ESXi host with its agent process."""

    def __init__(self, ctx: Context, spec: HostSpec, cfg: Attestation, ta: TrustAuthority) -> None:
        self.env = ctx.env
        self.name = spec.name
        self.node = f"host:{spec.name}"
        self.vcenter = spec.vcenter
        self.cluster = spec.cluster
        self.memory = spec.memory
        self.track_capacity(ctx.recorder.capacity)
        self.vms: dict[str, Vm] = {}
        self.tpm = spec.tpm
        self.platform = spec.platform
        self.image = spec.image
        self.staged: list[Callable[[], None]] = []
        self.boots = 0
        self.ta = ta
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self.config = cfg
        self._tpm_sign_time = ctx.sampler(f"host.{spec.name}.tpm-sign", cfg.tpm_sign_time)
        # Batched uniform draws: the same numbers as one ``uniform(0, jitter)`` per call.
        self._jitter: Callable[[], float] = (
            ctx.sampler(f"host.{spec.name}.jitter", Uniform(low=0.0, high=cfg.jitter))
            if cfg.jitter > 0
            else lambda: 0.0
        )
        self._startup_rng = ctx.stream(f"host.{spec.name}.startup")
        self._tpm_lock = Lock(ctx.env, capacity=1)
        self.key_cache = KeyCache(spec.name, spec.key_persistence, ctx.recorder)
        recovery, stream = spec.config_recovery, f"host.{spec.name}.config-recovery"
        self.secure_config = SecureConfiguration(
            public_der(spec.tpm.ek_public),
            None if recovery is None else lambda: ctx.sampler(stream, recovery)(),
        )
        self.report: SignedOnUse | None = None
        self.report_expires = float("-inf")
        self._agent: simpy.Process | None = None
        self._inflight: simpy.Process | None = None
        self.on_power_off: Callable[[Vm, str], None] = lambda vm, why: None
        self.on_status: Callable[[StatusReport], None] = lambda report: None
        self.on_maintenance: Callable[[TrustedHost], Generator[Any, Any, None]] = _no_evacuation
        self.on_crash: Callable[[TrustedHost, list[Vm]], None] = lambda host, vms: None
        self.registered = True
        self._going_down = False
        self._reports_sent = 0
        self.polled = cfg.initiator == "verifier"
        self.first_poll = 0.0  # when the verifier first polls this host (polled hosts)

    # --- boot and reboot ----------------------------------------------------------------

    def start(self, startup: str, index: int) -> None:
        """Bring the host up at the start of the run (host ``index`` of the estate).

        ``steady_state``: the estate has been running; the host holds the report of its
        last attestation and attests next when the attestation renewal process would (age
        and residual time drawn from its equilibrium, see :func:`equilibrium_phase`).
        ``cold_boot``: every host boots now and attests at once; its next period has a
        uniformly random phase."""
        rng = self._startup_rng
        if not self.registered:  # set up during the run: no attestation until registered
            self._power_up("start")
            return
        if startup == "cold_boot":
            self.boot(first_period=float(rng.uniform(0, self.config.interval)))
            return
        age, residual = equilibrium_phase(
            self.config.interval, self.config.jitter, float(rng.random()), float(rng.random())
        )
        self._power_up("start")
        node = self.ta.primary[index % len(self.ta.primary)]
        self.report = self.ta.held_report(self.name, node, self.image.image_id, age)
        self.report_expires = self.env.now - age + self.ta.report_lifetime
        if self.polled:
            self.first_poll = residual
        else:
            self._agent = self.env.process(self._agent_loop(False, residual))

    def boot(self, first_period: float | None = None) -> None:
        """Apply staged changes, measure the boot chain into a reset TPM, start the agent.

        The agent attests at once; its next attestation follows after ``first_period``
        (default: one interval plus jitter). A polled agent (``initiator: verifier``) waits
        for the verifier's next poll instead."""
        self._power_up("boot")
        if self.registered and not self.polled:
            self._agent = self.env.process(self._agent_loop(True, first_period))

    def _power_up(self, reason: str) -> None:
        for change in self.staged:
            change()
        self.staged = []
        self.tpm.restart()
        self.tpm.set_clock(int(self.env.now * 1000))
        measure_boot(self.tpm, self.image, self.platform)
        self.ta.first_contact(self.name, self.platform.hardware_id, self.tpm)
        if reason != "start":  # a running estate's hosts keep the keys they hold
            ek = public_der(self.tpm.ek_public)
            self.key_cache.boot(self.platform.secure_boot, ek, self.env.now)
        self.report, self.report_expires = None, float("-inf")
        self.up = True
        self.boots += 1
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
            yield from self.on_maintenance(self)
        self.up = False
        self._going_down = False
        self.recorder.add(
            "host_events", time=self.env.now, host=self.name, event="down", reason=why
        )
        for proc in (self._agent, self._inflight):
            if proc is not None and proc.is_alive:
                proc.interrupt(why)
        self._agent = self._inflight = None
        vms = list(self.vms.values())
        for vm in vms:
            self.on_power_off(vm, why)
        if kind == "crash":
            self.on_crash(self, vms)
        self._send_status(UNKNOWN)  # not responding
        yield self.env.timeout(duration)
        for change in self.staged:  # the new hardware is in before the boot is tried
            change()
        self.staged = []
        recovery = self.secure_config.recovery(public_der(self.tpm.ek_public))
        if recovery is not None:  # TPM mode, new TPM: cannot boot until recovered
            self.recorder.add(
                "host_events", time=self.env.now, host=self.name, event="config_recovery",
                reason="tpm_changed",
            )  # fmt: skip
            yield self.env.timeout(recovery)
        self.boot()
        self.maintenance = False

    def begin_attesting(self) -> None:
        """The host's trusted cluster is registered: its agent starts (attesting at once)."""
        self.registered = True
        if self.up and self._agent is None and not self.polled:
            self._agent = self.env.process(self._agent_loop(True, None))

    # --- attestation ---------------------------------------------------------------------

    @property
    def has_valid_report(self) -> bool:
        """Whether the agent holds a report that has not expired (by its own clock)."""
        return self.report is not None and self.report_expires > self.env.now

    def _agent_loop(
        self, attest_first: bool, first_period: float | None
    ) -> Generator[Any, Any, None]:
        try:
            if attest_first:
                yield from self.ensure_attested("boot")
            while True:
                if first_period is not None:
                    wait, first_period = first_period, None
                else:
                    wait = self.period()
                yield self.env.timeout(wait)
                yield from self.ensure_attested("periodic")
        except simpy.Interrupt:
            return

    def ensure_attested(self, trigger: str) -> Generator[Any, Any, None]:
        """Attest now, or join the attestation already in flight. An ``on_demand`` request
        does nothing when the regime has no on-demand attestation (``on_demand: false``)."""
        if trigger == "on_demand" and not self.config.on_demand:
            return
        if self._inflight is None or not self._inflight.is_alive:
            self._inflight = self.env.process(self._attest(trigger))
        yield self._inflight

    def answer_poll(self) -> Generator[Any, Any, None]:
        """The verifier polls this host (``initiator: verifier``): it sends a nonce, the
        agent quotes, the verifier verifies; attempts time out and are retried with the
        configured back-off, as the verifier's own retries. Joins an attempt in flight."""
        if self._inflight is None or not self._inflight.is_alive:
            self._inflight = self.env.process(self._attest("poll"))
        yield self._inflight

    def period(self) -> float:
        """One re-attestation period: ``interval`` plus a draw of the host's jitter."""
        return self.config.interval + self._jitter()

    def _attest(self, trigger: str) -> Generator[Any, Any, None]:
        cfg = self.config
        start = self.env.now
        draft = AttestationDraft(self.name, trigger, start)
        self.recorder.opened(draft)
        delay = cfg.backoff
        outcomes: list[AttestOutcome] = []
        try:
            for attempt in range(1, cfg.max_retries + 2):
                draft.attempts = attempt
                nodes = self.ta.targets()
                if nodes:
                    deadline = self.env.now + cfg.timeout
                    waiting = Attempt()
                    try:
                        rounds = [
                            self.env.process(self._round(n, deadline, waiting, trigger == "poll"))
                            for n in nodes
                        ]
                        race = rounds[0] if len(rounds) == 1 else self.env.all_of(rounds)
                        yield race | self.env.timeout(cfg.timeout)
                        outcomes = [r.value for r in rounds if r.processed and r.value is not None]
                        for outcome in outcomes:
                            self.ta.delivered(outcome, self.env.now)
                    finally:  # taken what came back, timed out, or the host went down
                        self.ta.attempt_over(waiting)
                    if outcomes:
                        break
                if attempt <= cfg.max_retries:
                    yield self.env.timeout(delay)
                    delay = min(delay * cfg.backoff_multiplier, cfg.max_backoff)
        except simpy.Interrupt:  # the host went down: the attestation ends without an answer
            self.recorder.closed(draft, draft.record(self.env.now, False, "attestation.host_down"))
            return
        now = self.env.now
        if not outcomes:
            self.recorder.closed(draft, draft.record(now, False, "attestation.unavailable"))
            self._send_status(UNKNOWN)
            return
        first = min(outcomes, key=lambda o: o.verdict_at)
        failed = [o for o in outcomes if not o.verdict.ok]
        record = draft.record(
            now,
            not failed,
            " ".join(dict.fromkeys(r for o in failed for r in o.verdict.reasons)),
            node=" ".join(o.node for o in outcomes),
            verdict_at=first.verdict_at,
            queue_wait_s=max(o.queue_wait for o in outcomes),
            verdict_latency_s=max(o.verdict_at for o in outcomes) - start,
        )
        self.recorder.closed(draft, record)
        reports = [o for o in outcomes if o.token is not None and o.expires_at is not None]
        if reports and not failed:
            newest = max(reports, key=lambda o: o.expires_at or 0.0)
            assert newest.token is not None and newest.expires_at is not None
            self.report, self.report_expires = newest.token, newest.expires_at
            self._send_status(ATTESTED, newest.expires_at, newest.jti)
        else:
            self._send_status(NOT_ATTESTED)

    # --- status reports to the vCenter -------------------------------------------------------

    def status_report(self) -> StatusReport:
        """The host's own status now: attested until its report expires, if it holds one."""
        self._reports_sent += 1
        if self.has_valid_report:
            return StatusReport(self.name, self._reports_sent, ATTESTED, self.report_expires)
        return StatusReport(self.name, self._reports_sent, NOT_ATTESTED)

    def _send_status(
        self, status: str, attested_until: float | None = None, jti: str | None = None
    ) -> None:
        self._reports_sent += 1
        self.on_status(StatusReport(self.name, self._reports_sent, status, attested_until, jti))

    def _round(
        self, node: TrustNode, deadline: float, attempt: Attempt, polled: bool = False
    ) -> Generator[Any, Any, AttestOutcome | None]:
        """One round of ``attempt`` at ``node``: nonce round trip (or, ``polled``, the
        verifier's nonce sent to the agent), TPM quote, evidence to the service, answer
        back."""
        env, paths = self.env, self.paths
        boot = self.boots
        try:
            if polled:
                nonce_id, nonce = self.ta.issue_nonce(self.name)
                yield env.timeout(paths.delay(node.name, self.node))
                if not self.up or self.boots != boot:
                    return None  # the agent is down: the connection is refused
            else:
                yield env.timeout(paths.delay(self.node, node.name))
                if not node.up:
                    return None
                nonce_id, nonce = self.ta.issue_nonce(self.name)
                yield env.timeout(paths.delay(node.name, self.node))
            with self._tpm_lock.slot() as turn:  # the TPM runs one command at a time
                if turn.pending is not None:
                    yield turn.pending
                yield env.timeout(self._tpm_sign_time())
                if not self.up or self.boots != boot:
                    return None  # the host went down: this attempt died with it
                self.tpm.set_clock(int(env.now * 1000))
                evidence = collect_evidence(self.name, self.tpm, nonce)
            quoted_at = env.now
            yield env.timeout(paths.delay(self.node, node.name))
            outcome = yield from self.ta.attest(
                node, evidence, nonce_id, quoted_at, deadline, attempt
            )
            if outcome is None:
                return None  # dropped: its deadline had passed when a worker took it
            yield env.timeout(paths.delay(node.name, self.node))
        except (ServiceDown, Unreachable):
            return None
        return outcome

    # --- keys ----------------------------------------------------------------------------

    def hold_key(self, vm: str, kek: bytes, now: float) -> None:
        """Keep ``vm``'s KEK in the host's key cache, sealed to its current state."""
        seal = HeldKey(kek, self.platform.secure_boot, public_der(self.tpm.ek_public))
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
        if not self.has_valid_report:
            yield from self.ensure_attested("on_demand")
        node = self.ta.pick_node()
        if node is None or wrapped is None:
            recorder.closed(draft, draft.record("failed", "kps.unavailable"))
            return False
        draft.node = node.name
        try:
            yield self.env.timeout(self.paths.delay(self.node, node.name))
            out = yield from self.ta.release_key(node, self.name, self.report, wrapped)
        except Unreachable:
            recorder.closed(draft, draft.record("failed", "kps.unreachable"))
            return False
        except ServiceDown:
            recorder.closed(draft, draft.record("failed", "kps.unavailable"))
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
        elif not reason.startswith(("kms.", "kps.")):
            if out.reason == "report.unknown_issuer":  # signed by a retired key: attest anew
                self.report, self.report_expires = None, float("-inf")
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
            recorder.closed(draft, draft.record("failed", "kps.unreachable", **answer))
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


def _no_evacuation(host: TrustedHost) -> Generator[Any, Any, None]:
    """Maintenance mode with no vCenter to move VMs: nothing moves."""
    host.maintenance = True
    yield from ()
