"""KMIP 1.1 key store semantics for AES-256 keys (OASIS KMIP Specification 1.1).

The Key Provider Service of a vSphere Trust Authority cluster is the only client of the KMS.
This module models what such a server does with symmetric keys: the Create, Activate, Get,
Locate, Revoke and Destroy operations, the object life cycle of KMIP 1.1 §3.22 (State) and
its dates, certificate-authenticated clients, and per-operation counters. The wire
encoding (TTLV) is in :mod:`sim.domain.ttlv`; the store has no time of its own: every call
takes the simulation time ``now``.

Rules followed, and the choices where KMIP 1.1 leaves room:

* Life cycle (§3.22). Only these transitions exist: creation → Pre-Active (→ Active when
  activated at creation); Pre-Active → Active (Activate); Pre-Active, Active, Deactivated →
  Compromised (Revoke with Key/CA Compromise); Active → Deactivated (Revoke with any other
  reason); Pre-Active, Deactivated → Destroyed and Compromised → Destroyed Compromised
  (Destroy); Destroyed → Destroyed Compromised (Revoke with compromise). An Active object
  cannot be destroyed: it must be revoked first.
* A request that the life cycle does not allow fails with Illegal Operation. KMIP 1.1 has no
  dedicated result reason for it (Wrong Key Lifecycle State came with KMIP 2.0); some
  servers answer Permission Denied instead, which this store reserves for access control.
* Get (§3.22, §4.11). An Active key is returned for any use. Deactivated and Compromised
  keys "SHALL NOT be used for applying cryptographic protection" but MAY be used to process
  protected data "under extraordinary circumstances and when special permission is
  granted": this store returns them only when the request says ``for_decryption=True``.
  A Pre-Active key is not yet usable for any purpose (Illegal Operation). After Destroy the
  key material no longer exists, only metadata (§4.21 allows the server to keep it), so Get
  of a destroyed object fails with Item Not Found, while ``state`` and ``attributes`` still
  report it and Revoke can still mark it compromised.
* Clients are authenticated by their TLS client certificate (as in the TLS authentication
  suites of the KMIP profiles; no passwords); the identity is the SHA-256 fingerprint of
  the DER certificate. Unknown clients get Authentication Not Successful. Each client
  belongs to a group given when it is authorised; objects are visible only to clients of
  the creating client's group (Permission Denied otherwise), and Locate lists only visible
  objects.
* Unique identifiers are sequential decimal strings, so one seed gives the same ids; key
  material comes from the injected random source.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from cryptography import x509


class ObjectState(enum.Enum):
    """KMIP State enumeration values (names as in the specification)."""

    PRE_ACTIVE = "Pre-Active"
    ACTIVE = "Active"
    DEACTIVATED = "Deactivated"
    COMPROMISED = "Compromised"
    DESTROYED = "Destroyed"
    DESTROYED_COMPROMISED = "Destroyed Compromised"


class Operation(enum.Enum):
    """KMIP Operation values for the operations this store implements."""

    CREATE = "Create"
    LOCATE = "Locate"
    GET = "Get"
    ACTIVATE = "Activate"
    REVOKE = "Revoke"
    DESTROY = "Destroy"


class ResultStatus(enum.Enum):
    """KMIP Result Status values this store returns."""

    SUCCESS = "Success"
    OPERATION_FAILED = "Operation Failed"


class ResultReason(enum.Enum):
    """KMIP 1.1 Result Reason values this store can return."""

    ITEM_NOT_FOUND = "Item Not Found"
    AUTHENTICATION_NOT_SUCCESSFUL = "Authentication Not Successful"
    MISSING_DATA = "Missing Data"
    INVALID_FIELD = "Invalid Field"
    CRYPTOGRAPHIC_FAILURE = "Cryptographic Failure"
    ILLEGAL_OPERATION = "Illegal Operation"
    PERMISSION_DENIED = "Permission Denied"


class RevocationReason(enum.Enum):
    """KMIP Revocation Reason Code values."""

    UNSPECIFIED = "Unspecified"
    KEY_COMPROMISE = "Key Compromise"
    CA_COMPROMISE = "CA Compromise"
    AFFILIATION_CHANGED = "Affiliation Changed"
    SUPERSEDED = "Superseded"
    CESSATION_OF_OPERATION = "Cessation of Operation"
    PRIVILEGE_WITHDRAWN = "Privilege Withdrawn"

    @property
    def is_compromise(self) -> bool:
        """True for the reasons that move an object to Compromised."""
        return self in (RevocationReason.KEY_COMPROMISE, RevocationReason.CA_COMPROMISE)


CRYPTOGRAPHIC_ALGORITHM = "AES"
CRYPTOGRAPHIC_LENGTH = 256
USAGE_ENCRYPT = 0x04
USAGE_DECRYPT = 0x08
KEY_BYTES = CRYPTOGRAPHIC_LENGTH // 8

DESTROYABLE: Mapping[ObjectState, ObjectState] = MappingProxyType(
    {
        ObjectState.PRE_ACTIVE: ObjectState.DESTROYED,
        ObjectState.DEACTIVATED: ObjectState.DESTROYED,
        ObjectState.COMPROMISED: ObjectState.DESTROYED_COMPROMISED,
    }
)
"""The state Destroy leads to, per state that may be destroyed."""
COMPROMISABLE: Mapping[ObjectState, ObjectState] = MappingProxyType(
    {
        ObjectState.PRE_ACTIVE: ObjectState.COMPROMISED,
        ObjectState.ACTIVE: ObjectState.COMPROMISED,
        ObjectState.DEACTIVATED: ObjectState.COMPROMISED,
        ObjectState.DESTROYED: ObjectState.DESTROYED_COMPROMISED,
    }
)
"""The state a compromise revocation leads to, per state that allows it."""
ALLOWED_TRANSITIONS: frozenset[tuple[ObjectState, ObjectState]] = frozenset(
    {(ObjectState.PRE_ACTIVE, ObjectState.ACTIVE), (ObjectState.ACTIVE, ObjectState.DEACTIVATED)}
    | set(DESTROYABLE.items())
    | set(COMPROMISABLE.items())
)
"""Every (from, to) state change KMIP 1.1 §3.22 allows."""


@dataclass(frozen=True)
class Response:
    """The outcome of one operation, shaped like a KMIP batch item response."""

    operation: Operation
    status: ResultStatus
    reason: ResultReason | None
    message: str
    unique_identifier: str | None = None
    key_material: bytes | None = field(default=None, repr=False)
    identifiers: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the operation succeeded."""
        return self.status is ResultStatus.SUCCESS


@dataclass(frozen=True)
class KeyAttributes:
    """The attributes of one managed symmetric key; dates are simulation seconds."""

    unique_identifier: str
    name: str
    owner_group: str
    state: ObjectState
    initial_date: float
    activation_date: float | None = None
    deactivation_date: float | None = None
    compromise_date: float | None = None
    destroy_date: float | None = None
    compromise_occurrence_date: float | None = None
    revocation_reason: RevocationReason | None = None
    cryptographic_algorithm: str = CRYPTOGRAPHIC_ALGORITHM
    cryptographic_length: int = CRYPTOGRAPHIC_LENGTH
    cryptographic_usage_mask: int = USAGE_ENCRYPT | USAGE_DECRYPT


def client_identity(cert_der: bytes) -> str:
    """A client's identity: the hex SHA-256 fingerprint of its DER certificate."""
    return hashlib.sha256(cert_der).hexdigest()


class KeyStore:
    """An in-memory KMIP server holding AES-256 keys for certificate-authenticated clients.

    ``random_bytes(n)`` supplies key material. ``counts`` and ``failures`` count requests
    per operation (every request, and the failed ones) for the simulator's metrics.
    """

    def __init__(self, random_bytes: Callable[[int], bytes]) -> None:
        self._random_bytes = random_bytes
        self._clients: dict[str, str] = {}
        self._objects: dict[str, KeyAttributes] = {}
        self._material: dict[str, bytes] = {}
        self._next_id = 1
        self._counts = dict.fromkeys(Operation, 0)
        self._failures = dict.fromkeys(Operation, 0)

    @property
    def counts(self) -> Mapping[Operation, int]:
        """Requests received per operation (a live, read-only view)."""
        return MappingProxyType(self._counts)

    @property
    def failures(self) -> Mapping[Operation, int]:
        """Requests per operation that did not succeed (a live, read-only view)."""
        return MappingProxyType(self._failures)

    def authorize_client(self, cert_der: bytes, group: str) -> str:
        """Trust the client presenting this X.509 certificate (DER) as a member of ``group``;
        returns its identity. Raises ValueError if ``cert_der`` is not a certificate."""
        if not group:
            raise ValueError("a client group must be non-empty")
        x509.load_der_x509_certificate(cert_der)
        identity = client_identity(cert_der)
        self._clients[identity] = group
        return identity

    def deauthorize_client(self, cert_der: bytes) -> bool:
        """Stop trusting a client certificate; True if it was trusted."""
        return self._clients.pop(client_identity(cert_der), None) is not None

    def state(self, uid: str) -> ObjectState | None:
        """The state of object ``uid`` (None if no such object); no access control."""
        attrs = self._objects.get(uid)
        return attrs.state if attrs is not None else None

    def attributes(self, uid: str) -> KeyAttributes | None:
        """All attributes of object ``uid`` (None if no such object); no access control."""
        return self._objects.get(uid)

    def _fail(
        self, op: Operation, reason: ResultReason, message: str, uid: str | None = None
    ) -> Response:
        self._failures[op] += 1
        return Response(op, ResultStatus.OPERATION_FAILED, reason, message, uid)

    def _authenticate(self, op: Operation, client: bytes) -> str | Response:
        """Count the request and return the client's group, or the failure response."""
        self._counts[op] += 1
        group = self._clients.get(client_identity(client))
        if group is None:
            return self._fail(
                op, ResultReason.AUTHENTICATION_NOT_SUCCESSFUL, "client certificate not trusted"
            )
        return group

    def _access(self, op: Operation, client: bytes, uid: str) -> KeyAttributes | Response:
        """Authenticate, find ``uid`` and check the client's group may use it."""
        group = self._authenticate(op, client)
        if isinstance(group, Response):
            return group
        attrs = self._objects.get(uid)
        if attrs is None:
            return self._fail(op, ResultReason.ITEM_NOT_FOUND, "no such object", uid)
        if attrs.owner_group != group:
            return self._fail(
                op, ResultReason.PERMISSION_DENIED, "object belongs to another group", uid
            )
        return attrs

    def _succeed(
        self, op: Operation, message: str, attrs: KeyAttributes, key: bytes | None = None
    ) -> Response:
        self._objects[attrs.unique_identifier] = attrs
        return Response(
            op, ResultStatus.SUCCESS, None, message, attrs.unique_identifier, key_material=key
        )

    def create(self, client: bytes, name: str, now: float, activate: bool = False) -> Response:
        """Create an AES-256 key (usage encrypt|decrypt), Pre-Active or, if ``activate``,
        Active with its Activation Date set to ``now``."""
        op = Operation.CREATE
        group = self._authenticate(op, client)
        if isinstance(group, Response):
            return group
        if not isinstance(name, str):
            return self._fail(op, ResultReason.INVALID_FIELD, "name must be a string")
        if not name:
            return self._fail(op, ResultReason.MISSING_DATA, "a Name attribute is required")
        material = self._random_bytes(KEY_BYTES)
        if not isinstance(material, bytes) or len(material) != KEY_BYTES:
            return self._fail(
                op, ResultReason.CRYPTOGRAPHIC_FAILURE, "random source gave no 256-bit key"
            )
        uid = str(self._next_id)
        self._next_id += 1
        self._material[uid] = material
        attrs = KeyAttributes(
            unique_identifier=uid,
            name=name,
            owner_group=group,
            state=ObjectState.ACTIVE if activate else ObjectState.PRE_ACTIVE,
            initial_date=now,
            activation_date=now if activate else None,
        )
        return self._succeed(op, "created", attrs)

    def activate(self, client: bytes, uid: str, now: float) -> Response:
        """Move a Pre-Active key to Active and record its Activation Date."""
        op = Operation.ACTIVATE
        attrs = self._access(op, client, uid)
        if isinstance(attrs, Response):
            return attrs
        if attrs.state is not ObjectState.PRE_ACTIVE:
            return self._fail(
                op, ResultReason.ILLEGAL_OPERATION, f"object is {attrs.state.value}", uid
            )
        return self._succeed(
            op, "activated", replace(attrs, state=ObjectState.ACTIVE, activation_date=now)
        )

    def get(self, client: bytes, uid: str, now: float, for_decryption: bool = False) -> Response:
        """Return the key material: Active keys always; Deactivated and Compromised keys
        only ``for_decryption``; never Pre-Active or destroyed keys (see module notes)."""
        op = Operation.GET
        attrs = self._access(op, client, uid)
        if isinstance(attrs, Response):
            return attrs
        state = attrs.state
        if state in (ObjectState.DESTROYED, ObjectState.DESTROYED_COMPROMISED):
            return self._fail(op, ResultReason.ITEM_NOT_FOUND, "key material destroyed", uid)
        if state is ObjectState.PRE_ACTIVE or (
            state is not ObjectState.ACTIVE and not for_decryption
        ):
            return self._fail(op, ResultReason.ILLEGAL_OPERATION, f"object is {state.value}", uid)
        return self._succeed(op, "key returned", attrs, self._material[uid])

    def locate(self, client: bytes, name: str, state: ObjectState | None = None) -> Response:
        """Identifiers of the objects named ``name`` visible to the client (optionally only
        those in ``state``), in creation order; none found is still a success."""
        op = Operation.LOCATE
        group = self._authenticate(op, client)
        if isinstance(group, Response):
            return group
        found = tuple(
            uid
            for uid, attrs in self._objects.items()
            if attrs.name == name
            and attrs.owner_group == group
            and (state is None or attrs.state is state)
        )
        return Response(op, ResultStatus.SUCCESS, None, f"{len(found)} found", identifiers=found)

    def revoke(
        self,
        client: bytes,
        uid: str,
        reason: RevocationReason,
        now: float,
        compromise_occurrence_date: float | None = None,
    ) -> Response:
        """Revoke a key: a compromise reason makes it Compromised (or Destroyed Compromised)
        and records the Compromise Date (and Occurrence Date, default ``now``); any other
        reason deactivates an Active key and records its Deactivation Date."""
        op = Operation.REVOKE
        attrs = self._access(op, client, uid)
        if isinstance(attrs, Response):
            return attrs
        if not isinstance(reason, RevocationReason):
            return self._fail(op, ResultReason.INVALID_FIELD, "unknown revocation reason", uid)
        if reason.is_compromise:
            target = COMPROMISABLE.get(attrs.state)
            if target is None:
                return self._fail(
                    op, ResultReason.ILLEGAL_OPERATION, f"object is {attrs.state.value}", uid
                )
            occurred = now if compromise_occurrence_date is None else compromise_occurrence_date
            changed = replace(
                attrs,
                state=target,
                compromise_date=now,
                compromise_occurrence_date=occurred,
                revocation_reason=reason,
            )
            return self._succeed(op, f"revoked: {target.value}", changed)
        if attrs.state is not ObjectState.ACTIVE:
            return self._fail(
                op, ResultReason.ILLEGAL_OPERATION, f"object is {attrs.state.value}", uid
            )
        changed = replace(
            attrs, state=ObjectState.DEACTIVATED, deactivation_date=now, revocation_reason=reason
        )
        return self._succeed(op, "revoked: Deactivated", changed)

    def destroy(self, client: bytes, uid: str, now: float) -> Response:
        """Destroy the key material of a Pre-Active, Deactivated or Compromised key and
        record its Destroy Date; Active keys must be revoked first."""
        op = Operation.DESTROY
        attrs = self._access(op, client, uid)
        if isinstance(attrs, Response):
            return attrs
        target = DESTROYABLE.get(attrs.state)
        if target is None:
            hint = "; revoke it first" if attrs.state is ObjectState.ACTIVE else ""
            return self._fail(
                op, ResultReason.ILLEGAL_OPERATION, f"object is {attrs.state.value}{hint}", uid
            )
        del self._material[uid]
        return self._succeed(
            op, f"destroyed: {target.value}", replace(attrs, state=target, destroy_date=now)
        )
