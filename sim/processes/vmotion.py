"""vMotion: the pre-copy model, its simulation over shared links, and the real encrypted
sample stream.

Pre-copy: iteration 1 sends all memory; each further iteration sends what the guest dirtied
during the previous one (dirty rate x its duration). Copying stops when the remaining dirty
memory is below the switch-over threshold or after ``max_iterations``; the VM is then stunned
while the rest is sent, plus a switch-over time. A stream that is encrypted is capped at the
cipher's throughput.

When the guest dirties memory at least as fast as the stream can send it, pre-copy cannot
converge (each pass leaves as much dirty as it sent); the migration then *stuns and copies*:
the VM is stopped at once and its whole memory (or what is left) sent while stunned, so the
downtime is that memory / bandwidth + switch-over. (Real ESXi slows such a guest with Stun
During Page Send; this model takes the conservative end of that trade-off: a modelling
choice.)

Concurrent migrations share the links they cross (:mod:`sim.processes.bandwidth`), so a
stream's rate changes while it runs; :class:`Migrator` follows the iterations in simulated
time. :func:`precopy` is the same schedule at a constant bandwidth, in closed form, for
reference. A migration's ``duration_s`` runs from the start of its setup to the end of the
switch-over; the destination's key fetch before it is recorded as ``key_fetch_s``, and the
wait for a migration slot on either host (``max_concurrent_per_host``) as ``queued_s``.

Simulated time follows this model, never the wall clock. The encryption itself is real: a
per-migration 256-bit key and 64-bit nonce from the vCenter's random stream, the payload
(a sample of synthetic guest pages, or the whole memory with ``payload: full``) sealed
packet by packet with AES-256-GCM, opened and compared at the destination.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, overload

from sim.domain.reasons import Reason
from sim.domain.stream_cipher import (
    MigrationSecret,
    NonceLedger,
    Packet,
    StreamOpener,
    StreamSealer,
)
from sim.errors import StreamRejected
from sim.processes.bandwidth import SharedLinks, Stream
from sim.processes.context import Context
from sim.processes.network import Unreachable
from sim.processes.services import Lock
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
    mode: str = "precopy"
    sending: float = 0.0  # seconds spent sending (the mean rate is bytes / sending)


def precopy(
    memory: int,
    dirty_rate: float,
    bandwidth: float,
    threshold: int,
    max_iterations: int,
    switchover_time: float,
) -> Precopy:
    """The pre-copy schedule for ``memory`` bytes at a constant ``bandwidth`` bytes/s."""
    if bandwidth <= 0:
        raise ValueError("bandwidth must be positive")
    if dirty_rate >= bandwidth:
        downtime = memory / bandwidth + switchover_time
        return Precopy(downtime, 0, int(memory), downtime, "stun_and_copy", memory / bandwidth)
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
    sending = elapsed + remaining / bandwidth
    return Precopy(
        elapsed + downtime, iterations, int(sent + remaining), downtime, "precopy", sending
    )


STREAM_CORRUPT = Reason.STREAM_CORRUPT.text
COMPLETED = "completed"


@dataclass(frozen=True)
class Moved:
    """How a migration ended, as the vMotion engine reports it to the vCenter: the outcome
    (``completed`` or ``failed``) and reason, the destination's key fetch and the wait for
    migration slots (None: not reached), and what a completed one measured."""

    outcome: str
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)


class MoveProgress(Protocol):
    """Who follows a migration under way (the vCenter's migration draft, so a migration
    still running at the end of the run is recorded with what it reached)."""

    def key_fetched(self, seconds: float) -> None:
        """The destination has the VM's key, ``seconds`` after the migration began."""

    def slots_taken(self, seconds: float) -> None:
        """Both hosts' migration slots were taken after waiting ``seconds``."""


class StreamCheck(NamedTuple):
    """What the destination saw of the encrypted sample stream (a named tuple: one is
    made per migration, for less than a frozen dataclass costs)."""

    payload_bytes: int
    packets: int
    intact: bool
    reason: str | None


@lru_cache(maxsize=8)
def synthetic_pages(size: int) -> bytes:
    """``size`` bytes of stand-in guest memory: SHA-256 in counter mode over a fixed label,
    so they look random to the cipher but cost nothing per migration (only the key and
    nonce need to be fresh; AES-GCM's speed does not depend on the plaintext). Cached per
    size: making 1 MiB costs ~36 ms, which would otherwise be paid by every migration."""
    blocks = (
        hashlib.sha256(b"vtasim/vmotion/pages" + i.to_bytes(8, "big")).digest()
        for i in range(-(-size // 32))
    )
    return b"".join(blocks)[:size]


class _Chunks(Sequence[bytes]):
    """A payload of ``size`` bytes cut into packets of ``packet`` bytes of ``pages``: as
    many whole packets as fit, then the rest (a payload of 0 bytes is one empty packet).
    Held as counts, not as a list: a full migration of a large VM is millions of packets."""

    def __init__(self, pages: bytes, size: int, packet: int) -> None:
        self._pages = pages
        self._whole, rest = divmod(size, packet)
        self._tail = [pages[:rest]] if rest or not self._whole else []
        self.last = self._tail[0] if self._tail else pages

    def __len__(self) -> int:
        return self._whole + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        return chain(repeat(self._pages, self._whole), self._tail)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        k = index + len(self) if index < 0 else index
        if not 0 <= k < len(self):
            raise IndexError(index)
        return self._pages if k < self._whole else self._tail[0]


def encrypted_transfer(
    migration_id: str,
    payload_size: int,
    packet_size: int,
    random_bytes: Callable[[int], bytes],
    ledger: NonceLedger,
    tamper: Callable[[bytes], bytes] | None = None,
    received: bytearray | None = None,
    sealed: bytearray | None = None,
) -> StreamCheck:
    """Seal ``payload_size`` bytes of synthetic pages (:func:`synthetic_pages`) under a
    fresh migration secret drawn from ``random_bytes``, open them at the destination and
    check they arrive intact. Every packet is authenticated (GCM) and ordered by the
    opener, which rejects any altered, replayed or missing one, so each opened packet is
    the one sealed; the receive buffer is also compared with the final packet's pages,
    which checks the buffer's handling (the final packet may be shorter) without a
    comparison per packet. The sealer seals each packet as the opener asks for it, so
    one ciphertext is alive at a time. ``tamper`` (tests only) may alter each packet's
    wire bytes in flight. ``received`` is the destination's receive buffer, which a
    caller may keep from one migration to the next (its content is overwritten), and
    ``sealed`` likewise the sender's buffer that each packet is sealed into."""
    secret = MigrationSecret.generate(random_bytes)
    sealer = StreamSealer(secret, migration_id, ledger)
    opener = StreamOpener(secret, migration_id)
    pages = synthetic_pages(min(packet_size, max(payload_size, 1)))
    chunks = _Chunks(pages, payload_size, packet_size)
    if received is None:
        received = bytearray(len(pages))  # one receive buffer for the whole stream
    packets: Iterator[Packet]
    if tamper is not None:
        packets = (Packet.from_bytes(tamper(p.to_bytes())) for p in sealer.seal_all(chunks))
    else:  # sealed one at a time, as the opener asks, into one buffer
        packets = sealer.seal_all(chunks, into=bytearray() if sealed is None else sealed)
    try:
        opener.receive_into(packets, received)
        opener.close()
    except StreamRejected as exc:
        return StreamCheck(opener.bytes_received, opener.packets, False, exc.reason)
    if received != chunks.last:
        return StreamCheck(opener.bytes_received, opener.packets, False, STREAM_CORRUPT)
    return StreamCheck(opener.bytes_received, opener.packets, True, None)


class Migrator:
    """Moves running VMs between hosts: the destination's key fetch for an encrypted VM,
    setup, the pre-copy iterations over shared links in simulated time, the real encrypted
    sample stream, and the bookkeeping of both hosts. One per estate; each vCenter asks it
    to carry out its migrations."""

    def __init__(self, ctx: Context, spec: VMotion, dirty_rate: float, ledger: NonceLedger) -> None:
        self.env = ctx.env
        self.ctx = ctx
        self.spec = spec
        self.dirty_rate = dirty_rate
        self.ledger = ledger
        self.links = SharedLinks(ctx.env, ctx.paths)
        self._ids: dict[str, int] = {}
        self._hosts: dict[str, Lock] = {}
        self._received = bytearray()  # the sample streams' receive buffer, reused
        self._sealed = bytearray()  # and the buffer their packets are sealed into

    def _slots(self, host: TrustedHost) -> Lock:
        """The migration slots of ``host`` (``max_concurrent_per_host``; a free one is taken
        without a SimPy event)."""
        slots = self._hosts.get(host.name)
        if slots is None:
            slots = Lock(self.env, self.spec.max_concurrent_per_host)
            self._hosts[host.name] = slots
        return slots

    def copy(self, vm: Vm, stream: Stream) -> Generator[Any, Any, Precopy]:
        """Pre-copy (or stun-and-copy) ``vm``'s memory over ``stream``; the schedule as
        it happened, switch-over included."""
        env, memory = self.env, float(vm.memory)
        switchover = self.ctx.sampler(f"vm.{vm.name}.switchover", self.spec.switchover_time, 4)()
        start, remaining, sent, iterations, mode = env.now, memory, 0.0, 0, "precopy"
        while True:
            if self.dirty_rate >= stream.rate:
                mode = "stun_and_copy"
                break
            iterations += 1
            began = env.now
            yield from self.links.send(stream, remaining)
            sent += remaining
            remaining = min(memory, self.dirty_rate * (env.now - began))
            if (
                remaining <= self.spec.switchover_threshold
                or iterations >= self.spec.max_iterations
            ):
                break
        stunned = env.now
        yield from self.links.send(stream, remaining)
        sending = env.now - start
        yield env.timeout(switchover)
        total = int(sent + remaining)
        return Precopy(env.now - start, iterations, total, env.now - stunned, mode, sending)

    def move(
        self,
        vm: Vm,
        src: TrustedHost,
        dst: TrustedHost,
        owner: str,
        random_bytes: Callable[[int], bytes],
        progress: MoveProgress,
    ) -> Generator[Any, Any, Moved]:
        """Migrate ``vm`` from ``src`` to ``dst`` for vCenter ``owner`` (whose stream's
        ``random_bytes`` draw the migration secret), telling ``progress`` its steps: the
        outcome, for the vCenter to record
        and to do its own bookkeeping with (the VM, both hosts' memory and VMs are the
        vCenter's and the hosts' to change, not the engine's)."""
        start, epoch = self.env.now, vm.epoch
        boots = (src.boots, dst.boots)
        if vm.needs_key:
            ok = yield from dst.obtain_key(vm, "vmotion")
            progress.key_fetched(self.env.now - start)
            if not ok:
                return Moved("failed", Reason.VMOTION_KEY_NOT_RELEASED.text)
        queued = self.env.now
        first, second = (src, dst) if src.name < dst.name else (dst, src)  # no deadlock
        with contextlib.ExitStack() as slots:
            for h in (first, second):  # the second is asked for once the first is held
                turn = slots.enter_context(self._slots(h).slot())
                if turn.pending is not None:
                    yield turn.pending
            progress.slots_taken(self.env.now - queued)
            began = self.env.now
            setup = self.ctx.sampler(f"vm.{vm.name}.vmotion-setup", self.spec.setup_time, 4)()
            yield self.env.timeout(setup)
            cap = self.spec.cipher_rate if vm.migrates_encrypted else float("inf")
            try:
                stream = self.links.open(src.node, dst.node, cap)
            except Unreachable:
                return Moved("failed", Reason.VMOTION_UNREACHABLE.text)
            try:
                plan = yield from self.copy(vm, stream)
            finally:
                self.links.close(stream)
        if vm.epoch != epoch or (src.boots, dst.boots) != boots or not (src.up and dst.up):
            return Moved("failed", Reason.VMOTION_HOST_DOWN.text)
        payload = 0
        if vm.migrates_encrypted:
            self._ids[owner] = self._ids.get(owner, 0) + 1
            size = vm.memory if self.spec.payload == "full" else int(self.spec.payload)
            check = encrypted_transfer(
                f"{owner}-m{self._ids[owner]}",
                min(size, vm.memory),
                int(self.spec.packet_size),
                random_bytes,
                self.ledger,
                received=self._received,
                sealed=self._sealed,
            )
            if not check.intact:
                return Moved("failed", check.reason or STREAM_CORRUPT)
            payload = check.payload_bytes
        measured = {
            "duration_s": self.env.now - began,
            "downtime_s": plan.downtime,
            "mode": plan.mode,
            "iterations": plan.iterations,
            "bytes_transferred": plan.bytes_transferred,
            "payload_bytes": payload,
            "bandwidth_Bps": plan.bytes_transferred / plan.sending if plan.sending > 0 else None,
        }
        return Moved(COMPLETED, "", measured)
