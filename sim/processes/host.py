"""A trusted ESXi host and its Trusted Infrastructure Agent (kmxa).

The host owns a virtual TPM, the ESXi image it runs and the platform it runs on. At boot the
image and platform are measured into the TPM; the agent then attests (nonce from the
Attestation Service, a real TPM quote, the event log and its EK/AK identity), again every
``interval`` plus a uniform jitter, and on demand when it needs a key and holds no unexpired
report. Attempts that time out or find no node are retried with exponential back-off.

Changes that are measured only at boot are *staged* and applied on the next reboot; a reboot
re-measures the whole boot chain into a reset TPM.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.domain.image import EsxiImage, Platform, measure_boot
from sim.domain.tpm import VirtualTPM
from sim.domain.verifier import collect_evidence
from sim.processes.context import Context
from sim.processes.inventory import Vm
from sim.processes.services import ServiceDown
from sim.processes.trust_authority import AttestOutcome, TrustAuthority, TrustNode
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


class TrustedHost:
    """One trusted ESXi host with its agent process."""

    def __init__(self, ctx: Context, spec: HostSpec, cfg: Attestation, ta: TrustAuthority) -> None:
        self.env = ctx.env
        self.name = spec.name
        self.node = f"host:{spec.name}"
        self.vcenter = spec.vcenter
        self.cluster = spec.cluster
        self.memory = spec.memory
        self.used_memory = 0
        self.vms: dict[str, Vm] = {}
        self.tpm = spec.tpm
        self.platform = spec.platform
        self.image = spec.image
        self.staged: list[Callable[[], None]] = []
        self.up = False
        self.boots = 0
        self.ta = ta
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self.config = cfg
        self._tpm_sign_time = ctx.sampler("tpm.sign-time", cfg.tpm_sign_time)
        jitter_rng = ctx.stream("agent.jitter")
        self._jitter: Callable[[], float] = (
            (lambda: float(jitter_rng.uniform(0.0, cfg.jitter))) if cfg.jitter > 0 else lambda: 0.0
        )
        self.report: str | None = None
        self.report_expires = float("-inf")
        self._agent: simpy.Process | None = None
        self._inflight: simpy.Process | None = None
        self.on_power_off: Callable[[Vm, str], None] = lambda vm, why: None

    # --- boot and reboot ----------------------------------------------------------------

    def boot(self, first_period: float | None = None) -> None:
        """Apply staged changes, measure the boot chain into a reset TPM, start the agent.

        The agent attests at once; its next attestation follows after ``first_period``
        (default: one interval plus jitter). The estate's initial boot passes a uniformly
        random phase so re-attestations spread over the interval as in a long-running
        estate."""
        for change in self.staged:
            change()
        self.staged = []
        self.tpm.restart()
        self.tpm.set_clock(int(self.env.now * 1000))
        measure_boot(self.tpm, self.image, self.platform)
        self.report, self.report_expires = None, float("-inf")
        self.up = True
        self.boots += 1
        self.recorder.add(
            "host_events", time=self.env.now, host=self.name, event="up", reason="boot"
        )
        self._agent = self.env.process(self._agent_loop(first_period))

    def reboot(self, duration: float, why: str = "reboot") -> Generator[Any, Any, None]:
        """Take the host down (its VMs power off), wait, boot again."""
        if not self.up:
            return
        self.up = False
        self.recorder.add(
            "host_events", time=self.env.now, host=self.name, event="down", reason=why
        )
        for proc in (self._agent, self._inflight):
            if proc is not None and proc.is_alive:
                proc.interrupt(why)
        self._agent = self._inflight = None
        for vm in list(self.vms.values()):
            self.on_power_off(vm, why)
        yield self.env.timeout(duration)
        self.boot()

    # --- attestation ---------------------------------------------------------------------

    @property
    def has_valid_report(self) -> bool:
        """Whether the agent holds a report that has not expired (by its own clock)."""
        return self.report is not None and self.report_expires > self.env.now

    def _agent_loop(self, first_period: float | None) -> Generator[Any, Any, None]:
        trigger = "boot"
        try:
            while True:
                yield from self.ensure_attested(trigger)
                trigger = "periodic"
                if first_period is not None:
                    wait, first_period = first_period, None
                else:
                    wait = self.config.interval + self._jitter()
                yield self.env.timeout(wait)
        except simpy.Interrupt:
            return

    def ensure_attested(self, trigger: str) -> Generator[Any, Any, None]:
        """Attest now, or join the attestation already in flight."""
        if self._inflight is None or not self._inflight.is_alive:
            self._inflight = self.env.process(self._attest(trigger))
        yield self._inflight

    def _attest(self, trigger: str) -> Generator[Any, Any, None]:
        cfg = self.config
        start = self.env.now
        row = self.recorder.add(
            "attestations",
            host=self.name,
            trigger=trigger,
            node=None,
            requested_at=start,
            verdict_at=None,
            completed_at=None,
            ok=None,
            reasons="",
            attempts=0,
            queue_wait_s=None,
            latency_s=None,
            verdict_latency_s=None,
        )
        delay = cfg.backoff
        outcome: AttestOutcome | None = None
        try:
            for attempt in range(1, cfg.max_retries + 2):
                row["attempts"] = attempt
                node = self.ta.pick_node()
                if node is not None:
                    rnd = self.env.process(self._round(node))
                    timer = self.env.timeout(cfg.timeout)
                    yield rnd | timer
                    if rnd.triggered and rnd.ok and rnd.value is not None:
                        outcome = rnd.value
                        break
                if attempt <= cfg.max_retries:
                    yield self.env.timeout(delay)
                    delay = min(delay * cfg.backoff_multiplier, cfg.max_backoff)
        except simpy.Interrupt:
            return
        now = self.env.now
        row["completed_at"] = now
        row["latency_s"] = now - start
        if outcome is None:
            row["ok"] = False
            row["reasons"] = "attestation.unavailable"
            return
        row.update(
            node=outcome.node,
            verdict_at=outcome.verdict_at,
            ok=outcome.verdict.ok,
            reasons=" ".join(outcome.verdict.reasons),
            queue_wait_s=outcome.queue_wait,
            verdict_latency_s=outcome.verdict_at - start,
        )
        if outcome.token is not None and outcome.expires_at is not None:
            self.report, self.report_expires = outcome.token, outcome.expires_at
            if outcome.jti is not None:
                self.ta.delivered(outcome.jti, now)

    def _round(self, node: TrustNode) -> Generator[Any, Any, AttestOutcome | None]:
        """One attempt: nonce round trip, TPM quote, evidence to the service, answer back."""
        env, paths = self.env, self.paths
        boot = self.boots
        try:
            yield env.timeout(paths.delay(self.node, node.name))
            if not node.up:
                return None
            nonce_id, nonce = self.ta.issue_nonce(self.name)
            yield env.timeout(paths.delay(node.name, self.node))
            yield env.timeout(self._tpm_sign_time())
            if not self.up or self.boots != boot:
                return None  # the host went down: this attempt died with it
            self.tpm.set_clock(int(env.now * 1000))
            evidence = collect_evidence(self.name, self.tpm, nonce)
            yield env.timeout(paths.delay(self.node, node.name))
            outcome: AttestOutcome = yield from self.ta.attest(node, evidence, nonce_id)
            yield env.timeout(paths.delay(node.name, self.node))
        except ServiceDown:
            return None
        return outcome

    # --- keys ----------------------------------------------------------------------------

    def obtain_key(self, vm: Vm, purpose: str) -> Generator[Any, Any, bool]:
        """Ask the Key Provider Service for ``vm``'s key (attesting first if the agent holds
        no unexpired report). Records the request; True when the key was released."""
        start = self.env.now
        if not self.has_valid_report:
            yield from self.ensure_attested("on_demand")
        row = self.recorder.add(
            "key_requests",
            time=start,
            host=self.name,
            vm=vm.name,
            node=None,
            purpose=purpose,
            outcome="failed",
            reason="kps.unavailable",
            cache_hit=None,
            latency_s=None,
        )
        node = self.ta.pick_node()
        if node is None or vm.key_id is None:
            return False
        try:
            yield self.env.timeout(self.paths.delay(self.node, node.name))
            out = yield from self.ta.release_key(node, self.name, self.report, vm.key_id)
        except ServiceDown:
            return False
        released = out.material is not None
        row.update(
            node=out.node,
            cache_hit=out.cache_hit,
            outcome="released" if released else "refused",
            reason=out.reason or "",
        )
        if released:
            self.recorder.key_released(self.name, self.env.now)
        elif not (out.reason or "").startswith("kms."):
            self.recorder.add(
                "refusals",
                time=self.env.now,
                host=self.name,
                vm=vm.name,
                kind="key_release",
                reason=out.reason,
            )
        else:
            row["outcome"] = "failed"
        yield self.env.timeout(self.paths.delay(node.name, self.node))
        row["latency_s"] = self.env.now - start
        return released
