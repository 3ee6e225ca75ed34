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


class KmipClientError(ExternalToolError):
    """The KMIP server at ``address`` could not be reached, did not answer in time, or
    answered with something that is not a KMIP response."""

    def __init__(self, address: tuple[str, int], problem: str) -> None:
        self.address = address
        super().__init__(f"KMIP server {address[0]}:{address[1]}: {problem}")


MAX_RESPONSE_BYTES = 1 << 20
"""Largest KMIP response read (a Get of one key is a few hundred bytes)."""


class RemoteKeyStore:
    """One TLS connection to a KMIP server, authenticated by a client certificate. Every
    failure to connect, a silent server (each connect, send and receive waits at most
    ``timeout`` seconds) and a reply that is not KMIP raise :class:`KmipClientError`
    naming the server's address."""

    def __init__(
        self,
        host: str,
        port: int,
        cert: Path,
        key: Path,
        ca: Path,
        check_hostname: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        # The server is always authenticated by its chain to ``ca``; a server certificate
        # without a subject alternative name for ``host`` needs check_hostname=False.
        self._context.check_hostname = check_hostname
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._context.load_cert_chain(str(cert), str(key))
        self._context.load_verify_locations(str(ca))
        self._address = (host, port)
        self._timeout = timeout
        self._sock: ssl.SSLSocket | None = None

    def _error(self, problem: str) -> KmipClientError:
        return KmipClientError(self._address, problem)

    def __enter__(self) -> RemoteKeyStore:
        try:
            raw = socket.create_connection(self._address, timeout=self._timeout)
        except TimeoutError:
            raise self._error(f"no connection within {self._timeout:g} s") from None
        except OSError as exc:
            raise self._error(f"cannot connect: {exc.strerror or exc}") from None
        try:
            self._sock = self._context.wrap_socket(raw, server_hostname=self._address[0])
        except TimeoutError:
            raw.close()
            raise self._error(f"no TLS handshake within {self._timeout:g} s") from None
        except (ssl.SSLError, OSError) as exc:
            raw.close()
            raise self._error(f"TLS failed: {exc}") from None
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
            raise self._error("not connected")
        try:
            self._sock.sendall(message)
            header = self._read(8)
            length = message_length(header)
            if not 8 <= length <= MAX_RESPONSE_BYTES:
                raise ValueError(f"a response of {length:,} bytes")
            answer = header + self._read(length - 8)
            return parse_response(answer, operation)
        except TimeoutError:
            raise self._error(f"no answer within {self._timeout:g} s") from None
        except ValueError as exc:
            raise self._error(f"the reply is not a KMIP response ({exc})") from None
        except OSError as exc:
            raise self._error(f"connection failed: {exc.strerror or exc}") from None

    def _read(self, n: int) -> bytes:
        assert self._sock is not None
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise self._error("the server closed the connection")
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
