"""``vtasim calibrate tpm``: time TPM2_Quote on swtpm (and on ``/dev/tpmrm0`` if present).

On a software TPM (Debian's swtpm on 127.0.0.1) it creates the EK and an ECC P-256 AK
with tpm2-tools, makes the AK persistent and times quotes over the measured PCRs two ways:

* ``TPM2_Quote command``: the raw command sent over swtpm's socket and its response read
  back, so the figure is the TPM's own work plus a local round trip (one untimed quote
  first: swtpm answers the first use of a fresh key with TPM_RC_RETRY);
* ``tpm2_quote tool``: one ``tpm2_quote`` process per quote (process start, TCTI set-up,
  the command, writing files), what a shell-scripted agent pays.

Every timed quote is checked: its signature verifies under the AK and its nonce is the one
sent. With ``/dev/tpmrm0`` (a hardware TPM behind the kernel resource manager) it times the
tool the same way. The printed ``attestation.tpm_sign_time`` is the hardware TPM's tool
figure when there is one, else swtpm's raw command figure: a software TPM signs in well
under a millisecond, orders of magnitude faster than a hardware TPM (about 200 ms median,
600 ms p95 for a discrete TPM 2.0; see the documentation's sources), so swtpm figures calibrate the
machinery's overhead, not a real host's TPM.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.domain.image import MEASURED_PCRS
from sim.domain.tpm import Quote, verify_quote
from sim.domain.tpm_keys import parse_public_area
from sim.domain.tpm_wire import TPM_ALG_NULL, TPM_ALG_SHA256, parse_attest, selection_bitmap
from sim.errors import ExternalToolError
from sim.interop.calibration import (
    Budget,
    empirical_snippet,
    format_table,
    machine_info,
    summarize,
    timed,
)
from sim.interop.swtpm import ATTESTATION_TOOLS, TOOLS, DeviceTpm, SoftwareTpm, ToolDrivenTpm

AK_HANDLE = 0x81010002
TPM_CC_QUOTE = 0x00000158
TPM_ST_SESSIONS = 0x8002
TPM_RS_PW = 0x40000009
TPM_RC_RETRY = 0x00000922
VERSION_TOOLS = {
    "swtpm": ("swtpm", "--version"),
    "tpm2-tools": ("tpm2_quote", "--version"),
}


def quote_command(handle: int, nonce: bytes, selection: tuple[int, ...]) -> bytes:
    """The bytes of TPM2_Quote(handle, nonce, NULL scheme, SHA-256 selection) with an
    empty password session (TPM 2.0 Part 3 §18.4)."""
    auth = struct.pack(">IHBH", TPM_RS_PW, 0, 0x01, 0)
    params = struct.pack(">H", len(nonce)) + nonce + struct.pack(">H", TPM_ALG_NULL)
    params += struct.pack(">IHB", 1, TPM_ALG_SHA256, 3) + selection_bitmap(selection)
    body = struct.pack(">II", handle, len(auth)) + auth + params
    return struct.pack(">HII", TPM_ST_SESSIONS, 10 + len(body), TPM_CC_QUOTE) + body


def parse_quote_response(response: bytes) -> Quote:
    """The TPMS_ATTEST and TPMT_SIGNATURE of a TPM2_Quote response; ExternalToolError on
    a TPM error code or a malformed response."""
    if len(response) < 10:
        raise ExternalToolError("TPM2_Quote: short response")
    (rc,) = struct.unpack_from(">I", response, 6)
    if rc != 0 or len(response) < 14:
        raise ExternalToolError(f"TPM2_Quote failed with response code 0x{rc:08x}")
    (param_size,) = struct.unpack_from(">I", response, 10)
    params = response[14 : 14 + param_size]
    (attest_size,) = struct.unpack_from(">H", params, 0)
    return Quote(params[2 : 2 + attest_size], params[2 + attest_size :])


def _checked(quote: Quote, ak: Any, nonce: bytes) -> None:
    if not verify_quote(ak, quote) or parse_attest(quote.attest).extra_data != nonce:
        raise ExternalToolError("a timed quote did not verify under the AK")


def _nonce(i: int) -> bytes:
    return hashlib.sha256(f"vtasim/calibrate/tpm/{i}".encode()).digest()


def _time_tool(tpm: ToolDrivenTpm, key: str, ak: Any, budget: Budget) -> list[float]:
    samples: list[float] = []
    for i in range(budget.count):
        nonce = _nonce(i)
        quote = timed(samples, lambda n=nonce: tpm.quote(n, MEASURED_PCRS, key=key))
        _checked(quote, ak, nonce)
        if budget.exhausted:
            break
    return samples


def _send(tpm: SoftwareTpm, sock: socket.socket, command: bytes) -> bytes:
    """Send a command, repeating it while the TPM answers TPM_RC_RETRY (as a TSS does;
    swtpm answers the first quote of a fresh key that way)."""
    for _ in range(10):
        response = tpm.raw_command(sock, command)
        if response[6:10] != TPM_RC_RETRY.to_bytes(4, "big"):
            return response
    return response


def _time_raw(tpm: SoftwareTpm, ak: Any, budget: Budget) -> list[float]:
    samples: list[float] = []
    with tpm.connect() as sock:
        warm_up = _send(tpm, sock, quote_command(AK_HANDLE, _nonce(-1), MEASURED_PCRS))
        _checked(parse_quote_response(warm_up), ak, _nonce(-1))
        for i in range(budget.count):
            nonce = _nonce(i)
            command = quote_command(AK_HANDLE, nonce, MEASURED_PCRS)
            response = timed(samples, lambda c=command: _send(tpm, sock, c))
            _checked(parse_quote_response(response), ak, nonce)
            if budget.exhausted:
                break
    return samples


@dataclass(frozen=True)
class TpmCalibration:
    """The samples (seconds) of each series, the machine and the ready distribution."""

    series: dict[str, list[float]]
    machine: dict[str, Any]
    sign_time_series: str

    def snippet(self) -> str:
        """The ``attestation.tpm_sign_time`` scenario snippet."""
        samples = self.series[self.sign_time_series]
        return empirical_snippet("attestation", "tpm_sign_time", samples)

    def report(self) -> dict[str, Any]:
        """The measurement file's content."""
        return {
            "component": "tpm",
            "quoted_pcrs": list(MEASURED_PCRS),
            "machine": self.machine,
            "summary": {name: summarize(s) for name, s in self.series.items()},
            "samples_s": self.series,
            "tpm_sign_time_from": self.sign_time_series,
            "scenario_snippet": self.snippet(),
        }

    def table(self) -> str:
        """The summary table for the terminal."""
        return format_table(self.series)


def calibrate_tpm(count: int, budget_s: float) -> TpmCalibration:
    """Time ``count`` quotes each way on swtpm (and with the tool on /dev/tpmrm0 if it
    exists), within ``budget_s`` seconds per TPM."""
    series: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="vtasim-tpm-") as tmp:
        with SoftwareTpm(Path(tmp) / "swtpm") as swtpm:
            missing = [t for t in (*TOOLS, *ATTESTATION_TOOLS) if shutil.which(t) is None]
            if missing:
                raise ExternalToolError(f"needs {', '.join(missing)}")
            swtpm.power_cycle()
            _ek, ak_area = swtpm.create_ek_and_ak("ecc")
            swtpm.run("tpm2_evictcontrol", "-C", "o", "-c", "ak.ctx", hex(AK_HANDLE))
            swtpm.run("tpm2_flushcontext", "-t")
            ak = parse_public_area(ak_area).public_key
            series["swtpm: TPM2_Quote command"] = _time_raw(swtpm, ak, Budget(count, budget_s))
            tool = _time_tool(swtpm, hex(AK_HANDLE), ak, Budget(count, budget_s))
            series["swtpm: tpm2_quote tool"] = tool
        sign_series = "swtpm: TPM2_Quote command"
        device = DeviceTpm(Path(tmp) / "tpmrm0")
        if device.ready:
            _ek, ak_area = device.create_ek_and_ak("ecc")
            ak = parse_public_area(ak_area).public_key
            series["tpmrm0: tpm2_quote tool"] = _time_tool(
                device, "ak.ctx", ak, Budget(count, budget_s)
            )
            sign_series = "tpmrm0: tpm2_quote tool"
    machine = machine_info(("cryptography",), VERSION_TOOLS)
    machine["hardware_tpm"] = str(DeviceTpm.DEVICE) if device.ready else "none"
    return TpmCalibration(series, machine, sign_series)
