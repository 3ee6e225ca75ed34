"""Speed and memory of the simulator, measured against this machine's own limits.

One invocation measures two things and relates them:

1. **Machine limits**, each a micro-benchmark with a fixed wall-time budget: SimPy's raw
   event rate (one process in a tight ``env.timeout`` loop, and many processes sharing the
   event heap), deterministic P-256 ECDSA (RFC 6979) signatures and verifications per
   second, AES-256-GCM seal and open of vMotion-sized packets, and SHA-256 of small
   messages.
2. **The simulator** on one scenario for a bounded stretch of simulated time: wall time,
   simulated seconds per wall second, events/s, attestations/s and peak memory.

Absolute rates differ from machine to machine; the ratios between (2) and (1) do much less,
which is why the report leads with them (see ``benchmarks/README.md`` for how to read them).

Run ``python benchmarks/run.py --help``. Nothing here asserts a speed: the smoke test only
checks that every figure is produced and positive.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import json
import os
import platform
import pstats
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simpy
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

from sim.build import build
from sim.domain import opcount
from sim.domain.stream_cipher import NonceLedger
from sim.errors import ScenarioError
from sim.processes.vmotion import encrypted_transfer
from sim.rng import ByteSource
from sim.runner import simulate, versions
from sim.scenario import Scenario, load_scenario
from sim.scenario.units import parse_positive_duration

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "scenarios" / "large.yaml"
DEFAULT_BUDGET_S = 0.5
DEFAULT_PROCESSES = 1000
PACKET_BYTES = 64 * 1024
SHA_MESSAGE_BYTES = 64
SIGNED_MESSAGE_BYTES = 256

GOALS = {
    "pk_crypto_share": 0.4,
    "vmotion_stream_vs_raw": 0.9,
}
"""Targets for the ratios that have one (see benchmarks/README.md): printed next to each ratio,
never asserted."""

VMOTION_FULL_BYTES = 64 * 2**20
"""Payload of one benchmark transfer when the scenario encrypts whole VMs (``full``)."""

_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_FIXED_SCALAR = 0x5EED_0F_7E57_1C0DE_5CA1AB1E


@dataclass(frozen=True)
class Measurement:
    """``ops`` operations of one kind done in ``seconds`` of wall time."""

    name: str
    unit: str
    ops: int
    seconds: float
    bytes_per_op: int = 0

    @property
    def rate(self) -> float:
        """Operations per wall second."""
        return self.ops / self.seconds

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
    wall time have passed; one untimed call first warms caches and lazy initialisation."""
    if budget <= 0:
        raise ValueError("the time budget must be positive")
    batch()
    ops = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < budget or ops == 0:
        ops += batch()
        elapsed = time.perf_counter() - start
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
    calls as the stream (``encrypt``, then ``decrypt_into`` one reused buffer), so
    ``ratio_same_calls`` is what the stream's own Python costs, apart from the calls.
    """
    aead, nonce, page, aad = _gcm_inputs(packet_size)
    packets = max(1, -(-payload // packet_size))
    size = payload
    source = ByteSource(np.random.default_rng(0)).take
    received = bytearray()  # kept from one migration to the next, as the Migrator does

    def raw() -> None:
        for i in range(packets):
            iv = nonce + i.to_bytes(4, "big")
            data = page if (i + 1) * packet_size <= size else page[: size - i * packet_size]
            aead.decrypt(iv, aead.encrypt(iv, data, aad), aad)

    def stream(k: int) -> None:
        check = encrypted_transfer(
            f"bench-m{k}", size, packet_size, source, NonceLedger(), received=received
        )
        if not check.intact:
            raise RuntimeError(f"benchmark stream rejected: {check.reason}")

    plain = bytearray(packet_size)

    def same_calls() -> None:
        for i in range(packets):
            iv = nonce + i.to_bytes(4, "big")
            data = page if (i + 1) * packet_size <= size else page[: size - i * packet_size]
            if len(plain) != len(data):
                del plain[len(data) :]
            aead.decrypt_into(iv, aead.encrypt(iv, data, aad), aad, plain)

    raw()
    same_calls()
    stream(-1)
    raw_s = same_s = stream_s = 0.0
    rounds = 0
    while raw_s + stream_s < 2 * budget or rounds == 0:
        started = time.perf_counter()
        raw()
        raw_s += time.perf_counter() - started
        started = time.perf_counter()
        same_calls()
        same_s += time.perf_counter() - started
        started = time.perf_counter()
        stream(rounds)
        stream_s += time.perf_counter() - started
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


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rss_now() -> int | None:
    """Resident set size of this process in bytes (Linux only; None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """Peak resident set size of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def measure_simulation(
    scenario: Scenario,
    until: float,
    seed: int | None = None,
    heap: bool = False,
) -> dict[str, Any]:
    """Run ``scenario`` for ``until`` simulated seconds and report its speed and memory.

    Building the estate is timed once more on its own, so run-only rates can be given.
    With ``heap`` the scenario runs a second time under tracemalloc for the Python heap
    peak (tracemalloc slows a run severalfold, so the timed run never uses it).
    """
    gc.collect()
    started = time.perf_counter()
    build(scenario.model_copy(update={"duration": until}), scenario.seed if seed is None else seed)
    build_s = time.perf_counter() - started
    gc.collect()
    rss_before = _rss_now()
    opcount.reset()
    cpu_started = time.process_time()
    started = time.perf_counter()
    output = simulate(scenario, seed=seed, until=until)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    crypto_ops = opcount.snapshot()
    peak_rss = _peak_rss()
    tables = output.tables
    sim_time = float(output.manifest["sim_time_s"])
    counts = {
        "events": int(output.manifest["events"]),
        "attestations": len(tables["attestations"]),
        "key_requests": len(tables["key_requests"]),
        "encrypted_payload_bytes": sum(
            int(m["payload_bytes"] or 0) for m in tables["migrations"] if m["encrypted"]
        ),
    }
    result: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": output.seed,
        "hosts": len(scenario.host_names()),
        "vms": scenario.vms.count,
        "migrations": len(tables["migrations"]),
        "sim_time_s": sim_time,
        "wall_s": wall,
        "cpu_s": cpu,
        "build_s": build_s,
        "sim_s_per_wall_s": sim_time / wall,
        **counts,
        **{f"{name}_per_s": n / wall for name, n in counts.items()},
        "events_per_s_excluding_build": counts["events"] / max(wall - build_s, 1e-9),
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak_rss,
        "rss_growth_bytes": None if rss_before is None else max(peak_rss - rss_before, 0),
        "tracemalloc_peak_bytes": None,
        "tracemalloc_wall_s": None,
        "crypto_ops": crypto_ops,
        "exception": output.manifest["exception"],
    }
    del output
    if heap:
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        simulate(scenario, seed=seed, until=until)
        result["tracemalloc_wall_s"] = time.perf_counter() - started
        result["tracemalloc_peak_bytes"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def hosts_alone(scenario: Scenario) -> Scenario:
    """``scenario`` with no VMs and no workload (no power-ons, no migrations): its hosts'
    attestations, drift and faults are what is left. Timed like the full run, it shows how
    much of the gap to the public-key-crypto-bound rate the attestation path itself leaves,
    and how much the VMs around it add."""
    return scenario.model_copy(
        update={
            "vms": scenario.vms.model_copy(update={"count": 0}),
            "workload": scenario.workload.model_copy(
                update={"power_on_rate": 0.0, "migration_rate": 0.0}
            ),
        }
    )


PRICED_AS = {
    "ecdsa_sign": "ecdsa_sign",
    "x509_sign": "ecdsa_sign",
    "ecdsa_verify": "ecdsa_verify",
    "ecdh": "ecdh",
    "aes_key_wrap": "aes_key_wrap",
    "aes_key_unwrap": "aes_key_wrap",
}
"""Which machine limit prices each counted operation kind (a certificate signature is one
ECDSA signature plus DER encoding; an unwrap costs what a wrap does). AES-GCM is priced per
byte from the seal and open benchmarks; RSA-OAEP (only for RSA endorsement keys, which the
shipped scenarios do not use) is left unpriced and reported if it ever occurs."""

PUBLIC_KEY_KINDS = ("ecdsa_sign", "x509_sign", "ecdsa_verify", "ecdh")


def crypto_seconds(limits: Mapping[str, Measurement], ops: Mapping[str, int]) -> dict[str, float]:
    """Seconds this machine needs for the counted operations, by kind (bare library calls
    at the rates measured in this run)."""
    out = {kind: ops.get(kind, 0) / limits[limit].rate for kind, limit in PRICED_AS.items()}
    for side in ("seal", "open"):
        m = limits[f"aesgcm_{side}"]
        out[f"aesgcm_{side}"] = ops.get(f"aesgcm_{side}_bytes", 0) / (m.rate * m.bytes_per_op)
    return out


def pk_seconds(limits: Mapping[str, Measurement], ops: Mapping[str, int]) -> float:
    """Seconds this machine needs for the counted public-key operations."""
    seconds = crypto_seconds(limits, ops)
    return sum(seconds[k] for k in PUBLIC_KEY_KINDS)


def ratios(limits: Mapping[str, Measurement], sim: Mapping[str, Any]) -> dict[str, float | None]:
    """The simulator's rates divided by the machine's (definitions in benchmarks/README.md); None
    where a ratio is undefined (no attestations to divide by, no hosts-alone run)."""
    ops = sim["crypto_ops"]
    seconds = crypto_seconds(limits, ops)
    alone = sim.get("hosts_alone")
    wall = float(sim["wall_s"])
    attestations = int(sim["attestations"])
    pk_s = pk_seconds(limits, ops)
    aead_s = seconds["aesgcm_seal"] + seconds["aesgcm_open"]
    wrap_s = seconds["aes_key_wrap"] + seconds["aes_key_unwrap"]
    att_rate = float(sim["attestations_per_s"])
    per_att = (lambda n: n / attestations) if attestations else (lambda n: None)
    return {
        "events_vs_simpy_single": sim["events_per_s"] / limits["simpy_single"].rate,
        "events_vs_simpy_many": sim["events_per_s"] / limits["simpy_many"].rate,
        "attestations_per_sign": att_rate / limits["ecdsa_sign"].rate,
        "signs_per_attestation": per_att(ops["ecdsa_sign"] + ops["x509_sign"]),
        "verifies_per_attestation": per_att(ops["ecdsa_verify"]),
        "pk_crypto_s_per_attestation": per_att(pk_s),
        "pk_crypto_share": pk_s / wall,
        "pk_crypto_share_hosts_alone": (
            None
            if alone is None or alone["exception"] is not None or not alone["attestations"]
            else pk_seconds(limits, alone["crypto_ops"]) / float(alone["wall_s"])
        ),
        "aead_crypto_share": aead_s / wall,
        "key_wrap_crypto_share": wrap_s / wall,
        "crypto_share_total": (pk_s + aead_s + wrap_s) / wall,
        "vmotion_stream_vs_raw": (
            None if sim.get("vmotion_stream") is None else sim["vmotion_stream"]["ratio"]
        ),
        "vmotion_stream_vs_same_calls": (
            None if sim.get("vmotion_stream") is None else sim["vmotion_stream"]["ratio_same_calls"]
        ),
    }


_RATIO_LABELS = {
    "events_vs_simpy_single": "sim events/s ÷ SimPy raw events/s (1 process)",
    "events_vs_simpy_many": "sim events/s ÷ SimPy raw events/s (many processes)",
    "attestations_per_sign": "attestations/s ÷ ECDSA signs/s",
    "signs_per_attestation": "ECDSA signatures per attestation (counted)",
    "verifies_per_attestation": "ECDSA verifications per attestation (counted)",
    "pk_crypto_s_per_attestation": "public-key crypto per attestation (counted ops)",
    "pk_crypto_share": "attestations/s ÷ public-key-crypto-bound rate",
    "pk_crypto_share_hosts_alone": "  the same, hosts alone (no VMs, no workload)",
    "aead_crypto_share": "crypto share: vMotion AES-GCM (counted bytes)",
    "key_wrap_crypto_share": "crypto share: AES key wrap/unwrap (counted)",
    "crypto_share_total": "crypto share: all counted crypto (fraction of wall)",
    "vmotion_stream_vs_raw": "encrypted vMotion bytes/s ÷ bare AES-GCM seal+open",
    "vmotion_stream_vs_same_calls": "  the same, ÷ bare encrypt + decrypt_into (its calls)",
}


def _si(value: float) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:8.2f} {prefix}"
    return f"{value:8.2f} "


def _mib(nbytes: int | None) -> str:
    return "n/a" if nbytes is None else f"{nbytes / 2**20:.1f} MiB"


def render(report: Mapping[str, Any]) -> str:
    """The report as a plain-text table."""
    lines = [
        f"machine: {report['machine']['summary']}",
        f"budget per micro-benchmark: {report['budget_s']} s",
        "",
        "MACHINE LIMITS",
    ]
    for m in report["limits"].values():
        extra = f"  {_si(m['bytes_per_s'])}B/s" if m.get("bytes_per_s") else ""
        line = f"  {m['name']:<32} {_si(m['rate'])} {m['unit'] + '/s':<16}{extra}"
        lines.append(line.rstrip())
    s = report["simulation"]
    lines += [
        "",
        f"SIMULATOR  {s['scenario']}  ({s['hosts']} hosts, {s['vms']} VMs, "
        f"{s['sim_time_s']:.0f} sim-s, seed {s['seed']})",
    ]
    rows = [
        ("wall time", f"{s['wall_s']:.2f} s (build {s['build_s']:.2f} s)"),
        ("simulated s per wall s", f"{s['sim_s_per_wall_s']:,.1f}"),
        (
            "events",
            f"{s['events']:,}  ->  {_si(s['events_per_s']).strip()} events/s "
            f"({_si(s['events_per_s_excluding_build']).strip()} excluding build)",
        ),
        ("attestations", f"{s['attestations']:,}  ->  {s['attestations_per_s']:,.1f}/s"),
        ("key requests", f"{s['key_requests']:,}  ->  {s['key_requests_per_s']:,.1f}/s"),
        ("migrations", f"{s['migrations']:,} ({_mib(s['encrypted_payload_bytes'])} sealed)"),
        (
            "peak RSS (process)",
            f"{_mib(s['peak_rss_bytes'])} (+{_mib(s['rss_growth_bytes'])} during the run)",
        ),
    ]
    if s["tracemalloc_peak_bytes"] is not None:
        rows.append(
            (
                "tracemalloc peak",
                f"{_mib(s['tracemalloc_peak_bytes'])} (traced run {s['tracemalloc_wall_s']:.2f} s)",
            )
        )
    alone = s.get("hosts_alone")
    if alone is not None:
        rows.append(
            (
                "hosts alone (no VMs, no workload)",
                f"{alone['wall_s']:.2f} s, {alone['attestations']:,} attestations, "
                f"{alone['events']:,} events"
                + (
                    "" if alone["exception"] is None else f" (FAILED: {alone['exception']['type']})"
                ),
            )
        )
    if s["exception"] is not None:
        rows.append(("RUN FAILED", f"{s['exception']['type']}: {s['exception']['message']}"))
    lines += [f"  {k:<40} {v}" for k, v in rows]
    lines += ["", "RATIOS (simulator ÷ machine)"]
    for key, value in report["ratios"].items():
        lines.append(f"  {_RATIO_LABELS[key]:<58} {_ratio_text(key, value)}")
    return "\n".join(lines)


def _ratio_text(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key == "pk_crypto_s_per_attestation":
        return f"{value * 1e3:.3f} ms"
    if key in ("signs_per_attestation", "verifies_per_attestation"):
        return f"{value:.3f}"
    text = f"{value:.2%}"
    goal = GOALS.get(key)
    if goal is not None:
        verdict = "met" if value >= goal else "NOT met"
        text += f"   (goal >= {goal:.0%}: {verdict})"
    return text


def profile(scenario: Scenario, until: float, seed: int | None, top: int) -> str:
    """cProfile of one more run: the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(simulate, scenario, seed, until)
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


def run_benchmarks(
    scenario: Scenario,
    until: float,
    budget: float = DEFAULT_BUDGET_S,
    processes: int = DEFAULT_PROCESSES,
    seed: int | None = None,
    heap: bool = False,
    alone: bool = True,
) -> dict[str, Any]:
    """Machine limits, the simulator's figures and the ratios between them, as one dict;
    with ``alone``, the scenario's hosts are also timed on their own (:func:`hosts_alone`)."""
    limits = measure_limits(budget, scenario.vmotion.packet_size, processes)
    payload = scenario.vmotion.payload
    stream = vmotion_stream_vs_raw(
        budget,
        scenario.vmotion.packet_size,
        VMOTION_FULL_BYTES if payload == "full" else int(payload),
    )
    sim = {**measure_simulation(scenario, until, seed, heap), "vmotion_stream": stream}
    if alone:
        sim["hosts_alone"] = measure_simulation(hosts_alone(scenario), until, seed)
    return {
        "machine": {
            "summary": f"{_cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": versions(),
        },
        "budget_s": budget,
        "limits": {k: m.as_dict() for k, m in limits.items()},
        "simulation": sim,
        "ratios": ratios(limits, sim),
    }


def _override(text: str) -> tuple[str, Any]:
    path, sep, value = text.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE, got {text!r}")
    return path, yaml.safe_load(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    p.add_argument(
        "--until",
        type=parse_positive_duration,
        default=3600.0,
        help="simulated time to run (default 1h)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--set",
        dest="overrides",
        type=_override,
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario field (YAML value)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="wall seconds per micro-benchmark (default 0.5)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help="processes in the many-process SimPy benchmark",
    )
    p.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run the scenario once more under tracemalloc for the heap peak",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="run once more under cProfile and print the top N functions",
    )
    p.add_argument(
        "--no-hosts-alone",
        dest="alone",
        action="store_false",
        help="skip the extra run of the scenario's hosts without VMs or workload",
    )
    p.add_argument("--json", type=Path, default=None, metavar="OUT")
    args = p.parse_args(argv)
    if args.budget <= 0 or args.processes < 1:
        p.error("--budget must be positive and --processes at least 1")
    try:
        scenario = load_scenario(args.scenario, dict(args.overrides) or None)
    except ScenarioError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 2
    report = run_benchmarks(
        scenario, args.until, args.budget, args.processes, args.seed, args.tracemalloc, args.alone
    )
    print(render(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.profile > 0:
        print("\nPROFILE (one more run, by own time)")
        print(profile(scenario, args.until, args.seed, args.profile))
    return 0 if report["simulation"]["exception"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
