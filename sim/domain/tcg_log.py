"""The TCG PC Client crypto-agile binary event log (PFP §10.2), all little-endian.

This is the format firmware hands to the OS (``/sys/kernel/security/tpm0/
binary_bios_measurements`` on Linux) and what ``tpm2_eventlog`` and Keylime read::

    TCG_PCR_EVENT        pcrIndex 0, EV_NO_ACTION, 20 zero bytes, the Spec ID event:
      TCG_EfiSpecIDEvent "Spec ID Event03", platform class, spec version 2.0 errata,
                         uintnSize, the active banks (algorithm id, digest size), vendor
                         info
    TCG_PCR_EVENT2 ...   pcrIndex, eventType, TPML_DIGEST_VALUES (one digest per active
                         bank), eventSize, event data

The simulated TPM has one active bank, SHA-256, so each record carries one digest. The
event data is the same bytes ``eventlog.json`` holds (see :mod:`sim.domain.uefi` for the
structures the event types require), so both logs replay to the same PCRs.

``parse_log`` is strict: a header that is not a Spec ID Event03 with exactly the SHA-256
bank, a record whose digests are not exactly that bank, or truncated or trailing bytes
raise ``ValueError``. Records come back as :class:`~sim.domain.tpm.Event` with the event
type's name as the description (the binary log has no descriptions).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from sim.domain.tpm import DIGEST_SIZE, Event, EventType
from sim.domain.tpm_wire import TPM_ALG_SHA256

SPEC_ID_SIGNATURE = b"Spec ID Event03\0"
PLATFORM_CLASS_CLIENT = 0
SPEC_VERSION = (2, 0, 2)
"""(major, minor, errata) of the PC Client PFP this log follows (2.0, errata 2)."""
UINTN_SIZE_64 = 2
"""uintnSize 2: UINTN fields in the log's UEFI structures are 64-bit."""

_LEGACY_HEADER = struct.Struct("<II20sI")
_SPEC_ID = struct.Struct("<16sIBBBBI")
_ALG = struct.Struct("<HH")
_EVENT2_HEADER = struct.Struct("<III")


def spec_id_event() -> bytes:
    """The first record: a TCG_PCR_EVENT holding the TCG_EfiSpecIDEvent."""
    major, minor, errata = SPEC_VERSION
    body = _SPEC_ID.pack(
        SPEC_ID_SIGNATURE, PLATFORM_CLASS_CLIENT, minor, major, errata, UINTN_SIZE_64, 1
    )
    body += _ALG.pack(TPM_ALG_SHA256, DIGEST_SIZE) + b"\0"  # vendorInfoSize 0
    return _LEGACY_HEADER.pack(0, EventType.EV_NO_ACTION, bytes(20), len(body)) + body


def event_record(event: Event) -> bytes:
    """One TCG_PCR_EVENT2 with the event's SHA-256 digest."""
    return b"".join(
        [
            _EVENT2_HEADER.pack(event.pcr, event.event_type, 1),
            struct.pack("<H", TPM_ALG_SHA256),
            event.digest,
            struct.pack("<I", len(event.data)),
            event.data,
        ]
    )


def marshal_log(events: Iterable[Event]) -> bytes:
    """The binary log of ``events`` (in extend order), after the Spec ID header."""
    return spec_id_event() + b"".join(event_record(e) for e in events)


def _parse_header(data: bytes) -> int:
    """Check the Spec ID record; return the offset of the first TCG_PCR_EVENT2."""
    if len(data) < _LEGACY_HEADER.size:
        raise ValueError("event log: truncated Spec ID header")
    pcr, etype, digest, size = _LEGACY_HEADER.unpack_from(data)
    if pcr != 0 or etype != EventType.EV_NO_ACTION or digest != bytes(20):
        raise ValueError("event log: first record is not a Spec ID event")
    body = data[_LEGACY_HEADER.size : _LEGACY_HEADER.size + size]
    if len(body) != size or size < _SPEC_ID.size:
        raise ValueError("event log: truncated Spec ID event")
    signature, _cls, _minor, major, _errata, _uintn, n_algs = _SPEC_ID.unpack_from(body)
    if signature != SPEC_ID_SIGNATURE or major != 2:
        raise ValueError("event log: not a crypto-agile (Spec ID Event03) log")
    algs_end = _SPEC_ID.size + n_algs * _ALG.size
    if len(body) < algs_end + 1:
        raise ValueError("event log: truncated algorithm list")
    algs = [_ALG.unpack_from(body, _SPEC_ID.size + i * _ALG.size) for i in range(n_algs)]
    if algs != [(TPM_ALG_SHA256, DIGEST_SIZE)]:
        raise ValueError(f"event log: banks {algs}, expected only SHA-256")
    if algs_end + 1 + body[algs_end] != size:
        raise ValueError("event log: vendor info size does not match")
    return int(_LEGACY_HEADER.size + size)


def parse_log(data: bytes) -> tuple[Event, ...]:
    """The events of a binary log written for a SHA-256-only TPM; ValueError if malformed."""
    pos = _parse_header(data)
    events = []
    while pos < len(data):
        if len(data) - pos < _EVENT2_HEADER.size + 2 + DIGEST_SIZE + 4:
            raise ValueError(f"event log: truncated record at byte {pos}")
        pcr, etype, count = _EVENT2_HEADER.unpack_from(data, pos)
        pos += _EVENT2_HEADER.size
        (alg,) = struct.unpack_from("<H", data, pos)
        if count != 1 or alg != TPM_ALG_SHA256:
            raise ValueError(f"event log: record at byte {pos} is not one SHA-256 digest")
        digest = data[pos + 2 : pos + 2 + DIGEST_SIZE]
        pos += 2 + DIGEST_SIZE
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if pos + size > len(data):
            raise ValueError("event log: event data runs past the end")
        try:
            name = EventType(etype).name
        except ValueError:
            name = f"event type 0x{etype:08x}"
        events.append(Event(pcr, etype, digest, data[pos : pos + size], name))
        pos += size
    return tuple(events)
