"""The binary event log with outside tools: tpm2_eventlog parses every event and its replay
equals pcrs.json; swtpm extended with tpm2_eventlog's digests gives the same PCRs; the
project's verifier replays the binary log and rejects a tampered one."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.domain.image import MEASURED_PCRS
from sim.domain.tcg_log import marshal_log, parse_log
from sim.domain.tpm import PCR_COUNT
from sim.domain.tpm_wire import TPM_ALG_SHA256, parse_pcr_values_file
from sim.domain.verifier import collect_evidence, verify
from sim.interop.quote_export import export_quote
from sim.interop.swtpm import TOOLS, SoftwareTpm
from tests.conftest import require_tools
from tests.domain.test_verifier import NONCE, POLICY, boot

pytestmark = pytest.mark.tpmtools


def _eventlog_yaml(path: Path) -> tuple[dict[str, Any], str]:
    """tpm2_eventlog's YAML for ``path`` and its stderr (warnings)."""
    done = subprocess.run(
        ["tpm2_eventlog", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout), done.stderr


def _pcrs_json(out: Path) -> dict[int, bytes]:
    data = json.loads((out / "pcrs.json").read_text())["sha256"]
    return {int(k): bytes.fromhex(v) for k, v in data.items()}


def test_tpm2_eventlog_parses_every_event_and_replays_to_pcrs_json(tmp_path: Path) -> None:
    """tpm2_eventlog reads the Spec ID header and all events, checks the digests it can
    (no warning), decodes the UEFI variables and replays to exactly pcrs.json."""
    require_tools("tpm2_eventlog")
    export_quote(1, "esx-01", NONCE, tmp_path)
    parsed, warnings = _eventlog_yaml(tmp_path / "eventlog.bin")
    assert warnings == ""
    events = json.loads((tmp_path / "eventlog.json").read_text())
    assert len(parsed["events"]) == len(events) + 1
    assert parsed["events"][0]["SpecID"][0]["Signature"] == "Spec ID Event03"
    for ours, theirs in zip(events, parsed["events"][1:], strict=True):
        assert theirs["PCRIndex"] == ours["pcr"]
        assert theirs["Digests"][0]["Digest"] == ours["digest"]
    variables = [e["Event"]["UnicodeName"] for e in parsed["events"] if e["PCRIndex"] == 7 and
                 e["EventType"] == "EV_EFI_VARIABLE_DRIVER_CONFIG"]  # fmt: skip
    assert variables == ["SecureBoot", "PK", "KEK", "db", "dbx"]
    pcrs = _pcrs_json(tmp_path)
    replayed = {int(k): v for k, v in parsed["pcrs"]["sha256"].items()}
    assert set(replayed) == {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
    for index, value in replayed.items():
        assert value.to_bytes(32, "big") == pcrs[index], index


def test_tpm2_eventlog_flags_a_tampered_secure_boot_variable(tmp_path: Path) -> None:
    """Changing SecureBoot's data in the binary log makes tpm2_eventlog warn that the
    event's digest does not match its payload (the digest, and so the replay, is unchanged),
    and the verifier rejects the log as digest_mismatch."""
    require_tools("tpm2_eventlog")
    tpm = boot()
    events = list(tpm.event_log)
    i = next(k for k, e in enumerate(events) if e.pcr == 7)
    events[i] = dataclasses.replace(events[i], data=events[i].data[:-1] + b"\x00")
    (tmp_path / "tampered.bin").write_bytes(marshal_log(events))
    _, warnings = _eventlog_yaml(tmp_path / "tampered.bin")
    assert "digest does not match its payload" in warnings
    evidence = collect_evidence("esx-01", tpm, NONCE)
    forged = dataclasses.replace(evidence, event_log=parse_log(marshal_log(events)))
    assert verify(forged, POLICY, NONCE).reasons == ("attestation.eventlog.digest_mismatch",)


def test_swtpm_replaying_the_binary_log_gives_pcrs_json(tmp_path: Path) -> None:
    """A real software TPM extended with the digests tpm2_eventlog read from the binary log
    ends with all 24 PCRs equal to pcrs.json, and quotes them as our verifier expects."""
    require_tools("tpm2_eventlog", *TOOLS)
    out = tmp_path / "q"
    export_quote(1, "esx-01", NONCE, out)
    parsed, _ = _eventlog_yaml(out / "eventlog.bin")
    digests = [
        (e["PCRIndex"], bytes.fromhex(e["Digests"][0]["Digest"]))
        for e in parsed["events"][1:]
        if e["EventType"] != "EV_NO_ACTION"
    ]
    with SoftwareTpm(tmp_path / "swtpm") as swtpm:
        swtpm.power_cycle()
        swtpm.extend(digests)
        values = parse_pcr_values_file(swtpm.read_pcrs(range(PCR_COUNT)))[TPM_ALG_SHA256]
    pcrs = _pcrs_json(out)
    assert all(values[i] == pcrs[i] for i in range(PCR_COUNT))
    assert {values[i] for i in MEASURED_PCRS}.isdisjoint({bytes(32)})


def test_verifier_accepts_the_binary_log_in_place_of_the_json_log() -> None:
    """Evidence whose event log was read back from the binary log verifies like the
    original; the parsed events carry the same PCR, type, digest and data."""
    tpm = boot()
    parsed = parse_log(marshal_log(tpm.event_log))
    assert [(e.pcr, e.event_type, e.digest, e.data) for e in parsed] == [
        (e.pcr, e.event_type, e.digest, e.data) for e in tpm.event_log
    ]
    evidence = dataclasses.replace(collect_evidence("esx-01", tpm, NONCE), event_log=parsed)
    assert verify(evidence, POLICY, NONCE).ok
    truncated = dataclasses.replace(evidence, event_log=parsed[:-1])
    assert "attestation.eventlog.replay_mismatch" in verify(truncated, POLICY, NONCE).reasons
