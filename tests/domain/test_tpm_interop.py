"""Interop with Debian's tpm2-tools and swtpm: real tools accept our quotes, a real software
TPM agrees with our PCR semantics, and our parsers read a real TPM's quote byte for byte."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.domain.pki import CertificateAuthority, public_pem
from sim.domain.tpm import (
    PCR_COUNT,
    RESET_VALUES,
    EventType,
    Quote,
    VirtualTPM,
    composite_digest,
    replay,
    verify_quote,
)
from sim.domain.tpm_wire import (
    TPM_ALG_SHA256,
    ecc_public_area,
    marshal_attest,
    object_name,
    parse_attest,
    parse_ecc_public_area,
    parse_pcr_values_file,
    pcr_values_file,
    pcr_values_raw,
)
from sim.interop.swtpm import TOOLS, SoftwareTpm
from tests.conftest import require_tools

pytestmark = pytest.mark.tpmtools

NONCE = bytes.fromhex("5eed0fca11ab1e00")
LOCALITY0_PCRS = [*range(17), 23]  # 17-22 cannot be extended from locality 0


@cache
def _booted_tpm() -> VirtualTPM:
    ca = CertificateAuthority.create(b"interop-ca", "Interop TPM CA")
    tpm = VirtualTPM(b"interop-tpm", ca, "TPM-INTEROP")
    for i in range(20):
        tpm.measure(i % 10, EventType.EV_POST_CODE, f"module {i}".encode(), f"module {i}")
    tpm.measure(23, EventType.EV_EVENT_TAG, b"app", "application")
    tpm.set_clock(987_654)
    return tpm


def _write_quote(tmp_path: Path, selection: list[int]) -> Quote:
    tpm = _booted_tpm()
    quote = tpm.quote(NONCE, selection)
    (tmp_path / "ak.pub.pem").write_bytes(public_pem(tpm.ak_public))
    (tmp_path / "quote.msg").write_bytes(quote.attest)
    (tmp_path / "quote.sig").write_bytes(quote.signature)
    return quote


def _checkquote(tmp_path: Path, *extra: str, nonce: bytes = NONCE) -> int:
    args = ["tpm2_checkquote", "-u", "ak.pub.pem", "-m", "quote.msg", "-s", "quote.sig"]
    args += ["-g", "sha256", "-q", nonce.hex(), *extra]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, timeout=30, check=False)
    return done.returncode


def test_checkquote_accepts_a_genuine_quote(tmp_path: Path) -> None:
    """tpm2_checkquote verifies our signature and nonce and exits 0."""
    require_tools("tpm2_checkquote")
    _write_quote(tmp_path, [0, 1, 2, 3, 4, 5, 6, 7, 23])
    assert _checkquote(tmp_path) == 0


@pytest.mark.parametrize(
    ("target", "offset"),
    [("quote.msg", 50), ("quote.msg", -1), ("quote.msg", 44), ("quote.sig", 10), ("quote.sig", -3)],
)
def test_checkquote_rejects_a_flipped_byte(tmp_path: Path, target: str, offset: int) -> None:
    """One changed byte in the message (clock, PCR digest, nonce) or signature fails."""
    require_tools("tpm2_checkquote")
    _write_quote(tmp_path, [0, 1, 2, 3])
    path = tmp_path / target
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    assert _checkquote(tmp_path) != 0


def test_checkquote_rejects_a_wrong_nonce(tmp_path: Path) -> None:
    """A quote checked against another nonce fails."""
    require_tools("tpm2_checkquote")
    _write_quote(tmp_path, [0, 1])
    assert _checkquote(tmp_path, nonce=bytes.fromhex("5eed0fca11ab1e01")) != 0


def test_checkquote_checks_our_serialized_pcr_file(tmp_path: Path) -> None:
    """With -f and no -l, tpm2_checkquote recomputes the PCR digest from our file, over
    more than one TPML_DIGEST list, and rejects a file with one changed value."""
    require_tools("tpm2_checkquote")
    selection = [*range(12), 23]
    _write_quote(tmp_path, selection)
    pcrs = pcr_values_file(selection, _booted_tpm().pcrs)
    (tmp_path / "pcrs.bin").write_bytes(pcrs)
    assert _checkquote(tmp_path, "-f", "pcrs.bin") == 0
    tampered = bytearray(pcrs)
    tampered[132 + 4 + 4 + 2] ^= 0x01  # first byte of the first PCR value
    (tmp_path / "pcrs.bin").write_bytes(bytes(tampered))
    assert _checkquote(tmp_path, "-f", "pcrs.bin") != 0


def test_checkquote_checks_our_raw_pcr_values_with_a_selection(tmp_path: Path) -> None:
    """With -f and -l, tpm2_checkquote reads our plain values file (tpm2-tools 5.4 reads
    this format correctly only for up to 7 PCRs, even for files written by tpm2_quote)."""
    require_tools("tpm2_checkquote")
    selection = [0, 1, 4, 7, 9, 16, 23]
    _write_quote(tmp_path, selection)
    raw = pcr_values_raw(selection, _booted_tpm().pcrs)
    (tmp_path / "pcrs.raw").write_bytes(raw)
    pcr_list = "sha256:" + ",".join(map(str, selection))
    assert _checkquote(tmp_path, "-f", "pcrs.raw", "-l", pcr_list) == 0
    (tmp_path / "pcrs.raw").write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    assert _checkquote(tmp_path, "-f", "pcrs.raw", "-l", pcr_list) != 0


@pytest.fixture(scope="module")
def swtpm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftwareTpm]:
    """A fresh swtpm on free local ports, always terminated at the end."""
    require_tools(*TOOLS)
    with SoftwareTpm(tmp_path_factory.mktemp("swtpm")) as tpm:
        yield tpm


def _read_all(swtpm: SoftwareTpm) -> bytes:
    return swtpm.read_pcrs(range(PCR_COUNT))


def test_swtpm_reset_values_and_reboot_match(swtpm: SoftwareTpm) -> None:
    """A real TPM's reset values equal ours, before and after a reboot, and its
    serialized PCR file is byte-identical to pcr_values_file."""
    swtpm.power_cycle()
    swtpm.run("tpm2_pcrextend", f"0:sha256={'11' * 32}", f"23:sha256={'22' * 32}")
    assert parse_pcr_values_file(_read_all(swtpm))[TPM_ALG_SHA256][0] != RESET_VALUES[0]
    swtpm.power_cycle()
    data = _read_all(swtpm)
    assert data == pcr_values_file(range(PCR_COUNT), RESET_VALUES)
    tpm = VirtualTPM(b"reboot", CertificateAuthority.create(b"ca", "CA"), "R")
    tpm.measure(0, EventType.EV_POST_CODE, b"x", "x")
    tpm.restart()
    assert tpm.pcrs == RESET_VALUES == replay([])


event_logs = st.lists(
    st.tuples(
        st.sampled_from(LOCALITY0_PCRS),
        st.sampled_from([EventType.EV_POST_CODE, EventType.EV_SEPARATOR, EventType.EV_NO_ACTION]),
        st.binary(max_size=24),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(log=event_logs)
def test_swtpm_pcrs_equal_replay_of_the_same_log(
    swtpm: SoftwareTpm, log: list[tuple[int, EventType, bytes]]
) -> None:
    """Extending a real TPM with our event log gives exactly the PCRs replay() computes."""
    swtpm.power_cycle()
    tpm = VirtualTPM(b"swtpm-mirror", CertificateAuthority.create(b"ca", "CA"), "M")
    for pcr, etype, data in log:
        tpm.measure(pcr, etype, data, etype.name)
    specs = [f"{e.pcr}:sha256={e.digest.hex()}" for e in tpm.event_log if e.extends]
    if specs:
        swtpm.run("tpm2_pcrextend", *specs)
    data = _read_all(swtpm)
    values = parse_pcr_values_file(data)[TPM_ALG_SHA256]
    assert tuple(values[i] for i in range(PCR_COUNT)) == replay(tpm.event_log) == tpm.pcrs
    assert data == pcr_values_file(range(PCR_COUNT), tpm.pcrs)


def test_a_real_tpm_quote_parses_and_verifies_with_our_code(swtpm: SoftwareTpm) -> None:
    """swtpm's AK public area marshals exactly as ours does, and its quote parses,
    re-marshals byte for byte and verifies with verify_quote."""
    require_tools("tpm2_createek", "tpm2_createak", "tpm2_quote", "tpm2_flushcontext")
    swtpm.power_cycle()
    for i in (0, 7, 10, 23):
        swtpm.run("tpm2_pcrextend", f"{i}:sha256={hashlib.sha256(bytes([i])).hexdigest()}")
    swtpm.run("tpm2_createek", "-c", "ek.ctx", "-G", "ecc", "-u", "ek.pub")
    swtpm.run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g", "sha256",
              "-s", "ecdsa", "-u", "ak.tss", "-f", "tss", "-n", "ak.name")  # fmt: skip
    swtpm.run("tpm2_flushcontext", "-t")
    selection = [*range(12), 23]
    pcr_list = "sha256:" + ",".join(map(str, selection))
    swtpm.run("tpm2_quote", "-c", "ak.ctx", "-l", pcr_list, "-q", NONCE.hex(), "-m", "q.msg",
              "-s", "q.sig", "-o", "q.pcrs", "-g", "sha256")  # fmt: skip
    swtpm.run("tpm2_flushcontext", "-t")
    read = swtpm.state.joinpath

    tpm2b_public = read("ak.tss").read_bytes()
    area = tpm2b_public[2:]
    assert int.from_bytes(tpm2b_public[:2], "big") == len(area)
    ak = parse_ecc_public_area(area).public_key()
    assert ecc_public_area(ak) == area
    assert object_name(area) == read("ak.name").read_bytes()

    msg, sig, pcr_file = (read(n).read_bytes() for n in ("q.msg", "q.sig", "q.pcrs"))
    info = parse_attest(msg)
    assert marshal_attest(info) == msg
    assert info.extra_data == NONCE and info.sha256_pcrs() == tuple(selection)
    values = parse_pcr_values_file(pcr_file)[TPM_ALG_SHA256]
    assert pcr_file == pcr_values_file(selection, [values.get(i, b"") for i in range(PCR_COUNT)])
    assert info.pcr_digest == composite_digest([values.get(i, b"") for i in range(24)], selection)
    assert verify_quote(ak, Quote(msg, sig))
    assert not verify_quote(ak, Quote(msg[:-1] + bytes([msg[-1] ^ 1]), sig))
