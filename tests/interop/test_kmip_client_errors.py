"""The KMIP client's failures: a closed port, a garbage reply and a silent server each
raise the client's own error naming the server's address, within the client's timeout
(no PyKMIP needed: the servers here are plain sockets)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sim.domain.kmip import Operation
from sim.domain.ttlv import request, uid_payload
from sim.errors import ExternalToolError
from sim.interop.kmip_client import KmipClientError, RemoteKeyStore
from sim.interop.kms_calibration import _write_credentials


def _store(folder: Path, port: int, timeout: float = 0.5) -> RemoteKeyStore:
    _write_credentials(folder)
    creds = [folder / n for n in ("client.pem", "client.key", "ca.pem")]
    return RemoteKeyStore("127.0.0.1", port, *creds, check_hostname=False, timeout=timeout)


@contextmanager
def _server(reply: bytes | None) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts one connection and sends ``reply`` (None:
    says nothing) and keeps it open until the test ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            if reply is not None:
                conn.sendall(reply)
            done.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        listener.close()


def test_a_closed_port_names_the_address(tmp_path: Path) -> None:
    """Connecting to a port nobody listens on (before: a bare ConnectionRefusedError)."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(KmipClientError, match=rf"127\.0\.0\.1:{port}: cannot connect"):
        _store(tmp_path, port).__enter__()


def test_a_garbage_reply_names_the_address(tmp_path: Path) -> None:
    """A server that answers the TLS hello with junk (before: a bare SSL or ValueError)."""
    store = _store(tmp_path, 0)
    with _server(b"HTTP/1.0 200 OK\r\n\r\n" + bytes(range(256))) as port:
        store._address = ("127.0.0.1", port)
        with pytest.raises(KmipClientError, match=rf"127\.0\.0\.1:{port}: TLS failed"):
            store.__enter__()


def test_a_silent_server_times_out_naming_the_address(tmp_path: Path) -> None:
    """A server that accepts and says nothing (before: a bare TimeoutError after 30 s)."""
    with (
        _server(None) as port,
        pytest.raises(
            KmipClientError, match=rf"127\.0\.0\.1:{port}: no TLS handshake within 0\.5 s"
        ),
    ):
        _store(tmp_path, port).__enter__()


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (b"\x42\x00\x7b\x01\x00\x00\x00\x10" + bytes(16), "not a KMIP response"),
        (b"\x42\x00\x7b\x01\xff\xff\xff\xff", "not a KMIP response"),
        (None, "no answer within 0.5 s"),
        (b"\x42\x00", "closed the connection"),
    ],
    ids=["garbage-ttlv", "4-GiB-length", "silent", "closed"],
)
def test_replies_after_the_handshake_name_the_address(
    tmp_path: Path, reply: bytes | None, words: str
) -> None:
    """Once connected, a reply that is not KMIP, one claiming 4 GiB, silence and a closed
    connection each raise the client's error (an ExternalToolError) naming the address.
    The TLS layer is replaced by a socket pair: the exchange is the same."""
    store = _store(tmp_path, 5696)
    ours, theirs = socket.socketpair()
    ours.settimeout(0.5)
    store._sock = ours  # type: ignore[assignment]
    if reply is not None:
        theirs.sendall(reply)
        if words == "closed the connection":
            theirs.shutdown(socket.SHUT_WR)  # says no more; our request still goes out
    try:
        with pytest.raises(ExternalToolError) as info:
            store._exchange(Operation.GET, request(Operation.GET, uid_payload("1")))
    finally:
        ours.close()
        theirs.close()
    assert isinstance(info.value, KmipClientError)
    assert "KMIP server 127.0.0.1:5696" in str(info.value) and words in str(info.value)
