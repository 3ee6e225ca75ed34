"""Scheduled outages: trust-authority nodes, KMS servers and network partitions.

During a node outage every service of the node refuses connections (``ServiceDown``);
requests go round-robin to the nodes that are up. A KMS server that is down does not answer
at all: its clients wait their connection timeout, then try the next server. A network
outage cuts a WAN link or every WAN link of a site; messages that no path carries fail.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from sim.processes.context import Context
from sim.processes.kms import KmsCluster
from sim.processes.status_view import StatusView
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.model import KmsOutage, NodeOutage
from sim.scenario.operations import NetworkOutage


class Outages:
    """Takes trust-authority nodes and KMS servers down and back up at the scenario's
    times."""

    def __init__(
        self,
        ctx: Context,
        outages: Sequence[NodeOutage],
        ta: TrustAuthority,
        clusters: dict[str, KmsCluster],
        network: Sequence[NetworkOutage] = (),
        views: Sequence[StatusView] = (),
    ) -> None:
        self.env = ctx.env
        self.paths = ctx.paths
        self.recorder = ctx.recorder
        self.outages = tuple(outages)
        self.ta = ta
        self.clusters = clusters
        self.network = tuple(network)
        self.views = tuple(views)

    def start(self) -> None:
        """Start one process per scheduled outage."""
        for outage in self.outages:
            self.env.process(self._outage(outage.node, outage.at, outage.duration))
        for cluster in self.clusters.values():
            for kms_outage in cluster.spec.outages:
                self.env.process(self._kms_outage(cluster, kms_outage))
        for cut in self.network:
            self.env.process(self._partition(cut))

    def _partition(self, outage: NetworkOutage) -> Generator[Any, Any, None]:
        """Cut a WAN link, or every WAN link of a site, for the outage's duration; the
        vCenters drop their view of the hosts they can no longer reach."""
        graph = self.paths.graph
        if outage.link is not None:
            edges = [(f"site:{outage.link[0]}", f"site:{outage.link[1]}")]
            target = "-".join(outage.link)
        else:
            site = f"site:{outage.site}"
            edges = [(site, n) for n in graph.neighbors(site) if graph.nodes[n]["kind"] == "site"]
            target = str(outage.site)
        yield self.env.timeout(outage.at)
        for cut in (True, False):
            self.paths.set_cut(edges, cut)
            self.recorder.add(
                "operations", time=self.env.now, operation="network_outage", target=target,
                event="cut" if cut else "restored", outcome="ok",
            )  # fmt: skip
            for view in self.views:
                view.network_changed()
            if cut:
                yield self.env.timeout(outage.duration)

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
