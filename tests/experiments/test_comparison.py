"""Regimes compared from a sweep folder: per-run figures, their means and CIs, the table
and the figure."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import sim.plots
from sim.errors import RunError
from sim.experiments import regime_rows, regime_table, run_sweep
from sim.experiments.comparison import FIGURES

ESTATE = {
    "name": "cmp",
    "duration": "10m",
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
    "vms": {"count": 6},
    "workload": {"power_on_rate": "60 per_hour", "migration_rate": "30 per_hour"},
    "drift": {"scheduled": [{"at": "3m", "host": "esx-01", "kind": "driver_change"}]},
    # the drift's window is 7 minutes: restricted means at a horizon within it are known
    "metrics": {"rmst_horizon": "5m"},
}
METRICS = [
    "attestation.verdicts.reached",
    "drift.time_to_detection_s.km_restricted_mean",
    "drift.time_to_detection_s.censored",
    "drift.time_to_lapse_s.km_restricted_mean",
    "drift.time_to_refusal_s.km_restricted_mean",
    "drift.time_to_refusal_s.censored",
    "drift.exposure.keys_released",
    *(f"services.attestation_service.nodes.{i}.utilisation" for i in range(3)),
]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-regime sweep (vTA and Keylime pull) of two replications."""
    root = tmp_path_factory.mktemp("cmp")
    (root / "base.yaml").write_text(yaml.safe_dump(ESTATE))
    spec = {
        "name": "cmp",
        "base": "base.yaml",
        "seed": 3,
        "variants": {r: {"overrides": {"regime": r}} for r in ("vta", "keylime_pull")},
        "replications": 2,
        "common_random_numbers": True,
        "metrics": METRICS,
    }
    (root / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    run_sweep(root / "sweep.yaml", root / "out", workers=1)
    return root / "out"


def test_attestations_per_host_hour_follow_who_initiates(sweep_dir: Path) -> None:
    """vTA: about 12 attestations per host-hour (every 5 min + jitter); Keylime's verifier
    polls every 2 s plus the cycle: about 3600 / 2.3 per host-hour."""
    rows = {(r["variant"], r["figure"]): r for r in regime_rows(sweep_dir)}
    vta = rows[("vta", "attestations per host-hour")]["mean"]
    pull = rows[("keylime_pull", "attestations per host-hour")]["mean"]
    assert 8 <= vta <= 14
    assert 3600 / 2.6 <= pull <= 3600 / 2.0
    assert rows[("keylime_pull", "time to detection")]["mean"] < 5
    assert rows[("vta", "detection censored")]["mean"] == 1  # boot-measured, no reboot
    assert all(r["n"] == 2 for r in rows.values())


def test_regime_table_has_a_row_per_regime_and_a_column_per_figure(sweep_dir: Path) -> None:
    """The table: regimes in the sweep file's order, every figure with its unit."""
    table = regime_table(sweep_dir)
    assert list(table.index) == ["vta", "keylime_pull"]
    assert list(table.columns) == [f"{f.name} ({f.unit})" for f in FIGURES]
    util = table["verifier utilisation (%)"]
    assert util["keylime_pull"] > util["vta"] > 0


def test_regime_comparison_draws_six_panels(sweep_dir: Path, tmp_path: Path) -> None:
    """The figure has one panel per compared figure and saves as PNG."""
    fig = sim.plots.regime_comparison(sweep_dir)
    assert len(fig.axes) == 6
    sim.plots.save(fig, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")


def test_a_sweep_without_the_figures_metrics_is_refused(tmp_path: Path) -> None:
    """A sweep that did not record a figure's metric is an error naming it."""
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({**ESTATE, "duration": "4m"}))
    spec = {"name": "thin", "base": "base.yaml", "replications": 1,
            "variants": {"vta": {"overrides": {"regime": "vta"}}},
            "metrics": ["attestation.requests"]}  # fmt: skip
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(spec))
    run_sweep(tmp_path / "sweep.yaml", tmp_path / "out", workers=1)
    with pytest.raises(RunError, match="did not record"):
        regime_rows(tmp_path / "out")
