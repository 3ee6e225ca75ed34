"""The ``network`` section: sites, the LAN inside each and the WAN links between them."""

from __future__ import annotations

from pydantic import Field, model_validator

from sim.scenario.common import Name, Section, bandwidth, dist, require_unique
from sim.scenario.distributions import Distribution
from sim.scenario.limits import (
    LinkBandwidth,
)
from sim.scenario.operations import NetworkOutage


class Site(Section):
    """A data-centre site; hosts and services in one site talk over its LAN."""

    name: Name = Field(
        description="the site's name, referred to by vCenters, the trust authority and the KMS",
    )


class SiteLink(Section):
    """A WAN link between two sites."""

    a: Name = Field(description="one site of the link")
    b: Name = Field(description="the other site of the link")
    latency: Distribution = Field(default=dist("10ms"), description="one-way latency of the link")
    bandwidth: LinkBandwidth = Field(
        default=bandwidth("10Gbps"), description="bandwidth of the link in each direction"
    )


class Network(Section):
    """Sites, the LAN inside each site and the WAN links between sites."""

    sites: tuple[Site, ...] = Field(
        default=(Site(name="dc1"),),
        description="the data-centre sites; hosts and services in one site share its LAN",
    )
    lan_latency: Distribution = Field(
        default=dist("250us"), description="one-way latency per LAN hop"
    )
    lan_bandwidth: LinkBandwidth = Field(
        default=bandwidth("25Gbps"), description="site switch fabric"
    )
    vmotion_nic: LinkBandwidth = Field(
        default=bandwidth("10Gbps"), description="each host's vMotion NIC"
    )
    links: tuple[SiteLink, ...] = Field(
        default=(),
        description="WAN links between sites (every pair of sites that talk needs a path)",
    )
    outages: tuple[NetworkOutage, ...] = Field(
        default=(), description="WAN links or sites cut off for a while"
    )

    @model_validator(mode="after")
    def _check_sites(self) -> Network:
        names = [s.name for s in self.sites]
        if not names:
            raise ValueError("at least one site is needed")
        require_unique(names, "site")
        for link in self.links:
            for end in (link.a, link.b):
                if end not in names:
                    raise ValueError(f"link end {end!r} is not a site (sites: {names})")
            if link.a == link.b:
                raise ValueError(f"link {link.a}-{link.b} joins a site to itself")
        return self
