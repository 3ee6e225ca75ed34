"""Evidence out of a run, for others to check: per host a sample quote, its event logs and
the latest attestation report, and the trust authority's report-signing keys as a JWKS.

``vtasim run --export-evidence`` writes these into the run folder under ``evidence/``::

    evidence/jwks.json              the Attestation Services' ES256 public keys (RFC 7517;
                                    ``kid`` is the RFC 7638 thumbprint the reports name)
    evidence/index.json             start_time, audience, issuers, the policy's CA, hosts
    evidence/<host>/...             the files of ``vtasim export-quote`` (quote.msg,
                                    quote.sig, pcrs.bin, pcrs.json, eventlog.json,
                                    eventlog.bin, ak.pub.pem, ek.crt.pem, tpm-ca.crt.pem,
                                    ek.pub, ak.pub, ak.name), taken from the host's TPM as
                                    the run left it, plus nonce.hex, verdict.json (the
                                    project's verdict on that evidence) and report.jwt (the
                                    latest report the host holds, if any)

The sample quote's nonce is SHA-256 of ``vtasim/evidence/<seed>/<host>`` (so one run gives
byte-identical files); the TPM clock is the run's end. Report times are wall-clock POSIX
seconds: the scenario's ``start_time`` plus simulated seconds.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sim.domain.image import MEASURED_PCRS
from sim.domain.report import public_jwk
from sim.domain.verifier import collect_evidence, verify
from sim.interop.quote_export import quote_files
from sim.runner import RunOutput

EVIDENCE_DIR = "evidence"


def evidence_nonce(seed: int, host: str) -> bytes:
    """The nonce of a host's exported sample quote."""
    return hashlib.sha256(f"vtasim/evidence/{seed}/{host}".encode()).digest()


def jwks(output: RunOutput) -> dict[str, Any]:
    """The JWK Set of every Attestation Service's report-signing key."""
    keys = []
    for node in output.estate.ta.nodes:
        signer = node.signer
        jwk = {**public_jwk(signer.public_key), "kid": signer.key_id, "alg": "ES256", "use": "sig"}
        keys.append(jwk)
    return {"keys": keys}


def evidence_files(output: RunOutput) -> dict[str, bytes]:
    """The evidence of a finished run as relative path -> bytes (see module doc)."""
    estate = output.estate
    ta = estate.ta
    ca_der = ta.policy.trusted_ca_certs_der
    ca_pem = b"".join(
        x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM) for der in ca_der
    )
    files: dict[str, bytes] = {f"{EVIDENCE_DIR}/jwks.json": _json(jwks(output))}
    hosts = []
    for name, host in estate.hosts.items():
        nonce = evidence_nonce(output.seed, name)
        prefix = f"{EVIDENCE_DIR}/{name}/"
        for file, data in quote_files(host.tpm, nonce, MEASURED_PCRS, ca_pem).items():
            files[prefix + file] = data
        verdict = verify(collect_evidence(name, host.tpm, nonce), ta.policy, nonce)
        files[prefix + "nonce.hex"] = (nonce.hex() + "\n").encode()
        files[prefix + "verdict.json"] = _json(
            {"ok": verdict.ok, "reasons": list(verdict.reasons), "details": list(verdict.details)}
        )
        if host.report is not None:
            files[prefix + "report.jwt"] = (host.report.token + "\n").encode()
        hosts.append({"host": name, "verdict_ok": verdict.ok, "report": host.report is not None})
    index = {
        "scenario": output.scenario.name,
        "seed": output.seed,
        "start_time": output.scenario.start_time.isoformat().replace("+00:00", "Z"),
        "end_time_posix": output.scenario.epoch + float(output.manifest["sim_time_s"]),
        "audience": ta.audience,
        "issuers": sorted(ta.issuers),
        "quoted_pcrs": list(MEASURED_PCRS),
        "hosts": hosts,
    }
    files[f"{EVIDENCE_DIR}/index.json"] = _json(index)
    return files


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2) + "\n").encode()
