"""Composing scenarios: ``extends:`` between files and ``--set path=value`` assignments.

A scenario file may start from another one::

    extends: baseline.yaml          # relative to this file; or a list, merged in order
    name: baseline-fast
    attestation: {interval: 2m}     # merged into baseline's attestation section

The extended file is read with the same bounded, strict loader (:mod:`sim.scenario.yaml_safe`)
and may itself extend another. Mappings merge key by key (the extending file wins); lists
and scalars are replaced whole (a list of vCenters is not spliced). A cycle of files, or a
chain deeper than :data:`MAX_EXTENDS_DEPTH`, or more than :data:`MAX_EXTENDS_FILES` files
read in all, is refused naming the files. A named file must lie inside the directory tree
of the file that names it or of the current directory (links resolved first; the API's
``allow_outside`` and the CLI's ``--allow-outside`` lift this), must be a regular file (a
FIFO or device is refused unread) and must look like a scenario: a file with no scenario
field is refused without showing its keys, which would be its content. ``extends`` is
resolved before validation, so the merged mapping is validated as one scenario and its
problems name the merged field paths.

``--set attestation.interval=2m`` assigns one dotted path; the value is read as YAML
(``--set kms.servers=4`` is the integer 4, ``--set 'network.sites=[{name: dc1}]'`` a list)
and the result is validated like the file.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sim.errors import Problem, ScenarioError
from sim.scenario.common import deep_merge
from sim.scenario.sections.root import ScenarioFields
from sim.scenario.yaml_safe import load_yaml_file, load_yaml_text

MAX_EXTENDS_DEPTH = 16
"""Longest chain of ``extends`` (a file extending a file ... ) that is followed."""
MAX_EXTENDS_FILES = 64
"""Most files one scenario may read through ``extends`` in all (the same file counted at
every use): a few small files extending each other several times over would otherwise
expand exponentially."""

EXTENDS_DESCRIPTION = (
    "scenario file(s) this one starts from, relative to this file and inside its folder "
    "(or the current folder); mappings merge key by key (this file wins), lists and scalars "
    "are replaced"
)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def confined(base_dir: Path, name: str, field: str, allow_outside: bool = False) -> Path:
    """The file ``name`` (named by ``field`` of a file in ``base_dir``), resolved, if it
    lies inside ``base_dir``'s directory tree or the current directory's: a file received
    from elsewhere cannot make vtasim read ``/etc/shadow`` or ``../../.ssh``. Links are
    followed before the check, so a link out of the tree is refused too. ``allow_outside``
    lifts the check (``--allow-outside``). A ScenarioError names ``field`` otherwise."""
    given = base_dir / name
    try:
        real = Path(os.path.realpath(given, strict=True))
    except FileNotFoundError:
        raise ScenarioError([Problem(field, f"no such file {given}")]) from None
    except (OSError, RuntimeError) as exc:  # a link loop, a permission problem
        why = getattr(exc, "strerror", None) or "a symbolic link loop"
        raise ScenarioError([Problem(field, f"cannot read {given}: {why}")]) from None
    if allow_outside:
        return real
    roots = [Path(os.path.realpath(base_dir))]
    with contextlib.suppress(OSError):  # the current directory may have been removed
        roots.append(Path(os.path.realpath(os.getcwd())))
    if not any(_inside(real, root) for root in roots):
        raise ScenarioError(
            [
                Problem(
                    field,
                    f"{name!r} is outside the folder of the file that names it ({base_dir}) "
                    "and the current folder; not read (pass --allow-outside to allow it)",
                )
            ]
        )
    return real


class _Reads:
    """Files read so far by one composition (the breadth bound)."""

    def __init__(self, allow_outside: bool) -> None:
        self.count = 0
        self.allow_outside = allow_outside


def resolve_extends(
    data: Any,
    base_dir: Path,
    chain: tuple[Path, ...] = (),
    *,
    allow_outside: bool = False,
    _reads: _Reads | None = None,
) -> Any:
    """``data`` (a parsed scenario mapping) with its ``extends`` resolved against
    ``base_dir`` (each file confined as :func:`confined` says); anything that is not a
    mapping is returned as it is (validation says so)."""
    if not isinstance(data, dict) or "extends" not in data:
        return data
    reads = _reads or _Reads(allow_outside)
    parents = data["extends"]
    names = [parents] if isinstance(parents, str) else parents
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ScenarioError(
            [
                Problem(
                    "extends",
                    "expected a file name or a list of file names, relative to "
                    f"this file; found {_short(parents)}",
                )
            ]
        )
    merged: dict[str, Any] = {}
    for name in names:
        merged = deep_merge(merged, _load_parent(base_dir, name, chain, reads))
    own = {k: v for k, v in data.items() if k != "extends"}
    return deep_merge(merged, own)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _scenario_keys() -> frozenset[str]:
    return frozenset(
        {"extends", "regime"} | {f.alias or n for n, f in ScenarioFields.model_fields.items()}
    )


def _load_parent(
    base_dir: Path, name: str, chain: tuple[Path, ...], reads: _Reads
) -> dict[str, Any]:
    """The resolved mapping of an extended file, refusing files outside the tree, cycles,
    deep chains, too many files in all, and files that are not scenarios."""
    path = base_dir / name
    shown = " -> ".join(str(p) for p in (*chain, path))
    real = confined(base_dir, name, "extends", reads.allow_outside)
    if real in (Path(os.path.realpath(p)) for p in chain):
        raise ScenarioError([Problem("extends", f"a cycle of files: {shown}")])
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(
            [Problem("extends", f"more than {MAX_EXTENDS_DEPTH} files deep: {shown}")]
        )
    reads.count += 1
    if reads.count > MAX_EXTENDS_FILES:
        raise ScenarioError(
            [
                Problem(
                    "extends",
                    f"more than {MAX_EXTENDS_FILES} files read through extends in all "
                    f"(each use counted); stopped at {path}",
                )
            ]
        )
    try:
        data = load_yaml_file(path)
    except ScenarioError as err:
        raise ScenarioError(
            Problem("extends", f"{p.path}: {p.message}" if p.path else p.message)
            for p in err.problems
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError([Problem("extends", f"{path}: expected a YAML mapping")])
    if not set(map(str, data)) & _scenario_keys():
        # never echo a file that is not a scenario (its keys would be its content)
        raise ScenarioError(
            [Problem("extends", f"{path}: not a scenario file (no scenario field in it)")]
        )
    resolved = resolve_extends(data, path.parent, (*chain, path), _reads=reads)
    assert isinstance(resolved, dict)
    return resolved


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
