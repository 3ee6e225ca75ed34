"""`vtasim calibrate`: small real runs against PyKMIP's server and swtpm print a scenario
snippet that the scenario model accepts and write every sample with the machine's details."""

from __future__ import annotations

import importlib.util
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.cli import main
from sim.errors import ExternalToolError
from sim.interop.calibration import Budget, empirical_snippet, summarize
from sim.interop.swtpm import ATTESTATION_TOOLS, TOOLS
from sim.interop.tpm_calibration import parse_quote_response, quote_command
from sim.scenario import parse_scenario
from sim.scenario.distributions import Empirical
from tests.conftest import require_tools

VCENTERS = [{"name": "vc", "clusters": [{"name": "c", "hosts": 1}]}]


def _snippet(out: str) -> dict[str, Any]:
    """The YAML between 'ready to paste' and the next line that is not indented YAML."""
    lines = out.splitlines()
    start = lines.index("ready to paste into a scenario:") + 1
    block = lines[start : start + 2]
    data = yaml.safe_load("\n".join(block))
    assert isinstance(data, dict)
    return data


def _require_pykmip() -> None:
    if importlib.util.find_spec("kmip") is not None:
        return
    msg = "needs PyKMIP (pip install 'vtasim[calibrate]')"
    if os.environ.get("VTASIM_REQUIRE_TPM_TOOLS") == "1":
        pytest.fail(msg + " but VTASIM_REQUIRE_TPM_TOOLS=1", pytrace=False)
    pytest.skip(msg)


def test_summary_and_snippet_round_trip() -> None:
    """The summary picks the median and p95; the snippet's durations parse back exactly
    to the microsecond."""
    s = summarize([0.004, 0.001, 0.003, 0.002, 0.005])
    assert (s["n"], s["min"], s["p50"], s["max"]) == (5, 0.001, 0.003, 0.005)
    snippet = empirical_snippet("kms", "service_time", [0.0012345, 0.25])
    scenario = parse_scenario({"name": "t", "vcenters": VCENTERS, **yaml.safe_load(snippet)})
    dist = scenario.kms.service_time
    assert isinstance(dist, Empirical)
    assert [round(x, 6) for x in dist.samples] == [0.001234, 0.25]
    with pytest.raises(ValueError):
        Budget(0, 1.0)


def test_quote_command_layout_and_error_responses() -> None:
    """TPM2_Quote is a sessions command with a password session, the nonce, a NULL scheme
    and one SHA-256 selection; a non-zero response code is an error."""
    cmd = quote_command(0x81010002, b"\xaa" * 4, (0, 7))
    tag, size, code, handle, auth_size = struct.unpack_from(">HIIII", cmd)
    assert (tag, size, code, handle, auth_size) == (0x8002, len(cmd), 0x158, 0x81010002, 9)
    assert cmd.endswith(bytes.fromhex("0004aaaaaaaa001000000001000b03810000"))
    with pytest.raises(ExternalToolError, match="0x00000922"):
        parse_quote_response(bytes.fromhex("80010000000a00000922"))


@pytest.mark.tpmtools
def test_calibrate_tpm_on_swtpm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Five verified quotes each way on swtpm; the printed tpm_sign_time is the raw-command
    series, and the file records every sample, the tools' versions and no hardware TPM."""
    require_tools(*TOOLS, *ATTESTATION_TOOLS, "tpm2_evictcontrol")
    out = tmp_path / "tpm.json"
    assert main(["calibrate", "tpm", "--count", "5", "--budget", "60s", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    section = _snippet(printed)["attestation"]
    scenario = parse_scenario({"name": "t", "vcenters": VCENTERS, "attestation": section})
    assert isinstance(scenario.attestation.tpm_sign_time, Empirical)
    data = json.loads(out.read_text())
    assert data["tpm_sign_time_from"] == "swtpm: TPM2_Quote command"
    assert {len(v) for v in data["samples_s"].values()} == {5}
    assert len(scenario.attestation.tpm_sign_time.samples) == 5
    assert "TPM emulator" in data["machine"]["tools"]["swtpm"]
    assert data["machine"]["cpus"] >= 1 and data["machine"]["python"]
    if not Path("/dev/tpmrm0").exists():
        assert data["machine"]["hardware_tpm"] == "none" and "orders of magnitude" in printed


@pytest.mark.slow
def test_calibrate_kms_on_pykmip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three first connections and three repeated Create/Activate/Get cycles against a
    real PyKMIP server; the printed kms.service_time holds the repeated Get samples."""
    _require_pykmip()
    out = tmp_path / "kms.json"
    assert main(["calibrate", "kms", "--count", "3", "--budget", "90s", "--out", str(out)]) == 0
    section = _snippet(capsys.readouterr().out)["kms"]
    scenario = parse_scenario({"name": "t", "vcenters": VCENTERS, "kms": section})
    dist = scenario.kms.service_time
    assert isinstance(dist, Empirical) and len(dist.samples) == 3
    data = json.loads(out.read_text())
    assert data["machine"]["packages"]["pykmip"] == "0.11.0"
    for series in ("first: connect", "first: get", "repeated: create", "repeated: get"):
        assert len(data["samples_s"][series]) == 3 and min(data["samples_s"][series]) > 0
    got = [round(x * 1000, 3) for x in data["samples_s"]["repeated: get"]]
    assert got == [round(x * 1000, 3) for x in dist.samples]
