"""The cryptographic operation counts the benchmarks divide by: each counted call site adds
exactly its own operations, so a benchmark's crypto-bound rate rests on real counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.domain import opcount, pki
from sim.domain.key_hierarchy import unwrap_kek, wrap_kek
from sim.domain.stream_cipher import MigrationSecret, NonceLedger, StreamOpener, encrypt_stream


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    opcount.reset()
    yield
    opcount.reset()


def test_sign_and_verify_are_counted_one_each() -> None:
    key = pki.derive_p256_key(b"seed", "count")
    signature = pki.sign(key, b"data")
    assert pki.verify(key.public_key(), signature, b"data")
    assert not pki.verify(key.public_key(), signature, b"tampered")  # a failed verify counts too
    counts = opcount.snapshot()
    assert counts["ecdsa_sign"] == 1 and counts["ecdsa_verify"] == 2
    assert sum(counts.values()) == 3


def test_stream_packets_and_their_payload_bytes_are_counted() -> None:
    secret = MigrationSecret.generate(lambda n: bytes(range(n)))
    payload = bytes(1000)
    packets = encrypt_stream(secret, "vm/mig", payload, 256, NonceLedger())
    opener = StreamOpener(secret, "vm/mig")
    assert b"".join(opener.open(p) for p in packets) == payload
    counts = opcount.snapshot()
    assert counts["aesgcm_seal"] == counts["aesgcm_open"] == len(packets) == 4
    assert counts["aesgcm_seal_bytes"] == counts["aesgcm_open_bytes"] == len(payload)
    opcount.reset()  # the streams' in-place tallies are forgotten too
    assert set(opcount.snapshot().values()) == {0}


def test_key_wraps_are_counted_and_reset_forgets() -> None:
    primary, kek = bytes(range(32)), bytes(range(32, 64))
    assert unwrap_kek(primary, wrap_kek(primary, kek)) == kek
    assert opcount.snapshot()["aes_key_wrap"] == opcount.snapshot()["aes_key_unwrap"] == 1
    opcount.reset()
    assert set(opcount.snapshot().values()) == {0}
    assert set(opcount.snapshot()) == set(opcount.KINDS)
