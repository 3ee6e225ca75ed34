"""Reading scenarios: YAML text or a mapping in, a validated :class:`Scenario` out.

:func:`load_scenario` and :func:`parse_scenario` turn every problem (malformed YAML included)
into a :class:`~sim.errors.ScenarioError` whose problems read ``path.to.field: message``;
:func:`apply_overrides` sets fields by dotted path before validation; ``extends`` between
files is resolved first (both in :mod:`sim.scenario.compose`); the validation itself, and
the field-path problems, are :mod:`sim.scenario.validation`'s.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, WithJsonSchema

from sim.errors import Problem, ScenarioError
from sim.scenario.bounds import Within
from sim.scenario.compose import EXTENDS_DESCRIPTION, apply_overrides, resolve_extends
from sim.scenario.model import Scenario
from sim.scenario.validation import problems_from, validated_scenario
from sim.scenario.yaml_safe import load_yaml_file, load_yaml_text

__all__ = [
    "apply_overrides",
    "load_scenario",
    "parse_resolved_scenario",
    "parse_scenario",
    "problems_from",
    "scenario_json_schema",
]

_SWEEP_KEYS = frozenset(("base", "factors", "variants", "replications"))


def _not_a_scenario(data: dict[Any, Any]) -> None:
    """Refuse, in one line, a sweep file and a mapping with no scenario field at all (its
    keys would be echoed as unknown keys, and they may be someone's secrets)."""
    keys = set(map(str, data))
    if "base" in keys and keys & _SWEEP_KEYS and "vcenters" not in keys:
        raise ScenarioError([Problem("", "this is a sweep file: use vtasim sweep")])
    known = {"extends", "regime"} | {f.alias or n for n, f in Scenario.model_fields.items()}
    if keys and not keys & known:
        raise ScenarioError(
            [Problem("", "not a scenario file (none of its top-level keys is a scenario field)")]
        )


def parse_scenario(
    data: Any,
    overrides: Mapping[str, Any] | None = None,
    base_dir: Path | None = None,
    *,
    allow_outside: bool = False,
) -> Scenario:
    """Validate a mapping (parsed YAML) into a Scenario; raise ScenarioError listing every
    problem. An ``extends`` is resolved first, against ``base_dir`` (default: the current
    directory; confined to that tree unless ``allow_outside``: see
    :mod:`sim.scenario.compose`); ``overrides`` then set fields by dotted path
    (``attestation.interval``); last, a ``regime`` expands into its preset underneath the
    explicit settings."""
    if not isinstance(data, dict):
        raise ScenarioError([Problem("", "a scenario must be a YAML mapping at the top level")])
    _not_a_scenario(data)
    data = resolve_extends(
        data, Path.cwd() if base_dir is None else base_dir, allow_outside=allow_outside
    )
    if overrides:
        data = apply_overrides(data, overrides)
    return validated_scenario(Scenario, data)


def load_scenario(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    allow_outside: bool = False,
) -> Scenario:
    """Read and validate a YAML scenario file (bounded and strict: see
    :mod:`sim.scenario.yaml_safe`; its ``extends`` resolved inside its folder's tree
    unless ``allow_outside``: :mod:`sim.scenario.compose`)."""
    data = load_yaml_file(Path(path))
    if isinstance(data, dict):
        _not_a_scenario(data)
    composed = resolve_extends(data, Path(path).parent, (Path(path),), allow_outside=allow_outside)
    return parse_scenario(composed, overrides)


def parse_resolved_scenario(text: str, source: str) -> Scenario:
    """The scenario a run folder records (``scenario.resolved.yaml``), read by the bounded
    loader. It is already resolved: an ``extends`` in it is refused, never followed (a
    received run folder must not make vtasim read files of the machine it is read on)."""
    data = load_yaml_text(text, source)
    if isinstance(data, dict) and "extends" in data:
        raise ScenarioError(
            [
                Problem(
                    "extends",
                    f"{source}: a run folder holds the resolved scenario; extends is not "
                    "followed there",
                )
            ]
        )
    return parse_scenario(data)


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model class reachable from ``root`` through its fields, by class name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp.__name__ in found:
                return
            found[tp.__name__] = tp
            for info in tp.model_fields.values():
                visit(info.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(root)
    return found


def _field_hints(schema: dict[str, Any]) -> None:
    """A field's own description replaces the one its type gives (the unit it accepts and
    its range): put them back after it, so editors show both."""
    for name, model in _models(Scenario).items():
        target = schema if name == "Scenario" else schema.get("$defs", {}).get(name)
        if target is None:
            continue
        for field, info in model.model_fields.items():
            prop = target.get("properties", {}).get(info.alias or field)
            if prop is None or not info.description:
                continue
            hints = [
                m.json_schema.get("description", "")
                for m in info.metadata
                if isinstance(m, WithJsonSchema) and m.json_schema
            ]
            ranges = [m for m in info.metadata if isinstance(m, Within)]
            if ranges:
                hints.append(f"Range: {ranges[-1].describe()}.")
            extra = " ".join(h for h in hints if h)
            if extra:
                prop["description"] = f"{info.description.rstrip('.')}. {extra}"


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format (for editors' YAML validation)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vtasim scenario"
    _field_hints(schema)
    schema["properties"]["extends"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": EXTENDS_DESCRIPTION,
    }
    return schema
