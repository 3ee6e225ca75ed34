"""Export one host's attestation evidence as files that standard TPM 2.0 tools read.

Boots a host of the default ESXi image on a virtual TPM derived from ``(seed, host)``, takes a
quote over the given nonce and writes:

``ak.pub.pem``     the attestation key (SubjectPublicKeyInfo PEM)
``quote.msg``      the TPMS_ATTEST structure (TPM 2.0 wire format)
``quote.sig``      the TPMT_SIGNATURE (ECDSA P-256 / SHA-256)
``pcrs.bin``       the quoted PCR values in tpm2-tools' serialized form (for ``-f``)
``pcrs.json``      ``{"sha256": {"0": "<hex>", ...}}`` for all 24 PCRs
``eventlog.json``  the event log in extend order (pcr, event_type, digest, data, description)
``eventlog.bin``   the same events as a TCG PC Client crypto-agile binary log (for
                   ``tpm2_eventlog``, Keylime and other event-log readers)
``ek.crt.pem``     the EK certificate, and ``tpm-ca.crt.pem`` the manufacturer CA that issued it
``ek.pub``, ``ak.pub``  the EK's and AK's TPM2B_PUBLIC (tpm2-tools' ``-u`` format: for
                   ``tpm2_makecredential -u ek.pub``), ``ak.name`` the AK's Name

so that ``tpm2_checkquote -u ak.pub.pem -m quote.msg -s quote.sig -g sha256 -q <nonce>
-f pcrs.bin`` verifies the quote. The same seed, host and nonce give byte-identical files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from sim.domain.identities import host_platform, host_tpm, manufacturer_ca
from sim.domain.image import MEASURED_PCRS, default_image, measure_boot
from sim.domain.pki import CertificateAuthority, public_pem
from sim.domain.tcg_log import marshal_log
from sim.domain.tpm import PCR_COUNT, VirtualTPM
from sim.domain.tpm_wire import pcr_values_file
from sim.rng import Streams


def boot_host(seed: int, host: str) -> tuple[VirtualTPM, CertificateAuthority]:
    """The TPM of ``host`` under root ``seed`` after a measured boot of the default image
    (the same identities the estate simulation gives that host), and its manufacturer CA."""
    st = Streams(seed)
    manufacturer = manufacturer_ca(st)
    tpm = host_tpm(st, manufacturer, host)
    measure_boot(tpm, default_image(), host_platform(st, host))
    return tpm, manufacturer


def quote_files(
    tpm: VirtualTPM, nonce: bytes, selection: Sequence[int], ca_pem: bytes
) -> dict[str, bytes]:
    """The evidence files of ``tpm`` in its current state for a quote over ``nonce``
    (file name -> bytes, in the order the module doc lists them)."""
    quote = tpm.quote(nonce, selection)
    values = tpm.pcrs
    return {
        "ak.pub.pem": public_pem(tpm.ak_public),
        "quote.msg": quote.attest,
        "quote.sig": quote.signature,
        "pcrs.bin": pcr_values_file(selection, values),
        "pcrs.json": _json({"sha256": {str(i): values[i].hex() for i in range(PCR_COUNT)}}),
        "eventlog.json": _json([e.to_json() for e in tpm.event_log]),
        "eventlog.bin": marshal_log(tpm.event_log),
        "ek.crt.pem": tpm.ek_certificate.public_bytes(Encoding.PEM),
        "tpm-ca.crt.pem": ca_pem,
        "ek.pub": _tpm2b(tpm.ek_public_area),
        "ak.pub": _tpm2b(tpm.ak_public_area),
        "ak.name": tpm.ak_name,
    }


def export_quote(
    seed: int, host: str, nonce: bytes, out_dir: Path, pcrs: Sequence[int] | None = None
) -> list[Path]:
    """Write the quote files for ``host`` into ``out_dir``; return the paths written."""
    selection = tuple(sorted(set(pcrs))) if pcrs is not None else MEASURED_PCRS
    tpm, manufacturer = boot_host(seed, host)
    files = quote_files(tpm, nonce, selection, manufacturer.certificate.public_bytes(Encoding.PEM))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        path = out_dir / name
        path.write_bytes(data)
        written.append(path)
    return written


def _tpm2b(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=False) + "\n").encode()
