"""UEFI and TCG event structures that a measured-boot event log carries (little-endian).

The TCG PC Client Platform Firmware Profile (PFP) fixes what the event data of some event
types must be, and tools such as ``tpm2_eventlog`` read them accordingly:

* ``UEFI_VARIABLE_DATA`` (PFP §10.2.6) for EV_EFI_VARIABLE_DRIVER_CONFIG: the variable's
  vendor GUID, the lengths of its UTF-16 name and of its data, the name and the data. The
  Secure Boot configuration is measured into PCR 7 as one such event per variable, in the
  order SecureBoot, PK, KEK, db, dbx, and the event digest is the hash of the whole
  structure: that is the TCG derivation of PCR 7.
* ``EFI_SIGNATURE_LIST`` (UEFI 2.9 §32.4.1), the content of PK, KEK, db and dbx: X.509
  certificates (PK, KEK, db) or SHA-256 hashes of forbidden images (dbx).
* ``TCG_PCClientTaggedEvent`` (PFP §10.4.2) for EV_EVENT_TAG: a tag id, a length and the
  tagged data.
* EV_S_CRTM_VERSION data: a NUL-terminated UCS-2 (UTF-16LE) string.

The Secure Boot keys are simulated (deterministic P-256 certificates named "vtasim ...");
every server of the estate carries the same vendor defaults, so PCR 7 differs between
hosts only by the SecureBoot variable. Decoders are strict and raise ``ValueError``: a
structure must be exactly its own canonical encoding.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives.serialization import Encoding

from sim.domain.pki import CertificateAuthority

EFI_GLOBAL_VARIABLE = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
"""The vendor GUID of SecureBoot, PK and KEK."""
EFI_IMAGE_SECURITY_DATABASE = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
"""The vendor GUID of db and dbx."""
EFI_CERT_X509 = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
EFI_CERT_SHA256 = uuid.UUID("c1c41626-504c-4092-aca9-41f936934328")
VTASIM_OWNER = uuid.UUID("5e3d1c2b-7a60-4f0e-9b1d-76746173696d")
"""The SignatureOwner GUID of the simulated Secure Boot keys."""

SECURE_BOOT_VARIABLES: tuple[tuple[str, uuid.UUID], ...] = (
    ("SecureBoot", EFI_GLOBAL_VARIABLE),
    ("PK", EFI_GLOBAL_VARIABLE),
    ("KEK", EFI_GLOBAL_VARIABLE),
    ("db", EFI_IMAGE_SECURITY_DATABASE),
    ("dbx", EFI_IMAGE_SECURITY_DATABASE),
)
"""The variables measured into PCR 7, in the order the PFP gives (§3.3.4.8)."""

_VAR_HEADER = struct.Struct("<16sQQ")
_SIG_LIST_HEADER = struct.Struct("<16sIII")
_TAG_HEADER = struct.Struct("<II")


@dataclass(frozen=True)
class UefiVariable:
    """One UEFI_VARIABLE_DATA: vendor GUID, variable name and its data."""

    vendor: uuid.UUID
    name: str
    data: bytes

    def marshal(self) -> bytes:
        """The UEFI_VARIABLE_DATA bytes (UnicodeNameLength counts UTF-16 code units)."""
        name = self.name.encode("utf-16-le")
        header = _VAR_HEADER.pack(self.vendor.bytes_le, len(name) // 2, len(self.data))
        return header + name + self.data


def parse_variable(data: bytes) -> UefiVariable:
    """The UEFI_VARIABLE_DATA in ``data`` (exactly); ValueError if malformed."""
    if len(data) < _VAR_HEADER.size:
        raise ValueError("UEFI_VARIABLE_DATA: truncated header")
    guid, name_len, data_len = _VAR_HEADER.unpack_from(data)
    name_end = _VAR_HEADER.size + 2 * name_len
    if name_end + data_len != len(data):
        raise ValueError("UEFI_VARIABLE_DATA: lengths do not match its size")
    try:
        name = data[_VAR_HEADER.size : name_end].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise ValueError("UEFI_VARIABLE_DATA: name is not UTF-16") from exc
    variable = UefiVariable(uuid.UUID(bytes_le=guid), name, data[name_end:])
    if variable.marshal() != data:
        raise ValueError("UEFI_VARIABLE_DATA: not in canonical form")
    return variable


def signature_list(signature_type: uuid.UUID, entries: tuple[bytes, ...]) -> bytes:
    """An EFI_SIGNATURE_LIST of equally sized entries, each owned by ``VTASIM_OWNER``.

    X.509 lists hold one certificate each (their sizes differ); this writes one list."""
    if not entries or len({len(e) for e in entries}) != 1:
        raise ValueError("a signature list needs entries of one size")
    size = 16 + len(entries[0])
    body = b"".join(VTASIM_OWNER.bytes_le + e for e in entries)
    header = _SIG_LIST_HEADER.pack(
        signature_type.bytes_le, _SIG_LIST_HEADER.size + len(body), 0, size
    )
    return header + body


def parse_signature_lists(data: bytes) -> list[tuple[uuid.UUID, list[bytes]]]:
    """The (type, entries) of each EFI_SIGNATURE_LIST in ``data``; ValueError if malformed."""
    lists = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < _SIG_LIST_HEADER.size:
            raise ValueError("EFI_SIGNATURE_LIST: truncated header")
        guid, list_size, header_size, sig_size = _SIG_LIST_HEADER.unpack_from(data, pos)
        body = _SIG_LIST_HEADER.size + header_size
        if sig_size <= 16 or list_size < body or pos + list_size > len(data):
            raise ValueError("EFI_SIGNATURE_LIST: sizes out of range")
        if (list_size - body) % sig_size:
            raise ValueError("EFI_SIGNATURE_LIST: not a whole number of signatures")
        start = pos + body
        entries = [data[o + 16 : o + sig_size] for o in range(start, pos + list_size, sig_size)]
        lists.append((uuid.UUID(bytes_le=guid), entries))
        pos += list_size
    return lists


@lru_cache(maxsize=1)
def default_secure_boot_keys() -> dict[str, bytes]:
    """The data of PK, KEK, db and dbx on every simulated server (a fixed vendor default):
    DER certificates of simulated CAs, and the SHA-256 hashes of two revoked loaders.
    Cached once per process: ~0.7 ms per server boot, and every server shares the bytes."""
    out = {}
    for var, label in (("PK", "Platform Key"), ("KEK", "KEK CA"), ("db", "UEFI Signing CA")):
        ca = CertificateAuthority.create(f"vtasim/uefi/{var}".encode(), f"vtasim {label}")
        der = ca.certificate.public_bytes(Encoding.DER)
        out[var] = signature_list(EFI_CERT_X509, (der,))
    revoked = tuple(hashlib.sha256(f"revoked loader {i}".encode()).digest() for i in (1, 2))
    out["dbx"] = signature_list(EFI_CERT_SHA256, revoked)
    return out


def secure_boot_variables(enabled: bool) -> tuple[UefiVariable, ...]:
    """The PCR 7 variables in measurement order; SecureBoot's data is 01 (on) or 00 (off)."""
    keys = default_secure_boot_keys()
    data = {"SecureBoot": b"\x01" if enabled else b"\x00", **keys}
    return tuple(UefiVariable(guid, name, data[name]) for name, guid in SECURE_BOOT_VARIABLES)


def tagged_event(tag: int, data: bytes) -> bytes:
    """A TCG_PCClientTaggedEvent: taggedEventID, taggedEventDataSize, taggedEventData."""
    return _TAG_HEADER.pack(tag, len(data)) + data


def parse_tagged_event(data: bytes) -> tuple[int, bytes]:
    """(tag, tagged data) of a TCG_PCClientTaggedEvent; ValueError if malformed."""
    if len(data) < _TAG_HEADER.size:
        raise ValueError("TCG_PCClientTaggedEvent: truncated")
    tag, size = _TAG_HEADER.unpack_from(data)
    if _TAG_HEADER.size + size != len(data):
        raise ValueError("TCG_PCClientTaggedEvent: size does not match")
    return tag, data[_TAG_HEADER.size :]


def ucs2_string(text: str) -> bytes:
    """``text`` as NUL-terminated UTF-16LE (the PFP's UCS-2 strings)."""
    return (text + "\0").encode("utf-16-le")


def parse_ucs2_string(data: bytes) -> str:
    """The text of a NUL-terminated UTF-16LE string; ValueError if it is not one."""
    if len(data) < 2 or len(data) % 2 or data[-2:] != b"\0\0":
        raise ValueError("not a NUL-terminated UTF-16LE string")
    try:
        text = data[:-2].decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise ValueError("not a UTF-16LE string") from exc
    if ucs2_string(text) != data:
        raise ValueError("UTF-16LE string not in canonical form")
    return text
