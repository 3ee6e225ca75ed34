"""Topology rules of vSphere Trust Authority, checked on a validated scenario.

Field-level checks live in the scenario model; these rules need the whole estate: exactly
trust-authority hosts with their own vCenter, which is never a workload vCenter and
never in Enhanced Linked Mode with one; linked mode only within one SSO domain; one SSO
domain shared by all vCenters or a trust-authority domain no workload vCenter shares; every
referenced site known and reachable from the trust authority's site; scheduled drift and
reboots on existing hosts; no VM larger than a host; a warm-up shorter than the run. And
:func:`limit_problems`: the limits of :mod:`sim.scenario.limits` that involve more than one
field. Each problem names its field path. The rules read :class:`ScenarioFields` (below
:class:`~sim.scenario.model.Scenario`, whose validated copies run them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.errors import Problem
from sim.scenario.limits import MAX_HOSTS, MAX_PACKETS
from sim.scenario.units import format_size

if TYPE_CHECKING:
    from sim.scenario.sections.root import ScenarioFields


def _reachable_sites(s: ScenarioFields, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for link in s.network.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                if a == here and b not in seen:
                    seen.add(b)
                    todo.append(b)
    return seen


def topology_problems(s: ScenarioFields) -> list[Problem]:
    """Every way the estate departs from a topology vSphere Trust Authority supports."""
    sites = {x.name for x in s.network.sites}
    return [
        *_vcenter_name_problems(s),
        *_vcenter_problems(s, sites),
        *_sso_problems(s),
        *_site_problems(s, sites),
        *_trust_authority_outage_problems(s),
        *_key_provider_problems(s),
        *_operation_problems(s),
        *_schedule_problems(s),
    ]


def _vcenter_name_problems(s: ScenarioFields) -> list[Problem]:
    """Workload vCenter names unique, and none of them the trust authority's vCenter."""
    out: list[Problem] = []
    ta = s.trust_authority
    vc_names = [vc.name for vc in s.vcenters]
    for i, name in enumerate(vc_names):
        if name in vc_names[:i]:
            out.append(Problem(f"vcenters.{i}.name", f"vCenter name {name!r} is used twice"))
        if name == ta.vcenter:
            out.append(
                Problem(
                    f"vcenters.{i}.name",
                    f"{name!r} is the trust authority's vCenter; it must not manage workloads "
                    "(unsupported topology)",
                )
            )
    return out


def _vcenter_problems(s: ScenarioFields, sites: set[str]) -> list[Problem]:
    """Per workload vCenter: linked mode only within one SSO domain and never with the
    trust authority's vCenter, a known site, clusters on reachable sites with unique names."""
    out: list[Problem] = []
    ta = s.trust_authority
    by_name = {vc.name: vc for vc in s.vcenters}
    for i, vc in enumerate(s.vcenters):
        where = f"vcenters.{i}"
        for other in vc.linked_mode_with:
            peer = by_name.get(other)
            if other == ta.vcenter:
                out.append(
                    Problem(
                        f"{where}.linked_mode_with",
                        "Enhanced Linked Mode with the trust authority's vCenter "
                        f"{other!r} is an unsupported topology",
                    )
                )
            elif peer is None:
                out.append(Problem(f"{where}.linked_mode_with", f"unknown vCenter {other!r}"))
            elif peer.sso_domain != vc.sso_domain:
                out.append(
                    Problem(
                        f"{where}.linked_mode_with",
                        f"linked mode needs one SSO domain; {vc.name} is in "
                        f"{vc.sso_domain!r}, {other} in {peer.sso_domain!r}",
                    )
                )
        if vc.site not in sites:
            out.append(
                Problem(f"{where}.site", f"expected one of {sorted(sites)}, found {vc.site!r}")
            )
        for j, c in enumerate(vc.clusters):
            if c.site is not None and (
                c.site not in sites or c.site not in _reachable_sites(s, ta.site)
            ):
                out.append(
                    Problem(
                        f"{where}.clusters.{j}.site",
                        f"expected a site reachable from the trust authority's, found {c.site!r}",
                    )
                )
        names = [c.name for c in vc.clusters]
        for j, n in enumerate(names):
            if n in names[:j]:
                out.append(
                    Problem(f"{where}.clusters.{j}.name", f"cluster name {n!r} is used twice")
                )
    return out


def _sso_problems(s: ScenarioFields) -> list[Problem]:
    """One SSO domain shared by the trust authority and every workload vCenter, or none."""
    ta = s.trust_authority
    shared = [vc.name for vc in s.vcenters if vc.sso_domain == ta.sso_domain]
    if shared and len(shared) != len(s.vcenters):
        return [
            Problem(
                "trust_authority.sso_domain",
                f"{ta.sso_domain!r} is shared with some workload vCenters ({', '.join(shared)}) "
                "but not all; supported layouts are one shared SSO domain or separate domains",
            )
        ]
    return []


def _site_problems(s: ScenarioFields, sites: set[str]) -> list[Problem]:
    """The trust authority and KMS clusters on known sites; every vCenter and KMS site with
    a network path to the trust authority's."""
    out: list[Problem] = []
    ta = s.trust_authority
    kms_sites = [("kms.site", s.kms.site)] + [
        (f"kms_clusters.{i}.site", k.site) for i, k in enumerate(s.kms_clusters)
    ]
    for where, site in (("trust_authority.site", ta.site), *kms_sites):
        if site not in sites:
            out.append(Problem(where, f"expected one of {sorted(sites)}, found {site!r}"))
    reach = _reachable_sites(s, ta.site)
    for i, vc in enumerate(s.vcenters):
        if vc.site in sites and vc.site not in reach:
            out.append(
                Problem(
                    f"vcenters.{i}.site",
                    f"site {vc.site!r} has no network.links "
                    f"path to the trust authority's site {ta.site!r}",
                )
            )
    for where, site in kms_sites:
        if site in sites and site not in reach:
            out.append(
                Problem(
                    where,
                    f"site {site!r} has no network.links path to the "
                    f"trust authority's site {ta.site!r}",
                )
            )
    return out


def _trust_authority_outage_problems(s: ScenarioFields) -> list[Problem]:
    """Outages name existing trust-authority hosts (fallback hosts included)."""
    ta = s.trust_authority
    return [
        Problem(
            f"trust_authority.outages.{i}.node",
            "expected a trust-authority host index below"
            f" {ta.hosts + ta.fallback_hosts}, found {outage.node}",
        )
        for i, outage in enumerate(ta.outages)
        if outage.node >= ta.hosts + ta.fallback_hosts
    ]


def _schedule_problems(s: ScenarioFields) -> list[Problem]:
    """Scheduled drift and reboots on known hosts within the run, VMs that fit the smallest
    host, a warm-up shorter than the run."""
    out: list[Problem] = []
    hosts = {h for h, _, _ in s.host_names()}
    for i, d in enumerate(s.drift.scheduled):
        if d.host not in hosts:
            out.append(Problem(f"drift.scheduled.{i}.host", f"unknown host {d.host!r}"))
        if d.at > s.duration:
            out.append(Problem(f"drift.scheduled.{i}.at", "is after the end of the run"))
    for i, r in enumerate(s.reboots.scheduled):
        if r.host not in hosts:
            out.append(Problem(f"reboots.scheduled.{i}.host", f"unknown host {r.host!r}"))
    smallest = min(c.host_memory for vc in s.vcenters for c in vc.clusters)
    if max(s.vms.memory) > smallest:
        out.append(Problem("vms.memory", "a VM size is larger than the smallest host's memory"))
    if s.warmup >= s.duration:
        out.append(Problem("warmup", "expected a warm-up shorter than duration"))
    return out


def _key_provider_problems(s: ScenarioFields) -> list[Problem]:
    """KMS cluster names unique, each key provider on a known cluster, VM weights on known
    providers."""
    out: list[Problem] = []
    clusters = [s.kms.name] + [k.name for k in s.kms_clusters]
    for i, name in enumerate(clusters[1:]):
        if name in clusters[: i + 1]:
            out.append(
                Problem(f"kms_clusters.{i}.name", f"KMS cluster name {name!r} is used twice")
            )
    names = [p.name for p in s.trust_authority.key_providers]
    for i, provider in enumerate(s.trust_authority.key_providers):
        where = f"trust_authority.key_providers.{i}"
        if provider.name in names[:i]:
            out.append(Problem(f"{where}.name", f"key provider {provider.name!r} is used twice"))
        if provider.kms not in clusters:
            out.append(
                Problem(f"{where}.kms", f"expected one of {clusters}, found {provider.kms!r}")
            )
    for name in s.vms.key_provider:
        if name not in names:
            out.append(Problem("vms.key_provider", f"expected one of {names}, found {name!r}"))
    if s.vms.key_provider and sum(s.vms.key_provider.values()) <= 0:
        out.append(Problem("vms.key_provider", "expected a positive weight"))
    return out


def cluster_hosts(s: ScenarioFields, cluster: str, vcenter: str | None) -> list[str]:
    """The hosts of the trusted cluster ``cluster`` (in ``vcenter`` when given)."""
    return [
        h for h, vc, cl in s.host_names() if cl == cluster and (vcenter is None or vc == vcenter)
    ]


def _operation_problems(s: ScenarioFields) -> list[Problem]:
    """Operations name known vCenters, clusters, images, hosts, sites and links."""
    out: list[Problem] = []
    vcenters = [vc.name for vc in s.vcenters]
    for i, step in enumerate(s.setup):
        if step.vcenter is not None and step.vcenter not in vcenters:
            out.append(
                Problem(f"setup.{i}.vcenter", f"expected one of {vcenters}, found {step.vcenter!r}")
            )
    images = [b.name for b in s.trust_authority.base_images]
    for i, name in enumerate(images):
        if name in images[:i]:
            out.append(
                Problem(f"trust_authority.base_images.{i}.name", f"image {name!r} is used twice")
            )
    for i, up in enumerate(s.upgrades):
        hosts = cluster_hosts(s, up.cluster, up.vcenter)
        if not hosts:
            out.append(Problem(f"upgrades.{i}.cluster", f"no trusted cluster {up.cluster!r}"))
        elif up.vcenter is None and len({vc for _, vc, c in s.host_names() if c == up.cluster}) > 1:
            out.append(
                Problem(f"upgrades.{i}.vcenter", f"cluster {up.cluster!r} is in several vCenters")
            )
        if up.to_image not in images:
            out.append(
                Problem(
                    f"upgrades.{i}.to_image", f"expected one of {images}, found {up.to_image!r}"
                )
            )
    known = {h for h, _, _ in s.host_names()}
    for i, repair in enumerate(s.repairs):
        if repair.host not in known:
            out.append(Problem(f"repairs.{i}.host", f"unknown host {repair.host!r}"))
    sites = {x.name for x in s.network.sites}
    links = {frozenset((link.a, link.b)) for link in s.network.links}
    for i, outage in enumerate(s.network.outages):
        if outage.site is not None and outage.site not in sites:
            out.append(Problem(f"network.outages.{i}.site", f"expected one of {sorted(sites)}"))
        if outage.link is not None and frozenset(outage.link) not in links:
            out.append(
                Problem(f"network.outages.{i}.link", f"no network.links entry joins {outage.link}")
            )
    return out


def total_hosts(s: ScenarioFields) -> int:
    """The number of trusted hosts, without naming them."""
    return sum(c.hosts for vc in s.vcenters for c in vc.clusters)


def limit_problems(s: ScenarioFields) -> list[Problem]:
    """Limits that involve more than one field (each problem names its field path)."""
    out: list[Problem] = []
    hosts = total_hosts(s)
    if hosts > MAX_HOSTS:
        out.append(
            Problem("vcenters", f"expected at most {MAX_HOSTS:,} trusted hosts, found {hosts:,}")
        )
    largest = max(s.vms.memory)
    payload = largest if s.vmotion.payload == "full" else min(int(s.vmotion.payload), largest)
    packets = -(-payload // s.vmotion.packet_size)
    if packets > MAX_PACKETS:
        out.append(
            Problem(
                "vmotion.packet_size",
                f"a {format_size(payload)} payload in {format_size(s.vmotion.packet_size)} "
                f"packets needs {packets:,} packets; the stream's 32-bit counter allows "
                f"{MAX_PACKETS:,}: use larger packets or a smaller payload",
            )
        )
    return out
