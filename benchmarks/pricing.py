"""Pricing counted crypto operations at measured rates, and the ratios derived from it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.micro import Measurement

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
    """CPU seconds this machine needs for the counted operations, by kind (bare library
    calls at the tight-loop rates measured in this run)."""
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
    """The simulator's rates divided by the machine's (definitions in the README); None
    where a ratio is undefined (no attestations to divide by, no hosts-alone run)."""
    ops = sim["crypto_ops"]
    seconds = crypto_seconds(limits, ops)
    alone = sim.get("hosts_alone")
    cpu = float(sim["cpu_s"])
    attestations = int(sim["attestations"])
    pk_s = pk_seconds(limits, ops)
    aead_s = seconds["aesgcm_seal"] + seconds["aesgcm_open"]
    wrap_s = seconds["aes_key_wrap"] + seconds["aes_key_unwrap"]
    att_rate = float(sim["attestations_per_cpu_s"])
    per_att = (lambda n: n / attestations) if attestations else (lambda n: None)
    return {
        "events_vs_simpy_single": sim["events_per_cpu_s"] / limits["simpy_single"].rate,
        "events_vs_simpy_many": sim["events_per_cpu_s"] / limits["simpy_many"].rate,
        "attestations_per_sign": att_rate / limits["ecdsa_sign"].rate,
        "signs_per_attestation": per_att(ops["ecdsa_sign"] + ops["x509_sign"]),
        "verifies_per_attestation": per_att(ops["ecdsa_verify"]),
        "pk_crypto_s_per_attestation": per_att(pk_s),
        "pk_crypto_share": pk_s / cpu,
        "pk_crypto_share_hosts_alone": (
            None
            if alone is None or alone["exception"] is not None or not alone["attestations"]
            else pk_seconds(limits, alone["crypto_ops"]) / float(alone["cpu_s"])
        ),
        "aead_crypto_share": aead_s / cpu,
        "key_wrap_crypto_share": wrap_s / cpu,
        "crypto_share_total": (pk_s + aead_s + wrap_s) / cpu,
        "vmotion_stream_vs_raw": (
            None if sim.get("vmotion_stream") is None else sim["vmotion_stream"]["ratio"]
        ),
        "vmotion_stream_vs_same_calls": (
            None if sim.get("vmotion_stream") is None else sim["vmotion_stream"]["ratio_same_calls"]
        ),
    }


def reference_noncrypto_s(limits: Mapping[str, Measurement], reference: Mapping[str, Any]) -> float:
    """CPU seconds per attestation of the lean reference model beyond its cryptography: its
    CPU per attestation (build and summary included) less the signatures and verifications
    it counted (a quote and a report signed, a quote verified, per attestation) priced at
    this run's loop rates. What a bare SimPy model of the attestation loop costs per
    attestation besides the cryptography."""
    counted = {"ecdsa_sign": int(reference["signs"]), "ecdsa_verify": int(reference["verifies"])}
    crypto = pk_seconds(limits, counted)
    return (float(reference["cpu_s"]) - crypto) / int(reference["attestations"])


def day_floor(
    limits: Mapping[str, Measurement], day: Mapping[str, Any], noncrypto_s: float
) -> dict[str, float]:
    """A floor under one run's CPU (one simulated day of ``xlarge.yaml``, say): the
    cryptography the run counted, priced at this machine's loop rates, plus the lean
    reference model's non-cryptographic CPU (``noncrypto_s`` per attestation,
    :func:`reference_noncrypto_s`) for each of its attestations. A model that did the same
    cryptography and only the attestation loop, with no workload, records or analysis,
    would need about this much; the rest of the run's CPU (``above_floor_s``) is the price
    of everything else the simulator does. Loop rates are the fastest the library goes
    (in a simulation a signature costs more: its data and key are not in cache), so the
    floor is low rather than high."""
    crypto = sum(crypto_seconds(limits, day["crypto_ops"]).values())
    lean = int(day["attestations"]) * noncrypto_s
    floor = crypto + lean
    return {
        "crypto_s": crypto,
        "lean_noncrypto_s": lean,
        "floor_s": floor,
        "above_floor_s": float(day["cpu_s"]) - floor,
        "ratio": float(day["cpu_s"]) / floor,
    }
