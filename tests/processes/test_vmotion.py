"""vMotion: the pre-copy model by hand, and the real encrypted sample stream."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.stream_cipher import NonceLedger
from sim.processes.vmotion import encrypted_transfer, precopy

GiB = 2**30
MiB = 2**20


def test_precopy_idle_vm_is_one_pass_plus_switchover() -> None:
    """With no dirtying, one pass of memory/bandwidth plus the switch-over time."""
    p = precopy(8 * GiB, 0.0, 1.0 * GiB, 512 * MiB, 8, 0.3)
    assert p.iterations == 1
    assert p.duration == pytest.approx(8.0 + 0.3)
    assert p.bytes_transferred == 8 * GiB


def test_precopy_geometric_iterations_by_hand() -> None:
    """Dirty rate r and bandwidth b: each pass sends r/b of the previous one."""
    mem, b, r = 8 * GiB, 1.0 * GiB, 0.25 * GiB
    p = precopy(mem, r, b, 100 * MiB, 10, 0.0)
    sends = [mem * 0.25**k for k in range(10)]
    k = next(i for i, x in enumerate(sends) if x * 0.25 <= 100 * MiB)
    expected = sum(sends[: k + 1]) / b + sends[k] * 0.25 / b
    assert p.iterations == k + 1
    assert p.duration == pytest.approx(expected)


def test_precopy_stops_at_max_iterations_when_dirtying_outpaces_bandwidth() -> None:
    """A VM dirtying faster than the link never converges; copying stops at the cap."""
    p = precopy(4 * GiB, 2.0 * GiB, 1.0 * GiB, 64 * MiB, 5, 0.2)
    assert p.iterations == 5
    assert p.downtime > 4.0  # the whole memory is sent while stunned


@given(st.integers(1, 64), st.floats(0, 2e9), st.floats(1e8, 1e10))
@settings(max_examples=50, deadline=None)
def test_precopy_never_faster_than_one_pass(mem_gib: int, dirty: float, bw: float) -> None:
    """A migration takes at least memory / bandwidth and sends at least the memory."""
    p = precopy(mem_gib * GiB, dirty, bw, 256 * MiB, 8, 0.1)
    assert p.duration >= mem_gib * GiB / bw
    assert p.bytes_transferred >= mem_gib * GiB


def test_encrypted_transfer_round_trip_is_intact() -> None:
    """1 MiB of pages sealed in 64 KiB packets arrives intact in 16 packets."""
    rng = np.random.default_rng(1)
    check = encrypted_transfer("m1", MiB, 64 * 1024, rng.bytes, NonceLedger())
    assert check.intact and check.packets == 16 and check.payload_bytes == MiB


def test_encrypted_transfer_rejects_tampering_in_flight() -> None:
    """A flipped ciphertext bit is caught by AES-GCM authentication."""
    rng = np.random.default_rng(2)

    def flip(wire: bytes) -> bytes:
        return wire[:-1] + bytes([wire[-1] ^ 1])

    check = encrypted_transfer("m2", 256 * 1024, 64 * 1024, rng.bytes, NonceLedger(), flip)
    assert not check.intact and check.reason == "vmotion.stream.auth_failed"


def test_encrypted_transfer_never_reuses_a_key_and_nonce() -> None:
    """The same random source replayed into the same ledger is refused (key, nonce reuse)."""
    from sim.errors import NonceReuseError

    ledger = NonceLedger()
    encrypted_transfer("a", 1024, 512, np.random.default_rng(3).bytes, ledger)
    with pytest.raises(NonceReuseError):
        encrypted_transfer("b", 1024, 512, np.random.default_rng(3).bytes, ledger)
