"""How measured-boot events are encoded: the PCR map, each measurement's slot (PCR and
event type) and the bytes of its event data, in both directions.

``encode_measurement`` turns a measurement (a ``kind`` and its fields) into the event
data the TCG PC Client Platform Firmware Profile calls for; ``decode_event`` reads an event
back and raises ``ValueError`` unless the data is exactly the canonical form its PCR and
event type require. :mod:`sim.domain.image` measures boots and rebuilds the measured state
with these; see its module doc for the PCR map.
"""

from __future__ import annotations

import json
from typing import Any

from sim.domain.tpm import Event, EventType
from sim.domain.uefi import (
    SECURE_BOOT_VARIABLES,
    parse_signature_lists,
    parse_tagged_event,
    parse_ucs2_string,
    parse_variable,
    tagged_event,
    ucs2_string,
)

FIRMWARE_PCR = 0
SECURE_BOOT_PCR = 7
BOOTLOADER_PCR = 8
BOOT_MODULES_PCR = 9
VIBS_PCR = 10
DRIVERS_PCR = 11
PRE_OS_PCRS: tuple[int, ...] = tuple(range(8))
"""PCRs that receive an EV_SEPARATOR at the firmware-to-loader hand-off."""
MEASURED_PCRS: tuple[int, ...] = (
    FIRMWARE_PCR,
    SECURE_BOOT_PCR,
    BOOTLOADER_PCR,
    BOOT_MODULES_PCR,
    VIBS_PCR,
    DRIVERS_PCR,
)
"""The PCR selection a quote must cover for the measured state to be trusted."""
SEPARATOR_DATA = b"\x00\x00\x00\x00"

# kind -> (PCR, event type) it must be measured with
KIND_SLOTS: dict[str, tuple[int, EventType]] = {
    "firmware": (FIRMWARE_PCR, EventType.EV_S_CRTM_VERSION),
    "hardware": (FIRMWARE_PCR, EventType.EV_PLATFORM_CONFIG_FLAGS),
    "secure_boot": (SECURE_BOOT_PCR, EventType.EV_EFI_VARIABLE_DRIVER_CONFIG),
    "esxi": (BOOTLOADER_PCR, EventType.EV_EVENT_TAG),
    "boot_module": (BOOT_MODULES_PCR, EventType.EV_IPL),
    "vib": (VIBS_PCR, EventType.EV_EVENT_TAG),
    "driver": (DRIVERS_PCR, EventType.EV_EVENT_TAG),
}
EVENT_TAGS: dict[str, int] = {"esxi": 0x76740001, "vib": 0x76740002, "driver": 0x76740003}
"""taggedEventID of the kinds measured as EV_EVENT_TAG (vendor-chosen values)."""


def canonical_json(obj: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON: one byte form per value."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def encode_measurement(kind: str, payload: dict[str, Any]) -> tuple[int, EventType, bytes]:
    """(PCR, event type, event data) of a measurement of one of the JSON kinds, or of
    ``firmware`` (payload ``{"firmware": version}``: a UCS-2 EV_S_CRTM_VERSION)."""
    pcr, event_type = KIND_SLOTS[kind]
    if kind == "firmware":
        return pcr, event_type, ucs2_string(payload["firmware"])
    data = canonical_json({"kind": kind, **payload})
    if kind in EVENT_TAGS:
        data = tagged_event(EVENT_TAGS[kind], data)
    return pcr, event_type, data


def decode_event(event: Event) -> dict[str, Any]:
    """What an extending event records, as a dict with a ``kind`` (the JSON payload, or
    ``firmware``, ``secure_boot`` and ``uefi_keys`` for the PFP structures); ValueError if
    its data is not the canonical form its PCR and event type call for."""
    slot = (event.pcr, event.event_type)
    if slot == KIND_SLOTS["firmware"]:
        return {"kind": "firmware", "firmware": parse_ucs2_string(event.data)}
    if slot == KIND_SLOTS["secure_boot"]:
        return _decode_variable(event.data)
    data, tag = event.data, None
    if event.event_type == EventType.EV_EVENT_TAG:
        tag, data = parse_tagged_event(data)
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError("event data is not JSON") from exc
    if not isinstance(obj, dict) or canonical_json(obj) != data:
        raise ValueError("event data is not a canonical JSON object")
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in KIND_SLOTS or kind in _STRUCTURED_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    if KIND_SLOTS[kind] != slot or EVENT_TAGS.get(kind) != tag:
        raise ValueError(f"{kind} event in PCR {event.pcr} with type {event.event_type:#x}")
    return obj


_STRUCTURED_KINDS = ("firmware", "secure_boot")


def _decode_variable(data: bytes) -> dict[str, Any]:
    variable = parse_variable(data)
    if dict(SECURE_BOOT_VARIABLES).get(variable.name) != variable.vendor:
        raise ValueError(f"unexpected UEFI variable {variable.name!r} in PCR 7")
    if variable.name == "SecureBoot":
        if variable.data not in (b"\x00", b"\x01"):
            raise ValueError("SecureBoot variable is not one byte 00 or 01")
        return {"kind": "secure_boot", "enabled": variable.data == b"\x01"}
    if not parse_signature_lists(variable.data):
        raise ValueError(f"{variable.name} holds no signature list")
    return {"kind": "uefi_keys", "variable": variable.name}
