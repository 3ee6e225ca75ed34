"""Operating the estate over time: onboarding in VMware's documented order, approved base
images, rolling upgrades and repairs. Every step is an ``operations`` row.

Onboarding (``setup``): until ``enable_trust_authority`` the Attestation Service does not
answer; until ``import_host_identities`` no EK or TPM CA is trusted; until
``import_base_images`` no image is approved; until ``configure_key_provider`` no key is
released (``kps.no_key_provider``); until a workload vCenter's principal is imported its
hosts are refused (``attestation.setup.principal_not_imported``); and a cluster's hosts start
attesting when it is registered as a trusted cluster. A step whose prerequisite is missing
fails, as the real system would, with the reason in the row, and changes nothing.

Rolling upgrades follow VMware's order: import the new ESXi version into the Trust
Authority cluster first, then upgrade the hosts ``batch`` at a time: each enters
maintenance mode (its VMs leave by vMotion), installs the image and reboots
(``per_host``), and attests; it passes only if its image was imported before that boot.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

from sim.domain.identities import replacement_platform, replacement_tpm
from sim.domain.image import EsxiImage
from sim.domain.installed import Installed
from sim.domain.pki import CertificateAuthority
from sim.domain.reasons import Reason
from sim.domain.verifier import Policy
from sim.processes.context import Context
from sim.processes.drift import DriftInjector
from sim.processes.host import TrustedHost
from sim.processes.trust_authority import TrustAuthority
from sim.scenario.model import Scenario
from sim.scenario.operations import BaseImage, Repair, SetupStep, Upgrade
from sim.scenario.rules import cluster_hosts

_NEEDS = {
    "import_workload_principal": ("enable_trust_authority",),
    "import_host_identities": ("enable_trust_authority",),
    "import_base_images": ("enable_trust_authority",),
    "configure_key_provider": ("enable_trust_authority",),
    "register_trusted_cluster": ("enable_trust_authority", "import_workload_principal"),
}
_MISSING = {
    "enable_trust_authority": Reason.SETUP_NOT_ENABLED.text,
    "import_workload_principal": Reason.SETUP_PRINCIPAL_NOT_IMPORTED.text,
}


class Operations:
    """Carries out the scenario's set-up steps, image imports, upgrades and repairs."""

    def __init__(
        self,
        ctx: Context,
        s: Scenario,
        ta: TrustAuthority,
        hosts: dict[str, TrustedHost],
        drift: DriftInjector,
        policy: Policy,
        manufacturer: CertificateAuthority,
    ) -> None:
        self.ctx = ctx
        self.env = ctx.env
        self.s = s
        self.ta = ta
        self.hosts = hosts
        self.drift = drift
        self.policy = policy
        self.manufacturer = manufacturer
        self._repairs: dict[str, int] = {}
        self.start_image = next(iter(hosts.values())).image if hosts else None
        self.images: dict[str, EsxiImage] = {}
        self.approved: list[EsxiImage] = list(policy.approved_images)
        self._done: dict[str, set[str | None]] = {}
        if s.setup:  # set up during the run: nothing is approved yet
            self.approved = []

    def start(self) -> None:
        """Schedule every operation of the scenario."""
        for step in self.s.setup:
            self.env.process(self._setup_step(step))
        for image in self.s.trust_authority.base_images:
            self.env.process(self._base_image(image))
        for upgrade in self.s.upgrades:
            self.env.process(self._upgrade(upgrade))
        for repair in self.s.repairs:
            self.env.process(self._repair(repair))

    def _record(self, operation: str, target: str, event: str, **fields: Any) -> None:
        self.ctx.recorder.add(
            "operations", time=self.env.now, operation=operation, target=target, event=event,
            **fields,
        )  # fmt: skip

    # --- set-up ------------------------------------------------------------------------------

    def _setup_step(self, step: SetupStep) -> Generator[Any, Any, None]:
        yield self.env.timeout(step.at + step.duration)
        vcenters = [step.vcenter] if step.vcenter else [vc.name for vc in self.s.vcenters]
        target = step.step if step.vcenter is None else f"{step.step}:{step.vcenter}"
        for need in _NEEDS.get(step.step, ()):
            done = self._done.get(need, set())
            if need == "import_workload_principal":
                if not all(v in done or None in done for v in vcenters):
                    self._record("setup", target, "failed", outcome="failed", reason=_MISSING[need])
                    return
            elif not done:
                self._record("setup", target, "failed", outcome="failed", reason=_MISSING[need])
                return
        self._apply(step.step, vcenters)
        self._done.setdefault(step.step, set()).add(step.vcenter)
        self._record("setup", target, "done", outcome="ok")

    def _apply(self, step: str, vcenters: list[str]) -> None:
        ta = self.ta
        if step == "enable_trust_authority":
            ta.enable()
        elif step == "import_workload_principal":
            ta.import_principals(vcenters)
        elif step == "import_host_identities":
            ta.import_identities(self.policy)
        elif step == "import_base_images":
            self.approved = list(self.policy.approved_images)
            ta.set_images(tuple(self.approved))
        elif step == "configure_key_provider":
            ta.configure_key_provider()
        elif step == "register_trusted_cluster":
            for h in self.hosts.values():
                if h.vcenter in vcenters:
                    h.begin_attesting()

    # --- base images and upgrades ----------------------------------------------------------

    def image(self, name: str) -> EsxiImage:
        """The base image ``name`` (the hosts' start image with that build)."""
        spec = next(b for b in self.s.trust_authority.base_images if b.name == name)
        assert self.start_image is not None
        return self.start_image.with_build(spec.build)

    def _base_image(self, spec: BaseImage) -> Generator[Any, Any, None]:
        image = self.image(spec.name)
        yield self.env.timeout(spec.import_at)
        self.approved.append(image)
        self.ta.set_images(tuple(self.approved))
        self._record("base_image", spec.name, "imported", outcome="ok")
        if spec.remove_at is not None:
            yield self.env.timeout(max(0.0, spec.remove_at - self.env.now))
            self.approved = [i for i in self.approved if i != image]
            self.ta.set_images(tuple(self.approved))
            self._record("base_image", spec.name, "removed", outcome="ok")

    def _upgrade(self, up: Upgrade) -> Generator[Any, Any, None]:
        yield self.env.timeout(up.at)
        image = self.image(up.to_image)
        names = cluster_hosts(self.s, up.cluster, up.vcenter)
        self._record("upgrade", up.cluster, "started", outcome="ok", detail=up.to_image)
        for first in range(0, len(names), up.batch):
            batch = [self.hosts[n] for n in names[first : first + up.batch]]
            yield self.env.all_of([self.env.process(self._install(h, image, up)) for h in batch])
        self._record("upgrade", up.cluster, "finished", outcome="ok", detail=up.to_image)

    def _install(
        self, host: TrustedHost, image: EsxiImage, up: Upgrade
    ) -> Generator[Any, Any, None]:
        host.stage(lambda now: replace(now, image=image))
        duration = self.ctx.sampler(f"host.{host.name}.upgrade", up.per_host)()
        kind = "planned" if up.maintenance_mode else "crash"
        self._record("upgrade", host.name, "host_down", outcome="ok", detail=up.to_image)
        yield from host.reboot(duration, "upgrade", kind)
        self.drift.adopt_image(host.name, image)
        self._record("upgrade", host.name, "host_up", outcome="ok", detail=up.to_image)

    # --- repairs -----------------------------------------------------------------------------

    def _repair(self, repair: Repair) -> Generator[Any, Any, None]:
        yield self.env.timeout(repair.at)
        host = self.hosts[repair.host]
        self._repairs[repair.host] = n = self._repairs.get(repair.host, 0) + 1
        tpm = replacement_tpm(self.ctx.streams, self.manufacturer, repair.host, 10_000 + n)
        platform = None
        if repair.part == "motherboard":
            server = replacement_platform(self.ctx.streams, repair.host, n)
            platform = replace(server, secure_boot=host.platform.secure_boot)

        def swap(now: Installed) -> Installed:
            return replace(now, tpm=tpm, platform=now.platform if platform is None else platform)

        host.stage(swap)
        duration = self.ctx.sampler(f"host.{repair.host}.repair", repair.duration)()
        self._record("repair", repair.host, "host_down", outcome="ok", detail=repair.part)
        yield from host.reboot(duration, "repair", "planned")
        self.drift.adopt_hardware(repair.host)
        self._record("repair", repair.host, "host_up", outcome="ok", detail=repair.part)
