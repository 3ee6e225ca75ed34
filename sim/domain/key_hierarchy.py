"""The trusted key provider's key hierarchy: KEKs wrapped with the provider's primary key.

VMware: the Key Provider Service "validates the attestation token and creates a KEK ...
wrapped (encrypted) with the primary key that is configured on the key provider"; the KMS
holds only the primary key. Encrypting a VM makes a fresh 256-bit KEK and stores it wrapped
with the VM; powering the VM on (or receiving it by vMotion) sends the wrapped KEK to the
Key Provider Service, which unwraps it with the primary key and releases the KEK to an
attested host::

    KMS (KMIP)            Key Provider Service            VM (vmx / key store)
    primary key  ──Get──▶  unwrap(primary, wrapped KEK) ◀── wrapped KEK
                           KEK ──▶ attested host ──▶ unlocks the VM's data keys

Wrapping is AES key wrap (RFC 3394) through ``cryptography``: an unwrap with the wrong key,
or of a tampered wrapped KEK, fails its integrity check (``InvalidUnwrap``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from sim.domain.opcount import count

KEY_BYTES = 32
"""Primary keys and KEKs are AES-256 keys."""


@dataclass(frozen=True)
class WrappedKek:
    """A VM's KEK as stored with the VM: wrapped with its key provider's primary key."""

    provider: str
    wrapped: bytes


def make_kek(random_bytes: Callable[[int], bytes]) -> bytes:
    """A fresh 256-bit KEK from the given random source."""
    kek = random_bytes(KEY_BYTES)
    if len(kek) != KEY_BYTES:
        raise ValueError("the random source returned a short key")
    return kek


def wrap_kek(primary_key: bytes, kek: bytes) -> bytes:
    """``kek`` wrapped with ``primary_key`` (AES key wrap, RFC 3394): 40 bytes."""
    if len(primary_key) != KEY_BYTES or len(kek) != KEY_BYTES:
        raise ValueError("primary key and KEK must be 32 bytes")
    count("aes_key_wrap")
    return aes_key_wrap(primary_key, kek)


def unwrap_kek(primary_key: bytes, wrapped: bytes) -> bytes | None:
    """The KEK inside ``wrapped``, or None when the integrity check fails (wrong primary
    key, tampered or truncated wrapped KEK)."""
    if len(primary_key) != KEY_BYTES:
        return None
    count("aes_key_unwrap")
    try:
        return aes_key_unwrap(primary_key, wrapped)
    except (InvalidUnwrap, ValueError):
        return None
