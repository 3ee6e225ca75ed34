"""The vSphere Trust Authority cluster: its nodes, each running the Attestation Service
(attestd) and the Key Provider Service (kmxd), plus the status endpoint vCenters poll.

Every attestation runs the real verifier (:func:`sim.domain.verifier.verify`) on the host's
real quote and event log, and a passing verdict yields a real ES256 JWT report. Every key
request runs the real report check (:func:`sim.domain.report.verify_report`) before any key
leaves the cluster. Requests are spread round-robin over the primary nodes that are up;
fallback nodes (``fallback_hosts``, HGS's fallback server) take requests only while every
primary node is down.

Host status, as the Attestation Service keeps it: ``unknown`` until the first verdict,
``attested`` after a passing one while its report is unexpired, ``notAttested`` after a
failing one or once the latest report has expired. With ``revocation: push`` a failing
verdict also revokes the host's unexpired reports, on every Key Provider Service: at once,
or later through the failure notifier (:mod:`sim.processes.verifier_poll`), whichever the
builder connects to the trust authority's ``failed`` port.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.serialization import Encoding

from sim.analysis.records import Report
from sim.analysis.records import Verdict as VerdictRecord
from sim.domain.image import EsxiImage
from sim.domain.key_hierarchy import WrappedKek
from sim.domain.pki import CertificateAuthority, derive_p256_key, public_der
from sim.domain.reasons import Reason
from sim.domain.report import ReportSigner, SignedOnUse, TrustedIssuer, verify_report
from sim.domain.tpm import VirtualTPM
from sim.domain.verifier import (
    AK_CHALLENGE_STREAM,
    Evidence,
    HostIdentity,
    Policy,
    Verdict,
    verify,
)
from sim.processes.attestation_status import StatusBook
from sim.processes.context import Context
from sim.processes.drafts import Attempt, ReportDraft, VerdictDraft
from sim.processes.key_provider import KeyProviders, PrimaryKeyCache
from sim.processes.services import Service, ServiceDown
from sim.processes.wiring import Port
from sim.rng import ByteSource
from sim.scenario.model import Attestation
from sim.scenario.model import TrustAuthority as TrustAuthoritySpec

ATTESTATION_SERVICE = "attestation_service"
"""The kind of a node's Attestation Service (its services are ``attestation_service.<i>``,
a host's service times the stream ``attestation_service.<host>``)."""
KEY_PROVIDER_SERVICE = "key_provider_service"
"""The kind of a node's Key Provider Service (named as the Attestation Service's)."""


class TrustNode:
    """One trust-authority ESXi host and the services it runs: the Attestation Service, the
    Key Provider Service (with its KMIP client certificate and key cache) and the status
    endpoint. Its report-signing and KMIP client keys derive from the root seed by name."""

    def __init__(
        self, ctx: Context, index: int, spec: TrustAuthoritySpec, ca: CertificateAuthority
    ) -> None:
        self.index = index
        self.name = f"vta:{index}"  # the node's network name
        att, kps = spec.attestation_service, spec.key_provider_service
        self.attestation = Service(
            ctx, f"{ATTESTATION_SERVICE}.{index}", att.workers, att.service_time,
            f"vta.{index}.attestation",
        )  # fmt: skip
        self.attestation.drop_expired = att.abandoned == "drop"
        self.key_provider = Service(
            ctx, f"{KEY_PROVIDER_SERVICE}.{index}", kps.workers, kps.service_time,
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
        self.primary_cache = PrimaryKeyCache()
        self.issued = 0

    def rotate_signer(self, signer: ReportSigner) -> None:
        """The node signs reports with ``signer`` from now on."""
        self.signer = signer

    def rotate_kmip_client(self, certificate_der: bytes) -> None:
        """The node's KMIP client presents ``certificate_der`` from now on."""
        self.kmip_client = certificate_der

    def next_report_id(self) -> str:
        """The id (jti) of the next report this node signs."""
        self.issued += 1
        return f"{self.name}-{self.issued}"

    @property
    def up(self) -> bool:
        """Whether the node answers requests."""
        return self.attestation.up

    def set_up(self, up: bool) -> None:
        """Bring every service of the node up or down."""
        self.attestation.up = up
        self.key_provider.up = up
        self.status.up = up


@dataclass
class SetupState:
    """What the trust authority has been given so far (all of it when the estate was set
    up before the run): its state enabled, the workload vCenters whose principal it trusts,
    and whether a trusted key provider is configured."""

    enabled: bool = True
    principals: set[str] | None = None  # None: every workload vCenter
    key_provider: bool = True

    def trusts(self, vcenter: str | None) -> bool:
        """Whether hosts of ``vcenter`` are served (its principal was imported)."""
        return self.principals is None or vcenter in self.principals


class _GoodSignatures(dict[tuple[bytes, bytes], object]):
    """Report signatures found good, and the key they were good under (the key check
    before a release and the check again at the release see the same report; a host
    presents one report with every key request until its next attestation). Forgotten all
    at once past a bound, which changes no outcome, only how often a check is repeated."""

    BOUND = 4096

    def __setitem__(self, key: tuple[bytes, bytes], value: object) -> None:
        if len(self) >= self.BOUND:
            self.clear()
        super().__setitem__(key, value)


class AttestOutcome(NamedTuple):
    """The Attestation Service's answer: a report token on success, and the verdict (an
    immutable named tuple, one per verdict)."""

    token: SignedOnUse | None
    expires_at: float | None
    jti: str | None
    verdict: Verdict
    node: str
    queue_wait: float
    verdict_at: float
    nonce_id: int
    draft: VerdictDraft


@dataclass(frozen=True)
class KeyOutcome:
    """The Key Provider Service's answer to a key request: the KEK (None when refused or
    failed), the dotted reason, whether the primary key came from the node's cache, and how
    many KMS servers timed out on the way; ``kms_get``: this request sent the node's KMIP Get
    (None: it never reached the primary key; False: a cache hit, or a miss that waited for
    the node's Get in flight)."""

    material: bytes | None
    reason: str | None
    cache_hit: bool | None
    node: str
    kms_timeouts: int = 0
    kms_get: bool | None = None


class TrustAuthority:
    """The cluster as one logical service, with per-node queues."""

    def __init__(
        self,
        ctx: Context,
        spec: TrustAuthoritySpec,
        attestation: Attestation,
        policy: Policy,
        providers: KeyProviders,
        nodes: list[TrustNode],
        epoch: float = 0.0,
    ) -> None:
        self.env = ctx.env
        self.epoch = epoch  # POSIX time of simulated second 0: reports carry wall-clock times
        self.nodes = nodes
        self.primary = nodes[: spec.hosts]
        self.fallback = nodes[spec.hosts :]
        self.policy = policy
        self.group = spec.name
        self.audience = f"{spec.name}/key-provider"
        self.report_lifetime = attestation.report_lifetime
        self.revocation = attestation.revocation
        self.fan_out = attestation.fan_out
        self.providers = providers
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self._nonce_bytes = ByteSource(ctx.stream("vta.nonces")).take
        self._challenge = ctx.stream(AK_CHALLENGE_STREAM)
        self.issuers: dict[str, TrustedIssuer] = {
            n.signer.service_id: n.signer.trusted_issuer() for n in nodes
        }
        self.revoked: set[str] = set()
        self._verified = _GoodSignatures()
        self.book = StatusBook()
        self.setup = SetupState()
        # who acts on a failing verdict (the host, and its reports live at the verdict with
        # ``revocation: push``): :meth:`revoke` at once, or the failure notifier later
        self.failed: Port[Callable[[str, list[str]], None]] = Port("trust_authority", "failed")
        # who else hears each verdict judged (an administrator registering new EKs)
        self.verdicts: Port[Callable[[str, Verdict], None]] = Port(
            "trust_authority", "verdicts", many=True
        )
        # the workload vCenter of each trusted host (whose principal must be trusted)
        self.host_vcenters: Port[Mapping[str, str]] = Port("trust_authority", "host_vcenters")
        self._nonces: dict[int, tuple[str, bytes]] = {}
        self._nonce_seq = 0
        self._next = 0
        self._next_fallback = 0
        # reports whose record is not written yet, by jti, and in the order they were issued
        # (which is the order they expire in, but for those held from before the run)
        self._reports: dict[str, ReportDraft] = {}
        self._report_queue: deque[ReportDraft] = deque()
        # an agent takes a verdict (and its report) at most this long after it was reached
        self._delivery_window = attestation.timeout

    def set_node_up(self, index: int, up: bool) -> None:
        """Bring trust-authority node ``index`` up or down (an outage)."""
        self.nodes[index].set_up(up)

    # --- routing ---------------------------------------------------------------------

    def pick_node(self) -> TrustNode | None:
        """The next primary node that is up, round-robin; while every primary node is down,
        the next fallback node that is up; None when all are down."""
        for _ in range(len(self.primary)):
            node = self.primary[self._next % len(self.primary)]
            self._next += 1
            if node.up:
                return node
        for _ in range(len(self.fallback)):
            node = self.fallback[self._next_fallback % len(self.fallback)]
            self._next_fallback += 1
            if node.up:
                return node
        return None

    def targets(self) -> list[TrustNode]:
        """Where one attestation goes: the next node that is up (``fan_out: one``), or
        every primary node that is up (``all``; every fallback node that is up while no
        primary one is); empty when all are down or the trust authority is not enabled yet."""
        if not self.setup.enabled:
            return []
        if self.fan_out == "all":
            return [n for n in self.primary if n.up] or [n for n in self.fallback if n.up]
        node = self.pick_node()
        return [] if node is None else [node]

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
        self,
        node: TrustNode,
        evidence: Evidence,
        nonce_id: int,
        quoted_at: float,
        deadline: float,
        attempt: Attempt,
    ) -> Generator[Any, Any, AttestOutcome | None]:
        """Queue at the node's Attestation Service, verify for real, sign a report. Every
        request is a ``verdicts`` record (see :meth:`attempt_over`); None when it was
        dropped past its ``deadline``."""
        host = evidence.host_id
        issued_to, nonce = self._nonces.pop(nonce_id, ("", b""))
        if issued_to != host:
            nonce = b""
        draft = VerdictDraft(host, node.name, nonce_id, quoted_at, self.env.now, deadline)
        self.recorder.opened(draft)
        attempt.verdicts.append(draft)
        try:
            served = yield from node.attestation.serve(
                lambda: self._judge(evidence, nonce), requester=host, deadline=deadline
            )
        except ServiceDown:
            draft.outcome = "lost"
            self._write_verdict(draft)
            raise
        draft.started_at = draft.arrived_at + served.waited
        if served.dropped:
            draft.outcome = "dropped"
            self._write_verdict(draft)
            return None
        verdict: Verdict = served.result
        now = self.env.now
        draft.verdict_at = now
        draft.outcome = "pass" if verdict.ok else "fail"
        draft.reasons = " ".join(verdict.reasons)
        token: SignedOnUse | None = None
        expires: float | None = None
        jti: str | None = None
        if not self.book.judge(host, nonce_id, verdict.ok):
            # A newer attempt of this host was judged first (this one was abandoned by its
            # agent and finished late): it must not overwrite the newer verdict.
            draft.stale = True
        else:
            if not verdict.ok:
                live = self.book.take_live(host, now) if self.revocation == "push" else []
                self.failed.target(host, live)
            for listener in self.verdicts.targets:
                listener(host, verdict)
            if verdict.ok:
                jti, expires, token = self._issue(node, host, verdict.measured_image_id or "", now)
                draft.jti = jti
        if attempt.over:  # its agent stopped waiting: it will never take this verdict
            self._write_verdict(draft)
        return AttestOutcome(
            token, expires, jti, verdict, node.name, served.waited, now, nonce_id, draft
        )

    def _write_verdict(self, draft: VerdictDraft, delivered_at: float | None = None) -> None:
        """Write ``draft``'s record, once."""
        if not draft.written:
            draft.written = True
            self.recorder.closed_row(draft, VerdictRecord, draft.row(delivered_at))

    def attempt_over(self, attempt: Attempt) -> None:
        """The agent stopped waiting for ``attempt`` (it took what had come back, timed out
        or went down): verdicts it did not take are written undelivered, now or once reached."""
        attempt.over = True
        for draft in attempt.verdicts:
            if draft.outcome is not None:
                self._write_verdict(draft)

    def revoke(self, jtis: list[str]) -> None:
        """Revoke the reports ``jtis`` now, on every Key Provider Service (a report revoked
        after its expiry keeps no ``revoked_at``: its life had ended)."""
        now = self.env.now
        for jti in jtis:
            if jti not in self.revoked:
                self.revoked.add(jti)
                draft = self._reports.get(jti)
                if draft is not None and now < draft.expires_at:
                    draft.revoked_at = now
                self.recorder.report_revoked(jti)

    def revoke_live(self, host: str, live: list[str]) -> None:
        """A failing verdict on ``host``: revoke its reports that were ``live`` at it now
        (the ``failed`` port's target when no failure notifier delays revocation)."""
        self.revoke(live)

    def _issue(
        self, node: TrustNode, host: str, image_id: str, at: float
    ) -> tuple[str, float, SignedOnUse]:
        """Issue a report for ``host`` attested at ``at`` by ``node`` and open its record;
        its jti, expiry and token (signed when first presented)."""
        jti = node.next_report_id()
        expires = at + self.report_lifetime
        token = node.signer.prepare(
            host, image_id, self.audience, self.epoch + at, self.report_lifetime, jti
        )
        self.book.issued(host, jti, expires, self.env.now)
        self._close_reports(self.env.now)
        draft = ReportDraft(jti, host, node.name, at, expires, image_id)
        self._reports[jti] = draft
        self._report_queue.append(draft)
        self.recorder.opened(draft)
        self.recorder.report_issued(jti, host, expires)
        return jti, expires, token

    def _close_reports(self, now: float) -> None:
        """Write the records of the reports whose life has ended by ``now``: expired, and
        past the time their agent could still take them. Reports are issued in the order
        they expire in (those held from before the run aside, which only wait a little
        longer at the head), so the oldest are checked, no more."""
        queue, window = self._report_queue, self._delivery_window
        while queue and queue[0].expires_at <= now and queue[0].issued_at + window < now:
            draft = queue.popleft()
            del self._reports[draft.jti]
            self.recorder.closed_row(draft, Report, draft.row())

    def delivered(self, outcome: AttestOutcome, now: float) -> None:
        """The agent received ``outcome`` at ``now``: from then on the host holds its report."""
        draft = outcome.draft
        self._write_verdict(draft, now)
        if outcome.jti is not None and outcome.expires_at is not None and not draft.stale:
            self._reports[outcome.jti].delivered_at = now
            self.book.delivered(draft.host, outcome.nonce_id, outcome.jti, outcome.expires_at)

    def held_report(self, host: str, node: TrustNode, image_id: str, age: float) -> SignedOnUse:
        """A report ``node`` issued to ``host`` ``age`` seconds before now, which the host
        received at once (an estate that was running before the simulation started)."""
        self._nonce_seq += 1
        at = self.env.now - age
        jti, expires, token = self._issue(node, host, image_id, at)
        self._reports[jti].delivered_at = at
        self.book.judge(host, self._nonce_seq, True)
        self.book.delivered(host, self._nonce_seq, jti, expires)
        return token

    def _judge(self, evidence: Evidence, nonce: bytes) -> Verdict:
        """The verdict on ``evidence``: refused outright for a host whose vCenter's
        principal the trust authority does not trust, else the verifier's."""
        if not self.setup.trusts(self.host_vcenters.target.get(evidence.host_id)):
            return Verdict(False, (Reason.PRINCIPAL_NOT_IMPORTED.text,), None,
                           evidence.host_id, None, ())  # fmt: skip
        return verify(evidence, self.policy, nonce)

    # --- set-up and rotations (the operations ask; only the trust authority changes it) ---

    def start_unconfigured(self) -> None:
        """The estate is set up during the run: not enabled, no principal, no key provider,
        and no host identity, TPM CA or base image imported yet."""
        self.setup = SetupState(enabled=False, principals=set(), key_provider=False)
        self.policy = replace(
            self.policy, identities={}, trusted_ca_certs_der=(), approved_images=()
        )

    def enable(self) -> None:
        """The trust authority's state is enabled: the Attestation Service answers."""
        self.setup.enabled = True

    def import_principals(self, vcenters: list[str]) -> None:
        """The principals of ``vcenters`` are imported: their hosts are served."""
        assert self.setup.principals is not None
        self.setup.principals.update(vcenters)

    def set_principals(self, vcenters: set[str] | None) -> None:
        """The workload vCenters whose principal is trusted from now on (None: all)."""
        self.setup.principals = vcenters

    def configure_key_provider(self) -> None:
        """A trusted key provider is configured: keys may be released."""
        self.setup.key_provider = True

    def trust_issuer(self, signer: ReportSigner) -> None:
        """Reports signed by ``signer`` are accepted from now on."""
        self.issuers[signer.service_id] = signer.trusted_issuer()

    def retire_issuer(self, service_id: str) -> None:
        """Reports signed by ``service_id`` are no longer accepted."""
        self.issuers.pop(service_id, None)

    def workload_vcenters(self) -> set[str]:
        """Every workload vCenter that manages a trusted host."""
        return set(self.host_vcenters.target.values())

    def set_images(self, images: tuple[EsxiImage, ...]) -> None:
        """The approved ESXi base images from now on."""
        self.policy = replace(self.policy, approved_images=images)

    def import_identities(self, policy: Policy) -> None:
        """Import the host identities and TPM CA certificates of ``policy``."""
        self.policy = replace(
            self.policy,
            identities=policy.identities,
            trusted_ca_certs_der=policy.trusted_ca_certs_der,
        )

    def register_identity(self, identity: HostIdentity) -> None:
        """Import (or replace) a host's identity record: its EK is registered from now on."""
        identities = dict(self.policy.identities)
        identities[identity.host_id] = identity
        self.policy = replace(self.policy, identities=identities)

    def enrol(self, host: str, hardware_id: str, tpm: VirtualTPM) -> HostIdentity:
        """The identity record of ``tpm`` in ``hardware_id``, its AK enrolled by a
        credential challenge whose secret comes from the verifier's own random stream."""
        challenge = self._challenge.bytes(32)
        return HostIdentity.for_tpm(host, hardware_id, tpm, challenge)

    def first_contact(self, host: str, hardware_id: str, tpm: VirtualTPM) -> None:
        """A host came up with ``tpm``. With certificate validation only and no binding of
        TPMs to servers, any genuine TPM is acceptable, so a TPM not seen before has its AK
        enrolled by credential activation at once (otherwise a new TPM waits for an
        administrator to register it)."""
        policy = self.policy
        if policy.require_endorsement_keys or policy.bind_tpm_to_server:
            return
        known = policy.identities.get(host)
        if known is None or known.ek_public_der != public_der(tpm.ek_public):
            self.register_identity(self.enrol(host, hardware_id, tpm))

    def status_of(self, host: str, now: float) -> str:
        """The host's status as the Attestation Service reports it at ``now``."""
        return self.book.status(host, now, self.revoked)

    def poll_status(
        self, node: TrustNode, hosts: list[str], requester: str
    ) -> Generator[Any, Any, dict[str, str]]:
        """Answer a vCenter's poll for the status of ``hosts``."""
        served = yield from node.status.serve(
            lambda: {h: self.status_of(h, self.env.now) for h in hosts}, requester=requester
        )
        out: dict[str, str] = served.result
        return out

    # --- key release -----------------------------------------------------------------

    def release_key(
        self, node: TrustNode, host: str, report: SignedOnUse | None, wrapped: WrappedKek
    ) -> Generator[Any, Any, KeyOutcome]:
        """The Key Provider Service: check the host's report, then unwrap the VM's KEK with
        its key provider's primary key (cached at the node, or fetched from the KMS)."""

        def check() -> str | None:
            if report is None:
                return Reason.REPORT_MISSING.text
            res = verify_report(
                report.token,
                self.issuers,
                (self.group,),
                self.audience,
                self.epoch + self.env.now,
                revoked=self.revoked,
                verified=self._verified,
            )
            if not res.ok:
                return res.reasons[0]
            if res.claims is None or res.claims.host_id != host:
                return Reason.REPORT_WRONG_SUBJECT.text
            return None

        reason = (yield from node.key_provider.serve(check, requester=host)).result
        if reason is None and not self.setup.key_provider:
            reason = Reason.KPS_NO_KEY_PROVIDER.text
        if reason is not None:
            return KeyOutcome(None, reason, None, node.name)
        out = yield from self.providers.unwrap(node, wrapped.provider, wrapped.wrapped, host)
        seen = (out.cache_hit, node.name, out.kms_timeouts, out.kms_get)
        if out.kek is None:
            return KeyOutcome(None, out.reason, *seen)
        # The token was valid when checked; re-check at the moment of release so a
        # revocation pushed while the KMS answered still stops the key.
        late = check()
        if late is not None:
            return KeyOutcome(None, late, *seen)
        return KeyOutcome(out.kek, None, *seen)
