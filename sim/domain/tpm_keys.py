"""Endorsement keys and key names: the EK templates of the TCG EK Credential Profile, a
reader for any ECC or RSA TPMT_PUBLIC, and Qualified Names (TPM 2.0 Part 1 §16).

A real TPM's EK is a restricted *decryption* key made from a standard template (L-1 for
RSA 2048, L-2 for ECC NIST P-256): it can never sign, so an AK is tied to it by credential
activation (see :mod:`sim.domain.credential`). The EK's Name hashes its whole TPMT_PUBLIC,
template included, so the verifier needs the public area, not only the key.

The Qualified Name of an object hashes its Name into its parent's Qualified Name:
``QN(primary) = H(handle of its hierarchy || Name)`` and ``QN(child) = H(QN(parent) ||
Name(child))``, each prefixed with the name algorithm. A quote's qualifiedSigner is the
AK's Qualified Name; for an AK created under the EK (``tpm2_createak``) that is
``QN(EK, AK)`` below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sim.domain.tpm_wire import (
    FIXED_PARENT,
    FIXED_TPM,
    RESTRICTED,
    SENSITIVE_DATA_ORIGIN,
    TPM_ALG_ECC,
    TPM_ALG_NULL,
    TPM_ALG_SHA256,
    TPM_ECC_NIST_P256,
    object_name,
    tpm2b,
)

TPM_ALG_RSA = 0x0001
TPM_ALG_AES = 0x0006
TPM_ALG_CFB = 0x0043
TPM_RH_ENDORSEMENT = 0x4000000B
ADMIN_WITH_POLICY = 1 << 7
DECRYPT = 1 << 17
EK_OBJECT_ATTRIBUTES = (
    FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | ADMIN_WITH_POLICY | RESTRICTED | DECRYPT
)
"""0x000300B2: the attributes of the EK Credential Profile's templates L-1 and L-2."""
EK_POLICY_A_SHA256 = bytes.fromhex(
    "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa"
)
"""PolicySecret(TPM_RH_ENDORSEMENT): the authPolicy of the standard EK templates."""


def _u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def ecc_ek_public_area(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The TPMT_PUBLIC of an ECC P-256 EK made from template L-2 (what ``tpm2_createek -G
    ecc`` creates): restricted decryption, AES-128-CFB, PolicySecret(endorsement)."""
    numbers = public_key.public_numbers()
    if not isinstance(numbers.curve, ec.SECP256R1):
        raise ValueError("the ECC EK template is for NIST P-256")
    return b"".join(
        [
            _u16(TPM_ALG_ECC),
            _u16(TPM_ALG_SHA256),
            EK_OBJECT_ATTRIBUTES.to_bytes(4, "big"),
            tpm2b(EK_POLICY_A_SHA256),
            _u16(TPM_ALG_AES) + _u16(128) + _u16(TPM_ALG_CFB),
            _u16(TPM_ALG_NULL),  # scheme
            _u16(TPM_ECC_NIST_P256),
            _u16(TPM_ALG_NULL),  # kdf
            tpm2b(numbers.x.to_bytes(32, "big")),
            tpm2b(numbers.y.to_bytes(32, "big")),
        ]
    )


@dataclass(frozen=True)
class PublicArea:
    """The parts of an ECC or RSA TPMT_PUBLIC that identity checks use."""

    key_type: int
    name_alg: int
    object_attributes: int
    auth_policy: bytes
    symmetric: tuple[int, int, int]  # (algorithm, key bits, mode); (NULL, 0, 0) if none
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey

    @property
    def is_endorsement_key(self) -> bool:
        """Restricted decryption key with a symmetric algorithm (a storage/EK key)."""
        want = FIXED_TPM | RESTRICTED | DECRYPT
        return self.object_attributes & want == want and self.symmetric[0] != TPM_ALG_NULL


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("TPMT_PUBLIC: truncated")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def tpm2b(self) -> bytes:
        return self.take(self.u16())


def parse_public_area(data: bytes) -> PublicArea:
    """Parse an ECC (P-256) or RSA TPMT_PUBLIC of a key; ValueError otherwise."""
    c = _Cursor(data)
    key_type, name_alg = c.u16(), c.u16()
    attributes = int.from_bytes(c.take(4), "big")
    policy = c.tpm2b()
    sym_alg = c.u16()
    symmetric = (sym_alg, c.u16(), c.u16()) if sym_alg != TPM_ALG_NULL else (TPM_ALG_NULL, 0, 0)
    scheme = c.u16()
    if scheme != TPM_ALG_NULL:
        c.u16()  # scheme hash
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    if key_type == TPM_ALG_ECC:
        if c.u16() != TPM_ECC_NIST_P256:
            raise ValueError("TPMT_PUBLIC: only NIST P-256 is supported")
        if c.u16() != TPM_ALG_NULL:
            raise ValueError("TPMT_PUBLIC: only a NULL kdf is supported")
        x, y = int.from_bytes(c.tpm2b(), "big"), int.from_bytes(c.tpm2b(), "big")
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    elif key_type == TPM_ALG_RSA:
        c.u16()  # keyBits
        exponent = int.from_bytes(c.take(4), "big") or 65537
        key = rsa.RSAPublicNumbers(exponent, int.from_bytes(c.tpm2b(), "big")).public_key()
    else:
        raise ValueError(f"TPMT_PUBLIC: key type 0x{key_type:04x} not supported")
    if c.pos != len(data):
        raise ValueError("TPMT_PUBLIC: trailing bytes")
    return PublicArea(key_type, name_alg, attributes, policy, symmetric, key)


def unwrap_tpm2b_public(data: bytes) -> bytes:
    """The TPMT_PUBLIC inside a TPM2B_PUBLIC (what ``tpm2_createek -u`` writes)."""
    if len(data) < 2 or int.from_bytes(data[:2], "big") != len(data) - 2:
        raise ValueError("not a TPM2B_PUBLIC")
    return data[2:]


def qualified_name(parent_qualified_name: bytes, child_name: bytes) -> bytes:
    """``nameAlg || SHA-256(QN(parent) || Name(child))`` (SHA-256 names only)."""
    return _u16(TPM_ALG_SHA256) + hashlib.sha256(parent_qualified_name + child_name).digest()


def primary_qualified_name(hierarchy: int, primary_public_area: bytes) -> bytes:
    """The Qualified Name of a primary key: its hierarchy handle is its parent's QN."""
    return qualified_name(hierarchy.to_bytes(4, "big"), object_name(primary_public_area))


def ak_qualified_name(ek_public_area: bytes, ak_public_area: bytes) -> bytes:
    """The Qualified Name of an AK created under the EK (a quote's qualifiedSigner)."""
    ek_qn = primary_qualified_name(TPM_RH_ENDORSEMENT, ek_public_area)
    return qualified_name(ek_qn, object_name(ak_public_area))
