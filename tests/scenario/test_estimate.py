"""The size estimate: counts from rates and periods, limits with the field that drives
them, and the warnings about what a run leaves out."""

from __future__ import annotations

from typing import Any

import pytest

from sim.scenario import apply_overrides, load_scenario, parse_scenario
from sim.scenario.estimate import LIMITS, estimate, run_warnings
from tests.conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.yaml"
MINIMAL: dict[str, Any] = {
    "name": "t",
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "cl-a", "hosts": 2}]}],
}


def test_baseline_counts_follow_the_scenario() -> None:
    """16 hosts attesting every 5 min + 5 s for a day (a renewal process in steady state)
    and after each of the two reboots: about 4,530 attestations (the run records 4,527); a
    folder of a few MiB."""
    e = estimate(load_scenario(BASELINE))
    assert e.hosts == 16 and e.vms == 200 and e.sim_seconds == 86400.0
    assert e.attestations == round(16 * 86400 / 305 + 2)
    assert 55_000 < e.events < 85_000  # the run processes 67,436
    assert 2**20 < e.output_bytes < 8 * 2**20
    assert e.problems() == []
    assert e.describe().startswith("24h simulated, 16 hosts, 200 VMs: about 4,534 attestations")


def test_until_scales_the_estimate() -> None:
    """Half the simulated time gives about half the attestations."""
    s = load_scenario(BASELINE)
    full, half = estimate(s), estimate(s, until=43200.0)
    assert half.sim_seconds == 43200.0
    assert half.attestations == pytest.approx(full.attestations / 2, rel=0.01)


@pytest.mark.parametrize(
    ("overrides", "figure", "path"),
    [
        ({"vms.count": 10_000_000}, "VMs", "vms.count"),
        (
            {"vcenters.0.clusters": [{"name": f"c{i}", "hosts": 10_000} for i in range(3)]},
            "trusted hosts",
            "vcenters",
        ),
        ({"workload.power_on_rate": "1000 per_second", "duration": "365d"}, "events", "workload"),
        ({"attestation.interval": "1s", "duration": "3650d"}, "events", "attestation.interval"),
    ],
)
def test_absurd_scale_is_over_a_limit_at_its_field(
    overrides: dict[str, Any], figure: str, path: str
) -> None:
    """Ten million VMs, 30,000 hosts or billions of events are over a documented limit;
    the problem names the field that drives it and how to go on (--force)."""
    problems = estimate(parse_scenario(apply_overrides(MINIMAL, overrides))).problems()
    match = [p for p in problems if f" {figure}, over the limit of " in p.message]
    assert match, problems
    assert match[0].path.startswith(path)
    assert "--force" in match[0].message


def test_limits_are_documented_in_the_cli_guide() -> None:
    """Every limit appears in the table of docs/guide/cli.md with its value."""
    page = (ROOT / "docs" / "guide" / "cli.md").read_text(encoding="utf-8")
    for value in ("20,000", "1,000,000", "100,000,000", "8 GiB", "1 TiB"):
        assert f"| {value}" in page
    assert set(LIMITS) == {"hosts", "vms", "events", "memory_bytes", "encrypted_bytes"}


def test_warnings_name_what_a_short_run_leaves_out() -> None:
    """Drift, reboots and outages at or after the end, and a sampling period not shorter
    than the run, are warnings naming their entries."""
    s = parse_scenario(
        apply_overrides(
            MINIMAL,
            {
                "duration": "1d",
                "drift.scheduled": [
                    {"at": "1h", "host": "esx-01", "kind": "unapproved_vib"},
                    {"at": "6h", "host": "esx-02", "kind": "tpm_swap", "reboot_after": "5m"},
                ],
                "reboots.scheduled": [{"at": "2h", "host": "esx-01"}],
                "trust_authority.outages": [{"node": 1, "at": "3h", "duration": "5m"}],
                "metrics.sample_interval": "2h",
            },
        )
    )
    assert run_warnings(s) == []
    found = {p.path: p.message for p in run_warnings(s, until=7200.0)}
    assert set(found) == {
        "drift.scheduled.0",  # boot-measured, and its host's reboot at 2h is dropped too
        "drift.scheduled.1",
        "reboots.scheduled.0",
        "trust_authority.outages.0",
        "metrics.sample_interval",
    }
    assert found["drift.scheduled.1"] == (
        "at 6h on esx-02 never happens: the run ends at 2h (--until)"
    )
    assert "levels table will have a single row per series" in found["metrics.sample_interval"]


def test_power_ons_stop_while_no_vm_is_stopped() -> None:
    """Power-ons pick a stopped VM: asked for 1,000 an hour, 100 VMs of which 20 are
    stopped and which run 8 h each can give only the 20 plus the ~11 that power off in the
    hour; with no VMs there are no power-ons, migrations or key requests at all."""
    scenario = parse_scenario(
        apply_overrides(
            MINIMAL,
            {"vms.count": 100, "workload.power_on_rate": "1000 per_hour", "duration": "1h"},
        )
    )
    e = estimate(scenario)
    assert 20 + 80 / 8 <= e.power_ons <= 20 + 100 / 8
    assert e.key_requests == round((e.power_ons + e.migrations) * 0.5)  # half encrypted
    empty = estimate(parse_scenario(apply_overrides(MINIMAL, {"vms.count": 0})))
    assert (empty.power_ons, empty.migrations, empty.key_requests) == (0, 0, 0)


def test_caveats_name_an_overloaded_attestation_service() -> None:
    """The shipped metastable scenario and a service offered more than its capacity (30
    hosts every 15 s on average, 2 s each, 3 nodes of 1 worker: 133 %) carry a caveat in
    the estimate and its line; the baseline has none."""
    assert estimate(load_scenario(BASELINE)).caveats == ()
    meta = estimate(load_scenario(ROOT / "scenarios" / "metastable.yaml"))
    assert len(meta.caveats) == 1 and "abandoned requests are served" in meta.caveats[0]
    assert "; uncertain: the cold-boot burst takes 45 s to serve" in meta.describe()
    busy = {"attestation.interval": "10s", "vcenters.0.clusters.0.hosts": 30,
            "trust_authority.attestation_service.workers": 1,
            "trust_authority.attestation_service.service_time": "2s"}  # fmt: skip
    over = estimate(parse_scenario(apply_overrides(MINIMAL, busy)))
    assert over.caveats == ("the attestation service is offered 133% of its capacity",)
