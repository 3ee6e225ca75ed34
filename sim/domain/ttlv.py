"""The KMIP 1.1 wire encoding (TTLV, OASIS KMIP Specification 1.1 §9.1) and the messages
the Key Provider Service sends: Create (an AES-256 key), Activate and Get.

Every item is Tag (3 bytes), Type (1), Length (4, big-endian) and Value, padded with zeros
to a multiple of 8 bytes; a Structure's value is its items in order. ``encode``/``decode``
handle the types these messages use (Structure, Integer, Long Integer, Enumeration,
Boolean, Text String, Byte String, Date-Time, Interval) and are strict: a wrong length,
non-zero padding, an unknown type or trailing bytes raise ``ValueError``.

``request`` builds a one-item RequestMessage of protocol version 1.1; ``parse_response``
reads a ResponseMessage into the store's own :class:`~sim.domain.kmip.Response`, so a real
KMIP server's answer reads like the simulated store's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from sim.domain.kmip import Operation, Response, ResultReason, ResultStatus


class Tag(IntEnum):
    """The KMIP tags these messages use (§9.1.3.1)."""

    ATTRIBUTE = 0x420008
    ATTRIBUTE_NAME = 0x42000A
    ATTRIBUTE_VALUE = 0x42000B
    BATCH_COUNT = 0x42000D
    BATCH_ITEM = 0x42000F
    CRYPTOGRAPHIC_ALGORITHM = 0x420028
    CRYPTOGRAPHIC_LENGTH = 0x42002A
    KEY_BLOCK = 0x420040
    KEY_FORMAT_TYPE = 0x420042
    KEY_MATERIAL = 0x420043
    KEY_VALUE = 0x420045
    NAME = 0x420053
    NAME_TYPE = 0x420054
    NAME_VALUE = 0x420055
    OBJECT_TYPE = 0x420057
    OPERATION = 0x42005C
    PROTOCOL_VERSION = 0x420069
    PROTOCOL_VERSION_MAJOR = 0x42006A
    PROTOCOL_VERSION_MINOR = 0x42006B
    REQUEST_HEADER = 0x420077
    REQUEST_MESSAGE = 0x420078
    REQUEST_PAYLOAD = 0x420079
    RESPONSE_HEADER = 0x42007A
    RESPONSE_MESSAGE = 0x42007B
    RESPONSE_PAYLOAD = 0x42007C
    RESULT_MESSAGE = 0x42007D
    RESULT_REASON = 0x42007E
    RESULT_STATUS = 0x42007F
    SYMMETRIC_KEY = 0x42008F
    TEMPLATE_ATTRIBUTE = 0x420091
    UNIQUE_IDENTIFIER = 0x420094


class Type(IntEnum):
    """TTLV item types (§9.1.1.2)."""

    STRUCTURE = 0x01
    INTEGER = 0x02
    LONG_INTEGER = 0x03
    ENUMERATION = 0x05
    BOOLEAN = 0x06
    TEXT_STRING = 0x07
    BYTE_STRING = 0x08
    DATE_TIME = 0x09
    INTERVAL = 0x0A


OPERATION_CODES = {Operation.CREATE: 0x01, Operation.GET: 0x0A, Operation.ACTIVATE: 0x12}
OBJECT_TYPE_SYMMETRIC_KEY = 0x02
ALGORITHM_AES = 0x03
NAME_TYPE_TEXT = 0x01
USAGE_ENCRYPT_DECRYPT = 0x04 | 0x08
STATUS = {0: ResultStatus.SUCCESS, 1: ResultStatus.OPERATION_FAILED}
REASONS = {
    0x01: ResultReason.ITEM_NOT_FOUND,
    0x03: ResultReason.AUTHENTICATION_NOT_SUCCESSFUL,
    0x06: ResultReason.MISSING_DATA,
    0x07: ResultReason.INVALID_FIELD,
    0x0A: ResultReason.CRYPTOGRAPHIC_FAILURE,
    0x0B: ResultReason.ILLEGAL_OPERATION,
    0x0C: ResultReason.PERMISSION_DENIED,
}
"""KMIP 1.1 Result Reason codes the store knows; others read as Invalid Field."""

Value = int | bool | str | bytes | list["Item"]


@dataclass(frozen=True)
class Item:
    """One TTLV item; a Structure's value is a list of items."""

    tag: int
    type: Type
    value: Value

    def find(self, tag: int) -> Item | None:
        """The first item with ``tag`` in this structure's tree (depth first), if any."""
        if not isinstance(self.value, list):
            return None
        for child in self.value:
            if child.tag == tag:
                return child
            found = child.find(tag)
            if found is not None:
                return found
        return None


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 8)


def encode(item: Item) -> bytes:
    """The TTLV bytes of ``item``."""
    v = item.value
    if item.type is Type.STRUCTURE:
        assert isinstance(v, list)
        body = b"".join(encode(child) for child in v)
    elif item.type in (Type.INTEGER, Type.ENUMERATION, Type.INTERVAL):
        assert isinstance(v, int)
        body = struct.pack(">i" if item.type is Type.INTEGER else ">I", v)
    elif item.type in (Type.LONG_INTEGER, Type.DATE_TIME, Type.BOOLEAN):
        assert isinstance(v, int)
        body = struct.pack(">q", int(v))
    elif item.type is Type.TEXT_STRING:
        assert isinstance(v, str)
        body = v.encode("utf-8")
    else:
        assert isinstance(v, bytes)
        body = v
    head = item.tag.to_bytes(3, "big") + bytes([item.type]) + struct.pack(">I", len(body))
    return head + _pad(body)


def _decode_at(data: bytes, pos: int) -> tuple[Item, int]:
    if len(data) - pos < 8:
        raise ValueError(f"TTLV: truncated header at byte {pos}")
    tag = int.from_bytes(data[pos : pos + 3], "big")
    try:
        kind = Type(data[pos + 3])
    except ValueError as exc:
        raise ValueError(f"TTLV: unknown type 0x{data[pos + 3]:02x}") from exc
    (length,) = struct.unpack_from(">I", data, pos + 4)
    start, end = pos + 8, pos + 8 + length
    padded = end + (-length % 8)
    if padded > len(data) or any(data[end:padded]):
        raise ValueError(f"TTLV: item at byte {pos} runs past the end or has bad padding")
    body = data[start:end]
    value: Value
    if kind is Type.STRUCTURE:
        children, inner = [], start
        while inner < end:
            child, inner = _decode_at(data[:end], inner)
            children.append(child)
        value = children
    elif kind in (Type.INTEGER, Type.ENUMERATION, Type.INTERVAL):
        if length != 4:
            raise ValueError("TTLV: 4-byte value expected")
        value = struct.unpack(">i" if kind is Type.INTEGER else ">I", body)[0]
    elif kind in (Type.LONG_INTEGER, Type.DATE_TIME, Type.BOOLEAN):
        if length != 8:
            raise ValueError("TTLV: 8-byte value expected")
        value = struct.unpack(">q", body)[0]
        if kind is Type.BOOLEAN:
            value = bool(value)
    elif kind is Type.TEXT_STRING:
        value = body.decode("utf-8")
    else:
        value = body
    return Item(tag, kind, value), padded


def decode(data: bytes) -> Item:
    """The one item ``data`` holds; ValueError if malformed or followed by bytes."""
    item, end = _decode_at(data, 0)
    if end != len(data):
        raise ValueError("TTLV: trailing bytes")
    return item


def message_length(header: bytes) -> int:
    """The total length of a message from its first 8 bytes (header plus padded value)."""
    if len(header) != 8:
        raise ValueError("TTLV: a header is 8 bytes")
    (length,) = struct.unpack_from(">I", header, 4)
    return int(8 + length + (-length % 8))


def _s(tag: Tag, *items: Item) -> Item:
    return Item(tag, Type.STRUCTURE, list(items))


def _e(tag: Tag, value: int) -> Item:
    return Item(tag, Type.ENUMERATION, value)


def _attribute(name: str, value: Item) -> Item:
    return _s(Tag.ATTRIBUTE, Item(Tag.ATTRIBUTE_NAME, Type.TEXT_STRING, name), value)


def create_payload(name: str) -> list[Item]:
    """Create: a symmetric AES-256 key for encryption and decryption, named ``name``."""
    attrs = [
        _attribute("Cryptographic Algorithm", _e(Tag.ATTRIBUTE_VALUE, ALGORITHM_AES)),
        _attribute("Cryptographic Length", Item(Tag.ATTRIBUTE_VALUE, Type.INTEGER, 256)),
        _attribute(
            "Cryptographic Usage Mask",
            Item(Tag.ATTRIBUTE_VALUE, Type.INTEGER, USAGE_ENCRYPT_DECRYPT),
        ),
        _attribute(
            "Name",
            _s(
                Tag.ATTRIBUTE_VALUE,
                Item(Tag.NAME_VALUE, Type.TEXT_STRING, name),
                _e(Tag.NAME_TYPE, NAME_TYPE_TEXT),
            ),
        ),
    ]
    return [_e(Tag.OBJECT_TYPE, OBJECT_TYPE_SYMMETRIC_KEY), _s(Tag.TEMPLATE_ATTRIBUTE, *attrs)]


def uid_payload(uid: str) -> list[Item]:
    """The payload of Activate and Get: the object's Unique Identifier."""
    return [Item(Tag.UNIQUE_IDENTIFIER, Type.TEXT_STRING, uid)]


def request(operation: Operation, payload: list[Item]) -> bytes:
    """A KMIP 1.1 RequestMessage with one batch item."""
    version = _s(
        Tag.PROTOCOL_VERSION,
        Item(Tag.PROTOCOL_VERSION_MAJOR, Type.INTEGER, 1),
        Item(Tag.PROTOCOL_VERSION_MINOR, Type.INTEGER, 1),
    )
    header = _s(Tag.REQUEST_HEADER, version, Item(Tag.BATCH_COUNT, Type.INTEGER, 1))
    batch = _s(
        Tag.BATCH_ITEM,
        _e(Tag.OPERATION, OPERATION_CODES[operation]),
        _s(Tag.REQUEST_PAYLOAD, *payload),
    )
    return encode(_s(Tag.REQUEST_MESSAGE, header, batch))


def parse_response(data: bytes, operation: Operation) -> Response:
    """The store-shaped Response of a one-item ResponseMessage; ValueError if malformed or
    if it answers another operation."""
    message = decode(data)
    if message.tag != Tag.RESPONSE_MESSAGE:
        raise ValueError("not a KMIP ResponseMessage")
    batch = message.find(Tag.BATCH_ITEM)
    status = batch.find(Tag.RESULT_STATUS) if batch is not None else None
    if batch is None or status is None or not isinstance(status.value, int):
        raise ValueError("KMIP response without a batch item and result status")
    op = batch.find(Tag.OPERATION)
    if op is not None and op.value != OPERATION_CODES[operation]:
        raise ValueError("KMIP response answers another operation")
    reason = batch.find(Tag.RESULT_REASON)
    text = batch.find(Tag.RESULT_MESSAGE)
    uid = batch.find(Tag.UNIQUE_IDENTIFIER)
    material = batch.find(Tag.KEY_MATERIAL)
    reason_code = reason.value if reason is not None and isinstance(reason.value, int) else None
    key = material.value if material is not None and isinstance(material.value, bytes) else None
    return Response(
        operation=operation,
        status=STATUS.get(status.value, ResultStatus.OPERATION_FAILED),
        reason=None
        if reason_code is None
        else REASONS.get(reason_code, ResultReason.INVALID_FIELD),
        message=str(text.value) if text is not None else "",
        unique_identifier=str(uid.value) if uid is not None else None,
        key_material=key,
    )
