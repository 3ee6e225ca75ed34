"""Credential activation: how a verifier learns that an AK lives in the TPM that owns an EK
(TPM 2.0 Library Part 1 §24, "Credential Protection"; Part 3 TPM2_MakeCredential and
TPM2_ActivateCredential).

The verifier (``make_credential``) draws a seed and protects it to the EK: for an ECC EK by
an ephemeral ECDH key agreement, ``seed = KDFe(SHA-256, Z, "IDENTITY", ephemeral.x,
EK.x)``; for an RSA EK by RSA-OAEP(SHA-256) with the label ``"IDENTITY\\0"``. From the seed
it derives ``symKey = KDFa(seed, "STORAGE", Name(AK))`` (AES-128, the EK's symmetric
algorithm) and ``HMACkey = KDFa(seed, "INTEGRITY")``, encrypts the credential (a
TPM2B_DIGEST) with AES-128-CFB and a zero IV, and binds it to the AK's Name with
``HMAC(HMACkey, encIdentity || Name(AK))``. Only the TPM holding the EK's private key can
recover the seed, and it releases the credential only if the HMAC checks out for the Name
of the key it was asked to activate: so a returned secret proves EK and AK share a TPM.

``tpm2_tools_blob`` writes the file ``tpm2_makecredential -o`` writes and
``tpm2_activatecredential -i`` reads (magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT,
TPM2B_ENCRYPTED_SECRET). ECC EKs on NIST P-256 and RSA EKs are supported. The ECC path is
deterministic given ``ephemeral_seed``; RSA-OAEP padding is randomised by the library.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # CFB lives in "decrepit" from cryptography 47 on; the TPM still uses it
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB  # type: ignore[assignment,unused-ignore]

from sim.domain.opcount import count
from sim.domain.pki import derive_p256_key
from sim.domain.tpm_keys import parse_public_area
from sim.domain.tpm_wire import FIXED_TPM, RESTRICTED, SIGN_ENCRYPT, object_name

TOOLS_MAGIC = 0xBADCC0DE
SYMMETRIC_KEY_BITS = 128
"""The EK templates' symmetric algorithm: AES-128 (CFB)."""
_DIGEST_BITS = 256


def kdfa(key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """KDFa with SHA-256 (Part 1 §11.4.10.2, SP 800-108 counter mode with HMAC)."""
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        msg = struct.pack(">I", counter) + label + b"\0" + context_u + context_v
        out += hmac.new(key, msg + struct.pack(">I", bits), hashlib.sha256).digest()
    return out[: (bits + 7) // 8]


def kdfe(z: bytes, label: bytes, party_u: bytes, party_v: bytes, bits: int) -> bytes:
    """KDFe with SHA-256 (Part 1 §11.4.10.3, the SP 800-56A concatenation KDF)."""
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        msg = struct.pack(">I", counter) + z + label + b"\0" + party_u + party_v
        out += hashlib.sha256(msg).digest()
    return out[: (bits + 7) // 8]


def _cfb(key: bytes, data: bytes, decrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), CFB(bytes(16)))
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def _x(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_numbers().x.to_bytes(32, "big")


@dataclass(frozen=True)
class Credential:
    """TPM2_MakeCredential's output: the TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET
    contents (without their size prefixes)."""

    credential_blob: bytes
    secret: bytes

    def tpm2_tools_blob(self) -> bytes:
        """The file format of ``tpm2_makecredential -o`` / ``tpm2_activatecredential -i``."""
        return b"".join(
            [
                struct.pack(">II", TOOLS_MAGIC, 1),
                struct.pack(">H", len(self.credential_blob)),
                self.credential_blob,
                struct.pack(">H", len(self.secret)),
                self.secret,
            ]
        )

    @classmethod
    def from_tpm2_tools_blob(cls, data: bytes) -> Credential:
        """Read the tpm2-tools file; ValueError if malformed."""
        if len(data) < 12 or struct.unpack_from(">II", data) != (TOOLS_MAGIC, 1):
            raise ValueError("not a tpm2-tools credential file")
        (n,) = struct.unpack_from(">H", data, 8)
        blob = data[10 : 10 + n]
        if len(blob) != n or len(data) < 12 + n:
            raise ValueError("credential file truncated")
        (m,) = struct.unpack_from(">H", data, 10 + n)
        secret = data[12 + n :]
        if len(secret) != m:
            raise ValueError("credential file: secret size does not match")
        return cls(blob, secret)


def _protect(seed: bytes, name: bytes, credential: bytes) -> bytes:
    sym_key = kdfa(seed, b"STORAGE", name, b"", SYMMETRIC_KEY_BITS)
    enc_identity = _cfb(sym_key, struct.pack(">H", len(credential)) + credential, False)
    hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", _DIGEST_BITS)
    outer = hmac.new(hmac_key, enc_identity + name, hashlib.sha256).digest()
    return struct.pack(">H", len(outer)) + outer + enc_identity


def make_credential(
    ek_public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    ak_name: bytes,
    credential: bytes,
    ephemeral_seed: bytes,
) -> Credential:
    """TPM2_MakeCredential in software: protect ``credential`` (1..32 bytes) to the EK,
    bound to the Name of the key to be activated."""
    if not 1 <= len(credential) <= 32:
        raise ValueError("a credential is 1..32 bytes (a TPM2B_DIGEST)")
    if isinstance(ek_public, ec.EllipticCurvePublicKey):
        if not isinstance(ek_public.curve, ec.SECP256R1):
            raise ValueError("ECC EKs must be on NIST P-256")
        ephemeral = derive_p256_key(ephemeral_seed, "make-credential")
        count("ecdh")
        z = ephemeral.exchange(ec.ECDH(), ek_public)
        point = ephemeral.public_key()
        seed = kdfe(z, b"IDENTITY", _x(point), _x(ek_public), _DIGEST_BITS)
        nums = point.public_numbers()
        secret = b"".join(struct.pack(">H", 32) + v.to_bytes(32, "big") for v in (nums.x, nums.y))
    elif isinstance(ek_public, rsa.RSAPublicKey):
        seed = hashlib.sha256(b"vtasim/make-credential" + ephemeral_seed).digest()
        count("rsa_oaep_encrypt")
        secret = ek_public.encrypt(seed, _oaep())
    else:
        raise ValueError("the EK must be an ECC P-256 or RSA key")
    return Credential(_protect(seed, ak_name, credential), secret)


def _oaep() -> padding.OAEP:
    return padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"IDENTITY\0"
    )


def activate_credential(
    ek_private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    key_name: bytes,
    credential: Credential,
) -> bytes:
    """TPM2_ActivateCredential: the credential, if it was made for this EK and the key
    named ``key_name``; ValueError (a TPM's TPM_RC_INTEGRITY) otherwise."""
    try:
        if isinstance(ek_private, ec.EllipticCurvePrivateKey):
            raw = credential.secret
            if len(raw) != 68 or raw[:2] != b"\0\x20" or raw[34:36] != b"\0\x20":
                raise ValueError("secret is not a P-256 TPMS_ECC_POINT")
            x, y = int.from_bytes(raw[2:34], "big"), int.from_bytes(raw[36:], "big")
            point = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            count("ecdh")
            z = ek_private.exchange(ec.ECDH(), point)
            ek_x = _x(ek_private.public_key())
            seed = kdfe(z, b"IDENTITY", _x(point), ek_x, _DIGEST_BITS)
        else:
            count("rsa_oaep_decrypt")
            seed = ek_private.decrypt(credential.secret, _oaep())
    except (ValueError, TypeError) as exc:
        raise ValueError("credential secret does not open with this EK") from exc
    blob = credential.credential_blob
    if len(blob) < 2 + 32 or int.from_bytes(blob[:2], "big") != 32:
        raise ValueError("malformed credential blob")
    outer, enc_identity = blob[2:34], blob[34:]
    hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", _DIGEST_BITS)
    expected = hmac.new(hmac_key, enc_identity + key_name, hashlib.sha256).digest()
    if not hmac.compare_digest(outer, expected):
        raise ValueError("credential integrity check failed (wrong EK or key name)")
    sym_key = kdfa(seed, b"STORAGE", key_name, b"", SYMMETRIC_KEY_BITS)
    plain = _cfb(sym_key, enc_identity, True)
    size = int.from_bytes(plain[:2], "big")
    if size != len(plain) - 2:
        raise ValueError("malformed credential")
    return plain[2:]


AK_REQUIRED_ATTRIBUTES = FIXED_TPM | RESTRICTED | SIGN_ENCRYPT


def enroll_ak(
    ek_public_area: bytes,
    ak_public_area: bytes,
    activate: Callable[[Credential], bytes],
    challenge_seed: bytes,
) -> bytes | None:
    """The verifier's side of AK enrolment: check that the AK is a fixed-TPM restricted
    signing key, challenge the EK with a credential for the AK's Name and compare what
    ``activate`` (the host's TPM2_ActivateCredential) returns. The AK's Name on success,
    None if the AK is unfit or the TPM could not activate the credential."""
    try:
        ek = parse_public_area(ek_public_area)
        ak = parse_public_area(ak_public_area)
    except ValueError:
        return None
    if not ek.is_endorsement_key or ak.object_attributes & AK_REQUIRED_ATTRIBUTES != (
        AK_REQUIRED_ATTRIBUTES
    ):
        return None
    name = object_name(ak_public_area)
    secret = hashlib.sha256(b"vtasim/ak-challenge" + challenge_seed).digest()
    try:
        returned = activate(make_credential(ek.public_key, name, secret, challenge_seed))
    except ValueError:
        return None
    return name if hmac.compare_digest(returned, secret) else None
