"""The lean reference model (benchmarks/reference.py) and the profile grouping
(benchmarks/profile_shares.py). No test asserts a speed."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from benchmarks import profile_shares, reference


def test_reference_attests_every_host_each_interval() -> None:
    """20 hosts for an hour attest about 12 times each (5 min + jitter, random first
    phase); each attestation signs a quote and a report and verifies the quote."""
    run = reference.run_reference(hosts=20, until=3600.0, seed=3)
    assert 20 * 11 <= run.attestations <= 20 * 12
    assert run.signs >= 2 * run.attestations and run.verifies >= run.attestations
    assert run.signs <= 2 * run.attestations + 20  # a quote in flight at the end at most
    assert 5 <= run.events_per_attestation <= 10
    assert run.cpu_s > 0 and run.attestations_per_cpu_s == run.attestations / run.cpu_s
    assert 2 * reference.NETWORK_S < run.mean_latency_s < 1.0


def test_reference_is_reproducible() -> None:
    """One seed, one run: the same counts and latencies twice; another seed differs."""
    a, b = (reference.run_reference(hosts=5, until=1800.0, seed=1) for _ in range(2))
    c = reference.run_reference(hosts=5, until=1800.0, seed=2)
    assert (a.attestations, a.events, a.mean_latency_s) == (
        b.attestations,
        b.events,
        b.mean_latency_s,
    )
    assert c.mean_latency_s != a.mean_latency_s


def test_quote_body_carries_the_nonce_and_the_pcr_digest() -> None:
    """The TPMS_ATTEST-like body starts with TPM_GENERATED and ST_ATTEST_QUOTE, holds the
    nonce at its extra-data offset and ends with the PCR digest."""
    signer, nonce = hashlib.sha256(b"ak").digest(), bytes(range(32))
    pcrs = hashlib.sha256(b"pcrs").digest()
    body = reference.tpms_attest(signer, nonce, 1234, pcrs)
    assert body[:6] == bytes.fromhex("ff5443478018")
    assert body[42:74] == nonce and body[-32:] == pcrs
    key = ec.derive_private_key(7, ec.SECP256R1())
    signature = key.sign(body, reference.ECDSA)
    assert signature == key.sign(body, reference.ECDSA)  # RFC 6979: deterministic
    key.public_key().verify(signature, body, reference.ECDSA)


def test_grouping_charges_builtins_to_their_callers() -> None:
    """A non-crypto built-in's own time goes to its callers in proportion to the time it
    took from each; a cryptography built-in is crypto; files go by their folder."""
    proc = ("/x/sim/processes/host.py", 1, "f")
    dom = ("/x/sim/domain/tpm.py", 1, "g")
    append = ("~", 0, "<method 'append' of 'list' objects>")
    sign = ("~", 0, "<method 'sign' of 'cryptography.hazmat.bindings._rust.openssl.ec.X' objects>")
    stats = {
        proc: (1, 1, 1.0, 5.0, {}),
        dom: (1, 1, 2.0, 2.0, {proc: (1, 1, 2.0, 2.0)}),
        append: (4, 4, 0.4, 0.4, {proc: (3, 3, 0.3, 0.3), dom: (1, 1, 0.1, 0.1)}),
        sign: (2, 2, 0.2, 0.2, {dom: (2, 2, 0.2, 0.2)}),
        ("/lib/simpy/core.py", 1, "step"): (1, 1, 0.5, 0.5, {}),
    }
    prof = profile_shares.grouped(stats)
    assert prof.seconds["processes"] == pytest.approx(1.3)
    assert prof.seconds["domain"] == pytest.approx(2.1)
    assert prof.seconds["crypto"] == pytest.approx(0.2)
    assert prof.seconds["simpy"] == pytest.approx(0.5)
    assert prof.total_s == pytest.approx(4.1)
    assert prof.per_call_us("sign") == pytest.approx(1e5)
    assert prof.per_call_us("verify") is None


def test_cli_fixed_cost_is_the_fresh_run_less_the_warm_one() -> None:
    """Every figure of the command line's cost is positive CPU time, and the fixed cost is
    the fresh run's CPU less the same run's in a warm interpreter."""
    from benchmarks.anchor import cli_fixed_cost

    cost = cli_fixed_cost()
    assert all(v > 0 for v in cost.values())
    assert cost["fixed_cpu_s"] == pytest.approx(cost["run_1s_cpu_s"] - cost["warm_run_1s_cpu_s"])
    assert cost["warm_run_1s_cpu_s"] < cost["run_1s_cpu_s"]
