"""Reading scenarios: YAML text or a mapping in, a validated :class:`Scenario` out.

:func:`load_scenario` and :func:`parse_scenario` turn every problem (malformed YAML included)
into a :class:`~sim.errors.ScenarioError` whose problems read ``path.to.field: message``;
:func:`apply_overrides` sets fields by dotted path before validation; ``extends`` between
files is resolved first (:mod:`sim.scenario.compose`).
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError, WithJsonSchema

from sim.errors import Problem, ScenarioError
from sim.scenario.bounds import Within
from sim.scenario.compose import EXTENDS_DESCRIPTION, resolve_extends
from sim.scenario.distributions import UNION_TAGS
from sim.scenario.limits import limit_problems
from sim.scenario.model import Scenario
from sim.scenario.regimes import expand_regime
from sim.scenario.rules import topology_problems
from sim.scenario.units import short_repr
from sim.scenario.yaml_safe import load_yaml_file, load_yaml_text

_SCALAR_BRANCHES = frozenset(
    ("int", "float", "str", "bool", "constrained-int", "constrained-float", "constrained-str")
)
"""pydantic's names of scalar members of a union, as they appear in an error's location."""


_VALIDATOR_TAG = re.compile(r"[a-z][a-z-]*\[.*\]", re.DOTALL)
"""pydantic's names of validators in a location (``function-after[_check(), ...]``)."""


def _loc_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        text = str(item)
        # pydantic adds the union member's tag (e.g. "lognormal", "function-before[...]");
        # a key from the file that merely holds brackets is kept
        if (
            text in UNION_TAGS
            or text in _SCALAR_BRANCHES
            or _VALIDATOR_TAG.fullmatch(text)
            or text.startswith("function-")
        ):
            continue
        parts.append(text)
    return ".".join(parts)


_PLAIN_MESSAGES = {
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "finite_number": "expected a finite number",
}
"""pydantic's wording of a wrong scalar type, as the scenario format says it (with strict
numbers, ``"8"`` and ``true`` land here)."""


_BOUND_WORDS = {
    "less_than_equal": ("le", "at most"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "greater_than": ("gt", "more than"),
}


def _plain_message(error: Any) -> str:
    """A readable message for a wrong type or a number out of bounds; '' for others."""
    kind = str(error.get("type"))
    if kind in _BOUND_WORDS:
        key, words = _BOUND_WORDS[kind]
        return f"expected {words} {error.get('ctx', {}).get(key)!r}"
    return _PLAIN_MESSAGES.get(kind, "")


def _keys_at(root: type[BaseModel], loc: tuple[str, ...]) -> set[str]:
    """The keys the models reached from ``root`` along ``loc`` accept (every member of a
    union), for suggesting the key a misspelt one meant."""
    models: list[type[BaseModel]] = [root]
    keyed = False  # the next part is a key of a mapping of sections (sweep variants)
    for part in loc:
        if keyed or part.isdigit() or part in UNION_TAGS or part in _SCALAR_BRANCHES:
            keyed = False
            continue
        found: list[type[BaseModel]] = []
        for model in models:
            for name, info in model.model_fields.items():
                if part in (name, info.alias):
                    found += _model_types(info.annotation)
                    keyed = keyed or typing.get_origin(info.annotation) is dict
        if not found:
            return set()
        models = found
    return {info.alias or name for m in models for name, info in m.model_fields.items()}


def _model_types(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in typing.get_args(tp) for m in _model_types(arg)]


def _suggestion(root: type[BaseModel], loc: tuple[str, ...]) -> str:
    """``; did you mean 'interval'?`` for a misspelt key, else ''."""
    if not loc:
        return ""
    keys = _keys_at(root, loc[:-1])
    close = difflib.get_close_matches(loc[-1], sorted(keys), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def problems_from(err: ValidationError, root: type[BaseModel] | None = None) -> list[Problem]:
    """pydantic's errors as problems with dotted field paths and readable messages; an
    unknown key of ``root``'s format (default the scenario's) gets a "did you mean"."""
    errors = err.errors(include_url=False)
    paths = [_loc_path(tuple(e.get("loc", ()))) for e in errors]
    out: list[Problem] = []
    # a mapping given for a union of a number and a section (``replications``) also fails
    # the number branch: that failure says nothing the section's own problems don't
    scalar = [
        isinstance(e.get("input"), dict | list)
        and bool(_SCALAR_BRANCHES.intersection(map(str, e.get("loc", ()))))
        for e in errors
    ]
    for e, path, skip in zip(errors, paths, scalar, strict=True):
        if skip and any(
            not other_skip and (p == path or p.startswith(path + "."))
            for p, other_skip in zip(paths, scalar, strict=True)
        ):
            continue
        # pydantic also calls a tuple too short when one of its items failed: say it once.
        if e.get("type") == "too_short" and any(
            p.startswith(path + ".") for p in paths if p != path
        ):
            continue
        msg = _plain_message(e) or re.sub(
            r"^(Value error|Assertion failed), ", "", str(e.get("msg", "invalid"))
        )
        found = e.get("input")
        if e.get("type") == "extra_forbidden":
            loc = tuple(map(str, e.get("loc", ())))
            msg = "unknown key (not part of the scenario format)" + _suggestion(
                root or Scenario, loc
            )
        elif e.get("type") == "missing":
            msg = "required field is missing"
        elif not isinstance(found, dict | list | tuple) and short_repr(found) not in msg:
            msg = f"{msg}; found {short_repr(found)}"
        out.append(Problem(path, msg))
    return out


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
    data = expand_regime(data)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(problems_from(err)) from None
    problems = limit_problems(scenario) or topology_problems(scenario)
    if problems:
        raise ScenarioError(problems)
    return scenario


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


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``data`` with each dotted path set (list items by index)."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        node: Any = out
        for i, key in enumerate(keys[:-1]):
            nxt: Any
            if isinstance(node, list):
                nxt = node[_index(node, key, ".".join(keys[: i + 1]))]
            else:
                nxt = node.get(key)
                if nxt is None:
                    nxt = {}
                    node[key] = nxt
            if not isinstance(nxt, dict | list):
                raise ScenarioError(
                    [Problem(".".join(keys[: i + 1]), "is not a section; cannot set inside it")]
                )
            node = nxt
        last = keys[-1]
        if isinstance(node, list):
            node[_index(node, last, dotted)] = value
        else:
            node[last] = value
    return out


def _index(items: list[Any], key: str, where: str) -> int:
    """``key`` as an index into ``items``, or a ScenarioError naming the path."""
    if not key.isdigit() or int(key) >= len(items):
        raise ScenarioError(
            [Problem(where, f"expected a list index below {len(items)}, found {key!r}")]
        )
    return int(key)


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
