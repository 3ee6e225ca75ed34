"""The registries of regimes and VIB acceptance levels are what the scenario format, its
JSON Schema and the domain read: one list each, no second copy to keep in step."""

from __future__ import annotations

from typing import Any

import pytest

from sim.domain.acceptance import AcceptanceLevel, acceptance_labels
from sim.errors import ScenarioError
from sim.scenario import parse_scenario, scenario_json_schema
from sim.scenario.regimes import FLAT_PRESETS, PRESETS, REGISTRY, regime, regime_names

MINIMAL: dict[str, Any] = {
    "name": "t",
    "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}],
}


def _enum(prop: dict[str, Any]) -> list[str]:
    """The enumerated strings of a schema property (possibly one branch of an anyOf)."""
    branches = prop.get("anyOf", [prop])
    return next(b["enum"] for b in branches if "enum" in b)


def test_the_regime_field_takes_exactly_the_registered_regimes() -> None:
    """The schema's regime enum, the presets and the names accepted are the registry's."""
    schema = scenario_json_schema()
    assert _enum(schema["properties"]["regime"]) == list(regime_names())
    assert list(PRESETS) == list(FLAT_PRESETS) == [r.name for r in REGISTRY]
    for name in regime_names():
        assert parse_scenario({**MINIMAL, "regime": name}).regime == name
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**MINIMAL, "regime": "tpm_only"})
    assert err.value.problems[0].path == "regime"
    assert all(name in err.value.problems[0].message for name in regime_names())


def test_a_registry_entry_is_found_by_name() -> None:
    """regime() returns the entry; an unknown name is a KeyError naming the known ones."""
    assert regime("hgs").title == "Host Guardian Service"
    with pytest.raises(KeyError, match="keylime_pull"):
        regime("nope")


def test_acceptance_fields_take_exactly_the_registered_levels() -> None:
    """Both acceptance fields of the schema list the registry's labels, lowest first, and
    every label parses back to its level."""
    defs = scenario_json_schema()["$defs"]
    labels = list(acceptance_labels())
    assert _enum(defs["Attestation"]["properties"]["min_acceptance"]) == labels
    assert _enum(defs["ScheduledDrift"]["properties"]["acceptance"]) == labels
    assert _enum(defs["RandomDrift"]["properties"]["acceptance"]) == labels
    assert [AcceptanceLevel.parse(label) for label in labels] == sorted(AcceptanceLevel)
    with pytest.raises(ScenarioError) as err:
        parse_scenario({**MINIMAL, "attestation": {"min_acceptance": "VMwareBlessed"}})
    assert err.value.problems[0].path == "attestation.min_acceptance"
