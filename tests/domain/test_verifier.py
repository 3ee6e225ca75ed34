"""Tests for sim.domain.verifier: genuine evidence passes, every tamper and drift is named."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain import verifier
from sim.domain.credential import Credential
from sim.domain.image import (
    AcceptanceLevel,
    EsxiImage,
    Platform,
    Vib,
    default_image,
    measure_boot,
    measure_runtime_driver,
    measure_runtime_vib,
)
from sim.domain.pki import CertificateAuthority, derive_p256_key, public_der
from sim.domain.tpm import Event, EventType, Quote, VirtualTPM
from sim.domain.tpm_keys import ecc_ek_public_area
from sim.domain.tpm_wire import RESTRICTED, ecc_public_area, object_name
from sim.domain.verifier import (
    AK_CHALLENGE_STREAM,
    Evidence,
    HostIdentity,
    Policy,
    collect_evidence,
    verify,
)
from sim.rng import Streams

VENDOR = CertificateAuthority.create(b"vendor-a", "Vendor A TPM CA")
OTHER_VENDOR = CertificateAuthority.create(b"vendor-b", "Vendor B TPM CA")
NONCE = bytes(range(32))
SERVER_A = Platform("4c4c4544-0042-3510-8054-b4c04f565032")
SERVER_B = Platform("4c4c4544-0038-4710-8033-c2c04f4d3132")
IMAGE = default_image()
CERTIFIED = AcceptanceLevel.VMWARE_CERTIFIED
ROGUE_VIB = Vib("backdoor", "1.0-1", "ACME", CERTIFIED)
COMMUNITY_VIB = Vib("esxcli-shell", "1.1.0", "virten", AcceptanceLevel.COMMUNITY_SUPPORTED)


def make_tpm(seed: bytes, ca: CertificateAuthority = VENDOR) -> VirtualTPM:
    return VirtualTPM(seed, ca, f"TPM-{seed.hex()}")


TPM_A = make_tpm(b"tpm-a")
TPM_B = make_tpm(b"tpm-b")
CHALLENGE = Streams(1).take_bytes(AK_CHALLENGE_STREAM, 32)
IDENTITIES = {
    "esx-01": HostIdentity.for_tpm("esx-01", SERVER_A.hardware_id, TPM_A, CHALLENGE),
    "esx-02": HostIdentity.for_tpm("esx-02", SERVER_B.hardware_id, TPM_B, CHALLENGE[::-1]),
}


def policy(
    mode: str = "certificate",
    images: Iterable[EsxiImage] = (IMAGE,),
    floor: AcceptanceLevel = AcceptanceLevel.PARTNER_SUPPORTED,
    **kw: bool,
) -> Policy:
    return Policy(
        require_endorsement_keys=mode == "endorsement_key",
        require_certificate_validation=mode == "certificate",
        trusted_ca_certs_der=(VENDOR.certificate.public_bytes(serialization.Encoding.DER),),
        identities=IDENTITIES,
        approved_images=tuple(images),
        min_acceptance=floor,
        **kw,
    )


POLICY = policy()
EK_POLICY = policy("endorsement_key")


def boot(
    seed: bytes = b"tpm-a",
    image: EsxiImage = IMAGE,
    platform: Platform = SERVER_A,
    ca: CertificateAuthority = VENDOR,
) -> VirtualTPM:
    tpm = make_tpm(seed, ca)
    measure_boot(tpm, image, platform)
    return tpm


GENUINE = collect_evidence("esx-01", boot(), NONCE)


def reasons(evidence: Evidence, pol: Policy = POLICY, nonce: bytes = NONCE) -> tuple[str, ...]:
    return verify(evidence, pol, nonce).reasons


@pytest.mark.parametrize("pol", [POLICY, EK_POLICY], ids=["certificate", "endorsement_key"])
def test_genuine_evidence_passes(pol: Policy) -> None:
    """A genuine host booting the approved image passes in both identity modes."""
    verdict = verify(GENUINE, pol, NONCE)
    assert verdict.ok and verdict.reasons == ()
    assert verdict.host_id == "esx-01"
    assert verdict.measured_image_id == IMAGE.image_id == verdict.approved_image_id


def test_evidence_without_ak_public_area_still_passes() -> None:
    """When the agent omits the AK's TPMT_PUBLIC, the verifier rebuilds it from the key."""
    assert verify(dataclasses.replace(GENUINE, ak_public_area=None), POLICY, NONCE).ok


def test_verdicts_are_deterministic() -> None:
    """The same evidence, policy and nonce always give the same verdict."""
    again = collect_evidence("esx-01", boot(), NONCE)
    assert again == GENUINE
    assert verify(again, POLICY, NONCE) == verify(GENUINE, POLICY, NONCE)


def _flip(data: bytes, pos: int, mask: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= mask
    return bytes(out)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_flipped_quote_bytes_are_rejected(data: st.DataObject) -> None:
    """Any flipped bit in the TPMS_ATTEST makes it malformed or breaks the AK signature."""
    attest = GENUINE.quote.attest
    pos = data.draw(st.integers(0, len(attest) - 1))
    mask = data.draw(st.integers(1, 255))
    quote = Quote(_flip(attest, pos, mask), GENUINE.quote.signature)
    got = reasons(dataclasses.replace(GENUINE, quote=quote))
    assert got[0] in ("attestation.quote.malformed", "attestation.quote.bad_signature")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_flipped_signature_bytes_are_rejected(data: st.DataObject) -> None:
    """Any flipped bit in the quote's TPMT_SIGNATURE is exactly a bad signature."""
    sig = GENUINE.quote.signature
    pos = data.draw(st.integers(0, len(sig) - 1))
    mask = data.draw(st.integers(1, 255))
    quote = Quote(GENUINE.quote.attest, _flip(sig, pos, mask))
    assert reasons(dataclasses.replace(GENUINE, quote=quote)) == (
        "attestation.quote.bad_signature",
    )


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=120),
    st.binary(max_size=80),
    st.binary(max_size=100),
    st.binary(max_size=80),
    st.one_of(st.none(), st.binary(max_size=100)),
    st.one_of(st.none(), st.binary(max_size=100)),
)
def test_garbage_evidence_never_raises(
    attest: bytes, sig: bytes, ak: bytes, ek_area: bytes, cert: bytes | None, area: bytes | None
) -> None:
    """Random bytes in every field give a failing verdict, never an exception."""
    evidence = Evidence("esx-01", Quote(attest, sig), (), ak, ak, cert, area, ek_area)
    for pol in (POLICY, EK_POLICY):
        verdict = verify(evidence, pol, NONCE)
        assert not verdict.ok and verdict.reasons


def test_keys_on_other_curves_are_rejected_without_raising() -> None:
    """P-384 EK and AK keys cannot be this TPM's; they fail cleanly."""
    p384 = ec.derive_private_key(0x5EED, ec.SECP384R1()).public_key()
    der = p384.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    evidence = dataclasses.replace(
        GENUINE, ak_public_der=der, ek_public_der=der, ak_public_area=None
    )
    got = reasons(evidence, EK_POLICY)
    assert got[:3] == (
        "attestation.quote.bad_signature",
        "attestation.quote.wrong_signer",
        "attestation.identity.ak_not_certified",
    )


def test_wrong_nonce_is_a_replay() -> None:
    """A quote over another nonce (a replayed quote) is a nonce mismatch, nothing else."""
    assert reasons(GENUINE, nonce=b"\x01" * 32) == ("attestation.quote.nonce_mismatch",)


def test_quote_missing_measured_pcrs_is_rejected() -> None:
    """A quote that leaves out the VIB PCR is rejected for its selection."""
    evidence = collect_evidence("esx-01", boot(), NONCE, selection=(0, 7, 8, 9, 11))
    assert reasons(evidence) == ("attestation.quote.pcr_selection",)


def test_quote_from_another_tpm_is_rejected() -> None:
    """A quote signed by another TPM's AK fails the signature and signer checks."""
    other = collect_evidence("esx-02", boot(b"tpm-b", platform=SERVER_B), NONCE)
    evidence = dataclasses.replace(GENUINE, quote=other.quote)
    got = reasons(evidence)
    assert got[:2] == ("attestation.quote.bad_signature", "attestation.quote.wrong_signer")


def test_ak_not_enrolled_for_the_host_is_not_certified() -> None:
    """A record with no enrolled AK, or another AK's Name, leaves the AK uncertified."""
    for name in (None, TPM_B.ak_name):
        record = dataclasses.replace(IDENTITIES["esx-01"], ak_name=name)
        pol = dataclasses.replace(POLICY, identities={**IDENTITIES, "esx-01": record})
        assert reasons(GENUINE, pol) == ("attestation.identity.ak_not_certified",)


def test_enrolment_needs_the_tpm_to_activate_the_credential() -> None:
    """HostIdentity.for_tpm enrols the AK that TPM activates; a TPM that answers with
    another TPM's activation fails enrolment."""
    assert IDENTITIES["esx-01"].ak_name == TPM_A.ak_name

    class Impostor(VirtualTPM):
        def activate_credential(self, credential: Credential) -> bytes:
            return TPM_B.activate_credential(credential)

    with pytest.raises(ValueError, match="enrolment"):
        HostIdentity.for_tpm(
            "esx-01", SERVER_A.hardware_id, Impostor(b"tpm-a", VENDOR, "X"), CHALLENGE
        )


def test_wrong_or_missing_ek_public_area_breaks_the_qualified_name() -> None:
    """Without the EK's public area, with another EK's, or with a flipped byte in it, the
    quote's qualifiedSigner cannot be the AK's Qualified Name under this EK."""
    areas = (None, TPM_B.ek_public_area, _flip(GENUINE.ek_public_area or b"", 40, 1))
    for area in areas:
        evidence = dataclasses.replace(GENUINE, ek_public_area=area)
        assert reasons(evidence) == ("attestation.quote.wrong_signer",)


def test_foreign_ak_under_a_genuine_ek_is_rejected() -> None:
    """An attacker's AK and quote presented with the victim's EK (and EK area) has the
    wrong Qualified Name and is not the AK the victim enrolled."""
    attacker = collect_evidence("esx-01", boot(b"attacker"), NONCE)
    for ek_area in (attacker.ek_public_area, GENUINE.ek_public_area):
        evidence = dataclasses.replace(
            attacker,
            ek_public_der=GENUINE.ek_public_der,
            ek_certificate_der=GENUINE.ek_certificate_der,
            ek_public_area=ek_area,
        )
        assert reasons(evidence) == (
            "attestation.quote.wrong_signer",
            "attestation.identity.ak_not_certified",
        )


def test_unrestricted_ak_is_not_certified() -> None:
    """An enrolled AK that is not a restricted signing key cannot vouch for quotes."""
    ek = derive_p256_key(b"rogue-ek", "ek")
    ak = derive_p256_key(b"rogue-ek", "ak")
    area = bytearray(ecc_public_area(ak.public_key()))
    attrs = int.from_bytes(area[4:8], "big") & ~RESTRICTED
    area[4:8] = attrs.to_bytes(4, "big")
    ek_der = public_der(ek.public_key())
    record = HostIdentity("esx-09", "srv-9", ek_der, object_name(bytes(area)))
    pol = dataclasses.replace(EK_POLICY, identities={"esx-09": record})
    evidence = Evidence(
        "esx-09",
        GENUINE.quote,
        GENUINE.event_log,
        public_der(ak.public_key()),
        ek_der,
        None,
        bytes(area),
        ecc_ek_public_area(ek.public_key()),
    )
    assert "attestation.identity.ak_not_certified" in reasons(evidence, pol)


def _with_event(events: tuple[Event, ...], i: int, event: Event) -> tuple[Event, ...]:
    return (*events[:i], event, *events[i + 1 :])


def _vib_index(events: tuple[Event, ...]) -> int:
    return next(i for i, e in enumerate(events) if e.pcr == 10 and b'"esx-base"' in e.data)


def test_a_log_seen_before_is_replayed_against_each_new_quote() -> None:
    """The verifier keeps a log's PCR composite once computed, and the TPM keeps its own
    until a PCR changes: an unlogged extend after a passing quote makes the next quote, sent
    with the very same log object, fail replay."""
    tpm = boot()
    first = collect_evidence("esx-01", tpm, NONCE)
    assert verify(first, POLICY, NONCE).ok
    assert verify(first, POLICY, NONCE).ok  # the composite now comes from the memo
    tpm.extend_unlogged(10, bytes(32))
    second = collect_evidence("esx-01", tpm, NONCE)
    assert second.quote != first.quote
    forged = dataclasses.replace(second, event_log=first.event_log)
    assert forged.event_log is first.event_log
    assert reasons(forged) == ("attestation.eventlog.replay_mismatch",)


def test_edited_event_data_is_a_digest_mismatch() -> None:
    """Changing a VIB event's data without its digest is a digest mismatch, and only that."""
    events = GENUINE.event_log
    i = _vib_index(events)
    edited = dataclasses.replace(events[i], data=events[i].data.replace(b"esx", b"esy"))
    got = reasons(dataclasses.replace(GENUINE, event_log=_with_event(events, i, edited)))
    assert got == ("attestation.eventlog.digest_mismatch",)


def test_edited_event_with_matching_digest_fails_replay() -> None:
    """Rewriting a VIB event with a fresh digest no longer replays to the quoted PCRs."""
    events = GENUINE.event_log
    i = _vib_index(events)
    e = events[i]
    forged = Event.create(e.pcr, e.event_type, e.data.replace(b"8.0.2-0", b"8.0.3-0"), "")
    got = reasons(dataclasses.replace(GENUINE, event_log=_with_event(events, i, forged)))
    assert got[0] == "attestation.eventlog.replay_mismatch"


def test_edited_event_digest_is_rejected() -> None:
    """A changed digest with unchanged data is a digest and a replay mismatch."""
    events = GENUINE.event_log
    i = _vib_index(events)
    edited = dataclasses.replace(events[i], digest=bytes(32))
    got = reasons(dataclasses.replace(GENUINE, event_log=_with_event(events, i, edited)))
    assert got == ("attestation.eventlog.digest_mismatch", "attestation.eventlog.replay_mismatch")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_dropped_events_are_detected(data: st.DataObject) -> None:
    """Dropping any event fails replay (quoted PCRs) or leaves the log malformed."""
    events = GENUINE.event_log
    i = data.draw(st.integers(0, len(events) - 1))
    got = reasons(dataclasses.replace(GENUINE, event_log=events[:i] + events[i + 1 :]))
    expected = (
        "attestation.eventlog.replay_mismatch"
        if events[i].pcr in (0, 7, 8, 9, 10, 11)
        else "attestation.eventlog.malformed"
    )
    assert expected in got


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_reordered_events_within_a_pcr_fail_replay(data: st.DataObject) -> None:
    """Swapping two different events of the same PCR no longer replays to the quote."""
    events = GENUINE.event_log
    pairs = [
        (i, j)
        for i in range(len(events))
        for j in range(i + 1, len(events))
        if events[i].pcr == events[j].pcr and events[i].digest != events[j].digest
    ]
    i, j = data.draw(st.sampled_from(pairs))
    swapped = list(events)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    got = reasons(dataclasses.replace(GENUINE, event_log=tuple(swapped)))
    assert "attestation.eventlog.replay_mismatch" in got


def test_unapproved_vib_at_runtime_is_rejected() -> None:
    """A VIB installed after boot that no approved image has is named."""
    tpm = boot()
    measure_runtime_vib(tpm, ROGUE_VIB)
    verdict = verify(collect_evidence("esx-01", tpm, NONCE), POLICY, NONCE)
    assert verdict.reasons == ("attestation.image.vib_not_approved",)
    assert verdict.measured_image_id == IMAGE.image_id and verdict.approved_image_id is None
    assert any("backdoor" in d for d in verdict.details)


def test_unapproved_vib_at_boot_is_rejected() -> None:
    """An image with an extra VIB installed is rejected for that VIB."""
    evidence = collect_evidence("esx-01", boot(image=IMAGE.with_vib(ROGUE_VIB)), NONCE)
    assert reasons(evidence) == ("attestation.image.vib_not_approved",)


def test_vib_version_change_is_rejected() -> None:
    """A VIB replaced by another version is not the approved VIB."""
    base = IMAGE.vib("esx-base")
    assert base is not None
    image = IMAGE.with_vib(dataclasses.replace(base, version="8.0.2-0.99.1"))
    assert reasons(collect_evidence("esx-01", boot(image=image), NONCE)) == (
        "attestation.image.vib_not_approved",
    )


def test_community_vib_under_partner_floor_is_rejected() -> None:
    """A CommunitySupported VIB in an approved image still fails a PartnerSupported floor."""
    image = IMAGE.with_vib(COMMUNITY_VIB)
    evidence = collect_evidence("esx-01", boot(image=image), NONCE)
    assert reasons(evidence, policy(images=[image])) == (
        "attestation.image.acceptance_below_floor",
    )
    assert (
        reasons(evidence, policy(images=[image], floor=AcceptanceLevel.COMMUNITY_SUPPORTED)) == ()
    )


def test_partner_vibs_fail_a_certified_floor() -> None:
    """The default image's PartnerSupported VIBs fail a VMwareCertified floor."""
    assert reasons(GENUINE, policy(floor=CERTIFIED)) == (
        "attestation.image.acceptance_below_floor",
    )


def test_build_change_is_rejected() -> None:
    """Another build of an approved version is a build that is not approved."""
    evidence = collect_evidence("esx-01", boot(image=IMAGE.with_build(22380480)), NONCE)
    assert reasons(evidence) == ("attestation.image.build_not_approved",)


def test_unknown_version_is_not_approved() -> None:
    """A version no approved image has is not approved."""
    image = dataclasses.replace(IMAGE, version="7.0.3")
    assert reasons(collect_evidence("esx-01", boot(image=image), NONCE)) == (
        "attestation.image.not_approved",
    )


def test_changed_boot_modules_are_not_approved() -> None:
    """A different boot module list is not the approved image."""
    image = dataclasses.replace(IMAGE, boot_modules=(*IMAGE.boot_modules, "evil.v00"))
    assert reasons(collect_evidence("esx-01", boot(image=image), NONCE)) == (
        "attestation.image.not_approved",
    )


def test_removed_vib_is_not_approved() -> None:
    """An image missing one of the approved VIBs is not approved."""
    image = dataclasses.replace(IMAGE, vibs=IMAGE.vibs[1:])
    assert reasons(collect_evidence("esx-01", boot(image=image), NONCE)) == (
        "attestation.image.not_approved",
    )


def test_driver_change_is_rejected() -> None:
    """Replacing a boot driver is a driver that is not approved."""
    drivers = tuple("nmlx5_core" if d == "ne1000" else d for d in IMAGE.drivers)
    image = dataclasses.replace(IMAGE, drivers=drivers)
    verdict = verify(collect_evidence("esx-01", boot(image=image), NONCE), POLICY, NONCE)
    assert verdict.reasons == ("attestation.image.driver_not_approved",)
    assert {"driver not approved: nmlx5_core", "driver not approved: ne1000"} <= set(
        verdict.details
    )


def test_runtime_driver_is_rejected() -> None:
    """A driver loaded after boot that the image does not have is rejected."""
    tpm = boot()
    measure_runtime_driver(tpm, "rootkit_drv")
    assert reasons(collect_evidence("esx-01", tpm, NONCE)) == (
        "attestation.image.driver_not_approved",
    )


def test_secure_boot_off_is_rejected_when_required() -> None:
    """Secure Boot off fails a policy that requires it and passes one that does not."""
    off = dataclasses.replace(SERVER_A, secure_boot=False)
    evidence = collect_evidence("esx-01", boot(platform=off), NONCE)
    assert reasons(evidence) == ("attestation.platform.secure_boot_off",)
    assert reasons(evidence, policy(require_secure_boot=False)) == ()


@pytest.mark.parametrize("pol", [POLICY, EK_POLICY], ids=["certificate", "endorsement_key"])
def test_tpm_moved_to_another_server_is_rejected(pol: Policy) -> None:
    """esx-01's TPM in server B fails as esx-01 (hardware) and as esx-02 (EK binding)."""
    tpm = boot(platform=SERVER_B)
    assert reasons(collect_evidence("esx-01", tpm, NONCE), pol) == (
        "attestation.identity.platform_mismatch",
    )
    assert reasons(collect_evidence("esx-02", tpm, NONCE), pol) == (
        "attestation.identity.ak_not_certified",
        "attestation.identity.ek_not_bound",
    )


def test_new_tpm_in_same_server_is_rejected_in_certificate_mode() -> None:
    """A genuine vendor TPM swapped into esx-01 has a trusted EK that is not esx-01's, and
    an AK that was never enrolled."""
    evidence = collect_evidence("esx-01", boot(b"replacement-tpm"), NONCE)
    assert reasons(evidence) == (
        "attestation.identity.ak_not_certified",
        "attestation.identity.ek_not_bound",
    )


def test_new_tpm_in_same_server_is_rejected_in_endorsement_key_mode() -> None:
    """A swapped TPM's EK was never imported, so it is untrusted and not bound."""
    evidence = collect_evidence("esx-01", boot(b"replacement-tpm"), NONCE)
    assert reasons(evidence, EK_POLICY) == (
        "attestation.identity.ak_not_certified",
        "attestation.identity.ek_untrusted",
        "attestation.identity.ek_not_bound",
    )


def test_ek_certificate_from_another_ca_is_untrusted() -> None:
    """In certificate mode an EK certificate from a CA that was not imported is untrusted."""
    tpm = boot(ca=OTHER_VENDOR)
    assert public_der(tpm.ek_public) == IDENTITIES["esx-01"].ek_public_der
    evidence = collect_evidence("esx-01", tpm, NONCE)
    assert reasons(evidence) == ("attestation.identity.ek_untrusted",)
    assert reasons(evidence, EK_POLICY) == ()


def test_missing_or_mismatched_ek_certificate_is_untrusted() -> None:
    """No EK certificate, another TPM's certificate or a non-EK certificate is untrusted."""
    other_cert = TPM_B.ek_certificate.public_bytes(serialization.Encoding.DER)
    client = VENDOR.issue_client_certificate(TPM_A.ek_public, "esx-01")
    client_der = client.public_bytes(serialization.Encoding.DER)
    for cert in (None, other_cert, client_der, b"\x30\x03garbage"):
        evidence = dataclasses.replace(GENUINE, ek_certificate_der=cert)
        assert reasons(evidence) == ("attestation.identity.ek_untrusted",)


def test_unregistered_ek_in_endorsement_key_mode_is_untrusted() -> None:
    """An EK that was never imported is untrusted; its host is unknown (and has no
    enrolled AK)."""
    evidence = collect_evidence("esx-99", boot(b"stranger"), NONCE)
    assert reasons(evidence, EK_POLICY) == (
        "attestation.identity.ak_not_certified",
        "attestation.identity.ek_untrusted",
        "attestation.identity.unknown_host",
    )


def test_unknown_host_is_rejected() -> None:
    """A genuine vendor TPM on a host with no identity record is an unknown host whose AK
    was never enrolled."""
    evidence = collect_evidence("esx-99", boot(b"stranger"), NONCE)
    verdict = verify(evidence, POLICY, NONCE)
    assert verdict.reasons == (
        "attestation.identity.ak_not_certified",
        "attestation.identity.unknown_host",
    )
    assert verdict.host_id == "esx-99"


def test_several_faults_are_all_reported_in_order() -> None:
    """Stale nonce, moved server, runtime rogue VIB and Secure Boot off are all named."""
    tpm = boot(platform=dataclasses.replace(SERVER_B, secure_boot=False))
    measure_runtime_vib(tpm, COMMUNITY_VIB)
    evidence = collect_evidence("esx-01", tpm, b"old nonce")
    assert reasons(evidence) == (
        "attestation.quote.nonce_mismatch",
        "attestation.identity.platform_mismatch",
        "attestation.image.vib_not_approved",
        "attestation.image.acceptance_below_floor",
        "attestation.platform.secure_boot_off",
    )


def test_unparseable_log_skips_image_checks() -> None:
    """A malformed log yields eventlog reasons and no measured image id."""
    tpm = boot()
    tpm.measure(8, EventType.EV_IPL, b"garbage", "")
    verdict = verify(collect_evidence("esx-01", tpm, NONCE), POLICY, NONCE)
    assert verdict.reasons == ("attestation.eventlog.malformed",)
    assert verdict.measured_image_id is None


def test_policy_rejects_bad_configuration() -> None:
    """A misfiled identity, an unparseable CA certificate or EK raise ValueError."""
    with pytest.raises(ValueError):
        dataclasses.replace(POLICY, identities={"esx-03": IDENTITIES["esx-01"]})
    with pytest.raises(ValueError):
        dataclasses.replace(POLICY, trusted_ca_certs_der=(b"not a certificate",))
    bad = HostIdentity("esx-03", "srv", b"not a key")
    with pytest.raises(ValueError):
        dataclasses.replace(POLICY, identities={"esx-03": bad})


def test_policy_is_hashable_and_immutable() -> None:
    """A policy can key a cache and its identities cannot be changed behind its back."""
    source = dict(IDENTITIES)
    pol = policy()
    source.pop("esx-01")
    assert hash(pol) == hash(policy())
    assert "esx-01" in pol.identities
    with pytest.raises(TypeError):
        pol.identities["esx-05"] = IDENTITIES["esx-01"]  # type: ignore[index]


def test_a_host_without_an_enrolled_ak_is_refused_whatever_the_binding() -> None:
    """A host with no identity record is refused as ak_not_certified with
    ``bind_tpm_to_server`` off as well as on (before: accepted when off, so a quote needed
    only an AK-shaped key next to a host's exported EK, EK certificate and CA). The
    evidence is otherwise genuine: a vendor TPM on the approved image."""
    evidence = collect_evidence("esx-99", boot(b"tpm-c"), NONCE)
    assert reasons(evidence, policy(bind_tpm_to_server=False)) == (
        "attestation.identity.ak_not_certified",
    )
    assert reasons(evidence, policy(bind_tpm_to_server=True)) == (
        "attestation.identity.ak_not_certified",
        "attestation.identity.unknown_host",
    )


def test_the_challenge_secret_is_not_derived_from_the_host_id() -> None:
    """Enrolment needs the verifier's secret: a challenge shorter than 16 bytes is
    refused, and the record of a host does not depend on how its id is spelt."""
    with pytest.raises(ValueError, match="at least 16 secret bytes"):
        HostIdentity.for_tpm("esx-01", SERVER_A.hardware_id, TPM_A, b"esx-01")
    with pytest.raises(TypeError):
        HostIdentity.for_tpm("esx-01", SERVER_A.hardware_id, TPM_A)  # type: ignore[call-arg]


def test_the_identity_memo_judges_the_objects_each_evidence_carries() -> None:
    """Once genuine evidence of a host has passed, whatever the same host sends next is
    judged on its own keys and certificate: a memo warmed by the genuine evidence gives
    the verdict a cold verifier gives, for another AK, EK, EK area, certificate or policy,
    and for equal bytes in new objects."""
    other = collect_evidence("esx-02", boot(b"tpm-b", platform=SERVER_B), NONCE)
    variants = [
        GENUINE,
        dataclasses.replace(GENUINE, ak_public_der=bytes(bytearray(GENUINE.ak_public_der))),
        dataclasses.replace(GENUINE, ak_public_der=other.ak_public_der),
        dataclasses.replace(GENUINE, ak_public_area=other.ak_public_area),
        dataclasses.replace(GENUINE, ak_public_area=None),
        dataclasses.replace(GENUINE, ek_public_der=other.ek_public_der),
        dataclasses.replace(GENUINE, ek_public_area=other.ek_public_area),
        dataclasses.replace(GENUINE, ek_certificate_der=other.ek_certificate_der),
        dataclasses.replace(GENUINE, ek_certificate_der=None),
    ]
    unbound = policy(bind_tpm_to_server=False)
    for pol in (POLICY, EK_POLICY, unbound):
        for evidence in variants:
            verifier._FRONTS.clear()
            cold = verify(evidence, pol, NONCE)
            assert verify(GENUINE, pol, NONCE).ok
            assert verify(evidence, pol, NONCE) == cold
    swapped = variants[2]
    assert reasons(swapped) == (
        "attestation.quote.bad_signature",
        "attestation.identity.ak_not_certified",
    )
    stranger_policy = dataclasses.replace(POLICY, identities={"esx-02": IDENTITIES["esx-02"]})
    assert reasons(GENUINE) == ()
    expected = ("attestation.identity.ak_not_certified", "attestation.identity.unknown_host")
    assert reasons(GENUINE, stranger_policy) == expected
    # a policy with another's serial (as one unpickled from another process could have)
    object.__setattr__(stranger_policy, "serial", POLICY.serial)
    assert reasons(GENUINE) == ()
    assert reasons(GENUINE, stranger_policy) == expected
