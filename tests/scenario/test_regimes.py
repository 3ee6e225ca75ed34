"""Regime presets: expansion before validation, explicit settings winning, and the regime
reference page that documents every preset value (parsed here, so page and code cannot
drift)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.cli import main
from sim.errors import ScenarioError
from sim.scenario import apply_overrides, parse_scenario
from sim.scenario.common import deep_merge
from sim.scenario.regimes import FLAT_PRESETS, PRESETS, REGIMES, expand_regime

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "regimes.md"
ESTATE: dict[str, Any] = {
    "name": "r",
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
}


def _page_table() -> tuple[list[str], dict[str, list[str]]]:
    lines = [ln for ln in PAGE.read_text(encoding="utf-8").splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows[cells[0].strip("`")] = cells[1:]
    return header, rows


def _at(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


def test_page_table_has_a_column_per_regime_and_a_source() -> None:
    """The regime reference table: parameter | vta | keylime_pull | keylime_push | hgs | source."""
    header, rows = _page_table()
    assert header == ["parameter", *REGIMES, "source"]
    assert all(r[-1] for r in rows.values()), "every row names its source"


def test_every_preset_value_is_the_page_tables() -> None:
    """Each regime's preset has exactly the reference table's parameters with its values."""
    _, rows = _page_table()
    for i, regime in enumerate(REGIMES):
        assert set(FLAT_PRESETS[regime]) == set(rows), regime
        for path, cells in rows.items():
            documented = yaml.safe_load(cells[i].strip("`"))
            assert FLAT_PRESETS[regime][path] == documented, f"{regime}: {path}"


@pytest.mark.parametrize("regime", REGIMES)
def test_a_regime_resolves_to_its_documented_values(regime: str) -> None:
    """Validated, a scenario naming a regime holds the same values as one that sets every
    documented value explicitly, and keeps the regime's name."""
    by_regime = parse_scenario({**ESTATE, "regime": regime})
    explicit = parse_scenario(apply_overrides(ESTATE, FLAT_PRESETS[regime]))
    assert by_regime.regime == regime and explicit.regime is None
    got, want = by_regime.model_dump(mode="json"), explicit.model_dump(mode="json")
    for path in FLAT_PRESETS[regime]:
        assert _at(got, path) == _at(want, path), path
    assert {**got, "regime": None} == want


def test_regime_vta_is_the_models_defaults() -> None:
    """``regime: vta`` changes no value: vTA's preset is the model's own defaults."""
    plain = parse_scenario(ESTATE).model_dump(mode="json")
    vta = parse_scenario({**ESTATE, "regime": "vta"}).model_dump(mode="json")
    assert vta.pop("regime") == "vta" and plain.pop("regime") is None
    assert vta == plain


def test_explicit_settings_override_the_preset_key_by_key() -> None:
    """A setting in the file wins over the preset; the rest of its section still comes
    from the preset (a deep merge), and overrides count as explicit settings."""
    s = parse_scenario(
        {
            **ESTATE,
            "regime": "keylime_pull",
            "attestation": {"interval": "5s"},
            "drift": {"measured_at": {"driver_change": "boot"}},
        },
        overrides={"attestation.max_retries": 2},
    )
    assert s.attestation.interval == 5.0 and s.attestation.max_retries == 2
    assert s.attestation.initiator == "verifier" and s.attestation.timeout == 60.0
    assert s.drift.measured_at["driver_change"] == "boot"
    assert s.drift.measured_at["unapproved_vib"] == "runtime"
    assert parse_scenario(ESTATE, overrides={"regime": "hgs"}).attestation.interval == 28800


def test_deep_merge_keeps_the_upper_value_and_merges_mappings() -> None:
    """deep_merge lays one mapping over another: values and lists replace, mappings merge,
    and neither input changes."""
    under = {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    over = {"a": {"c": [9], "e": None}}
    assert deep_merge(under, over) == {"a": {"b": 1, "c": [9], "e": None}, "d": 3}
    assert under == {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    assert expand_regime({"x": 1}) == {"x": 1}
    assert expand_regime({"regime": "hgs"})["attestation"] == PRESETS["hgs"]["attestation"]


def test_an_unknown_regime_is_reported_with_its_path() -> None:
    """A misspelt regime is a one-line problem naming ``regime`` and the choices."""
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**ESTATE, "regime": "keylime"})
    (problem,) = err.value.problems
    assert problem.path == "regime" and "keylime_pull" in problem.message


def test_run_writes_the_expanded_values_to_the_resolved_scenario(tmp_path: Path) -> None:
    """``vtasim run`` writes the regime's name and its expanded values to
    scenario.resolved.yaml, which reproduces the same scenario when loaded again."""
    src = tmp_path / "s.yaml"
    src.write_text(yaml.safe_dump({**ESTATE, "regime": "keylime_push", "duration": "2m"}))
    out = tmp_path / "run"
    assert main(["run", str(src), "--out", str(out), "--quiet"]) == 0
    text = (out / "scenario.resolved.yaml").read_text(encoding="utf-8")
    resolved = yaml.safe_load(text)
    assert resolved["regime"] == "keylime_push"
    assert resolved["attestation"]["initiator"] == "agent"
    assert resolved["attestation"]["on_demand"] is False
    assert resolved["attestation"]["notification_delay"]["dist"] == "lognormal"
    assert resolved["drift"]["measured_at"]["driver_change"] == "runtime"
    again = parse_scenario(resolved)
    assert again.attestation.interval == 60.0 and again.attestation.timeout == 5.0
    assert again.resolved_yaml() == text
