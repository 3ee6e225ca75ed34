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

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.domain.stream_cipher import (
    MigrationSecret,
    NonceLedger,
    Packet,
    StreamOpener,
    StreamSealer,
)
from sim.errors import StreamRejected
from sim.processes.context import Context
from sim.scenario.model import VMotion

if TYPE_CHECKING:
    from sim.processes.host import TrustedHost
    from sim.processes.inventory import Vm


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


class Migrator:
    """Moves running VMs between hosts: the destination's key fetch for an encrypted VM,
    the pre-copy in simulated time, the real encrypted sample stream, and the bookkeeping
    of both hosts. One per estate; each vCenter asks it to carry out its migrations."""

    def __init__(self, ctx: Context, spec: VMotion, dirty_rate: float, ledger: NonceLedger) -> None:
        self.env = ctx.env
        self.paths = ctx.paths
        self.spec = spec
        self.dirty_rate = dirty_rate
        self.ledger = ledger
        self._setup = ctx.sampler("vmotion.setup", spec.setup_time)
        self._switchover = ctx.sampler("vmotion.switchover", spec.switchover_time)
        self._ids: dict[str, int] = {}

    def move(
        self,
        vm: Vm,
        src: TrustedHost,
        dst: TrustedHost,
        row: dict[str, Any],
        owner: str,
        rng: np.random.Generator,
    ) -> Generator[Any, Any, None]:
        """Migrate ``vm`` from ``src`` to ``dst`` for vCenter ``owner`` (whose stream ``rng``
        draws the migration secret), filling in the ``migrations`` row ``row``."""
        vm.migrating = True
        epoch = vm.epoch
        boots = (src.boots, dst.boots)
        dst.used_memory += vm.memory
        try:
            ok = True
            if vm.needs_key:
                ok = yield from dst.obtain_key(vm, "vmotion")
            if not ok:
                row.update(outcome="failed", reason="vmotion.key_not_released", end=self.env.now)
                return
            bw = self.paths.bottleneck(src.node, dst.node)
            if vm.migrates_encrypted:
                bw = min(bw, self.spec.cipher_rate)
            plan = precopy(
                vm.memory,
                self.dirty_rate,
                bw,
                self.spec.switchover_threshold,
                self.spec.max_iterations,
                self._switchover(),
            )
            yield self.env.timeout(self._setup() + plan.duration)
            if vm.epoch != epoch or (src.boots, dst.boots) != boots or not (src.up and dst.up):
                row.update(outcome="failed", reason="vmotion.host_down", end=self.env.now)
                return
            payload = 0
            if vm.migrates_encrypted:
                self._ids[owner] = self._ids.get(owner, 0) + 1
                size = vm.memory if self.spec.payload == "full" else int(self.spec.payload)
                check = encrypted_transfer(
                    f"{owner}-m{self._ids[owner]}",
                    min(size, vm.memory),
                    int(self.spec.packet_size),
                    rng.bytes,
                    self.ledger,
                )
                if not check.intact:
                    row.update(outcome="failed", reason=check.reason, end=self.env.now)
                    return
                payload = check.payload_bytes
            src.vms.pop(vm.name, None)
            src.used_memory -= vm.memory
            dst.vms[vm.name] = vm
            vm.host = dst.name
            row.update(
                outcome="completed",
                reason="",
                end=self.env.now,
                duration_s=self.env.now - row["start"],
                iterations=plan.iterations,
                bytes_transferred=plan.bytes_transferred,
                payload_bytes=payload,
                bandwidth_Bps=bw,
            )
        finally:
            if vm.epoch == epoch:  # a VM powered off and on again may be moving anew
                vm.migrating = False
            if row["outcome"] != "completed":
                dst.used_memory -= vm.memory
