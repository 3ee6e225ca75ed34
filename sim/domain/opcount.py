"""Counts of the cryptographic operations the model performs, by kind.

The benchmarks set the simulator's speed against the machine's own cryptography rates; to
do that honestly they must know how many signatures, verifications, AES-GCM packets and key
wraps a run really performs, not assume a per-attestation model. Every call site in
:mod:`sim.domain` that invokes :mod:`cryptography` adds one to its kind here. The counts are
process-wide, never feed back into the model, and cost one dictionary update per operation
(AES-GCM stream packets: two list updates in place, see :data:`SEALED`).

What the counting costs (process time, timeit): :func:`count` ~0.3 us a call; a stream
packet counted in place in :data:`SEALED` / :data:`OPENED` ~0.08 us, against ~0.6 us for
the two :func:`count` calls it replaces, paid on every one of a migration's thousands of
packets.
"""

from __future__ import annotations

from collections import Counter

#: The kinds counted: public-key operations, AEAD packets (and their bytes), key wraps.
KINDS = (
    "ecdsa_sign",
    "ecdsa_verify",
    "x509_sign",
    "ecdh",
    "rsa_oaep_encrypt",
    "rsa_oaep_decrypt",
    "aesgcm_seal",
    "aesgcm_seal_bytes",
    "aesgcm_open",
    "aesgcm_open_bytes",
    "aes_key_wrap",
    "aes_key_unwrap",
)

_COUNTS: Counter[str] = Counter()


def count(kind: str, n: int = 1) -> None:
    """Add ``n`` operations of ``kind`` (one of :data:`KINDS`)."""
    _COUNTS[kind] += n


SEALED = [0, 0]
"""AES-GCM packets sealed and their payload bytes: a stream adds to this pair in place, per
packet, which costs less than a call (a migration seals thousands of packets)."""
OPENED = [0, 0]
"""AES-GCM packets opened (authentic or not) and their payload bytes, like :data:`SEALED`."""


def snapshot() -> dict[str, int]:
    """The counts so far, every kind present (0 when never seen)."""
    out = {kind: _COUNTS[kind] for kind in KINDS}
    for kind, (packets, nbytes) in (("aesgcm_seal", SEALED), ("aesgcm_open", OPENED)):
        out[kind] += packets
        out[kind + "_bytes"] += nbytes
    return out


def reset() -> None:
    """Forget every count (a benchmark calls this before the run it measures)."""
    _COUNTS.clear()
    SEALED[:] = [0, 0]
    OPENED[:] = [0, 0]
