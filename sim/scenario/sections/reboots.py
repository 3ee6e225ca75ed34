"""The ``reboots`` section: planned and crash reboots of trusted hosts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.scenario.common import Name, Section, dist, rate
from sim.scenario.distributions import Distribution
from sim.scenario.units import Duration, Rate

RebootKind = Literal["planned", "crash"]
"""How a host reboots."""

_KIND_DOC = (
    "planned: the host enters maintenance mode (its VMs leave by vMotion) and reboots;"
    " crash: it fails at once and vSphere HA restarts its VMs on other hosts"
)


class ScheduledReboot(Section):
    """A host reboot at a fixed moment."""

    at: Duration = Field(description="when the host reboots")
    host: Name = Field(description="the host that reboots")
    kind: RebootKind = Field(default="planned", description=_KIND_DOC)


class Reboots(Section):
    """Host reboots: re-measure the boot chain (and apply boot-measured drift)."""

    rate: Rate = Field(default=rate(0.0), description="per host")
    kind: RebootKind = Field(default="planned", description=_KIND_DOC + " (random reboots)")
    duration: Distribution = Field(
        default=dist("4m"),
        description="how long a reboot keeps the host down",
    )
    scheduled: tuple[ScheduledReboot, ...] = Field(
        default=(),
        description="reboots at given times on given hosts",
    )
