"""Topology rules of vSphere Trust Authority, checked on a validated scenario.

Field-level checks live in the scenario model; these rules need the whole estate: exactly
trust-authority hosts with their own vCenter, which is never a workload vCenter and
never in Enhanced Linked Mode with one; linked mode only within one SSO domain; one SSO
domain shared by all vCenters or a trust-authority domain no workload vCenter shares; every
referenced site known and reachable from the trust authority's site; scheduled drift and
reboots on existing hosts; no VM larger than a host; a warm-up shorter than the run. Each
problem names its field path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.errors import Problem

if TYPE_CHECKING:
    from sim.scenario.model import Scenario


def _reachable_sites(s: Scenario, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for link in s.network.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                if a == here and b not in seen:
                    seen.add(b)
                    todo.append(b)
    return seen


def topology_problems(s: Scenario) -> list[Problem]:
    """Every way the estate departs from a topology vSphere Trust Authority supports."""
    out: list[Problem] = []
    ta = s.trust_authority
    sites = {x.name for x in s.network.sites}
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
        names = [c.name for c in vc.clusters]
        for j, n in enumerate(names):
            if n in names[:j]:
                out.append(
                    Problem(f"{where}.clusters.{j}.name", f"cluster name {n!r} is used twice")
                )
    shared = [vc.name for vc in s.vcenters if vc.sso_domain == ta.sso_domain]
    if shared and len(shared) != len(s.vcenters):
        out.append(
            Problem(
                "trust_authority.sso_domain",
                f"{ta.sso_domain!r} is shared with some workload vCenters ({', '.join(shared)}) "
                "but not all; supported layouts are one shared SSO domain or separate domains",
            )
        )
    for where, site in (("trust_authority.site", ta.site), ("kms.site", s.kms.site)):
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
    if s.kms.site in sites and s.kms.site not in reach:
        out.append(
            Problem(
                "kms.site",
                f"site {s.kms.site!r} has no network.links path to the "
                f"trust authority's site {ta.site!r}",
            )
        )
    for i, outage in enumerate(ta.outages):
        if outage.node >= ta.hosts + ta.fallback_hosts:
            out.append(
                Problem(
                    f"trust_authority.outages.{i}.node",
                    "expected a trust-authority host index below"
                    f" {ta.hosts + ta.fallback_hosts}, found {outage.node}",
                )
            )
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
