"""Tests for sim.domain.tpm and sim.domain.tpm_wire: PCR semantics, wire formats, quotes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.credential import Credential, enroll_ak, make_credential
from sim.domain.pki import CertificateAuthority, chains_to, public_der, tpm_attributes
from sim.domain.tpm import (
    PCR_COUNT,
    RESET_VALUES,
    Event,
    EventType,
    PcrBank,
    Quote,
    VirtualTPM,
    composite_digest,
    replay,
    verify_quote,
)
from sim.domain.tpm_keys import (
    EK_OBJECT_ATTRIBUTES,
    TPM_RH_ENDORSEMENT,
    ak_qualified_name,
    parse_public_area,
)
from sim.domain.tpm_wire import (
    AK_OBJECT_ATTRIBUTES,
    TPM_ALG_ECDSA,
    TPM_ALG_SHA256,
    TPM_ECC_NIST_P256,
    AttestInfo,
    ecc_public_area,
    marshal_attest,
    marshal_signature,
    normalize_selection,
    object_name,
    parse_attest,
    parse_ecc_public_area,
    parse_pcr_values_file,
    parse_signature,
    pcr_values_file,
    pcr_values_raw,
    selection_bitmap,
)

digests = st.binary(min_size=32, max_size=32)
indices = st.integers(0, PCR_COUNT - 1)
selections = st.lists(indices, min_size=1, max_size=30)
event_specs = st.lists(
    st.tuples(indices, st.sampled_from(list(EventType)), st.binary(max_size=40)), max_size=40
)


@cache
def _ca() -> CertificateAuthority:
    return CertificateAuthority.create(b"manufacturer-seed", "Sim TPM Root CA")


@cache
def _tpm_keys(seed: bytes) -> VirtualTPM:
    """A TPM used read-only for its keys (tests that change state build their own)."""
    return VirtualTPM(seed, _ca(), "TPM-" + seed.hex()[:16])


def _booted(seed: bytes = b"tpm-seed") -> VirtualTPM:
    tpm = VirtualTPM(seed, _ca(), "TPM-0001")
    tpm.measure(0, EventType.EV_S_CRTM_VERSION, b"crtm 1.0", "CRTM version")
    tpm.measure(0, EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB, b"firmware", "UEFI firmware")
    tpm.measure(7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, b"SecureBoot=1", "Secure Boot")
    for pcr in range(8):
        tpm.measure(pcr, EventType.EV_SEPARATOR, b"\0\0\0\0", "separator")
    tpm.measure(4, EventType.EV_IPL, b"esxi boot", "bootloader")
    tpm.set_clock(123_456)
    return tpm


def test_reset_values_follow_the_pc_client_profile() -> None:
    """PCRs 0-16 and 23 start all-zero, 17-22 all-0xFF."""
    assert len(RESET_VALUES) == PCR_COUNT == 24
    for i, value in enumerate(RESET_VALUES):
        assert value == (b"\xff" * 32 if 17 <= i <= 22 else bytes(32))
    assert PcrBank().values == RESET_VALUES


@given(indices, st.lists(digests, min_size=1, max_size=5))
def test_extend_is_hash_of_old_value_and_digest(index: int, ds: list[bytes]) -> None:
    """extend sets PCR := SHA-256(PCR || digest) and touches no other PCR."""
    bank = PcrBank()
    expected = RESET_VALUES[index]
    for d in ds:
        expected = hashlib.sha256(expected + d).digest()
        assert bank.extend(index, d) == expected
    values = bank.values
    assert values[index] == expected
    assert all(values[i] == RESET_VALUES[i] for i in range(PCR_COUNT) if i != index)


@given(st.integers(-50, 80).filter(lambda i: not 0 <= i < PCR_COUNT))
def test_extend_rejects_bad_indices(index: int) -> None:
    """PCR indices outside 0..23 raise ValueError."""
    with pytest.raises(ValueError):
        PcrBank().extend(index, bytes(32))


@given(st.binary(max_size=64).filter(lambda b: len(b) != 32))
def test_extend_rejects_digests_of_the_wrong_size(digest: bytes) -> None:
    """Only 32-byte SHA-256 digests can be extended."""
    with pytest.raises(ValueError):
        PcrBank().extend(0, digest)


@given(event_specs)
def test_replay_of_the_log_equals_the_live_bank(specs: list[tuple[int, EventType, bytes]]) -> None:
    """Replaying a TPM's event log reproduces its PCRs; EV_NO_ACTION never extends."""
    tpm = VirtualTPM(b"replay", _ca(), "R")
    for pcr, etype, data in specs:
        event = tpm.measure(pcr, etype, data, etype.name)
        assert event.digest_matches_data()
    assert tpm.event_log == tuple(Event.create(p, t, d, t.name) for p, t, d in specs)
    assert replay(tpm.event_log) == tpm.pcrs
    extending = [s for s in specs if s[1] != EventType.EV_NO_ACTION]
    assert replay(tpm.event_log) == replay(Event.create(p, t, d, "") for p, t, d in extending)


@given(event_specs, event_specs)
def test_measuring_made_events_equals_measuring_each(
    before: list[tuple[int, EventType, bytes]], specs: list[tuple[int, EventType, bytes]]
) -> None:
    """measure_events of the events measure would make leaves the same log, PCRs and
    quoted composite as measuring them one by one (after any earlier measurements)."""
    one, batch = VirtualTPM(b"batch", _ca(), "B"), VirtualTPM(b"batch", _ca(), "B")
    for tpm in (one, batch):
        for pcr, etype, data in before:
            tpm.measure(pcr, etype, data, "before")
        assert tpm._bank.composite_digest(range(24))  # a composite kept until a change
    for pcr, etype, data in specs:
        one.measure(pcr, etype, data, etype.name)
    batch.measure_events(Event.create(p, t, d, t.name) for p, t, d in specs)
    assert batch.event_log == one.event_log and batch.pcrs == one.pcrs
    assert batch._bank.composite_digest(range(24)) == composite_digest(one.pcrs, range(24))


def test_no_action_events_are_logged_with_a_zero_digest_and_not_extended() -> None:
    """EV_NO_ACTION is informational: zero digest, PCRs unchanged."""
    tpm = VirtualTPM(b"noaction", _ca(), "N")
    event = tpm.measure(0, EventType.EV_NO_ACTION, b"StartupLocality\0\x03", "locality")
    assert event.digest == bytes(32) and not event.extends
    assert tpm.pcrs == RESET_VALUES and tpm.event_log == (event,)


@given(selections)
def test_composite_digest_is_sha256_of_selected_values_in_index_order(sel: list[int]) -> None:
    """The quote digest hashes the selected PCRs sorted and de-duplicated."""
    bank = PcrBank()
    for i in range(PCR_COUNT):
        bank.extend(i, hashlib.sha256(bytes([i])).digest())
    order = sorted(set(sel))
    expected = hashlib.sha256(b"".join(bank.values[i] for i in order)).digest()
    assert bank.composite_digest(sel) == expected
    assert bank.composite_digest(reversed(sel)) == expected
    assert composite_digest(bank.values, order) == expected


@pytest.mark.parametrize("bad", [[], [24], [-1], [0, 99]])
def test_selections_must_be_non_empty_and_in_range(bad: list[int]) -> None:
    """Empty selections and indices outside 0..23 raise ValueError, as lists and as tuples
    (which are remembered once normalised), every time they are given."""
    for _ in range(2):
        for form in (bad, tuple(bad)):
            with pytest.raises(ValueError):
                normalize_selection(form)
            with pytest.raises(ValueError):
                PcrBank().composite_digest(form)


@given(selections)
def test_normalized_tuples_equal_normalized_lists(sel: list[int]) -> None:
    """A tuple selection, normalised once or again from memory, equals the list's form."""
    expected = tuple(sorted(set(sel)))
    assert normalize_selection(sel) == expected
    assert normalize_selection(tuple(sel)) == expected
    assert normalize_selection(tuple(sel)) == expected


steps = st.lists(
    st.one_of(  # few PCRs and selections, so queries repeat around changes
        st.tuples(st.just("extend"), st.sampled_from([0, 7, 10, 23]), digests),
        st.tuples(st.just("quote"), st.sampled_from([(0,), (7, 0), (10,), tuple(range(24))])),
        st.just(("reset",)),
    ),
    max_size=40,
)


@given(steps)
def test_remembered_composites_follow_every_change(ops: list[tuple[object, ...]]) -> None:
    """However extends, resets and composite queries interleave, the bank's composite is
    the digest of its current values: a remembered composite never outlives a change."""
    bank = PcrBank()
    for op in ops:
        if op[0] == "extend":
            bank.extend(op[1], op[2])  # type: ignore[arg-type]
        elif op[0] == "reset":
            bank.reset()
        else:
            sel = op[1]
            assert bank.composite_digest(sel) == composite_digest(bank.values, sel)  # type: ignore[arg-type]


@given(event_specs)
def test_event_json_round_trip(specs: list[tuple[int, EventType, bytes]]) -> None:
    """to_json is JSON-serialisable and from_json restores the identical event."""
    for pcr, etype, data in specs:
        event = Event.create(pcr, etype, data, f"desc {pcr}")
        obj = json.loads(json.dumps(event.to_json()))
        assert obj["pcr"] == pcr and obj["digest"] == event.digest.hex()
        assert Event.from_json(obj) == event


@pytest.mark.parametrize(
    "change",
    [{"pcr": "0"}, {"pcr": True}, {"pcr": 24}, {"digest": "00"}, {"data": 5}, {"data": "zz"}],
)
def test_event_from_json_rejects_bad_fields(change: dict[str, object]) -> None:
    """Mistyped, out-of-range or malformed fields raise ValueError."""
    obj: dict[str, object] = {**Event.create(1, 1, b"x", "d").to_json(), **change}
    with pytest.raises(ValueError):
        Event.from_json(obj)
    with pytest.raises(ValueError):
        Event.from_json({k: v for k, v in obj.items() if k != "description"})


def test_tampered_event_data_no_longer_matches_its_digest() -> None:
    """An event whose data was swapped after measuring is detectable."""
    event = Event.create(5, EventType.EV_EFI_GPT_EVENT, b"gpt", "gpt")
    forged = Event(event.pcr, event.event_type, event.digest, b"other gpt", event.description)
    assert event.digest_matches_data() and not forged.digest_matches_data()


def test_ak_public_area_matches_the_tpm2_createak_layout() -> None:
    """The AK's TPMT_PUBLIC is an ECC P-256 restricted ECDSA-SHA256 signing key."""
    tpm = _tpm_keys(b"layout")
    area = tpm.ak_public_area
    assert len(area) == 0x58  # the TPM2B_PUBLIC size tpm2_createak reports for ECC AKs
    parsed = parse_ecc_public_area(area)
    assert parsed.name_alg == TPM_ALG_SHA256
    assert parsed.object_attributes == AK_OBJECT_ATTRIBUTES == 0x00050072
    assert (parsed.scheme, parsed.scheme_hash, parsed.curve) == (
        TPM_ALG_ECDSA,
        TPM_ALG_SHA256,
        TPM_ECC_NIST_P256,
    )
    assert parsed.auth_policy == b""
    assert parsed.public_key().public_numbers() == tpm.ak_public.public_numbers()
    assert tpm.ak_name == b"\x00\x0b" + hashlib.sha256(area).digest() == object_name(area)
    assert ecc_public_area(parsed.public_key()) == area
    for cut in range(len(area)):
        with pytest.raises(ValueError):
            parse_ecc_public_area(area[:cut])
    with pytest.raises(ValueError):
        parse_ecc_public_area(area + b"\0")


attest_infos = st.builds(
    AttestInfo,
    qualified_signer=st.binary(max_size=34),
    extra_data=st.binary(max_size=64),
    clock=st.integers(0, 2**64 - 1),
    reset_count=st.integers(0, 2**32 - 1),
    restart_count=st.integers(0, 2**32 - 1),
    safe=st.booleans(),
    firmware_version=st.integers(0, 2**64 - 1),
    pcr_selection=st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.lists(indices, max_size=24, unique=True)),
        max_size=3,
    ).map(lambda banks: tuple((alg, tuple(sorted(pcrs))) for alg, pcrs in banks)),
    pcr_digest=st.binary(max_size=64),
)


@given(attest_infos)
def test_attest_marshal_parse_round_trip(info: AttestInfo) -> None:
    """parse_attest(marshal_attest(info)) == info, and the bytes re-marshal identically."""
    data = marshal_attest(info)
    assert parse_attest(data) == info
    assert marshal_attest(parse_attest(data)) == data


def test_attest_layout_is_tpms_attest_big_endian() -> None:
    """The quote starts with TPM_GENERATED, TPM_ST_ATTEST_QUOTE and the signer's Name."""
    tpm = _booted()
    attest = tpm.quote(b"\xab\xcd", [0, 1, 23]).attest
    assert attest[:4] == bytes.fromhex("ff544347") and attest[4:6] == bytes.fromhex("8018")
    assert attest[6:8] == (34).to_bytes(2, "big") and attest[8:42] == tpm.ak_qualified_name
    assert attest[42:46] == bytes.fromhex("0002abcd")
    assert attest[46:54] == (123_456).to_bytes(8, "big")
    assert selection_bitmap([0, 1, 23]) == bytes([0x03, 0x00, 0x80])
    assert bytes.fromhex("00000001000b03030080") in attest


def test_parse_attest_rejects_every_truncation_and_trailing_bytes() -> None:
    """Each strict prefix, an extra byte, a foreign magic or type raises ValueError."""
    attest = _booted().quote(b"nonce", range(8)).attest
    for cut in range(len(attest)):
        with pytest.raises(ValueError):
            parse_attest(attest[:cut])
    bad = [attest + b"\0", b"\0" + attest[1:], attest[:4] + b"\x80\x17" + attest[6:]]
    safe_at = 42 + 2 + 5 + 16  # after signer, nonce size + nonce, clock, counters
    bad.append(attest[:safe_at] + b"\x02" + attest[safe_at + 1 :])
    for b in bad:
        with pytest.raises(ValueError):
            parse_attest(b)


@given(st.integers(1, 2**256 - 1), st.integers(1, 2**256 - 1))
def test_signature_marshal_parse_round_trip(r: int, s: int) -> None:
    """TPMT_SIGNATURE round-trips r and s, each padded to 32 bytes."""
    data = marshal_signature(r, s)
    assert len(data) == 2 + 2 + 2 + 32 + 2 + 32
    assert data[:4] == bytes.fromhex("0018000b")
    assert parse_signature(data) == (r, s)


def test_parse_signature_rejects_malformed_input() -> None:
    """Truncations, trailing bytes, other algorithms and empty r raise ValueError."""
    sig = marshal_signature(5, 7)
    cases = [sig[:n] for n in range(len(sig))]
    cases += [sig + b"\0", b"\x00\x14" + sig[2:], sig[:2] + b"\x00\x04" + sig[4:]]
    cases.append(sig[:4] + b"\x00\x00" + sig[38:])
    for case in cases:
        with pytest.raises(ValueError):
            parse_signature(case)
    with pytest.raises(ValueError):
        marshal_signature(0, 1)


def test_quote_reports_nonce_pcrs_clock_and_counts() -> None:
    """The parsed quote carries the nonce, selection, PCR digest, clock and boot counts."""
    tpm = _booted()
    quote = tpm.quote(b"n" * 64, [23, 7, 0, 7])
    info = parse_attest(quote.attest)
    assert info.extra_data == b"n" * 64 and info.qualified_signer == tpm.ak_qualified_name
    assert info.pcr_selection == ((TPM_ALG_SHA256, (0, 7, 23)),)
    assert info.sha256_pcrs() == (0, 7, 23)
    assert info.pcr_digest == composite_digest(replay(tpm.event_log), [0, 7, 23])
    assert (info.clock, info.reset_count, info.restart_count, info.safe) == (123_456, 0, 0, True)
    assert info.firmware_version == tpm.firmware_version
    assert verify_quote(tpm.ak_public, quote)


def test_quote_rejects_long_nonces_and_empty_selections() -> None:
    """Nonces over 64 bytes and empty selections are refused."""
    tpm = _booted()
    with pytest.raises(ValueError):
        tpm.quote(b"n" * 65, [0])
    with pytest.raises(ValueError):
        tpm.quote(b"n", [])


def test_every_single_byte_change_breaks_the_quote() -> None:
    """Flipping any bit pattern in any byte of attest or signature fails verification."""
    tpm = _booted()
    quote = tpm.quote(b"fresh nonce", [0, 1, 2, 3, 4, 5, 6, 7, 23])
    assert verify_quote(tpm.ak_public, quote)
    for mask in (0x01, 0x80, 0xFF):
        for i in range(len(quote.attest)):
            attest = bytearray(quote.attest)
            attest[i] ^= mask
            assert not verify_quote(tpm.ak_public, Quote(bytes(attest), quote.signature))
        for i in range(len(quote.signature)):
            sig = bytearray(quote.signature)
            sig[i] ^= mask
            assert not verify_quote(tpm.ak_public, Quote(quote.attest, bytes(sig)))


def test_a_quote_is_signed_when_its_signature_is_first_read() -> None:
    """A virtual TPM's quote is signed on the first read of its signature, once: the
    signature is the one signing at the quote gives (RFC 6979), by the key the TPM held at
    the quote; the quote is immutable, equal to and hashing as the one signed at once, and
    a copy (pickled) carries the signature, not the key."""
    import pickle

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from sim.domain import opcount

    tpm = _booted()
    before = opcount.snapshot()["ecdsa_sign"]
    quote = tpm.quote(b"lazy nonce", [0, 7])
    assert opcount.snapshot()["ecdsa_sign"] == before  # nothing signed yet
    der = tpm._ak.sign(quote.attest, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    eager = Quote(quote.attest, marshal_signature(*decode_dss_signature(der)))
    assert quote.signature == eager.signature
    assert opcount.snapshot()["ecdsa_sign"] == before + 1
    assert quote.signature is quote.signature  # kept: read again, signed no more
    assert opcount.snapshot()["ecdsa_sign"] == before + 1
    assert quote == eager and hash(quote) == hash(eager) and repr(quote) == repr(eager)
    assert verify_quote(tpm.ak_public, quote)
    copy = pickle.loads(pickle.dumps(tpm.quote(b"another", [0])))
    assert copy._key is None and verify_quote(tpm.ak_public, copy)
    with pytest.raises(AttributeError, match="immutable"):
        quote.attest = b"x"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        quote._signature = b"x"  # type: ignore[misc]
    never = tpm.quote(b"never read", [0])
    assert never._signature is None and opcount.snapshot()["ecdsa_sign"] == before + 2


def test_quote_from_another_tpm_does_not_verify() -> None:
    """A quote only verifies under the AK of the TPM that made it."""
    a, b = _booted(b"host-a"), _booted(b"host-b")
    quote = a.quote(b"n", [0])
    assert verify_quote(a.ak_public, quote) and not verify_quote(b.ak_public, quote)
    assert not verify_quote(a.ak_public, Quote(quote.attest, b"garbage"))


def test_same_seed_gives_byte_identical_identity_and_quotes() -> None:
    """EK, AK, EK certificate, Qualified Name and quotes repeat exactly for one seed."""
    a, b = _booted(b"same"), _booted(b"same")
    assert public_der(a.ek_public) == public_der(b.ek_public)
    assert public_der(a.ak_public) == public_der(b.ak_public)
    der = serialization.Encoding.DER
    assert a.ek_certificate.public_bytes(der) == b.ek_certificate.public_bytes(der)
    assert a.ak_qualified_name == b.ak_qualified_name
    assert a.quote(b"n", [0, 7]) == b.quote(b"n", [0, 7])
    c = _booted(b"different")
    assert public_der(a.ek_public) != public_der(c.ek_public)
    assert public_der(a.ak_public) != public_der(c.ak_public)
    assert public_der(a.ek_public) != public_der(a.ak_public)
    assert a.quote(b"n", [0, 7]) != c.quote(b"n", [0, 7])


@settings(max_examples=20)
@given(st.binary(min_size=1, max_size=32), st.binary(min_size=1, max_size=32))
def test_credential_activation_ties_the_ak_to_its_own_ek(seed_a: bytes, seed_b: bytes) -> None:
    """A credential made for a TPM's EK and AK Name activates there and returns the
    secret; made for another TPM's EK or AK it fails the integrity check."""
    a, b = _tpm_keys(seed_a), _tpm_keys(seed_b)
    cred = make_credential(a.ek_public, a.ak_name, b"s" * 32, b"challenge")
    assert a.activate_credential(cred) == b"s" * 32
    assert enroll_ak(a.ek_public_area, a.ak_public_area, a.activate_credential, b"c") == a.ak_name
    if seed_a != seed_b:
        with pytest.raises(ValueError):
            b.activate_credential(cred)
        with pytest.raises(ValueError):
            a.activate_credential(make_credential(a.ek_public, b.ak_name, b"s", b"c"))
        assert enroll_ak(a.ek_public_area, b.ak_public_area, a.activate_credential, b"c") is None
        assert enroll_ak(b.ek_public_area, a.ak_public_area, a.activate_credential, b"c") is None


def test_tampered_credentials_do_not_activate() -> None:
    """A flipped byte in the encrypted credential, its HMAC or the secret is refused."""
    tpm = _tpm_keys(b"tamper")
    cred = make_credential(tpm.ek_public, tpm.ak_name, b"secret", b"seed")
    assert Credential.from_tpm2_tools_blob(cred.tpm2_tools_blob()) == cred
    for field in ("credential_blob", "secret"):
        raw = bytearray(getattr(cred, field))
        for i in (3, len(raw) - 1):
            raw[i] ^= 1
            with pytest.raises(ValueError):
                tpm.activate_credential(dataclasses.replace(cred, **{field: bytes(raw)}))
            raw[i] ^= 1


def test_ek_is_a_template_l2_decryption_key_and_quotes_name_the_qualified_ak() -> None:
    """The EK's public area is the EK Credential Profile's ECC template (restricted
    decryption, AES-128-CFB, PolicySecret(endorsement)); a quote's qualifiedSigner is the
    AK's Qualified Name H(H(endorsement handle || Name(EK)) || Name(AK))."""
    tpm = _booted()
    ek = parse_public_area(tpm.ek_public_area)
    assert ek.object_attributes == EK_OBJECT_ATTRIBUTES == 0x000300B2
    assert ek.is_endorsement_key and ek.symmetric == (0x0006, 128, 0x0043)
    assert public_der(ek.public_key) == public_der(tpm.ek_public)  # type: ignore[arg-type]
    ek_qn = (
        b"\x00\x0b"
        + hashlib.sha256(
            TPM_RH_ENDORSEMENT.to_bytes(4, "big") + object_name(tpm.ek_public_area)
        ).digest()
    )
    expected = b"\x00\x0b" + hashlib.sha256(ek_qn + tpm.ak_name).digest()
    assert tpm.ak_qualified_name == expected
    assert ak_qualified_name(tpm.ek_public_area, tpm.ak_public_area) == expected
    assert parse_attest(tpm.quote(b"n", [0]).attest).qualified_signer == expected


def test_ek_certificate_is_issued_by_the_manufacturer() -> None:
    """The EK certificate certifies the TPM's EK and chains to the manufacturer CA."""
    tpm = _booted()
    cert_key = tpm.ek_certificate.public_key()
    assert public_der(cert_key) == public_der(tpm.ek_public)  # type: ignore[arg-type]
    assert chains_to(tpm.ek_certificate, [_ca().certificate])
    assert tpm.serial in tpm.ek_certificate.subject.rfc4514_string()
    assert tpm_attributes(tpm.ek_certificate) == {
        "manufacturer": "id:56545349",
        "model": "vtasim vTPM",
        "version": "id:00010046",
    }


def test_clock_never_goes_backwards() -> None:
    """set_clock ignores earlier times and rejects negative ones."""
    tpm = VirtualTPM(b"clock", _ca(), "C")
    tpm.set_clock(500)
    tpm.set_clock(100)
    assert tpm.clock == 500
    with pytest.raises(ValueError):
        tpm.set_clock(-1)
    assert parse_attest(tpm.quote(b"", [0]).attest).clock == 500


def test_restart_resets_pcrs_and_log_and_counts_the_reboot() -> None:
    """A reboot resets PCRs, clears the log and shows up as resetCount in quotes."""
    tpm = _booted()
    before = tpm.quote(b"n", [0])
    tpm.restart()
    assert tpm.pcrs == RESET_VALUES and tpm.event_log == ()
    assert tpm.reset_count == 1 and tpm.restart_count == 0
    after = parse_attest(tpm.quote(b"n", [0]).attest)
    assert after.reset_count == 1 and after.pcr_digest != parse_attest(before.attest).pcr_digest
    assert after.clock == 123_456


def test_unlogged_extend_makes_replay_disagree() -> None:
    """An extend that bypasses the log leaves the PCRs unexplained by the log."""
    tpm = _booted()
    assert replay(tpm.event_log) == tpm.pcrs
    tpm.extend_unlogged(4, hashlib.sha256(b"rootkit").digest())
    assert replay(tpm.event_log) != tpm.pcrs


@given(selections)
def test_pcr_values_file_round_trips_and_has_the_tss_layout(sel: list[int]) -> None:
    """The serialized PCR file parses back to the selected values; sizes match tpm2-tools."""
    values = tuple(hashlib.sha256(bytes([i])).digest() for i in range(PCR_COUNT))
    order = sorted(set(sel))
    data = pcr_values_file(sel, values)
    lists = (len(order) + 7) // 8
    assert len(data) == 132 + 4 + 532 * lists
    assert parse_pcr_values_file(data) == {TPM_ALG_SHA256: {i: values[i] for i in order}}
    assert parse_pcr_values_file(bytearray(data)) == parse_pcr_values_file(data)
    assert pcr_values_raw(sel, values) == b"".join(values[i] for i in order)


def test_parse_pcr_values_file_rejects_malformed_files() -> None:
    """Truncated, padded or inconsistent files raise ValueError."""
    data = pcr_values_file([0, 1, 2], RESET_VALUES)
    wrong_count = [data[:136] + bytes([n]) + data[137:] for n in (2, 4, 9)]
    for bad in (data[:-1], data + b"\0", data[:100], *wrong_count):
        with pytest.raises(ValueError):
            parse_pcr_values_file(bad)


def test_marshalling_rejects_values_that_do_not_fit() -> None:
    """Fields too wide for their TPM type and non-P-256 AKs raise ValueError."""
    info = parse_attest(_booted().quote(b"n", [0]).attest)
    too_wide = [
        dataclasses.replace(info, clock=2**64),
        dataclasses.replace(info, reset_count=-1),
        dataclasses.replace(info, firmware_version=2**64),
        dataclasses.replace(info, extra_data=bytes(0x10000)),
    ]
    for bad in too_wide:
        with pytest.raises(ValueError):
            marshal_attest(bad)
    p384 = ec.derive_private_key(7, ec.SECP384R1()).public_key()
    with pytest.raises(ValueError):
        ecc_public_area(p384)


def test_equal_measurements_share_one_event_and_survive_pickling() -> None:
    """Event.create gives one shared object per measurement (hosts booting one image log the
    same events); a pickled event is equal, hashes equally and carries no stale hash."""
    import pickle

    a = Event.create(10, EventType.EV_EVENT_TAG, b"payload", "VIB x")
    b = Event.create(10, EventType.EV_EVENT_TAG, b"payload", "VIB x")
    assert a is b
    assert a.digest_matches_data()
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a and hash(copy) == hash(a)
    assert "_digest_ok" not in a.__getstate__() and a.__dict__["_digest_ok"] is True
    forged = Event(a.pcr, a.event_type, a.digest, b"other payload", a.description)
    assert not forged.digest_matches_data()
    assert not forged.digest_matches_data()  # the kept answer
    assert copy.digest_matches_data()
    with pytest.raises(ValueError):
        Event.create(True, EventType.EV_EVENT_TAG, b"payload", "bool is not a PCR index")  # type: ignore[arg-type]
