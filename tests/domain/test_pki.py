"""Tests for sim.domain.pki: deterministic keys, signatures, the simulated CAs."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.pki import (
    P256_ORDER,
    TCG_KP_EK_CERTIFICATE,
    VALIDITY_END,
    VALIDITY_START,
    CertificateAuthority,
    chains_to,
    derive_p256_key,
    fingerprint,
    load_public_der,
    public_der,
    public_pem,
    sign,
    verify,
)

seeds = st.binary(min_size=1, max_size=48)
labels = st.text(max_size=20)


def _scalar(key: ec.EllipticCurvePrivateKey) -> int:
    return key.private_numbers().private_value


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@given(seeds, labels)
def test_derived_key_is_a_function_of_seed_and_label(seed: bytes, label: str) -> None:
    """The same seed and label always give the same valid P-256 scalar."""
    a, b = derive_p256_key(seed, label), derive_p256_key(seed, label)
    assert _scalar(a) == _scalar(b)
    assert 1 <= _scalar(a) < P256_ORDER
    assert isinstance(a.curve, ec.SECP256R1)


@given(seeds, seeds, labels, labels)
def test_different_seed_or_label_gives_different_key(
    s1: bytes, s2: bytes, l1: str, l2: str
) -> None:
    """Distinct (seed, label) pairs give distinct keys."""
    if (s1, l1) != (s2, l2):
        assert _scalar(derive_p256_key(s1, l1)) != _scalar(derive_p256_key(s2, l2))


def test_empty_seed_is_rejected() -> None:
    """An empty seed would make every key guessable, so it raises."""
    with pytest.raises(ValueError):
        derive_p256_key(b"", "ek")


@given(st.binary(max_size=200))
def test_signatures_are_deterministic_and_verify(data: bytes) -> None:
    """Signing twice gives identical DER bytes, and the signature verifies."""
    key = derive_p256_key(b"signer", "k")
    sig = sign(key, data)
    assert sig == sign(key, data)
    assert verify(key.public_key(), sig, data)


@settings(max_examples=50)
@given(st.data())
def test_any_flipped_signature_byte_fails(data: st.DataObject) -> None:
    """Changing any byte of a signature makes verification fail without raising."""
    key = derive_p256_key(b"signer", "k")
    sig = bytearray(sign(key, b"message"))
    i = data.draw(st.integers(0, len(sig) - 1))
    sig[i] ^= data.draw(st.integers(1, 255))
    assert verify(key.public_key(), bytes(sig), b"message") is False


def test_verify_rejects_other_data_other_key_and_garbage() -> None:
    """Wrong data, a wrong key, garbage and a non-EC key all give False, never an error."""
    key, other = derive_p256_key(b"a", "k"), derive_p256_key(b"b", "k")
    sig = sign(key, b"data")
    assert not verify(key.public_key(), sig, b"datA")
    assert not verify(other.public_key(), sig, b"data")
    assert not verify(key.public_key(), b"\x30\x00", b"data")
    assert not verify(key.public_key(), b"", b"data")
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    assert not verify(ed, sig, b"data")  # type: ignore[arg-type]


def test_public_key_encodings_round_trip() -> None:
    """DER and PEM encode the same key; loading the DER gives it back; fingerprints are
    SHA-256 hex."""
    pub = derive_p256_key(b"seed", "x").public_key()
    der = public_der(pub)
    assert load_public_der(der).public_numbers() == pub.public_numbers()
    pem_key = serialization.load_pem_public_key(public_pem(pub))
    assert public_der(pem_key) == der  # type: ignore[arg-type]
    fp = fingerprint(der)
    assert len(fp) == 64 and int(fp, 16) >= 0


def test_load_public_der_rejects_non_ec_keys() -> None:
    """Only EC public keys are accepted."""
    ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    der = ed.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError):
        load_public_der(der)


def test_ca_root_is_deterministic_self_signed_and_fixed_in_time() -> None:
    """The same seed gives a byte-identical self-signed CA root with the fixed window."""
    a = CertificateAuthority.create(b"mfr", "Sim TPM Root CA")
    b = CertificateAuthority.create(b"mfr", "Sim TPM Root CA")
    assert _der(a.certificate) == _der(b.certificate)
    cert = a.certificate
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc == VALIDITY_START
    assert cert.not_valid_after_utc == VALIDITY_END
    assert a.common_name == "Sim TPM Root CA"
    assert chains_to(cert, [cert])
    other = CertificateAuthority.create(b"mfr2", "Sim TPM Root CA")
    assert _der(other.certificate) != _der(cert)
    assert other.certificate.serial_number != cert.serial_number


def test_ek_certificate_names_the_tpm_and_chains_to_its_ca() -> None:
    """An EK certificate is deterministic, carries the TPM serial and TCG EKU, and chains
    only to the CA that signed it."""
    ca = CertificateAuthority.create(b"mfr", "Sim TPM Root CA")
    ek = derive_p256_key(b"tpm-1", "ek").public_key()
    cert = ca.issue_ek_certificate(ek, "TPM-0001")
    assert _der(cert) == _der(ca.issue_ek_certificate(ek, "TPM-0001"))
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "TPM-0001"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert TCG_KP_EK_CERTIFICATE in eku
    assert cert.public_key().public_numbers() == ek.public_numbers()  # type: ignore[union-attr]
    assert chains_to(cert, [ca.certificate])
    impostor = CertificateAuthority.create(b"not-mfr", "Sim TPM Root CA")
    assert cert.issuer == impostor.certificate.subject
    assert not chains_to(cert, [impostor.certificate])
    assert chains_to(cert, [impostor.certificate, ca.certificate])
    stranger = CertificateAuthority.create(b"mfr", "Other CA")
    assert not chains_to(cert, [stranger.certificate])
    assert not chains_to(cert, [])
    with pytest.raises(ValueError):
        ca.issue_ek_certificate(ek, "S" * 65)
    other_serial = ca.issue_ek_certificate(ek, "TPM-0002")
    assert other_serial.serial_number != cert.serial_number


def test_tampered_certificate_does_not_chain() -> None:
    """A certificate whose signature bytes were changed fails the signature check."""
    ca = CertificateAuthority.create(b"mfr", "Sim TPM Root CA")
    cert = ca.issue_ek_certificate(derive_p256_key(b"tpm", "ek").public_key(), "S1")
    der = bytearray(_der(cert))
    der[-1] ^= 0x01  # last byte of the signature's s
    tampered = x509.load_der_x509_certificate(bytes(der))
    assert not chains_to(tampered, [ca.certificate])


def test_a_leaf_certificate_cannot_act_as_a_ca() -> None:
    """A certificate without CA basic constraints is never accepted as an issuer."""
    ca = CertificateAuthority.create(b"mfr", "Root")
    key = derive_p256_key(b"leaf", "k")
    leaf = ca.issue_client_certificate(key.public_key(), "Root")
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "victim")]))
        .issuer_name(leaf.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(VALIDITY_START)
        .not_valid_after(VALIDITY_END)
        .sign(key, hashes.SHA256())
    )
    assert not chains_to(forged, [leaf])


def test_client_and_server_certificates_are_deterministic_and_distinct() -> None:
    """TLS certificates carry the right EKU, repeat byte for byte, and differ per key."""
    ca = CertificateAuthority.create(b"kms-ca", "KMS CA")
    k1 = derive_p256_key(b"client", "1").public_key()
    k2 = derive_p256_key(b"client", "2").public_key()
    c1 = ca.issue_client_certificate(k1, "kmxd-vta-1")
    assert _der(c1) == _der(ca.issue_client_certificate(k1, "kmxd-vta-1"))
    assert c1.serial_number != ca.issue_client_certificate(k2, "kmxd-vta-1").serial_number
    eku = c1.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    server = ca.issue_server_certificate(k1, "kms-1")
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert chains_to(c1, [ca.certificate]) and chains_to(server, [ca.certificate])


def test_chains_to_ignores_validity_dates() -> None:
    """Validity is not time-checked: a certificate expired in wall time still chains."""
    root_key = derive_p256_key(b"old-root", "ca")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Expired Root")])
    start = datetime.datetime(1990, 1, 1, tzinfo=datetime.timezone.utc)
    end = datetime.datetime(1991, 1, 1, tzinfo=datetime.timezone.utc)
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = derive_p256_key(b"old-leaf", "k")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(name)
        .public_key(leaf_key.public_key())
        .serial_number(2)
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(root_key, hashes.SHA256())
    )
    assert chains_to(leaf, [root])
