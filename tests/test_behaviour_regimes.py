"""Attestation regimes against figures derived by hand: who initiates, what is measured when,
how failures reach subscribers, fallback nodes.

The estates are nearly deterministic: fixed LAN hops of 0.1 ms (0.2 ms one way between a
host and a trust-authority node), TPM signing 50 ms, verification 5 ms, no jitter, status
propagation 2 s, notification delay 100 ms. A poll of Keylime's verifier (pull) takes the
nonce to the agent (0.2 ms), the quote (50 ms), the evidence back (0.2 ms), the verdict
(5 ms) and the answer to the agent (0.2 ms): a cycle of 55.6 ms, the quote at 50.2 ms and
the verdict 5.2 ms after the quote. The verifier polls again ``quote_interval`` after a poll
ended, so polls of one agent are ``P = 2 s + 55.6 ms`` apart. An agent-initiated attestation
adds the agent's request (0.2 ms): its verdict comes ``RTT`` = 55.6 ms after it starts.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator
from typing import Any

import pytest

from sim.build import build
from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario
from tests.designed import merge

HOP = 0.0002
SIGN = 0.05
VERIFY = 0.005
CYCLE = 3 * HOP + SIGN + VERIFY  # a poll, from the verifier's nonce to the agent's answer
QUOTE_AT = HOP + SIGN  # a poll's quote, after its start
TO_VERDICT = HOP + VERIFY  # from a quote to its verdict
RTT = 3 * HOP + SIGN + VERIFY  # agent-initiated: from the request to the verdict
NOTICE = 0.1

BASE: dict[str, Any] = {
    "name": "regimes",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 4, "service_time": "5ms"},
        "key_provider_service": {"workers": 4, "service_time": "2ms"},
    },
    "kms": {"service_time": "3ms"},
    "attestation": {"tpm_sign_time": "50ms"},
    "vcenters": [
        {"name": "vc-a", "status_propagation": "2s", "clusters": [{"name": "c", "hosts": 3}]}
    ],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "reboots": {"duration": "4m"},
}


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def _hosts(n: int) -> list[dict[str, Any]]:
    return [{"name": "vc-a", "status_propagation": "2s", "clusters": [{"name": "c", "hosts": n}]}]


# --------------------------------------------------------------------------- keylime_pull


def _pull_estate(n: int, k: int) -> tuple[RunOutput, float, list[float]]:
    """``n`` hosts polled from t=0 (cold boot); host i drifts (a runtime-measured VIB) at a
    phase ``(i + 0.5) / n`` of a period before the quote of poll ``k``."""
    period = 2.0 + CYCLE
    drifts = [QUOTE_AT + k * period - (i + 0.5) * period / n for i in range(n)]
    out = _run(
        {
            "regime": "keylime_pull",
            "duration": f"{k * period + 10:.3f}s",
            "attestation": {"startup": "cold_boot", "notification_delay": f"{NOTICE}s"},
            "vcenters": _hosts(n),
            "drift": {"scheduled": [
                {"at": f"{t:.6f}s", "host": f"esx-{i + 1:02d}", "kind": "unapproved_vib"}
                for i, t in enumerate(drifts)
            ]},
        }
    )  # fmt: skip
    return out, period, drifts


def test_keylime_pull_verifier_drives_the_schedule_at_hosts_per_interval() -> None:
    """The verifier polls every agent ``2 s`` after the previous poll ended: the agents
    attest only when polled, each host's quotes are exactly ``P`` apart, and the arrival
    rate at the verifier is hosts / P (hosts / quote interval up to the 55.6 ms cycle)."""
    hosts = 10
    out, period, _ = _pull_estate(hosts, 30)
    assert {a["trigger"] for a in out.tables["attestations"]} == {"poll"}
    quotes = sorted(v["quoted_at"] for v in out.tables["verdicts"] if v["host"] == "esx-01")
    assert quotes[0] == pytest.approx(QUOTE_AT, abs=1e-9)
    gaps = [b - a for a, b in itertools.pairwise(quotes)]
    assert all(g == pytest.approx(period, abs=1e-9) for g in gaps)
    window = (10.0, 60.0)
    arrived = [v for v in out.tables["verdicts"] if window[0] <= v["arrived_at"] < window[1]]
    expected = hosts * (window[1] - window[0]) / period
    assert abs(len(arrived) - expected) <= hosts
    assert len(arrived) / (window[1] - window[0]) == pytest.approx(hosts / 2.0, rel=0.04)


def test_keylime_pull_detects_a_runtime_drift_half_a_period_plus_quote_latency_later() -> None:
    """IMA measures the VIB when it loads; the next poll's quote carries it: detection =
    (next quote - drift) + 5.2 ms for each drift, whose mean over phases spread evenly over
    a period is P/2 + 5.2 ms (about half the quote interval plus the quote latency). The
    failure notifier revokes the host's report 100 ms after the verdict, so the key refusal
    follows the detection by exactly that."""
    hosts = 10
    out, period, _ = _pull_estate(hosts, 30)
    rows = sorted(out.tables["drift_events"], key=lambda d: d["host"])
    assert all(d["measured"] == "runtime" for d in rows)
    for i, d in enumerate(rows):
        expected = (i + 0.5) * period / hosts + TO_VERDICT
        assert d["time_to_detection_s"] == pytest.approx(expected, abs=1e-6)
        assert d["time_to_key_refusal_s"] == pytest.approx(expected + NOTICE, abs=1e-6)
        assert d["time_to_vcenter_refusal_s"] == pytest.approx(expected + NOTICE, abs=1e-6)
    mean = out.summary["drift"]["time_to_detection_s"]["mean"]
    assert mean == pytest.approx(period / 2 + TO_VERDICT, abs=1e-6)
    assert out.summary["safety"]["violations"] == 0


# --------------------------------------------------------------------------- keylime_push


def test_keylime_push_agents_send_evidence_every_60_s_and_a_notice_revokes() -> None:
    """Push model: each agent attests on its own, ``60 s`` after its previous attestation
    ended (periods of 60 s + 55.8 ms); a runtime-measured driver is caught by the next
    quote, detection = next quote - drift + 5.2 ms (at most one period), and the notifier
    revokes the report 100 ms after the verdict."""
    drifts = [300.0 + 7.3 * i for i in range(6)]
    out = _run(
        {
            "regime": "keylime_push",
            "duration": "10m",
            "attestation": {"notification_delay": f"{NOTICE}s"},
            "vcenters": _hosts(6),
            "drift": {"scheduled": [
                {"at": f"{t}s", "host": f"esx-{i + 1:02d}", "kind": "driver_change"}
                for i, t in enumerate(drifts)
            ]},
        }
    )  # fmt: skip
    period = 60.0 + HOP + CYCLE
    assert {a["trigger"] for a in out.tables["attestations"]} == {"periodic"}
    for d in out.tables["drift_events"]:
        quotes = sorted(v["quoted_at"] for v in out.tables["verdicts"] if v["host"] == d["host"])
        gaps = [b - a for a, b in itertools.pairwise(quotes)]
        assert all(g == pytest.approx(period, abs=1e-9) for g in gaps)
        nxt = min(q for q in quotes if q >= d["at"])
        assert d["time_to_detection_s"] == pytest.approx(nxt - d["at"] + TO_VERDICT, abs=1e-6)
        assert 0 < d["time_to_detection_s"] <= period + TO_VERDICT
        assert d["time_to_key_refusal_s"] == pytest.approx(d["time_to_detection_s"] + NOTICE)


# --------------------------------------------------------------------------- hgs and vta


@pytest.mark.parametrize("regime", ["hgs", "vta"])
def test_boot_measured_regimes_detect_at_the_boot_attestation(regime: str) -> None:
    """HGS and vTA measure the boot: a driver loaded at 10 min is invisible until its
    install reboots the host 15 min later; the host then holds no report (lapse = 15 min),
    boots 4 min later and attests at host start, failing RTT after boot: detection =
    15 min + 4 min + 55.6 ms."""
    out = _run(
        {
            "regime": regime,
            "duration": "1h",
            "drift": {"scheduled": [{"at": "10m", "host": "esx-02", "kind": "driver_change",
                                     "reboot_after": "15m"}]},
        }
    )  # fmt: skip
    (d,) = out.tables["drift_events"]
    assert d["measured"] == "boot"
    assert d["time_to_lapse_s"] == pytest.approx(900.0)
    assert d["time_to_detection_s"] == pytest.approx(900 + 240 + RTT, abs=1e-6)
    boot = [
        a for a in out.tables["attestations"] if a["host"] == "esx-02" and a["trigger"] == "boot"
    ]
    assert len(boot) == 1 and boot[0]["ok"] is False


def test_hgs_leaves_a_vib_installed_without_a_reboot_unseen() -> None:
    """HGS measures the boot: an unapproved VIB installed without a reboot is never quoted
    (censored, every verdict passes) while keys keep being released to the host until its
    remediation (exposure)."""
    out = _run(
        {
            "regime": "hgs",
            "duration": "3h",
            "vcenters": _hosts(1),
            "vms": {"count": 20, "initially_running": 0,
                    "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}},
            "workload": {"power_on_rate": "30 per_hour"},
            "drift": {"scheduled": [{"at": "20m", "host": "esx-01", "kind": "unapproved_vib",
                                     "remediate_after": "2h"}]},
        }
    )  # fmt: skip
    assert all(a["ok"] for a in out.tables["attestations"])
    (d,) = out.tables["drift_events"]
    assert d["time_to_detection_s"] is None and d["keys_released"] > 0
    assert out.summary["drift"]["time_to_detection_s"]["censored"] == 1


def _key_request_without_report(regime: str) -> RunOutput:
    """A host whose report expired (lifetime 1 min, steady state) asks for a VM's key at
    30 min, straight from the host (no placement in between)."""
    scenario = parse_scenario(
        merge(
            BASE,
            {
                "regime": regime,
                "duration": "40m",
                "attestation": {"report_lifetime": "1m", "interval": "8h"},
                "vcenters": _hosts(1),
                "vms": {"count": 1, "initially_running": 0,
                        "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}},
            },
        )
    )  # fmt: skip
    estate = build(scenario, 1)
    estate.start()
    host, vm = estate.hosts["esx-01"], estate.pool.vms[0]
    released: list[bool] = []

    def ask() -> Generator[Any, Any, None]:
        yield estate.env.timeout(1800)
        released.append((yield from host.obtain_key(vm, "power_on")))

    estate.env.process(ask())
    estate.env.run(until=scenario.duration)
    return RunOutput(scenario, 1, {}, {"released": released}, estate.recorder.tables, estate)


def test_hgs_attests_on_demand_when_a_shielded_vm_starts_without_a_certificate() -> None:
    """HGS: "If for some reason a host doesn't have an attestation certificate when a VM
    tries to start, this also triggers attestation": the key request waits for an on-demand
    attestation (RTT + the answer's hop) and the key is released."""
    out = _key_request_without_report("hgs")
    (att,) = [a for a in out.tables["attestations"] if a["trigger"] == "on_demand"]
    assert att["requested_at"] == pytest.approx(1800) and att["ok"] is True
    assert att["completed_at"] == pytest.approx(1800 + RTT + HOP, abs=1e-6)
    assert out.summary["released"] == [True]


def test_keylime_has_no_on_demand_attestation() -> None:
    """Keylime's agents do not attest because a key is needed: the same request goes out
    with its expired report and is refused (report.expired)."""
    out = _key_request_without_report("keylime_push")
    assert "on_demand" not in {a["trigger"] for a in out.tables["attestations"]}
    (req,) = out.tables["key_requests"]
    assert req["outcome"] == "refused" and req["reason"] == "report.expired"
    assert out.summary["released"] == [False]


def test_hgs_falls_back_to_its_fallback_server_only_while_the_primaries_are_down() -> None:
    """With every primary HGS node down from 10 to 40 min, a host's boot attestation goes to
    the fallback node (index 3) and passes; outside the outage no request reaches it."""
    out = _run(
        {
            "regime": "hgs",
            "duration": "1h",
            "trust_authority": {"outages": [{"node": n, "at": "10m", "duration": "30m"}
                                            for n in range(3)]},
            "reboots": {"scheduled": [{"at": "15m", "host": "esx-01"}]},
        }
    )  # fmt: skip
    at_fallback = [v for v in out.tables["verdicts"] if v["node"] == "vta:3"]
    assert at_fallback and all(600 <= v["arrived_at"] < 2400 for v in at_fallback)
    boot = next(a for a in out.tables["attestations"] if a["trigger"] == "boot")
    assert boot["ok"] is True and boot["node"] == "vta:3"
    assert boot["completed_at"] == pytest.approx(900 + 240 + RTT + HOP, abs=1e-6)


def test_regime_vta_is_the_model_as_it_was() -> None:
    """``regime: vta`` sets the model's own defaults: the same run, figure for figure."""
    over = {
        "duration": "2h",
        "drift": {
            "scheduled": [
                {"at": "30m", "host": "esx-02", "kind": "unapproved_vib", "reboot_after": "10m"}
            ]
        },
    }
    plain = _run(over, seed=4)
    with_regime = _run({**over, "regime": "vta"}, seed=4)
    assert plain.summary == with_regime.summary


def test_scheduled_and_random_drift_may_each_bring_their_own_reboot_delay() -> None:
    """Two scheduled drifts of one host with different ``reboot_after`` and random drift
    with a third distribution run side by side (each scheduled drift has its own stream);
    each scheduled install reboots the host its own delay later."""
    out = _run(
        {
            "duration": "3h",
            "vcenters": _hosts(1),
            "drift": {
                "scheduled": [
                    {"at": "10m", "host": "esx-01", "kind": "driver_change", "reboot_after": "20m"},
                    {"at": "1h", "host": "esx-01", "kind": "driver_change", "reboot_after": "5m"},
                ],
                "random": {"rate": "24 per_day", "kinds": ["driver_change"],
                           "reboot_after": {"dist": "uniform", "low": "10m", "high": "20m"}},
            },
        }
    )  # fmt: skip
    assert out.ok, out.manifest["exception"]
    downs = [e["time"] for e in out.tables["host_events"] if e["event"] == "down"]
    assert 1800.0 in downs and 3900.0 in downs
