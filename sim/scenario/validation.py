"""Validating a scenario mapping: the fields, then the whole-estate rules, every problem
named by its field path.

:func:`validated_scenario` is the one path every scenario takes into a validated object
(a file, a sweep's cell, ``Scenario.with_overrides``): the regime preset expanded, the
fields validated, then the limits and topology rules of :mod:`sim.scenario.rules`.
:func:`problems_from` turns pydantic's errors into :class:`~sim.errors.Problem` values whose
path reads ``path.to.field`` and whose message is plain (a misspelt key gets a "did you
mean"). It takes the root class as a parameter, so it sits below
:class:`sim.scenario.model.Scenario`.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sim.errors import Problem, ScenarioError
from sim.scenario.distributions import UNION_TAGS
from sim.scenario.regimes import expand_regime
from sim.scenario.rules import limit_problems, topology_problems
from sim.scenario.sections.root import ScenarioFields
from sim.scenario.units import short_repr

S = TypeVar("S", bound=ScenarioFields)

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
                root or ScenarioFields, loc
            )
        elif e.get("type") == "missing":
            msg = "required field is missing"
        elif not isinstance(found, dict | list | tuple) and short_repr(found) not in msg:
            msg = f"{msg}; found {short_repr(found)}"
        out.append(Problem(path, msg))
    return out


def validated_scenario(cls: type[S], data: Any) -> S:
    """``data`` (a mapping, ``extends`` and overrides already applied) validated into
    ``cls``: its ``regime`` expanded underneath it, its fields validated, then the limits
    and topology rules; a :class:`~sim.errors.ScenarioError` lists every problem."""
    data = expand_regime(data)
    try:
        scenario = cls.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(problems_from(err, cls)) from None
    problems = limit_problems(scenario) or topology_problems(scenario)
    if problems:
        raise ScenarioError(problems)
    return scenario
