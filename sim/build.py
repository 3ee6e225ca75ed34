"""Scenario -> a wired estate, ready to run.

This is the one place that constructs components and hands them their collaborators and
random streams; no component builds its peers. :meth:`Estate.start` then starts every
process. Identities are derived from the root seed by name (``tpm.esx-01``,
``vta.0.report-key``...), so one seed always gives the same keys, certificates and quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, cast

import networkx as nx
import numpy as np
import simpy
from cryptography.hazmat.primitives.serialization import Encoding

from sim.distributions import DistributionModel, make_sampler
from sim.domain.image import AcceptanceLevel, EsxiImage, Platform, default_image
from sim.domain.kmip import KeyStore
from sim.domain.pki import CertificateAuthority, derive_p256_key, public_der
from sim.domain.report import ReportSigner
from sim.domain.stream_cipher import NonceLedger
from sim.domain.tpm import VirtualTPM
from sim.domain.verifier import HostIdentity, IdentityMode, Policy
from sim.identities import host_platform, host_tpm, manufacturer_ca, replacement_tpm
from sim.metrics import Recorder
from sim.processes.drift import DriftInjector
from sim.processes.host import AgentConfig, TrustedHost
from sim.processes.inventory import Encryption, Vm, VMotionMode, VmPool
from sim.processes.kms import KmsCluster
from sim.processes.services import Service
from sim.processes.trust_authority import TrustAuthority, TrustNode
from sim.processes.vcenter import WorkloadVCenter
from sim.processes.workload import Workload
from sim.rng import Streams
from sim.scenario import Scenario
from sim.topology import Paths, build_graph


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.events_processed = 0

    def step(self) -> None:
        """Process the next event."""
        self.events_processed += 1
        super().step()


@dataclass
class Estate:
    """Every component of one simulated estate."""

    env: CountingEnvironment
    scenario: Scenario
    seed: int
    streams: Streams
    recorder: Recorder
    graph: nx.Graph
    paths: Paths
    ta: TrustAuthority
    kms: KmsCluster
    hosts: dict[str, TrustedHost]
    vcenters: dict[str, WorkloadVCenter]
    pool: VmPool
    drift: DriftInjector
    workload: Workload
    approved_image: EsxiImage

    @property
    def host_vcenter(self) -> dict[str, str]:
        """Which workload vCenter manages each host."""
        return {n: h.vcenter for n, h in self.hosts.items()}

    def start(self) -> None:
        """Start every process of the estate (at simulated time 0)."""
        s, env, st = self.scenario, self.env, self.streams
        phase = st.stream("agent.phase")
        for host in self.hosts.values():
            host.boot(first_period=float(phase.uniform(0, s.attestation.interval)))
        for vc in self.vcenters.values():
            env.process(vc.poll_loop())
        for vm in self.pool.running.items:
            vc = self.vcenters[vm.vcenter]
            env.process(vc._lifetime(vm, vm.epoch))
        if s.workload.power_on_rate > 0:
            env.process(self.workload.power_ons(s.workload.power_on_rate))
        if s.workload.migration_rate > 0:
            env.process(self.workload.migrations(s.workload.migration_rate))
        for d in s.drift.scheduled:
            env.process(self.drift.at(d.at, d.host, d.kind, d.remediate_after))
        rd = s.drift.random
        if rd.rate > 0 and rd.kinds:
            rng = st.stream("drift.random")
            remediate = (
                make_sampler(rd.remediate_after, st.stream("drift.remediation"))
                if rd.remediate_after is not None
                else None
            )
            for name in self.hosts:
                env.process(self.drift.random(name, rd.rate, rd.kinds, rng, remediate))
        for r in s.reboots.scheduled:
            env.process(self.drift.reboot_at(r.at, r.host))
        if s.reboots.rate > 0:
            rng = st.stream("reboots.random")
            for name in self.hosts:
                env.process(self.drift.random_reboots(name, s.reboots.rate, rng))
        for outage in s.trust_authority.outages:
            env.process(self._outage(outage.node, outage.at, outage.duration))
        env.process(self._sampler(s.metrics.sample_interval))
        if s.warmup > 0:
            env.process(self._end_warmup(s.warmup))

    def _outage(self, index: int, at: float, duration: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(at)
        self.ta.nodes[index].set_up(False)
        yield self.env.timeout(duration)
        self.ta.nodes[index].set_up(True)

    def _sampler(self, every: float) -> Generator[Any, Any, None]:
        while True:
            self.recorder.sample_levels(self.env.now)
            yield self.env.timeout(every)

    def _end_warmup(self, at: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(at)
        for level in self.recorder.levels.values():
            level.reset(self.env.now)


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> Callable[[], str]:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    p = p / p.sum()
    return lambda: names[int(rng.choice(len(names), p=p))]


def build(scenario: Scenario, seed: int | None = None) -> Estate:
    """Construct the estate of ``scenario`` under root ``seed`` (default: the scenario's)."""
    s = scenario
    root = s.seed if seed is None else seed
    st = Streams(root)
    env = CountingEnvironment()
    rec = Recorder()
    graph = build_graph(s)
    paths = Paths(graph, st.stream("network"))
    ta_cfg, att = s.trust_authority, s.attestation

    manufacturer = manufacturer_ca(st)
    vta_ca = CertificateAuthority.create(st.seed_bytes("pki.vta-ca"), f"{ta_cfg.name} CA")

    # KMS and the Key Provider Services' client identities.
    store = KeyStore(lambda n: st.take_bytes("kms.key-material", n))

    def service(name: str, workers: int, dist: DistributionModel, stream: str) -> Service:
        return Service(env, name, workers, make_sampler(dist, st.stream(stream)), rec)

    kms_servers = [
        service(f"kms.{i}", s.kms.workers, s.kms.service_time, f"kms.{i}.service")
        for i in range(s.kms.servers)
    ]
    kms = KmsCluster(env, kms_servers, store, paths)

    nodes: list[TrustNode] = []
    for i in range(ta_cfg.hosts):
        client_key = derive_p256_key(st.seed_bytes(f"vta.{i}.kmip-client"), "kmip")
        cert = vta_ca.issue_client_certificate(client_key.public_key(), f"{ta_cfg.name}-kps-{i}")
        cert_der = cert.public_bytes(Encoding.DER)
        store.authorize_client(cert_der, ta_cfg.name)
        signer = ReportSigner(
            f"{ta_cfg.name}-attestd-{i}",
            ta_cfg.name,
            derive_p256_key(st.seed_bytes(f"vta.{i}.report-key"), "es256"),
        )
        nodes.append(
            TrustNode(
                index=i,
                attestation=service(
                    f"attestation_service.{i}",
                    ta_cfg.attestation_service.workers,
                    ta_cfg.attestation_service.service_time,
                    f"vta.{i}.attestation",
                ),
                key_provider=service(
                    f"key_provider_service.{i}",
                    ta_cfg.key_provider_service.workers,
                    ta_cfg.key_provider_service.service_time,
                    f"vta.{i}.kps",
                ),
                status=service(
                    f"status_service.{i}", 2, ta_cfg.status_service_time, f"vta.{i}.status"
                ),
                signer=signer,
                kmip_client=cert_der,
            )
        )

    # Trusted hosts: TPM, platform, approved image, identity record.
    image = default_image()
    tpms: dict[str, VirtualTPM] = {}
    platforms: dict[str, Platform] = {}
    identities: dict[str, HostIdentity] = {}
    for name, _, _ in s.host_names():
        tpm = host_tpm(st, manufacturer, name)
        platform = host_platform(st, name)
        tpms[name], platforms[name] = tpm, platform
        identities[name] = HostIdentity(name, platform.hardware_id, public_der(tpm.ek_public))
    policy = Policy(
        mode=IdentityMode(ta_cfg.identity_mode),
        trusted_ca_certs_der=(manufacturer.certificate.public_bytes(Encoding.DER),),
        identities=identities,
        approved_images=(image,),
        min_acceptance=AcceptanceLevel.parse(att.min_acceptance),
        require_secure_boot=att.require_secure_boot,
    )
    nonce_rng = st.stream("vta.nonces")
    ta = TrustAuthority(
        env,
        nodes,
        policy,
        group=ta_cfg.name,
        audience=f"{ta_cfg.name}/key-provider",
        report_lifetime=att.report_lifetime,
        revocation=att.revocation,
        key_cache_ttl=ta_cfg.key_cache_ttl,
        kms=kms,
        paths=paths,
        recorder=rec,
        nonce_bytes=nonce_rng.bytes,
    )
    config = AgentConfig(
        att.interval,
        att.jitter,
        att.timeout,
        att.max_retries,
        att.backoff,
        att.backoff_multiplier,
        att.max_backoff,
    )
    tpm_sign = make_sampler(att.tpm_sign_time, st.stream("tpm.sign-time"))
    jitter_rng = st.stream("agent.jitter")

    def jitter() -> float:
        return float(jitter_rng.uniform(0.0, att.jitter)) if att.jitter > 0 else 0.0

    memory_of = {(vc.name, c.name): c.host_memory for vc in s.vcenters for c in vc.clusters}
    hosts: dict[str, TrustedHost] = {}
    for name, vc_name, cl_name in s.host_names():
        hosts[name] = TrustedHost(
            env,
            name,
            vc_name,
            cl_name,
            memory_of[(vc_name, cl_name)],
            tpms[name],
            platforms[name],
            image,
            ta,
            paths,
            rec,
            config,
            tpm_sign,
            jitter,
        )

    # VMs: cluster by round-robin over hosts, attributes from their own stream.
    vm_rng = st.stream("vms")
    enc = _weighted(vm_rng, s.vms.encryption.model_dump())
    mode = _weighted(vm_rng, s.vms.vmotion_mode.model_dump())
    host_list = list(hosts.values())
    vms: list[Vm] = []
    width = max(4, len(str(s.vms.count)))
    key_client = nodes[0].kmip_client
    for i in range(s.vms.count):
        home = host_list[i % len(host_list)]
        name = f"vm-{i + 1:0{width}d}"
        memory = int(s.vms.memory[int(vm_rng.integers(len(s.vms.memory)))])
        encryption = enc()
        key_id = None
        if encryption != "none":
            resp = store.create(key_client, f"{name}-key", 0.0, activate=True)
            key_id = resp.unique_identifier
        vms.append(
            Vm(
                name,
                home.vcenter,
                home.cluster,
                memory,
                cast(Encryption, encryption),
                cast(VMotionMode, mode()),
                key_id,
            )
        )
    pool = VmPool(vms)
    running_draws = vm_rng.random(len(vms))
    by_cluster: dict[tuple[str, str], list[TrustedHost]] = {}
    for h in host_list:
        by_cluster.setdefault((h.vcenter, h.cluster), []).append(h)
    for vm, draw in zip(vms, running_draws, strict=True):
        if draw >= s.vms.initially_running:
            continue
        cands = [
            h for h in by_cluster[(vm.vcenter, vm.cluster)] if h.used_memory + vm.memory <= h.memory
        ]
        if cands:
            target = min(cands, key=lambda h: h.used_memory / h.memory)
            target.used_memory += vm.memory
            target.vms[vm.name] = vm
            pool.started(vm, target.name)

    ledger = NonceLedger()
    lifetime = make_sampler(s.workload.lifetime, st.stream("vms.lifetime"))
    setup = make_sampler(s.vmotion.setup_time, st.stream("vmotion.setup"))
    switchover = make_sampler(s.vmotion.switchover_time, st.stream("vmotion.switchover"))
    vcenters: dict[str, WorkloadVCenter] = {}
    for vc in s.vcenters:
        vcenters[vc.name] = WorkloadVCenter(
            env,
            vc.name,
            [h for h in host_list if h.vcenter == vc.name],
            ta,
            pool,
            paths,
            rec,
            vc.status_poll_interval,
            vc.placement,
            s.vmotion,
            s.vms.dirty_rate,
            st.stream(f"vcenter.{vc.name}"),
            ledger,
            lifetime,
            setup,
            switchover,
        )

    def new_tpm(host: str, drift_id: int) -> VirtualTPM:
        return replacement_tpm(st, manufacturer, host, drift_id)

    drift = DriftInjector(
        env,
        hosts,
        rec,
        dict(s.drift.measured_at),
        make_sampler(s.reboots.duration, st.stream("reboots.duration")),
        new_tpm,
    )
    workload = Workload(env, pool, vcenters, st.stream("workload"))
    return Estate(
        env, s, root, st, rec, graph, paths, ta, kms, hosts, vcenters, pool, drift, workload, image
    )
