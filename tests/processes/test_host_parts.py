"""A host's boot chain: changes are values the host applies itself, staged in order or at
once with a runtime measurement."""

from __future__ import annotations

from dataclasses import replace

from sim.domain.identities import host_platform, host_tpm, manufacturer_ca
from sim.domain.image import default_image, measure_runtime_driver
from sim.domain.installed import Installed, restore
from sim.processes.host_boot import BootChain
from sim.rng import Streams


def _chain() -> BootChain:
    streams = Streams(3)
    tpm = host_tpm(streams, manufacturer_ca(streams), "esx-01")
    return BootChain(Installed(default_image(), host_platform(streams, "esx-01"), tpm))


def test_staged_changes_apply_in_order_at_the_next_boot() -> None:
    chain = _chain()
    build = chain.image.build
    told: list[str] = []
    chain.stage(lambda now: replace(now, image=now.image.with_build(now.image.build + 1)))
    chain.stage(
        lambda now: replace(now, image=now.image.with_build(now.image.build * 10)),
        lambda: told.append("applied"),
    )
    assert chain.image.build == build and told == []
    chain.power_up(0.0)
    assert chain.image.build == (build + 1) * 10 and told == ["applied"] and chain.boots == 1
    chain.power_up(1.0)  # nothing staged any more
    assert chain.image.build == (build + 1) * 10 and chain.boots == 2


def test_remediation_replaces_every_staged_change() -> None:
    chain = _chain()
    approved = chain.installed
    chain.stage(lambda now: replace(now, platform=replace(now.platform, secure_boot=False)))
    chain.stage_only(restore(approved))
    chain.power_up(0.0)
    assert chain.installed == approved and chain.platform.secure_boot


def test_a_change_loaded_now_is_measured_into_the_running_tpm() -> None:
    chain = _chain()
    chain.power_up(0.0)
    events = len(chain.tpm.event_log)
    chain.load_now(
        lambda now: replace(now, image=now.image.with_driver("nic_x")),
        lambda tpm: measure_runtime_driver(tpm, "nic_x"),
    )
    assert "nic_x" in chain.image.drivers and len(chain.tpm.event_log) == events + 1
