"""vSphere Trust Authority as VMware documents it: booted software, install-time gates, status
learned from the host, TPM trust settings, cluster size and fan-out; each against a figure
derived by hand.

The estates are nearly deterministic: fixed LAN hops of 0.1 ms, TPM signing 50 ms, fixed
service times (attestation 5 ms), no jitter. An attestation's verdict comes ``RTT`` =
0.6 ms + 50 ms + 5 ms after it starts; the agent holds the answer 0.2 ms later.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from sim.cli import main
from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario
from tests.designed import merge

RTT = 0.0006 + 0.05 + 0.005
HOP_BACK = 0.0002

BASE: dict[str, Any] = {
    "name": "fidelity",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 4, "service_time": "5ms"},
        "key_provider_service": {"workers": 4, "service_time": "2ms"},
        "status_service_time": "1ms",
    },
    "kms": {"service_time": "3ms"},
    "attestation": {
        "interval": "10m",
        "jitter": "0s",
        "report_lifetime": "2h",
        "tpm_sign_time": "50ms",
    },
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 3}]}],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "reboots": {"duration": "4m"},
}


def _run(over: dict[str, Any], seed: int = 1) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=seed)


def _verdicts(out: RunOutput, host: str) -> list[dict[str, Any]]:
    return [v for v in out.tables["verdicts"] if v["host"] == host]


# --------------------------------------------------------------------------- 1. booted software


def test_a_vib_is_invisible_until_the_host_reboots_and_exposure_runs_to_remediation() -> None:
    """By default (boot measurement) an unapproved VIB installed without a reboot is never
    quoted: every verdict passes, the drift is censored, and every key released to the host
    until the remediation counts as exposure."""
    out = _run(
        {
            "duration": "3h",
            "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 1}]}],
            "vms": {"count": 20, "initially_running": 0,
                    "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}},
            "workload": {"power_on_rate": "30 per_hour"},
            "drift": {"scheduled": [{"at": "30m", "host": "esx-01", "kind": "unapproved_vib",
                                     "remediate_after": "2h"}]},
        }
    )  # fmt: skip
    (d,) = out.tables["drift_events"]
    assert d["measured"] == "boot" and d["effective_at"] is None
    assert all(v["outcome"] == "pass" for v in _verdicts(out, "esx-01") if v["verdict_at"] < 9000)
    assert d["detected_at"] is None and d["lapse_at"] is None and d["unmeasured_s"] is None
    released = [
        k for k in out.tables["key_requests"]
        if k["outcome"] == "released" and 1800 <= k["time"] < 9000
    ]  # fmt: skip
    assert len(released) > 0 and d["keys_released"] == len(released)
    assert out.summary["drift"]["censored"] == 1


def test_a_vib_installed_with_a_reboot_is_seen_at_the_boot_attestation() -> None:
    """Installed at 30 min with ``reboot_after: 10m``: the host goes down at 40 min (lapse:
    it holds no report), boots at 44 min and its boot attestation fails RTT later; the VIB
    was unmeasured from the install to that quote."""
    out = _run(
        {
            "duration": "2h",
            "drift": {"scheduled": [{"at": "30m", "host": "esx-02", "kind": "unapproved_vib",
                                     "reboot_after": "10m"}]},
        }
    )  # fmt: skip
    (d,) = out.tables["drift_events"]
    assert d["lapse_at"] == pytest.approx(2400)
    assert d["effective_at"] == pytest.approx(2400 + 240)
    assert d["detected_at"] == pytest.approx(2640 + RTT, abs=1e-6)
    assert d["unmeasured_s"] == pytest.approx(2640 + 0.0004 + 0.05 - 1800, abs=1e-6)
    failed = next(v for v in _verdicts(out, "esx-02") if v["outcome"] == "fail")
    assert "attestation.image.vib_not_approved" in failed["reasons"].split()


def test_runtime_measurement_is_the_articles_option() -> None:
    """With ``measured_at: runtime`` the VIB is quoted by the next periodic attestation."""
    out = _run(
        {
            "duration": "1h",
            "drift": {
                "measured_at": {"unapproved_vib": "runtime"},
                "scheduled": [{"at": "15m", "host": "esx-01", "kind": "unapproved_vib"}],
            },
        }
    )
    (d,) = out.tables["drift_events"]
    nxt = min(v["quoted_at"] for v in _verdicts(out, "esx-01") if v["quoted_at"] >= 900)
    assert d["unmeasured_s"] == pytest.approx(nxt - 900)
    assert d["detected_at"] is not None and d["detected_at"] - 900 <= 600 + RTT + 1


@pytest.mark.slow
def test_detection_of_boot_measured_drift_waits_for_a_poisson_reboot() -> None:
    """Reboots at rate r = 1/(2 h) per host: time to detection = Exp(r) to the next reboot
    + 4 min reboot + RTT, mean 7200 + 240 + 0.0556 s (40 hosts x 2 seeds; KS test too).
    Hosts that were down for a reboot at the drift moment are left out (their change takes
    effect at the boot already under way)."""
    hosts, rate = 40, 1 / 7200
    over = {
        "duration": "40h",
        "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": hosts}]}],
        "reboots": {"rate": "0.5 per_hour"},
        "drift": {"scheduled": [{"at": "1h", "host": f"esx-{i:02d}", "kind": "esxi_build_change"}
                                for i in range(1, hosts + 1)]},
    }  # fmt: skip
    waits = []
    for seed in (1, 2):
        out = _run(over, seed=seed)
        rows = out.tables["drift_events"]
        assert all(d["detected_at"] is not None for d in rows)  # 39 h: no drift censored
        waits += [d["time_to_detection_s"] - 240 - RTT for d in rows if _up_at(out, d)]
    waits_arr = np.array(waits)
    assert waits_arr.min() >= 0
    se = (1 / rate) / math.sqrt(len(waits))
    assert abs(waits_arr.mean() - 1 / rate) < 3.5 * se
    assert sps.kstest(waits_arr, "expon", args=(0, 1 / rate)).pvalue > 0.001


def _up_at(out: RunOutput, d: dict[str, Any]) -> bool:
    events = [
        e for e in out.tables["host_events"] if e["host"] == d["host"] and e["time"] <= d["at"]
    ]
    return events[-1]["event"] == "up"


# --------------------------------------------------------------------------- 2. install gate


def test_a_community_supported_vib_cannot_be_installed_with_secure_boot_on() -> None:
    """The install is blocked (nothing changes, counted apart); once Secure Boot is off and
    the host has rebooted, the same install goes through and is caught at the next boot."""
    vib = {"host": "esx-01", "kind": "unapproved_vib", "acceptance": "CommunitySupported"}
    out = _run(
        {
            "duration": "3h",
            "drift": {
                "scheduled": [
                    {"at": "10m", **vib},
                    {"at": "20m", "host": "esx-01", "kind": "secure_boot_off"},
                    {"at": "1h", **vib, "reboot_after": "5m"},
                ]
            },
            "reboots": {"scheduled": [{"at": "30m", "host": "esx-01"}]},
        }
    )
    blocked, sb_off, installed = out.tables["drift_events"]
    assert blocked["outcome"] == "blocked" and blocked["lapse_at"] is None
    assert out.summary["drift"]["blocked"] == 1 and out.summary["drift"]["events"] == 2
    assert sb_off["effective_at"] == pytest.approx(1800 + 240)
    assert installed["outcome"] == "applied"
    assert installed["effective_at"] == pytest.approx(3600 + 300 + 240)


# --------------------------------------------------------------------------- 3. status source


def _report_estate(poll: str, seed: int = 3) -> RunOutput:
    hosts = 30
    return _run(
        {
            "duration": "2h",
            "vcenters": [{"name": "vc-a", "status_poll_interval": poll,
                          "clusters": [{"name": "c", "hosts": hosts}]}],
            "drift": {
                "measured_at": {"unapproved_vib": "runtime"},
                "scheduled": [{"at": f"{600 + 37 * i}s", "host": f"esx-{i:02d}",
                               "kind": "unapproved_vib"} for i in range(1, hosts + 1)],
            },
        },
        seed=seed,
    )  # fmt: skip


def test_vcenter_learns_from_the_host_after_the_propagation_delay() -> None:
    """host_report: vCenter refusal - detection = the answer's hop back + a propagation
    delay drawn from lognormal(median 2 s, p95 10 s) (KS test over 60 drifts)."""
    lags = []
    for seed in (3, 4):
        out = _report_estate("60s", seed)
        lags += [d["vcenter_refusal_at"] - d["detected_at"] - HOP_BACK
                 for d in out.tables["drift_events"]]  # fmt: skip
    sigma = math.log(10 / 2) / 1.6448536269514722
    res = sps.kstest(lags, "lognorm", args=(sigma, 0, 2.0))
    assert res.pvalue > 0.001 and min(lags) > 0


def test_with_host_reports_the_poll_interval_changes_nothing() -> None:
    """The poll interval is irrelevant to host_report: the same refusal times."""
    a, b = _report_estate("60s"), _report_estate("20m")
    assert [d["vcenter_refusal_at"] for d in a.tables["drift_events"]] == [
        d["vcenter_refusal_at"] for d in b.tables["drift_events"]
    ]


def test_a_full_outage_leaves_attested_no_later_than_attested_until() -> None:
    """All three trust-authority nodes down for 1 h with reports of 15 min: each host's
    view leaves ``attested`` at the latest when its last report expires."""
    out = _run(
        {
            "duration": "3h",
            "attestation": {"report_lifetime": "15m", "interval": "5m"},
            "trust_authority": {
                "outages": [{"node": n, "at": "1h", "duration": "1h"} for n in range(3)]
            },
        }
    )
    for host in ("esx-01", "esx-02", "esx-03"):
        last = max(r["expires_at"] for r in out.tables["reports"]
                   if r["host"] == host and r["issued_at"] < 3600)  # fmt: skip
        views = [v for v in out.tables["status_views"] if v["host"] == host]
        left = min(v["time"] for v in views if v["time"] >= 3600 and v["status"] != "attested")
        assert left <= last + 1e-9


def test_polling_the_trust_authority_is_kept_as_an_option() -> None:
    """trust_authority_poll: the view follows a failed verdict within one poll interval."""
    out = _run(
        {
            "duration": "1h",
            "vcenters": [{"name": "vc-a", "status_source": "trust_authority_poll",
                          "status_poll_interval": "90s",
                          "clusters": [{"name": "c", "hosts": 2}]}],
            "drift": {"measured_at": {"unapproved_vib": "runtime"},
                      "scheduled": [{"at": "15m", "host": "esx-01", "kind": "unapproved_vib"}]},
        }
    )  # fmt: skip
    (d,) = out.tables["drift_events"]
    assert 0 <= d["vcenter_refusal_at"] - d["detected_at"] <= 90 + 0.01


# --------------------------------------------------------------------------- 4. TPM settings


def _swap(ta: dict[str, Any], admin: dict[str, Any] | None = None) -> RunOutput:
    return _run(
        {
            "duration": "2h",
            "trust_authority": ta,
            "admin": admin or {},
            "hosts": {"secure_configuration": "none"},  # boots at once on the new TPM
            "drift": {"scheduled": [{"at": "5m", "host": "esx-03", "kind": "tpm_swap"}]},
            "reboots": {"scheduled": [{"at": "20m", "host": "esx-03"}]},
        }
    )


def test_a_genuine_tpm_swap_is_no_drift_with_certificate_validation_only() -> None:
    """EK certificates only, no server binding: a new genuine TPM of the same vendor chains
    to the imported CA and passes: nothing to detect."""
    out = _swap({"require_endorsement_keys": False, "require_certificate_validation": True,
                 "bind_tpm_to_server": False})  # fmt: skip
    (d,) = out.tables["drift_events"]
    assert d["effective_at"] == pytest.approx(1200 + 240)
    assert d["detected_at"] is None
    assert all(v["outcome"] == "pass" for v in _verdicts(out, "esx-03"))


def test_a_registered_key_restores_trust_without_another_reboot() -> None:
    """Registered EKs required: the boot attestation at 24 min fails; an administrator
    registers the new EK 30 min after that failure; attestations start every 10 min +
    0.0558 s after the boot one, so the third one after boot is the first to pass:
    time to restore = 3 x (600 + 0.0558) + RTT."""
    out = _swap({"require_endorsement_keys": True, "bind_tpm_to_server": True},
                {"ek_registration_delay": "30m"})  # fmt: skip
    (d,) = out.tables["drift_events"]
    fails = [v for v in _verdicts(out, "esx-03") if v["outcome"] == "fail"]
    assert fails and "attestation.identity.ek_untrusted" in fails[0]["reasons"].split()
    (event,) = out.tables["identity_events"]
    assert event["time"] == pytest.approx(fails[0]["verdict_at"] + 1800)
    assert d["remediated_at"] == event["time"]
    restore = out.summary["identity"]["time_to_restore_s"]
    assert restore["count"] == 1
    assert restore["mean"] == pytest.approx(3 * (600 + RTT + HOP_BACK) + RTT, abs=1e-6)
    assert not any(e["event"] == "down" and e["time"] > 1500
                   for e in out.tables["host_events"] if e["host"] == "esx-03")  # fmt: skip


def test_in_tpm_mode_a_swapped_tpm_keeps_the_host_down_until_recovery() -> None:
    """Secure ESXi configuration in TPM mode, recovery 30 min, a genuine TPM (certificate
    validation only, no binding): swapped at 5 min, the reboot at 20 min (4 min) tries to
    boot on the new TPM at 1440 s and cannot; the configuration is recovered 1800 s later,
    so the host is up at 3240 s and its boot verdict passes at 3240 + RTT. The configuration
    is then sealed to the new TPM: a reboot at 90 min is up again after its 4 min."""
    out = _run({
        "duration": "2h",
        "trust_authority": {"require_endorsement_keys": False,
                            "require_certificate_validation": True, "bind_tpm_to_server": False},
        "hosts": {"secure_configuration": "tpm", "configuration_recovery": "30m"},
        "drift": {"scheduled": [{"at": "5m", "host": "esx-03", "kind": "tpm_swap"}]},
        "reboots": {"scheduled": [{"at": "20m", "host": "esx-03"}, {"at": "90m", "host": "esx-03"}],
                    "duration": "4m"},
    })  # fmt: skip
    events = [(e["time"], e["event"]) for e in out.tables["host_events"] if e["host"] == "esx-03"]
    assert events == [(0, "up"), (1200, "down"), (1440, "config_recovery"), (3240, "up"),
                      (5400, "down"), (5640, "up")]  # fmt: skip
    (d,) = out.tables["drift_events"]
    assert d["effective_at"] == pytest.approx(1440)
    after = [v for v in _verdicts(out, "esx-03") if v["verdict_at"] > 1200]
    assert after[0]["outcome"] == "pass"
    assert after[0]["verdict_at"] == pytest.approx(3240 + RTT, abs=1e-9)
    assert sum(1 for e in out.tables["host_events"] if e["event"] == "config_recovery") == 1


def test_validate_refuses_both_tpm_settings_off(tmp_path: Any, capsys: Any) -> None:
    """Both TPM settings false is a bad scenario: exit 2 and the field path."""
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: s\nvcenters: [{name: vc, clusters: [{name: c, hosts: 1}]}]\n"
        "trust_authority:\n  require_endorsement_keys: false\n"
        "  require_certificate_validation: false\n"
    )
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "trust_authority: require_endorsement_keys and require_certificate_validation" in err


# --------------------------------------------------------------------------- 5, 6. size, fan-out


@pytest.mark.parametrize("nodes", [1, 5])
def test_the_trust_authority_may_have_any_number_of_hosts(nodes: int) -> None:
    """1 or 5 Trust Authority hosts: round-robin spreads attestations over all of them."""
    out = _run({"duration": "1h", "trust_authority": {"hosts": nodes}})
    used = {v["node"] for v in out.tables["verdicts"]}
    assert used == {f"vta:{i}" for i in range(nodes)}


def test_fan_out_all_attests_against_every_node() -> None:
    """fan_out all: each attestation yields one verdict and one report per node (3x the
    load of fan_out one), and the host holds a report either way."""
    one = _run({"duration": "1h"})
    every = _run({"duration": "1h", "attestation": {"fan_out": "all"}})
    n_one = len(one.tables["attestations"])
    assert len(one.tables["verdicts"]) == n_one
    assert len(every.tables["verdicts"]) == 3 * len(every.tables["attestations"])
    att = every.tables["attestations"][0]
    assert set(att["node"].split()) == {"vta:0", "vta:1", "vta:2"}
    assert all(h.has_valid_report for h in every.estate.hosts.values())


def test_the_vsphere_client_shows_unknown_and_not_attested_as_failed() -> None:
    """The vSphere Client has Passed and Failed only: every status_views row maps attested
    to Passed, notAttested and unknown to Failed. esx-03 gets an unapproved VIB measured at
    runtime at 15 min (its next verdict fails: notAttested) and reboots at 30 min (down:
    unknown), so all three states occur."""
    out = _run({
        "duration": "1h",
        "drift": {"measured_at": {"unapproved_vib": "runtime"},
                  "scheduled": [{"at": "15m", "host": "esx-03", "kind": "unapproved_vib"}]},
        "reboots": {"scheduled": [{"at": "30m", "host": "esx-03"}]},
    })  # fmt: skip
    views = out.tables["status_views"]
    shown = {(v["status"], v["client_status"]) for v in views}
    assert shown == {("attested", "Passed"), ("notAttested", "Failed"), ("unknown", "Failed")}
