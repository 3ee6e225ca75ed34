"""Smoke tests of benchmarks/run.py: every figure is produced, positive and consistent.

The benchmark is run on a shrunken baseline scenario with a tiny time budget. No test here
asserts a speed: wall-clock figures depend on the machine and its load.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.scenario import Scenario, load_scenario
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TINY_OVERRIDES: dict[str, Any] = {
    "vcenters.0.clusters": [{"name": "cl-a", "hosts": 3}],
    "vms.count": 12,
    "drift.scheduled": [],
}
TINY_OVERRIDE_ARGS = [
    "--set",
    "vcenters.0.clusters=[{name: cl-a, hosts: 3}]",
    "--set",
    "vms.count=12",
    "--set",
    "drift.scheduled=[]",
]
BUDGET = 0.01
ALONE_ROW = r"hosts alone \(no VMs, no workload\)\s+[\d.]+ s, [\d,]+ attestations"


bench = load_script("benchmarks/run.py", "vtasim_bench_run")


@pytest.fixture(scope="module")
def tiny() -> Scenario:
    """The baseline shrunk to three hosts and twelve VMs."""
    return load_scenario(BASELINE, TINY_OVERRIDES)


@pytest.fixture(scope="module")
def report(tiny: Scenario) -> dict[str, Any]:
    """One full benchmark report on the tiny scenario."""
    result: dict[str, Any] = bench.run_benchmarks(tiny, until=1800.0, budget=BUDGET, processes=50)
    return result


def test_micro_benchmarks_count_positive_operations() -> None:
    """Every machine-limit micro-benchmark does at least one operation in positive time."""
    limits = bench.measure_limits(BUDGET, packet_size=4096, processes=20)
    assert set(limits) == {
        "simpy_single",
        "simpy_many",
        "ecdsa_sign",
        "ecdsa_verify",
        "aesgcm_seal",
        "aesgcm_open",
        "sha256",
        "ecdh",
        "aes_key_wrap",
    }
    for m in limits.values():
        assert m.ops > 0 and m.seconds > 0 and m.rate > 0
        assert m.seconds >= BUDGET
    assert limits["aesgcm_seal"].bytes_per_op == 4096
    assert limits["sha256"].as_dict()["bytes_per_s"] == pytest.approx(limits["sha256"].rate * 64)


def test_simpy_benchmark_counts_timeouts_of_every_process() -> None:
    """The many-process SimPy benchmark names its process count and counts fired timeouts."""
    m = bench.simpy_event_rate(BUDGET, processes=7)
    assert "7 processes" in m.name
    assert m.ops >= 7 and m.unit == "events"


def test_timed_rejects_a_non_positive_budget() -> None:
    """A zero budget is refused rather than giving a meaningless rate."""
    with pytest.raises(ValueError, match="budget"):
        bench.timed("x", "ops", lambda: 1, 0.0)


def test_simulation_figures_are_consistent(report: dict[str, Any]) -> None:
    """The simulator's rates are its counts divided by the measured CPU time."""
    s = report["simulation"]
    assert s["exception"] is None
    assert s["hosts"] == 3 and s["vms"] == 12 and s["sim_time_s"] == 1800.0
    assert s["events"] > 0 and s["attestations"] > 0
    assert s["cpu_s"] > 0 and s["wall_s"] > 0 and s["build_cpu_s"] > 0
    assert s["events_per_cpu_s"] == pytest.approx(s["events"] / s["cpu_s"])
    assert s["attestations_per_cpu_s"] == pytest.approx(s["attestations"] / s["cpu_s"])
    assert s["sim_s_per_cpu_s"] == pytest.approx(1800.0 / s["cpu_s"])
    assert s["peak_rss_bytes"] > 0
    assert s["tracemalloc_peak_bytes"] is None


def test_ratios_follow_their_definitions(report: dict[str, Any]) -> None:
    """Each ratio is recomputable from the reported limits, the counted crypto operations
    and the simulator's figures."""
    lim, s, r = report["limits"], report["simulation"], report["ratios"]
    ops = s["crypto_ops"]
    sign_s, verify_s = 1 / lim["ecdsa_sign"]["rate"], 1 / lim["ecdsa_verify"]["rate"]
    assert r["events_vs_simpy_single"] == pytest.approx(
        s["events_per_cpu_s"] / lim["simpy_single"]["rate"]
    )
    assert r["attestations_per_sign"] == pytest.approx(
        s["attestations_per_cpu_s"] / lim["ecdsa_sign"]["rate"]
    )
    signs = ops["ecdsa_sign"] + ops["x509_sign"]
    assert r["signs_per_attestation"] == pytest.approx(signs / s["attestations"])
    assert r["verifies_per_attestation"] == pytest.approx(ops["ecdsa_verify"] / s["attestations"])
    pk_s = signs * sign_s + ops["ecdsa_verify"] * verify_s + ops["ecdh"] / lim["ecdh"]["rate"]
    assert r["pk_crypto_share"] == pytest.approx(pk_s / s["cpu_s"])
    assert r["pk_crypto_s_per_attestation"] == pytest.approx(pk_s / s["attestations"])
    assert r["crypto_share_total"] == pytest.approx(
        r["pk_crypto_share"] + r["aead_crypto_share"] + r["key_wrap_crypto_share"]
    )
    stream = s["vmotion_stream"]
    assert r["vmotion_stream_vs_raw"] == pytest.approx(
        stream["stream_bytes_per_s"] / stream["raw_bytes_per_s"]
    )
    assert r["vmotion_stream_vs_same_calls"] == pytest.approx(
        stream["stream_bytes_per_s"] / stream["same_calls_bytes_per_s"]
    )
    alone = s["hosts_alone"]
    alone_ops = alone["crypto_ops"]
    alone_pk_s = (
        (alone_ops["ecdsa_sign"] + alone_ops["x509_sign"]) * sign_s
        + alone_ops["ecdsa_verify"] * verify_s
        + alone_ops["ecdh"] / lim["ecdh"]["rate"]
    )
    assert r["pk_crypto_share_hosts_alone"] == pytest.approx(alone_pk_s / alone["cpu_s"])
    assert stream["bytes_per_round"] == 2**20  # the baseline's vmotion.payload
    assert all(v > 0 and math.isfinite(v) for v in r.values())


def test_hosts_alone_keeps_the_hosts_and_drops_the_vms(
    tiny: Scenario, report: dict[str, Any]
) -> None:
    """The extra run keeps every host and its attestation settings and has no VMs, no
    placements or migrations and so no key requests; the full run had some."""
    bare = bench.hosts_alone(tiny)
    assert bare.host_names() == tiny.host_names()
    assert bare.attestation == tiny.attestation and bare.seed == tiny.seed
    assert bare.vms.count == 0
    assert bare.workload.power_on_rate == bare.workload.migration_rate == 0.0
    alone, full = report["simulation"]["hosts_alone"], report["simulation"]
    assert alone["exception"] is None and alone["hosts"] == full["hosts"] == 3
    assert alone["vms"] == 0 and alone["migrations"] == 0 and alone["key_requests"] == 0
    assert alone["attestations"] > 0 and full["key_requests"] > 0
    assert alone["crypto_ops"]["aesgcm_seal_bytes"] == 0


def test_crypto_is_counted_not_assumed(report: dict[str, Any]) -> None:
    """Every attestation signs a quote and verifies it; a report is signed only when a key
    request first presents it, so signatures lie between one per attestation and one per
    attestation plus one per report (at most one per attestation and one held by each host
    from before the run), and above the first when key requests were made; the estate's
    build adds the certificates (one per host and CA at least) and credential activations."""
    s = report["simulation"]
    ops, n = s["crypto_ops"], s["attestations"]
    assert n <= ops["ecdsa_sign"] <= 2 * n + s["hosts"] and ops["ecdsa_verify"] >= n
    assert s["key_requests"] > 0 and ops["ecdsa_sign"] > n
    assert ops["x509_sign"] >= s["hosts"] and ops["ecdh"] >= s["hosts"]
    assert ops["aesgcm_seal_bytes"] == ops["aesgcm_open_bytes"]
    assert ops["rsa_oaep_encrypt"] == ops["rsa_oaep_decrypt"] == 0


def test_render_labels_every_section_and_ratio(report: dict[str, Any]) -> None:
    """The printed table has the three sections and one labelled line per ratio."""
    text = bench.render(report)
    for heading in ("MACHINE LIMITS", "SIMULATOR", "RATIOS", "ANCHOR"):
        assert heading in text
    for label in bench._RATIO_LABELS.values():
        assert label in text
    assert "SimPy raw events, 50 processes" in text
    assert re.search(ALONE_ROW, text)


def test_render_gives_the_day_against_its_floor(report: dict[str, Any]) -> None:
    """With a measured day and its floor, the table prints the day's CPU, the floor's two
    parts in minutes and the day over the floor."""
    floor = {
        "crypto_s": 540.0,
        "lean_noncrypto_s": 210.0,
        "floor_s": 750.0,
        "above_floor_s": 990.0,
        "ratio": 2.32,
    }
    day = {"cpu_s": 1740.0, "peak_rss_bytes": 1.65 * 2**30, "floor": floor}
    text = bench.render({**report, "xlarge_day": day})
    assert re.search(r"CPU\s+29\.0 min", text)
    assert re.search(r"cryptography at loop rates\s+9\.0 min", text)
    assert re.search(r"beyond crypto, per attestation\s+3\.5 min", text)
    assert re.search(r"the day ÷ floor\s+12\.5 min; 2\.32", text)


def _limits(sign: float, verify: float, seal: float) -> dict[str, Any]:
    mk = bench.Measurement
    return {
        "simpy_single": mk("a", "events", 1000, 1.0),
        "simpy_many": mk("b", "events", 500, 1.0),
        "ecdsa_sign": mk("c", "signatures", 1, 1.0 / sign),
        "ecdsa_verify": mk("d", "verifications", 1, 1.0 / verify),
        "aesgcm_seal": mk("e", "packets", 1, 1.0 / seal, 65536),
        "aesgcm_open": mk("f", "packets", 1, 1.0 / seal, 65536),
        "sha256": mk("g", "digests", 1, 1.0, 64),
        "ecdh": mk("h", "agreements", 1, 1.0 / sign),
        "aes_key_wrap": mk("i", "wraps", 1, 1.0 / seal),
    }


@given(
    sign=st.floats(1e2, 1e6),
    verify=st.floats(1e2, 1e6),
    attestations=st.integers(1, 10**6),
    factor=st.integers(2, 10),
)
def test_crypto_share_scales_with_counts_and_machine_speed(
    sign: float, verify: float, attestations: int, factor: int
) -> None:
    """The public-key share is linear in the counted operations and shrinks as the machine
    signs and verifies faster; per-attestation counts do not depend on the machine."""
    ops = dict.fromkeys(bench.opcount.KINDS, 0)
    ops.update(ecdsa_sign=2 * attestations, ecdsa_verify=attestations)
    sim = {
        "events_per_cpu_s": 100.0,
        "attestations": attestations,
        "attestations_per_cpu_s": attestations / 10.0,
        "cpu_s": 10.0,
        "crypto_ops": ops,
    }
    more_ops = {k: v * factor for k, v in ops.items()}
    base = bench.ratios(_limits(sign, verify, 1e4), sim)
    more = bench.ratios(_limits(sign, verify, 1e4), {**sim, "crypto_ops": more_ops})
    faster = bench.ratios(_limits(sign * factor, verify * factor, 1e4), sim)
    assert base["pk_crypto_share"] == pytest.approx(
        (2 * attestations / sign + attestations / verify) / 10.0
    )
    assert more["pk_crypto_share"] == pytest.approx(base["pk_crypto_share"] * factor)
    assert faster["pk_crypto_share"] == pytest.approx(base["pk_crypto_share"] / factor)
    assert faster["signs_per_attestation"] == base["signs_per_attestation"] == 2
    assert base["crypto_share_total"] == pytest.approx(base["pk_crypto_share"])
    assert base["vmotion_stream_vs_raw"] is None
    assert base["pk_crypto_share_hosts_alone"] is None
    assert base["vmotion_stream_vs_same_calls"] is None


@given(
    sign=st.floats(1e2, 1e6),
    verify=st.floats(1e2, 1e6),
    seal=st.floats(1e2, 1e6),
    attestations=st.integers(1, 10**7),
    ref_us=st.floats(50.0, 5000.0),
)
def test_the_day_floor_is_its_crypto_at_loop_rates_plus_the_lean_model(
    sign: float, verify: float, seal: float, attestations: int, ref_us: float
) -> None:
    """The floor under a day prices the day's counted operations at the loop rates and
    adds the reference model's CPU per attestation less its own two signatures and one
    verification, once per attestation of the day; the ratio is the day's CPU over it."""
    limits = _limits(sign, verify, seal)
    reference = {"cpu_s": ref_us * 1e-6 * 1000, "attestations": 1000, "signs": 2000}
    reference["verifies"] = 1000
    noncrypto = bench.reference_noncrypto_s(limits, reference)
    assert noncrypto == pytest.approx(ref_us * 1e-6 - 2 / sign - 1 / verify)
    ops = dict.fromkeys(bench.opcount.KINDS, 0)
    ops.update(ecdsa_sign=attestations, ecdsa_verify=2 * attestations)
    ops.update(aesgcm_seal_bytes=65536 * attestations, aesgcm_open_bytes=65536 * attestations)
    day = {"cpu_s": 1e4, "attestations": attestations, "crypto_ops": ops}
    floor = bench.day_floor(limits, day, noncrypto)
    crypto = attestations / sign + 2 * attestations / verify + 2 * attestations / seal
    assert floor["crypto_s"] == pytest.approx(crypto)
    assert floor["lean_noncrypto_s"] == pytest.approx(attestations * noncrypto)
    assert floor["floor_s"] == pytest.approx(crypto + attestations * noncrypto)
    assert floor["above_floor_s"] == pytest.approx(1e4 - floor["floor_s"])
    assert floor["ratio"] == pytest.approx(1e4 / floor["floor_s"])


def test_a_measurement_reads_back_from_its_json_form() -> None:
    """A machine limit written into a report's JSON is read back with the same rate."""
    m = bench.Measurement("seal", "packets", 120, 0.5, 65536)
    back = bench.Measurement.from_dict(json.loads(json.dumps(m.as_dict())))
    assert back == m and back.rate == m.rate


def test_main_prints_the_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line prints the table and writes the same figures as JSON."""
    out = tmp_path / "nested" / "bench.json"
    code = bench.main(
        [
            "--scenario",
            str(BASELINE),
            "--until",
            "10m",
            "--budget",
            str(BUDGET),
            "--processes",
            "10",
            "--tracemalloc",
            "--no-hosts-alone",
            "--no-cli-cost",
            "--json",
            str(out),
            *TINY_OVERRIDE_ARGS,
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) == {"machine", "budget_s", "limits", "simulation", "ratios"}
    assert data["simulation"]["hosts"] == 3
    assert data["simulation"]["tracemalloc_peak_bytes"] > 0
    assert "hosts_alone" not in data["simulation"]
    assert data["ratios"]["pk_crypto_share_hosts_alone"] is None
    assert re.search(ALONE_ROW, printed) is None
    assert re.search(r"hosts alone \(no VMs, no workload\)\s+n/a", printed)
    assert "tracemalloc peak" in printed
    assert data["limits"]["aesgcm_seal"]["bytes_per_op"] == 64 * 1024
    assert f"{data['simulation']['events']:,}" in printed


def test_main_reports_a_bad_scenario_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario that fails validation gives exit status 2 and the problem on stderr."""
    code = bench.main(
        ["--scenario", str(BASELINE), "--budget", str(BUDGET), "--set", "vms.count=-5"]
    )
    assert code == 2
    assert "vms.count" in capsys.readouterr().err


def test_anchor_sets_both_runs_against_the_reference(report: dict[str, Any]) -> None:
    """The anchor's ratios are the simulator's attestations per CPU second over the
    reference's, measured on as many hosts; the non-crypto figures leave out the in-place
    crypto of a profiled run, which is positive and below each run's CPU."""
    alone = report["anchor"]["hosts_alone"]
    sim_alone = report["simulation"]["hosts_alone"]
    ref = alone["reference"]
    assert ref["hosts"] == 3 and ref["attestations"] > 0
    assert alone["ratio"] == pytest.approx(
        sim_alone["attestations"] / sim_alone["cpu_s"] / ref["attestations_per_cpu_s"]
    )
    assert alone["vtasim_events_per_attestation"] == pytest.approx(
        sim_alone["events"] / sim_alone["attestations"]
    )
    crypto_s = alone["vtasim_profile"]["seconds"]["crypto"]
    assert crypto_s > 0
    assert alone["vtasim_noncrypto_us"] == pytest.approx(
        (sim_alone["cpu_s"] - crypto_s) / sim_alone["attestations"] * 1e6
    )
    assert alone["noncrypto_ratio"] == pytest.approx(
        alone["vtasim_noncrypto_us"] / alone["reference_noncrypto_us"]
    )
    shares = alone["vtasim_profile"]["shares"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["processes"] > 0 and shares["simpy"] > 0 and shares["crypto"] > 0
    assert "noncrypto_ratio" not in report["anchor"]["with_workload"]


def test_anchor_rounds_report_the_median_of_side_by_side_ratios(tiny: Scenario) -> None:
    """With three rounds the anchor ratio is the median of three ratios, each the
    simulator's rate over the reference's of the same round, and the CPU seconds behind
    the printed rates are each side's median."""
    from benchmarks import anchor
    from benchmarks.report import render_goals
    from benchmarks.simulation import measure_simulation

    measured = measure_simulation(tiny, 600.0)
    out = anchor.compare(tiny, 600.0, None, measured, None, False, rounds=3)
    ratios = out["round_ratios"]
    assert out["rounds"] == 3 and len(ratios) == 3 and all(r > 0 for r in ratios)
    assert out["ratio"] == sorted(ratios)[1]
    assert out["vtasim_attestations_per_cpu_s"] == pytest.approx(
        measured["attestations"] / out["vtasim_cpu_s"]
    )
    ref = out["reference"]
    assert ref["attestations_per_cpu_s"] == pytest.approx(ref["attestations"] / ref["cpu_s"])
    lines = "\n".join(render_goals({"anchor": {"hosts_alone": out, "with_workload": out}}))
    assert "median of 3 rounds:" in lines


def test_the_vmotion_stream_benchmark_takes_a_short_last_packet() -> None:
    """A payload that is not a whole number of packets (a short last packet, then a whole
    one again in the next round) is timed like any other: every round runs."""
    from benchmarks.micro import vmotion_stream_vs_raw

    result = vmotion_stream_vs_raw(0.02, 4096, 3 * 4096 + 100)
    assert result["ratio"] > 0 and result["ratio_same_calls"] > 0
