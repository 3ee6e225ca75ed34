"""A KMIP 1.1 client on the project's own TTLV codec, for talking to a real KMIP server.

``RemoteKeyStore`` offers the Key Provider Service's side of the simulated
:class:`~sim.domain.kmip.KeyStore` (create, activate, get), but each call is a real KMIP
request over TLS 1.2 with a client certificate (no passwords, as vSphere requires) to a
server such as PyKMIP's, and each answer is read back into the store's ``Response``. The
tests point it at PyKMIP's server; the simulation itself keeps the in-memory store.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from types import TracebackType

from sim.domain.kmip import Operation, Response
from sim.domain.ttlv import create_payload, message_length, parse_response, request, uid_payload
from sim.errors import ExternalToolError


class RemoteKeyStore:
    """One TLS connection to a KMIP server, authenticated by a client certificate."""

    def __init__(
        self,
        host: str,
        port: int,
        cert: Path,
        key: Path,
        ca: Path,
        check_hostname: bool = True,
    ) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # The server is always authenticated by its chain to ``ca``; a server certificate
        # without a subject alternative name for ``host`` needs check_hostname=False.
        self._context.check_hostname = check_hostname
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(cert), str(key))
        self._context.load_verify_locations(str(ca))
        self._address = (host, port)
        self._timeout = 30.0
        self._sock: ssl.SSLSocket | None = None

    def __enter__(self) -> RemoteKeyStore:
        raw = socket.create_connection(self._address, timeout=self._timeout)
        try:
            self._sock = self._context.wrap_socket(raw, server_hostname=self._address[0])
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise ExternalToolError(f"TLS to the KMIP server failed: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _exchange(self, operation: Operation, message: bytes) -> Response:
        if self._sock is None:
            raise ExternalToolError("not connected to the KMIP server")
        self._sock.sendall(message)
        header = self._read(8)
        answer = header + self._read(message_length(header) - 8)
        return parse_response(answer, operation)

    def _read(self, n: int) -> bytes:
        assert self._sock is not None
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ExternalToolError("the KMIP server closed the connection")
            data += chunk
        return data

    def create(self, name: str) -> Response:
        """Create an AES-256 key named ``name`` (Pre-Active, as KMIP creates it)."""
        return self._exchange(Operation.CREATE, request(Operation.CREATE, create_payload(name)))

    def activate(self, uid: str) -> Response:
        """Activate the key ``uid``."""
        return self._exchange(Operation.ACTIVATE, request(Operation.ACTIVATE, uid_payload(uid)))

    def get(self, uid: str) -> Response:
        """Get the key ``uid`` (its material in ``key_material``)."""
        return self._exchange(Operation.GET, request(Operation.GET, uid_payload(uid)))
