"""A virtual TPM 2.0: a SHA-256 PCR bank, a measured-boot event log, EK/AK keys and quotes.

The TPM follows TPM 2.0 and the TCG PC Client Platform Firmware Profile where it matters
for attestation: 24 PCRs with the PC Client reset values, extend as
``PCR := SHA-256(PCR || digest)``, EV_NO_ACTION events logged but never extended, and quotes
that are real TPMS_ATTEST structures signed by a P-256 attestation key (AK) with
deterministic ECDSA, so that ``tpm2_checkquote`` accepts them.

As in a real TPM, the endorsement key (EK) is a restricted *decryption* key (ECC P-256,
template L-2 of the TCG EK Credential Profile) and never signs. The AK is created under
the EK, so a quote's qualifiedSigner is the AK's Qualified Name (which hashes in the EK's
Name and the endorsement hierarchy), and a verifier ties the AK to the EK by credential
activation (``activate_credential``, see :mod:`sim.domain.credential`).

Simplifications, each deliberate:

* Only the SHA-256 bank exists.
* The event log is kept by the TPM object for convenience; on a real host it lives in
  firmware memory and the TPM only holds the PCRs.

All keys derive from the ``seed`` given to ``VirtualTPM``; the same seed gives the same EK,
AK, EK certificate and quote bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property, lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sim.domain.credential import Credential, activate_credential
from sim.domain.pki import CertificateAuthority, derive_p256_key, public_der, sign, verify
from sim.domain.tpm_keys import ak_qualified_name, ecc_ek_public_area
from sim.domain.tpm_wire import (
    QuoteLayout,
    ecc_public_area,
    marshal_signature,
    normalize_selection,
    object_name,
    parse_attest,
    parse_signature,
    signature_from_der,
)

PCR_COUNT = 24
DIGEST_SIZE = 32
MAX_NONCE_SIZE = 64
DEFAULT_FIRMWARE_VERSION = 0x0001_0046_0000_0000
"""An arbitrary TPM firmware version (major 1, minor 70) reported in quotes."""

_ZERO = bytes(DIGEST_SIZE)
_ONES = b"\xff" * DIGEST_SIZE
RESET_VALUES: tuple[bytes, ...] = tuple(_ONES if 17 <= i <= 22 else _ZERO for i in range(PCR_COUNT))
"""PC Client reset values: PCRs 0-16 and 23 all-zero, 17-22 (the DRTM PCRs) all-0xFF."""


class EventType(IntEnum):
    """TCG PC Client Platform Firmware Profile event types (section 10.4.1)."""

    EV_PREBOOT_CERT = 0x0
    EV_POST_CODE = 0x1
    EV_NO_ACTION = 0x3
    EV_SEPARATOR = 0x4
    EV_ACTION = 0x5
    EV_EVENT_TAG = 0x6
    EV_S_CRTM_CONTENTS = 0x7
    EV_S_CRTM_VERSION = 0x8
    EV_CPU_MICROCODE = 0x9
    EV_PLATFORM_CONFIG_FLAGS = 0xA
    EV_TABLE_OF_DEVICES = 0xB
    EV_COMPACT_HASH = 0xC
    EV_IPL = 0xD
    EV_IPL_PARTITION_DATA = 0xE
    EV_NONHOST_CODE = 0xF
    EV_NONHOST_CONFIG = 0x10
    EV_NONHOST_INFO = 0x11
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
    EV_EFI_VARIABLE_BOOT = 0x80000002
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
    EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
    EV_EFI_GPT_EVENT = 0x80000006
    EV_EFI_ACTION = 0x80000007
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
    EV_EFI_HANDOFF_TABLES = 0x80000009
    EV_EFI_VARIABLE_AUTHORITY = 0x800000E0


_NO_ACTION = EventType.EV_NO_ACTION.value
"""EV_NO_ACTION as a plain int: compared for every event read, where an enum member's
lookup and comparison cost several times an int's."""


def _check_index(index: int) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < PCR_COUNT:
        raise ValueError(f"PCR index must be 0..{PCR_COUNT - 1}, got {index!r}")


def _int_field(obj: Mapping[str, object], key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"event field {key!r} must be an integer, got {value!r}")
    return value


def _str_field(obj: Mapping[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"event field {key!r} must be a string, got {value!r}")
    return value


@dataclass(frozen=True)
class Event:
    """One event-log entry: the PCR it went into, its type, digest, data and description.

    For events made by ``Event.create`` or ``VirtualTPM.measure`` the digest is
    SHA-256(data), except EV_NO_ACTION events, whose digest is all-zero (they are
    informational and never extended).
    """

    pcr: int
    event_type: int
    digest: bytes
    data: bytes
    description: str

    def __post_init__(self) -> None:
        _check_index(self.pcr)
        if len(self.digest) != DIGEST_SIZE:
            raise ValueError(f"event digest must be {DIGEST_SIZE} bytes")

    def __hash__(self) -> int:
        # Logs are hashed whole (the verifier memoises its reading of a log): the fields
        # never change, so the hash is computed once per event.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.pcr, self.event_type, self.digest, self.data, self.description))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict[str, object]:
        # The cached hash is only valid in this process (str and bytes hashes are salted);
        # the digest check is simply not part of the event's state.
        return {k: v for k, v in self.__dict__.items() if k not in ("_hash", "_digest_ok")}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    @classmethod
    def create(cls, pcr: int, event_type: int, data: bytes, description: str) -> Event:
        """The event a measurement of ``data`` into ``pcr`` produces. Events are immutable,
        so equal measurements share one object (hosts booting the same image log the same
        events: one copy in memory, and a verifier's memoised reading of them is reused)."""
        if cls is Event and type(pcr) is int and type(data) is bytes and type(description) is str:
            return _created(pcr, int(event_type), data, description)
        return cls._make(pcr, event_type, data, description)

    @classmethod
    def _make(cls, pcr: int, event_type: int, data: bytes, description: str) -> Event:
        digest = _ZERO if event_type == _NO_ACTION else hashlib.sha256(data).digest()
        return cls(pcr, int(event_type), digest, bytes(data), description)

    @property
    def extends(self) -> bool:
        """Whether this event is extended into its PCR (every type but EV_NO_ACTION)."""
        return self.event_type != _NO_ACTION

    def digest_matches_data(self) -> bool:
        """Whether the digest is what measuring the data gives (a verifier's check). The
        answer is kept on the event (its fields never change): a verifier reading the logs
        of many hosts booting one image checks the same shared events again and again."""
        ok: bool | None = self.__dict__.get("_digest_ok")
        if ok is None:
            measured = Event.create(self.pcr, self.event_type, self.data, self.description)
            ok = measured is self or self == measured
            object.__setattr__(self, "_digest_ok", ok)
        return ok

    def to_json(self) -> dict[str, int | str]:
        """A JSON-ready dict: pcr, event_type (int), digest and data (hex), description."""
        return {
            "pcr": self.pcr,
            "event_type": self.event_type,
            "digest": self.digest.hex(),
            "data": self.data.hex(),
            "description": self.description,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Event:
        """The event ``to_json`` produced; ValueError on missing or mistyped fields."""
        return cls(
            _int_field(obj, "pcr"),
            _int_field(obj, "event_type"),
            bytes.fromhex(_str_field(obj, "digest")),
            bytes.fromhex(_str_field(obj, "data")),
            _str_field(obj, "description"),
        )


@lru_cache(maxsize=1 << 16)
def _created(pcr: int, event_type: int, data: bytes, description: str) -> Event:
    """The shared :class:`Event` of one measurement (see :meth:`Event.create`). Buys: equal
    measurements of many hosts are one object (memory, and the identity hits of the
    verifier's log cache), and ~3 us of construction per measurement (a hit ~0.2 us)."""
    return Event._make(pcr, event_type, data, description)


def composite_digest(values: Sequence[bytes], selection: Iterable[int]) -> bytes:
    """SHA-256 over the selected PCR values in index order (a quote's pcrDigest)."""
    indices = normalize_selection(selection)
    if indices[-1] >= len(values):
        raise ValueError(f"PCR {indices[-1]} selected but only {len(values)} values given")
    return hashlib.sha256(b"".join(values[i] for i in indices)).digest()


class PcrBank:
    """The SHA-256 PCR bank, starting at the PC Client reset values."""

    def __init__(self) -> None:
        self._values = list(RESET_VALUES)
        self._composites: dict[tuple[int, ...], bytes] = {}

    def extend(self, index: int, digest: bytes) -> bytes:
        """PCR[index] := SHA-256(PCR[index] || digest); returns the new value."""
        _check_index(index)
        if len(digest) != DIGEST_SIZE:
            raise ValueError(f"extend digest must be {DIGEST_SIZE} bytes, got {len(digest)}")
        new = hashlib.sha256(self._values[index] + digest).digest()
        self._values[index] = new
        self._composites.clear()
        return new

    def extend_event(self, event: Event) -> None:
        """:meth:`extend` by a logged event's digest into its PCR, without checking them
        again (an :class:`Event` checks its index and digest size when made): a boot
        measures some sixty events per host."""
        values = self._values
        pcr = event.pcr
        values[pcr] = hashlib.sha256(values[pcr] + event.digest).digest()
        self._composites.clear()

    def reset(self) -> None:
        """All PCRs back to their reset values."""
        self._values = list(RESET_VALUES)
        self._composites.clear()

    @property
    def values(self) -> tuple[bytes, ...]:
        """The 24 PCR values, indexed by PCR."""
        return tuple(self._values)

    def composite_digest(self, selection: Iterable[int]) -> bytes:
        """SHA-256 over the selected PCR values in index order (kept until a PCR changes:
        a host quotes the same PCRs every attestation between boots)."""
        key = normalize_selection(selection)
        found = self._composites.get(key)
        if found is None:
            found = self._composites[key] = composite_digest(self._values, key)
        return found


def replay(events: Iterable[Event]) -> tuple[bytes, ...]:
    """The 24 PCR values an event log leads to from the reset values (what
    :meth:`PcrBank.extend` gives, without its checks: an :class:`Event` is checked when
    made, so its index and digest size are valid). Each PCR's value depends only on the
    digests extended into it, so each PCR's chain is replayed by :func:`_chain`."""
    chains: list[list[bytes]] = [[] for _ in range(PCR_COUNT)]
    for event in events:
        if event.event_type != _NO_ACTION:
            chains[event.pcr].append(event.digest)
    return tuple(
        _chain(pcr, tuple(digests)) if digests else RESET_VALUES[pcr]
        for pcr, digests in enumerate(chains)
    )


@lru_cache(maxsize=1 << 14)
def _chain(pcr: int, digests: tuple[bytes, ...]) -> bytes:
    """PCR ``pcr`` after extending ``digests`` in order from its reset value, memoised:
    hosts booting one image extend the same digests into all PCRs but the few that hold
    what is theirs alone (server identity). Buys: ~60 us of a 64-event log's ~80 us
    replay when its PCRs are shared."""
    value = RESET_VALUES[pcr]
    sha256 = hashlib.sha256
    for digest in digests:
        value = sha256(value + digest).digest()
    return value


class Quote:
    """A TPM2_Quote result: the TPMS_ATTEST bytes and their TPMT_SIGNATURE (immutable).

    A virtual TPM's quote is signed when its signature is first read
    (:meth:`signed_on_read`): ECDSA here is deterministic (RFC 6979: the signature is a
    function of the key and the message alone), so the signature read later is, byte for
    byte, the one signed at the quote, and the key is the one the TPM held then. The
    verifier reads it at once, so the signing runs next to the verification, which uses the
    same curve tables while they are still in the processor's caches (quotes signed when
    read and quotes signed at once, alternated in one run of 10,000 hosts: the signature
    41.6 against 43.4 us, the verification 71.8 against 76.0 us, in place); a quote nobody
    verifies (its round was dropped, or its node went down) is never signed."""

    __slots__ = ("_key", "_signature", "attest")

    attest: bytes
    _signature: bytes | None
    _key: ec.EllipticCurvePrivateKey | None

    def __init__(self, attest: bytes, signature: bytes) -> None:
        _set(self, "attest", attest)
        _set(self, "_signature", signature)
        _set(self, "_key", None)

    @classmethod
    def signed_on_read(cls, attest: bytes, key: ec.EllipticCurvePrivateKey) -> Quote:
        """The quote of ``attest`` by ``key``, signed when its signature is first read."""
        quote = _new(cls)
        _set(quote, "attest", attest)
        _set(quote, "_signature", None)
        _set(quote, "_key", key)
        return quote

    @property
    def signature(self) -> bytes:
        """The TPMT_SIGNATURE of :attr:`attest` (signed on the first read, then kept)."""
        signature = self._signature
        if signature is None:
            assert self._key is not None
            der = sign(self._key, self.attest)
            try:
                signature = signature_from_der(der)
            except ValueError:  # not the strict DER cryptography writes: the long way
                signature = marshal_signature(*decode_dss_signature(der))
            _set(self, "_signature", signature)
        return signature

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Quote is immutable: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quote):
            return NotImplemented
        return self.attest == other.attest and self.signature == other.signature

    def __hash__(self) -> int:
        return hash((self.attest, self.signature))

    def __repr__(self) -> str:
        return f"Quote(attest={self.attest!r}, signature={self.signature!r})"

    def __reduce__(self) -> tuple[type[Quote], tuple[bytes, bytes]]:
        return (Quote, (self.attest, self.signature))  # a copy is signed: keys stay here


_set = object.__setattr__
_new = object.__new__


def verify_quote(ak_public: ec.EllipticCurvePublicKey, quote: Quote) -> bool:
    """True if ``quote`` is a well-formed quote signed by ``ak_public``; never raises.

    Checks the signature only; the nonce, PCR digest and clock are the verifier's to judge.
    """
    try:
        r, s = parse_signature(quote.signature)
        parse_attest(quote.attest)
    except ValueError:
        return False
    return verify(ak_public, encode_dss_signature(r, s), quote.attest)


class VirtualTPM:
    """A TPM 2.0 with one SHA-256 PCR bank, an event log, an EK (with certificate) and an AK."""

    def __init__(
        self,
        seed: bytes,
        manufacturer: CertificateAuthority,
        serial: str,
        firmware_version: int = DEFAULT_FIRMWARE_VERSION,
    ) -> None:
        if not 0 <= firmware_version < 1 << 64:
            raise ValueError("firmware_version must fit in 64 bits")
        self._serial = serial
        self._firmware_version = firmware_version
        self._ek = derive_p256_key(seed, "ek")
        self._ak = derive_p256_key(seed, "ak")
        self._ek_certificate = manufacturer.issue_ek_certificate(self._ek.public_key(), serial)
        self._ak_public_area = ecc_public_area(self._ak.public_key())
        self._ak_name = object_name(self._ak_public_area)
        self._ek_public_area = ecc_ek_public_area(self._ek.public_key())
        self._ak_qualified_name = ak_qualified_name(self._ek_public_area, self._ak_public_area)
        self._quote_layout = QuoteLayout(self._ak_qualified_name, firmware_version)
        self._bank = PcrBank()
        self._log: list[Event] = []
        self._log_view: tuple[Event, ...] | None = None
        self._clock_ms = 0
        self._reset_count = 0
        self._restart_count = 0

    @property
    def serial(self) -> str:
        """The TPM's serial number (named in its EK certificate)."""
        return self._serial

    @property
    def firmware_version(self) -> int:
        """The firmware version reported in quotes."""
        return self._firmware_version

    @property
    def ek_public(self) -> ec.EllipticCurvePublicKey:
        """The endorsement key's public half: the TPM's (and so the host's) identity."""
        return self._ek.public_key()

    @property
    def ek_certificate(self) -> x509.Certificate:
        """The EK certificate issued by the manufacturer CA."""
        return self._ek_certificate

    @property
    def ak_public(self) -> ec.EllipticCurvePublicKey:
        """The attestation key's public half (it verifies quotes)."""
        return self._ak.public_key()

    @cached_property
    def ek_public_der(self) -> bytes:
        """The EK's SubjectPublicKeyInfo (DER), as an agent sends it with every quote."""
        return public_der(self._ek.public_key())

    @cached_property
    def ak_public_der(self) -> bytes:
        """The AK's SubjectPublicKeyInfo (DER)."""
        return public_der(self._ak.public_key())

    @cached_property
    def ek_certificate_der(self) -> bytes:
        """The EK certificate (DER)."""
        return self._ek_certificate.public_bytes(serialization.Encoding.DER)

    @property
    def ak_public_area(self) -> bytes:
        """The AK's TPMT_PUBLIC bytes."""
        return self._ak_public_area

    @property
    def ak_name(self) -> bytes:
        """The AK's TPM Name (0x000B followed by SHA-256 of its TPMT_PUBLIC)."""
        return self._ak_name

    @property
    def ek_public_area(self) -> bytes:
        """The EK's TPMT_PUBLIC (template L-2 with this TPM's key); its Name is in every
        Qualified Name of a key under the EK."""
        return self._ek_public_area

    @property
    def ak_qualified_name(self) -> bytes:
        """The AK's Qualified Name under the EK (a quote's qualifiedSigner)."""
        return self._ak_qualified_name

    def activate_credential(self, credential: Credential) -> bytes:
        """TPM2_ActivateCredential with the AK as the key to activate and the EK as the key
        that protects the seed; ValueError if the credential was not made for them."""
        return activate_credential(self._ek, self._ak_name, credential)

    @property
    def event_log(self) -> tuple[Event, ...]:
        """The events measured since the last restart, in order (one tuple object until the
        log changes)."""
        if self._log_view is None:
            self._log_view = tuple(self._log)
        return self._log_view

    @property
    def pcrs(self) -> tuple[bytes, ...]:
        """The 24 current PCR values."""
        return self._bank.values

    @property
    def clock(self) -> int:
        """The TPM clock in milliseconds."""
        return self._clock_ms

    @property
    def reset_count(self) -> int:
        """How many times the TPM was reset (the host rebooted)."""
        return self._reset_count

    @property
    def restart_count(self) -> int:
        """TPM restarts since the last reset (always 0 here: every reboot is a reset)."""
        return self._restart_count

    def measure(self, pcr: int, event_type: int, data: bytes, description: str) -> Event:
        """Log an event for ``data`` and extend its digest into ``pcr`` (not EV_NO_ACTION)."""
        event = Event.create(pcr, event_type, data, description)
        if event.event_type != _NO_ACTION:
            self._bank.extend_event(event)
        self._log.append(event)
        self._log_view = None
        return event

    def measure_events(self, events: Iterable[Event]) -> None:
        """:meth:`measure` each of ``events`` in order (made by :meth:`Event.create`, as
        measuring their data makes them): a host's boot measures the same sixty-odd events
        as every host booting its image."""
        log, extend = self._log, self._bank.extend_event
        for event in events:
            if event.event_type != _NO_ACTION:
                extend(event)
            log.append(event)
        self._log_view = None

    def extend_unlogged(self, pcr: int, digest: bytes) -> bytes:
        """Extend ``pcr`` without logging it, as code that bypasses the event log would."""
        return self._bank.extend(pcr, digest)

    def set_clock(self, ms: int) -> None:
        """Advance the clock to ``ms`` (simulation time); an earlier time is ignored."""
        if ms < 0:
            raise ValueError("TPM clock cannot be negative")
        self._clock_ms = max(self._clock_ms, int(ms))

    def restart(self) -> None:
        """A host reboot (TPM Reset): PCRs to reset values, log cleared, resetCount + 1."""
        self._bank.reset()
        self._log.clear()
        self._log_view = None
        self._reset_count += 1
        self._restart_count = 0

    def quote(self, nonce: bytes, selection: Sequence[int]) -> Quote:
        """TPM2_Quote over the SHA-256 PCRs in ``selection`` with ``nonce`` as extraData.

        The TPMS_ATTEST is this TPM's :class:`~sim.domain.tpm_wire.QuoteLayout` with the
        nonce, clock, counts and pcrDigest spliced in (``marshal_attest`` of the same
        fields); the TPMT_SIGNATURE is read straight from the DER signature, which is made
        when it is first read (:meth:`Quote.signed_on_read`)."""
        if len(nonce) > MAX_NONCE_SIZE:
            raise ValueError(f"nonce longer than {MAX_NONCE_SIZE} bytes")
        indices = normalize_selection(selection)
        attest = self._quote_layout.attest(
            nonce if type(nonce) is bytes else bytes(nonce),
            self._clock_ms,
            self._reset_count,
            self._restart_count,
            indices,
            self._bank.composite_digest(indices),
        )
        return Quote.signed_on_read(attest, self._ak)
