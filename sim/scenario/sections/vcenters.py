"""The ``vcenters`` section: workload vCenters and the trusted clusters they manage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.scenario.common import Name, Section, dist, dur, size
from sim.scenario.distributions import Distribution
from sim.scenario.limits import (
    HostMemory,
    Period,
)


class Cluster(Section):
    """A trusted cluster of ESXi hosts managed by a workload vCenter."""

    name: Name = Field(description="the cluster's name, unique within its vCenter")
    hosts: int = Field(ge=1, le=100_000, description="trusted ESXi hosts in the cluster")
    host_memory: HostMemory = Field(
        default=size("512GiB"),
        description="memory of each host, for placement and attested capacity",
    )
    site: Name | None = Field(
        default=None, description="where its hosts are (default: its vCenter's site)"
    )


class VCenter(Section):
    """A workload vCenter: polls host attestation status and places VMs."""

    name: Name = Field(description="the workload vCenter's name")
    site: Name = Field(default="dc1", description="site the vCenter and its hosts are in")
    sso_domain: Name = Field(
        default="vsphere.local",
        description="SSO domain of the vCenter (not the Trust Authority's, or shared with it)",
    )
    linked_mode_with: tuple[Name, ...] = Field(
        default=(),
        description="vCenters this one is in Enhanced Linked Mode with",
    )
    status_source: Literal["host_report", "trust_authority_poll"] = Field(
        default="host_report",
        description=(
            "host_report (VMware's documented path): each host reports its attestation status"
            " to its vCenter after every attempt; trust_authority_poll: the vCenter polls the"
            " trust authority every status_poll_interval"
        ),
    )
    status_propagation: Distribution = Field(
        default=dist({"dist": "lognormal", "median": "2s", "p95": "10s"}),
        description="delay of a host's status report to its vCenter (host_report)",
    )
    status_poll_interval: Period = Field(
        default=dur("60s"), description="poll period (trust_authority_poll)"
    )
    placement: Literal["first_fit", "least_loaded"] = Field(
        default="least_loaded",
        description="how a VM's host is chosen among the eligible ones",
    )
    clusters: tuple[Cluster, ...] = Field(
        min_length=1, description="the trusted clusters the vCenter manages"
    )


# --------------------------------------------------------------------------- VMs & workload
