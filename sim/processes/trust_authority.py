"""The vSphere Trust Authority cluster: its nodes, each running the Attestation Service
(attestd) and the Key Provider Service (kmxd), plus the status endpoint vCenters poll.

Every attestation runs the real verifier (:func:`sim.domain.verifier.verify`) on the host's
real quote and event log, and a passing verdict yields a real ES256 JWT report. Every key
request runs the real report check (:func:`sim.domain.report.verify_report`) before any key
leaves the cluster. Requests are spread round-robin over the nodes that are up.

Host status, as the Attestation Service keeps it: ``unknown`` until the first verdict,
``attested`` after a passing one while its report is unexpired, ``notAttested`` after a
failing one or once the latest report has expired. With ``revocation: push`` a failing
verdict also revokes the host's unexpired reports at once, on every Key Provider Service.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from sim.domain.pki import CertificateAuthority, derive_p256_key
from sim.domain.report import ReportSigner, TrustedIssuer, verify_report
from sim.domain.verifier import Evidence, Policy, Verdict, verify
from sim.processes.context import Context
from sim.processes.kms import KmsCluster
from sim.processes.services import Service
from sim.scenario.model import Attestation
from sim.scenario.model import TrustAuthority as TrustAuthoritySpec

ATTESTED, NOT_ATTESTED, UNKNOWN = "attested", "notAttested", "unknown"


class TrustNode:
    """One trust-authority ESXi host and the services it runs: the Attestation Service, the
    Key Provider Service (with its KMIP client certificate and key cache) and the status
    endpoint. Its report-signing and KMIP client keys derive from the root seed by name."""

    def __init__(
        self, ctx: Context, index: int, spec: TrustAuthoritySpec, ca: CertificateAuthority
    ) -> None:
        self.index = index
        att, kps = spec.attestation_service, spec.key_provider_service
        self.attestation = Service(
            ctx, f"attestation_service.{index}", att.workers, att.service_time,
            f"vta.{index}.attestation",
        )  # fmt: skip
        self.key_provider = Service(
            ctx, f"key_provider_service.{index}", kps.workers, kps.service_time,
            f"vta.{index}.kps",
        )  # fmt: skip
        self.status = Service(
            ctx, f"status_service.{index}", 2, spec.status_service_time, f"vta.{index}.status"
        )
        seed = ctx.streams.seed_bytes
        client_key = derive_p256_key(seed(f"vta.{index}.kmip-client"), "kmip")
        cert = ca.issue_client_certificate(client_key.public_key(), f"{spec.name}-kps-{index}")
        self.kmip_client: bytes = cert.public_bytes(Encoding.DER)
        report_key = derive_p256_key(seed(f"vta.{index}.report-key"), "es256")
        self.signer = ReportSigner(f"{spec.name}-attestd-{index}", spec.name, report_key)
        self.key_cache: dict[str, tuple[bytes, float]] = {}
        self.issued = 0

    @property
    def name(self) -> str:
        """The node's network name."""
        return f"vta:{self.index}"

    @property
    def up(self) -> bool:
        """Whether the node answers requests."""
        return self.attestation.up

    def set_up(self, up: bool) -> None:
        """Bring every service of the node up or down."""
        for svc in (self.attestation, self.key_provider, self.status):
            svc.up = up


@dataclass
class HostRecord:
    """What the Attestation Service knows of one trusted host."""

    verdict_ok: bool | None = None
    latest_nonce: int = 0
    latest_jti: str | None = None
    latest_exp: float = float("-inf")
    live_reports: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class AttestOutcome:
    """The Attestation Service's answer: a report token on success, and the verdict."""

    token: str | None
    expires_at: float | None
    jti: str | None
    verdict: Verdict
    node: str
    queue_wait: float
    verdict_at: float


@dataclass(frozen=True)
class KeyOutcome:
    """The Key Provider Service's answer to a key request."""

    material: bytes | None
    reason: str | None
    cache_hit: bool | None
    node: str


class TrustAuthority:
    """The cluster as one logical service, with per-node queues."""

    def __init__(
        self,
        ctx: Context,
        spec: TrustAuthoritySpec,
        attestation: Attestation,
        policy: Policy,
        kms: KmsCluster,
        nodes: list[TrustNode],
        epoch: float = 0.0,
    ) -> None:
        self.env = ctx.env
        self.epoch = epoch  # POSIX time of simulated second 0: reports carry wall-clock times
        self.nodes = nodes
        self.policy = policy
        self.group = spec.name
        self.audience = f"{spec.name}/key-provider"
        self.report_lifetime = attestation.report_lifetime
        self.revocation = attestation.revocation
        self.key_cache_ttl = spec.key_cache_ttl
        self.kms = kms
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self._nonce_bytes = ctx.stream("vta.nonces").bytes
        self.issuers: dict[str, TrustedIssuer] = {
            n.signer.service_id: n.signer.trusted_issuer() for n in nodes
        }
        self.revoked: set[str] = set()
        self.hosts: dict[str, HostRecord] = {}
        self._nonces: dict[int, tuple[str, bytes]] = {}
        self._nonce_seq = 0
        self._next = 0
        self._report_rows: dict[str, dict[str, Any]] = {}

    def set_node_up(self, index: int, up: bool) -> None:
        """Bring trust-authority node ``index`` up or down (an outage)."""
        self.nodes[index].set_up(up)

    # --- routing ---------------------------------------------------------------------

    def pick_node(self) -> TrustNode | None:
        """The next node that is up, round-robin; None when all are down."""
        for _ in range(len(self.nodes)):
            node = self.nodes[self._next % len(self.nodes)]
            self._next += 1
            if node.up:
                return node
        return None

    # --- attestation -----------------------------------------------------------------

    def issue_nonce(self, host: str) -> tuple[int, bytes]:
        """A fresh 32-byte nonce for one quote of ``host``, and its id. Each nonce is
        good for one verification; an attempt abandoned by its agent leaves its nonce
        outstanding, so a late answer is still judged against the nonce it was given."""
        self._nonce_seq += 1
        nonce = self._nonce_bytes(32)
        self._nonces[self._nonce_seq] = (host, nonce)
        return self._nonce_seq, nonce

    def attest(
        self, node: TrustNode, evidence: Evidence, nonce_id: int
    ) -> Generator[Any, Any, AttestOutcome]:
        """Queue at the node's Attestation Service, verify for real, sign a report."""
        host = evidence.host_id
        issued_to, nonce = self._nonces.pop(nonce_id, ("", b""))
        if issued_to != host:
            nonce = b""
        verdict, waited = yield from node.attestation.serve(
            lambda: verify(evidence, self.policy, nonce)
        )
        now = self.env.now
        rec = self.hosts.setdefault(host, HostRecord())
        token: str | None = None
        expires: float | None = None
        jti: str | None = None
        if nonce_id < rec.latest_nonce:
            # A newer attempt of this host was judged first (this one was abandoned by its
            # agent and finished late): it must not overwrite the newer verdict.
            return AttestOutcome(None, None, None, verdict, node.name, waited, now)
        rec.latest_nonce = nonce_id
        rec.verdict_ok = verdict.ok
        if verdict.ok:
            node.issued += 1
            jti = f"{node.name}-{node.issued}"
            expires = now + self.report_lifetime
            token = node.signer.issue(
                host,
                verdict.measured_image_id or "",
                self.audience,
                self.epoch + now,
                self.report_lifetime,
                jti,
            )
            rec.latest_jti, rec.latest_exp = jti, expires
            rec.live_reports = [(j, e) for j, e in rec.live_reports if e > now]
            rec.live_reports.append((jti, expires))
            self._report_rows[jti] = self.recorder.add(
                "reports",
                jti=jti,
                host=host,
                node=node.name,
                issued_at=now,
                delivered_at=None,
                expires_at=expires,
                revoked_at=None,
                image_id=verdict.measured_image_id,
            )
            self.recorder.report_issued(jti, host, expires)
        elif self.revocation == "push":
            for jti, exp in rec.live_reports:
                if exp > now and jti not in self.revoked:
                    self.revoked.add(jti)
                    self._report_rows[jti]["revoked_at"] = now
                    self.recorder.report_revoked(jti)
            rec.live_reports = []
        return AttestOutcome(token, expires, jti, verdict, node.name, waited, now)

    def delivered(self, jti: str, now: float) -> None:
        """The agent received report ``jti`` at ``now`` (from then on the host holds it)."""
        self._report_rows[jti]["delivered_at"] = now

    def status_of(self, host: str, now: float) -> str:
        """The host's status as the Attestation Service reports it at ``now``."""
        rec = self.hosts.get(host)
        if rec is None or rec.verdict_ok is None:
            return UNKNOWN
        if rec.verdict_ok and rec.latest_exp > now and rec.latest_jti not in self.revoked:
            return ATTESTED
        return NOT_ATTESTED

    def poll_status(self, node: TrustNode, hosts: list[str]) -> Generator[Any, Any, dict[str, str]]:
        """Answer a vCenter's poll for the status of ``hosts``."""
        result, _ = yield from node.status.serve(
            lambda: {h: self.status_of(h, self.env.now) for h in hosts}
        )
        out: dict[str, str] = result
        return out

    # --- key release -----------------------------------------------------------------

    def release_key(
        self, node: TrustNode, host: str, token: str | None, key_id: str
    ) -> Generator[Any, Any, KeyOutcome]:
        """The Key Provider Service: check the host's report, then hand out the key (from
        its cache, or fetched from the KMS over KMIP)."""

        def check() -> str | None:
            if token is None:
                return "report.missing"
            res = verify_report(
                token,
                self.issuers,
                (self.group,),
                self.audience,
                self.epoch + self.env.now,
                revoked=self.revoked,
            )
            if not res.ok:
                return res.reasons[0]
            if res.claims is None or res.claims.host_id != host:
                return "report.wrong_subject"
            return None

        reason, _ = yield from node.key_provider.serve(check)
        if reason is not None:
            return KeyOutcome(None, reason, None, node.name)
        cached = node.key_cache.get(key_id)
        now = self.env.now
        if cached is not None and now - cached[1] < self.key_cache_ttl:
            material: bytes | None = cached[0]
            hit = True
        else:
            hit = False
            resp = yield from self.kms.get(node.name, node.kmip_client, key_id)
            if resp is None or not resp.ok or resp.key_material is None:
                if resp is None:
                    why = "kms.unavailable"
                else:
                    why = f"kms.{resp.reason.name.lower() if resp.reason else 'no_key_material'}"
                return KeyOutcome(None, why, False, node.name)
            material = resp.key_material
            if self.key_cache_ttl > 0:
                node.key_cache[key_id] = (material, self.env.now)
        # The token was valid when checked; re-check at the moment of release so a
        # revocation pushed while the KMS answered still stops the key.
        late = check()
        if late is not None:
            return KeyOutcome(None, late, hit, node.name)
        return KeyOutcome(material, None, hit, node.name)
