"""``vtasim calibrate kms``: time PyKMIP's reference KMIP server on this machine.

Starts PyKMIP's ``KmipServer`` (package ``pykmip``, the ``calibrate`` extra) on 127.0.0.1
with a throwaway CA, server and client certificate (P-256, made by :mod:`sim.domain.pki`
from a random seed), TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 and client-certificate
authentication, as a KMS trusted by vSphere would be reached. Then, with PyKMIP's own
client, it times

* first connections: TLS connect, then Create (AES-256), Activate and Get, then close;
* repeated operations: Create, Activate and Get on one open connection.

The Key Provider Service keeps its KMIP connection open, so the ``kms.service_time``
distribution printed is the repeated Get times (the server's work plus the local round
trip). The server stops by itself after its lifetime even if this process dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from sim.domain.pki import CertificateAuthority, derive_p256_key
from sim.errors import ExternalToolError
from sim.interop.calibration import (
    Budget,
    empirical_snippet,
    format_table,
    machine_info,
    summarize,
    timed,
)
from sim.interop.swtpm import free_port_pair

CIPHER_SUITE = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
PACKAGES = ("pykmip", "cryptography", "sqlalchemy")

# The server runs in its own process group (PyKMIP forks a multiprocessing manager and a
# policy monitor); after ``lifetime`` it stops itself, and 15 s later the whole group is
# killed, so nothing outlives its budget even if the calibrating process dies.
_SERVER = """
import os, signal, sys, threading
from kmip.services.server import KmipServer
port, folder, lifetime = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
def _later(seconds, action):
    timer = threading.Timer(seconds, action)
    timer.daemon = True
    timer.start()
_later(lifetime, lambda: os.kill(os.getpid(), signal.SIGTERM))
_later(lifetime + 15, lambda: os.killpg(os.getpgid(0), signal.SIGKILL))
server = KmipServer(
    hostname="127.0.0.1", port=port, certificate_path=f"{folder}/server.pem",
    key_path=f"{folder}/server.key", ca_path=f"{folder}/ca.pem", auth_suite="TLS1.2",
    config_path=None, log_path=f"{folder}/log/server.log", enable_tls_client_auth=True,
    tls_cipher_suites=sys.argv[4], logging_level="WARNING",
    database_path=f"{folder}/pykmip.db",
)
with server:
    server.serve()
"""


def _write_credentials(folder: Path) -> None:
    """A throwaway CA, server certificate (127.0.0.1) and client certificate."""
    seed = os.urandom(32)
    ca = CertificateAuthority.create(seed, "vtasim calibration CA")
    server_key, client_key = derive_p256_key(seed, "server"), derive_p256_key(seed, "client")
    pem = serialization.Encoding.PEM
    files = {
        "ca.pem": ca.certificate.public_bytes(pem),
        "server.pem": ca.issue_server_certificate(
            server_key.public_key(), "127.0.0.1"
        ).public_bytes(pem),
        "client.pem": ca.issue_client_certificate(
            client_key.public_key(), "vtasim-kps"
        ).public_bytes(pem),
    }
    for name, key in (("server.key", server_key), ("client.key", client_key)):
        files[name] = key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "client.conf").write_text("")


@contextmanager
def pykmip_server(folder: Path, lifetime: float) -> Iterator[int]:
    """Run PyKMIP's server on a free local port for at most ``lifetime`` seconds; yields
    the port and always stops the server."""
    _require_pykmip()
    _write_credentials(folder)
    port = free_port_pair()
    cmd = [sys.executable, "-c", _SERVER, str(port), str(folder), str(lifetime), CIPHER_SUITE]
    with (folder / "server.out").open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            text = (folder / "server.out").read_text(errors="replace")
            raise ExternalToolError(f"PyKMIP server did not start: {text[-2000:]}")
        yield port
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server, then kill whatever of its process group is left (the processes
    PyKMIP forked)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _require_pykmip() -> None:
    try:
        import kmip  # noqa: F401
    except ImportError as exc:
        raise ExternalToolError(
            "PyKMIP is not installed: pip install 'vtasim[calibrate]' (pykmip==0.11.0)"
        ) from exc


def _client(folder: Path, port: int) -> Any:
    from kmip.pie.client import ProxyKmipClient

    return ProxyKmipClient(
        hostname="127.0.0.1",
        port=port,
        cert=str(folder / "client.pem"),
        key=str(folder / "client.key"),
        ca=str(folder / "ca.pem"),
        ssl_version="PROTOCOL_TLSv1_2",
        config_file=str(folder / "client.conf"),
    )


def _cycle(client: Any, series: dict[str, list[float]], prefix: str) -> None:
    from kmip import enums

    uid = timed(
        series[f"{prefix}create"], lambda: client.create(enums.CryptographicAlgorithm.AES, 256)
    )
    timed(series[f"{prefix}activate"], lambda: client.activate(uid))
    key = timed(series[f"{prefix}get"], lambda: client.get(uid))
    if len(key.value) != 32:
        raise ExternalToolError("PyKMIP returned a key that is not 256 bits")


@dataclass(frozen=True)
class KmsCalibration:
    """The samples (seconds) of each series, the machine and the ready distribution."""

    series: dict[str, list[float]]
    machine: dict[str, Any]

    @property
    def service_time_samples(self) -> list[float]:
        """The samples of the printed kms.service_time: Get on an open connection."""
        return self.series["repeated: get"]

    def snippet(self) -> str:
        """The ``kms.service_time`` scenario snippet."""
        return empirical_snippet("kms", "service_time", self.service_time_samples)

    def report(self) -> dict[str, Any]:
        """The measurement file's content."""
        return {
            "component": "kms",
            "server": "PyKMIP KmipServer on 127.0.0.1, TLS 1.2 " + CIPHER_SUITE,
            "machine": self.machine,
            "summary": {name: summarize(s) for name, s in self.series.items()},
            "samples_s": self.series,
            "scenario_snippet": self.snippet(),
        }

    def table(self) -> str:
        """The summary table for the terminal."""
        return format_table(self.series)


def calibrate_kms(count: int, budget_s: float, first: int | None = None) -> KmsCalibration:
    """Time ``first`` (default min(count, 10)) first connections and ``count`` repeated
    Create/Activate/Get cycles against a fresh PyKMIP server, within ``budget_s``."""
    budget = Budget(count, budget_s)
    first_count = min(count, 10) if first is None else first
    names = ["first: connect", "first: create", "first: activate", "first: get"]
    names += ["repeated: create", "repeated: activate", "repeated: get"]
    series: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="vtasim-kms-") as tmp:
        folder = Path(tmp)
        with pykmip_server(folder, lifetime=budget_s + 60) as port:
            for _ in range(first_count):
                client = _client(folder, port)
                timed(series["first: connect"], client.open)
                try:
                    _cycle(client, series, "first: ")
                finally:
                    client.close()
                if budget.exhausted:
                    break
            client = _client(folder, port)
            client.open()
            try:
                for _ in range(count):
                    _cycle(client, series, "repeated: ")
                    if budget.exhausted:
                        break
            finally:
                client.close()
    if not series["repeated: get"]:
        raise ExternalToolError("no KMIP Get was timed within the time budget")
    return KmsCalibration(series, machine_info(PACKAGES, {}))
