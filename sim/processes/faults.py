"""Faults of the trust authority: scheduled node outages.

During an outage every service of the node refuses connections (``ServiceDown``); requests
go round-robin to the nodes that are up.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from sim.processes.context import Context
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.model import NodeOutage


class Outages:
    """Takes trust-authority nodes down and back up at the scenario's times."""

    def __init__(self, ctx: Context, outages: Sequence[NodeOutage], ta: TrustAuthority) -> None:
        self.env = ctx.env
        self.outages = tuple(outages)
        self.ta = ta

    def start(self) -> None:
        """Start one process per scheduled outage."""
        for outage in self.outages:
            self.env.process(self._outage(outage.node, outage.at, outage.duration))

    def _outage(self, index: int, at: float, duration: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(at)
        self.ta.set_node_up(index, False)
        yield self.env.timeout(duration)
        self.ta.set_node_up(index, True)
