"""Machine limits: micro-benchmarks of SimPy and the cryptography the model uses.

Each repeats one operation until a budget of CPU seconds (``time.process_time``) is used
up, so a busy machine (other processes taking the cores) does not halve the rates; one
untimed call first warms caches and lazy initialisation. The rates are tight-loop rates:
:mod:`benchmarks.profile_shares` measures what the same calls cost in place.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from sim.domain.stream_cipher import NonceLedger
from sim.processes.vmotion import encrypted_transfer
from sim.rng import ByteSource

DEFAULT_BUDGET_S = 0.5
DEFAULT_PROCESSES = 1000
PACKET_BYTES = 64 * 1024
SHA_MESSAGE_BYTES = 64
SIGNED_MESSAGE_BYTES = 256

GOALS = {
    "pk_crypto_share": 0.4,
    "vmotion_stream_vs_raw": 0.9,
}
"""Targets for the ratios that have one (see the README): printed next to each ratio,
never asserted."""

VMOTION_FULL_BYTES = 64 * 2**20
"""Payload of one benchmark transfer when the scenario encrypts whole VMs (``full``)."""

_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_FIXED_SCALAR = 0x5EED_0F_7E57_1C0DE_5CA1AB1E


@dataclass(frozen=True)
class Measurement:
    """``ops`` operations of one kind done in ``seconds`` of CPU time."""

    name: str
    unit: str
    ops: int
    seconds: float
    bytes_per_op: int = 0

    @property
    def rate(self) -> float:
        """Operations per CPU second."""
        return self.ops / self.seconds

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """The measurement :meth:`as_dict` wrote (its derived rates are recomputed)."""
        return cls(
            str(data["name"]),
            str(data["unit"]),
            int(data["ops"]),
            float(data["seconds"]),
            int(data.get("bytes_per_op", 0)),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON form, with the derived rates."""
        out: dict[str, Any] = {
            "name": self.name,
            "unit": self.unit,
            "ops": self.ops,
            "seconds": self.seconds,
            "rate": self.rate,
        }
        if self.bytes_per_op:
            out["bytes_per_op"] = self.bytes_per_op
            out["bytes_per_s"] = self.rate * self.bytes_per_op
        return out


def timed(
    name: str, unit: str, batch: Callable[[], int], budget: float, bytes_per_op: int = 0
) -> Measurement:
    """Call ``batch`` (which returns how many operations it did) until ``budget`` seconds of
    this process's CPU time have passed; one untimed call first warms caches and lazy
    initialisation."""
    if budget <= 0:
        raise ValueError("the time budget must be positive")
    batch()
    ops = 0
    start = time.process_time()
    elapsed = 0.0
    while elapsed < budget or ops == 0:
        ops += batch()
        elapsed = time.process_time() - start
    return Measurement(name, unit, ops, elapsed, bytes_per_op)


def simpy_event_rate(budget: float, processes: int = 1) -> Measurement:
    """Events per second of a bare ``simpy.Environment``: ``processes`` generators, each
    yielding ``env.timeout`` forever with distinct delays so the event heap stays mixed."""
    if processes < 1:
        raise ValueError("at least one process is needed")
    env = simpy.Environment()
    fired = 0

    def ticker(delay: float) -> Generator[simpy.Event, Any, None]:
        nonlocal fired
        while True:
            yield env.timeout(delay)
            fired += 1

    for i in range(processes):
        env.process(ticker(1.0 + i / processes))
    step = max(1.0, 5000.0 / processes)

    def batch() -> int:
        before = fired
        env.run(until=env.now + step)
        return fired - before

    label = (
        "SimPy raw events, 1 process"
        if processes == 1
        else (f"SimPy raw events, {processes} processes")
    )
    return timed(label, "events", batch, budget)


def _batched(op: Callable[[int], object], size: int) -> Callable[[], int]:
    """A batch for :func:`timed` calling ``op(i)`` ``size`` times with a running counter."""
    counter = 0

    def batch() -> int:
        nonlocal counter
        for i in range(counter, counter + size):
            op(i)
        counter += size
        return size

    return batch


def _signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_FIXED_SCALAR, ec.SECP256R1())


def ecdsa_sign_rate(budget: float) -> Measurement:
    """Deterministic (RFC 6979) P-256 ECDSA-SHA256 signatures per second, each of a
    different message."""
    key = _signing_key()
    prefix = bytes(SIGNED_MESSAGE_BYTES - 8)
    batch = _batched(lambda i: key.sign(prefix + i.to_bytes(8, "big"), _ECDSA), 16)
    return timed("ECDSA P-256 sign (RFC 6979)", "signatures", batch, budget)


def ecdsa_verify_rate(budget: float) -> Measurement:
    """P-256 ECDSA-SHA256 verifications per second (of one valid signature)."""
    key = _signing_key()
    message = bytes(SIGNED_MESSAGE_BYTES)
    signature = key.sign(message, _ECDSA)
    public = key.public_key()
    batch = _batched(lambda _: public.verify(signature, message, _ECDSA), 16)
    return timed("ECDSA P-256 verify", "verifications", batch, budget)


def _gcm_inputs(packet_size: int) -> tuple[AESGCM, bytes, bytes, bytes]:
    if packet_size <= 0:
        raise ValueError("packet_size must be positive")
    payload = bytes(i & 0xFF for i in range(packet_size))
    aad = b"vtasim/vmotion/v1\x00\x0fbench-migration" + bytes(5)
    return AESGCM(bytes(range(32))), b"\x5a" * 8, payload, aad


def aesgcm_seal_rate(budget: float, packet_size: int = PACKET_BYTES) -> Measurement:
    """AES-256-GCM encryptions of one packet per second, each under its own counter IV."""
    aead, nonce, payload, aad = _gcm_inputs(packet_size)
    batch = _batched(
        lambda i: aead.encrypt(nonce + (i & 0xFFFFFFFF).to_bytes(4, "big"), payload, aad), 8
    )
    return timed("AES-256-GCM seal", "packets", batch, budget, packet_size)


def aesgcm_open_rate(budget: float, packet_size: int = PACKET_BYTES) -> Measurement:
    """AES-256-GCM authenticated decryptions of one packet per second."""
    aead, nonce, payload, aad = _gcm_inputs(packet_size)
    iv = nonce + bytes(4)
    sealed = aead.encrypt(iv, payload, aad)
    batch = _batched(lambda _: aead.decrypt(iv, sealed, aad), 8)
    return timed("AES-256-GCM open", "packets", batch, budget, packet_size)


def ecdh_rate(budget: float) -> Measurement:
    """P-256 ECDH key agreements per second (the credential activation's exchange)."""
    key = _signing_key()
    peer = ec.derive_private_key(_FIXED_SCALAR + 1, ec.SECP256R1()).public_key()
    batch = _batched(lambda _: key.exchange(ec.ECDH(), peer), 16)
    return timed("ECDH P-256", "agreements", batch, budget)


def aes_key_wrap_rate(budget: float) -> Measurement:
    """AES key wraps (RFC 3394) of a 32-byte KEK under a 32-byte primary key per second."""
    primary, kek = bytes(range(32)), bytes(range(32, 64))
    batch = _batched(lambda _: aes_key_unwrap(primary, aes_key_wrap(primary, kek)), 64)
    measured = timed("AES key wrap + unwrap", "pairs", batch, budget)
    return Measurement("AES key wrap (half a pair)", "wraps", 2 * measured.ops, measured.seconds)


def vmotion_stream_vs_raw(
    budget: float, packet_size: int = PACKET_BYTES, payload: int = 2**20
) -> dict[str, float | int]:
    """Bytes/s of the model's encrypted vMotion stream against bare AES-GCM seal + open of
    the same packets, measured in alternating rounds so that both see the same machine.

    One stream round is one migration's :func:`sim.processes.vmotion.encrypted_transfer`
    of ``payload`` bytes (the scenario's ``vmotion.payload``: fresh secret from the
    simulator's byte source, nonce ledger, sealer, opener, the intactness check); one raw
    round seals and opens the same packets with one ``AESGCM`` object and nothing else
    (``encrypt`` and ``decrypt``, the goal's reference). A third round makes the same
    calls as the stream (``encrypt_into`` one reused buffer, then ``decrypt_into``
    another), so ``ratio_same_calls`` is what the stream's own Python costs, apart from
    the calls.
    """
    aead, nonce, page, aad = _gcm_inputs(packet_size)
    packets = max(1, -(-payload // packet_size))
    size = payload
    source = ByteSource(np.random.default_rng(0)).take
    received = bytearray()  # kept from one migration to the next, as the Migrator does
    sealed = bytearray()  # and the buffer the packets are sealed into

    def raw() -> None:
        for i in range(packets):
            iv = nonce + i.to_bytes(4, "big")
            data = page if (i + 1) * packet_size <= size else page[: size - i * packet_size]
            aead.decrypt(iv, aead.encrypt(iv, data, aad), aad)

    def stream(k: int) -> None:
        check = encrypted_transfer(
            f"bench-m{k}",
            size,
            packet_size,
            source,
            NonceLedger(),
            received=received,
            sealed=sealed,
        )
        if not check.intact:
            raise RuntimeError(f"benchmark stream rejected: {check.reason}")

    plain = bytearray(packet_size)
    cipher = bytearray(packet_size + 16)

    def same_calls() -> None:
        nonlocal plain, cipher
        for i in range(packets):
            iv = nonce + i.to_bytes(4, "big")
            data = page if (i + 1) * packet_size <= size else page[: size - i * packet_size]
            if len(plain) != len(data):  # a short last packet, or a whole one after it
                plain, cipher = bytearray(len(data)), bytearray(len(data) + 16)
            aead.encrypt_into(iv, data, aad, cipher)
            aead.decrypt_into(iv, cipher, aad, plain)

    raw()
    same_calls()
    stream(-1)
    raw_s = same_s = stream_s = 0.0
    rounds = 0
    while raw_s + stream_s < 2 * budget or rounds == 0:
        started = time.process_time()
        raw()
        raw_s += time.process_time() - started
        started = time.process_time()
        same_calls()
        same_s += time.process_time() - started
        started = time.process_time()
        stream(rounds)
        stream_s += time.process_time() - started
        rounds += 1
    return {
        "packet_size": packet_size,
        "rounds": rounds,
        "bytes_per_round": size,
        "raw_bytes_per_s": rounds * size / raw_s,
        "same_calls_bytes_per_s": rounds * size / same_s,
        "stream_bytes_per_s": rounds * size / stream_s,
        "ratio": raw_s / stream_s,
        "ratio_same_calls": same_s / stream_s,
    }


def sha256_rate(budget: float, size: int = SHA_MESSAGE_BYTES) -> Measurement:
    """SHA-256 digests of a ``size``-byte message per second (hashlib, one call each)."""
    message = bytes(size)
    sha256 = hashlib.sha256

    def batch() -> int:  # an inline loop: a call per digest would cost as much as the hash
        for _ in range(256):
            sha256(message).digest()
        return 256

    return timed(f"SHA-256 of {size} B", "digests", batch, budget, size)


def measure_limits(
    budget: float = DEFAULT_BUDGET_S,
    packet_size: int = PACKET_BYTES,
    processes: int = DEFAULT_PROCESSES,
) -> dict[str, Measurement]:
    """Every machine-limit micro-benchmark, each given ``budget`` seconds."""
    return {
        "simpy_single": simpy_event_rate(budget, 1),
        "simpy_many": simpy_event_rate(budget, processes),
        "ecdsa_sign": ecdsa_sign_rate(budget),
        "ecdsa_verify": ecdsa_verify_rate(budget),
        "aesgcm_seal": aesgcm_seal_rate(budget, packet_size),
        "aesgcm_open": aesgcm_open_rate(budget, packet_size),
        "sha256": sha256_rate(budget),
        "ecdh": ecdh_rate(budget),
        "aes_key_wrap": aes_key_wrap_rate(budget),
    }
