"""Tests for the encrypted vMotion stream (AES-256-GCM packets)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain import opcount
from sim.domain.stream_cipher import (
    STREAM_AFTER_FINAL,
    STREAM_AUTH_FAILED,
    STREAM_MALFORMED,
    STREAM_OUT_OF_ORDER,
    STREAM_REPLAYED,
    STREAM_TRUNCATED,
    STREAM_WRONG_MIGRATION,
    MigrationSecret,
    NonceLedger,
    Packet,
    StreamOpener,
    StreamSealer,
    decrypt_stream,
    encrypt_stream,
)
from sim.errors import CryptoMisuseError, NonceReuseError, StreamRejected


def _random(seed: bytes) -> Callable[[int], bytes]:
    counter = [0]

    def source(n: int) -> bytes:
        counter[0] += 1
        return hashlib.sha256(seed + counter[0].to_bytes(4, "big")).digest()[:n]

    return source


def _secret(seed: bytes = b"m1") -> MigrationSecret:
    return MigrationSecret.generate(_random(seed))


def _packets(n: int = 4, seed: bytes = b"m1", mid: str = "vm-42/mig-1") -> list[Packet]:
    payload = bytes(range(256)) * 4
    packets = encrypt_stream(_secret(seed), mid, payload[: 16 * n], 16, NonceLedger())
    assert len(packets) == n
    return packets


def _reject(opener: StreamOpener, packet: Packet) -> str:
    with pytest.raises(StreamRejected) as info:
        opener.open(packet)
    return info.value.reason


def _flip(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1 :]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 700))
def test_round_trip(payload: bytes, packet_size: int) -> None:
    """Any payload cut into any packet size decrypts to itself, final flag on the last."""
    secret = _secret()
    packets = encrypt_stream(secret, "mig", payload, packet_size, NonceLedger())
    assert [p.index for p in packets] == list(range(len(packets)))
    assert [p.final for p in packets] == [False] * (len(packets) - 1) + [True]
    assert all(len(p.ciphertext) <= packet_size + 16 for p in packets)
    wire = [Packet.from_bytes(p.to_bytes()) for p in packets]
    assert wire == packets
    assert decrypt_stream(secret, "mig", wire) == payload


def test_opener_counts_and_same_secret_gives_same_ciphertext() -> None:
    """The opener counts packets and bytes; sealing is deterministic for a given secret."""
    packets = _packets(3)
    opener = StreamOpener(_secret(), "vm-42/mig-1")
    for packet in packets:
        opener.open(packet)
    opener.close()
    assert (opener.packets, opener.bytes_received, opener.finished) == (3, 48, True)
    assert _packets(3) == packets


def test_iv_and_aad_match_an_independent_aesgcm_decrypt() -> None:
    """Packet i decrypts with plain AESGCM under IV nonce || i (4 bytes BE) and the
    documented associated data."""
    secret = _secret()
    mid = "vm-42/mig-1"
    packets = _packets(3)
    for packet in packets:
        iv = secret.nonce + packet.index.to_bytes(4, "big")
        aad = (
            b"vtasim/vmotion/v1"
            + len(mid.encode()).to_bytes(2, "big")
            + mid.encode()
            + packet.index.to_bytes(4, "big")
            + bytes([packet.final])
        )
        plain = AESGCM(secret.key).decrypt(iv, packet.ciphertext, aad)
        assert plain == (bytes(range(256)) * 4)[16 * packet.index : 16 * packet.index + 16]
    assert len({p.ciphertext[:16] for p in packets}) == 3


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_flipped_ciphertext_byte_fails_authentication(data: st.DataObject) -> None:
    """Flipping a bit in any byte of ciphertext or tag gives auth_failed."""
    packets = _packets(2)
    which = data.draw(st.integers(0, 1))
    pos = data.draw(st.integers(0, len(packets[which].ciphertext) - 1))
    opener = StreamOpener(_secret(), "vm-42/mig-1")
    if which == 1:
        opener.open(packets[0])
    bad = packets[which]._replace(ciphertext=_flip(packets[which].ciphertext, pos))
    assert _reject(opener, bad) == STREAM_AUTH_FAILED
    assert opener.packets == which


def test_wrong_key_and_truncated_tag_fail_authentication() -> None:
    """A receiver with another key, or a packet cut short, cannot authenticate it."""
    packet = _packets(1)[0]
    assert _reject(StreamOpener(_secret(b"other"), "vm-42/mig-1"), packet) == STREAM_AUTH_FAILED
    short = packet._replace(ciphertext=packet.ciphertext[:10])
    assert _reject(StreamOpener(_secret(), "vm-42/mig-1"), short) == STREAM_AUTH_FAILED


def test_replay_is_rejected() -> None:
    """Delivering an accepted packet again is a replay."""
    packets = _packets(3)
    opener = StreamOpener(_secret(), "vm-42/mig-1")
    opener.open(packets[0])
    opener.open(packets[1])
    assert _reject(opener, packets[0]) == STREAM_REPLAYED
    assert _reject(opener, packets[1]) == STREAM_REPLAYED
    assert opener.packets == 2


def test_drop_and_reorder_are_out_of_order() -> None:
    """A packet ahead of the next expected one (a drop or a reorder) is refused."""
    packets = _packets(4)
    opener = StreamOpener(_secret(), "vm-42/mig-1")
    assert _reject(opener, packets[1]) == STREAM_OUT_OF_ORDER
    opener.open(packets[0])
    assert _reject(opener, packets[2]) == STREAM_OUT_OF_ORDER
    assert [opener.open(p) for p in packets[1:]] == [
        bytes(range(16 * i, 16 * i + 16)) for i in (1, 2, 3)
    ]
    opener.close()
    assert opener.packets == 4


def test_missing_final_packet_is_truncated() -> None:
    """A stream closed before its final packet arrived is truncated."""
    packets = _packets(3)
    with pytest.raises(StreamRejected) as info:
        decrypt_stream(_secret(), "vm-42/mig-1", packets[:-1])
    assert info.value.reason == STREAM_TRUNCATED
    with pytest.raises(StreamRejected) as empty:
        StreamOpener(_secret(), "vm-42/mig-1").close()
    assert empty.value.reason == STREAM_TRUNCATED


def test_packets_after_final_are_rejected() -> None:
    """Once the final packet is in, even a genuine earlier packet is refused."""
    packets = _packets(2)
    opener = StreamOpener(_secret(), "vm-42/mig-1")
    for packet in packets:
        opener.open(packet)
    assert _reject(opener, packets[0]) == STREAM_AFTER_FINAL
    opener.close()


def test_cross_migration_splice_is_rejected() -> None:
    """A packet of another migration is refused by id, and relabelled it fails auth."""
    ours = _packets(2, seed=b"m1", mid="mig-A")
    theirs = _packets(2, seed=b"m2", mid="mig-B")
    opener = StreamOpener(_secret(b"m1"), "mig-A")
    opener.open(ours[0])
    assert _reject(opener, theirs[1]) == STREAM_WRONG_MIGRATION
    relabelled = theirs[1]._replace(migration_id="mig-A")
    assert _reject(opener, relabelled) == STREAM_AUTH_FAILED
    same_key_other_id = _packets(2, seed=b"m1", mid="mig-C")
    assert _reject(opener, same_key_other_id[1]._replace(migration_id="mig-A")) == (
        STREAM_AUTH_FAILED
    )
    opener.open(ours[1])
    opener.close()


def test_header_edits_fail_authentication() -> None:
    """Flipping the final flag or renumbering a packet into the expected slot fails auth."""
    packets = _packets(4)
    opener = StreamOpener(_secret(), "vm-42/mig-1")
    opener.open(packets[0])
    assert _reject(opener, packets[1]._replace(final=True)) == STREAM_AUTH_FAILED
    assert _reject(opener, packets[2]._replace(index=1)) == STREAM_AUTH_FAILED
    assert _reject(opener, packets[3]._replace(final=False)) == STREAM_AUTH_FAILED
    wire = bytearray(packets[1].to_bytes())
    wire[1] ^= 0x01
    assert _reject(opener, Packet.from_bytes(bytes(wire))) == STREAM_AUTH_FAILED
    assert opener.packets == 1


def test_malformed_wire_packets() -> None:
    """Short, unknown-version, bad-flag or bad-length wire packets are malformed."""
    good = _packets(1)[0].to_bytes()
    for bad in (
        good[:5],
        b"\x02" + good[1:],
        good[:1] + b"\x02" + good[2:],
        good[:6] + b"\xff\xff",
    ):
        with pytest.raises(StreamRejected) as info:
            Packet.from_bytes(bad)
        assert info.value.reason == STREAM_MALFORMED


def test_ledger_refuses_a_reused_key_and_nonce() -> None:
    """A second sealer on the same (key, nonce) is refused; other pairs are fine."""
    ledger = NonceLedger()
    secret = _secret()
    StreamSealer(secret, "mig-A", ledger)
    with pytest.raises(NonceReuseError):
        StreamSealer(secret, "mig-B", ledger)
    with pytest.raises(NonceReuseError):
        encrypt_stream(secret, "mig-C", b"data", 4, ledger)
    other_nonce = MigrationSecret(secret.key, b"\x00" * 8)
    StreamSealer(other_nonce, "mig-D", ledger)
    assert secret in ledger and other_nonce in ledger and len(ledger) == 2
    assert StreamSealer(secret, "mig-A", NonceLedger()).packets == 0
    assert secret.key.hex() not in repr(secret)


def test_counter_overflow_and_sealing_after_final() -> None:
    """The counter may not pass its limit, and nothing is sealed after the final packet."""
    sealer = StreamSealer(_secret(), "mig", NonceLedger(), max_index=2)
    assert [sealer.seal(b"x").index for _ in range(3)] == [0, 1, 2]
    with pytest.raises(NonceReuseError):
        sealer.seal(b"x")
    done = StreamSealer(_secret(b"m2"), "mig", NonceLedger())
    done.seal(b"last", final=True)
    with pytest.raises(CryptoMisuseError):
        done.seal(b"more")
    with pytest.raises(ValueError):
        StreamSealer(_secret(b"m3"), "mig", NonceLedger(), max_index=2**32)


def test_secret_lengths_are_validated() -> None:
    """Keys must be 32 bytes and nonces 8 bytes."""
    with pytest.raises(ValueError):
        MigrationSecret(bytes(31), bytes(8))
    with pytest.raises(ValueError):
        MigrationSecret(bytes(32), bytes(12))
    with pytest.raises(ValueError):
        MigrationSecret.generate(lambda n: bytes(n + 1))


def test_seal_all_and_seal_share_one_counter() -> None:
    """A seal() between two packets of seal_all takes the next index, and seal_all goes on
    after it: no IV is used twice, whichever way the packets are asked for."""
    secret = _secret()
    sealer = StreamSealer(secret, "mig", NonceLedger())
    stream = sealer.seal_all([b"a", b"b", b"c"])
    first = next(stream)
    middle = sealer.seal(b"x")
    rest = list(stream)
    assert [p.index for p in (first, middle, *rest)] == [0, 1, 2, 3]
    assert [p.final for p in (first, middle, *rest)] == [False, False, False, True]
    opener = StreamOpener(secret, "mig")
    assert [opener.open(p) for p in (first, middle, *rest)] == [b"a", b"x", b"b", b"c"]
    with pytest.raises(CryptoMisuseError):
        sealer.seal(b"after")


def test_seal_all_without_final_leaves_the_stream_open() -> None:
    sealer = StreamSealer(_secret(), "mig", NonceLedger())
    assert [p.final for p in sealer.seal_all([b"a", b"b"], final=False)] == [False, False]
    assert sealer.seal(b"c", final=True).index == 2


def test_receive_into_keeps_its_state_and_counts_after_a_rejection() -> None:
    """A rejected packet stops receive_into; the packets before it stay accepted, the
    counts include the rejected one (it was opened), and the stream can go on."""
    secret = _secret()
    packets = encrypt_stream(secret, "mig", bytes(range(64)), 16, NonceLedger())
    forged = packets[2]._replace(ciphertext=_flip(packets[2].ciphertext, 0))
    opener = StreamOpener(secret, "mig")
    before = opcount.snapshot()
    buffer = bytearray(b"stale contents, longer than one packet")
    with pytest.raises(StreamRejected) as info:
        opener.receive_into([packets[0], packets[1], forged, packets[3]], buffer)
    assert info.value.reason == STREAM_AUTH_FAILED
    assert (opener.packets, opener.bytes_received, opener.finished) == (2, 32, False)
    after = opcount.snapshot()
    assert after["aesgcm_open"] - before["aesgcm_open"] == 3
    assert after["aesgcm_open_bytes"] - before["aesgcm_open_bytes"] == 48
    opener.receive_into(packets[2:], buffer)
    assert bytes(buffer) == bytes(range(48, 64)) and opener.finished
    opener.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8), st.binary(max_size=50))
def test_receive_into_resizes_one_buffer_to_each_payload(
    payloads: list[bytes], stale: bytes
) -> None:
    """Whatever the buffer held and however the payload sizes vary, after each packet
    the buffer is exactly that packet's payload."""
    secret = _secret()
    sealer = StreamSealer(secret, "mig", NonceLedger())
    opener = StreamOpener(secret, "mig")
    buffer = bytearray(stale)
    for packet, payload in zip(sealer.seal_all(payloads), payloads, strict=True):
        opener.receive_into([packet], buffer)
        assert bytes(buffer) == payload
    opener.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8), st.binary(max_size=70))
def test_sealing_into_one_buffer_gives_each_fresh_ciphertext(
    payloads: list[bytes], stale: bytes
) -> None:
    """Sealed into one buffer (whatever it held, resized to each packet), each packet's
    ciphertext, read before the next is sealed, is the very bytes sealing it afresh gives,
    and the opener takes it."""
    fresh = [
        bytes(p.ciphertext)
        for p in StreamSealer(_secret(), "mig", NonceLedger()).seal_all(payloads)
    ]
    secret = _secret()
    opener = StreamOpener(secret, "mig")
    into = bytearray(stale)
    sealed = StreamSealer(secret, "mig", NonceLedger()).seal_all(payloads, into=into)
    for packet, expected, payload in zip(sealed, fresh, payloads, strict=True):
        assert packet.ciphertext is into and bytes(into) == expected
        assert opener.open(packet) == payload
    opener.close()
