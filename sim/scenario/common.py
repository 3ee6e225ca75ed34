"""What every scenario module shares: the base of a scenario section and the name type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from typing_extensions import Self

from sim.scenario.bounds import StrictModel
from sim.scenario.distributions import DistributionModel, parse_distribution
from sim.scenario.units import parse_duration

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
