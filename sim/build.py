"""Scenario -> a wired estate, ready to run.

This is the one place that decides which components exist and hands each its peers; every
component builds its own internals from its scenario section and the shared
:class:`~sim.processes.context.Context`. :func:`build` is a short sequence of subsystem
builders (network and context, identities, KMS, trust authority, hosts, VMs, vCenters,
faults and operations); :meth:`Estate.start` then starts every process, in one place and in
a fixed order. Identities are derived from the root seed by name (``tpm.esx-01``,
``vta.0.report-key``...), so one seed always gives the same keys, certificates and quotes.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import cast

import networkx as nx
import numpy as np
from cryptography.hazmat.primitives.serialization import Encoding

from sim.analysis.recorder import Recorder
from sim.domain.identities import host_platform, host_tpm, manufacturer_ca, replacement_tpm
from sim.domain.image import AcceptanceLevel, EsxiImage, default_image
from sim.domain.key_hierarchy import WrappedKek, make_kek, wrap_kek
from sim.domain.kmip import KeyStore
from sim.domain.pki import CertificateAuthority
from sim.domain.stream_cipher import NonceLedger
from sim.domain.tpm import VirtualTPM
from sim.domain.verifier import AK_CHALLENGE_STREAM, HostIdentity, Policy
from sim.processes.admin import Administrator
from sim.processes.context import Context, CountingEnvironment
from sim.processes.drift import DriftInjector
from sim.processes.faults import Outages
from sim.processes.host import HostSpec, TrustedHost
from sim.processes.inventory import Encryption, Vm, VMotionMode, VmPool
from sim.processes.key_provider import KeyProviders
from sim.processes.kms import KmsCluster
from sim.processes.network import Paths, build_graph
from sim.processes.operations import Operations
from sim.processes.rotations import Rotations
from sim.processes.sampling import CapacitySampler, LevelSampler
from sim.processes.services import demand_stream
from sim.processes.status_view import propagation_stream
from sim.processes.trust_authority import (
    ATTESTATION_SERVICE,
    KEY_PROVIDER_SERVICE,
    TrustAuthority,
    TrustNode,
)
from sim.processes.vcenter import VmRules, WorkloadVCenter, lifetime_stream
from sim.processes.verifier_poll import FailureNotifier, VerifierPoller
from sim.processes.vmotion import Migrator
from sim.processes.wiring import Wiring, ports_of
from sim.processes.workload import Workload
from sim.rng import Streams
from sim.scenario.model import Scenario


@dataclass
class Estate:
    """Every component of one simulated estate."""

    scenario: Scenario
    seed: int
    ctx: Context
    graph: nx.Graph
    ta: TrustAuthority
    kms: dict[str, KmsCluster]
    hosts: dict[str, TrustedHost]
    vcenters: dict[str, WorkloadVCenter]
    pool: VmPool
    drift: DriftInjector
    admin: Administrator
    operations: Operations
    rotations: Rotations
    workload: Workload
    outages: Outages
    sampler: LevelSampler
    capacity: CapacitySampler
    approved_image: EsxiImage
    poller: VerifierPoller
    notifier: FailureNotifier
    wiring: Wiring

    @property
    def env(self) -> CountingEnvironment:
        """The SimPy environment."""
        return self.ctx.env

    @property
    def recorder(self) -> Recorder:
        """The run's recorder."""
        return self.ctx.recorder

    @property
    def host_vcenter(self) -> dict[str, str]:
        """Which workload vCenter manages each host."""
        return {n: h.vcenter for n, h in self.hosts.items()}

    def components(self) -> list[object]:
        """Every component of the estate (those held by name, one by one)."""
        out: list[object] = []
        for f in fields(self):
            value = getattr(self, f.name)
            out.extend(value.values() if isinstance(value, dict) else [value])
        return out

    def start(self) -> None:
        """Start every process of the estate (at simulated time 0), in a fixed order: hosts
        (in steady state or booting, per ``attestation.startup``), the verifier's polling
        (``initiator: verifier``), vCenters,
        lifetimes of the VMs running at the start, the workload, drift and reboots,
        outages, the level sampler."""
        startup = self.scenario.attestation.startup
        for i, host in enumerate(self.hosts.values()):
            host.start(startup, i)
        steady = startup == "steady_state" and not self.scenario.setup
        self.poller.start()
        for vc in self.vcenters.values():
            vc.start(steady_state=steady)
        for vm in self.pool.running.items:
            self.vcenters[vm.vcenter].start_lifetime(vm)
        self.workload.start()
        self.drift.start()
        self.operations.start()
        self.rotations.start()
        self.ta.providers.start()
        self.outages.start()
        self.sampler.start()
        self.capacity.start()


# --------------------------------------------------------------------------- builders


def build_context(s: Scenario, root: int) -> tuple[Context, nx.Graph]:
    """The environment, named streams, recorder and network of the estate."""
    streams = Streams(root)
    graph = build_graph(s)
    paths = Paths(graph, streams)
    return Context(CountingEnvironment(), streams, Recorder(), paths), graph


def build_host_specs(
    ctx: Context, s: Scenario, manufacturer: CertificateAuthority, image: EsxiImage
) -> dict[str, HostSpec]:
    """Each trusted host's inventory place, memory, TPM and server, in estate order."""
    memory_of = {(vc.name, c.name): c.host_memory for vc in s.vcenters for c in vc.clusters}
    return {
        name: HostSpec(
            name,
            vc_name,
            cl_name,
            memory_of[(vc_name, cl_name)],
            host_tpm(ctx.streams, manufacturer, name),
            host_platform(ctx.streams, name),
            image,
            s.hosts.key_persistence,
            s.hosts.configuration_recovery if s.hosts.secure_configuration == "tpm" else None,
            registered=not s.setup,
        )
        for name, vc_name, cl_name in s.host_names()
    }


def build_policy(
    ctx: Context,
    s: Scenario,
    manufacturer: CertificateAuthority,
    specs: dict[str, HostSpec],
    image: EsxiImage,
) -> Policy:
    """What the Attestation Service accepts: the imported host identities (EK, server and
    the AK enrolled by credential activation), the manufacturer CA, the approved image, the
    acceptance floor and Secure Boot."""
    identities = {
        name: HostIdentity.for_tpm(
            name, h.platform.hardware_id, h.tpm, ctx.streams.take_bytes(AK_CHALLENGE_STREAM, 32)
        )
        for name, h in specs.items()
    }
    ta = s.trust_authority
    return Policy(
        require_endorsement_keys=ta.require_endorsement_keys,
        require_certificate_validation=ta.require_certificate_validation,
        bind_tpm_to_server=ta.bind_tpm_to_server,
        trusted_ca_certs_der=(manufacturer.certificate.public_bytes(Encoding.DER),),
        identities=identities,
        approved_images=(image,),
        min_acceptance=AcceptanceLevel.parse(s.attestation.min_acceptance),
        require_secure_boot=s.attestation.require_secure_boot,
    )


def build_kms(ctx: Context, s: Scenario) -> dict[str, KmsCluster]:
    """The KMIP clusters by name, each with its own key store (key material from its own
    stream)."""
    clusters = {}
    for k, spec in enumerate((s.kms, *s.kms_clusters)):
        stream = ctx.stream("kms.key-material" if k == 0 else f"kms.{spec.name}.key-material")
        clusters[spec.name] = KmsCluster(ctx, spec, KeyStore(stream.bytes), first=k == 0)
    return clusters


def build_trust_authority(
    ctx: Context, s: Scenario, clusters: dict[str, KmsCluster], policy: Policy
) -> tuple[TrustAuthority, CertificateAuthority]:
    """The trust-authority nodes, primary ones then fallback ones (their KMIP client
    certificates registered with every KMS),
    the key providers (primary keys created on their KMS) and the cluster service; and the
    CA that issues the nodes' certificates."""
    spec = s.trust_authority
    ca = CertificateAuthority.create(ctx.streams.seed_bytes("pki.vta-ca"), f"{spec.name} CA")
    nodes = [TrustNode(ctx, i, spec, ca) for i in range(spec.hosts + spec.fallback_hosts)]
    for cluster in clusters.values():
        for node in nodes:
            cluster.store.authorize_client(node.kmip_client, spec.name)
    providers = KeyProviders(ctx, spec.key_providers, clusters, nodes[0].kmip_client)
    ta = TrustAuthority(ctx, spec, s.attestation, policy, providers, nodes, epoch=s.epoch)
    return ta, ca


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> Callable[[], str]:
    """Draws of a name with probability proportional to its weight: the draws
    ``rng.choice(len(names), p=p)`` makes (one uniform variate, located in the normalised
    cumulative weights, as numpy does), without numpy's per-call checks and set-up."""
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"weights {weights!r} are not a distribution")
    p = p / p.sum()
    cdf = p.cumsum()
    cdf /= cdf[-1]
    bounds = cdf.tolist()
    uniform = rng.random
    return lambda: names[bisect_right(bounds, uniform())]


def build_vms(
    ctx: Context, s: Scenario, hosts: list[TrustedHost], providers: KeyProviders
) -> VmPool:
    """Every VM (cluster by round-robin over hosts, attributes from stream ``vms``); each
    encrypted one gets a fresh KEK wrapped with its key provider's primary key. The VMs that
    run at the start are placed, their hosts holding their keys."""
    vm_rng = ctx.stream("vms")
    enc = _weighted(vm_rng, s.vms.encryption.model_dump())
    mode = _weighted(vm_rng, s.vms.vmotion_mode.model_dump())
    weights = s.vms.key_provider or {providers.default: 1.0}
    provider = _weighted(ctx.stream("vms.key-provider"), weights)
    primary = {name: providers.primary_key(name) for name in weights}
    width = max(4, len(str(s.vms.count)))
    vms: list[Vm] = []
    keks: dict[str, bytes] = {}
    for i in range(s.vms.count):
        home = hosts[i % len(hosts)]
        name = f"vm-{i + 1:0{width}d}"
        memory = int(s.vms.memory[int(vm_rng.integers(len(s.vms.memory)))])
        encryption = enc()
        wrapped = None
        if encryption != "none":
            chosen = provider()
            keks[name] = make_kek(lambda n: ctx.streams.take_bytes("vms.keks", n))
            wrapped = WrappedKek(chosen, wrap_kek(primary[chosen], keks[name]))
        vms.append(
            Vm(
                name,
                home.vcenter,
                home.cluster,
                memory,
                cast(Encryption, encryption),
                cast(VMotionMode, mode()),
                wrapped,
            )
        )
    pool = VmPool(vms)
    # the lifetime streams of the VMs, seeded together (each VM draws its first lifetime
    # when it starts, most of them in the initial placement)
    ctx.streams.prepare([lifetime_stream(vm.name) for vm in vms])
    _place_initial(pool, hosts, vm_rng.random(len(vms)), s.vms.initially_running, keks)
    return pool


def _place_initial(
    pool: VmPool,
    hosts: list[TrustedHost],
    draws: np.ndarray,
    running: float,
    keks: dict[str, bytes],
) -> None:
    """Start the VMs whose draw is below ``running`` on the least-loaded host of their
    cluster that has room; the host holds the key of each encrypted one."""
    # Each cluster's hosts in a heap by load (used / memory), then position: the head that
    # has room is what ``min`` over the cluster's hosts with room gives (the first of the
    # least loaded), without scanning the cluster for every VM.
    by_cluster: dict[tuple[str, str], list[tuple[float, int, TrustedHost]]] = {}
    for h in hosts:
        cluster = by_cluster.setdefault((h.vcenter, h.cluster), [])
        cluster.append((h.used_memory / h.memory, len(cluster), h))
    for cluster in by_cluster.values():
        heapq.heapify(cluster)
    for vm, draw in zip(pool.vms, draws, strict=True):
        if draw >= running:
            continue
        heap = by_cluster[(vm.vcenter, vm.cluster)]
        full = []
        while heap and heap[0][2].used_memory + vm.memory > heap[0][2].memory:
            full.append(heapq.heappop(heap))
        if heap:
            _, position, target = heapq.heappop(heap)
            target.reserve(vm.memory)
            heapq.heappush(heap, (target.used_memory / target.memory, position, target))
            target.admit(vm)
            pool.started(vm, target.name)
            if vm.name in keks:
                target.hold_key(vm.name, keks[vm.name], 0.0)
        for entry in full:  # no room for this VM, perhaps for the next
            heapq.heappush(heap, entry)


def build_vcenters(
    ctx: Context, s: Scenario, hosts: list[TrustedHost], ta: TrustAuthority, pool: VmPool
) -> dict[str, WorkloadVCenter]:
    """The workload vCenters, sharing one vMotion engine and one nonce ledger."""
    migrator = Migrator(ctx, s.vmotion, s.vms.dirty_rate, NonceLedger())
    return {
        vc.name: WorkloadVCenter(
            ctx,
            vc,
            [h for h in hosts if h.vcenter == vc.name],
            ta,
            pool,
            migrator,
            VmRules(s.workload.lifetime, s.ha.restart_delay),
        )
        for vc in s.vcenters
    }


def build_capacity(
    ctx: Context, s: Scenario, hosts: list[TrustedHost], vcenters: dict[str, WorkloadVCenter]
) -> CapacitySampler:
    """The capacity sampler (for plots), reading each host's status from its vCenter's
    view; and the exact capacity tracker's slot size and start of statistics."""
    mean_vm = sum(s.vms.memory) / len(s.vms.memory)
    ctx.recorder.capacity.configure(mean_vm, s.warmup)
    vcenter_of = {h.name: vcenters[h.vcenter] for h in hosts}
    return CapacitySampler(
        ctx, s.metrics.sample_interval, hosts, lambda h: vcenter_of[h].view[h], mean_vm
    )


def build_regime(
    ctx: Context,
    s: Scenario,
    hosts: dict[str, TrustedHost],
    ta: TrustAuthority,
    vcenters: dict[str, WorkloadVCenter],
) -> tuple[VerifierPoller, FailureNotifier]:
    """Who initiates attestation (the verifier's poller, idle unless ``initiator:
    verifier``) and the failure notifier (idle unless ``notification_delay``), which tells
    each host's vCenter view."""
    views = {name: vcenters[h.vcenter].status.notified for name, h in hosts.items()}
    poller = VerifierPoller(ctx, s.attestation, hosts)
    return poller, FailureNotifier(ctx, s.attestation, ta, views)


def wire(estate: Estate) -> None:
    """Every connection between the estate's components that is not a constructor argument,
    checked: each host to its vCenter (VMs powered off, status reports, maintenance mode,
    crashes), the trust authority to the inventory and to whoever acts on its verdicts (a
    failing verdict's live reports revoked at once, or by the failure notifier after
    ``notification_delay``; the administrator with ``ek_registration_delay``), and each KMS
    cluster's health to the key providers."""
    s, ta, w = estate.scenario, estate.ta, estate.wiring
    for host in estate.hosts.values():
        vc = estate.vcenters[host.vcenter]
        w.connect(host.power_off, vc.power_off, f"vcenter {vc.name}.power_off")
        w.connect(host.status_to, vc.status.report, f"vcenter {vc.name}.status.report")
        w.connect(host.evacuate, vc.evacuate, f"vcenter {vc.name}.evacuate")
        w.connect(host.crashed, vc.ha_restart, f"vcenter {vc.name}.ha_restart")
    w.connect(ta.host_vcenters, estate.host_vcenter, "the inventory: vCenter of each host")
    if s.attestation.notification_delay is not None:
        w.connect(ta.failed, estate.notifier.on_failure, "failure_notifier.on_failure")
    else:
        w.connect(ta.failed, ta.revoke_live, "trust_authority.revoke_live")
    if s.admin.ek_registration_delay is not None:
        w.connect(ta.verdicts, estate.admin.on_verdict, "administrator.on_verdict")
    for cluster in estate.kms.values():
        w.connect(cluster.health_changed, ta.providers.health_changed, "key_providers")
    w.check(p for c in estate.components() for p in ports_of(c))


def prepare_host_streams(ctx: Context, hosts: Iterable[str]) -> None:
    """Seed together the streams a host opens in its first minutes: its service times at
    the Attestation Service and, with VMs to start, at the Key Provider Service, and the
    delays of its status reports (~2 us a stream in a batch against ~12 us one by one)."""
    names = list(hosts)
    ctx.streams.prepare(
        [
            demand_stream(kind, h)
            for kind in (ATTESTATION_SERVICE, KEY_PROVIDER_SERVICE)
            for h in names
        ]
        + [propagation_stream(h) for h in names]
    )


def build(scenario: Scenario, seed: int | None = None) -> Estate:
    """Construct the estate of ``scenario`` under root ``seed`` (default: the scenario's)."""
    s = scenario
    root = s.seed if seed is None else seed
    ctx, graph = build_context(s, root)
    manufacturer = manufacturer_ca(ctx.streams)
    ctx.streams.defer_seeding()  # the entity streams parked while building: seeded together
    image = default_image()
    specs = build_host_specs(ctx, s, manufacturer, image)
    clusters = build_kms(ctx, s)
    policy = build_policy(ctx, s, manufacturer, specs, image)
    ta, ca = build_trust_authority(ctx, s, clusters, policy)
    hosts = {name: TrustedHost(ctx, spec, s.attestation, ta) for name, spec in specs.items()}
    host_list = list(hosts.values())
    pool = build_vms(ctx, s, host_list, ta.providers)
    vcenters = build_vcenters(ctx, s, host_list, ta, pool)

    def new_tpm(host: str, drift_id: int) -> VirtualTPM:
        return replacement_tpm(ctx.streams, manufacturer, host, drift_id)

    drift = DriftInjector(ctx, s.drift, s.reboots, hosts, new_tpm)
    views = [vc.status for vc in vcenters.values()]
    poller, notifier = build_regime(ctx, s, hosts, ta, vcenters)
    if s.setup:  # set up during the run: the trust authority starts empty
        ta.start_unconfigured()
    estate = Estate(
        scenario=s,
        seed=root,
        ctx=ctx,
        graph=graph,
        ta=ta,
        kms=clusters,
        hosts=hosts,
        vcenters=vcenters,
        pool=pool,
        drift=drift,
        admin=Administrator(ctx, s.admin, ta, hosts, drift),
        operations=Operations(ctx, s, ta, hosts, drift, policy, manufacturer),
        rotations=Rotations(ctx, s.rotations, ta, clusters, ca),
        workload=Workload(ctx, s.workload, pool, vcenters),
        outages=Outages(ctx, s.trust_authority.outages, ta, clusters, s.network.outages, views),
        sampler=LevelSampler(ctx, s.metrics.sample_interval, s.warmup),
        capacity=build_capacity(ctx, s, host_list, vcenters),
        approved_image=image,
        poller=poller,
        notifier=notifier,
        wiring=Wiring(),
    )
    wire(estate)
    prepare_host_streams(ctx, hosts)
    ctx.streams.settle()
    return estate
