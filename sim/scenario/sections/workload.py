"""The ``workload`` section: estate-wide request streams."""

from __future__ import annotations

from pydantic import Field

from sim.scenario.common import Section, dist, rate
from sim.scenario.distributions import Distribution
from sim.scenario.units import Rate


class Workload(Section):
    """Estate-wide request streams (Poisson arrivals)."""

    power_on_rate: Rate = Field(default=rate("60 per_hour"), description="power-ons of stopped VMs")
    lifetime: Distribution = Field(
        default=dist({"dist": "exponential", "mean": "8h"}),
        description="how long a powered-on VM runs before it is powered off",
    )
    migration_rate: Rate = Field(default=rate("60 per_hour"), description="DRS-like migrations")
