"""Rotations of trust material: report-signing keys, KMIP client certificates, principals.

- ``attestation_signing_key``: every Attestation Service signs reports with a new key (and
  issuer id) from ``at``; the Key Provider Services keep trusting the old issuers for
  ``overlap``, then refuse reports they signed (``report.unknown_issuer``); a host refused
  so drops its report and attests again on demand at its next key request.
- ``service_certificates``: the Key Provider Services present new KMIP client certificates
  from ``at``; the KMS learns them ``adopt_after`` later and forgets the old ones after
  ``overlap``; in between, a KMS call fails authentication (``kms.authentication_not_successful``)
  unless a node's cached primary key spares it the call.
- ``principal``: the trust authority stops trusting the workload vCenters' old principals
  after ``overlap`` and learns the new ones ``adopt_after`` after ``at``; in between their
  hosts' attestations are refused (``attestation.setup.principal_not_imported``).

Overlap at least the report lifetime (keys) or at least ``adopt_after`` (the others) gives
no refusals; each rotation event is an ``operations`` row.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from sim.domain.pki import CertificateAuthority, derive_p256_key
from sim.domain.report import ReportSigner
from sim.processes.context import Context
from sim.processes.kms import KmsCluster
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.operations import Rotation


class Rotations:
    """Carries out the scenario's rotations."""

    def __init__(
        self,
        ctx: Context,
        rotations: Sequence[Rotation],
        ta: TrustAuthority,
        clusters: dict[str, KmsCluster],
        ca: CertificateAuthority,
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.rotations = tuple(rotations)
        self.ta = ta
        self.clusters = clusters
        self.ca = ca
        self._count = 0

    def start(self) -> None:
        """Schedule every rotation."""
        for rotation in self.rotations:
            self.env.process(self._rotate(rotation))

    def _record(self, what: str, event: str, detail: str = "") -> None:
        self.ctx.recorder.add(
            "operations", time=self.env.now, operation="rotation", target=what, event=event,
            outcome="ok", detail=detail,
        )  # fmt: skip

    def _rotate(self, r: Rotation) -> Generator[Any, Any, None]:
        yield self.env.timeout(r.at)
        self._count += 1
        n = self._count
        if r.what == "attestation_signing_key":
            yield from self._signing_keys(r, n)
        elif r.what == "service_certificates":
            yield from self._certificates(r, n)
        else:
            yield from self._principals(r)

    def _signing_keys(self, r: Rotation, n: int) -> Generator[Any, Any, None]:
        ta = self.ta
        old = [node.signer.service_id for node in ta.nodes]
        seed = self.ctx.streams.seed_bytes
        for node in ta.nodes:
            key = derive_p256_key(seed(f"vta.{node.index}.report-key.r{n}"), "es256")
            issuer = f"{node.signer.service_id.split('~')[0]}~r{n}"
            node.rotate_signer(ReportSigner(issuer, ta.group, key))
            ta.trust_issuer(node.signer)
        self._record(r.what, "rotated", f"new issuers r{n}")
        yield self.env.timeout(r.overlap)
        for issuer in old:
            ta.retire_issuer(issuer)
        self._record(r.what, "old_retired", ", ".join(old))

    def _certificates(self, r: Rotation, n: int) -> Generator[Any, Any, None]:
        old = []
        seed = self.ctx.streams.seed_bytes
        for node in self.ta.nodes:
            key = derive_p256_key(seed(f"vta.{node.index}.kmip-client.r{n}"), "kmip")
            name = f"{self.ta.group}-kps-{node.index}-r{n}"
            cert = self.ca.issue_client_certificate(key.public_key(), name)
            old.append(node.kmip_client)
            node.rotate_kmip_client(cert.public_bytes(Encoding.DER))
        new = [node.kmip_client for node in self.ta.nodes]
        self._record(r.what, "rotated", f"r{n}")
        events = sorted([(r.adopt_after, "adopted"), (r.overlap, "old_retired")])
        waited = 0.0
        for delay, event in events:
            yield self.env.timeout(delay - waited)
            waited = delay
            for cluster in self.clusters.values():
                for der in new if event == "adopted" else old:
                    if event == "adopted":
                        cluster.store.authorize_client(der, self.ta.group)
                    else:
                        cluster.store.deauthorize_client(der)
            self._record(r.what, event, f"r{n}")

    def _principals(self, r: Rotation) -> Generator[Any, Any, None]:
        setup = self.ta.setup
        everyone = self.ta.workload_vcenters()
        trusted = everyone if setup.principals is None else set(setup.principals)
        self._record(r.what, "rotated")
        events = sorted([(r.adopt_after, "adopted"), (r.overlap, "old_retired")])
        waited = 0.0
        retired = adopted = False
        for delay, event in events:
            yield self.env.timeout(delay - waited)
            waited = delay
            retired = retired or event == "old_retired"
            adopted = adopted or event == "adopted"
            self.ta.set_principals(set(trusted) if adopted or not retired else set())
            self._record(r.what, event)
