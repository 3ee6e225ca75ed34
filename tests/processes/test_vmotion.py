"""vMotion: the pre-copy model by hand, and the real encrypted sample stream."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.stream_cipher import NonceLedger
from sim.processes.vmotion import _Chunks, encrypted_transfer, precopy

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


def test_precopy_stops_at_max_iterations_when_it_converges_too_slowly() -> None:
    """Dirtying at 0.9 of the link: each pass leaves 0.9 of the last; copying stops at the
    cap of 5 passes and sends the last 0.9^5 of memory while stunned."""
    p = precopy(4 * GiB, 0.9 * GiB, 1.0 * GiB, 64 * MiB, 5, 0.2)
    assert p.iterations == 5 and p.mode == "precopy"
    assert p.downtime == pytest.approx(4 * 0.9**5 + 0.2)


def test_dirtying_at_or_above_the_bandwidth_is_stun_and_copy() -> None:
    """Pre-copy cannot converge: the VM is stunned at once and all memory sent stunned."""
    p = precopy(4 * GiB, 1.0 * GiB, 1.0 * GiB, 64 * MiB, 5, 0.2)
    assert p.mode == "stun_and_copy" and p.iterations == 0
    assert p.downtime == pytest.approx(4.0 + 0.2) and p.duration == p.downtime
    assert p.bytes_transferred == 4 * GiB


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


def test_encrypted_transfer_counts_the_packets_before_a_tampered_one() -> None:
    """A stream rejected at packet k reports the k packets (and their bytes) the
    destination accepted before it."""
    rng = np.random.default_rng(4)
    seen = [0]

    def third(wire: bytes) -> bytes:
        seen[0] += 1
        return wire[:-1] + bytes([wire[-1] ^ 1]) if seen[0] == 3 else wire

    check = encrypted_transfer("m4", 5 * 1000, 1000, rng.bytes, NonceLedger(), third)
    assert (check.intact, check.reason) == (False, "vmotion.stream.auth_failed")
    assert (check.packets, check.payload_bytes) == (2, 2000)


def test_encrypted_transfer_reuses_one_receive_buffer_across_sizes() -> None:
    """One receive buffer kept across migrations of different payload and packet sizes
    (as the Migrator keeps it) ends each intact, holding its final packet."""
    rng = np.random.default_rng(5)
    buffer = bytearray()
    for k, (size, packet) in enumerate([(3000, 1024), (100, 4096), (0, 64), (5000, 5000)]):
        check = encrypted_transfer(f"m{k}", size, packet, rng.bytes, NonceLedger(), received=buffer)
        assert check.intact and check.payload_bytes == size
        assert check.packets == max(1, -(-size // packet))
        assert len(buffer) == (size - 1) % packet + 1 if size else len(buffer) == 0


# --------------------------------------------------------------------------- in an estate

NIC = 10e9 / 8  # 10 Gbps in bytes/s


def _estate(**vms: Any) -> Any:
    from sim.build import build
    from sim.scenario import parse_scenario

    data = {
        "name": "vmotion",
        "network": {"lan_latency": "0s"},
        "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 3}]}],
        "vms": {"count": 2, "memory": ["8GiB"], "initially_running": 0, **vms},
        "workload": {"power_on_rate": 0, "migration_rate": 0},
    }
    estate = build(parse_scenario(data), seed=1)
    estate.start()
    return estate


class _Recorded:
    """The ``migrations`` record of the migration of ``vm``, read once it is written."""

    def __init__(self, estate: Any, vm: str) -> None:
        self.estate, self.vm = estate, vm

    def __getitem__(self, column: str) -> Any:
        (row,) = [r for r in self.estate.recorder.tables["migrations"] if r["vm"] == self.vm]
        return row[column]


def _move(estate: Any, vm: Any, src: str, dst: str) -> _Recorded:
    """Put ``vm`` on ``src`` and start moving it to ``dst`` now; its migrations record."""
    host = estate.hosts[src]
    host.reserve(vm.memory)
    host.admit(vm)
    estate.pool.started(vm, src)
    estate.env.process(estate.vcenters["vc"].migrate_to(vm, dst, "drs"))
    return _Recorded(estate, vm.name)


def test_two_migrations_out_of_one_host_share_its_nic() -> None:
    """Two plain 8 GiB VMs leave esx-01 at once for esx-02 and esx-03: each stream gets half
    of esx-01's 10 Gbps NIC, so each takes setup 1 s + the pre-copy schedule at 5 Gbps."""
    estate = _estate(
        vmotion_mode={"disabled": 1, "opportunistic": 0, "required": 0},
        encryption={"none": 1, "storage_policy": 0, "vtpm": 0},
    )
    a, b = estate.pool.vms
    rows = [_move(estate, a, "esx-01", "esx-02"), _move(estate, b, "esx-01", "esx-03")]
    estate.env.run(until=600)
    plan = precopy(8 * GiB, 64 * MiB, NIC / 2, 512 * MiB, 8, 0.3)
    for row in rows:
        assert row["outcome"] == "completed" and row["mode"] == "precopy"
        assert row["duration_s"] == pytest.approx(1.0 + plan.duration, rel=1e-9)
        assert row["iterations"] == plan.iterations
        assert row["bandwidth_Bps"] == pytest.approx(NIC / 2, rel=1e-9)
        assert row["downtime_s"] == pytest.approx(plan.downtime, rel=1e-9)


def test_the_destination_key_fetch_is_not_part_of_the_duration() -> None:
    """An encrypted VM: end - start = key fetch + duration, and duration is setup + the
    pre-copy at the cipher-capped rate min(10 Gbps, 4 GiB/s) = 1.25 GB/s."""
    estate = _estate(encryption={"none": 0, "storage_policy": 0, "vtpm": 1})
    vm = estate.pool.vms[0]
    row = _move(estate, vm, "esx-01", "esx-02")
    estate.env.run(until=600)
    plan = precopy(8 * GiB, 64 * MiB, NIC, 512 * MiB, 8, 0.3)
    assert row["outcome"] == "completed" and row["key_fetch_s"] > 0
    assert row["end"] - row["start"] == pytest.approx(row["key_fetch_s"] + row["duration_s"])
    assert row["duration_s"] == pytest.approx(1.0 + plan.duration, rel=1e-9)


def test_dirtying_faster_than_the_nic_stuns_and_copies() -> None:
    """Dirty rate 2 GB/s over a 1.25 GB/s stream: stun-and-copy, downtime 8 GiB / 1.25
    GB/s + 0.3 s, no pre-copy iterations."""
    estate = _estate(
        dirty_rate="2GB/s",
        vmotion_mode={"disabled": 1, "opportunistic": 0, "required": 0},
        encryption={"none": 1, "storage_policy": 0, "vtpm": 0},
    )
    row = _move(estate, estate.pool.vms[0], "esx-01", "esx-02")
    estate.env.run(until=600)
    assert row["mode"] == "stun_and_copy" and row["iterations"] == 0
    assert row["downtime_s"] == pytest.approx(8 * GiB / NIC + 0.3)
    assert row["duration_s"] == pytest.approx(1.0 + 8 * GiB / NIC + 0.3)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 5000), st.integers(1, 700))
def test_packet_chunks_are_the_payload_cut_into_packets(size: int, packet: int) -> None:
    """The stream's packets, held as counts, are the payload cut into whole packets and a
    rest: lengths, order, indexing and the last one as a plain list of slices gives them."""
    pages = bytes(range(256)) * 3
    pages = pages[: min(packet, max(size, 1))]
    expected = [pages[: min(packet, size - i)] for i in range(0, size, packet)] or [b""]
    chunks = _Chunks(pages, size, packet)
    assert len(chunks) == len(expected) and list(chunks) == expected
    assert chunks.last == expected[-1] == chunks[-1] and chunks[0] == expected[0]
    assert list(chunks[1:3]) == expected[1:3]
