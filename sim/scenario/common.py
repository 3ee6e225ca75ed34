"""What every scenario module shares: the base of a scenario section and the name type."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from sim.scenario.bounds import StrictModel
from sim.scenario.distributions import DistributionModel, parse_distribution
from sim.scenario.units import parse_duration

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
"""A name in a scenario: letters, digits, ``.``, ``_`` and ``-``, starting alphanumeric."""


class Section(StrictModel):
    """Base of every scenario section: frozen, unknown keys forbidden, numbers and booleans
    strict (``"8"`` is not a count, ``true`` not a number) and finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def dur(v: str | float) -> float:
    """A duration default, written with units."""
    return parse_duration(v)


def dist(v: Any) -> DistributionModel:
    """A distribution default, written as in a scenario file."""
    return parse_distribution(v)
