"""A trusted host's attestation client: the Trusted Infrastructure Agent (kmxa) attesting.

The agent attests (nonce from the Attestation Service, a real TPM quote, the event log and
its EK/AK identity) when its host boots, again every ``interval`` plus a uniform jitter, and
on demand when the host needs a key and holds no unexpired report (``on_demand``). Attempts
that time out or find no node are retried with exponential back-off. With ``initiator:
verifier`` the agent schedules nothing itself: the verifier's poller
(:mod:`sim.processes.verifier_poll`) sends it a nonce, and :meth:`AttestationClient.answer_poll`
quotes. The agent holds the host's latest report and tells the host's vCenter its status
(the ``status_to`` port, connected by the builder).

The agent's state (report, processes, status reports sent) is its own; it reads its host's
name, network node, TPM and whether it is up, which the host owns (:class:`AgentHost`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import partial
from typing import Any, Protocol

import simpy

from sim.analysis.records import Attestation as AttestationRecord
from sim.domain.reasons import Reason
from sim.domain.report import SignedOnUse
from sim.domain.tpm import VirtualTPM
from sim.domain.verifier import collect_evidence
from sim.processes.alarms import ATTEMPT_TIMEOUTS
from sim.processes.attestation_status import ATTESTED, NOT_ATTESTED, UNKNOWN
from sim.processes.context import Context
from sim.processes.drafts import Attempt, AttestationDraft
from sim.processes.inline import run_inline
from sim.processes.network import Unreachable
from sim.processes.services import Lock, ServiceDown
from sim.processes.status_view import StatusReport
from sim.processes.trust_authority import AttestOutcome, TrustAuthority, TrustNode
from sim.processes.wiring import Port
from sim.scenario.distributions import Uniform
from sim.scenario.model import Attestation


class AgentHost(Protocol):
    """What the agent reads of its host."""

    @property
    def name(self) -> str:
        """The host's name."""

    @property
    def node(self) -> str:
        """The host's network node."""

    @property
    def up(self) -> bool:
        """Whether the host is up."""

    @property
    def boots(self) -> int:
        """How many times the host has booted."""

    @property
    def tpm(self) -> VirtualTPM:
        """The host's TPM."""


TIMED_OUT = object()
"""The cause of the interrupt an attempt's deadline sends its agent."""


class _InFlight:
    """The agent's own attestation in flight: others asking for one wait for its end, through
    an event made only when someone waits."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done: simpy.Event | None = None

    def joined(self, env: simpy.Environment) -> simpy.Event:
        """The event a joiner waits for (the attestation's end)."""
        if self.done is None:
            self.done = env.event()
        return self.done

    def finish(self) -> None:
        """The attestation ended: wake whoever waits."""
        if self.done is not None:
            self.done.succeed()


def _expiry(outcome: AttestOutcome) -> float:
    """When an outcome's report expires (0 for none): the newest report is the latest."""
    return outcome.expires_at or 0.0


class AttestationClient:
    """One host's agent: attestation schedule and attempts, the report it holds, the status
    it reports to its vCenter."""

    def __init__(
        self,
        ctx: Context,
        host: AgentHost,
        cfg: Attestation,
        ta: TrustAuthority,
        registered: bool,
    ) -> None:
        self.env = ctx.env
        self.host = host
        self.ta = ta
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self.config = cfg
        name = host.name
        self._tpm_sign_time = ctx.sampler(f"host.{name}.tpm-sign", cfg.tpm_sign_time)
        # Batched uniform draws: the same numbers as one ``uniform(0, jitter)`` per call.
        self._jitter: Callable[[], float] = (
            ctx.sampler(f"host.{name}.jitter", Uniform(low=0.0, high=cfg.jitter))
            if cfg.jitter > 0
            else lambda: 0.0
        )
        self._tpm_lock = Lock(ctx.env, capacity=1)
        self._timeouts = ctx.env.alarms.lane(ATTEMPT_TIMEOUTS)
        self.report: SignedOnUse | None = None
        self.report_expires = float("-inf")
        self._agent: simpy.Process | None = None
        # an attestation in flight: an on-demand (or polled) one in its own process, or
        # the agent's own, run in the agent's process
        self._inflight: simpy.Process | None = None
        self._inline: _InFlight | None = None
        # where the agent's status reports go (its host's vCenter's view)
        self.status_to: Port[Callable[[StatusReport], None]] = Port(f"host {name}", "status_to")
        self.registered = registered
        self._reports_sent = 0
        self.polled = cfg.initiator == "verifier"
        self.first_poll = 0.0  # when the verifier first polls this host (polled hosts)

    # --- the agent's life with its host ---------------------------------------------------

    def resume(self, report: SignedOnUse, expires: float, residual: float) -> None:
        """The estate has been running: the agent holds ``report`` (valid until ``expires``)
        and attests next after ``residual`` (or is polled then)."""
        self.report, self.report_expires = report, expires
        if self.polled:
            self.first_poll = residual
        else:
            self._agent = self.env.process(self._agent_loop(False, residual))

    def booted(self, first_period: float | None) -> None:
        """The host booted: attest at once (unless polled or not registered yet), next after
        ``first_period`` (default: one interval plus jitter)."""
        if self.registered and not self.polled:
            self._agent = self.env.process(self._agent_loop(True, first_period))

    def forget_report(self) -> None:
        """Drop the report held (the host booted, or its report's signer was retired)."""
        self.report, self.report_expires = None, float("-inf")

    def stop(self, why: str) -> None:
        """The host goes down: the agent's schedule and any attempt in flight end."""
        for proc in (self._agent, self._inflight):
            if proc is not None and proc.is_alive:
                proc.interrupt(why)
        self._agent = self._inflight = None

    def begin_attesting(self) -> None:
        """The host's trusted cluster is registered: the agent starts (attesting at once)."""
        self.registered = True
        if self.host.up and self._agent is None and not self.polled:
            self._agent = self.env.process(self._agent_loop(True, None))

    # --- attestation ---------------------------------------------------------------------

    @property
    def has_valid_report(self) -> bool:
        """Whether the agent holds a report that has not expired (by its own clock)."""
        return self.report is not None and self.report_expires > self.env.now

    def _agent_loop(
        self, attest_first: bool, first_period: float | None
    ) -> Generator[Any, Any, None]:
        me = self.env.active_process
        try:
            if attest_first:
                yield from self._attest_as_agent("boot")
            while self._agent is me:  # a stopped agent whose attempt ended ends here
                if first_period is not None:
                    wait, first_period = first_period, None
                else:
                    wait = self.period()
                yield self.env.timeout(wait)
                yield from self._attest_as_agent("periodic")
        except simpy.Interrupt:
            return

    def _attest_as_agent(self, trigger: str) -> Generator[Any, Any, None]:
        """The agent's own attestation, run in the agent's process (no process of its own:
        two events fewer per attestation); others asking meanwhile wait for its end
        (:class:`_InFlight`). Joins an on-demand attestation already in flight."""
        if self._inflight is not None and self._inflight.is_alive:
            yield self._inflight
            return
        inflight = self._inline = _InFlight()
        yield from self._attest(trigger)
        if self._inline is inflight:
            self._inline = None
        inflight.finish()

    def ensure_attested(self, trigger: str) -> Generator[Any, Any, None]:
        """Attest now, or join the attestation already in flight. An ``on_demand`` request
        does nothing when the regime has no on-demand attestation (``on_demand: false``)."""
        if trigger == "on_demand" and not self.config.on_demand:
            return
        yield from self._join_or_start(trigger)

    def _join_or_start(self, trigger: str) -> Generator[Any, Any, None]:
        """Wait for the attestation in flight (the agent's own, or one in a process of its
        own), or start one in a process of its own and wait for it."""
        if self._inline is not None:
            yield self._inline.joined(self.env)
            return
        if self._inflight is None or not self._inflight.is_alive:
            self._inflight = self.env.process(self._attest(trigger))
        yield self._inflight

    def answer_poll(self) -> Generator[Any, Any, None]:
        """The verifier polls this host (``initiator: verifier``): it sends a nonce, the
        agent quotes, the verifier verifies; attempts time out and are retried with the
        configured back-off, as the verifier's own retries. Joins an attempt in flight."""
        yield from self._join_or_start("poll")

    def period(self) -> float:
        """One re-attestation period: ``interval`` plus a draw of the host's jitter."""
        return self.config.interval + self._jitter()

    def _attest(self, trigger: str) -> Generator[Any, Any, None]:
        cfg = self.config
        start = self.env.now
        draft = AttestationDraft(self.host.name, trigger, start)
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
                    me = self.env.active_process
                    assert me is not None
                    alarm = self._timeouts.at(deadline, partial(me.interrupt, TIMED_OUT))
                    try:
                        outcomes = yield from self._rounds(
                            nodes, deadline, waiting, trigger == "poll"
                        )
                        for outcome in outcomes:
                            self.ta.delivered(outcome, self.env.now)
                    finally:  # taken what came back, timed out, or the host went down
                        alarm.cancel()
                        self.ta.attempt_over(waiting)
                    if outcomes:
                        break
                if attempt <= cfg.max_retries:
                    yield self.env.timeout(delay)
                    delay = min(delay * cfg.backoff_multiplier, cfg.max_backoff)
        except simpy.Interrupt:  # the host went down: the attestation ends without an answer
            self.recorder.closed(
                draft, draft.record(self.env.now, False, Reason.ATTESTATION_HOST_DOWN.text)
            )
            return
        now = self.env.now
        if not outcomes:
            self.recorder.closed(
                draft, draft.record(now, False, Reason.ATTESTATION_UNAVAILABLE.text)
            )
            self.send_status(UNKNOWN)
            return
        if len(outcomes) == 1:  # one node answered (the usual case): its figures as they are
            (only,) = outcomes
            ok, answered, waited = only.verdict.ok, only.node, only.queue_wait
            first_at = last_at = only.verdict_at
        else:
            ok = all(o.verdict.ok for o in outcomes)
            answered = " ".join(o.node for o in outcomes)
            waited = max(o.queue_wait for o in outcomes)
            first_at = min(o.verdict_at for o in outcomes)
            last_at = max(o.verdict_at for o in outcomes)
        row = draft.row(
            now,
            ok,
            ""
            if ok
            else " ".join(
                dict.fromkeys(r for o in outcomes if not o.verdict.ok for r in o.verdict.reasons)
            ),
            node=answered,
            verdict_at=first_at,
            queue_wait_s=waited,
            verdict_latency_s=last_at - start,
        )
        self.recorder.closed_row(draft, AttestationRecord, row)
        reports = (
            [o for o in outcomes if o.token is not None and o.expires_at is not None] if ok else []
        )
        if reports:
            newest = max(reports, key=_expiry)
            assert newest.token is not None and newest.expires_at is not None
            self.report, self.report_expires = newest.token, newest.expires_at
            self.send_status(ATTESTED, newest.expires_at, newest.jti)
        else:
            self.send_status(NOT_ATTESTED)

    def status_report(self) -> StatusReport:
        """The host's own status now: attested until its report expires, if it holds one."""
        self._reports_sent += 1
        if self.has_valid_report:
            return StatusReport(self.host.name, self._reports_sent, ATTESTED, self.report_expires)
        return StatusReport(self.host.name, self._reports_sent, NOT_ATTESTED)

    def send_status(
        self, status: str, attested_until: float | None = None, jti: str | None = None
    ) -> None:
        self._reports_sent += 1
        report = StatusReport(self.host.name, self._reports_sent, status, attested_until, jti)
        self.status_to.target(report)

    def _rounds(
        self, nodes: list[TrustNode], deadline: float, attempt: Attempt, polled: bool
    ) -> Generator[Any, Any, list[AttestOutcome]]:
        """The rounds of one attempt, one per node, and the outcomes that came back before
        the attempt's deadline (which interrupts the agent with :data:`TIMED_OUT`). A
        single round runs in the agent's own process (:func:`run_inline`) and carries on
        alone if the deadline comes first or the host goes down; several run as processes
        the agent waits for together."""
        env = self.env
        if len(nodes) == 1:
            try:
                outcome = yield from run_inline(
                    env, self._round(nodes[0], deadline, attempt, polled)
                )
            except simpy.Interrupt as stop:
                if stop.cause is not TIMED_OUT:
                    raise
                return []
            return [] if outcome is None else [outcome]
        rounds = [env.process(self._round(n, deadline, attempt, polled)) for n in nodes]
        try:
            yield env.all_of(rounds)
        except simpy.Interrupt as stop:
            if stop.cause is not TIMED_OUT:
                raise
        return [r.value for r in rounds if r.processed and r.value is not None]

    def _round(
        self, node: TrustNode, deadline: float, attempt: Attempt, polled: bool = False
    ) -> Generator[Any, Any, AttestOutcome | None]:
        """One round of ``attempt`` at ``node``: nonce round trip (or, ``polled``, the
        verifier's nonce sent to the agent), TPM quote, evidence to the service, answer
        back."""
        env, paths, host = self.env, self.paths, self.host
        name, where, boot = host.name, host.node, host.boots
        try:
            if polled:
                nonce_id, nonce = self.ta.issue_nonce(name)
                yield env.timeout(paths.delay(node.name, where))
                if not host.up or host.boots != boot:
                    return None  # the agent is down: the connection is refused
            else:
                yield env.timeout(paths.delay(where, node.name))
                if not node.up:
                    return None
                nonce_id, nonce = self.ta.issue_nonce(name)
                yield env.timeout(paths.delay(node.name, where))
            with self._tpm_lock.slot() as turn:  # the TPM runs one command at a time
                if turn.pending is not None:
                    yield turn.pending
                yield env.timeout(self._tpm_sign_time())
                if not host.up or host.boots != boot:
                    return None  # the host went down: this attempt died with it
                tpm = host.tpm
                tpm.set_clock(int(env.now * 1000))
                evidence = collect_evidence(name, tpm, nonce)
            quoted_at = env.now
            yield env.timeout(paths.delay(where, node.name))
            outcome = yield from self.ta.attest(
                node, evidence, nonce_id, quoted_at, deadline, attempt
            )
            if outcome is None:
                return None  # dropped: its deadline had passed when a worker took it
            yield env.timeout(paths.delay(node.name, where))
        except (ServiceDown, Unreachable):
            return None
        return outcome
