"""Memoised identity checks of attestation evidence: keys, EK certificates, AK fitness
and the Qualified Name a quote must carry.

The verifier calls these for every attestation, on the same few byte strings over and
over (hosts re-attest with the same keys), so each is cached on its bytes. Buys, per
attestation: a key parse (~11 us, :func:`load_key`), a key re-encoding (~13 us,
:func:`normalized_ek`), and for EK certificates a certificate parse and an ECDSA chain
check. None raises on bad input: unreadable keys and certificates are simply not trusted.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sim.domain.credential import AK_REQUIRED_ATTRIBUTES
from sim.domain.pki import (
    TCG_KP_EK_CERTIFICATE,
    chains_to,
    load_public_der,
    public_der,
    tpm_attributes,
)
from sim.domain.tpm_keys import ak_qualified_name, parse_public_area
from sim.domain.tpm_wire import parse_ecc_public_area


@lru_cache(maxsize=16384)
def load_key(der: bytes) -> ec.EllipticCurvePublicKey | None:
    """The EC public key in ``der``; None if it is not one."""
    try:
        return load_public_der(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


@lru_cache(maxsize=16384)
def normalized_ek(der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo of an EC or RSA key, re-encoded; None for anything else."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        return None
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@lru_cache(maxsize=64)
def parsed_cas(ca_der: tuple[bytes, ...]) -> tuple[x509.Certificate, ...]:
    """The CA certificates in ``ca_der``."""
    return tuple(x509.load_der_x509_certificate(der) for der in ca_der)


@lru_cache(maxsize=16384)
def ek_certificate_trusted(cert_der: bytes, ek_der: bytes, ca_der: tuple[bytes, ...]) -> bool:
    """The certificate is an EK certificate for ``ek_der`` issued by one of the CAs and
    naming the TPM's manufacturer, model and version."""
    try:
        cert = x509.load_der_x509_certificate(cert_der)
        cert_key = normalized_ek(
            cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        attributes = tpm_attributes(cert)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.ExtensionNotFound):
        return False
    if cert_key != ek_der or len(attributes) != 3:
        return False
    return TCG_KP_EK_CERTIFICATE in eku and chains_to(cert, parsed_cas(ca_der))


@lru_cache(maxsize=16384)
def ak_fit(ak_der: bytes, area: bytes) -> bool:
    """``area`` is a fixed-TPM restricted signing key whose public key is ``ak_der``."""
    ak = load_key(ak_der)
    if ak is None:
        return False
    try:
        parsed = parse_ecc_public_area(area)
        same_key = public_der(parsed.public_key()) == public_der(ak)
    except ValueError:
        return False
    required = AK_REQUIRED_ATTRIBUTES
    return same_key and parsed.object_attributes & required == required


@lru_cache(maxsize=16384)
def expected_signer(ek_der: bytes, ek_area: bytes, ak_area: bytes) -> bytes | None:
    """The AK's Qualified Name under the EK whose public area is ``ek_area``; None if that
    area is not an EK or not the key ``ek_der``."""
    try:
        ek = parse_public_area(ek_area)
    except ValueError:
        return None
    key_der = ek.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not ek.is_endorsement_key or normalized_ek(ek_der) != key_der:
        return None
    return ak_qualified_name(ek_area, ak_area)
