"""The pure domain path of one attestation: microseconds per collect_evidence + verify.

One host is built as the simulator builds it (seeded manufacturer CA and TPM, the default
image measured into a fresh boot, its identity enrolled by credential activation, the
policy of ``scenarios/large.yaml``: registered EKs, TPM bound to its server).
Then each part of the attestation the Attestation Service and the agent do is repeated
until a budget of CPU seconds (``time.process_time``) is used up, with a fresh 32-byte
nonce per quote, and printed in microseconds per call:

==========================  =====================================================
collect_evidence            the agent: a quote over a fresh nonce, the evidence
  quote                     ``VirtualTPM.quote`` alone (TPMS_ATTEST, sign, TPMT)
    ECDSA sign              the deterministic ECDSA signature it contains
parse                       ``parse_attest`` + ``parse_signature`` of one quote
verify                      the verifier's verdict on one piece of evidence
    ECDSA verify            the ECDSA verification it contains
report prepare              the KMS_AUTH report the service prepares on a pass
total                       collect_evidence + verify
  not cryptography          total less ECDSA sign and verify
==========================  =====================================================

The ECDSA figures time the bare ``cryptography`` calls on the same key and bytes, so "not
cryptography" is what the model's own Python costs per attestation. Tight-loop figures:
the run itself (``benchmarks/run.py``, the hosts-alone row) measures them in place.

Run: ``python benchmarks/domain_path.py [--budget SECONDS]`` (default 0.5 per part).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

if __package__ in (None, ""):  # run as a script: the repository root makes ``sim`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.domain.identities import host_platform, host_tpm, manufacturer_ca
from sim.domain.image import MEASURED_PCRS, AcceptanceLevel, default_image, measure_boot
from sim.domain.pki import derive_p256_key, sign
from sim.domain.pki import verify as ecdsa_verify
from sim.domain.report import ReportSigner
from sim.domain.tpm import VirtualTPM
from sim.domain.tpm_wire import parse_attest, parse_signature
from sim.domain.verifier import (
    AK_CHALLENGE_STREAM,
    Evidence,
    HostIdentity,
    Policy,
    collect_evidence,
    verify,
)
from sim.rng import Streams

DEFAULT_BUDGET_S = 0.5
POOL = 256
"""Distinct nonces (and pieces of evidence) cycled through by the timed loops."""
HOST = "esx-01"


@dataclass(frozen=True)
class Host:
    """One booted host, the policy that knows it, and a pool of nonces and evidence."""

    seed: int
    tpm: VirtualTPM
    policy: Policy
    nonces: tuple[bytes, ...]
    evidence: tuple[Evidence, ...]


def build_host(seed: int = 5) -> Host:
    """A host as :mod:`sim.build` makes one, booted into the default image."""
    streams = Streams(seed)
    manufacturer = manufacturer_ca(streams)
    tpm = host_tpm(streams, manufacturer, HOST)
    platform = host_platform(streams, HOST)
    image = default_image()
    measure_boot(tpm, image, platform)
    tpm.set_clock(3_600_000)
    challenge = streams.take_bytes(AK_CHALLENGE_STREAM, 32)
    policy = Policy(
        require_endorsement_keys=True,
        require_certificate_validation=False,
        bind_tpm_to_server=True,
        trusted_ca_certs_der=(manufacturer.certificate.public_bytes(Encoding.DER),),
        identities={HOST: HostIdentity.for_tpm(HOST, platform.hardware_id, tpm, challenge)},
        approved_images=(image,),
        min_acceptance=AcceptanceLevel.PARTNER_SUPPORTED,
    )
    nonces = tuple(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(POOL))
    evidence = tuple(collect_evidence(HOST, tpm, n) for n in nonces)
    for ev, n in zip(evidence, nonces, strict=True):
        if not verify(ev, policy, n).ok:
            raise RuntimeError("the benchmark host's genuine evidence did not pass")
    return Host(seed, tpm, policy, nonces, evidence)


def per_call_us(op: Callable[[int], object], budget: float) -> float:
    """CPU microseconds per ``op(i)`` (``i`` counts up), called until ``budget`` CPU
    seconds are used; one untimed batch first warms caches."""
    if budget <= 0:
        raise ValueError("the time budget must be positive")
    batch = 64
    for i in range(batch):
        op(i)
    calls = 0
    start = time.process_time()
    elapsed = 0.0
    while elapsed < budget or calls == 0:
        for i in range(calls, calls + batch):
            op(i)
        calls += batch
        elapsed = time.process_time() - start
    return elapsed / calls * 1e6


def measure(budget: float = DEFAULT_BUDGET_S, host: Host | None = None) -> dict[str, float]:
    """Microseconds per call of each part (keys as in the module's table)."""
    h = build_host() if host is None else host
    tpm, policy, nonces, evidence = h.tpm, h.policy, h.nonces, h.evidence
    quote = evidence[0].quote
    attest = quote.attest
    r, s = parse_signature(quote.signature)
    der = encode_dss_signature(r, s)
    ak_private = derive_p256_key(Streams(h.seed).seed_bytes(f"tpm.{HOST}"), "ak")  # the TPM's AK
    if ak_private.public_key().public_numbers() != tpm.ak_public.public_numbers():
        raise RuntimeError("the benchmark's AK is not the TPM's")
    ak_public = tpm.ak_public
    signer = ReportSigner("ta-01", "group-a", derive_p256_key(b"report", "signer"))
    mask = POOL - 1

    def parse(i: int) -> None:
        q = evidence[i & mask].quote
        parse_attest(q.attest)
        parse_signature(q.signature)

    figures = {
        "collect_evidence": per_call_us(
            lambda i: collect_evidence(HOST, tpm, nonces[i & mask]), budget
        ),
        "quote": per_call_us(lambda i: tpm.quote(nonces[i & mask], MEASURED_PCRS), budget),
        "ECDSA sign": per_call_us(lambda i: sign(ak_private, attest), budget),
        "parse": per_call_us(parse, budget),
        "verify": per_call_us(
            lambda i: verify(evidence[i & mask], policy, nonces[i & mask]), budget
        ),
        "ECDSA verify": per_call_us(lambda i: ecdsa_verify(ak_public, der, attest), budget),
        "report prepare": per_call_us(
            lambda i: signer.prepare(HOST, "img", "kms", 1000.0 + i, 3600.0, f"r-{i}"), budget
        ),
    }
    figures["total"] = figures["collect_evidence"] + figures["verify"]
    figures["not cryptography"] = figures["total"] - figures["ECDSA sign"] - figures["ECDSA verify"]
    return figures


_INDENT = {"quote": 2, "ECDSA sign": 4, "ECDSA verify": 4, "not cryptography": 2}


def report(figures: dict[str, float]) -> str:
    """The figures as an aligned table, one part a line."""
    order = (
        "collect_evidence",
        "quote",
        "ECDSA sign",
        "parse",
        "verify",
        "ECDSA verify",
        "report prepare",
        "total",
        "not cryptography",
    )
    lines = ["domain path of one attestation (CPU us per call)"]
    for name in order:
        label = " " * _INDENT.get(name, 0) + name
        lines.append(f"  {label:<24}{figures[name]:9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the table; ``--budget`` sets the CPU seconds given to each part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S)
    args = parser.parse_args(argv)
    if args.budget <= 0:
        parser.error("--budget must be positive")
    print(report(measure(args.budget)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
