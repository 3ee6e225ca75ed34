"""The lean reference model: the anchor the simulator's speed is measured against.

A bare SimPy model of the same attestation loop with the same cryptography and nothing
else, written the plain way one would write it for this one question: how fast can SimPy
and the ``cryptography`` package run a vSphere Trust Authority's attestation traffic on
this machine? Whatever vtasim spends above it per attestation is the cost of everything the
simulator adds (TPM event logs, certificate chains, reports and their caches, records,
status views, drift, faults).

The estate: ``hosts`` hosts (1,000 by default), each attesting every 5 minutes plus a
uniform jitter of up to 10 s (first attestation at a uniformly random phase), to a trust
authority of 3 nodes, each with 8 workers in front of one FIFO queue (a ``simpy.Resource``)
and a lognormal service time (median 15 ms, 95th percentile 40 ms, as ``large.yaml``'s
Attestation Service), requests spread round-robin. One generator process per host. Each
attestation:

1. the host asks the node for a nonce, and the nonce (32 random bytes) travels back (a
   network delay each way);
2. the host's TPM quotes, taking a signing time (lognormal, median 200 ms, 95th percentile
   600 ms, as vtasim's default ``tpm_sign_time``): a TPMS_ATTEST-like blob (magic, type,
   signer name, the nonce as
   extra data, clock info, firmware version, PCR selection and PCR digest) signed with the
   host's attestation key, deterministic P-256 ECDSA (RFC 6979);
3. the quote travels to the node, waits for a worker and holds it one service time; the
   node verifies the signature, checks nonce and PCR digest against the host's approved
   digest and signs an ES256 JWT report (base64url header and claims, raw ``r || s``);
4. the report travels back; the host keeps it. One row per attestation, a tuple.

Everything is timed: building the keys and hosts, the run and a summary of the rows, like
``sim.runner.simulate``. Events are counted the way vtasim counts them (every
``env.step``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HOSTS = 1000
INTERVAL_S = 300.0
JITTER_S = 10.0
NODES = 3
WORKERS = 8
SERVICE_MEDIAN_S = 0.015
SERVICE_P95_S = 0.040
TPM_SIGN_MEDIAN_S = 0.200
TPM_SIGN_P95_S = 0.600
NETWORK_S = 0.0005
ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_Z95 = 1.6448536269514722
_JWT_HEADER = base64.urlsafe_b64encode(b'{"alg":"ES256","typ":"JWT"}').rstrip(b"=")


class CountingEnvironment(simpy.Environment):
    """A SimPy environment counting the events it processes (as vtasim's does)."""

    def __init__(self) -> None:
        super().__init__()
        self.events = 0

    def step(self) -> None:
        """Process the next event."""
        self.events += 1
        super().step()


@dataclass(frozen=True)
class ReferenceRun:
    """What one run of the reference model did and cost."""

    hosts: int
    sim_time_s: float
    attestations: int
    events: int
    signs: int
    verifies: int
    cpu_s: float
    mean_latency_s: float

    @property
    def attestations_per_cpu_s(self) -> float:
        """Attestations per CPU second, build and summary included."""
        return self.attestations / self.cpu_s

    @property
    def events_per_attestation(self) -> float:
        """SimPy events processed per attestation."""
        return self.events / max(self.attestations, 1)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def tpms_attest(signer: bytes, nonce: bytes, clock: int, pcr_digest: bytes) -> bytes:
    """A TPMS_ATTEST-like quote body: TPM_GENERATED magic, TPM_ST_ATTEST_QUOTE, the signer's
    name, the nonce as extra data, clock info, firmware version, one PCR selection (SHA-256,
    PCRs 0-7) and the PCR digest."""
    return b"".join(
        (
            struct.pack(">IHH", 0xFF544347, 0x8018, len(signer)),
            signer,
            struct.pack(">H", len(nonce)),
            nonce,
            struct.pack(">QIIB", clock, 1, 0, 1),
            struct.pack(">Q", 0x0001_0002_0003_0004),
            struct.pack(">IHB", 1, 0x000B, 3),
            b"\xff\x00\x00",
            struct.pack(">H", len(pcr_digest)),
            pcr_digest,
        )
    )


def run_reference(hosts: int = HOSTS, until: float = 3600.0, seed: int = 0) -> ReferenceRun:
    """Build and run the reference estate for ``until`` simulated seconds; CPU time
    (``time.process_time``) covers the build, the run and the summary."""
    started = time.process_time()
    env = CountingEnvironment()
    rng = np.random.default_rng(seed)
    sigma = np.log(SERVICE_P95_S / SERVICE_MEDIAN_S) / _Z95
    tpm_sigma = np.log(TPM_SIGN_P95_S / TPM_SIGN_MEDIAN_S) / _Z95
    nodes = [simpy.Resource(env, capacity=WORKERS) for _ in range(NODES)]
    signing_key = ec.derive_private_key(0x5EED + seed, ec.SECP256R1())
    rows: list[tuple[int, float, float, int, float, bool]] = []
    turn = [0]
    ops = [0, 0]  # signs, verifies

    def host(index: int) -> Generator[simpy.Event, Any, None]:
        key = ec.derive_private_key(0x1000 + index + seed * HOSTS, ec.SECP256R1())
        public = key.public_key()
        name = hashlib.sha256(b"ak-%d" % index).digest()
        pcrs = hashlib.sha256(b"boot-chain-%d" % (index % 7)).digest()
        own = np.random.default_rng([seed, index])
        jitter = own.uniform(0.0, JITTER_S, 4096)
        service = own.lognormal(np.log(SERVICE_MEDIAN_S), sigma, 4096)
        signing = own.lognormal(np.log(TPM_SIGN_MEDIAN_S), tpm_sigma, 4096)
        yield env.timeout(float(own.uniform(0.0, INTERVAL_S)))
        k = 0
        while True:
            requested = env.now
            node_index = turn[0] % NODES
            turn[0] += 1
            node = nodes[node_index]
            yield env.timeout(NETWORK_S)  # the request for a nonce reaches the node
            nonce = rng.bytes(32)
            yield env.timeout(NETWORK_S)  # the nonce reaches the host
            yield env.timeout(float(signing[k % 4096]))  # the TPM signs the quote
            body = tpms_attest(name, nonce, int(env.now * 1000), pcrs)
            signature = key.sign(body, ECDSA)
            ops[0] += 1
            quoted = env.now
            yield env.timeout(NETWORK_S)  # the quote reaches the node
            with node.request() as request:
                yield request
                waited = env.now - quoted - NETWORK_S
                yield env.timeout(float(service[k % 4096]))
                public.verify(signature, body, ECDSA)  # raises InvalidSignature if forged
                ops[1] += 1
                good = body[-32:] == pcrs and body[42:74] == nonce
                claims = _b64(
                    json.dumps(
                        {"sub": index, "iat": env.now, "exp": env.now + 900, "ok": good},
                        separators=(",", ":"),
                    ).encode()
                )
                signed = _JWT_HEADER + b"." + claims
                r, s = decode_dss_signature(signing_key.sign(signed, ECDSA))
                ops[0] += 1
                report = signed + b"." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
            yield env.timeout(NETWORK_S)  # the report reaches the host
            rows.append((index, requested, env.now, node_index, waited, len(report) > 0 and good))
            yield env.timeout(INTERVAL_S + float(jitter[k % 4096]))
            k += 1

    for i in range(hosts):
        env.process(host(i))
    env.run(until=until)
    latencies = [finished - requested for _, requested, finished, *_ in rows]
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    cpu = time.process_time() - started
    return ReferenceRun(hosts, until, len(rows), env.events, ops[0], ops[1], cpu, mean)


if __name__ == "__main__":
    run = run_reference()
    print(
        f"{run.attestations:,} attestations, {run.events_per_attestation:.1f} events each, "
        f"{run.attestations_per_cpu_s:,.0f} per CPU-s, "
        f"mean latency {run.mean_latency_s * 1e3:.1f} ms"
    )
