"""The ``metrics`` and ``capacity`` sections: how a run is measured and how capacity is
judged."""

from __future__ import annotations

from pydantic import Field

from sim.scenario.common import Section, dur
from sim.scenario.limits import (
    Period,
)
from sim.scenario.units import PositiveDuration


class Metrics(Section):
    """How the run is measured."""

    sample_interval: Period = Field(
        default=dur("5m"), description="period of the service utilisation / queue time series"
    )
    rmst_horizon: PositiveDuration = Field(
        default=dur("2h"),
        description=(
            "horizon of every Kaplan-Meier restricted mean (km_restricted_mean): the mean"
            " time to event with times capped here, fixed before the run so that runs and"
            " sweep cells estimate the same quantity (a modelling choice)"
        ),
    )


class Capacity(Section):
    """How capacity is judged (modelling choice)."""

    threshold: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description=(
            "fraction of the trusted hosts (rounded up to whole hosts) below which the time"
            " attested and usable capacity spent is reported (1: time below full capacity)"
        ),
    )
