"""Composition: ``extends`` between files, ``--set`` assignments, validated copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.scenario import load_scenario
from sim.scenario.common import deep_merge
from sim.scenario.compose import parse_assignments
from tests.cli.clitools import TINY


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_merges_mappings_and_replaces_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child file overrides one field of a section and keeps the parent's others (the
    parent, outside the child's folder, is inside the current one: the user's project)."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, "base.yaml", TINY + "attestation: {interval: 5m, jitter: 30s}\n")
    (tmp_path / "sub").mkdir()
    child = _write(
        tmp_path / "sub",
        "child.yaml",
        "extends: ../base.yaml\nname: child\nattestation: {interval: 2m}\n",
    )
    scenario = load_scenario(child)
    assert scenario.name == "child"
    assert scenario.attestation.interval == 120.0
    assert scenario.attestation.jitter == 30.0
    assert scenario.vms.count == 4
    monkeypatch.chdir(tmp_path / "sub")  # now ../base.yaml is outside both trees
    with pytest.raises(ScenarioError, match="outside the folder of the file that names it"):
        load_scenario(child)
    assert load_scenario(child, allow_outside=True).name == "child"
    assert deep_merge({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"d": 2}}) == {
        "a": [3],
        "b": {"c": 1, "d": 2},
    }


def test_extends_cycles_and_missing_files_are_refused(tmp_path: Path) -> None:
    """A cycle names the chain of files; a missing parent names its path."""
    a = _write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    _write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(a)
    assert err.value.problems[0].path == "extends"
    assert "a cycle of files" in err.value.problems[0].message
    lone = _write(tmp_path, "c.yaml", "extends: nowhere.yaml\nname: c\n")
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(lone)


def test_extended_files_are_read_by_the_safe_loader(tmp_path: Path) -> None:
    """A parent with a duplicate key is refused like a scenario file itself."""
    _write(tmp_path, "p.yaml", TINY + "seed: 4\n")
    child = _write(tmp_path, "c.yaml", "extends: p.yaml\n")
    with pytest.raises(ScenarioError, match="duplicate key"):
        load_scenario(child)


def test_assignments_are_read_as_yaml_and_validated_at_their_path(tmp_path: Path) -> None:
    """``--set`` values are YAML; a bad one is reported at its dotted path."""
    assert parse_assignments(["kms.servers=4", "a.b=[1, 2]", "x=2m"]) == {
        "kms.servers": 4,
        "a.b": [1, 2],
        "x": "2m",
    }
    with pytest.raises(ScenarioError, match="expected PATH=VALUE"):
        parse_assignments(["novalue"])
    path = _write(tmp_path, "t.yaml", TINY)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, parse_assignments(["attestation.interval=-5m"]))
    assert err.value.problems[0].path == "attestation.interval"


def test_with_overrides_and_model_copy_validate() -> None:
    """Dotted keys, ``__`` keyword arguments and model_copy all go through validation."""
    import yaml

    from sim.scenario import parse_scenario

    scenario = parse_scenario(yaml.safe_load(TINY))
    changed = scenario.with_overrides({"attestation.interval": "2m"}, kms__servers=2)
    assert (changed.attestation.interval, changed.kms.servers) == (120.0, 2)
    assert scenario.model_copy(update={"seed": 9}).seed == 9
    with pytest.raises(ScenarioError, match="seed"):
        scenario.model_copy(update={"seed": -1})
    with pytest.raises(ScenarioError, match=r"attestation\.interval"):
        scenario.with_overrides(attestation__interval="0s")
    with pytest.raises(ValueError, match="no field"):
        scenario.model_copy(update={"nosuch": 1})
    with pytest.raises(ValueError):
        scenario.attestation.model_copy(update={"interval": "0s"})
