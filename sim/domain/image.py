"""ESXi images, the servers they boot on, and the measured boot that records them in a TPM.

An ``EsxiImage`` is what the Trust Authority approves: an ESXi version and build, the boot
modules the bootloader loads, the installed VIBs (each with its acceptance level) and the
vmkernel drivers. A ``Platform`` is the physical server. ``measure_boot`` plays firmware,
bootloader and vmkernel: it extends one event per measured thing into the TPM, and
``reconstruct`` reads such an event log back into a ``MeasuredState`` for a verifier.

PCR map (SHA-256 bank; event types and data from the TCG PC Client Platform Firmware
Profile, PFP)::

    PCR  measured                           event type                     event data
    0    platform firmware version          EV_S_CRTM_VERSION              UCS-2 string
    0    hardware identity (SMBIOS UUID)    EV_PLATFORM_CONFIG_FLAGS       JSON hardware
    7    UEFI variables SecureBoot, PK,     EV_EFI_VARIABLE_DRIVER_CONFIG  UEFI_VARIABLE_DATA
         KEK, db, dbx (in that order)
    0-7  end of pre-OS measurements         EV_SEPARATOR                   00000000
    8    ESXi version and build (loader)    EV_EVENT_TAG                   tagged JSON esxi
    9    each boot module, in load order    EV_IPL                         JSON boot_module
    10   each VIB (boot, then runtime)      EV_EVENT_TAG                   tagged JSON vib
    11   each vmkernel driver (boot, then   EV_EVENT_TAG                   tagged JSON driver
         runtime)

Every event's digest is SHA-256 of its data, which is what the PFP prescribes for these
event types; PCR 7 therefore follows the TCG derivation from the UEFI_VARIABLE_DATA
structures (see :mod:`sim.domain.uefi`). The ESXi measurements (a modelling choice: ESXi's
own event records are not public) are canonical JSON (compact, sorted keys, UTF-8) with a
``kind``, wrapped in a TCG_PCClientTaggedEvent whose tag names the kind where the event
type is EV_EVENT_TAG; VIB and driver events also carry a ``phase`` ("boot" or
"runtime"). Every encoding is canonical so that a log has exactly one valid byte form and
a verifier can rebuild the measured state from it. Separators go into PCRs 0-7 at the
hand-off from firmware to the OS loader, as the PFP puts them; measurements of PCRs 0-7
after their separator are rejected. EV_NO_ACTION events are informational and ignored.
The encodings themselves live in :mod:`sim.domain.boot_events`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from typing import Any

from sim.domain import boot_events
from sim.domain.acceptance import AcceptanceLevel as AcceptanceLevel
from sim.domain.boot_events import canonical_json as canonical_json
from sim.domain.boot_events import decode_event as decode_event
from sim.domain.boot_events import encode_measurement
from sim.domain.reasons import Reason
from sim.domain.tpm import Event, EventType, VirtualTPM
from sim.domain.uefi import SECURE_BOOT_VARIABLES, secure_boot_variables

# The PCR map and event encodings live in boot_events; these names stay importable here.
FIRMWARE_PCR = boot_events.FIRMWARE_PCR
SECURE_BOOT_PCR = boot_events.SECURE_BOOT_PCR
BOOTLOADER_PCR = boot_events.BOOTLOADER_PCR
BOOT_MODULES_PCR = boot_events.BOOT_MODULES_PCR
VIBS_PCR = boot_events.VIBS_PCR
DRIVERS_PCR = boot_events.DRIVERS_PCR
PRE_OS_PCRS = boot_events.PRE_OS_PCRS
MEASURED_PCRS = boot_events.MEASURED_PCRS
SEPARATOR_DATA = boot_events.SEPARATOR_DATA
EVENT_TAGS = boot_events.EVENT_TAGS
_VARIABLE_ORDER = {name: i for i, (name, _guid) in enumerate(SECURE_BOOT_VARIABLES)}

MALFORMED = Reason.EVENTLOG_MALFORMED.text
DIGEST_MISMATCH = Reason.EVENTLOG_DIGEST_MISMATCH.text


@dataclass(frozen=True)
class Vib:
    """A vSphere Installation Bundle: name, version, vendor code and acceptance level."""

    name: str
    version: str
    vendor: str
    acceptance: AcceptanceLevel

    def to_json(self) -> dict[str, str]:
        """The VIB as a JSON object (acceptance by its ESXi label)."""
        return {
            "name": self.name,
            "version": self.version,
            "vendor": self.vendor,
            "acceptance": self.acceptance.label,
        }

    def __str__(self) -> str:
        return f"{self.vendor}_bootbank_{self.name}_{self.version} ({self.acceptance.label})"


@dataclass(frozen=True)
class EsxiImage:
    """An ESXi base image. VIBs are kept sorted by name and drivers sorted; boot modules
    keep their load order. VIB names, drivers and boot modules are each unique."""

    version: str
    build: int
    boot_modules: tuple[str, ...]
    vibs: tuple[Vib, ...]
    drivers: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.version:
            raise ValueError("image version must not be empty")
        if isinstance(self.build, bool) or not isinstance(self.build, int) or self.build <= 0:
            raise ValueError(f"image build must be a positive integer, got {self.build!r}")
        object.__setattr__(self, "boot_modules", tuple(self.boot_modules))
        object.__setattr__(self, "vibs", tuple(sorted(self.vibs, key=lambda v: v.name)))
        object.__setattr__(self, "drivers", tuple(sorted(self.drivers)))
        _require_unique("boot module", self.boot_modules)
        _require_unique("VIB", [v.name for v in self.vibs])
        _require_unique("driver", self.drivers)

    def canonical(self) -> bytes:
        """The canonical encoding the image id hashes."""
        return canonical_json(
            {
                "version": self.version,
                "build": self.build,
                "boot_modules": list(self.boot_modules),
                "vibs": [v.to_json() for v in self.vibs],
                "drivers": list(self.drivers),
            }
        )

    @cached_property
    def image_id(self) -> str:
        """A stable, readable id: ``ESXi-<version>-<build>-<12 hex of SHA-256>``."""
        digest = hashlib.sha256(self.canonical()).hexdigest()[:12]
        return f"ESXi-{self.version}-{self.build}-{digest}"

    def vib(self, name: str) -> Vib | None:
        """The installed VIB called ``name``, if any."""
        return next((v for v in self.vibs if v.name == name), None)

    def with_vib(self, vib: Vib) -> EsxiImage:
        """This image with ``vib`` installed (replacing a VIB of the same name)."""
        others = tuple(v for v in self.vibs if v.name != vib.name)
        return replace(self, vibs=(*others, vib))

    def with_build(self, build: int) -> EsxiImage:
        """This image relabelled as another build of the same version."""
        return replace(self, build=build)

    def with_driver(self, driver: str) -> EsxiImage:
        """This image with one more vmkernel driver (no-op if already present)."""
        if driver in self.drivers:
            return self
        return replace(self, drivers=(*self.drivers, driver))


def _require_unique(what: str, items: Sequence[str]) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ValueError(f"duplicate {what} {item!r}")
        seen.add(item)


@dataclass(frozen=True)
class Platform:
    """A physical server: its hardware identity, Secure Boot setting and firmware."""

    hardware_id: str
    secure_boot: bool = True
    firmware: str = "UEFI 2.7 BIOS 2.19.1"


ESXI_8_0_U2_BUILD = 22380479


def default_image() -> EsxiImage:
    """ESXi 8.0 Update 2 (build 22380479) with VMware and Broadcom bits plus two
    partner-supported Dell management VIBs."""
    build = ESXI_8_0_U2_BUILD
    esx = f"8.0.2-0.0.{build}"
    native = f"vmw.802.0.0.{build}"
    certified = AcceptanceLevel.VMWARE_CERTIFIED
    partner = AcceptanceLevel.PARTNER_SUPPORTED
    vibs = (
        Vib("esx-base", esx, "VMware", certified),
        Vib("esx-update", esx, "VMware", certified),
        Vib("loadesx", esx, "VMware", certified),
        Vib("esx-xserver", esx, "VMware", certified),
        Vib("gc", esx, "VMware", certified),
        Vib("vsan", esx, "VMware", certified),
        Vib("vsanhealth", esx, "VMware", certified),
        Vib("crx", esx, "VMware", certified),
        Vib("cpu-microcode", esx, "VMware", certified),
        Vib("nvme-pcie", f"1.2.4.11-1{native}", "VMW", certified),
        Vib("ne1000", f"0.9.0-1{native}", "VMW", certified),
        Vib("vmkusb", f"0.1-17{native}", "VMW", certified),
        Vib("lsi-mr3", f"7.727.02.00-1{native}", "VMW", certified),
        Vib("bnxtnet", "226.0.145.0-1OEM.800.1.0.20613240", "BCM", certified),
        Vib("dellemc-osname-idrac", "7.7.1.0-0000", "DEL", partner),
        Vib("dcism", "5.2.0.0-3264.DEL.800", "DEL", partner),
    )
    boot_modules = (
        "b.b00", "jumpstrt.gz", "useropts.gz", "features.gz", "k.b00", "uc_intel.b00",
        "uc_amd.b00", "uc_hygon.b00", "procfs.b00", "vmx.v00", "vim.v00", "tpm.v00",
        "sb.v00", "s.v00", "bnxtnet.v00", "lsimr3.v00", "ne1000.v00", "nvmepcie.v00",
        "vmkusb.v00", "crx.v00", "esxupdt.v00", "vsan.v00", "vsanheal.v00",
        "dellemc_.v00", "dcism.v00", "imgdb.tgz", "state.tgz",
    )  # fmt: skip
    drivers = ("nvme_pcie", "ne1000", "vmkusb", "lsi_mr3", "bnxtnet")
    return EsxiImage("8.0.2", build, boot_modules, vibs, drivers)


@dataclass(frozen=True)
class MeasuredState:
    """What an event log says was measured: the platform, the booted image and anything
    loaded after boot."""

    firmware: str
    hardware_id: str
    secure_boot: bool
    image: EsxiImage
    runtime_vibs: tuple[Vib, ...] = ()
    runtime_drivers: tuple[str, ...] = ()

    @property
    def all_vibs(self) -> tuple[Vib, ...]:
        """Boot VIBs followed by runtime VIBs."""
        return self.image.vibs + self.runtime_vibs

    @property
    def all_drivers(self) -> tuple[str, ...]:
        """Boot drivers followed by runtime drivers."""
        return self.image.drivers + self.runtime_drivers


def _measure(tpm: VirtualTPM, kind: str, payload: dict[str, Any], description: str) -> Event:
    return tpm.measure(*encode_measurement(kind, payload), description)


def measure_boot(tpm: VirtualTPM, image: EsxiImage, platform: Platform) -> None:
    """Measure a boot of ``image`` on ``platform`` into a freshly reset ``tpm``."""
    if tpm.event_log:
        raise ValueError("measure_boot needs a freshly reset TPM (its event log is not empty)")
    _measure(tpm, "firmware", {"firmware": platform.firmware}, "CRTM version")
    _measure(tpm, "hardware", {"hardware_id": platform.hardware_id}, "platform identity")
    tpm.measure_events(_boot_chain(platform.secure_boot, image))


@lru_cache(maxsize=256)
def _boot_chain(secure_boot: bool, image: EsxiImage) -> tuple[Event, ...]:
    """The events of a boot after the platform's own: the same for every host with this
    Secure Boot setting and image, so they are encoded (and made) once. Buys: ~0.3 ms of
    encoding per host boot, and ~1 us per event measured."""
    out: list[tuple[int, int, bytes, str]] = []

    def add(kind: str, payload: dict[str, Any], description: str) -> None:
        out.append((*encode_measurement(kind, payload), description))

    for variable in secure_boot_variables(secure_boot):
        out.append(
            (
                SECURE_BOOT_PCR,
                EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
                variable.marshal(),
                f"UEFI variable {variable.name}",
            )
        )
    for pcr in PRE_OS_PCRS:
        out.append((pcr, EventType.EV_SEPARATOR, SEPARATOR_DATA, "separator"))
    add("esxi", {"version": image.version, "build": image.build}, f"ESXi {image.version}")
    for module in image.boot_modules:
        add("boot_module", {"name": module}, f"boot module {module}")
    for vib in image.vibs:
        add("vib", {"phase": "boot", **vib.to_json()}, f"VIB {vib.name}")
    for driver in image.drivers:
        add("driver", {"phase": "boot", "name": driver}, f"driver {driver}")
    return tuple(Event.create(*measurement) for measurement in out)


def measure_runtime_vib(tpm: VirtualTPM, vib: Vib) -> Event:
    """Measure a VIB installed or loaded after boot into the VIB PCR."""
    return _measure(tpm, "vib", {"phase": "runtime", **vib.to_json()}, f"runtime VIB {vib.name}")


def measure_runtime_driver(tpm: VirtualTPM, driver: str) -> Event:
    """Measure a vmkernel driver loaded after boot into the driver PCR."""
    return _measure(tpm, "driver", {"phase": "runtime", "name": driver}, f"runtime driver {driver}")


class _Malformed(Exception):
    """Internal: the event log cannot be read as a measured boot."""


def _field(obj: dict[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    # bool is an int subclass; an int field must not accept true/false, nor the reverse
    if type(value) is not kind:
        raise _Malformed(f"field {key!r} missing or not {kind.__name__}")
    return value


def _decode(event: Event) -> dict[str, Any]:
    try:
        return _decoded(event)
    except ValueError as exc:
        raise _Malformed(str(exc)) from exc


@lru_cache(maxsize=1 << 16)
def _decoded(event: Event) -> dict[str, Any]:
    """``decode_event``, memoised: hosts booting one image log equal events (read-only
    result: the reader only looks at it). Buys: ~9 us of JSON decoding per event read."""
    return decode_event(event)


@lru_cache(maxsize=1 << 16)
def _vib_of(event: Event) -> Vib:
    """The VIB a (decodable) VIB event names, memoised like :func:`_decoded`; a malformed
    one raises every time (exceptions are not cached). Buys: a VIB rebuilt per event read."""
    return _vib_from(_decode(event))


def _vib_from(obj: dict[str, Any]) -> Vib:
    try:
        level = AcceptanceLevel.parse(_field(obj, "acceptance", str))
    except ValueError as exc:
        raise _Malformed(str(exc)) from exc
    return Vib(
        _field(obj, "name", str),
        _field(obj, "version", str),
        _field(obj, "vendor", str),
        level,
    )


@lru_cache(maxsize=256)
def _interned(image: EsxiImage) -> EsxiImage:
    """One object per distinct image read from logs (images are immutable): the hosts
    booting one image share it, and with it its ``image_id``. Buys: ~47 us per log read
    (the canonical JSON and SHA-256 of the id) for ~7 us (hashing the image)."""
    return image


_SINGLE_KINDS = ("firmware", "hardware", "secure_boot", "esxi")
_SEPARATOR = EventType.EV_SEPARATOR.value  # a plain int: compared for every event read


class _LogReader:
    """Accumulates a measured boot from events, enforcing the order the PCR map implies."""

    def __init__(self) -> None:
        self.singles: dict[str, dict[str, Any]] = {}
        self.separated: set[int] = set()
        self.modules: list[str] = []
        self.vibs: dict[str, list[Vib]] = {"boot": [], "runtime": []}
        self.drivers: dict[str, list[str]] = {"boot": [], "runtime": []}
        self.variables: list[int] = []

    def add(self, event: Event) -> None:
        if event.event_type == _SEPARATOR:
            if event.pcr not in PRE_OS_PCRS or event.pcr in self.separated:
                raise _Malformed(f"unexpected separator in PCR {event.pcr}")
            if event.data != SEPARATOR_DATA:
                raise _Malformed("separator data is not 00000000")
            self.separated.add(event.pcr)
            return
        obj = _decode(event)
        kind = obj["kind"]
        if event.pcr in PRE_OS_PCRS and event.pcr in self.separated:
            raise _Malformed(f"{kind} measured into PCR {event.pcr} after its separator")
        if kind in ("secure_boot", "uefi_keys"):
            order = _VARIABLE_ORDER["SecureBoot" if kind == "secure_boot" else obj["variable"]]
            if self.variables and order <= self.variables[-1]:
                raise _Malformed("Secure Boot variables out of order or repeated")
            self.variables.append(order)
        if kind == "uefi_keys":
            return
        if kind in _SINGLE_KINDS:
            if kind in self.singles:
                raise _Malformed(f"second {kind} event")
            self.singles[kind] = obj
        elif kind == "boot_module":
            self.modules.append(_field(obj, "name", str))
        else:
            phase = _field(obj, "phase", str)
            if phase not in ("boot", "runtime"):
                raise _Malformed(f"unknown phase {phase!r}")
            target = self.vibs if kind == "vib" else self.drivers
            if phase == "boot" and target["runtime"]:
                raise _Malformed(f"boot-phase {kind} after a runtime {kind}")
            if kind == "vib":
                self.vibs[phase].append(_vib_of(event))
            else:
                self.drivers[phase].append(_field(obj, "name", str))

    def state(self) -> MeasuredState:
        missing = [k for k in _SINGLE_KINDS if k not in self.singles]
        if missing:
            raise _Malformed(f"no {', '.join(missing)} event")
        if len(self.variables) != len(SECURE_BOOT_VARIABLES):
            raise _Malformed("Secure Boot variables missing")
        if self.separated != set(PRE_OS_PCRS):
            raise _Malformed("firmware hand-off separators missing")
        esxi = self.singles["esxi"]
        try:
            image = _interned(
                EsxiImage(
                    version=_field(esxi, "version", str),
                    build=_field(esxi, "build", int),
                    boot_modules=tuple(self.modules),
                    vibs=tuple(self.vibs["boot"]),
                    drivers=tuple(self.drivers["boot"]),
                )
            )
        except ValueError as exc:
            raise _Malformed(str(exc)) from exc
        return MeasuredState(
            firmware=_field(self.singles["firmware"], "firmware", str),
            hardware_id=_field(self.singles["hardware"], "hardware_id", str),
            secure_boot=_field(self.singles["secure_boot"], "enabled", bool),
            image=image,
            runtime_vibs=tuple(self.vibs["runtime"]),
            runtime_drivers=tuple(self.drivers["runtime"]),
        )


def reconstruct(events: Iterable[Event]) -> MeasuredState | list[str]:
    """The state an event log records, or reason ids: ``attestation.eventlog.digest_mismatch``
    if an event's digest is not SHA-256 of its data, ``attestation.eventlog.malformed`` if
    the log is not a measured boot as the PCR map describes."""
    reasons: list[str] = []
    reader = _LogReader()
    malformed = False
    for event in events:
        if not event.digest_matches_data() and DIGEST_MISMATCH not in reasons:
            reasons.append(DIGEST_MISMATCH)
        if malformed or not event.extends:
            continue
        try:
            reader.add(event)
        except _Malformed:
            malformed = True
    state: MeasuredState | None = None
    if not malformed:
        try:
            state = reader.state()
        except _Malformed:
            malformed = True
    if malformed:
        reasons.append(MALFORMED)
    if reasons or state is None:
        return reasons
    return state
