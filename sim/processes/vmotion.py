"""vMotion: the pre-copy timing model and the real encrypted sample stream.

Pre-copy: iteration 1 sends all memory; each further iteration sends what the guest dirtied
during the previous one (dirty rate x its duration). Copying stops when the remaining dirty
memory is below the switch-over threshold or after ``max_iterations``; the VM is then stunned
while the rest is sent plus a fixed switch-over time. A stream that is encrypted is limited
by the lower of the path's bottleneck bandwidth and the cipher's throughput.

Simulated time follows this model, never the wall clock. The encryption itself is real: a
per-migration 256-bit key and 64-bit nonce from the vCenter's random stream, the payload
(a sample of synthetic guest pages, or the whole memory with ``payload: full``) sealed
packet by packet with AES-256-GCM, opened and compared at the destination.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.domain.stream_cipher import (
    MigrationSecret,
    NonceLedger,
    Packet,
    StreamOpener,
    StreamSealer,
)
from sim.errors import StreamRejected


@dataclass(frozen=True)
class Precopy:
    """Timing of one migration's memory copy."""

    duration: float
    iterations: int
    bytes_transferred: int
    downtime: float


def precopy(
    memory: int,
    dirty_rate: float,
    bandwidth: float,
    threshold: int,
    max_iterations: int,
    switchover_time: float,
) -> Precopy:
    """The pre-copy schedule for ``memory`` bytes at ``bandwidth`` bytes/s."""
    if bandwidth <= 0:
        raise ValueError("bandwidth must be positive")
    remaining = float(memory)
    elapsed = 0.0
    sent = 0.0
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        t = remaining / bandwidth
        elapsed += t
        sent += remaining
        remaining = min(float(memory), dirty_rate * t)
        if remaining <= threshold:
            break
    downtime = remaining / bandwidth + switchover_time
    return Precopy(elapsed + downtime, iterations, int(sent + remaining), downtime)


@dataclass(frozen=True)
class StreamCheck:
    """What the destination saw of the encrypted sample stream."""

    payload_bytes: int
    packets: int
    intact: bool
    reason: str | None


def encrypted_transfer(
    migration_id: str,
    payload_size: int,
    packet_size: int,
    random_bytes: Callable[[int], bytes],
    ledger: NonceLedger,
    tamper: Callable[[bytes], bytes] | None = None,
) -> StreamCheck:
    """Seal ``payload_size`` bytes of synthetic pages under a fresh migration secret, open
    them at the destination and check they arrive intact. ``tamper`` (tests only) may
    alter each packet's wire bytes in flight."""
    secret = MigrationSecret.generate(random_bytes)
    sealer = StreamSealer(secret, migration_id, ledger)
    opener = StreamOpener(secret, migration_id)
    sent = 0
    packets = 0
    page_source = random_bytes(min(packet_size, max(payload_size, 1)))
    try:
        while sent < payload_size or packets == 0:
            n = min(packet_size, payload_size - sent)
            chunk = page_source[:n]
            final = sent + n >= payload_size
            packet = sealer.seal(chunk, final=final)
            if tamper is not None:
                packet = Packet.from_bytes(tamper(packet.to_bytes()))
            if opener.open(packet) != chunk:
                return StreamCheck(sent, packets, False, "vmotion.stream.corrupt")
            sent += n
            packets += 1
            if final:
                break
        opener.close()
    except StreamRejected as exc:
        return StreamCheck(sent, packets, False, exc.reason)
    return StreamCheck(sent, packets, True, None)
