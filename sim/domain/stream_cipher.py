"""The encrypted vMotion stream: AES-256-GCM packets under a per-migration key and nonce.

For each migration vCenter generates a random 256-bit key and a random 64-bit nonce and
hands both to source and destination. The source cuts the memory stream into packets and
seals packet ``i`` with AES-256-GCM under the 96-bit IV ``nonce (8 bytes) || i (4 bytes,
big-endian)``. The associated data binds each packet to its migration, position and role::

    AAD = b"vtasim/vmotion/v1" || len(migration_id) (2 bytes, big-endian)
          || migration_id (UTF-8) || i (4 bytes, big-endian) || final (1 byte, 0 or 1)

so a packet cannot be moved to another migration, another position or made (or unmade) the
last one without failing authentication. The receiver accepts packets strictly in order:
replays, gaps (a dropped or reordered packet), packets after the final one and a stream
that ends without its final packet are each rejected with their own reason
(``vmotion.stream.*``, raised as ``StreamRejected``).

GCM is broken if one (key, IV) pair ever protects two messages. Two guards prevent that:
a sealer refuses to go past the 32-bit counter, and every sealer claims its (key, nonce)
in a ``NonceLedger`` that refuses a second claim. The ledger is an explicit object, one per
simulated estate, so two runs in one process never see each other's secrets.

Wire form of a packet: version (1 byte, 1), flags (1 byte, bit 0 = final), index (4 bytes),
migration id length (2 bytes) and UTF-8 migration id, then ciphertext with its 16-byte tag.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sim.domain.opcount import OPENED, SEALED
from sim.domain.reasons import Reason
from sim.errors import CryptoMisuseError, NonceReuseError, StreamRejected

KEY_BYTES = 32
NONCE_BYTES = 8
TAG_BYTES = 16
MAX_INDEX = 2**32 - 1
WIRE_VERSION = 1
AAD_LABEL = b"vtasim/vmotion/v1"

STREAM_AUTH_FAILED = Reason.STREAM_AUTH_FAILED.text
STREAM_REPLAYED = Reason.STREAM_REPLAYED.text
STREAM_OUT_OF_ORDER = Reason.STREAM_OUT_OF_ORDER.text
STREAM_WRONG_MIGRATION = Reason.STREAM_WRONG_MIGRATION.text
STREAM_AFTER_FINAL = Reason.STREAM_AFTER_FINAL.text
STREAM_TRUNCATED = Reason.STREAM_TRUNCATED.text
STREAM_MALFORMED = Reason.STREAM_MALFORMED.text

_FLAG_FINAL = 0x01
_HEADER_FIXED = 8
_COUNTER = struct.Struct(">I").pack  # a packet index as its 4 big-endian IV/AAD bytes
_FINAL = (b"\x00", b"\x01")  # the AAD's final byte, indexed by the final flag


def _fit(buffer: bytearray, size: int) -> None:
    """Make ``buffer`` exactly ``size`` bytes long (a packet's ciphertext or plaintext),
    keeping its storage when the size does not change (every whole packet)."""
    if len(buffer) > size:
        del buffer[size:]
    elif len(buffer) < size:
        buffer.extend(bytes(size - len(buffer)))


def _migration_bytes(migration_id: str) -> bytes:
    encoded = migration_id.encode("utf-8")
    if not encoded or len(encoded) > 0xFFFF:
        raise ValueError("migration id must be 1..65535 bytes of UTF-8")
    return encoded


def _aad_prefix(migration_id: str) -> bytes:
    """The part of every packet's associated data that depends only on the migration
    (each sealer and opener computes it once, not per packet)."""
    mid = _migration_bytes(migration_id)
    return AAD_LABEL + len(mid).to_bytes(2, "big") + mid


@dataclass(frozen=True)
class MigrationSecret:
    """The per-migration key (32 bytes) and nonce (8 bytes) vCenter gives both hosts."""

    key: bytes = field(repr=False)
    nonce: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise ValueError("the migration key must be 32 bytes")
        if not isinstance(self.nonce, bytes) or len(self.nonce) != NONCE_BYTES:
            raise ValueError("the migration nonce must be 8 bytes")

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes]) -> MigrationSecret:
        """A fresh secret: 32 key bytes, then 8 nonce bytes, from ``random_bytes``."""
        return cls(key=random_bytes(KEY_BYTES), nonce=random_bytes(NONCE_BYTES))


class NonceLedger:
    """Every (key, nonce) pair handed to a sealer, remembered as SHA-256(key || nonce)."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    @staticmethod
    def _digest(secret: MigrationSecret) -> bytes:
        return hashlib.sha256(secret.key + secret.nonce).digest()

    def claim(self, secret: MigrationSecret) -> None:
        """Record the pair; raises NonceReuseError if it was claimed before."""
        digest = self._digest(secret)
        if digest in self._seen:
            raise NonceReuseError("this (key, nonce) pair has already sealed a stream")
        self._seen.add(digest)

    def __contains__(self, secret: object) -> bool:
        return isinstance(secret, MigrationSecret) and self._digest(secret) in self._seen

    def __len__(self) -> int:
        return len(self._seen)


class Packet(NamedTuple):
    """One sealed packet of a migration stream; ``ciphertext`` includes the GCM tag. (A
    named tuple: immutable, and made thousands of times per migration for less than a
    frozen dataclass costs.)"""

    migration_id: str
    index: int  # type: ignore[assignment]  # the field shadows tuple.index, on purpose
    final: bool
    ciphertext: bytes | bytearray  # a bytearray: the sealer's buffer, sealed ``into`` it

    def to_bytes(self) -> bytes:
        """The wire form (layout in the module docstring)."""
        mid = _migration_bytes(self.migration_id)
        return (
            bytes((WIRE_VERSION, _FLAG_FINAL if self.final else 0))
            + self.index.to_bytes(4, "big")
            + len(mid).to_bytes(2, "big")
            + mid
            + self.ciphertext
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Packet:
        """Parse the wire form; raises StreamRejected(``vmotion.stream.malformed``)."""
        if len(data) < _HEADER_FIXED:
            raise StreamRejected(STREAM_MALFORMED, "packet shorter than its header")
        version, flags = data[0], data[1]
        if version != WIRE_VERSION or flags & ~_FLAG_FINAL:
            raise StreamRejected(STREAM_MALFORMED, f"version {version}, flags {flags:#x}")
        index = int.from_bytes(data[2:6], "big")
        end = _HEADER_FIXED + int.from_bytes(data[6:8], "big")
        if end > len(data) or end == _HEADER_FIXED:
            raise StreamRejected(STREAM_MALFORMED, "bad migration id length")
        try:
            migration_id = data[_HEADER_FIXED:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StreamRejected(STREAM_MALFORMED, "migration id is not UTF-8") from exc
        return cls(migration_id, index, bool(flags & _FLAG_FINAL), bytes(data[end:]))


class StreamSealer:
    """The sending side of one migration: seals packets 0, 1, 2, ... in order.

    Construction claims the secret in ``ledger`` (NonceReuseError if already used).
    ``max_index`` is the last counter value allowed (2**32 - 1; lower it only in tests).
    """

    def __init__(
        self,
        secret: MigrationSecret,
        migration_id: str,
        ledger: NonceLedger,
        *,
        max_index: int = MAX_INDEX,
    ) -> None:
        self._aad = _aad_prefix(migration_id)  # checks the id before the secret is claimed
        if not 0 <= max_index <= MAX_INDEX:
            raise ValueError("max_index must fit the 32-bit counter")
        ledger.claim(secret)
        self.migration_id = migration_id
        self._nonce = secret.nonce
        aead = AESGCM(secret.key)
        self._encrypt, self._encrypt_into = aead.encrypt, aead.encrypt_into
        self._max_index = max_index
        self._next = 0
        self._finished = False

    @property
    def packets(self) -> int:
        """Packets sealed so far."""
        return self._next

    def seal(self, payload: bytes, final: bool = False) -> Packet:
        """Seal the next packet; after a final packet nothing more may be sealed."""
        return next(self.seal_all((payload,), final=final))

    def seal_all(
        self, payloads: Sequence[bytes], final: bool = True, into: bytearray | None = None
    ) -> Iterator[Packet]:
        """Seal ``payloads`` as the next packets, one each time the caller asks for the
        next, so a receiver can open each before the next is sealed (a warm cache, one
        ciphertext alive at a time). With ``final`` the last of them ends the stream.

        With ``into`` every packet's ciphertext is sealed into that one buffer (resized to
        each), so a packet is valid only until the next is asked for: no ciphertext is
        allocated, nor zeroed first as a fresh one is, per packet (about a tenth of
        AES-GCM's time on a 64 KiB packet). The bytes are those of a fresh ciphertext.

        This is the stream's one sealing loop (:meth:`seal` is a one-packet call of it),
        with what it needs in local names: a migration seals thousands of packets, and
        an attribute lookup per packet costs a measurable share of AES-GCM's time."""
        encrypt, nonce, aad, migration_id = self._encrypt, self._nonce, self._aad, self.migration_id
        encrypt_into = self._encrypt_into
        last = len(payloads) - 1 if final else -1
        new, tally, counter_of, flag, limit = (
            tuple.__new__,
            SEALED,
            _COUNTER,
            _FINAL,
            self._max_index,
        )
        for k, payload in enumerate(payloads):
            index = self._next  # read each time: a caller may seal() between two of these
            if self._finished or index > limit:
                self._refuse()
            counter = counter_of(index)
            is_final = k == last
            tally[0] += 1
            tally[1] += len(payload)
            self._next = index + 1
            self._finished = is_final
            ciphertext: bytes | bytearray
            if into is None:
                ciphertext = encrypt(nonce + counter, payload, aad + counter + flag[is_final])
            else:
                _fit(into, len(payload) + TAG_BYTES)
                encrypt_into(nonce + counter, payload, aad + counter + flag[is_final], into)
                ciphertext = into
            yield new(Packet, (migration_id, index, is_final, ciphertext))

    def _refuse(self) -> NoReturn:
        """Why the next packet may not be sealed (kept off :meth:`seal`'s common path)."""
        if self._finished:
            raise CryptoMisuseError(f"stream {self.migration_id} already ended")
        raise NonceReuseError("the 32-bit packet counter would wrap and reuse an IV")


class StreamOpener:
    """The receiving side of one migration: authenticates and orders incoming packets."""

    def __init__(self, secret: MigrationSecret, migration_id: str) -> None:
        self._aad = _aad_prefix(migration_id)
        self.migration_id = migration_id
        self._nonce = secret.nonce
        self._decrypt_into = AESGCM(secret.key).decrypt_into
        self._expected = 0
        self._finished = False
        self.bytes_received = 0

    @property
    def packets(self) -> int:
        """Packets accepted so far."""
        return self._expected

    @property
    def finished(self) -> bool:
        """True once the final packet was accepted."""
        return self._finished

    def open(self, packet: Packet) -> bytes:
        """Authenticate ``packet`` and return its payload if it is the next one expected.

        Ordering is judged only for packets that authenticate, so a forged header is
        reported as ``auth_failed`` rather than as a replay or a gap.
        """
        buffer = bytearray()
        self.open_into(packet, buffer)
        return bytes(buffer)

    def open_into(self, packet: Packet, buffer: bytearray) -> None:
        """Like :meth:`open`, but decrypt into ``buffer``, which is resized to the payload.
        ``buffer`` holds nothing trustworthy if this raises."""
        self.receive_into((packet,), buffer)

    def receive_into(self, packets: Iterable[Packet], buffer: bytearray) -> None:
        """Open ``packets`` in turn, each into ``buffer`` (resized to each payload), as
        :meth:`open` would; stops at the first rejected one with its reason.

        A receiver that reuses one buffer for a whole stream allocates no plaintext per
        packet, which keeps the buffer in cache (``benchmarks/run.py`` sets the stream
        against bare AES-GCM). After the call ``buffer`` holds the last packet's payload;
        it holds nothing trustworthy if this raises. This is the stream's one opening
        loop (:meth:`open` and :meth:`open_into` are one-packet calls of it), with its
        checks written out and what it needs in local names: a migration opens thousands
        of packets, and a call or an attribute lookup costs about as much as a check.
        """
        decrypt_into, nonce, aad, ours = (
            self._decrypt_into,
            self._nonce,
            self._aad,
            self.migration_id,
        )
        expected, finished, accepted = self._expected, self._finished, 0
        opened = opened_bytes = 0
        counter_of, flag = _COUNTER, _FINAL
        try:
            for migration_id, index, final, ciphertext in packets:
                if migration_id != ours:
                    raise StreamRejected(STREAM_WRONG_MIGRATION, f"{migration_id!r} on {ours!r}")
                if not 0 <= index <= MAX_INDEX:
                    raise StreamRejected(STREAM_MALFORMED, f"index {index} out of range")
                size = len(ciphertext) - TAG_BYTES
                opened += 1  # counted as opened whether or not it authenticates
                if size < 0:
                    raise StreamRejected(STREAM_AUTH_FAILED, f"packet {index}")
                opened_bytes += size
                _fit(buffer, size)
                counter = counter_of(index)
                try:
                    decrypt_into(nonce + counter, ciphertext, aad + counter + flag[final], buffer)
                except InvalidTag as exc:
                    raise StreamRejected(STREAM_AUTH_FAILED, f"packet {index}") from exc
                del ciphertext  # free it before the next packet is sealed
                if finished or index != expected:
                    _reject_order(index, expected, finished)
                expected = index + 1
                finished = final
                accepted += size
        finally:  # the stream's state and the counts, also when a packet is rejected
            self._expected, self._finished = expected, finished
            self.bytes_received += accepted
            OPENED[0] += opened
            OPENED[1] += opened_bytes

    def close(self) -> None:
        """End of transport: raises ``vmotion.stream.truncated`` unless the final packet
        arrived."""
        if not self._finished:
            raise StreamRejected(STREAM_TRUNCATED, f"after {self._expected} packets")


def _reject_order(index: int, expected: int, finished: bool) -> NoReturn:
    """Why an authenticated packet is not the next one (off the opening loop's path)."""
    if finished:
        raise StreamRejected(STREAM_AFTER_FINAL, f"packet {index}")
    if index < expected:
        raise StreamRejected(STREAM_REPLAYED, f"packet {index} already accepted")
    raise StreamRejected(STREAM_OUT_OF_ORDER, f"packet {index}, expected {expected}")


def encrypt_stream(
    secret: MigrationSecret,
    migration_id: str,
    payload: bytes,
    packet_size: int,
    ledger: NonceLedger,
) -> list[Packet]:
    """Seal ``payload`` as packets of at most ``packet_size`` bytes; the last is final
    (an empty payload is one empty final packet)."""
    if packet_size <= 0:
        raise ValueError("packet_size must be positive")
    sealer = StreamSealer(secret, migration_id, ledger)
    chunks = [payload[i : i + packet_size] for i in range(0, len(payload), packet_size)]
    return list(sealer.seal_all(chunks or [b""]))


def decrypt_stream(secret: MigrationSecret, migration_id: str, packets: Iterable[Packet]) -> bytes:
    """Open every packet in order and check the stream was complete."""
    opener = StreamOpener(secret, migration_id)
    payload = b"".join(opener.open(packet) for packet in packets)
    opener.close()
    return payload
