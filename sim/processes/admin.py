"""The administrators of the estate: what they do when attestation tells them something.

After a TPM swap (or a motherboard repair), a host's new endorsement key is unknown to the
Trust Authority: with registered endorsement keys required its EK is untrusted, and with the
TPM bound to the server (the source article's reading) its record names the old EK. An
administrator who sees such a failure registers the new EK (and the binding) after
``admin.ek_registration_delay``; the host passes its next attestation without another
reboot, and its open TPM-swap drifts close at the registration. Registering imports the EK
and enrols the TPM's AK by credential activation, as the initial import did. Each
registration is an ``identity_events`` row.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.domain.pki import public_der
from sim.domain.reasons import Reason
from sim.domain.verifier import Verdict
from sim.processes.context import Context
from sim.processes.drift import DriftInjector
from sim.processes.host import TrustedHost
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.model import Admin

IDENTITY_REASONS = frozenset(
    (
        Reason.EK_UNTRUSTED.text,
        Reason.EK_NOT_BOUND.text,
        Reason.PLATFORM_MISMATCH.text,
    )
)
"""Failures an administrator answers by registering the host's current EK."""


class Administrator:
    """Registers new endorsement keys after identity failures, when the scenario says so."""

    def __init__(
        self,
        ctx: Context,
        spec: Admin,
        ta: TrustAuthority,
        hosts: dict[str, TrustedHost],
        drift: DriftInjector,
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.spec = spec
        self.ta = ta
        self.hosts = hosts
        self.drift = drift
        self._pending: set[tuple[str, bytes]] = set()

    def on_verdict(self, host: str, verdict: Verdict) -> None:
        """A verdict on ``host``: an identity failure starts a registration, once per EK.
        The builder connects this to the trust authority's ``verdicts`` port when EKs get
        registered at all (``ek_registration_delay`` set)."""
        if verdict.ok or not IDENTITY_REASONS.intersection(verdict.reasons):
            return
        ek = public_der(self.hosts[host].tpm.ek_public)
        if (host, ek) in self._pending:
            return
        self._pending.add((host, ek))
        self.env.process(self._register(host, ek))

    def _register(self, host: str, ek: bytes) -> Generator[Any, Any, None]:
        assert self.spec.ek_registration_delay is not None
        stream = f"host.{host}.ek-registration"
        yield self.env.timeout(self.ctx.sampler(stream, self.spec.ek_registration_delay)())
        h = self.hosts[host]
        self.ta.register_identity(self.ta.enrol(host, h.platform.hardware_id, h.tpm))
        closed = self.drift.adopt_tpm(host)
        self.ctx.recorder.add(
            "identity_events",
            time=self.env.now,
            host=host,
            event="ek_registered",
            drifts_closed=closed,
        )
