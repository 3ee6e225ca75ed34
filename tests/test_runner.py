"""The runner: manifests, a run ended by an exception, and the in-memory API."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim import cli
from sim.analysis import results
from sim.processes import trust_authority

TINY = {
    "name": "runner-tiny",
    "duration": "20m",
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
    "vms": {"count": 4},
}


def test_manifest_records_seed_versions_and_counts() -> None:
    """A finished run's manifest carries seed, versions, times and the event count."""
    out = sim.simulate(sim.parse_scenario(TINY), seed=9)
    m = out.manifest
    assert m["seed"] == 9 and m["exception"] is None and out.ok
    assert m["sim_time_s"] == 1200.0 and m["events"] > 0 and m["wall_time_s"] > 0
    assert {"vtasim", "python", "simpy", "cryptography", "numpy"} <= set(m["versions"])
    assert out.scenario.seed == 9  # the resolved scenario reproduces the run


def test_exception_ends_run_and_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exception inside the model ends the run; the folder records it; exit code 1."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("verifier exploded")

    monkeypatch.setattr(trust_authority, "verify", broken)
    scenario = tmp_path / "s.yaml"
    import yaml

    scenario.write_text(yaml.safe_dump(TINY))
    code = cli.main(["run", str(scenario), "--out", str(tmp_path / "run"), "--quiet"])
    assert code == 1
    assert "verifier exploded" in capsys.readouterr().err
    loaded = results.load(tmp_path / "run")
    assert loaded.manifest["exception"]["type"] == "builtins.RuntimeError"
    assert 0.0 < loaded.manifest["sim_time_s"] < 1200.0  # ended at the first attestation


def test_until_shortens_and_is_reflected_in_resolved_scenario() -> None:
    """until stops simulated time there and the resolved scenario says so."""
    out = sim.simulate(sim.parse_scenario(TINY), until=300.0)
    assert out.manifest["sim_time_s"] == 300.0
    assert out.scenario.duration == 300.0


def test_event_count_does_not_depend_on_the_progress_bar() -> None:
    """The manifest's event count is the same with and without progress chunks."""
    scenario = sim.parse_scenario(TINY)
    quiet = sim.simulate(scenario, seed=3)
    shown = sim.simulate(scenario, seed=3, progress=True)
    assert quiet.manifest["events"] == shown.manifest["events"]
    assert quiet.summary == shown.summary


def test_trust_authority_outage_during_a_poll_loses_only_that_poll() -> None:
    """All three nodes going down while a vCenter polls does not end the run."""
    data = dict(
        TINY,
        trust_authority={
            "outages": [{"node": i, "at": "10ms", "duration": "5m"} for i in range(3)]
        },
    )
    out = sim.simulate(sim.parse_scenario(data), seed=1)
    assert out.ok, out.manifest["exception"]
    assert out.summary["attestation"]["succeeded"] > 0


def test_a_host_that_goes_down_mid_attestation_gets_no_report() -> None:
    """An attempt whose host reboots before the TPM quote is done produces no report."""
    data = dict(
        TINY,
        attestation={"tpm_sign_time": "1s", "startup": "cold_boot"},
        reboots={
            "scheduled": [{"at": "500ms", "host": "esx-01", "kind": "crash"}],
            "duration": "3m",
        },
    )
    out = sim.simulate(sim.parse_scenario(data), seed=1)
    early = [r for r in out.tables["reports"] if r["host"] == "esx-01" and r["issued_at"] < 180]
    assert early == []


def test_simulate_restores_the_garbage_collector() -> None:
    """The run collects less often and freezes the built estate; afterwards the caller's
    collector settings are back and nothing stays frozen."""
    import gc

    before = gc.get_threshold()
    sim.simulate(sim.parse_scenario(TINY), seed=2)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
