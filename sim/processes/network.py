"""The estate's network as a networkx graph, and message delays over it.

Nodes are site switches (``site:dc1``), vCenters (``vcenter:vc-a``), trusted hosts
(``host:esx-01``), trust-authority nodes (``vta:0``) and KMS servers (``kms:0``; ``kms:<cluster>-0``
for further clusters). Every
endpoint hangs off its site switch by a LAN edge; sites are joined by WAN edges. Each edge
carries a latency distribution and a bandwidth. A message takes the shortest path (fewest
hops; WAN links enter the graph sorted by site names, so among equally short routes the one
through the first site by name is taken, whatever order the file lists the links in); its
one-way delay is the sum of one latency sample per edge; a vMotion stream is limited by the
path's bottleneck bandwidth. Each link samples the latencies of the messages from one node to
another from its own named stream, so one host's traffic never shifts another's delays.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from itertools import repeat

import networkx as nx

from sim.rng import Streams
from sim.scenario import Scenario
from sim.scenario.distributions import Fixed, make_parked_sampler


def build_graph(s: Scenario) -> nx.Graph:
    """The estate graph for scenario ``s`` (pure: no sampling)."""
    g = nx.Graph()
    lan = {"latency": s.network.lan_latency, "bandwidth": s.network.lan_bandwidth}
    for site in s.network.sites:
        g.add_node(f"site:{site.name}", kind="site", site=site.name)
    for link in sorted(s.network.links, key=lambda x: tuple(sorted((x.a, x.b)))):
        g.add_edge(
            f"site:{link.a}",
            f"site:{link.b}",
            latency=link.latency,
            bandwidth=link.bandwidth,
            kind="wan",
        )

    def attach(node: str, kind: str, site: str, bandwidth: float | None = None) -> None:
        g.add_node(node, kind=kind, site=site)
        bw = lan["bandwidth"] if bandwidth is None else bandwidth
        g.add_edge(node, f"site:{site}", latency=lan["latency"], bandwidth=bw, kind="lan")

    ta = s.trust_authority
    attach(f"vcenter:{ta.vcenter}", "vta-vcenter", ta.site)
    for i in range(ta.hosts + ta.fallback_hosts):
        attach(f"vta:{i}", "vta", ta.site)
    for k, kms in enumerate((s.kms, *s.kms_clusters)):
        prefix = "" if k == 0 else f"{kms.name}-"
        for i in range(kms.servers):
            attach(f"kms:{prefix}{i}", "kms", kms.site)
    site_of = {(vc.name, c.name): c.site or vc.site for vc in s.vcenters for c in vc.clusters}
    for vc in s.vcenters:
        attach(f"vcenter:{vc.name}", "vcenter", vc.site)
    for host, vc_name, cluster in s.host_names():
        attach(f"host:{host}", "host", site_of[(vc_name, cluster)], s.network.vmotion_nic)
        g.nodes[f"host:{host}"]["cluster"] = cluster
        g.nodes[f"host:{host}"]["vcenter"] = vc_name
    return g


LINK_BATCH = 32
"""Latency draws per batch of a link's sampler (one per link, sender and receiver)."""


class Unreachable(Exception):
    """No path joins the two nodes while links are cut (a network partition)."""


class Paths:
    """Samples message delays and looks up bottleneck bandwidths on the estate graph.

    A message from ``src`` to ``dst`` draws its latency on each link of its path from the
    stream ``link.<a>|<b>:<src>><dst>`` (link ends sorted): common random numbers per link
    and per sender and receiver, so neither traffic on another link nor another pair's
    messages on the same link (another host's, or a trust node's replies to another host)
    shift its delays. A link shared by every sender would hand each host the draws other
    hosts left, and one changed host would move every other host's timings. Links can be
    cut (network outages); a message between nodes no remaining path joins raises
    :class:`Unreachable`."""

    def __init__(self, graph: nx.Graph, streams: Streams) -> None:
        self.graph = graph
        self._streams = streams
        self._samplers: dict[tuple[str, str, str, str], Callable[[], float]] = {}
        self._paths: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._bottleneck: dict[tuple[str, str], float] = {}
        self._delays: dict[tuple[str, str], tuple[Callable[[], float], ...]] = {}
        self._cut: dict[frozenset[str], int] = {}

    def set_cut(self, edges: list[tuple[str, str]], cut: bool) -> None:
        """Cut ``edges`` (or restore them); routes are recomputed. Overlapping outages of
        one link nest: it is restored when the last of them ends."""
        for a, b in edges:
            key = frozenset((a, b))
            count = self._cut.get(key, 0) + (1 if cut else -1)
            if count > 0:
                self._cut[key] = count
            else:
                self._cut.pop(key, None)
        self._paths.clear()
        self._bottleneck.clear()
        self._delays.clear()

    def reachable(self, a: str, b: str) -> bool:
        """Whether a path joins ``a`` and ``b`` now."""
        try:
            self.path(a, b)
        except Unreachable:
            return False
        return True

    def _sampler(self, edge: tuple[str, str], src: str, dst: str) -> Callable[[], float]:
        """The latency sampler of ``edge`` for messages from ``src`` to ``dst`` (made on first
        use; kept when routes change, so a restored route continues its streams)."""
        a, b = sorted(edge)
        dist = self.graph.edges[a, b]["latency"]
        if isinstance(dist, Fixed):
            return repeat(dist.value).__next__
        key = (a, b, src, dst)
        sampler = self._samplers.get(key)
        if sampler is None:
            parked = self._streams.park(f"link.{a}|{b}:{src}>{dst}")
            sampler = make_parked_sampler(dist, parked.draw, LINK_BATCH)
            self._samplers[key] = sampler
        return sampler

    def path(self, a: str, b: str) -> list[tuple[str, str]]:
        """Edges of the shortest path from ``a`` to ``b`` (cached)."""
        key = (a, b)
        edges = self._paths.get(key)
        if edges is None:
            sa, sb = self._site_of(a), self._site_of(b)
            if a == b:
                edges = []
            elif sa != a and sb != b:
                # Endpoints hang off their site switch: compose via the site-level path.
                edges = [(a, sa), *self.path(sa, sb), (sb, b)] if sa != sb else [(a, sa), (sa, b)]
            else:
                edges = self._route(a, b)
            self._paths[key] = edges
        return edges

    def _route(self, a: str, b: str) -> list[tuple[str, str]]:
        graph: nx.Graph = self.graph
        if self._cut:
            graph = nx.restricted_view(self.graph, [], [tuple(k) for k in self._cut])
        try:
            nodes = nx.shortest_path(graph, a, b)
        except nx.NetworkXNoPath:
            raise Unreachable(f"{a} cannot reach {b}") from None
        return list(itertools.pairwise(nodes))

    def _site_of(self, node: str) -> str:
        data = self.graph.nodes[node]
        return node if data["kind"] == "site" else f"site:{data['site']}"

    def delay(self, a: str, b: str) -> float:
        """One sampled one-way delay from ``a`` to ``b`` in seconds: the sum of a draw of
        each link's latency along the path, in path order, from the link's stream for
        messages from ``a`` to ``b`` (the path's samplers are kept with it)."""
        links = self._delays.get((a, b))
        if links is None:
            links = tuple(self._sampler(e, a, b) for e in self.path(a, b))
            self._delays[(a, b)] = links
        total: float = 0  # an int for an empty path, as sum() gives
        for draw in links:
            total += draw()
        return total

    def bottleneck(self, a: str, b: str) -> float:
        """The smallest bandwidth (bytes/s) along the path from ``a`` to ``b``."""
        key = (a, b)
        bw = self._bottleneck.get(key)
        if bw is None:
            bw = min(self.graph.edges[e]["bandwidth"] for e in self.path(a, b))
            self._bottleneck[key] = bw
        return bw
