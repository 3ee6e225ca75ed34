"""Composing scenarios: ``extends:`` between files and ``--set path=value`` assignments.

A scenario file may start from another one::

    extends: baseline.yaml          # relative to this file; or a list, merged in order
    name: baseline-fast
    attestation: {interval: 2m}     # merged into baseline's attestation section

The extended file is read with the same bounded, strict loader (:mod:`sim.scenario.yaml_safe`)
and may itself extend another. Mappings merge key by key (the extending file wins); lists
and scalars are replaced whole (a list of vCenters is not spliced). A cycle of files, or a
chain deeper than :data:`MAX_EXTENDS_DEPTH`, is refused naming the files. ``extends`` is
resolved before validation, so the merged mapping is validated as one scenario and its
problems name the merged field paths.

``--set attestation.interval=2m`` assigns one dotted path; the value is read as YAML
(``--set kms.servers=4`` is the integer 4, ``--set 'network.sites=[{name: dc1}]'`` a list)
and the result is validated like the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sim.errors import Problem, ScenarioError
from sim.scenario.yaml_safe import load_yaml_file, load_yaml_text

MAX_EXTENDS_DEPTH = 16
"""Longest chain of ``extends`` (a file extending a file ... ) that is followed."""

EXTENDS_DESCRIPTION = (
    "scenario file(s) this one starts from, relative to this file; mappings merge key by "
    "key (this file wins), lists and scalars are replaced"
)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in: mappings key by key, everything else replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(old, value)
        else:
            out[key] = value
    return out


def resolve_extends(data: Any, base_dir: Path, chain: tuple[Path, ...] = ()) -> Any:
    """``data`` (a parsed scenario mapping) with its ``extends`` resolved against
    ``base_dir``; anything that is not a mapping is returned as it is (validation says so)."""
    if not isinstance(data, dict) or "extends" not in data:
        return data
    parents = data["extends"]
    names = [parents] if isinstance(parents, str) else parents
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ScenarioError(
            [
                Problem(
                    "extends",
                    "expected a file name or a list of file names, relative to "
                    f"this file; found {parents!r}",
                )
            ]
        )
    merged: dict[str, Any] = {}
    for name in names:
        merged = deep_merge(merged, _load_parent(base_dir / name, chain))
    own = {k: v for k, v in data.items() if k != "extends"}
    return deep_merge(merged, own)


def _load_parent(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The resolved mapping of an extended file, refusing cycles and deep chains."""
    key = path.resolve()
    shown = " -> ".join(str(p) for p in (*chain, path))
    if key in (p.resolve() for p in chain):
        raise ScenarioError([Problem("extends", f"a cycle of files: {shown}")])
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            [Problem("extends", f"more than {MAX_EXTENDS_DEPTH} files deep: {shown}")]
        )
    if not path.is_file():
        raise ScenarioError([Problem("extends", f"no such file {path}")])
    try:
        data = load_yaml_file(path)
    except ScenarioError as err:
        raise ScenarioError(
            Problem("extends", f"{p.path}: {p.message}" if p.path else p.message)
            for p in err.problems
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError([Problem("extends", f"{path}: expected a YAML mapping")])
    resolved = resolve_extends(data, path.parent, (*chain, path))
    assert isinstance(resolved, dict)
    return resolved


def load_composed(path: Path) -> Any:
    """A scenario file read (bounded, strict) with its ``extends`` resolved."""
    return resolve_extends(load_yaml_file(path), path.parent, (path,))


def parse_assignments(items: Iterable[str], option: str = "--set") -> dict[str, Any]:
    """``["a.b=2m", "c=[1, 2]"]`` -> ``{"a.b": "2m", "c": [1, 2]}``, each value read as
    YAML by the bounded loader; a malformed item is a problem naming ``option`` and the path."""
    out: dict[str, Any] = {}
    problems: list[Problem] = []
    for item in items:
        path, sep, text = item.partition("=")
        path = path.strip()
        parts = path.split(".")
        if not sep or not path or not all(parts):
            problems.append(
                Problem(
                    option, f"expected PATH=VALUE such as attestation.interval=2m, found {item!r}"
                )
            )
            continue
        try:
            out[path] = load_yaml_text(text, f"{option} {path}")
        except ScenarioError as err:
            problems += [Problem(path, p.message) for p in err.problems]
    if problems:
        raise ScenarioError(problems)
    return out
