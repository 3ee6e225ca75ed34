"""The ``vmotion`` section: the pre-copy vMotion model and the encrypted sample stream."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.scenario.common import Section, bandwidth, dist, size
from sim.scenario.distributions import Distribution
from sim.scenario.limits import (
    LinkBandwidth,
    PacketSize,
    PayloadSize,
)
from sim.scenario.units import Size


class VMotion(Section):
    """Pre-copy vMotion model and the real encrypted sample stream."""

    setup_time: Distribution = Field(
        default=dist("1s"),
        description="time to set up a migration before the pre-copy",
    )
    max_iterations: int = Field(
        default=8,
        ge=1,
        le=100,
        description="most pre-copy iterations before the switch-over is forced",
    )
    switchover_threshold: Size = Field(default=size("512MiB"), description="stun when dirty < this")
    switchover_time: Distribution = Field(
        default=dist("300ms"),
        description="time the VM is stunned for the switch-over",
    )
    cipher_rate: LinkBandwidth = Field(
        default=bandwidth("4GiB/s"),
        description="AES-256-GCM throughput per stream; caps encrypted streams",
    )
    payload: PayloadSize | Literal["full"] = Field(
        default=size("1MiB"), description="bytes really encrypted and checked per migration"
    )
    packet_size: PacketSize = Field(
        default=size("64KiB"),
        description="size of one encrypted stream packet",
    )
    max_concurrent_per_host: int = Field(
        default=8,
        ge=1,
        le=128,
        description=(
            "migrations a host takes part in at once, as source or destination (VMware's"
            " limit on 10 GbE); more wait for a slot"
        ),
    )
