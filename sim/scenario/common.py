"""What every scenario module shares: the base of a scenario section, the name type, the
helpers that write defaults with units, and the deep merge of scenario mappings."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from typing_extensions import Self

from sim.scenario.bounds import StrictModel
from sim.scenario.distributions import DistributionModel, parse_distribution
from sim.scenario.units import parse_bandwidth, parse_duration, parse_rate, parse_size

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
"""A name in a scenario: letters, digits, ``.``, ``_`` and ``-``, starting alphanumeric."""


class Section(StrictModel):
    """Base of every scenario section: frozen, unknown keys forbidden, numbers and booleans
    strict (``"8"`` is not a count, ``true`` not a number) and finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with ``update`` (field name -> value), validated like a file: pydantic's
        own ``model_copy`` sets fields unchecked, which would let an out-of-range value or
        a broken topology through. A Scenario's copy also passes the topology rules."""
        if not update:
            return super().model_copy(deep=deep)
        return self._validated_copy(update)

    def _validated_copy(self, update: Mapping[str, Any]) -> Self:
        data = self.model_dump(mode="json", round_trip=True)
        unknown = sorted(set(update) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field(s) {', '.join(unknown)}")
        data.update(update)
        return type(self).model_validate(data)


def dur(v: str | float) -> float:
    """A duration default, written with units."""
    return parse_duration(v)


def dist(v: Any) -> DistributionModel:
    """A distribution default, written as in a scenario file."""
    return parse_distribution(v)


def size(v: str | int) -> int:
    """A size default, written with units (``8GiB``)."""
    return parse_size(v)


def rate(v: str | float) -> float:
    """A rate default, written with units (``60 per_hour``)."""
    return parse_rate(v)


def bandwidth(v: str | float) -> float:
    """A bandwidth default, written with units (``10Gbps``)."""
    return parse_bandwidth(v)


def require_unique(names: list[str], what: str) -> None:
    """Raise naming the first name used twice among ``names`` (``what``: site, vCenter ...)."""
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{what} name {n!r} is used twice")
        seen.add(n)


def deep_merge(under: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``under``, as a new mapping sharing nothing with either: mappings
    merge key by key, anything else in ``over`` (a value, a list, null) replaces what
    ``under`` has. Used by ``extends`` (the extending file over the extended one) and by
    the regime presets (the file over the preset)."""
    out = copy.deepcopy(dict(under))
    for key, value in over.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = deep_merge(below, value)
        else:
            out[key] = copy.deepcopy(value)
    return out
