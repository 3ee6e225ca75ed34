"""Tests for the KMIP 1.1 key store semantics."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.kmip import (
    ALLOWED_TRANSITIONS,
    KeyStore,
    ObjectState,
    Operation,
    ResultReason,
    ResultStatus,
    RevocationReason,
    client_identity,
)

S = ObjectState


def _cert(n: int) -> bytes:
    key = ec.derive_private_key(0x2000 + n, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kmxd-{n}")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(n + 1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    return cert.public_bytes(serialization.Encoding.DER)


ALICE, BOB, MALLORY, STRANGER = (_cert(i) for i in range(4))


def _counter_source(seed: bytes = b"seed") -> tuple[list[bytes], Callable[[int], bytes]]:
    """A deterministic random source that also records what it handed out."""
    given_out: list[bytes] = []

    def source(n: int) -> bytes:
        block = hashlib.sha256(seed + len(given_out).to_bytes(4, "big")).digest()[:n]
        given_out.append(block)
        return block

    return given_out, source


def _store(seed: bytes = b"seed") -> tuple[KeyStore, list[bytes]]:
    handed, source = _counter_source(seed)
    store = KeyStore(source)
    store.authorize_client(ALICE, "vta-1")
    store.authorize_client(BOB, "vta-1")
    store.authorize_client(MALLORY, "vta-2")
    return store, handed


def test_create_returns_sequential_ids_and_32_byte_key_from_the_source() -> None:
    """Created keys are AES-256 from the injected source, with sequential unique ids."""
    store, handed = _store()
    first = store.create(ALICE, "vm-kek", now=1.0, activate=True)
    second = store.create(ALICE, "vm-kek-2", now=2.0)
    assert first.ok and first.unique_identifier == "1" and second.unique_identifier == "2"
    got = store.get(ALICE, "1", now=3.0)
    assert got.ok and got.key_material == handed[0] and len(handed[0]) == 32
    attrs = store.attributes("1")
    assert attrs is not None
    assert (attrs.cryptographic_algorithm, attrs.cryptographic_length) == ("AES", 256)
    assert attrs.cryptographic_usage_mask == 0x04 | 0x08
    assert (attrs.initial_date, attrs.activation_date) == (1.0, 1.0)
    pending = store.attributes("2")
    assert pending is not None and pending.state is S.PRE_ACTIVE
    assert pending.activation_date is None


def test_same_random_source_gives_same_keys_and_ids() -> None:
    """Two stores fed the same random stream produce identical ids and key material."""
    results = []
    for _ in range(2):
        store, _ = _store(b"one seed")
        uids = [
            store.create(ALICE, f"k{i}", now=0.0, activate=True).unique_identifier for i in range(3)
        ]
        results.append([(u, store.get(ALICE, u or "", now=1.0).key_material) for u in uids])
    assert results[0] == results[1]
    other, _ = _store(b"another seed")
    other.create(ALICE, "k0", now=0.0, activate=True)
    assert other.get(ALICE, "1", now=1.0).key_material != results[0][0][1]


def test_unknown_and_deauthorized_clients_are_refused_everywhere() -> None:
    """Every operation from an untrusted certificate fails authentication and is counted."""
    store, _ = _store()
    store.create(ALICE, "k", now=0.0, activate=True)
    answers = [
        store.create(STRANGER, "k", now=1.0),
        store.activate(STRANGER, "1", now=1.0),
        store.get(STRANGER, "1", now=1.0),
        store.locate(STRANGER, "k"),
        store.revoke(STRANGER, "1", RevocationReason.KEY_COMPROMISE, now=1.0),
        store.destroy(STRANGER, "1", now=1.0),
    ]
    for answer in answers:
        assert answer.status is ResultStatus.OPERATION_FAILED
        assert answer.reason is ResultReason.AUTHENTICATION_NOT_SUCCESSFUL
        assert answer.key_material is None and answer.identifiers == ()
    assert store.state("1") is S.ACTIVE
    assert store.deauthorize_client(BOB) and not store.deauthorize_client(BOB)
    assert store.get(BOB, "1", now=2.0).reason is ResultReason.AUTHENTICATION_NOT_SUCCESSFUL
    assert dict(store.failures) == {op: 1 for op in Operation} | {Operation.GET: 2}
    assert store.counts[Operation.CREATE] == 2 and store.counts[Operation.GET] == 2


def test_client_identity_is_the_certificate_fingerprint() -> None:
    """Authorising returns the SHA-256 fingerprint of the DER certificate."""
    store = KeyStore(lambda n: bytes(n))
    identity = store.authorize_client(ALICE, "vta-1")
    assert identity == client_identity(ALICE)
    assert identity == x509.load_der_x509_certificate(ALICE).fingerprint(hashes.SHA256()).hex()
    with pytest.raises(ValueError):
        store.authorize_client(b"not a certificate", "vta-1")


def test_other_group_is_denied_and_cannot_locate() -> None:
    """Clients of another group get Permission Denied and never see the object."""
    store, _ = _store()
    store.create(ALICE, "shared", now=0.0, activate=True)
    assert store.get(BOB, "1", now=1.0).ok
    for answer in (
        store.get(MALLORY, "1", now=1.0),
        store.activate(MALLORY, "1", now=1.0),
        store.revoke(MALLORY, "1", RevocationReason.KEY_COMPROMISE, now=1.0),
        store.destroy(MALLORY, "1", now=1.0),
    ):
        assert answer.reason is ResultReason.PERMISSION_DENIED and answer.key_material is None
    assert store.locate(MALLORY, "shared").identifiers == ()
    assert store.state("1") is S.ACTIVE
    assert store.get(ALICE, "404", now=1.0).reason is ResultReason.ITEM_NOT_FOUND


def test_locate_by_name_and_state() -> None:
    """Locate finds all visible objects with a name, in creation order, optionally by state."""
    store, _ = _store()
    store.create(ALICE, "kek", now=0.0, activate=True)
    store.create(ALICE, "other", now=0.0)
    store.create(BOB, "kek", now=0.0)
    store.create(MALLORY, "kek", now=0.0)
    assert store.locate(ALICE, "kek").identifiers == ("1", "3")
    assert store.locate(ALICE, "kek", state=S.PRE_ACTIVE).identifiers == ("3",)
    assert store.locate(MALLORY, "kek").identifiers == ("4",)
    missing = store.locate(ALICE, "nope")
    assert missing.ok and missing.identifiers == ()


def test_deactivation_path_with_dates() -> None:
    """Active → Deactivated → Destroyed → Destroyed Compromised, each date recorded."""
    store, handed = _store()
    store.create(ALICE, "k", now=1.0)
    assert store.get(ALICE, "1", now=1.5).reason is ResultReason.ILLEGAL_OPERATION
    assert store.activate(ALICE, "1", now=2.0).ok
    assert store.activate(ALICE, "1", now=2.5).reason is ResultReason.ILLEGAL_OPERATION
    assert store.revoke(ALICE, "1", RevocationReason.SUPERSEDED, now=3.0).ok
    assert store.state("1") is S.DEACTIVATED
    refused = store.get(ALICE, "1", now=3.5)
    assert refused.reason is ResultReason.ILLEGAL_OPERATION and refused.key_material is None
    assert store.get(ALICE, "1", now=3.5, for_decryption=True).key_material == handed[0]
    assert store.destroy(ALICE, "1", now=4.0).ok and store.state("1") is S.DESTROYED
    gone = store.get(ALICE, "1", now=4.5, for_decryption=True)
    assert gone.reason is ResultReason.ITEM_NOT_FOUND and gone.key_material is None
    assert store.destroy(ALICE, "1", now=4.6).reason is ResultReason.ILLEGAL_OPERATION
    assert store.revoke(
        ALICE, "1", RevocationReason.KEY_COMPROMISE, now=5.0, compromise_occurrence_date=0.5
    ).ok
    attrs = store.attributes("1")
    assert attrs is not None and attrs.state is S.DESTROYED_COMPROMISED
    assert (attrs.initial_date, attrs.activation_date, attrs.deactivation_date) == (1.0, 2.0, 3.0)
    assert (attrs.destroy_date, attrs.compromise_date, attrs.compromise_occurrence_date) == (
        4.0,
        5.0,
        0.5,
    )
    assert attrs.revocation_reason is RevocationReason.KEY_COMPROMISE


def test_active_key_cannot_be_destroyed_until_revoked() -> None:
    """Destroying an Active key is an Illegal Operation; after compromise it is Destroyed
    Compromised."""
    store, _ = _store()
    store.create(ALICE, "k", now=0.0, activate=True)
    refused = store.destroy(ALICE, "1", now=1.0)
    assert refused.reason is ResultReason.ILLEGAL_OPERATION and "revoke" in refused.message
    assert store.get(ALICE, "1", now=1.0).ok
    assert store.revoke(ALICE, "1", RevocationReason.CA_COMPROMISE, now=2.0).ok
    assert store.state("1") is S.COMPROMISED
    assert store.get(ALICE, "1", now=2.5).reason is ResultReason.ILLEGAL_OPERATION
    assert store.get(ALICE, "1", now=2.5, for_decryption=True).ok
    assert store.destroy(ALICE, "1", now=3.0).ok
    assert store.state("1") is S.DESTROYED_COMPROMISED


def test_pre_active_rules_and_bad_requests() -> None:
    """Pre-Active keys cannot be deactivated but can be destroyed; bad names and a broken
    random source are refused with KMIP reasons."""
    store, _ = _store()
    store.create(ALICE, "k", now=0.0)
    assert (
        store.revoke(ALICE, "1", RevocationReason.UNSPECIFIED, now=1.0).reason
        is ResultReason.ILLEGAL_OPERATION
    )
    not_a_reason: Any = "Superseded"
    assert store.revoke(ALICE, "1", not_a_reason, now=1.0).reason is ResultReason.INVALID_FIELD
    assert store.destroy(ALICE, "1", now=2.0).ok and store.state("1") is S.DESTROYED
    assert store.create(ALICE, "", now=3.0).reason is ResultReason.MISSING_DATA
    short = KeyStore(lambda n: bytes(n - 1))
    short.authorize_client(ALICE, "g")
    assert short.create(ALICE, "k", now=0.0).reason is ResultReason.CRYPTOGRAPHIC_FAILURE
    assert short.state("1") is None


# An independent statement of KMIP 1.1 §3.22: (state, request) -> next state, None = refused.
_EXPECTED: dict[tuple[ObjectState, str], ObjectState | None] = {
    (S.PRE_ACTIVE, "activate"): S.ACTIVE,
    (S.PRE_ACTIVE, "compromise"): S.COMPROMISED,
    (S.PRE_ACTIVE, "deactivate"): None,
    (S.PRE_ACTIVE, "destroy"): S.DESTROYED,
    (S.ACTIVE, "activate"): None,
    (S.ACTIVE, "compromise"): S.COMPROMISED,
    (S.ACTIVE, "deactivate"): S.DEACTIVATED,
    (S.ACTIVE, "destroy"): None,
    (S.DEACTIVATED, "activate"): None,
    (S.DEACTIVATED, "compromise"): S.COMPROMISED,
    (S.DEACTIVATED, "deactivate"): None,
    (S.DEACTIVATED, "destroy"): S.DESTROYED,
    (S.COMPROMISED, "activate"): None,
    (S.COMPROMISED, "compromise"): None,
    (S.COMPROMISED, "deactivate"): None,
    (S.COMPROMISED, "destroy"): S.DESTROYED_COMPROMISED,
    (S.DESTROYED, "activate"): None,
    (S.DESTROYED, "compromise"): S.DESTROYED_COMPROMISED,
    (S.DESTROYED, "deactivate"): None,
    (S.DESTROYED, "destroy"): None,
    (S.DESTROYED_COMPROMISED, "activate"): None,
    (S.DESTROYED_COMPROMISED, "compromise"): None,
    (S.DESTROYED_COMPROMISED, "deactivate"): None,
    (S.DESTROYED_COMPROMISED, "destroy"): None,
}
_DEACTIVATING = [r for r in RevocationReason if not r.is_compromise]
_COMPROMISING = [RevocationReason.KEY_COMPROMISE, RevocationReason.CA_COMPROMISE]

_steps = st.tuples(
    st.sampled_from(["activate", "compromise", "deactivate", "destroy", "get", "get_dec"]),
    st.integers(0, 2),
    st.integers(0, len(_DEACTIVATING) - 1),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_steps, max_size=25), st.lists(st.booleans(), min_size=3, max_size=3))
def test_random_operation_sequences_follow_kmip_lifecycle(
    steps: list[tuple[str, int, int]], start_active: list[bool]
) -> None:
    """Any operation sequence moves states only along KMIP 1.1 transitions, as predicted,
    and key material is only ever the created key and never returned once destroyed."""
    store, handed = _store()
    uids = [
        store.create(ALICE, f"k{i}", 0.0, activate=a).unique_identifier or ""
        for i, a in enumerate(start_active)
    ]
    for t, (kind, which, variant) in enumerate(steps, start=1):
        uid = uids[which]
        before = store.state(uid)
        assert before is not None
        if kind == "activate":
            answer = store.activate(ALICE, uid, float(t))
        elif kind == "compromise":
            answer = store.revoke(ALICE, uid, _COMPROMISING[variant % 2], float(t))
        elif kind == "deactivate":
            answer = store.revoke(ALICE, uid, _DEACTIVATING[variant], float(t))
        elif kind == "destroy":
            answer = store.destroy(ALICE, uid, float(t))
        else:
            answer = store.get(ALICE, uid, float(t), for_decryption=kind == "get_dec")
        after = store.state(uid)
        assert after is not None
        if kind.startswith("get"):
            usable = before is S.ACTIVE or (
                kind == "get_dec" and before in (S.DEACTIVATED, S.COMPROMISED)
            )
            assert answer.ok == usable and after is before
            assert answer.key_material == (handed[which] if usable else None)
            continue
        expected = _EXPECTED[(before, kind)]
        assert answer.ok == (expected is not None)
        assert after is (expected if expected is not None else before)
        assert after is before or (before, after) in ALLOWED_TRANSITIONS
        if not answer.ok:
            assert answer.reason is ResultReason.ILLEGAL_OPERATION
    assert store.counts[Operation.CREATE] == 3
    assert sum(store.counts.values()) == 3 + len(steps)
