"""The limits every scenario value must keep so that any scenario that validates can run:
no loop that stops advancing, no division by zero, no overflow, no counter that wraps.

Field limits are annotated types used by :mod:`sim.scenario.sections` (and shown in the JSON
Schema); :func:`sim.scenario.rules.limit_problems` checks the few limits that involve more
than one field.
Each limit is a modelling choice, labelled with its reason:

==============================  ================  =========================================
field                           limit             why
==============================  ================  =========================================
any duration                    at most 3650d     10 years; times stay exact to < 1 µs
attestation.interval,           at least 1s       a periodic process must advance; Keylime,
status_poll_interval,                             the fastest peer, polls every 2 s
metrics.sample_interval
any rate                        0, or 0.0001      1 / rate stays finite
                                per_day .. 1e6/s
network and cipher bandwidths   1Mbps .. 1000Tbps a transfer must take finite, positive time
vms.memory                      1MiB .. 24TiB     vSphere 8 configuration maximum (24 TB)
host_memory                     1GiB .. 24TiB     vSphere 8 configuration maximum (24 TB)
vmotion.packet_size             1KiB .. 16MiB     0 never finishes a stream
vmotion payload / packet_size   below 2**32       the GCM IV's packet counter is 32 bits
lognormal mu, sigma             -20..20, 0..5     exp() of any draw stays finite
empirical samples               at most 100,000
distribution weights            0 .. 1,000,000    their sum stays finite
trusted hosts in all clusters   at most 100,000   each host holds real keys (~60 KiB)
==============================  ================  =========================================

How big a run gets within these limits (events, memory) is estimated before it starts by
:mod:`sim.scenario.estimate`, which refuses runs beyond its own, documented limits.
"""

from __future__ import annotations

from typing import Annotated

from sim.scenario.bounds import Within
from sim.scenario.units import (
    Bandwidth,
    PositiveDuration,
    Size,
    format_bandwidth,
    format_duration,
    format_size,
    parse_bandwidth,
    parse_duration,
    parse_size,
)

__all__ = [
    "MAX_HOSTS",
    "MAX_PACKETS",
    "HostMemory",
    "LinkBandwidth",
    "PacketSize",
    "Period",
    "VmMemory",
]

MAX_HOSTS = 100_000
"""Most trusted hosts a scenario may have over all its clusters."""
MAX_PACKETS = 2**32 - 1
"""Most packets one encrypted vMotion stream may have (its IV counter is 32 bits)."""

Period = Annotated[
    PositiveDuration,
    Within(parse_duration, format_duration, low="1s", noun="a period"),
]
"""The period of a process that repeats for the whole run (at least one second)."""

LinkBandwidth = Annotated[
    Bandwidth,
    Within(parse_bandwidth, format_bandwidth, low="1Mbps", noun="a bandwidth"),
]
"""A network link's or cipher's throughput (positive: a transfer must end)."""

PacketSize = Annotated[
    Size,
    Within(parse_size, format_size, low="1KiB", high="16MiB", noun="a packet size"),
]
"""The encrypted vMotion stream's packet size."""

VmMemory = Annotated[
    Size,
    Within(parse_size, format_size, low="1MiB", high="24TiB", noun="a VM memory size"),
]
"""A VM's memory (vSphere 8 configuration maximum: 24 TB)."""

HostMemory = Annotated[
    Size,
    Within(parse_size, format_size, low="1GiB", high="24TiB", noun="a host memory size"),
]
"""A host's memory (vSphere 8 configuration maximum: 24 TB)."""

PayloadSize = Annotated[
    Size,
    Within(parse_size, format_size, high="24TiB", noun="a payload"),
]
"""Bytes really encrypted per migration (at most a VM's memory is used)."""
