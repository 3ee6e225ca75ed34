"""Drafts: work in progress, owned by the component doing it, until its record is written.

A component that starts work whose outcome comes later (a migration, a placement, a key
request, an attestation, a verdict, a report's life) keeps what it knows so far in a draft,
registers the draft with the recorder (:meth:`sim.analysis.recorder.Recorder.opened`) and,
once the outcome is known, writes the finished record (:meth:`~sim.analysis.recorder.Recorder.
closed`). A draft is never a row: if the run ends first, the recorder's end-of-run step writes
the draft's :meth:`at_end_of_run` record, outcome ``unfinished`` with ``elapsed_s``, the time
from the work's start to the end of the run. Drafts are plain slotted objects compared by
identity (the recorder keeps them in a dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.analysis.records import (
    UNFINISHED,
    Attestation,
    HaRestart,
    KeyRequest,
    Migration,
    Placement,
    Report,
    Verdict,
)


@dataclass(slots=True, eq=False)
class MigrationDraft:
    """A vMotion under way: what is known before its outcome."""

    start: float
    vm: str
    trigger: str
    source: str
    needs_key: bool
    encrypted: bool
    destination: str | None = None
    key_fetch_s: float | None = None
    queued_s: float | None = None

    def record(
        self, end: float | None, outcome: str, reason: str | None, **measured: Any
    ) -> Migration:
        """The migration's record: it ended at ``end`` with ``outcome``."""
        return Migration(
            start=self.start, end=end, vm=self.vm, trigger=self.trigger, source=self.source,
            destination=self.destination, needs_key=self.needs_key, encrypted=self.encrypted,
            outcome=outcome, reason=reason, key_fetch_s=self.key_fetch_s,
            queued_s=self.queued_s, **measured,
        )  # fmt: skip

    def key_fetched(self, seconds: float) -> None:
        """The destination had the key ``seconds`` after the start."""
        self.key_fetch_s = seconds

    def slots_taken(self, seconds: float) -> None:
        """The migration waited ``seconds`` for its slots."""
        self.queued_s = seconds

    def at_end_of_run(self, end: float) -> Migration:
        """Still running at ``end``: ``unfinished``, no end, ``elapsed_s = end - start``."""
        return self.record(None, UNFINISHED, None, elapsed_s=end - self.start)


@dataclass(slots=True, eq=False)
class PlacementDraft:
    """A power-on placed on a host, waiting for the VM's key."""

    time: float
    vcenter: str
    vm: str
    trigger: str
    needs_key: bool
    host: str | None = None

    def record(self, outcome: str, reason: str | None, **rest: Any) -> Placement:
        """The placement's record with ``outcome``."""
        return Placement(
            time=self.time, vcenter=self.vcenter, vm=self.vm, trigger=self.trigger,
            host=self.host, needs_key=self.needs_key, outcome=outcome, reason=reason, **rest,
        )  # fmt: skip

    def at_end_of_run(self, end: float) -> Placement:
        """Still waiting at ``end``: ``unfinished``, ``elapsed_s = end - time``."""
        return self.record(UNFINISHED, None, elapsed_s=end - self.time)


@dataclass(slots=True, eq=False)
class KeyRequestDraft:
    """A host's need for a VM's key, from the need until the answer."""

    time: float
    host: str
    vm: str
    purpose: str
    provider: str | None = None
    node: str | None = None

    def record(self, outcome: str, reason: str | None, **answer: Any) -> KeyRequest:
        """The request's record with ``outcome`` (and what the answer said)."""
        return KeyRequest(
            time=self.time, host=self.host, vm=self.vm, purpose=self.purpose,
            provider=self.provider, outcome=outcome, reason=reason, **answer,
        )  # fmt: skip

    def at_end_of_run(self, end: float) -> KeyRequest:
        """Still waiting at ``end``: ``unfinished``, ``elapsed_s = end - time``."""
        return self.record(UNFINISHED, None, node=self.node, elapsed_s=end - self.time)


@dataclass(slots=True, eq=False)
class HaRestartDraft:
    """A VM of a crashed host that vSphere HA is restarting."""

    crashed_at: float
    vm: str
    host: str
    needs_key: bool

    def record(self, outcome: str, **rest: Any) -> HaRestart:
        """The restart's record with ``outcome``."""
        return HaRestart(
            crashed_at=self.crashed_at, vm=self.vm, host=self.host, needs_key=self.needs_key,
            outcome=outcome, **rest,
        )  # fmt: skip

    def at_end_of_run(self, end: float) -> HaRestart:
        """Still restarting at ``end``: ``unfinished``, ``elapsed_s = end - crashed_at``."""
        return self.record(UNFINISHED, elapsed_s=end - self.crashed_at)


@dataclass(slots=True, eq=False)
class AttestationDraft:
    """An attestation under way at a host's agent."""

    host: str
    trigger: str
    requested_at: float
    attempts: int = 0

    def record(self, completed_at: float, ok: bool, reasons: str, **rest: Any) -> Attestation:
        """The attestation's record: it ended at ``completed_at``."""
        return Attestation(
            host=self.host, trigger=self.trigger, requested_at=self.requested_at,
            completed_at=completed_at, ok=ok, reasons=reasons, attempts=self.attempts,
            latency_s=completed_at - self.requested_at, **rest,
        )  # fmt: skip

    def row(
        self,
        completed_at: float,
        ok: bool,
        reasons: str,
        node: str,
        verdict_at: float,
        queue_wait_s: float,
        verdict_latency_s: float,
    ) -> tuple[Any, ...]:
        """The values of :meth:`record` (with these measured columns), in column order:
        what the agent writes for an answered attestation, without making the record."""
        return (
            self.host, self.trigger, node, self.requested_at, verdict_at, completed_at, ok,
            reasons, self.attempts, queue_wait_s, completed_at - self.requested_at,
            verdict_latency_s, None,
        )  # fmt: skip

    def at_end_of_run(self, end: float) -> Attestation:
        """Still under way at ``end``: no answer, ``elapsed_s = end - requested_at``."""
        return Attestation(
            host=self.host, trigger=self.trigger, requested_at=self.requested_at,
            reasons="", attempts=self.attempts, elapsed_s=end - self.requested_at,
        )  # fmt: skip


@dataclass(slots=True, eq=False)
class Attempt:
    """One attempt of an agent: whether it still waits for answers (``over`` once it took
    what had come back, timed out or died) and the verdicts it asked for."""

    over: bool = False
    verdicts: list[VerdictDraft] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class VerdictDraft:
    """A request at an Attestation Service. Its record is written when no more can happen
    to it: once it was dropped or lost, or, for a verdict, once its agent took it (delivered)
    or stopped waiting for it (``attempt.over``)."""

    host: str
    node: str
    nonce: int
    quoted_at: float
    arrived_at: float
    deadline: float
    started_at: float | None = None
    verdict_at: float | None = None
    outcome: str | None = None
    reasons: str | None = None
    stale: bool = False
    jti: str | None = None
    written: bool = False

    def record(self, delivered_at: float | None = None) -> Verdict:
        """The verdict's record (``delivered_at``: when the agent received it)."""
        return Verdict(
            host=self.host, node=self.node, nonce=self.nonce, quoted_at=self.quoted_at,
            arrived_at=self.arrived_at, started_at=self.started_at, verdict_at=self.verdict_at,
            deadline=self.deadline, outcome=self.outcome, reasons=self.reasons,
            stale=self.stale, delivered_at=delivered_at, jti=self.jti,
        )  # fmt: skip

    def row(self, delivered_at: float | None = None) -> tuple[Any, ...]:
        """The values of :meth:`record`, in column order, without making the record (one
        verdict per attestation)."""
        return (
            self.host, self.node, self.nonce, self.quoted_at, self.arrived_at, self.started_at,
            self.verdict_at, self.deadline, self.outcome, self.reasons, self.stale,
            delivered_at, self.jti, None,
        )  # fmt: skip

    def at_end_of_run(self, end: float) -> Verdict:
        """At ``end``: a request still queued or served is ``unfinished`` with
        ``elapsed_s = end - arrived_at``; a verdict not delivered yet stays as reached."""
        if self.outcome is not None:
            return self.record()
        return Verdict(
            host=self.host, node=self.node, nonce=self.nonce, quoted_at=self.quoted_at,
            arrived_at=self.arrived_at, started_at=self.started_at, deadline=self.deadline,
            outcome=UNFINISHED, stale=self.stale, elapsed_s=end - self.arrived_at,
        )  # fmt: skip


@dataclass(slots=True, eq=False)
class ReportDraft:
    """An issued report (JWT) during its life: delivery and revocation may still come."""

    jti: str
    host: str
    node: str
    issued_at: float
    expires_at: float
    image_id: str
    delivered_at: float | None = None
    revoked_at: float | None = None

    def record(self) -> Report:
        """The report's record as it stands."""
        return Report(
            jti=self.jti, host=self.host, node=self.node, issued_at=self.issued_at,
            delivered_at=self.delivered_at, expires_at=self.expires_at,
            revoked_at=self.revoked_at, image_id=self.image_id,
        )  # fmt: skip

    def row(self) -> tuple[Any, ...]:
        """The values of :meth:`record`, in column order, without making the record."""
        return (
            self.jti, self.host, self.node, self.issued_at, self.delivered_at, self.expires_at,
            self.revoked_at, self.image_id,
        )  # fmt: skip

    def at_end_of_run(self, end: float) -> Report:
        """A report whose life has not ended by ``end`` is written as it stands."""
        return self.record()
