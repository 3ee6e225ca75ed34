"""TPMs driven with Debian's tpm2-tools: a software TPM (``swtpm``) on 127.0.0.1, or the
host's TPM through the kernel resource manager (``/dev/tpmrm0``).

``SoftwareTpm`` starts ``swtpm socket --tpm2`` on a free pair of local ports (the swtpm
TCTI expects the control port right after the command port), points tpm2-tools at it
through ``TPM2TOOLS_TCTI`` and always stops the process on exit; a TPM reset
(``power_cycle``) brings the PCRs back to their reset values, as a host reboot does.
``DeviceTpm`` points the same tools at ``/dev/tpmrm0``. Both serve the interop tests and
``vtasim calibrate tpm``; ``raw_command`` sends one TPM command over swtpm's socket
without any tool in between (the swtpm TCTI carries plain TPM command bytes).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from sim.domain.credential import Credential
from sim.domain.tpm import Event, Quote
from sim.domain.tpm_keys import unwrap_tpm2b_public
from sim.errors import ExternalToolError

TOOLS = ("swtpm", "swtpm_ioctl", "tpm2_startup", "tpm2_pcrextend", "tpm2_pcrread")
"""The programs a SoftwareTpm needs on PATH (Debian packages swtpm, swtpm-tools, tpm2-tools)."""
ATTESTATION_TOOLS = (
    "tpm2_createek",
    "tpm2_createak",
    "tpm2_flushcontext",
    "tpm2_startauthsession",
    "tpm2_policysecret",
    "tpm2_activatecredential",
    "tpm2_quote",
)
"""The tpm2-tools programs ``create_ek_and_ak``, ``activate`` and ``quote`` run."""


def missing_tools(names: Iterable[str]) -> list[str]:
    """The names of ``names`` that are not on PATH."""
    return [n for n in names if shutil.which(n) is None]


def free_port_pair() -> int:
    """A free local port P with P+1 also free."""
    for _ in range(50):
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = int(a.getsockname()[1])
            try:
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise ExternalToolError("no two consecutive free local ports")


def _listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> bool:
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class ToolDrivenTpm:
    """A TPM reached by tpm2-tools through ``env``; tool files go to ``state``."""

    def __init__(self, state: Path, timeout: float = 30.0) -> None:
        self.state = state
        self.timeout = timeout
        self.env: dict[str, str] = {}

    @property
    def ready(self) -> bool:
        """Whether tools may run against the TPM now."""
        return bool(self.env)

    def run(self, *args: str) -> bytes:
        """Run a tool against this TPM in its state folder; its stdout, or ExternalToolError."""
        if not self.ready:
            raise ExternalToolError("the TPM is not available")
        try:
            done = subprocess.run(
                list(args),
                cwd=self.state,
                env=self.env,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ExternalToolError(f"{args[0]} timed out after {self.timeout:g} s") from exc
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip()
            raise ExternalToolError(f"{' '.join(args)} failed: {err}")
        return done.stdout

    def create_ek_and_ak(self, ek_algorithm: str = "ecc") -> tuple[bytes, bytes]:
        """Create the EK (``tpm2_createek``, template L-2 for "ecc", L-1 for "rsa") and an
        ECC P-256 ECDSA-SHA256 AK under it (``tpm2_createak``), saved as ek.ctx and ak.ctx;
        return the TPMT_PUBLIC of each."""
        self.run("tpm2_createek", "-c", "ek.ctx", "-G", ek_algorithm, "-u", "ek.pub")
        self.run("tpm2_flushcontext", "-t")
        self.run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256",
                 "-s", "ecdsa", "-u", "ak.pub", "-f", "tss", "-n", "ak.name")  # fmt: skip
        self.run("tpm2_flushcontext", "-t")
        read = self.state.joinpath
        return (
            unwrap_tpm2b_public(read("ek.pub").read_bytes()),
            unwrap_tpm2b_public(read("ak.pub").read_bytes()),
        )

    def activate(self, credential: Credential) -> bytes:
        """TPM2_ActivateCredential of ``credential`` for ak.ctx under ek.ctx (the EK's
        PolicySecret(endorsement) satisfied in a policy session); the recovered secret."""
        (self.state / "credential.bin").write_bytes(credential.tpm2_tools_blob())
        self.run("tpm2_startauthsession", "--policy-session", "-S", "session.ctx")
        try:
            self.run("tpm2_policysecret", "-S", "session.ctx", "-c", "e")
            self.run("tpm2_activatecredential", "-c", "ak.ctx", "-C", "ek.ctx",
                     "-i", "credential.bin", "-o", "activated.bin",
                     "-P", "session:session.ctx")  # fmt: skip
        finally:
            self.run("tpm2_flushcontext", "session.ctx")
            self.run("tpm2_flushcontext", "-t")
        return (self.state / "activated.bin").read_bytes()

    def quote(self, nonce: bytes, selection: Sequence[int], key: str = "ak.ctx") -> Quote:
        """TPM2_Quote by ``key`` (a context file or handle) over the SHA-256 PCRs in
        ``selection`` with ``nonce``."""
        spec = "sha256:" + ",".join(str(i) for i in sorted(set(selection)))
        self.run("tpm2_quote", "-c", key, "-l", spec, "-q", nonce.hex(), "-m", "quote.msg",
                 "-s", "quote.sig", "-o", "quote.pcrs", "-g", "sha256")  # fmt: skip
        self.run("tpm2_flushcontext", "-t")
        read = self.state.joinpath
        return Quote(read("quote.msg").read_bytes(), read("quote.sig").read_bytes())


class DeviceTpm(ToolDrivenTpm):
    """The host's TPM through the kernel resource manager ``/dev/tpmrm0`` (if present)."""

    DEVICE = Path("/dev/tpmrm0")

    def __init__(self, state: Path, timeout: float = 30.0) -> None:
        super().__init__(state, timeout)
        if self.DEVICE.exists():
            self.state.mkdir(parents=True, exist_ok=True)
            self.env = {**os.environ, "TPM2TOOLS_TCTI": f"device:{self.DEVICE}"}


class SoftwareTpm(ToolDrivenTpm):
    """A running swtpm whose state lives in ``state`` (a folder the caller owns). It runs
    under coreutils ``timeout``, so it stops by itself after ``lifetime`` seconds even if
    this process dies without stopping it."""

    def __init__(self, state: Path, timeout: float = 30.0, lifetime: float = 900.0) -> None:
        super().__init__(state, timeout)
        self.lifetime = lifetime
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SoftwareTpm:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start swtpm (up to three tries on fresh ports); ExternalToolError if it fails."""
        missing = missing_tools(TOOLS)
        if missing:
            raise ExternalToolError(f"needs {', '.join(missing)} (swtpm, swtpm-tools, tpm2-tools)")
        self.state.mkdir(parents=True, exist_ok=True)
        log_path = self.state / "swtpm.log"
        for _attempt in range(3):
            port = free_port_pair()
            cmd = ["timeout", "-k", "5", f"{self.lifetime:g}"] if shutil.which("timeout") else []
            cmd += ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={self.state}"]
            cmd += ["--server", f"type=tcp,port={port},bindaddr=127.0.0.1"]
            cmd += ["--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1"]
            cmd += ["--flags", "not-need-init,startup-clear"]
            with log_path.open("ab") as log:
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            if _listening(port, proc, time.monotonic() + 10):
                self._proc, self.port = proc, port
                self.env = {**os.environ, "TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={port}"}
                return
            _terminate(proc)
        raise ExternalToolError(f"swtpm did not start: {log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        """Terminate swtpm (idempotent)."""
        if self._proc is not None:
            _terminate(self._proc)
            self._proc = None
            self.env = {}

    def raw_command(self, sock: socket.socket, command: bytes) -> bytes:
        """Send one TPM command on an open connection to swtpm's command port and return
        the whole response (header, response code, parameters, sessions)."""
        sock.sendall(command)
        header = _recv_exactly(sock, 10)
        size = int.from_bytes(header[2:6], "big")
        return header + _recv_exactly(sock, size - 10)

    def connect(self) -> socket.socket:
        """A TCP connection to swtpm's command port (close it before running tools again:
        swtpm serves one connection at a time)."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)

    def power_cycle(self) -> None:
        """A TPM reset: PCRs back to their reset values, transient objects and sessions gone."""
        self.run("swtpm_ioctl", "--tcp", f"127.0.0.1:{self.port + 1}", "-i")
        self.run("tpm2_startup", "-c")

    def extend(self, digests: Sequence[tuple[int, bytes]]) -> None:
        """Extend SHA-256 ``(pcr, digest)`` pairs in order (several per tpm2_pcrextend call)."""
        for i in range(0, len(digests), 8):
            specs = [f"{pcr}:sha256={d.hex()}" for pcr, d in digests[i : i + 8]]
            self.run("tpm2_pcrextend", *specs)

    def replay(self, events: Iterable[Event]) -> None:
        """Extend every extending event of a log (a firmware's boot, done by tpm2-tools)."""
        self.extend([(e.pcr, e.digest) for e in events if e.extends])

    def read_pcrs(self, selection: Sequence[int]) -> bytes:
        """The selected SHA-256 PCRs in tpm2-tools' serialized form."""
        spec = "sha256:" + ",".join(str(i) for i in selection)
        self.run("tpm2_pcrread", spec, "-F", "serialized", "-o", "pcrs.read")
        return (self.state / "pcrs.read").read_bytes()


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ExternalToolError("swtpm closed the connection")
        data += chunk
    return data


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
