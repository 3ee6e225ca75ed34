"""The drift-kind registry: one module per kind, read by the scenario model (enumeration,
defaults), the docs and the drift injector."""

from __future__ import annotations

import pytest

from sim.domain import drift_kinds
from sim.domain.drift_kinds import BY_NAME, KINDS, DriftFacts, DriftKind, DriftKindSpec
from sim.domain.identities import host_platform, host_tpm, manufacturer_ca
from sim.domain.image import AcceptanceLevel, default_image
from sim.domain.installed import Installed
from sim.rng import Streams
from sim.scenario import parse_scenario
from sim.scenario.model import DEFAULT_MEASURED_AT
from tests.conftest import ROOT


def _installed() -> tuple[Installed, Streams]:
    streams = Streams(7)
    tpm = host_tpm(streams, manufacturer_ca(streams), "esx-01")
    return Installed(default_image(), host_platform(streams, "esx-01"), tpm), streams


def _facts(acceptance: str = "PartnerSupported") -> DriftFacts:
    other, _ = _installed()
    return DriftFacts(3, "esx-01", acceptance, lambda: other.tpm)


def test_the_registry_starts_with_the_five_original_kinds_in_their_order() -> None:
    """The order of the first five is what random drift's draws of existing scenarios
    depend on; a new kind comes after them."""
    assert [k.name for k in KINDS[:5]] == [
        "unapproved_vib", "esxi_build_change", "secure_boot_off", "driver_change", "tpm_swap",
    ]  # fmt: skip
    assert drift_kinds.random_default()[:5] == tuple(k.name for k in KINDS[:5])
    assert [k.value for k in DriftKind] == [k.name for k in KINDS]
    assert DriftKind("tpm_swap") is DriftKind.TPM_SWAP


def test_the_scenario_model_reads_its_defaults_from_the_registry() -> None:
    s = parse_scenario(
        {"name": "k", "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 2}]}]}
    )
    assert [k.value for k in s.drift.random.kinds] == list(drift_kinds.random_default())
    assert drift_kinds.default_measured_at() == DEFAULT_MEASURED_AT
    assert {k.value for k in s.drift.measured_at} == set(BY_NAME)


def test_a_kind_not_marked_random_default_is_drawn_only_where_listed() -> None:
    """A new kind does not join random drift of existing scenarios by default."""
    quiet = DriftKindSpec("quiet", 99, "test kind", change=lambda d: lambda now: now)
    assert not quiet.random_default
    assert "quiet" not in drift_kinds.random_default()


def test_a_runtime_measurable_kind_must_say_how_it_is_measured() -> None:
    with pytest.raises(ValueError, match="runtime-measurable"):
        DriftKindSpec("bad", 98, "test kind", change=lambda d: lambda n: n, runtime_measurable=True)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_each_kind_changes_what_the_host_runs(kind: DriftKindSpec) -> None:
    before, _ = _installed()
    after = kind.change(_facts())(before)
    assert after != before
    changed = {f for f in ("image", "platform", "tpm") if getattr(after, f) != getattr(before, f)}
    assert len(changed) == 1, changed


@pytest.mark.parametrize("kind", [k for k in KINDS if k.runtime_measurable], ids=lambda k: k.name)
def test_runtime_measurable_kinds_extend_the_running_tpm(kind: DriftKindSpec) -> None:
    before, _ = _installed()
    log = len(before.tpm.event_log)
    assert kind.measure is not None
    kind.measure(_facts())(before.tpm)
    assert len(before.tpm.event_log) == log + 1


def test_only_a_community_vib_on_secure_boot_is_blocked() -> None:
    installed, _ = _installed()
    assert installed.platform.secure_boot
    community = _facts(AcceptanceLevel.COMMUNITY_SUPPORTED.label)
    for kind in KINDS:
        assert kind.blocked(community, installed.platform) == (kind.name == "unapproved_vib")
        assert not kind.blocked(_facts(), installed.platform)


def test_the_docs_list_the_registered_kinds() -> None:
    """The generated drift-kinds page holds markdown() (``python -m tests.regenerate docs``
    rewrites it)."""
    page = (ROOT / "docs" / "reference" / "drift-kinds.md").read_text(encoding="utf-8")
    assert drift_kinds.markdown() in page
