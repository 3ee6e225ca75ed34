"""Deterministic P-256 keys, ECDSA signatures and simulated certificate authorities.

Every key in the simulated estate (TPM endorsement and attestation keys, CA keys, KMIP
client keys) is derived from seed bytes with HKDF-SHA256, and every signature is the
deterministic ECDSA of RFC 6979. One root seed therefore gives byte-identical keys,
certificates and quotes on every run and every machine.

``CertificateAuthority`` plays a TPM manufacturer's CA (it issues EK certificates) and is
reusable for any other simulated CA (the KMIP client and server certificates). Its
certificates have a fixed validity window so that they do not depend on wall time.
``chains_to`` checks issuer name and signature only: simulated time is not wall time, so a
validity check against the host clock would make results depend on the day of the run.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from sim.domain.opcount import count

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""The order n of the NIST P-256 base point."""

VALIDITY_START = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
VALIDITY_END = datetime.datetime(2050, 1, 1, tzinfo=datetime.timezone.utc)
"""The fixed validity window of every simulated certificate."""

TCG_KP_EK_CERTIFICATE = ObjectIdentifier("2.23.133.8.1")
"""The TCG extended key usage of an EK certificate (tcg-kp-EKCertificate)."""

TCG_AT_TPM_MANUFACTURER = ObjectIdentifier("2.23.133.2.1")
TCG_AT_TPM_MODEL = ObjectIdentifier("2.23.133.2.2")
TCG_AT_TPM_VERSION = ObjectIdentifier("2.23.133.2.3")
TCG_AT_TPM_SPECIFICATION = ObjectIdentifier("2.23.133.2.16")
SUBJECT_DIRECTORY_ATTRIBUTES = ObjectIdentifier("2.5.29.9")
SIMULATED_TPM_MANUFACTURER = "id:56545349"
"""The simulated TPM vendor's TCG manufacturer id (the ASCII of "VTSI"; not a registered
vendor)."""
TPM_SPECIFICATION = ("2.0", 0, 164)
"""(family, level, revision) written as the EK certificate's tcg-at-tpmSpecification."""

_HKDF_SALT = b"vtasim/pki/p256/v1"
_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def derive_p256_key(seed: bytes, label: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key for (``seed``, ``label``); the same inputs give the same key.

    48 bytes of HKDF-SHA256 output are reduced into [1, n-1] (FIPS 186-5 A.2.1 style: the
    extra 128 bits make the modulo bias negligible).
    """
    if not seed:
        raise ValueError("seed must not be empty")
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=48,
        salt=_HKDF_SALT,
        info=label.encode("utf-8"),
    ).derive(seed)
    scalar = int.from_bytes(okm, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """The DER-encoded deterministic (RFC 6979) ECDSA-SHA256 signature of ``data``."""
    count("ecdsa_sign")
    return key.sign(data, _ECDSA)


_EC_PUBLIC_KEY = type(ec.derive_private_key(1, ec.SECP256R1()).public_key())
"""The concrete class of ``cryptography``'s EC public keys: checking it first spares the
common case the abstract class's ``isinstance`` (a registry lookup, ~0.4 us a call)."""


def verify(public_key: ec.EllipticCurvePublicKey, signature_der: bytes, data: bytes) -> bool:
    """True if ``signature_der`` is a valid ECDSA-SHA256 signature of ``data``; never raises."""
    if type(public_key) is not _EC_PUBLIC_KEY and not isinstance(
        public_key, ec.EllipticCurvePublicKey
    ):
        return False
    count("ecdsa_verify")
    try:
        public_key.verify(signature_der, data, _ECDSA)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def public_der(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER encoding of ``public_key``."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The SubjectPublicKeyInfo PEM encoding of ``public_key`` (what tpm2-tools reads)."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_der(der: bytes) -> ec.EllipticCurvePublicKey:
    """The EC public key in SubjectPublicKeyInfo ``der``; ValueError if it is not one."""
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve public key")
    return key


def fingerprint(der: bytes) -> str:
    """The lower-case hex SHA-256 of ``der`` (a key or certificate fingerprint)."""
    return hashlib.sha256(der).hexdigest()


def _derived_serial(seed: bytes, *parts: str) -> int:
    """A positive certificate serial number (at most 153 bits) bound to ``seed`` and parts."""
    mac = hmac.new(seed, "\x1f".join(("serial", *parts)).encode("utf-8"), hashlib.sha256)
    return int.from_bytes(mac.digest()[:19], "big") + 1


class CertificateAuthority:
    """A simulated CA with a deterministic key, self-signed root and issued certificates.

    The CA key is ``derive_p256_key(seed, "ca")``; serial numbers are HMACs under the seed
    of what the certificate is about, so issuing the same certificate twice gives the same
    bytes, and two CAs with different seeds never agree.
    """

    def __init__(
        self, seed: bytes, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate
    ) -> None:
        self._seed = seed
        self._key = key
        self._certificate = certificate

    @classmethod
    def create(cls, seed: bytes, common_name: str) -> CertificateAuthority:
        """A CA named ``common_name`` whose key and root certificate derive from ``seed``."""
        key = derive_p256_key(seed, "ca")
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vtasim simulated PKI"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ]
        )
        public = key.public_key()
        count("x509_sign")
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(_derived_serial(seed, "root", common_name))
            .not_valid_before(VALIDITY_START)
            .not_valid_after(VALIDITY_END)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
        )
        return cls(seed, key, certificate)

    @property
    def certificate(self) -> x509.Certificate:
        """The self-signed root certificate."""
        return self._certificate

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The CA's public key."""
        return self._key.public_key()

    @property
    def common_name(self) -> str:
        """The CA's common name."""
        attrs = self._certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value)

    def issue_ek_certificate(
        self,
        ek_public: ec.EllipticCurvePublicKey,
        tpm_serial: str,
        tpm_model: str = "vtasim vTPM",
        tpm_version: str = "id:00010046",
    ) -> x509.Certificate:
        """An EK certificate for the TPM with serial ``tpm_serial`` and key ``ek_public``.

        As the TCG EK Credential Profile asks, the subject alternative name is a directory
        name with the TPM manufacturer, model and firmware version (tcg-at-tpmManufacturer,
        -Model, -Version), the subject directory attributes carry tcg-at-tpmSpecification
        and the extended key usage is tcg-kp-EKCertificate. The subject also names the TPM
        serial (as CN and serialNumber, so 1..64 characters) for a verifier to name the TPM.
        """
        if not 1 <= len(tpm_serial) <= 64:
            raise ValueError("tpm_serial must be 1..64 characters")
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.SERIAL_NUMBER, tpm_serial),
                x509.NameAttribute(NameOID.COMMON_NAME, tpm_serial),
            ]
        )
        usage = _key_usage(digital_signature=False, key_agreement=True)
        tpm_name = x509.Name(
            [
                x509.NameAttribute(TCG_AT_TPM_MANUFACTURER, SIMULATED_TPM_MANUFACTURER),
                x509.NameAttribute(TCG_AT_TPM_MODEL, tpm_model),
                x509.NameAttribute(TCG_AT_TPM_VERSION, tpm_version),
            ]
        )
        extra: list[x509.ExtensionType] = [
            x509.SubjectAlternativeName([x509.DirectoryName(tpm_name)]),
            x509.UnrecognizedExtension(SUBJECT_DIRECTORY_ATTRIBUTES, _tpm_specification_der()),
        ]
        return self._issue(
            ek_public,
            subject,
            _derived_serial(self._seed, "ek", tpm_serial),
            usage,
            x509.ExtendedKeyUsage([TCG_KP_EK_CERTIFICATE]),
            extra,
        )

    def issue_client_certificate(
        self, public_key: ec.EllipticCurvePublicKey, common_name: str
    ) -> x509.Certificate:
        """A TLS client certificate (KMIP client authentication) for ``common_name``."""
        return self._issue_leaf(public_key, common_name, "client", ExtendedKeyUsageOID.CLIENT_AUTH)

    def issue_server_certificate(
        self, public_key: ec.EllipticCurvePublicKey, common_name: str
    ) -> x509.Certificate:
        """A TLS server certificate (for example a KMS node) for ``common_name``."""
        return self._issue_leaf(public_key, common_name, "server", ExtendedKeyUsageOID.SERVER_AUTH)

    def _issue_leaf(
        self,
        public_key: ec.EllipticCurvePublicKey,
        common_name: str,
        role: str,
        eku: ObjectIdentifier,
    ) -> x509.Certificate:
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        serial = _derived_serial(self._seed, role, common_name, fingerprint(public_der(public_key)))
        usage = _key_usage(digital_signature=True, key_agreement=True)
        return self._issue(public_key, subject, serial, usage, x509.ExtendedKeyUsage([eku]))

    def _issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        subject: x509.Name,
        serial: int,
        usage: x509.KeyUsage,
        eku: x509.ExtendedKeyUsage,
        extra: Sequence[x509.ExtensionType] = (),
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self._certificate.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(VALIDITY_START)
            .not_valid_after(VALIDITY_END)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(eku, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.public_key),
                critical=False,
            )
        )
        for extension in extra:
            builder = builder.add_extension(extension, critical=False)
        count("x509_sign")
        return builder.sign(self._key, hashes.SHA256(), ecdsa_deterministic=True)


def _der(tag: int, body: bytes) -> bytes:
    """A DER TLV (definite length)."""
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)])
        + (n.to_bytes((n.bit_length() + 7) // 8, "big"))
    )
    return bytes([tag]) + length + body


def _tpm_specification_der() -> bytes:
    """SubjectDirectoryAttributes ::= SEQUENCE OF Attribute, holding one
    tcg-at-tpmSpecification ::= SEQUENCE { family UTF8String, level INTEGER, revision
    INTEGER } (TCG EK Credential Profile §3.2.12)."""
    family, level, revision = TPM_SPECIFICATION
    spec = _der(
        0x30,
        _der(0x0C, family.encode())
        + _der(0x02, level.to_bytes(1, "big"))
        + _der(0x02, revision.to_bytes(2, "big")),
    )
    oid = _der(0x06, bytes([0x67, 0x81, 0x05, 0x02, 0x10]))  # 2.23.133.2.16
    return _der(0x30, _der(0x30, oid + _der(0x31, spec)))


def tpm_attributes(cert: x509.Certificate) -> dict[str, str]:
    """The TPM manufacturer, model and version an EK certificate names in its subject
    alternative name (keys "manufacturer", "model", "version"); empty if it names none."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    out: dict[str, str] = {}
    keys = {
        TCG_AT_TPM_MANUFACTURER: "manufacturer",
        TCG_AT_TPM_MODEL: "model",
        TCG_AT_TPM_VERSION: "version",
    }
    for name in san.get_values_for_type(x509.DirectoryName):
        for attr in name:
            if attr.oid in keys and isinstance(attr.value, str):
                out[keys[attr.oid]] = attr.value
    return out


def _key_usage(*, digital_signature: bool, key_agreement: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def chains_to(cert: x509.Certificate, ca_certs: Sequence[x509.Certificate]) -> bool:
    """True if one of ``ca_certs`` is a CA certificate that directly issued ``cert``.

    Checks the issuer name and the signature. Validity dates are deliberately NOT checked:
    the simulation clock is not the wall clock, and all simulated certificates share one
    fixed window. Never raises.
    """
    for ca in ca_certs:
        if cert.issuer != ca.subject or not _is_ca(ca):
            continue
        count("ecdsa_verify")
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError):
            continue
        return True
    return False
