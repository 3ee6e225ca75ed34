"""The JSON Schemas for editors: every field described, the committed schema files in step,
and every shipped YAML file pointing its editor at them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sim.experiments.plan_spec import plan_json_schema
from sim.experiments.spec import sweep_json_schema
from sim.scenario import scenario_json_schema
from tests.conftest import ROOT
from tests.regenerate import COMMAND, schema_texts

SCHEMAS = {
    "scenario.schema.json": scenario_json_schema,
    "sweep.schema.json": sweep_json_schema,
    "plan.schema.json": plan_json_schema,
}


def _undescribed(schema: dict[str, Any]) -> list[str]:
    found = []
    for name, model in [("(top)", schema), *schema.get("$defs", {}).items()]:
        for field, prop in model.get("properties", {}).items():
            if not str(prop.get("description", "")).strip():
                found.append(f"{name}.{field}")
    return found


@pytest.mark.parametrize("make", list(SCHEMAS.values()), ids=list(SCHEMAS))
def test_every_field_has_a_description(make: Any) -> None:
    """No property of the schema (or of any section in $defs) lacks a description, so a new
    field without one fails here."""
    assert _undescribed(make()) == []


def test_bounded_fields_keep_their_unit_and_range() -> None:
    """A field's own description is followed by its type's unit hint and range."""
    prop = scenario_json_schema()["$defs"]["VMotion"]["properties"]["packet_size"]
    assert prop["description"].startswith("size of one encrypted stream packet. A size:")
    assert prop["description"].endswith("Range: 1KiB to 16MiB.")


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_committed_schema_files_are_current(name: str) -> None:
    """schemas/*.json equal the generated schemas (``python -m tests.regenerate schemas``
    rewrites them)."""
    path = ROOT / "schemas" / name
    text = json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n"
    assert text == schema_texts()[name]
    assert path.read_text(encoding="utf-8") == text, f"stale: run {COMMAND} schemas"


def _shipped() -> list[Path]:
    return sorted((ROOT / "scenarios").rglob("*.yaml"))


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_yaml_carries_the_schema_modeline(path: Path) -> None:
    """The first line tells yaml-language-server which schema the file follows, by a
    relative path that exists."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), first
    target = (path.parent / first[len(prefix) :]).resolve()
    kind = {"sweeps": "sweep", "plans": "plan"}.get(path.parent.name, "scenario")
    assert target == (ROOT / "schemas" / f"{kind}.schema.json").resolve()


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_yaml_validates_against_its_committed_schema(path: Path) -> None:
    """jsonschema (Draft 2020-12) accepts every shipped file under the schema its modeline
    names, as an editor would."""
    import jsonschema
    import yaml

    first = path.read_text(encoding="utf-8").splitlines()[0]
    schema_path = path.parent / first.split("$schema=", 1)[1]
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert errors == []
