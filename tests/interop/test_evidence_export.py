"""`vtasim run --export-evidence`: per-host evidence and the issuers' JWKS in the run folder,
byte-identical for one seed, checked by PyJWT (reports with real timestamps from the
scenario's start_time), tpm2_checkquote and tpm2_eventlog."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml

from sim.cli import main
from sim.domain.image import MEASURED_PCRS
from sim.domain.tpm_wire import parse_attest
from tests.conftest import require_tools

DURATION = 1800  # 30 simulated minutes; reports live 15 min, hosts re-attest every 5 min


def _scenario(tmp_path: Path, start: datetime | None = None) -> Path:
    data: dict[str, Any] = {
        "name": "evidence",
        "seed": 3,
        "duration": DURATION,
        "attestation": {"interval": "5m", "report_lifetime": "15m"},
        "vms": {"count": 8},
        "vcenters": [{"name": "vc", "clusters": [{"name": "c", "hosts": 3}]}],
    }
    if start is not None:
        data["start_time"] = start.isoformat().replace("+00:00", "Z")
    path = tmp_path / "evidence.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _run(tmp_path: Path, out: str, start: datetime | None = None) -> Path:
    folder = tmp_path / out
    argv = ["run", str(_scenario(tmp_path, start)), "--quiet", "--export-evidence"]
    assert main([*argv, "--out", str(folder)]) == 0
    return folder / "evidence"


def test_export_is_complete_and_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every host has its quote, logs, verdict and report; the JWKS has one key per
    Attestation Service; two runs with one seed write identical bytes."""
    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    assert "evidence:" in capsys.readouterr().out
    index = json.loads((a / "index.json").read_text())
    assert [h["host"] for h in index["hosts"]] == ["esx-01", "esx-02", "esx-03"]
    assert index["start_time"] == "2024-01-01T00:00:00Z"
    keys = json.loads((a / "jwks.json").read_text())["keys"]
    assert len(keys) == len(index["issuers"]) == 3
    for host in ("esx-01", "esx-02", "esx-03"):
        names = {p.name for p in (a / host).iterdir()}
        assert {"quote.msg", "eventlog.bin", "report.jwt", "verdict.json"} <= names
        assert json.loads((a / host / "verdict.json").read_text())["ok"] is True
        info = parse_attest((a / host / "quote.msg").read_bytes())
        assert info.sha256_pcrs() == MEASURED_PCRS
        assert info.extra_data.hex() == (a / host / "nonce.hex").read_text().strip()
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_pyjwt_accepts_a_fresh_report_with_default_settings(tmp_path: Path) -> None:
    """With start_time set so that the run ends now, PyJWT's defaults (signature, exp,
    nbf, iat, audience) accept each host's latest report under the exported JWKS; iat is
    start_time plus simulated seconds; another audience or a changed byte is refused."""
    start = datetime.fromtimestamp(
        int(datetime.now(timezone.utc).timestamp()) - DURATION, timezone.utc
    )
    out = _run(tmp_path, "fresh", start)
    index = json.loads((out / "index.json").read_text())
    jwks = jwt.PyJWKSet.from_dict(json.loads((out / "jwks.json").read_text()))
    for host in ("esx-01", "esx-02", "esx-03"):
        token = (out / host / "report.jwt").read_text().strip()
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in jwks.keys if k.key_id == kid)
        claims = jwt.decode(token, key, algorithms=["ES256"], audience=index["audience"])
        assert claims["sub"] == host and claims["iss"] in index["issuers"]
        assert start.timestamp() < claims["iat"] <= start.timestamp() + DURATION < claims["exp"]
        with pytest.raises(jwt.InvalidAudienceError):
            jwt.decode(token, key, algorithms=["ES256"], audience="someone-else")
        forged = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(forged, key, algorithms=["ES256"], audience=index["audience"])


def test_pyjwt_rejects_a_report_of_the_default_start_time_as_expired(tmp_path: Path) -> None:
    """Reports of a run anchored at the default start_time (2024-01-01) are expired now."""
    out = _run(tmp_path, "old")
    jwks = jwt.PyJWKSet.from_dict(json.loads((out / "jwks.json").read_text()))
    token = (out / "esx-01" / "report.jwt").read_text().strip()
    key = next(k for k in jwks.keys if k.key_id == jwt.get_unverified_header(token)["kid"])
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, key, algorithms=["ES256"], audience="vta/key-provider")


@pytest.mark.tpmtools
def test_tpm_tools_check_the_exported_evidence(tmp_path: Path) -> None:
    """tpm2_checkquote verifies each host's sample quote and tpm2_eventlog replays its
    binary log to the quoted PCR values."""
    require_tools("tpm2_checkquote", "tpm2_eventlog")
    out = _run(tmp_path, "tools")
    for host in ("esx-01", "esx-02", "esx-03"):
        d = out / host
        nonce = (d / "nonce.hex").read_text().strip()
        args = ["tpm2_checkquote", "-u", "ak.pub.pem", "-m", "quote.msg", "-s", "quote.sig"]
        args += ["-g", "sha256", "-q", nonce, "-f", "pcrs.bin"]
        done = subprocess.run(args, cwd=d, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and "ERROR" not in done.stderr, done.stderr
        log = subprocess.run(
            ["tpm2_eventlog", "eventlog.bin"], cwd=d, capture_output=True, text=True, timeout=60
        )
        replayed = yaml.safe_load(log.stdout)["pcrs"]["sha256"]
        pcrs = json.loads((d / "pcrs.json").read_text())["sha256"]
        assert all(int(v).to_bytes(32, "big").hex() == pcrs[str(k)] for k, v in replayed.items())
