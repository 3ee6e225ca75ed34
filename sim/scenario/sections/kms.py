"""The ``kms`` and ``kms_clusters`` sections: KMIP key server clusters and their outages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.scenario.common import Name, Section, dist, dur
from sim.scenario.distributions import Distribution
from sim.scenario.units import Duration, PositiveDuration


class KmsOutage(Section):
    """A KMIP server that is down for a while (connections to it time out)."""

    server: int = Field(ge=0, le=63, description="server index in its cluster, from 0")
    at: Duration
    duration: PositiveDuration


class Kms(Section):
    """A KMIP key server cluster: servers run active-active behind the Key Provider Service,
    which authenticates with its client certificate (no passwords)."""

    name: Name = Field(default="kms", description="the cluster's name (key providers refer to it)")
    servers: int = Field(
        default=2, ge=1, le=64, description="KMIP servers in the cluster (active-active)"
    )
    site: Name = Field(default="dc1", description="site the KMS servers are in")
    workers: int = Field(default=8, ge=1, le=4096, description="concurrent requests per server")
    service_time: Distribution = Field(
        default=dist({"dist": "lognormal", "median": "8.6ms", "p95": "15.7ms"}),
        description=(
            "a KMIP Get; the default was measured against PyKMIP's reference server on"
            " loopback (vtasim calibrate kms)"
        ),
    )
    kmip_version: Literal["1.1", "1.2", "1.3", "1.4", "2.0"] = Field(
        default="1.1",
        description="KMIP protocol version the key provider speaks to the KMS",
    )
    connection_timeout: PositiveDuration = Field(
        default=dur("30s"),
        description=(
            "a call to a server that is down waits this long, then the next server is tried;"
            " 30 s is a modelling choice, not a VMware default (VMware's API leaves the KMS"
            " connection timeout, PowerCLI's ConnectionTimeOutSeconds, unset unless"
            " configured)"
        ),
    )
    outages: tuple[KmsOutage, ...] = Field(
        default=(),
        description="scheduled outages of KMS servers",
    )

    @field_validator("kmip_version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # YAML reads an unquoted 1.10 as the number 1.1: only text says which was meant.
        if isinstance(v, float | int) and not isinstance(v, bool):
            raise ValueError(f'expected a version in quotes, such as "1.2"; found the number {v!r}')
        return v

    @model_validator(mode="after")
    def _outage_servers(self) -> Kms:
        for outage in self.outages:
            if outage.server >= self.servers:
                raise ValueError(
                    f"an outage names server {outage.server}; expected one below {self.servers}"
                )
        return self
