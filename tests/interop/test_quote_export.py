"""Exported TPM quotes: reproducible files, PCR values that follow from the event log,
signatures that verify (with cryptography here, and with tpm2_checkquote when installed), and
the same identities the simulated estate gives the host."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_public_key

from sim.build import build
from sim.cli import main
from sim.domain.image import MEASURED_PCRS
from sim.domain.pki import public_pem
from sim.domain.tpm import PCR_COUNT, Event, composite_digest, replay
from sim.domain.tpm_wire import TPM_ALG_SHA256, parse_attest, parse_pcr_values_file, parse_signature
from sim.interop.quote_export import export_quote
from sim.scenario import parse_scenario
from tests.conftest import require_tools

NONCE = bytes.fromhex("5eed0fca11ab1e00")
FILES = (
    "ak.pub.pem",
    "quote.msg",
    "quote.sig",
    "pcrs.bin",
    "pcrs.json",
    "eventlog.json",
    "eventlog.bin",
    "ek.crt.pem",
    "tpm-ca.crt.pem",
    "ek.pub",
    "ak.pub",
    "ak.name",
)


def _export(
    tmp_path: Path,
    name: str,
    seed: int = 1,
    host: str = "esx-01",
    nonce: bytes = NONCE,
    pcrs: list[int] | None = None,
) -> Path:
    out = tmp_path / name
    written = export_quote(seed, host, nonce, out, pcrs)
    assert [p.name for p in written] == list(FILES)
    assert written == [out / n for n in FILES]
    return out


def _signature_ok(folder: Path, message: bytes | None = None) -> bool:
    """Check quote.sig over ``message`` (default quote.msg) with ak.pub.pem, via cryptography."""
    ak = load_pem_public_key((folder / "ak.pub.pem").read_bytes())
    assert isinstance(ak, ec.EllipticCurvePublicKey)
    r, s = parse_signature((folder / "quote.sig").read_bytes())
    msg = (folder / "quote.msg").read_bytes() if message is None else message
    try:
        ak.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _pcr_json(folder: Path) -> dict[int, bytes]:
    data = json.loads((folder / "pcrs.json").read_text(encoding="utf-8"))
    assert list(data) == ["sha256"]
    return {int(k): bytes.fromhex(v) for k, v in data["sha256"].items()}


# --------------------------------------------------------------------------- reproducibility


def test_same_inputs_give_identical_files(tmp_path: Path) -> None:
    """The same (seed, host, nonce) gives byte-identical files."""
    a, b = _export(tmp_path, "a"), _export(tmp_path, "b")
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_nonce_changes_only_the_quote(tmp_path: Path) -> None:
    """Another nonce changes quote.msg (which carries it) and its signature, nothing else."""
    a, b = _export(tmp_path, "a"), _export(tmp_path, "b", nonce=b"\x01" * 20)
    for name in FILES:
        same = (a / name).read_bytes() == (b / name).read_bytes()
        assert same == (name not in ("quote.msg", "quote.sig")), name
    assert parse_attest((a / "quote.msg").read_bytes()).extra_data == NONCE
    assert parse_attest((b / "quote.msg").read_bytes()).extra_data == b"\x01" * 20


def test_hosts_and_seeds_have_their_own_keys(tmp_path: Path) -> None:
    """Another host or another seed gives another attestation key and EK certificate."""
    base = _export(tmp_path, "base")
    for other in (_export(tmp_path, "host", host="esx-02"), _export(tmp_path, "seed", seed=2)):
        assert (base / "ak.pub.pem").read_bytes() != (other / "ak.pub.pem").read_bytes()
        assert (base / "ek.crt.pem").read_bytes() != (other / "ek.crt.pem").read_bytes()


# --------------------------------------------------------------------------- content


def test_pcrs_json_is_the_replay_of_the_event_log(tmp_path: Path) -> None:
    """pcrs.json lists all 24 PCRs and equals replaying eventlog.json from reset values."""
    out = _export(tmp_path, "q")
    pcrs = _pcr_json(out)
    assert sorted(pcrs) == list(range(PCR_COUNT))
    events = [Event.from_json(e) for e in json.loads((out / "eventlog.json").read_bytes())]
    assert events and all(e.digest_matches_data() for e in events)
    assert {e.pcr for e in events} >= set(MEASURED_PCRS)
    assert replay(events) == tuple(pcrs[i] for i in range(PCR_COUNT))


def test_quote_covers_the_measured_pcrs(tmp_path: Path) -> None:
    """By default the quote selects the measured PCRs and its digest matches pcrs.json and
    pcrs.bin."""
    out = _export(tmp_path, "q")
    pcrs = _pcr_json(out)
    values = [pcrs[i] for i in range(PCR_COUNT)]
    attest = parse_attest((out / "quote.msg").read_bytes())
    assert attest.sha256_pcrs() == MEASURED_PCRS
    assert attest.pcr_digest == composite_digest(values, MEASURED_PCRS)
    in_bin = parse_pcr_values_file((out / "pcrs.bin").read_bytes())
    assert in_bin == {TPM_ALG_SHA256: {i: pcrs[i] for i in MEASURED_PCRS}}


def test_pcr_selection_is_normalised(tmp_path: Path) -> None:
    """An unsorted PCR list with repeats is quoted as the sorted set of indices."""
    out = _export(tmp_path, "q", pcrs=[7, 0, 7, 23])
    attest = parse_attest((out / "quote.msg").read_bytes())
    assert attest.sha256_pcrs() == (0, 7, 23)
    pcrs = _pcr_json(out)
    assert parse_pcr_values_file((out / "pcrs.bin").read_bytes()) == {
        TPM_ALG_SHA256: {i: pcrs[i] for i in (0, 7, 23)}
    }


def test_signature_verifies_and_detects_tampering(tmp_path: Path) -> None:
    """quote.sig verifies under ak.pub.pem; any flipped byte of quote.msg breaks it."""
    out = _export(tmp_path, "q")
    assert _signature_ok(out)
    msg = (out / "quote.msg").read_bytes()
    for i in (0, len(msg) // 2, len(msg) - 1):
        flipped = bytearray(msg)
        flipped[i] ^= 0x01
        assert not _signature_ok(out, bytes(flipped)), i
    other = _export(tmp_path, "other", host="esx-02")
    assert not _signature_ok(other, msg)


def test_ek_certificate_chains_to_the_exported_ca(tmp_path: Path) -> None:
    """ek.crt.pem is issued by tpm-ca.crt.pem, and not by another seed's CA."""
    out = _export(tmp_path, "q")
    ek = x509.load_pem_x509_certificate((out / "ek.crt.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((out / "tpm-ca.crt.pem").read_bytes())
    ek.verify_directly_issued_by(ca)
    other_ca = x509.load_pem_x509_certificate(
        (_export(tmp_path, "s2", seed=2) / "tpm-ca.crt.pem").read_bytes()
    )
    with pytest.raises((ValueError, InvalidSignature)):
        ek.verify_directly_issued_by(other_ca)


def test_export_uses_the_simulated_hosts_identity(tmp_path: Path) -> None:
    """The exported AK and EK certificate are those the simulated estate gives the host."""
    scenario = parse_scenario(
        {
            "name": "t",
            "seed": 5,
            "vms": {"count": 2},
            "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 2}]}],
        }
    )
    estate = build(scenario, 5)
    out = _export(tmp_path, "q", seed=5, host="esx-02")
    tpm = estate.hosts["esx-02"].tpm
    assert public_pem(tpm.ak_public) == (out / "ak.pub.pem").read_bytes()
    assert tpm.ek_certificate.public_bytes(Encoding.PEM) == (out / "ek.crt.pem").read_bytes()


# --------------------------------------------------------------------------- tpm2-tools


def _check_line(out: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Run `vtasim export-quote` into ``out``; return its printed check command as argv."""
    argv = ["export-quote", "--seed", "1", "--host", "esx-01", "--nonce", NONCE.hex()]
    assert main([*argv, "--out", str(out)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    prefix = "check with: "
    assert last.startswith(prefix)
    argv = shlex.split(last[len(prefix) :])
    assert argv[0] == "tpm2_checkquote"
    return argv


def _checkquote(argv: list[str]) -> bool:
    """Whether tpm2_checkquote verified the quote. The tool can exit 0 after only printing
    its help (for stray arguments), so success also needs its printed signature and no
    ERROR line."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode == 0 and "ERROR" not in proc.stderr and "\nsig: " in proc.stdout


@pytest.mark.tpmtools
def test_tpm2_checkquote_accepts_printed_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed tpm2_checkquote command verifies the quote; a wrong nonce, a flipped byte
    in quote.msg or a changed PCR value in pcrs.bin make it fail."""
    require_tools("tpm2_checkquote")
    out = tmp_path / "q"
    argv = _check_line(out, capsys)
    assert "-f" in argv and argv[argv.index("-f") + 1] == str(out / "pcrs.bin")
    assert _checkquote(argv)

    wrong_nonce = list(argv)
    wrong_nonce[wrong_nonce.index("-q") + 1] = "5eed0fca11ab1e01"
    assert not _checkquote(wrong_nonce)

    msg = (out / "quote.msg").read_bytes()
    flipped = bytearray(msg)
    flipped[len(msg) - 5] ^= 0x80
    (out / "quote.msg").write_bytes(bytes(flipped))
    assert not _checkquote(argv)
    (out / "quote.msg").write_bytes(msg)
    assert _checkquote(argv)

    pcrs_bin = bytearray((out / "pcrs.bin").read_bytes())
    first_digest = pcrs_bin.index(_pcr_json(out)[0])
    pcrs_bin[first_digest] ^= 0x01
    (out / "pcrs.bin").write_bytes(bytes(pcrs_bin))
    assert not _checkquote(argv)


@pytest.mark.tpmtools
def test_printed_command_survives_spaces_in_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed command still works when the output folder's path has a space in it."""
    require_tools("tpm2_checkquote")
    argv = _check_line(tmp_path / "my quotes", capsys)
    assert _checkquote(argv)
