"""The estate's topology: which layouts vSphere Trust Authority supports (the scenario's
topology checks), how hosts are named, and the network graph built from a valid scenario,
with its routes across sites, sampled delays and bottleneck bandwidths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import Problem, ScenarioError
from sim.processes.network import Paths, build_graph
from sim.rng import Streams
from sim.scenario import Scenario, apply_overrides, parse_scenario
from sim.scenario.distributions import Fixed

GBPS = 1e9 / 8


# --------------------------------------------------------------------------- supported layouts


def _topology(overrides: dict[str, Any]) -> dict[str, Any]:
    """Two sites (no link), two workload vCenters of two hosts each, then ``overrides``."""
    data = {
        "name": "t",
        "vms": {"count": 4},
        "network": {"sites": [{"name": "dc1"}, {"name": "dc2"}]},
        "vcenters": [
            {"name": "vc-a", "clusters": [{"name": "cl", "hosts": 2}]},
            {"name": "vc-b", "clusters": [{"name": "cl", "hosts": 2}]},
        ],
    }
    return apply_overrides(data, overrides)


def _problems(data: dict[str, Any]) -> list[Problem]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return list(info.value.problems)


def _drift(host: str, at: str = "1h") -> dict[str, str]:
    return {"at": at, "host": host, "kind": "tpm_swap"}


_SSO = {"trust_authority.sso_domain": "vta.local", "vcenters.0.sso_domain": "a.local"}
_CHAIN = {
    "network.sites": [{"name": "dc1"}, {"name": "dc2"}, {"name": "dc3"}],
    "network.links": [{"a": "dc1", "b": "dc2"}, {"a": "dc3", "b": "dc2"}],
}
TOPOLOGY_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "ta-hosts-0": (
        {"trust_authority.hosts": 0},
        "trust_authority.hosts",
        "expected at least 1",
    ),
    "tpm-settings-off": (
        {
            "trust_authority.require_endorsement_keys": False,
            "trust_authority.require_certificate_validation": False,
        },
        "trust_authority",
        "expected at least one true",
    ),
    "workload-vc-is-vta-vc": (
        {"vcenters.1.name": "vta-vcenter"},
        "vcenters.1.name",
        "trust authority's vCenter",
    ),
    "linked-with-vta-vc": (
        {"vcenters.0.linked_mode_with": ["vta-vcenter"]},
        "vcenters.0.linked_mode_with",
        "Enhanced Linked Mode",
    ),
    "linked-across-sso": (
        {**_SSO, "vcenters.0.linked_mode_with": ["vc-b"]},
        "vcenters.0.linked_mode_with",
        "linked mode needs one SSO domain; vc-a is in 'a.local', vc-b in 'vsphere.local'",
    ),
    "linked-unknown-vc": (
        {"vcenters.0.linked_mode_with": ["vc-z"]},
        "vcenters.0.linked_mode_with",
        "unknown vCenter 'vc-z'",
    ),
    "mixed-sso": (
        {"vcenters.1.sso_domain": "other.local"},
        "trust_authority.sso_domain",
        "shared with some workload vCenters (vc-a) but not all",
    ),
    "unknown-vc-site": ({"vcenters.0.site": "dc9"}, "vcenters.0.site", "found 'dc9'"),
    "unknown-kms-site": ({"kms.site": "dc9"}, "kms.site", "found 'dc9'"),
    "vc-site-not-linked": ({"vcenters.1.site": "dc2"}, "vcenters.1.site", "no network.links"),
    "kms-site-not-linked": ({"kms.site": "dc2"}, "kms.site", "no network.links path"),
    "drift-unknown-host": (
        {"drift.scheduled": [_drift("esx-05")]},
        "drift.scheduled.0.host",
        "unknown host",
    ),
    "drift-after-end": (
        {"duration": "1h", "drift.scheduled": [_drift("esx-01", "2h")]},
        "drift.scheduled.0.at",
        "after the end of the run",
    ),
    "reboot-unknown-host": (
        {"reboots.scheduled": [{"at": "1h", "host": "esx-5"}]},
        "reboots.scheduled.0.host",
        "unknown host 'esx-5'",
    ),
    "vm-larger-than-smallest-host": (
        {"vcenters.1.clusters.0.host_memory": "64GiB", "vms.memory": ["4GiB", "128GiB"]},
        "vms.memory",
        "larger than the smallest host's memory",
    ),
    "warmup-equals-duration": ({"duration": "1h", "warmup": "60m"}, "warmup", "shorter than"),
    "warmup-beyond-duration": ({"duration": "1h", "warmup": "2h"}, "warmup", "shorter than"),
    "duplicate-vcenter": ({"vcenters.1.name": "vc-a"}, "vcenters.1.name", "used twice"),
    "duplicate-cluster": (
        {"vcenters.0.clusters": [{"name": "c", "hosts": 1}] * 2},
        "vcenters.0.clusters.1.name",
        "cluster name 'c' is used twice",
    ),
    "duplicate-site": (
        {"network.sites": [{"name": "dc1"}] * 2},
        "network",
        "site name 'dc1' is used twice",
    ),
    "link-to-unknown-site": (
        {"network.links": [{"a": "dc1", "b": "dc7"}]},
        "network",
        "link end 'dc7' is not a site",
    ),
    "outage-node-3": (
        {"trust_authority.outages": [{"node": 3, "at": "1h", "duration": "5m"}]},
        "trust_authority.outages.0.node",
        "expected a trust-authority host index below 3, found 3",
    ),
}


@pytest.mark.parametrize(
    ("overrides", "path", "text"), TOPOLOGY_CASES.values(), ids=TOPOLOGY_CASES.keys()
)
def test_unsupported_topology_is_one_problem(
    overrides: dict[str, Any], path: str, text: str
) -> None:
    """Each unsupported layout or dangling reference is exactly one problem at its path."""
    problems = _problems(_topology(overrides))
    assert [p.path for p in problems] == [path], problems
    assert text in problems[0].message


SUPPORTED_CASES: dict[str, dict[str, Any]] = {
    "separate-sso-domains": {**_SSO, "vcenters.1.sso_domain": "b.local"},
    "linked-in-shared-domain": {"vcenters.0.linked_mode_with": ["vc-b"]},
    "sites-reached-through-chain": {**_CHAIN, "kms.site": "dc2", "vcenters.1.site": "dc3"},
    "vm-as-large-as-host": {"vms.memory": ["512GiB"]},
    "warmup-just-shorter": {"duration": "1h", "warmup": "3599s"},
    "drift-at-the-end": {"duration": "1h", "drift.scheduled": [_drift("esx-04", "1h")]},
}


@pytest.mark.parametrize("overrides", SUPPORTED_CASES.values(), ids=SUPPORTED_CASES.keys())
def test_supported_topologies_pass(overrides: dict[str, Any]) -> None:
    """Supported layouts and values just inside each limit are accepted."""
    assert isinstance(parse_scenario(_topology(overrides)), Scenario)


def test_every_topology_problem_is_reported_at_once() -> None:
    """Several topology problems in one scenario are all reported together."""
    data = _topology(
        {
            "duration": "1h",
            "warmup": "1h",
            "vcenters.0.name": "vta-vcenter",
            "vcenters.1.site": "dc9",
            "vms.memory": ["2TiB"],
            "drift.scheduled": [_drift("esx-77")],
        }
    )
    paths = {p.path for p in _problems(data)}
    assert paths == {
        "vcenters.0.name",
        "vcenters.1.site",
        "vms.memory",
        "drift.scheduled.0.host",
        "warmup",
    }


# --------------------------------------------------------------------------- host naming


def _host_names(overrides: dict[str, Any]) -> list[str]:
    return [h for h, _, _ in parse_scenario(_topology(overrides)).host_names()]


def test_host_names_two_digits_in_estate_order() -> None:
    """Hosts are numbered esx-01.. across vCenters and clusters in the order written."""
    clusters = [{"name": "c1", "hosts": 2}, {"name": "c2", "hosts": 1}]
    s = parse_scenario(_topology({"vcenters.0.clusters": clusters}))
    assert s.host_names() == [
        ("esx-01", "vc-a", "c1"),
        ("esx-02", "vc-a", "c1"),
        ("esx-03", "vc-a", "c2"),
        ("esx-04", "vc-b", "cl"),
        ("esx-05", "vc-b", "cl"),
    ]


def test_host_names_four_digits_from_1000_hosts() -> None:
    """From 1000 hosts on names have four digits, so esx-01 no longer exists."""
    hosts = "vcenters.0.clusters.0.hosts"
    assert _host_names({hosts: 998})[::999] == ["esx-0001", "esx-1000"]
    assert _host_names({hosts: 997})[::998] == ["esx-001", "esx-999"]
    assert _host_names({hosts: 97})[::98] == ["esx-01", "esx-99"]
    problems = _problems(_topology({hosts: 998, "drift.scheduled": [_drift("esx-01")]}))
    assert [p.path for p in problems] == ["drift.scheduled.0.host"]


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.lists(st.integers(1, 400), min_size=1, max_size=3), min_size=1, max_size=3)
)
def test_host_names_unique_and_sortable(sizes: list[list[int]]) -> None:
    """Host names are unique, one per host, and their text order is the estate order."""
    vcs = [
        {"name": f"vc-{i}", "clusters": [{"name": f"c{j}", "hosts": n} for j, n in enumerate(row)]}
        for i, row in enumerate(sizes)
    ]
    names = _host_names({"vcenters": vcs})
    total = sum(map(sum, sizes))
    assert len(names) == len(set(names)) == total
    assert names == sorted(names)
    assert {len(n) for n in names} == {len("esx-") + max(2, len(str(total)))}


# --------------------------------------------------------------------------- network graph


def _scenario(**sections: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "topo",
        "vms": {"count": 2},
        "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 2}]}],
    }
    data.update(sections)
    return parse_scenario(data)


def _two_sites(**network: Any) -> Scenario:
    """Trust authority and KMS in dc1; the workload vCenter and its hosts in dc2."""
    net: dict[str, Any] = {
        "sites": [{"name": "dc1"}, {"name": "dc2"}],
        "links": [{"a": "dc1", "b": "dc2", "latency": "5ms", "bandwidth": "1Gbps"}],
        "lan_latency": "250us",
    }
    net.update(network)
    return _scenario(
        network=net,
        vcenters=[{"name": "vc-a", "site": "dc2", "clusters": [{"name": "c", "hosts": 2}]}],
    )


def _paths(s: Scenario, seed: int = 0) -> Paths:
    return Paths(build_graph(s), Streams(seed))


def test_graph_has_every_component() -> None:
    """The graph holds sites, vCenters, hosts, three vTA nodes and each KMS server."""
    s = _scenario(
        kms={"servers": 3},
        vcenters=[
            {"name": "vc-a", "clusters": [{"name": "c1", "hosts": 2}, {"name": "c2", "hosts": 1}]},
            {"name": "vc-b", "clusters": [{"name": "c1", "hosts": 1}]},
        ],
    )
    g = build_graph(s)
    assert set(g.nodes) == {
        "site:dc1",
        "vcenter:vta-vcenter",
        "vcenter:vc-a",
        "vcenter:vc-b",
        "host:esx-01",
        "host:esx-02",
        "host:esx-03",
        "host:esx-04",
        "vta:0",
        "vta:1",
        "vta:2",
        "kms:0",
        "kms:1",
        "kms:2",
    }
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    assert kinds["site:dc1"] == "site"
    assert kinds["vcenter:vta-vcenter"] == "vta-vcenter"
    assert kinds["vcenter:vc-b"] == "vcenter"
    assert {kinds[f"vta:{i}"] for i in range(3)} == {"vta"}
    assert (g.nodes["host:esx-03"]["vcenter"], g.nodes["host:esx-03"]["cluster"]) == ("vc-a", "c2")
    assert (g.nodes["host:esx-04"]["vcenter"], g.nodes["host:esx-04"]["cluster"]) == ("vc-b", "c1")
    for node in g.nodes:
        if node != "site:dc1":
            assert list(g.neighbors(node)) == ["site:dc1"], node
            assert g.edges[node, "site:dc1"]["kind"] == "lan"


def test_endpoints_sit_in_their_sites() -> None:
    """Each endpoint hangs off the switch of the site its scenario section names."""
    g = build_graph(_two_sites())
    assert list(g.neighbors("host:esx-01")) == ["site:dc2"]
    assert list(g.neighbors("vcenter:vc-a")) == ["site:dc2"]
    assert list(g.neighbors("vta:0")) == ["site:dc1"]
    assert list(g.neighbors("kms:1")) == ["site:dc1"]
    wan = g.edges["site:dc1", "site:dc2"]
    assert (wan["kind"], wan["bandwidth"], wan["latency"]) == ("wan", GBPS, Fixed(value=0.005))


def test_two_sites_route_over_the_wan_link() -> None:
    """A host in dc2 reaches a vTA node in dc1 through both site switches and the WAN link."""
    p = _paths(_two_sites())
    path = p.path("host:esx-01", "vta:0")
    assert path == [("host:esx-01", "site:dc2"), ("site:dc2", "site:dc1"), ("site:dc1", "vta:0")]
    assert [p.graph.edges[e]["kind"] for e in path] == ["lan", "wan", "lan"]
    back = p.path("vta:0", "host:esx-01")
    assert [tuple(reversed(e)) for e in reversed(back)] == path
    assert p.path("host:esx-01", "host:esx-02") == [
        ("host:esx-01", "site:dc2"),
        ("site:dc2", "host:esx-02"),
    ]
    assert p.path("kms:0", "kms:0") == []


def test_delay_with_fixed_latencies_is_the_sum_of_hops() -> None:
    """With fixed latencies a message's delay is exactly the sum of its hops' latencies."""
    p = _paths(_two_sites())
    assert p.delay("host:esx-01", "vta:2") == 0.00025 + 0.005 + 0.00025
    assert p.delay("host:esx-01", "host:esx-02") == 0.00025 + 0.00025
    assert p.delay("vta:0", "kms:1") == 0.00025 + 0.00025
    assert p.delay("vta:0", "vta:0") == 0.0
    assert {p.delay("host:esx-02", "vta:1") for _ in range(5)} == {0.00025 + 0.005 + 0.00025}


_latency = st.integers(min_value=1, max_value=10**6).map(lambda us: f"{us}us")


@settings(max_examples=30, deadline=None)
@given(lan=_latency, wan1=_latency, wan2=_latency)
def test_delay_sums_hops_over_three_sites(lan: str, wan1: str, wan2: str) -> None:
    """Across a chain of three sites the delay is the sum of every hop's fixed latency."""
    s = _scenario(
        network={
            "sites": [{"name": "dc1"}, {"name": "dc2"}, {"name": "dc3"}],
            "links": [
                {"a": "dc1", "b": "dc2", "latency": wan1},
                {"a": "dc2", "b": "dc3", "latency": wan2},
            ],
            "lan_latency": lan,
        },
        vcenters=[{"name": "vc-a", "site": "dc3", "clusters": [{"name": "c", "hosts": 1}]}],
    )
    p = _paths(s)
    path = p.path("host:esx-01", "kms:0")
    assert [e for e in path if p.graph.edges[e]["kind"] == "wan"] == [
        ("site:dc3", "site:dc2"),
        ("site:dc2", "site:dc1"),
    ]
    hops = [p.graph.edges[e]["latency"].value for e in path]
    assert p.delay("host:esx-01", "kms:0") == sum(hops)
    assert sum(hops) == pytest.approx(
        2 * s.network.lan_latency.mean()
        + s.network.links[0].latency.mean()
        + s.network.links[1].latency.mean()
    )


def test_random_latencies_are_positive_and_seeded() -> None:
    """Random latencies give positive delays, the same sequence for the same seed."""
    s = _two_sites(
        lan_latency={"dist": "exponential", "mean": "1ms"},
        links=[
            {"a": "dc1", "b": "dc2", "latency": {"dist": "uniform", "low": "4ms", "high": "6ms"}}
        ],
    )
    a, b, c = _paths(s, 1), _paths(s, 1), _paths(s, 2)
    da = [a.delay("host:esx-01", "vta:0") for _ in range(50)]
    assert da == [b.delay("host:esx-01", "vta:0") for _ in range(50)]
    assert da != [c.delay("host:esx-01", "vta:0") for _ in range(50)]
    assert all(d >= 0.004 for d in da)
    assert len(set(da)) == len(da)


def test_bottleneck_is_the_smallest_bandwidth_on_the_path() -> None:
    """The bottleneck is the narrowest edge: the WAN link, a host's vMotion NIC or the LAN."""
    p = _paths(_two_sites(vmotion_nic="10Gbps", lan_bandwidth="25Gbps"))
    assert p.bottleneck("host:esx-01", "vta:0") == 1 * GBPS
    assert p.bottleneck("host:esx-01", "host:esx-02") == 10 * GBPS
    assert p.bottleneck("vta:0", "kms:0") == 25 * GBPS
    q = _paths(
        _two_sites(vmotion_nic="500Mbps", links=[{"a": "dc1", "b": "dc2", "bandwidth": "40Gbps"}])
    )
    assert q.bottleneck("host:esx-01", "vta:0") == 0.5 * GBPS
    assert q.bottleneck("vta:0", "kms:1") == 25 * GBPS


def _square(links: list[dict[str, str]]) -> Paths:
    return _paths(
        _scenario(
            network={"sites": [{"name": n} for n in ("dc1", "dc2", "dc3", "dc4")], "links": links},
            vcenters=[{"name": "vc-a", "site": "dc4", "clusters": [{"name": "c", "hosts": 1}]}],
        )
    )


def test_equal_routes_are_chosen_by_name_not_link_order() -> None:
    """Between two equally short routes the one through the first site by name is taken,
    whatever order the links are written in."""
    links = [
        {"a": "dc1", "b": "dc2"},
        {"a": "dc2", "b": "dc4"},
        {"a": "dc1", "b": "dc3"},
        {"a": "dc3", "b": "dc4"},
    ]
    routes = {
        tuple(_square(order).path("host:esx-01", "vta:0"))
        for order in (links, links[::-1], links[2:] + links[:2])
    }
    assert len(routes) == 1
    assert ("site:dc4", "site:dc2") in routes.pop()


def test_each_sender_and_receiver_draw_their_own_link_latencies() -> None:
    """A message's latency on each link is the next draw of that link's stream for its
    sender and receiver, so esx-02's messages and the replies to it, interleaved or not,
    leave esx-01's delays as they were (formerly every sender took the link's next draw)."""
    s = _two_sites(lan_latency={"dist": "exponential", "mean": "1ms"})
    alone, mixed = _paths(s, 3), _paths(s, 3)
    own = [alone.delay("host:esx-01", "site:dc1") for _ in range(40)]
    seen = []
    for _ in range(40):
        mixed.delay("host:esx-02", "site:dc1")
        mixed.delay("site:dc1", "host:esx-02")
        seen.append(mixed.delay("host:esx-01", "site:dc1"))
    assert seen == own
    # By hand: host:esx-01 hangs off site:dc2 (its vCenter's site), then the WAN link is
    # fixed 5 ms; the LAN hop's draw k is draw k of the stream named for the link ends
    # (sorted) and the message's sender and receiver, 32 draws to a batch.
    lan = s.network.lan_latency
    name = "link.host:esx-01|site:dc2:host:esx-01>site:dc1"
    stream = Streams(3).stream(name)
    draws = [*lan.sample_many(stream, 32), *lan.sample_many(stream, 32)]
    assert own == pytest.approx([d + 0.005 for d in draws[:40]], abs=1e-15)
