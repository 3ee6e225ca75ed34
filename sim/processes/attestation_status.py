"""What the Attestation Service knows of each trusted host, and the status it derives.

Verdicts are ordered by the nonce they were judged against (nonces are issued in order), so a
verdict that finishes late, after a newer attempt of the same host was judged, is *stale*:
it changes nothing. A host's status:

- ``unknown`` until a verdict has been judged (or a report is held from before the run);
- ``notAttested`` when the newest failed verdict is newer than the newest report the host's
  agent received, or when that report has expired or was revoked;
- ``attested`` while the newest report the agent *received* is unexpired, unrevoked and
  newer than every failed verdict.

A report its agent never received (the agent gave up waiting) never makes a host attested,
while a failed verdict counts whether or not it reached the agent: the service knows it.
Pure bookkeeping; no SimPy.

The vSphere Client shows a trusted host's attestation as Passed or Failed only
(:func:`client_status`): ``attested`` is Passed; ``notAttested`` is Failed; ``unknown`` is
Failed too, since VMware shows a host "not able to attest with any Attestation Service" as
Failed, and a host no verdict or report vouches for is in that case.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass, field

ATTESTED, NOT_ATTESTED, UNKNOWN = "attested", "notAttested", "unknown"
PASSED, FAILED = "Passed", "Failed"


def client_status(status: str) -> str:
    """How the vSphere Client shows the model's ``status``: Passed for ``attested``, Failed
    for ``notAttested`` and for ``unknown`` (not able to attest with any Attestation
    Service)."""
    return PASSED if status == ATTESTED else FAILED


@dataclass
class HostRecord:
    """The Attestation Service's record of one host (nonce ids order verdicts)."""

    judged: int = 0
    failed: int = 0
    held_nonce: int = 0
    held_jti: str | None = None
    held_exp: float = -math.inf
    live_reports: list[tuple[str, float]] = field(default_factory=list)


class StatusBook:
    """Per-host records and the status derived from them."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostRecord] = {}

    def record(self, host: str) -> HostRecord:
        """The record of ``host`` (created empty on first use)."""
        rec = self.hosts.get(host)
        if rec is None:
            rec = self.hosts[host] = HostRecord()
        return rec

    def judge(self, host: str, nonce_id: int, ok: bool) -> bool:
        """Note a verdict on ``host`` against nonce ``nonce_id``; False (and no change) when
        it is stale because a newer attempt was judged first."""
        rec = self.record(host)
        if nonce_id < rec.judged:
            return False
        rec.judged = nonce_id
        if not ok:
            rec.failed = nonce_id
        return True

    def issued(self, host: str, jti: str, expires_at: float, now: float) -> None:
        """A report was issued (whether or not it will be received): it can be revoked."""
        rec = self.record(host)
        rec.live_reports = [(j, e) for j, e in rec.live_reports if e > now]
        rec.live_reports.append((jti, expires_at))

    def take_live(self, host: str, now: float) -> list[str]:
        """The host's issued reports that are still unexpired, forgetting them (to revoke)."""
        rec = self.record(host)
        live = [j for j, e in rec.live_reports if e > now]
        rec.live_reports = []
        return live

    def delivered(self, host: str, nonce_id: int, jti: str, expires_at: float) -> None:
        """The agent received report ``jti`` (judged against ``nonce_id``)."""
        rec = self.record(host)
        if nonce_id >= rec.held_nonce:
            rec.held_nonce, rec.held_jti, rec.held_exp = nonce_id, jti, expires_at

    def status(self, host: str, now: float, revoked: Container[str]) -> str:
        """The host's status at ``now``."""
        rec = self.hosts.get(host)
        if rec is None or (rec.judged == 0 and rec.held_jti is None):
            return UNKNOWN
        if (
            rec.held_jti is not None
            and rec.held_nonce > rec.failed
            and rec.held_exp > now
            and rec.held_jti not in revoked
        ):
            return ATTESTED
        return NOT_ATTESTED
