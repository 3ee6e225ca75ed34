"""Durations that never end are counted as censored, and drift that can never be measured is
said so, against figures derived by hand.

Deterministic estates as in test_behaviour_operations: LAN hop 0.1 ms, TPM 50 ms,
attestation 5 ms, reboots of 4 min, re-attestation every 10 min without jitter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sim.analysis.durations import read_durations
from sim.analysis.text import format_headline
from sim.runner import RunOutput, simulate, write
from sim.scenario import parse_scenario
from sim.scenario.estimate import run_warnings
from tests.designed import merge

BASE: dict[str, Any] = {
    "name": "censoring",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 8, "service_time": "5ms"},
        "key_provider_service": {"workers": 8, "service_time": "2ms"},
        "status_service_time": "1ms",
    },
    "attestation": {"interval": "10m", "jitter": "0s", "report_lifetime": "2h",
                    "tpm_sign_time": "50ms"},
    "vcenters": [{"name": "vc-a", "status_propagation": "1s",
                  "clusters": [{"name": "c", "hosts": 4}]}],
    "vms": {"count": 0},
    "workload": {"power_on_rate": 0, "migration_rate": 0},
    "reboots": {"duration": "4m"},
}  # fmt: skip


def _run(over: dict[str, Any]) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=1)


def test_a_repair_never_restored_is_one_censored_not_zero() -> None:
    """A TPM replaced in esx-02 at 1 h with EKs required and no administrator: the host is
    never attested again. Before: count 0 and nothing else. Now: 1 censored at the end of
    the run, 4 h - 1 h = 10,800 s; no median; the restricted mean at the 2 h horizon is
    2 h (survival stays 1 up to it)."""
    out = _run({
        "duration": "4h",
        "trust_authority": {"require_endorsement_keys": True},
        "repairs": [{"at": "1h", "host": "esx-02", "part": "tpm", "duration": "1h"}],
    })  # fmt: skip
    restore = out.summary["operations"]["repairs"]["time_to_restore_s"]
    assert restore["count"] == 0 and restore["censored"] == 1
    assert out.durations["operations.repairs.time_to_restore_s"].censored == (10_800.0,)
    assert restore["km_median"] is None
    assert restore["km_restricted_mean"] == 7200.0 and restore["km_horizon"] == 7200.0


def test_a_tpm_swap_never_registered_is_censored_from_when_it_took_effect() -> None:
    """A boot-measured TPM swap on esx-03 at 1 h, reboot at 2 h (4 min, no VMs to move): it
    takes effect when the host boots at 2 h 4 min = 7,440 s; with EKs required and no
    registration no verdict passes again, so identity.time_to_restore_s is 1 censored at
    4 h - 7,440 s = 6,960 s (before: count 0)."""
    out = _run({
        "duration": "4h",
        "trust_authority": {"require_endorsement_keys": True,
                            "require_certificate_validation": False},
        "drift": {"scheduled": [{"at": "1h", "host": "esx-03", "kind": "tpm_swap"}]},
        "reboots": {"scheduled": [{"at": "2h", "host": "esx-03"}]},
    })  # fmt: skip
    restore = out.summary["identity"]["time_to_restore_s"]
    assert restore["count"] == 0 and restore["censored"] == 1
    assert out.durations["identity.time_to_restore_s"].censored == pytest.approx((6960.0,))


def test_ha_restarts_refused_are_censored_at_the_end_of_the_run() -> None:
    """A one-host cluster whose host crashes at 1 h with its two VMs: HA tries 30 s later,
    finds no other host and refuses. Both VMs never run again by HA: 2 censored at
    2 h - 1 h = 3,600 s each (before: latency count 0, the refusals dropped)."""
    out = _run({
        "duration": "2h",
        "vcenters": [{"name": "vc-a", "status_propagation": "1s",
                      "clusters": [{"name": "c", "hosts": 1}]}],
        "vms": {"count": 2, "initially_running": 1, "memory": ["4GiB"]},
        "ha": {"restart_delay": "30s"},
        "reboots": {"scheduled": [{"at": "1h", "host": "esx-01", "kind": "crash"}]},
    })  # fmt: skip
    ha = out.summary["operations"]["ha"]
    assert ha["refused"] == 2
    assert ha["latency_s"]["count"] == 0 and ha["latency_s"]["censored"] == 2
    assert out.durations["operations.ha.latency_s"].censored == (3600.0, 3600.0)


def test_run_folder_carries_the_survival_data(tmp_path: Path) -> None:
    """durations.json holds, per time-to-event figure, what ended and what was censored:
    the repair above reads back as one censored 10,800 s."""
    out = _run({
        "duration": "4h",
        "trust_authority": {"require_endorsement_keys": True},
        "repairs": [{"at": "1h", "host": "esx-02", "part": "tpm", "duration": "1h"}],
    })  # fmt: skip
    folder = write(out, tmp_path / "run")
    back = read_durations(folder)
    assert back["operations.repairs.time_to_restore_s"].censored == (10_800.0,)
    assert set(json.loads((folder / "durations.json").read_text())) == set(out.durations)


def test_restricted_mean_uses_the_horizon_fixed_in_the_scenario() -> None:
    """The same never-restored repair with metrics.rmst_horizon 30 min: the restricted mean
    is 1,800 s whatever the run's length (before: the largest observed time, 10,800 s)."""
    out = _run({
        "duration": "4h",
        "metrics": {"rmst_horizon": "30m"},
        "trust_authority": {"require_endorsement_keys": True},
        "repairs": [{"at": "1h", "host": "esx-02", "part": "tpm", "duration": "1h"}],
    })  # fmt: skip
    restore = out.summary["operations"]["repairs"]["time_to_restore_s"]
    assert restore["km_restricted_mean"] == 1800.0 and restore["km_horizon"] == 1800.0


# --------------------------------------------------------------------------- never measured

UNREBOOTED = {
    "duration": "2h",
    "drift": {"scheduled": [{"at": "30m", "host": "esx-02", "kind": "unapproved_vib"}]},
}


def test_a_boot_measured_drift_without_reboot_is_warned_about_by_name() -> None:
    """Boot-measured VIB, no reboot_after, nothing reboots esx-02: one warning naming the
    entry, the kind and the host (quoted)."""
    found = run_warnings(parse_scenario(merge(BASE, UNREBOOTED)))
    assert [p.path for p in found] == ["drift.scheduled.0"]
    assert "'unapproved_vib' drift on 'esx-02' at 30m is measured at boot" in found[0].message
    assert "will never be measured" in found[0].message


@pytest.mark.parametrize(
    "fix",
    [
        {"drift": {"scheduled": [{"at": "30m", "host": "esx-02", "kind": "unapproved_vib",
                                  "reboot_after": "10m"}]}},
        {"reboots": {"scheduled": [{"at": "1h", "host": "esx-02"}]}},
        {"reboots": {"rate": "1 per_day"}},
        {"drift": {"measured_at": {"unapproved_vib": "runtime"}}},
        {"repairs": [{"at": "1h", "host": "esx-02"}]},
    ],
)  # fmt: skip
def test_anything_that_measures_the_drift_silences_the_warning(fix: dict[str, Any]) -> None:
    """A reboot after the drift (its own, scheduled, random or a repair), or runtime
    measurement: no warning."""
    assert run_warnings(parse_scenario(merge(merge(BASE, UNREBOOTED), fix))) == []


def test_a_reboot_before_the_drift_does_not_measure_it() -> None:
    """A scheduled reboot of esx-02 at 10 min, before the drift at 30 min, cannot measure
    it: the warning stays."""
    over = merge(UNREBOOTED, {"reboots": {"scheduled": [{"at": "10m", "host": "esx-02"}]}})
    assert [p.path for p in run_warnings(parse_scenario(merge(BASE, over)))] == [
        "drift.scheduled.0"
    ]


def test_random_boot_drift_without_reboots_is_warned_about() -> None:
    """Random boot-measured drift with nothing rebooting hosts: one warning for it."""
    over = {"drift": {"random": {"rate": "1 per_day", "kinds": ["driver_change"]}}}
    found = run_warnings(parse_scenario(merge(BASE, over)))
    assert [p.path for p in found] == ["drift.random"]
    assert "'driver_change'" in found[0].message


def test_the_headline_says_how_many_drifts_were_never_measured() -> None:
    """The unrebooted drift: 1 event, censored, not measured; the headline has no lapse
    line, and says why in one line."""
    out = _run(UNREBOOTED)
    drift = out.summary["drift"]
    assert (drift["events"], drift["censored"], drift["not_measured"]) == (1, 1, 1)
    text = format_headline(out.summary, out.summary)
    assert text.splitlines()[-1] == "1 drift not measured: boot-measured, no reboot before the end"
    measured = _run(merge(UNREBOOTED, {"drift": {"measured_at": {"unapproved_vib": "runtime"}}}))
    assert measured.summary["drift"]["not_measured"] == 0
    assert "not measured" not in format_headline(measured.summary, measured.summary)
