"""The attestation verifier: a pure function from a host's evidence and a policy to a verdict.

This is what the Attestation Service decides for each request. ``verify`` never raises for
bad evidence (garbage bytes included); each failed check adds a dotted reason id, and all
applicable reasons are collected in this fixed order::

    attestation.quote.malformed             the quote is not a TPMS_ATTEST of type quote
    attestation.quote.bad_signature         the AK did not sign it
    attestation.quote.wrong_signer          qualifiedSigner is not the AK's Qualified Name
                                            under the evidence's EK
    attestation.quote.nonce_mismatch        extraData is not our nonce (replay)
    attestation.quote.pcr_selection         not exactly a SHA-256 selection covering MEASURED_PCRS
    attestation.identity.ak_not_certified   the AK is not a restricted signing key, or not
                                            the one the host's record enrolled
    attestation.identity.ek_untrusted       EK not trusted under the policy's TPM settings
    attestation.identity.unknown_host       no identity record for the host
    attestation.identity.ek_not_bound       the host's record names another EK (new TPM)
    attestation.identity.platform_mismatch  measured hardware is not the record's (moved TPM)
    attestation.eventlog.digest_mismatch    an event's digest is not SHA-256 of its data
    attestation.eventlog.malformed          the log is not a measured boot (see image.py)
    attestation.eventlog.replay_mismatch    replaying the log does not give the quoted pcrDigest
    attestation.image.not_approved          version, boot modules or VIB set match no image
    attestation.image.build_not_approved    the version is approved, this build is not
    attestation.image.driver_not_approved   a boot or runtime driver is not in the image
    attestation.image.vib_not_approved      a boot or runtime VIB is not in the image
    attestation.image.acceptance_below_floor  a VIB is below the policy's acceptance floor
    attestation.platform.secure_boot_off    Secure Boot off while the policy requires it

The image is compared with the closest approved image of the same version and build; when
there is none, VIBs and drivers are checked against the union of all approved images so
that a build change is reported as that and not as a cascade of VIB findings.

TPM trust follows vSphere Trust Authority's two independent TPM 2.0 settings: require
registered endorsement keys (the EK public key was imported), and require EK certificate
validation (the EK certificate chains to an imported TPM CA certificate and names the TPM's
manufacturer, model and version, as the TCG EK Credential Profile asks); at least one is
on. The host's identity record holds its server hardware, its EK and the AK enrolled by
credential activation (:func:`sim.domain.credential.enroll_ak`): a real EK cannot sign, so
that is how a verifier learns which AK lives in the EK's TPM. With ``bind_tpm_to_server``
(the source article's claim) the record also binds the host to that EK and server. EKs may
be ECC P-256 or RSA keys; AKs are ECC P-256 ECDSA signing keys.

The simulator calls ``verify`` thousands of times, so parsed CA certificates, normalised
keys and the approved-image index are cached per policy, and the pure certificate and
AK-binding checks are memoised on their bytes.
"""

from __future__ import annotations

import hmac
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from sim.domain.credential import enroll_ak
from sim.domain.identity_checks import (
    ak_fit,
    ek_certificate_trusted,
    expected_signer,
    load_key,
    normalized_ek,
)
from sim.domain.image import (
    MEASURED_PCRS,
    AcceptanceLevel,
    EsxiImage,
    MeasuredState,
    Vib,
    reconstruct,
)
from sim.domain.pki import public_der
from sim.domain.pki import verify as pki_verify
from sim.domain.reasons import Reason
from sim.domain.tpm import Event, Quote, VirtualTPM, composite_digest, replay
from sim.domain.tpm_wire import (
    TPM_ALG_SHA256,
    AttestInfo,
    ecc_public_area,
    object_name,
    parse_attest,
    signature_der,
)


@dataclass(frozen=True)
class Evidence:
    """What a host's agent sends for one attestation.

    ``ak_public_area`` is the AK's TPMT_PUBLIC; when absent it is rebuilt from
    ``ak_public_der`` with the standard AK attributes. ``ek_public_area`` is the EK's
    TPMT_PUBLIC, whose Name is part of the AK's Qualified Name in the quote.
    """

    host_id: str
    quote: Quote
    event_log: tuple[Event, ...]
    ak_public_der: bytes
    ek_public_der: bytes
    ek_certificate_der: bytes | None
    ak_public_area: bytes | None = None
    ek_public_area: bytes | None = None


def collect_evidence(
    host_id: str, tpm: VirtualTPM, nonce: bytes, selection: tuple[int, ...] = MEASURED_PCRS
) -> Evidence:
    """The evidence a host's agent gathers: a fresh quote over ``nonce``, the event log and
    the TPM's EK/AK identity."""
    return Evidence(
        host_id=host_id,
        quote=tpm.quote(nonce, selection),
        event_log=tpm.event_log,
        ak_public_der=tpm.ak_public_der,
        ek_public_der=tpm.ek_public_der,
        ek_certificate_der=tpm.ek_certificate_der,
        ak_public_area=tpm.ak_public_area,
        ek_public_area=tpm.ek_public_area,
    )


@dataclass(frozen=True)
class HostIdentity:
    """The imported identity of a trusted host: the server it is, the EK of its TPM and
    the Name of the AK enrolled for it by credential activation (None: none enrolled)."""

    host_id: str
    hardware_id: str
    ek_public_der: bytes
    ak_name: bytes | None = None

    @classmethod
    def for_tpm(
        cls, host_id: str, hardware_id: str, tpm: VirtualTPM, challenge: bytes
    ) -> HostIdentity:
        """The record for ``tpm`` installed in ``hardware_id``: its EK imported and its AK
        enrolled by a credential challenge that the TPM activates. ``challenge`` is the
        verifier's secret for this enrolment (at least :data:`MIN_CHALLENGE` bytes from its
        own random stream, never derived from anything a host exports or a host id): only
        the TPM holding the EK can recover it. ValueError if the activation fails."""
        if len(challenge) < MIN_CHALLENGE:
            raise ValueError(f"an AK challenge needs at least {MIN_CHALLENGE} secret bytes")
        name = enroll_ak(tpm.ek_public_area, tpm.ak_public_area, tpm.activate_credential, challenge)
        if name is None:
            raise ValueError(f"AK enrolment of {host_id!r} failed")
        return cls(host_id, hardware_id, public_der(tpm.ek_public), name)


MIN_CHALLENGE = 16
"""Fewest secret bytes behind one AK enrolment challenge (128 bits)."""
AK_CHALLENGE_STREAM = "verifier.ak-challenge"
"""The verifier's named random stream (see :mod:`sim.rng`) its enrolment challenges come
from."""


@dataclass(frozen=True)
class _PolicyIndex:
    """Parsed and normalised views of a policy, built once per policy."""

    ca_der: tuple[bytes, ...]
    imported_eks: frozenset[bytes]
    host_eks: Mapping[str, bytes]
    host_aks: Mapping[str, bytes | None]
    approved: frozenset[EsxiImage]
    by_release: Mapping[tuple[str, int], tuple[EsxiImage, ...]]
    versions: frozenset[str]
    all_vibs: frozenset[Vib]
    all_drivers: frozenset[str]


_POLICY_SERIALS = itertools.count(1)


@dataclass(frozen=True)
class Policy:
    """What the Attestation Service accepts. Bad configuration (an unparseable CA
    certificate or EK, a record filed under another host id, neither TPM setting on)
    raises ValueError.

    TPM trust is vTA's two independent TPM 2.0 settings: an EK is trusted iff (not
    ``require_endorsement_keys`` or it is registered) and (not
    ``require_certificate_validation`` or its certificate chains to a trusted CA).
    ``bind_tpm_to_server`` (the source article's claim, not documented by VMware) further
    requires the EK and the server to be the ones registered for the host, so a TPM moved
    to another server, or a new TPM in the same server, does not pass."""

    require_endorsement_keys: bool
    require_certificate_validation: bool
    trusted_ca_certs_der: tuple[bytes, ...]
    identities: Mapping[str, HostIdentity] = field(hash=False)
    approved_images: tuple[EsxiImage, ...]
    min_acceptance: AcceptanceLevel
    require_secure_boot: bool = True
    bind_tpm_to_server: bool = True

    def __post_init__(self) -> None:
        if not (self.require_endorsement_keys or self.require_certificate_validation):
            raise ValueError(
                "at least one of require_endorsement_keys and require_certificate_validation"
            )
        object.__setattr__(self, "trusted_ca_certs_der", tuple(self.trusted_ca_certs_der))
        object.__setattr__(self, "identities", MappingProxyType(dict(self.identities)))
        object.__setattr__(self, "approved_images", tuple(self.approved_images))
        for key, ident in self.identities.items():
            if key != ident.host_id:
                raise ValueError(f"identity of {ident.host_id!r} filed under {key!r}")
        _ = self._index  # parse now, so bad configuration fails here
        object.__setattr__(self, "serial", next(_POLICY_SERIALS))

    serial: int = field(init=False, default=0, compare=False, repr=False)
    """A number no other policy in this process has: verdicts memoised per policy are
    keyed by it (a policy's id could be reused once it is gone)."""

    @cached_property
    def _index(self) -> _PolicyIndex:
        for der in self.trusted_ca_certs_der:
            x509.load_der_x509_certificate(der)
        host_eks = {}
        for host_id, ident in self.identities.items():
            norm = normalized_ek(ident.ek_public_der)
            if norm is None:
                raise ValueError(f"EK of {host_id!r} is not an EC or RSA public key")
            host_eks[host_id] = norm
        by_release: dict[tuple[str, int], tuple[EsxiImage, ...]] = {}
        for img in self.approved_images:
            by_release[(img.version, img.build)] = (
                *by_release.get((img.version, img.build), ()),
                img,
            )
        return _PolicyIndex(
            ca_der=self.trusted_ca_certs_der,
            imported_eks=frozenset(host_eks.values()),
            host_eks=MappingProxyType(host_eks),
            host_aks=MappingProxyType({h: i.ak_name for h, i in self.identities.items()}),
            approved=frozenset(self.approved_images),
            by_release=MappingProxyType(by_release),
            versions=frozenset(img.version for img in self.approved_images),
            all_vibs=frozenset(v for img in self.approved_images for v in img.vibs),
            all_drivers=frozenset(d for img in self.approved_images for d in img.drivers),
        )


@dataclass(frozen=True)
class Verdict:
    """The outcome of one attestation: ok iff no reasons. ``details`` names the offending
    VIBs and drivers; ``approved_image_id`` is the approved image the host booted, if any."""

    ok: bool
    reasons: tuple[str, ...]
    measured_image_id: str | None
    host_id: str
    approved_image_id: str | None = None
    details: tuple[str, ...] = ()


def _ak_area(evidence: Evidence) -> bytes | None:
    if evidence.ak_public_area is not None:
        return evidence.ak_public_area
    ak = load_key(evidence.ak_public_der)
    try:
        return None if ak is None else ecc_public_area(ak)
    except ValueError:  # not a P-256 key, so it cannot be a TPM AK here
        return None


def _parse_quote(quote: Quote) -> AttestInfo | None:
    try:
        return parse_attest(quote.attest)
    except ValueError:
        return None


_MEASURED = frozenset(MEASURED_PCRS)


def _quote_reasons(info: AttestInfo, nonce: bytes, signer: bytes | None) -> list[str]:
    """What the quote's own fields say: the signer it names against the Qualified Name the
    evidence's keys give (``signer``, None if they give none), its nonce, its selection."""
    reasons = []
    if signer is None or not hmac.compare_digest(info.qualified_signer, signer):
        reasons.append(Reason.QUOTE_WRONG_SIGNER.text)
    if not hmac.compare_digest(info.extra_data, nonce):
        reasons.append(Reason.QUOTE_NONCE_MISMATCH.text)
    banks = info.pcr_selection
    if len(banks) != 1 or banks[0][0] != TPM_ALG_SHA256 or not _MEASURED.issubset(banks[0][1]):
        reasons.append(Reason.QUOTE_PCR_SELECTION.text)
    return reasons


def _expected_signer(evidence: Evidence) -> bytes | None:
    """The Qualified Name a quote signed by the evidence's AK under its EK must carry."""
    area = _ak_area(evidence)
    ek_area = evidence.ek_public_area
    if area is None or ek_area is None:
        return None
    return expected_signer(evidence.ek_public_der, ek_area, area)


def _identity_reasons(evidence: Evidence, policy: Policy) -> list[str]:
    reasons = []
    index = policy._index
    ek = normalized_ek(evidence.ek_public_der)
    area = _ak_area(evidence)
    # an AK is trusted only once enrolled for this host by credential activation: a host
    # with no record, or a record without an AK, is refused whatever bind_tpm_to_server
    # says (a key in no TPM could otherwise sign quotes next to a genuine EK's identity)
    enrolled = index.host_aks.get(evidence.host_id)
    if (
        area is None
        or not ak_fit(evidence.ak_public_der, area)
        or enrolled is None
        or not hmac.compare_digest(enrolled, object_name(area))
    ):
        reasons.append(Reason.AK_NOT_CERTIFIED.text)
    trusted = True
    if policy.require_certificate_validation:
        cert = evidence.ek_certificate_der
        trusted = (
            ek is not None and cert is not None and ek_certificate_trusted(cert, ek, index.ca_der)
        )
    if policy.require_endorsement_keys:
        trusted = trusted and ek in index.imported_eks
    if not trusted:
        reasons.append(Reason.EK_UNTRUSTED.text)
    if policy.bind_tpm_to_server:
        bound = index.host_eks.get(evidence.host_id)
        if bound is None:
            reasons.append(Reason.UNKNOWN_HOST.text)
        elif bound != ek:
            reasons.append(Reason.EK_NOT_BOUND.text)
    return reasons


class _IdentityFront:
    """What a piece of evidence's identity says under one policy: the AK to check the
    quote's signature with, the Qualified Name the quote must carry and the identity
    reasons. These depend only on the policy, the host id and the key and certificate
    bytes, which an agent sends as the very same objects on every attestation."""

    __slots__ = ("ak", "ak_area", "ak_der", "cert_der", "ek_area", "ek_der", "policy", "reasons",
                 "signer")  # fmt: skip

    def __init__(self, evidence: Evidence, policy: Policy) -> None:
        self.policy = policy
        self.ak_der = evidence.ak_public_der
        self.ek_der = evidence.ek_public_der
        self.cert_der = evidence.ek_certificate_der
        self.ak_area = evidence.ak_public_area
        self.ek_area = evidence.ek_public_area
        self.ak = load_key(evidence.ak_public_der)
        self.signer = _expected_signer(evidence)
        self.reasons = tuple(_identity_reasons(evidence, policy))

    def fits(self, evidence: Evidence, policy: Policy) -> bool:
        """Whether this was worked out for ``policy`` and these very byte objects."""
        return (
            self.policy is policy
            and self.ak_der is evidence.ak_public_der
            and self.ek_der is evidence.ek_public_der
            and self.cert_der is evidence.ek_certificate_der
            and self.ak_area is evidence.ak_public_area
            and self.ek_area is evidence.ek_public_area
        )


_FRONTS: dict[tuple[int, str], _IdentityFront] = {}
_FRONT_LIMIT = 16384


def _identity_front(evidence: Evidence, policy: Policy) -> _IdentityFront:
    """The :class:`_IdentityFront` of ``evidence`` under ``policy``, kept per policy and
    host while the evidence carries the same key and certificate objects (identity, not
    equality). Buys: a hit costs ~0.4 us, where the AK, the Qualified Name and the
    identity checks through their byte-keyed caches cost ~3.3 us even when each of those
    hits. An entry holds the objects it was worked out for, so their ids cannot be reused
    while it exists; they are bytes, which cannot change (the byte-keyed caches behind it
    already need them hashable)."""
    key = (policy.serial, evidence.host_id)
    front = _FRONTS.get(key)
    if front is not None and front.fits(evidence, policy):
        return front
    front = _IdentityFront(evidence, policy)
    if len(_FRONTS) >= _FRONT_LIMIT:
        _FRONTS.clear()
    _FRONTS[key] = front
    return front


def _closest(measured: EsxiImage, candidates: tuple[EsxiImage, ...]) -> EsxiImage:
    def distance(img: EsxiImage) -> tuple[bool, int, int]:
        return (
            img.boot_modules != measured.boot_modules,
            len(set(img.drivers) ^ set(measured.drivers)),
            len(set(img.vibs) ^ set(measured.vibs)),
        )

    return min(candidates, key=distance)


def _image_reasons(
    state: MeasuredState, policy: Policy, details: list[str]
) -> tuple[list[str], EsxiImage | None]:
    """Image and platform reasons for a reconstructed state, and the approved image it
    was compared with (None if no approved image has its version and build)."""
    index = policy._index
    measured = state.image
    reasons: list[str] = []
    candidates = index.by_release.get((measured.version, measured.build), ())
    base: EsxiImage | None = None
    if measured in index.approved:
        base = measured
    elif candidates:
        base = _closest(measured, candidates)
        names = {v.name for v in measured.vibs}
        removed = [v.name for v in base.vibs if v.name not in names]
        if base.boot_modules != measured.boot_modules or removed:
            reasons.append(Reason.IMAGE_NOT_APPROVED.text)
            details.extend(f"VIB removed: {name}" for name in removed)
    elif measured.version in index.versions:
        reasons.append(Reason.BUILD_NOT_APPROVED.text)
        details.append(f"build not approved: {measured.version} build {measured.build}")
    else:
        reasons.append(Reason.IMAGE_NOT_APPROVED.text)
        details.append(f"version not approved: {measured.version}")
    allowed_drivers = index.all_drivers if base is None else frozenset(base.drivers)
    bad_drivers = [d for d in state.all_drivers if d not in allowed_drivers]
    if base is not None:
        bad_drivers += [d for d in base.drivers if d not in measured.drivers]
    if bad_drivers:
        reasons.append(Reason.DRIVER_NOT_APPROVED.text)
        details.extend(f"driver not approved: {d}" for d in bad_drivers)
    allowed_vibs = index.all_vibs if base is None else frozenset(base.vibs)
    bad_vibs = [v for v in state.all_vibs if v not in allowed_vibs]
    if bad_vibs:
        reasons.append(Reason.VIB_NOT_APPROVED.text)
        details.extend(f"VIB not approved: {v}" for v in bad_vibs)
    low = [v for v in state.all_vibs if v.acceptance < policy.min_acceptance]
    if low:
        reasons.append(Reason.ACCEPTANCE_BELOW_FLOOR.text)
        details.extend(f"VIB below {policy.min_acceptance.label}: {v}" for v in low)
    if policy.require_secure_boot and not state.secure_boot:
        reasons.append(Reason.SECURE_BOOT_OFF.text)
    return reasons, base


class _LogReading:
    """What a log says (the measured state, or reasons) and the PCRs it replays to, with
    the image verdicts already reached on it, per policy (by the policy's serial)."""

    __slots__ = ("composites", "measured", "pcrs", "verdicts")

    def __init__(self, events: tuple[Event, ...]) -> None:
        measured = reconstruct(events)
        self.measured: MeasuredState | tuple[str, ...] = (
            measured if isinstance(measured, MeasuredState) else tuple(measured)
        )
        self.pcrs = replay(events)
        self.composites: dict[tuple[int, ...], bytes] = {}
        self.verdicts: dict[int, tuple[tuple[str, ...], tuple[str, ...], EsxiImage | None]] = {}

    def image_verdict(
        self, state: MeasuredState, policy: Policy
    ) -> tuple[tuple[str, ...], tuple[str, ...], EsxiImage | None]:
        """:func:`_image_reasons` of this log's state under ``policy`` (reasons, details,
        the approved image compared with), reached once per policy."""
        found = self.verdicts.get(policy.serial)
        if found is None:
            details: list[str] = []
            reasons, base = _image_reasons(state, policy, details)
            found = self.verdicts[policy.serial] = (tuple(reasons), tuple(details), base)
        return found


@lru_cache(maxsize=16384)
def _read_log(events: tuple[Event, ...]) -> _LogReading:
    """The reading of a log; hosts re-attest with the same log between reboots, so this is
    memoised on the (immutable) events. Buys: reading a 64-event boot log costs ~0.12 ms,
    a hit ~9 us (hashing the tuple); :func:`_reading` spares even that."""
    return _LogReading(events)


_RECENT_LOGS: dict[int, tuple[tuple[Event, ...], _LogReading]] = {}
_RECENT_LIMIT = 16384


def _reading(events: tuple[Event, ...]) -> _LogReading:
    """:func:`_read_log`, first by the identity of the tuple: an agent sends the very same
    log object until its TPM measures something new, which spares hashing every event of
    it on each attestation (a hit by identity ~0.2 us against ~9 us for the cache's hash).
    The entry holds the tuple, so its id cannot be reused while the entry exists."""
    hit = _RECENT_LOGS.get(id(events))
    if hit is not None and hit[0] is events:
        return hit[1]
    reading = _read_log(events)
    if len(_RECENT_LOGS) >= _RECENT_LIMIT:
        _RECENT_LOGS.clear()
    _RECENT_LOGS[id(events)] = (events, reading)
    return reading


def _replay_matches(reading: _LogReading, info: AttestInfo) -> bool:
    """Whether the PCRs the log replays to give the quote's pcrDigest (the composite of a
    log's PCRs is kept per selection: the log's host quotes the same PCRs each time)."""
    pcrs = info.sha256_pcrs()
    if not pcrs:
        return False
    composite = reading.composites.get(pcrs)
    if composite is None:
        try:
            composite = composite_digest(reading.pcrs, pcrs)
        except ValueError:
            return False
        reading.composites[pcrs] = composite
    return hmac.compare_digest(composite, info.pcr_digest)


def verify(evidence: Evidence, policy: Policy, nonce: bytes) -> Verdict:
    """Check ``evidence`` against ``policy`` for the fresh ``nonce`` (see module doc)."""
    reasons: list[str] = []
    details: list[str] = []
    front = _identity_front(evidence, policy)
    info = _parse_quote(evidence.quote)
    if info is None:
        reasons.append(Reason.QUOTE_MALFORMED.text)
    else:
        ak = front.ak
        if ak is None or not _signature_valid(ak, evidence.quote):
            reasons.append(Reason.QUOTE_BAD_SIGNATURE.text)
        reasons += _quote_reasons(info, nonce, front.signer)
    reasons += front.reasons
    reading = _reading(tuple(evidence.event_log))
    measured = reading.measured
    identity = policy.identities.get(evidence.host_id) if policy.bind_tpm_to_server else None
    if isinstance(measured, MeasuredState):
        if identity is not None and measured.hardware_id != identity.hardware_id:
            reasons.append(Reason.PLATFORM_MISMATCH.text)
            details.append(f"measured hardware {measured.hardware_id!r}")
    else:
        reasons += measured
    if info is not None and not _replay_matches(reading, info):
        reasons.append(Reason.EVENTLOG_REPLAY_MISMATCH.text)
    measured_id = None
    base = None
    if isinstance(measured, MeasuredState):
        measured_id = measured.image.image_id
        image_reasons, image_details, base = reading.image_verdict(measured, policy)
        reasons += image_reasons
        details += image_details
    approved_id = base.image_id if base is not None and not reasons else None
    return Verdict(
        ok=not reasons,
        reasons=tuple(reasons),
        measured_image_id=measured_id,
        host_id=evidence.host_id,
        approved_image_id=approved_id,
        details=tuple(details),
    )


def _signature_valid(ak: ec.EllipticCurvePublicKey, quote: Quote) -> bool:
    """The quote's TPMT_SIGNATURE is the AK's over its TPMS_ATTEST (whose well-formedness
    the caller has checked): :func:`~sim.domain.tpm.verify_quote` without parsing the
    attest structure a second time."""
    try:
        der = signature_der(quote.signature)
    except ValueError:
        return False
    return pki_verify(ak, der, quote.attest)
