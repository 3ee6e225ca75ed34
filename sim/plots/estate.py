"""The estate drawn from its networkx graph: sites, trust authority, KMS, vCenters
and hosts (clusters collapsed when there are many hosts).
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from matplotlib.figure import Figure

from sim.analysis import folder_io, results
from sim.plots._common import (
    PathLike,
    _styled,
)
from sim.processes.network import build_graph
from sim.scenario import Scenario, load_scenario
from sim.scenario.loading import parse_resolved_scenario

_NODE_STYLE: dict[str, tuple[str, str, int]] = {  # kind: legend label, colour, size
    "site": ("site switch", "#7f7f7f", 520),
    "vta-vcenter": ("vTA vCenter", "#9467bd", 420),
    "vta": ("vTA node (attestation + key provider)", "#d62728", 420),
    "kms": ("KMS server", "#ff7f0e", 420),
    "vcenter": ("workload vCenter", "#1f77b4", 420),
    "host": ("trusted ESXi host", "#2ca02c", 110),
    "cluster": ("host cluster (collapsed)", "#2ca02c", 700),
}


def _scenario_of(source: PathLike | Scenario | results.RunResult) -> Scenario:
    if isinstance(source, Scenario):
        return source
    if isinstance(source, results.RunResult):
        return parse_resolved_scenario(
            source.scenario_yaml, str(source.path / results.SCENARIO_FILE)
        )
    p = Path(source)
    if p.is_dir():
        return parse_resolved_scenario(
            folder_io.read_scenario_text(p), str(p / results.SCENARIO_FILE)
        )
    return load_scenario(p)


def _collapse(g: nx.Graph, max_hosts: int) -> nx.Graph:
    """``g`` with each cluster's hosts replaced by one node, when there are too many."""
    hosts = [n for n, d in g.nodes(data=True) if d["kind"] == "host"]
    if len(hosts) <= max_hosts:
        return g
    h = g.copy()
    for n in hosts:
        d = g.nodes[n]
        node = f"cluster:{d['vcenter']}/{d['cluster']}"
        if node not in h:
            h.add_node(
                node,
                kind="cluster",
                site=d["site"],
                vcenter=d["vcenter"],
                cluster=d["cluster"],
                hosts=0,
            )
            h.add_edge(node, f"site:{d['site']}", kind="lan")
        h.nodes[node]["hosts"] += 1
        h.remove_node(n)
    return h


def _layout(g: nx.Graph) -> tuple[dict[str, tuple[float, float]], list[tuple[float, float, str]]]:
    """Node positions and cluster captions: sites side by side; per site the trust authority
    and KMS on top, the site switch, the workload vCenters, and under each vCenter its hosts
    (a row per cluster, wrapped at 8) or its collapsed clusters (rows of 5)."""
    pos: dict[str, tuple[float, float]] = {}
    captions: list[tuple[float, float, str]] = []
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    x0 = 0.0
    for site in [n for n, k in kinds.items() if k == "site"]:
        here = [n for n in g.nodes if kinds[n] != "site" and g.nodes[n]["site"] == site[5:]]
        top = [n for n in here if kinds[n] in ("vta-vcenter", "vta", "kms")]
        blocks = []
        for vc in (n for n in here if kinds[n] == "vcenter"):
            members = [
                n
                for n in here
                if kinds[n] in ("host", "cluster") and f"vcenter:{g.nodes[n]['vcenter']}" == vc
            ]
            rows: list[tuple[str, list[str]]] = []
            wrap, step = (5, 1.6) if any(kinds[n] == "cluster" for n in members) else (8, 0.8)
            for cl in dict.fromkeys(g.nodes[n]["cluster"] for n in members):
                mine = [n for n in members if g.nodes[n]["cluster"] == cl]
                rows += [
                    (cl if i == 0 and step < 1 else "", mine[i : i + wrap])
                    for i in range(0, len(mine), wrap)
                ]
            if step > 1:  # collapsed clusters share rows
                flat = [n for _, r in rows for n in r]
                rows = [("", flat[i : i + wrap]) for i in range(0, len(flat), wrap)]
            cols = max((len(r) for _, r in rows), default=1)
            pad = 0.9 if step < 1 else 0.0
            blocks.append((vc, rows, step, pad, max(1.6, cols * step + pad)))
        span = sum(b[4] for b in blocks) + 0.6 * max(0, len(blocks) - 1)
        width = max(1.6 * len(top), span, 1.6)
        centre = x0 + width / 2
        pos[site] = (centre, 2.0)
        for i, n in enumerate(top):
            pos[n] = (centre + (i - (len(top) - 1) / 2) * 1.6, 3.2)
        left = centre - span / 2
        for vc, rows, step, pad, w in blocks:
            pos[vc] = (left + w / 2, 1.0)
            for r, (caption, nodes) in enumerate(rows):
                y = -r * (0.6 if step < 1 else 1.0)
                for j, n in enumerate(nodes):
                    pos[n] = (left + pad + (j + 0.5) * step, y)
                if caption:
                    captions.append((left + pad - 0.1, y, caption))
            left += w + 0.6
        x0 += width + 2.0
    return pos, captions


def _node_label(g: nx.Graph, n: str) -> str:
    d = g.nodes[n]
    if d["kind"] == "cluster":
        return f"{d['cluster']}\n{d['hosts']} hosts"
    prefix, _, name = n.partition(":")
    return {"vta": f"vTA {name}", "kms": f"KMS {name}"}.get(prefix, name)


@_styled
def topology(source: PathLike | Scenario | results.RunResult, max_hosts: int = 100) -> Figure:
    """The estate graph of a scenario (a Scenario, a scenario YAML file or a run folder),
    nodes coloured by kind, each host under its vCenter; with more than ``max_hosts`` hosts
    each cluster is drawn as one node labelled with its host count."""
    s = _scenario_of(source)
    full = build_graph(s)
    g = _collapse(full, max_hosts)
    pos, captions = _layout(g)
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    fig = Figure(
        figsize=(
            min(16.0, max(7.0, 0.6 * (max(xs) - min(xs)) + 2)),
            min(9.0, 1.1 * (max(ys) - min(ys)) + 2.5),
        )
    )
    ax = fig.subplots()
    edges = list(g.edges(data="kind"))
    nx.draw_networkx_edges(
        g,
        pos,
        ax=ax,
        edgelist=[(a, b) for a, b, k in edges if k != "wan"],
        edge_color="#bbbbbb",
        width=0.6,
    )
    wan = [(a, b) for a, b, k in edges if k == "wan"]
    if wan:
        nx.draw_networkx_edges(
            g, pos, ax=ax, edgelist=wan, edge_color="#555555", width=2.0, style="--"
        )
    for kind, (label, colour, size) in _NODE_STYLE.items():
        nodes = [n for n, d in g.nodes(data=True) if d["kind"] == kind]
        if nodes:
            nx.draw_networkx_nodes(
                g, pos, ax=ax, nodelist=nodes, node_color=colour, node_size=size, label=label
            )
    n_hosts = sum(1 for _, d in full.nodes(data=True) if d["kind"] == "host")
    shown = [n for n, d in g.nodes(data=True) if d["kind"] != "host" or n_hosts <= 24]
    nx.draw_networkx_labels(
        g,
        {n: (pos[n][0], pos[n][1] - 0.22) for n in shown},
        ax=ax,
        labels={n: _node_label(g, n) for n in shown},
        font_size=7,
        verticalalignment="top",
    )
    for cx, cy, text in captions:
        ax.text(cx, cy, text, ha="right", va="center", fontsize=7, style="italic")
    legend = ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=4, fontsize=7)
    for handle in legend.legend_handles:
        if handle is not None and hasattr(handle, "set_sizes"):
            handle.set_sizes([60])
    ax.set_axis_off()
    ax.margins(0.08)
    note = " (hosts collapsed per cluster)" if g is not full else ""
    ax.set_title(
        f"Estate {s.name}: {n_hosts} trusted hosts, {len(s.vcenters)} workload "
        f"vCenter(s), {len(s.network.sites)} site(s){note}"
    )
    return fig
