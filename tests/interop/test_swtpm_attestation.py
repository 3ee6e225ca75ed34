"""Real TPM evidence through the project's verifier: swtpm makes an EK and an AK, the AK is
enrolled by credential activation, swtpm quotes a replayed boot log, and the verifier
accepts it for that host and rejects it after a PCR change. Also: tpm2_makecredential's
credentials activate in the virtual TPM, and export-quote output still checks out."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from sim.domain.credential import Credential, enroll_ak, make_credential
from sim.domain.image import (
    MEASURED_PCRS,
    AcceptanceLevel,
    Platform,
    Vib,
    default_image,
    measure_boot,
    measure_runtime_vib,
)
from sim.domain.pki import CertificateAuthority
from sim.domain.tpm import Event, VirtualTPM
from sim.domain.tpm_keys import ak_qualified_name, parse_public_area
from sim.domain.tpm_wire import object_name, parse_attest
from sim.domain.verifier import Evidence, HostIdentity, Policy, verify
from sim.errors import ExternalToolError
from sim.interop.quote_export import boot_host
from sim.interop.swtpm import ATTESTATION_TOOLS, TOOLS, SoftwareTpm
from tests.conftest import require_tools

pytestmark = pytest.mark.tpmtools

HOST = "esx-41"
SERVER = Platform("4c4c4544-0031-4b10-8052-b2c04f423132")
NONCE = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90")
ROGUE_VIB = Vib("rogue", "1.0", "ACME", AcceptanceLevel.PARTNER_SUPPORTED)


def _firmware() -> VirtualTPM:
    """A measured boot of the approved image on SERVER (its event log is what firmware and
    the ESXi loader would have written; swtpm receives the same extends)."""
    tpm = VirtualTPM(b"log-only", CertificateAuthority.create(b"ca", "CA"), "LOG")
    measure_boot(tpm, default_image(), SERVER)
    return tpm


def _der(area: bytes) -> bytes:
    return parse_public_area(area).public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _evidence(quote_tpm: SoftwareTpm, events: tuple[Event, ...], ek: bytes, ak: bytes) -> Evidence:
    quote = quote_tpm.quote(NONCE, MEASURED_PCRS)
    return Evidence(HOST, quote, events, _der(ak), _der(ek), None, ak, ek)


@pytest.mark.parametrize("ek_algorithm", ["ecc", "rsa"])
def test_verifier_accepts_a_genuine_swtpm_quote_and_rejects_a_pcr_change(
    tmp_path: Path, ek_algorithm: str
) -> None:
    """An AK enrolled by credential activation quotes a replayed boot: the verifier accepts
    it under a policy for that host (EK imported), and rejects the quote after a logged
    unapproved VIB and after an unlogged extend of PCR 10 (replay mismatch)."""
    require_tools(*TOOLS, *ATTESTATION_TOOLS)
    firmware = _firmware()
    with SoftwareTpm(tmp_path / "swtpm") as swtpm:
        swtpm.power_cycle()
        ek, ak = swtpm.create_ek_and_ak(ek_algorithm)
        ak_name = enroll_ak(ek, ak, swtpm.activate, b"enrolment challenge")
        assert ak_name == object_name(ak)
        identity = HostIdentity(HOST, SERVER.hardware_id, _der(ek), ak_name)
        policy = Policy(
            require_endorsement_keys=True,
            require_certificate_validation=False,
            trusted_ca_certs_der=(),
            identities={HOST: identity},
            approved_images=(default_image(),),
            min_acceptance=AcceptanceLevel.PARTNER_SUPPORTED,
        )
        swtpm.replay(firmware.event_log)
        evidence = _evidence(swtpm, firmware.event_log, ek, ak)
        verdict = verify(evidence, policy, NONCE)
        assert verdict.ok, verdict.reasons
        assert verdict.approved_image_id == default_image().image_id
        assert verify(evidence, policy, NONCE[::-1]).reasons == (
            "attestation.quote.nonce_mismatch",
        )
        other_host = dataclasses.replace(identity, ak_name=b"\x00\x0b" + bytes(32))
        unenrolled = dataclasses.replace(policy, identities={HOST: other_host})
        assert verify(evidence, unenrolled, NONCE).reasons == (
            "attestation.identity.ak_not_certified",
        )

        clean = firmware.event_log
        event = measure_runtime_vib(firmware, ROGUE_VIB)
        swtpm.replay([event])
        drifted = _evidence(swtpm, firmware.event_log, ek, ak)
        assert verify(drifted, policy, NONCE).reasons == ("attestation.image.vib_not_approved",)

        swtpm.extend([(10, hashlib.sha256(b"unlogged module").digest())])
        changed = _evidence(swtpm, clean, ek, ak)
        assert verify(changed, policy, NONCE).reasons == ("attestation.eventlog.replay_mismatch",)


def test_swtpm_refuses_a_credential_for_another_key(tmp_path: Path) -> None:
    """swtpm's TPM2_ActivateCredential fails the integrity check for a credential bound to
    another key's Name: a key that is not in this TPM cannot be enrolled."""
    require_tools(*TOOLS, *ATTESTATION_TOOLS)
    with SoftwareTpm(tmp_path / "swtpm") as swtpm:
        swtpm.power_cycle()
        ek, _ak = swtpm.create_ek_and_ak("ecc")
        foreign, _ = boot_host(1, "esx-01")
        credential = make_credential(
            parse_public_area(ek).public_key, foreign.ak_name, b"s" * 32, b"x"
        )
        with pytest.raises(ExternalToolError, match="integrity"):
            swtpm.activate(credential)


def test_virtual_tpm_activates_tpm2_makecredential_output(tmp_path: Path) -> None:
    """tpm2_makecredential (in software, -T none) protects a secret to the virtual TPM's EK
    public area for its AK's Name; the virtual TPM recovers it, and a TPM with another EK
    cannot."""
    require_tools("tpm2_makecredential")
    tpm, _ = boot_host(1, "esx-01")
    other, _ = boot_host(1, "esx-02")
    area = tpm.ek_public_area
    (tmp_path / "ek.pub").write_bytes(len(area).to_bytes(2, "big") + area)
    (tmp_path / "secret.bin").write_bytes(b"activation-secret-0123456789")
    args = ["tpm2_makecredential", "-T", "none", "-u", "ek.pub", "-s", "secret.bin"]
    args += ["-n", tpm.ak_name.hex(), "-o", "credential.bin"]
    done = subprocess.run(args, cwd=tmp_path, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    credential = Credential.from_tpm2_tools_blob((tmp_path / "credential.bin").read_bytes())
    assert tpm.activate_credential(credential) == b"activation-secret-0123456789"
    with pytest.raises(ValueError):
        other.activate_credential(credential)


def test_virtual_tpm_quotes_carry_the_same_qualified_name_as_swtpm_would(
    tmp_path: Path,
) -> None:
    """swtpm's quote names the AK by the Qualified Name computed from the EK and AK public
    areas, as the virtual TPM's quotes do."""
    require_tools(*TOOLS, *ATTESTATION_TOOLS)
    with SoftwareTpm(tmp_path / "swtpm") as swtpm:
        swtpm.power_cycle()
        ek, ak = swtpm.create_ek_and_ak("ecc")
        info = parse_attest(swtpm.quote(NONCE, [0]).attest)
    assert info.qualified_signer == ak_qualified_name(ek, ak)
    tpm, _ = boot_host(1, "esx-01")
    own = parse_attest(tpm.quote(NONCE, [0]).attest).qualified_signer
    assert own == ak_qualified_name(tpm.ek_public_area, tpm.ak_public_area)
