"""KMIP 1.1 over the project's own TTLV codec: the specification's encoding examples,
PyKMIP's decoder reads our requests, and a real PyKMIP server creates, activates and hands
out a key to our client (the same key PyKMIP's own client gets)."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

from sim.domain.kmip import Operation, ResultReason
from sim.domain.ttlv import (
    Item,
    Tag,
    Type,
    create_payload,
    decode,
    encode,
    message_length,
    request,
    uid_payload,
)
from sim.interop.kmip_client import RemoteKeyStore


def _require_pykmip() -> None:
    if importlib.util.find_spec("kmip") is not None:
        return
    msg = "needs PyKMIP (pip install 'vtasim[calibrate]')"
    if os.environ.get("VTASIM_REQUIRE_TPM_TOOLS") == "1":
        pytest.fail(msg + " but VTASIM_REQUIRE_TPM_TOOLS=1", pytrace=False)
    pytest.skip(msg)


def test_encoding_matches_the_specification_examples() -> None:
    """KMIP 1.1 §9.1.2: an Integer 8 and the Text String "Hello World" under tag 420020."""
    integer = Item(0x420020, Type.INTEGER, 8)
    assert encode(integer).hex() == "42002002000000040000000800000000"
    text = Item(0x420020, Type.TEXT_STRING, "Hello World")
    assert encode(text).hex() == "420020070000000b48656c6c6f20576f726c640000000000"
    assert decode(encode(text)) == text and decode(encode(integer)) == integer


def test_round_trip_and_strict_decoding() -> None:
    """A request decodes back to its items; truncation, bad padding and trailing bytes are
    refused."""
    data = request(Operation.CREATE, create_payload("vm-0001-key"))
    message = decode(data)
    assert message.tag == Tag.REQUEST_MESSAGE and encode(message) == data
    assert message_length(data[:8]) == len(data)
    name = message.find(Tag.NAME_VALUE)
    assert name is not None and name.value == "vm-0001-key"
    for bad in (data[:-8], data + bytes(8), data[:-1] + b"\x01"):
        with pytest.raises(ValueError):
            decode(bad)


def test_pykmip_decodes_our_requests() -> None:
    """PyKMIP's own message classes read our Create and Get requests."""
    _require_pykmip()
    from kmip.core import enums, utils
    from kmip.core.messages import messages

    for op, payload, code in (
        (Operation.CREATE, create_payload("k"), enums.Operation.CREATE),
        (Operation.GET, uid_payload("42"), enums.Operation.GET),
    ):
        parsed = messages.RequestMessage()
        parsed.read(utils.BytearrayStream(request(op, payload)))
        assert parsed.request_header.protocol_version.major == 1
        assert parsed.request_header.protocol_version.minor == 1
        assert parsed.batch_items[0].operation.value == code


@pytest.mark.slow
def test_our_client_gets_a_key_from_pykmip_server() -> None:
    """Create, Activate, Get against PyKMIP's server over TLS with a client certificate:
    the 256-bit key equals what PyKMIP's client gets; an unknown id is Item Not Found."""
    _require_pykmip()
    from kmip.pie.client import ProxyKmipClient

    from sim.interop.kms_calibration import pykmip_server

    with tempfile.TemporaryDirectory(prefix="vtasim-kmip-") as tmp:
        folder = Path(tmp)
        with pykmip_server(folder, lifetime=120) as port:
            creds = [folder / n for n in ("client.pem", "client.key", "ca.pem")]
            with RemoteKeyStore("127.0.0.1", port, *creds, check_hostname=False) as store:
                created = store.create("vm-0001-key")
                assert created.ok and created.unique_identifier
                uid = created.unique_identifier
                assert store.activate(uid).ok
                got = store.get(uid)
                assert got.ok and got.key_material is not None and len(got.key_material) == 32
                missing = store.get("999999")
                assert not missing.ok and missing.reason is ResultReason.ITEM_NOT_FOUND
            theirs = ProxyKmipClient(
                hostname="127.0.0.1",
                port=port,
                cert=str(creds[0]),
                key=str(creds[1]),
                ca=str(creds[2]),
                ssl_version="PROTOCOL_TLSv1_2",
                config_file=str(folder / "client.conf"),
            )
            with theirs:
                assert theirs.get(uid).value == got.key_material
