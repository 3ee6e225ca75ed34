"""The benchmark report as a plain-text table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.anchor import GOALS as GOALS_28
from benchmarks.micro import GOALS

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
    "crypto_share_total": "crypto share: all counted crypto (fraction of CPU)",
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
        (
            "CPU time",
            f"{s['cpu_s']:.2f} s (build {s['build_cpu_s']:.2f} s; wall {s['wall_s']:.2f} s)",
        ),
        ("simulated s per CPU s", f"{s['sim_s_per_cpu_s']:,.1f}"),
        (
            "events",
            f"{s['events']:,}  ->  {_si(s['events_per_cpu_s']).strip()} events/CPU-s "
            f"({_si(s['events_per_cpu_s_excluding_build']).strip()} excluding build)",
        ),
        (
            "attestations",
            f"{s['attestations']:,}  ->  {s['attestations_per_cpu_s']:,.1f}/CPU-s",
        ),
        ("key requests", f"{s['key_requests']:,}  ->  {s['key_requests_per_cpu_s']:,.1f}/CPU-s"),
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
                f"{_mib(s['tracemalloc_peak_bytes'])} "
                f"(traced run {s['tracemalloc_cpu_s']:.2f} CPU-s)",
            )
        )
    alone = s.get("hosts_alone")
    if alone is not None:
        rows.append(
            (
                "hosts alone (no VMs, no workload)",
                f"{alone['cpu_s']:.2f} s, {alone['attestations']:,} attestations, "
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
    lines += render_goals(report)
    return "\n".join(lines)


def _verdict(value: float | None, goal: float, at_least: bool) -> str:
    if value is None:
        return "n/a"
    met = value >= goal if at_least else value <= goal
    return f"(goal {'>=' if at_least else '<='} {goal:g}: {'met' if met else 'NOT met'})"


def _profile_line(shares: Mapping[str, float]) -> str:
    return ", ".join(f"{group} {share:.0%}" for group, share in shares.items() if share >= 0.005)


def _rounds_line(compared: Mapping[str, Any]) -> list[str]:
    """The ratio of each round, when there was more than one (the figure is their median)."""
    ratios = compared.get("round_ratios", [])
    if len(ratios) < 2:
        return []
    each = ", ".join(f"{r:.3f}" for r in ratios)
    return [f"  {f'  median of {len(ratios)} rounds:':<58} {each}"]


def render_goals(report: Mapping[str, Any]) -> list[str]:
    """The anchor section: the simulator against the lean reference model, and every goal
    of issue 28 that this report measured, each with its verdict."""
    lines: list[str] = []
    anchored = report.get("anchor")
    if anchored is not None:
        alone, full = anchored["hosts_alone"], anchored["with_workload"]
        events = alone["vtasim_events_per_attestation"]
        ref = alone["reference"]
        lines += [
            "",
            f"ANCHOR (lean reference model, benchmarks/reference.py, {ref['hosts']} hosts; "
            "CPU seconds, build and summary included)",
            f"  reference: {ref['attestations']:,} attestations, "
            f"{ref['attestations_per_cpu_s']:,.0f}/CPU-s, "
            f"{ref['events_per_attestation']:.1f} SimPy events each",
            f"  {'vtasim hosts alone ÷ reference (attestations/CPU-s)':<58} "
            f"{alone['ratio']:.3f}   "
            f"{_verdict(alone['ratio'], GOALS_28['anchor_hosts_alone'], True)}",
            *_rounds_line(alone),
            f"  {'vtasim with workload ÷ reference':<58} "
            f"{full['ratio']:.3f}   "
            f"{_verdict(full['ratio'], GOALS_28['anchor_with_workload'], True)}",
            *_rounds_line(full),
            f"  {'SimPy events per attestation, hosts alone':<58} "
            f"{events:.2f}   {_verdict(events, GOALS_28['events_per_attestation'], False)}",
            f"  {'  the same, with workload':<58} {full['vtasim_events_per_attestation']:.2f}",
        ]
        if "noncrypto_ratio" in alone:
            vp, rp = alone["vtasim_profile"], alone["reference_profile"]
            lines += [
                f"  {'non-crypto CPU per attestation, vtasim hosts alone':<58} "
                f"{alone['vtasim_noncrypto_us']:.0f} us",
                f"  {'non-crypto CPU per attestation, reference':<58} "
                f"{alone['reference_noncrypto_us']:.0f} us",
                f"  {'  ratio':<58} {alone['noncrypto_ratio']:.2f}   "
                f"{_verdict(alone['noncrypto_ratio'], GOALS_28['noncrypto_vs_reference'], False)}",
                f"  {'in-place ECDSA sign / verify, vtasim':<58} "
                f"{_us(vp['sign_us'])} / {_us(vp['verify_us'])}",
                f"  {'in-place ECDSA sign / verify, reference':<58} "
                f"{_us(rp['sign_us'])} / {_us(rp['verify_us'])}",
                f"  profile shares, vtasim hosts alone: {_profile_line(vp['shares'])}",
                f"  profile shares, reference: {_profile_line(rp['shares'])}",
            ]
    cli = report.get("cli")
    if cli is not None:
        fixed = cli["fixed_cpu_s"]
        lines += [
            "",
            "COMMAND LINE FIXED COST (fresh interpreters, CPU)",
            f"  {'python -c pass':<58} {cli['python_cpu_s']:.2f} s",
            f"  {'import sim.cli (above bare Python)':<58} {cli['import_cpu_s']:.2f} s",
            f"  {'vtasim run baseline.yaml --until 1s, fresh':<58} {cli['run_1s_cpu_s']:.2f} s",
            f"  {'  the same run again in a warm interpreter':<58} "
            f"{cli['warm_run_1s_cpu_s']:.2f} s",
            f"  {'  fixed cost: start, imports, set-up, teardown':<58} {fixed:.2f} s   "
            f"{_verdict(fixed, GOALS_28['cli_fixed_cpu_s'], False)}",
        ]
    scale = report.get("scale")
    if scale is not None:
        k, sweep = scale["exponents"].get("cpu_s"), scale["sweep"]
        lines += [
            "",
            "SCALE (benchmarks/scale.py, fresh processes)",
            f"  {'growth exponent of CPU, 100 -> 1,000 hosts':<58} "
            f"{'n/a' if k is None else f'{k:.3f}'}   {_verdict(k, 1.05, False)}",
            f"  {'sweep CPU efficiency (4 runs of 100 hosts, 2 workers)':<58} "
            f"{sweep['efficiency']:.3f}   {_verdict(sweep['efficiency'], 0.9, True)}",
        ]
    day = report.get("xlarge_day")
    if day is not None:
        lines += [
            "",
            "ONE SIMULATED DAY OF xlarge.yaml (fresh process)",
            f"  {'CPU':<58} {day['cpu_s'] / 60:.1f} min   {_verdict(day['cpu_s'] / 60, 20, False)}",
            f"  {'peak RSS':<58} {day['peak_rss_bytes'] / 2**30:.2f} GiB   "
            f"{_verdict(day['peak_rss_bytes'] / 2**30, 2, False)}",
        ]
        floor = day.get("floor")
        if floor is not None:
            lines += [
                f"  {'floor: its cryptography at loop rates':<58} {floor['crypto_s'] / 60:.1f} min",
                f"  {'  + the reference model beyond crypto, per attestation':<58} "
                f"{floor['lean_noncrypto_s'] / 60:.1f} min",
                f"  {'  = floor; the day ÷ floor':<58} "
                f"{floor['floor_s'] / 60:.1f} min; {floor['ratio']:.2f}",
            ]
    return lines


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} us"


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
