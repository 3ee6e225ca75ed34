"""Scheduled outages: trust-authority nodes and KMS servers.

During a node outage every service of the node refuses connections (``ServiceDown``);
requests go round-robin to the nodes that are up. A KMS server that is down does not answer
at all: its clients wait their connection timeout, then try the next server.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from sim.processes.context import Context
from sim.processes.kms import KmsCluster
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.model import KmsOutage, NodeOutage


class Outages:
    """Takes trust-authority nodes and KMS servers down and back up at the scenario's
    times."""

    def __init__(
        self,
        ctx: Context,
        outages: Sequence[NodeOutage],
        ta: TrustAuthority,
        clusters: dict[str, KmsCluster],
    ) -> None:
        self.env = ctx.env
        self.recorder = ctx.recorder
        self.outages = tuple(outages)
        self.ta = ta
        self.clusters = clusters

    def start(self) -> None:
        """Start one process per scheduled outage."""
        for outage in self.outages:
            self.env.process(self._outage(outage.node, outage.at, outage.duration))
        for cluster in self.clusters.values():
            for kms_outage in cluster.spec.outages:
                self.env.process(self._kms_outage(cluster, kms_outage))

    def _kms_outage(self, cluster: KmsCluster, outage: KmsOutage) -> Generator[Any, Any, None]:
        yield self.env.timeout(outage.at)
        for up in (False, True):
            cluster.set_server_up(outage.server, up)
            self.recorder.add(
                "kms_events",
                time=self.env.now,
                cluster=cluster.name,
                event="server_up" if up else "server_down",
                detail=cluster.nodes[outage.server],
            )
            if not up:
                yield self.env.timeout(outage.duration)

    def _outage(self, index: int, at: float, duration: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(at)
        self.ta.set_node_up(index, False)
        yield self.env.timeout(duration)
        self.ta.set_node_up(index, True)
