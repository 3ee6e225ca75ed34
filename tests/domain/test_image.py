"""Tests for sim.domain.image: ESXi images, measured boot and event-log reconstruction."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.domain.image import (
    DIGEST_MISMATCH,
    EVENT_TAGS,
    MALFORMED,
    MEASURED_PCRS,
    SEPARATOR_DATA,
    AcceptanceLevel,
    EsxiImage,
    MeasuredState,
    Platform,
    Vib,
    canonical_json,
    decode_event,
    default_image,
    measure_boot,
    measure_runtime_driver,
    measure_runtime_vib,
    reconstruct,
)
from sim.domain.pki import CertificateAuthority
from sim.domain.tpm import Event, EventType, VirtualTPM, replay
from sim.domain.uefi import (
    SECURE_BOOT_VARIABLES,
    UefiVariable,
    parse_tagged_event,
    parse_variable,
    tagged_event,
)

CA = CertificateAuthority.create(b"tpm-vendor", "Example TPM CA")
PLATFORM = Platform("4c4c4544-0042-3510-8054-b4c04f565032")
DEFAULT_IMAGE_ID = "ESXi-8.0.2-22380479-68ca1e2440aa"
EXTRA_VIB = Vib("nmlx5-core", "4.23.0.66-1vmw.802", "VMW", AcceptanceLevel.VMWARE_CERTIFIED)


def booted(image: EsxiImage | None = None, platform: Platform = PLATFORM) -> VirtualTPM:
    tpm = VirtualTPM(b"host-seed", CA, "TPM-0001")
    measure_boot(tpm, image or default_image(), platform)
    return tpm


def state_of(events: tuple[Event, ...]) -> MeasuredState:
    state = reconstruct(events)
    assert isinstance(state, MeasuredState), state
    return state


def test_acceptance_levels_are_ordered_and_labelled() -> None:
    """CommunitySupported < PartnerSupported < VMwareAccepted < VMwareCertified, ESXi labels."""
    levels = list(AcceptanceLevel)
    assert levels == sorted(levels)
    assert [lv.label for lv in levels] == [
        "CommunitySupported",
        "PartnerSupported",
        "VMwareAccepted",
        "VMwareCertified",
    ]


@pytest.mark.parametrize("level", list(AcceptanceLevel))
def test_acceptance_parse_accepts_labels_and_names(level: AcceptanceLevel) -> None:
    """parse reads the ESXi label and the enum name, in any case."""
    for text in (level.label, level.label.upper(), level.name, level.name.lower()):
        assert AcceptanceLevel.parse(text) is level


def test_acceptance_parse_rejects_unknown() -> None:
    """An unknown acceptance level is a ValueError."""
    with pytest.raises(ValueError):
        AcceptanceLevel.parse("VMwareBlessed")


def test_default_image_is_esxi_8_u2_with_mixed_acceptance() -> None:
    """The default image is 8.0.2 build 22380479 with certified and partner VIBs."""
    image = default_image()
    assert (image.version, image.build) == ("8.0.2", 22380479)
    base = image.vib("esx-base")
    assert base is not None and base.acceptance is AcceptanceLevel.VMWARE_CERTIFIED
    levels = {v.acceptance for v in image.vibs}
    assert AcceptanceLevel.PARTNER_SUPPORTED in levels
    assert AcceptanceLevel.COMMUNITY_SUPPORTED not in levels
    assert image.boot_modules[0] == "b.b00" and "k.b00" in image.boot_modules
    assert "nvme_pcie" in image.drivers


def test_image_id_is_stable_and_readable() -> None:
    """The image id is version-build-hash and does not change between releases of the code."""
    image = default_image()
    assert image.image_id == DEFAULT_IMAGE_ID
    digest = hashlib.sha256(image.canonical()).hexdigest()[:12]
    assert image.image_id == f"ESXi-8.0.2-22380479-{digest}"


def test_vib_and_driver_order_do_not_change_identity() -> None:
    """Images listing the same VIBs and drivers in another order are equal."""
    image = default_image()
    shuffled = EsxiImage(
        image.version,
        image.build,
        image.boot_modules,
        tuple(reversed(image.vibs)),
        tuple(reversed(image.drivers)),
    )
    assert shuffled == image and shuffled.image_id == image.image_id


def test_boot_module_order_is_part_of_identity() -> None:
    """Boot modules keep their load order, so reordering them is another image."""
    image = default_image()
    other = dataclasses.replace(image, boot_modules=tuple(reversed(image.boot_modules)))
    assert other.image_id != image.image_id


def test_helpers_return_new_images() -> None:
    """with_vib, with_build and with_driver leave the original alone and change the id."""
    image = default_image()
    for changed in (
        image.with_vib(EXTRA_VIB),
        image.with_build(22380480),
        image.with_driver("nmlx5_core"),
    ):
        assert changed != image and changed.image_id != image.image_id
    assert image == default_image()
    assert image.with_driver("nvme_pcie") is image


def test_with_vib_replaces_a_vib_of_the_same_name() -> None:
    """Installing a new version of a VIB replaces the old one."""
    image = default_image()
    old = image.vib("esx-base")
    assert old is not None
    newer = dataclasses.replace(old, version="8.0.2-0.25.22380500")
    updated = image.with_vib(newer)
    assert updated.vib("esx-base") == newer
    assert len(updated.vibs) == len(image.vibs)


def test_invalid_images_are_rejected() -> None:
    """Duplicate VIB names, duplicate drivers and non-positive builds raise ValueError."""
    image = default_image()
    with pytest.raises(ValueError):
        dataclasses.replace(image, vibs=(*image.vibs, image.vibs[0]))
    with pytest.raises(ValueError):
        dataclasses.replace(image, drivers=(*image.drivers, image.drivers[0]))
    with pytest.raises(ValueError):
        image.with_build(0)
    with pytest.raises(ValueError):
        dataclasses.replace(image, version="")


def test_measured_boot_follows_the_pcr_map() -> None:
    """Each kind of measurement lands in its PCR with its TCG event type."""
    tpm = booted()
    image = default_image()
    kinds: dict[str, set[tuple[int, int]]] = {}
    for event in tpm.event_log:
        if event.event_type == EventType.EV_SEPARATOR:
            kinds.setdefault("separator", set()).add((event.pcr, event.event_type))
            assert event.data == SEPARATOR_DATA
            continue
        kind = decode_event(event)["kind"]
        kinds.setdefault(kind, set()).add((event.pcr, event.event_type))
    assert kinds["firmware"] == {(0, EventType.EV_S_CRTM_VERSION)}
    assert kinds["hardware"] == {(0, EventType.EV_PLATFORM_CONFIG_FLAGS)}
    assert kinds["secure_boot"] == {(7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG)}
    assert kinds["uefi_keys"] == {(7, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG)}
    assert {pcr for pcr, _ in kinds["separator"]} == set(range(8))
    assert kinds["esxi"] == {(8, EventType.EV_EVENT_TAG)}
    assert kinds["boot_module"] == {(9, EventType.EV_IPL)}
    assert kinds["vib"] == {(10, EventType.EV_EVENT_TAG)}
    assert kinds["driver"] == {(11, EventType.EV_EVENT_TAG)}
    n_items = len(image.boot_modules) + len(image.vibs) + len(image.drivers)
    assert len(tpm.event_log) == 2 + 5 + 8 + 1 + n_items
    assert set(MEASURED_PCRS) == {0, 7, 8, 9, 10, 11}


def test_event_data_follows_the_tcg_structures_and_digests_match() -> None:
    """Every digest is SHA-256 of the data; PCR 7 holds UEFI_VARIABLE_DATA for SecureBoot,
    PK, KEK, db, dbx in order, EV_EVENT_TAG events a tagged canonical JSON payload."""
    tpm = booted()
    variables = []
    for event in tpm.event_log:
        assert event.digest == hashlib.sha256(event.data).digest()
        if event.event_type == EventType.EV_EFI_VARIABLE_DRIVER_CONFIG:
            variables.append(parse_variable(event.data))
        elif event.event_type == EventType.EV_EVENT_TAG:
            tag, payload = parse_tagged_event(event.data)
            obj = json.loads(payload)
            assert EVENT_TAGS[obj["kind"]] == tag and canonical_json(obj) == payload
    assert [(v.name, v.vendor) for v in variables] == list(SECURE_BOOT_VARIABLES)
    assert variables[0].data == b"\x01"
    first = tpm.event_log[0]
    assert first.data == "UEFI 2.7 BIOS 2.19.1\0".encode("utf-16-le")
    assert replay(tpm.event_log) == tpm.pcrs


def test_pcr7_is_the_tcg_derivation_from_the_variables() -> None:
    """PCR 7 is the extend chain of SHA-256(UEFI_VARIABLE_DATA) per variable, then the
    separator, computed here independently from the log."""
    tpm = booted()
    pcr = bytes(32)
    for var in (e for e in tpm.event_log if e.pcr == 7):
        pcr = hashlib.sha256(pcr + hashlib.sha256(var.data).digest()).digest()
    assert pcr == tpm.pcrs[7]
    off = booted(platform=dataclasses.replace(PLATFORM, secure_boot=False))
    sb_off = next(e for e in off.event_log if e.pcr == 7)
    assert parse_variable(sb_off.data).data == b"\x00"


def test_measured_boot_is_deterministic() -> None:
    """Two boots of the same image on the same platform give identical logs and PCRs."""
    a, b = booted(), booted()
    assert a.event_log == b.event_log
    assert a.pcrs == b.pcrs
    assert a.quote(b"n" * 32, MEASURED_PCRS) == b.quote(b"n" * 32, MEASURED_PCRS)


def test_measured_pcrs_depend_on_what_was_booted() -> None:
    """Changing the build, a VIB, a driver, Secure Boot or the server changes its PCR."""
    ref = booted().pcrs
    cases = {
        8: booted(default_image().with_build(22380480)).pcrs,
        10: booted(default_image().with_vib(EXTRA_VIB)).pcrs,
        11: booted(default_image().with_driver("nmlx5_core")).pcrs,
        7: booted(platform=dataclasses.replace(PLATFORM, secure_boot=False)).pcrs,
        0: booted(platform=Platform("another-server")).pcrs,
    }
    for pcr, pcrs in cases.items():
        changed = {i for i in range(24) if pcrs[i] != ref[i]}
        assert changed == {pcr}


def test_measure_boot_needs_a_fresh_tpm() -> None:
    """Measuring a second boot without a TPM reset is refused; after restart() it works."""
    tpm = booted()
    with pytest.raises(ValueError):
        measure_boot(tpm, default_image(), PLATFORM)
    tpm.restart()
    measure_boot(tpm, default_image(), PLATFORM)
    assert tpm.event_log == booted().event_log


def test_reconstruct_recovers_image_and_platform() -> None:
    """The event log of a boot reads back as the booted image and platform."""
    state = state_of(booted().event_log)
    assert state.image == default_image()
    assert state.image.image_id == DEFAULT_IMAGE_ID
    assert (state.hardware_id, state.secure_boot, state.firmware) == (
        PLATFORM.hardware_id,
        True,
        PLATFORM.firmware,
    )
    assert state.runtime_vibs == () and state.runtime_drivers == ()


def test_hosts_booting_one_image_read_back_one_image_object() -> None:
    """Two servers booting the same image read back as equal states of one shared image
    object (its id computed once); another image reads back as itself."""
    other_server = Platform("4c4c4544-0038-4710-8033-c2c04f4d3132")
    a, b = state_of(booted().event_log), state_of(booted(platform=other_server).event_log)
    assert a.hardware_id != b.hardware_id
    assert a.image is b.image and a.image == default_image()
    changed = dataclasses.replace(default_image(), vibs=(*default_image().vibs, EXTRA_VIB))
    c = state_of(booted(changed).event_log)
    assert c.image == changed and c.image != a.image
    assert c.image.image_id != a.image.image_id == DEFAULT_IMAGE_ID


def test_runtime_measurements_are_reported_separately() -> None:
    """VIBs and drivers loaded after boot go to PCR 10/11 and read back as runtime."""
    tpm = booted()
    before = tpm.pcrs
    ev_vib = measure_runtime_vib(tpm, EXTRA_VIB)
    ev_drv = measure_runtime_driver(tpm, "nmlx5_core")
    assert (ev_vib.pcr, ev_drv.pcr) == (10, 11)
    assert {i for i in range(24) if tpm.pcrs[i] != before[i]} == {10, 11}
    state = state_of(tpm.event_log)
    assert state.image == default_image()
    assert state.runtime_vibs == (EXTRA_VIB,)
    assert state.runtime_drivers == ("nmlx5_core",)
    assert EXTRA_VIB in state.all_vibs and "nmlx5_core" in state.all_drivers


def test_secure_boot_off_is_recorded() -> None:
    """A platform with Secure Boot off reads back as such."""
    tpm = booted(platform=dataclasses.replace(PLATFORM, secure_boot=False))
    assert state_of(tpm.event_log).secure_boot is False


def _with_event(events: tuple[Event, ...], i: int, event: Event) -> tuple[Event, ...]:
    return (*events[:i], event, *events[i + 1 :])


def _index_of(events: tuple[Event, ...], kind: str) -> int:
    return next(
        i
        for i, e in enumerate(events)
        if e.event_type != EventType.EV_SEPARATOR and decode_event(e)["kind"] == kind
    )


def _tagged(kind: str, payload: bytes) -> bytes:
    return tagged_event(EVENT_TAGS[kind], payload)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_edited_event_data_is_a_digest_mismatch(data: st.DataObject) -> None:
    """Changing any event's data without its digest is reported as digest_mismatch."""
    events = booted().event_log
    i = data.draw(st.integers(0, len(events) - 1))
    new = data.draw(st.binary(max_size=80).filter(lambda b: b != events[i].data))
    edited = dataclasses.replace(events[i], data=new)
    result = reconstruct(_with_event(events, i, edited))
    assert isinstance(result, list) and result[0] == DIGEST_MISMATCH


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        ("esxi", lambda e: Event.create(e.pcr, e.event_type, _tagged("esxi", b"no"), "")),
        ("esxi", lambda e: Event.create(9, e.event_type, e.data, e.description)),
        ("esxi", lambda e: Event.create(e.pcr, e.event_type, tagged_event(7, e.data[8:]), "")),
        ("vib", lambda e: Event.create(e.pcr, EventType.EV_IPL, e.data, e.description)),
        ("vib", lambda e: Event.create(e.pcr, e.event_type, e.data + b" ", e.description)),
        (
            "esxi",
            lambda e: Event.create(e.pcr, e.event_type, _tagged("esxi", b'{"kind":"esxi"}'), ""),
        ),
        ("hardware", lambda e: Event.create(e.pcr, e.event_type, b'{"kind":"rootkit"}', "")),
        ("firmware", lambda e: Event.create(e.pcr, e.event_type, b"UEFI", "")),
        (
            "secure_boot",
            lambda e: Event.create(
                7,
                e.event_type,
                UefiVariable(parse_variable(e.data).vendor, "SecureBoot", b"\x02").marshal(),
                "",
            ),
        ),
        (
            "secure_boot",
            lambda e: Event.create(
                7,
                e.event_type,
                UefiVariable(parse_variable(e.data).vendor, "Setup", b"\x01").marshal(),
                "",
            ),
        ),
        (
            "esxi",
            lambda e: Event.create(
                e.pcr,
                e.event_type,
                _tagged("esxi", canonical_json({"kind": "esxi", "version": "8", "build": True})),
                "",
            ),
        ),
    ],
)
def test_unreadable_events_are_malformed(kind: str, mutate: Callable[[Event], Event]) -> None:
    """Non-JSON, wrong PCR, type or tag, non-canonical or mistyped data, unknown UEFI
    variables or a SecureBoot value other than 00/01 make the log malformed."""
    events = booted().event_log
    i = _index_of(events, kind)
    result = reconstruct(_with_event(events, i, mutate(events[i])))
    assert result == [MALFORMED]


def test_missing_or_reordered_secure_boot_variables_are_malformed() -> None:
    """PCR 7 without dbx, or with KEK measured before PK, is malformed."""
    events = booted().event_log
    pcr7 = [
        i for i, e in enumerate(events) if e.pcr == 7 and e.event_type != EventType.EV_SEPARATOR
    ]
    without_dbx = tuple(e for i, e in enumerate(events) if i != pcr7[-1])
    assert reconstruct(without_dbx) == [MALFORMED]
    swapped = list(events)
    swapped[pcr7[1]], swapped[pcr7[2]] = swapped[pcr7[2]], swapped[pcr7[1]]
    assert reconstruct(tuple(swapped)) == [MALFORMED]


def test_missing_separator_is_malformed() -> None:
    """A log without the firmware hand-off separator of PCR 3 is malformed."""
    events = booted().event_log
    kept = tuple(e for e in events if not (e.event_type == EventType.EV_SEPARATOR and e.pcr == 3))
    assert reconstruct(kept) == [MALFORMED]


def test_firmware_measurement_after_separator_is_malformed() -> None:
    """Measuring into PCR 0 after its separator (after hand-off) is malformed."""
    tpm = booted()
    tpm.measure(0, EventType.EV_PLATFORM_CONFIG_FLAGS, canonical_json({"kind": "x"}), "late")
    assert reconstruct(tpm.event_log) == [MALFORMED]


def test_boot_vib_after_runtime_vib_is_malformed() -> None:
    """A boot-phase VIB event after a runtime VIB event is malformed."""
    tpm = booted()
    measure_runtime_vib(tpm, EXTRA_VIB)
    vib = default_image().vibs[0]
    tpm.measure(
        10,
        EventType.EV_EVENT_TAG,
        _tagged("vib", canonical_json({"kind": "vib", "phase": "boot", **vib.to_json()})),
        "",
    )
    assert reconstruct(tpm.event_log) == [MALFORMED]


def test_duplicate_esxi_event_is_malformed() -> None:
    """Two bootloader (version/build) events are malformed."""
    events = booted().event_log
    esxi = events[_index_of(events, "esxi")]
    assert reconstruct((*events, esxi)) == [MALFORMED]


def test_no_action_events_are_ignored() -> None:
    """EV_NO_ACTION events are informational: reconstruct skips them."""
    tpm = booted()
    tpm.measure(0, EventType.EV_NO_ACTION, b"Spec ID Event03", "spec id")
    assert state_of(tpm.event_log).image == default_image()


names = st.text(min_size=1, max_size=12)
vibs = st.builds(Vib, names, names, names, st.sampled_from(list(AcceptanceLevel)))
images = st.builds(
    EsxiImage,
    names,
    st.integers(1, 2**40),
    st.lists(names, unique=True, max_size=5).map(tuple),
    st.lists(vibs, unique_by=lambda v: v.name, max_size=5).map(tuple),
    st.lists(names, unique=True, max_size=5).map(tuple),
)


@settings(max_examples=40, deadline=None)
@given(images, names, st.booleans(), names)
def test_reconstruct_round_trips_any_image(
    image: EsxiImage, hardware_id: str, secure_boot: bool, firmware: str
) -> None:
    """Any image on any platform reads back exactly from its event log."""
    tpm = VirtualTPM(b"prop", CA, "TPM-P")
    measure_boot(tpm, image, Platform(hardware_id, secure_boot, firmware))
    state = state_of(tpm.event_log)
    assert state.image == image and state.image.image_id == image.image_id
    assert (state.hardware_id, state.secure_boot, state.firmware) == (
        hardware_id,
        secure_boot,
        firmware,
    )
