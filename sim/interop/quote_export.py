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

Which hosts: any host of a scenario when one is given (``--scenario``), else a name the
simulator could give a host: ``esx-`` and its number, zero-padded to at least two digits
(``esx-07``; ``esx-0042`` in an estate of 1,000 hosts or more; see
:meth:`sim.scenario.Scenario.host_names`). Anything else (``nosuch``, ``esx-7``) is refused,
because it would export the identity of a host no simulation has.

The files are written atomically as a set: each goes to a hidden temporary name first and
is synced; only when all are written are they renamed into place, so a full disk leaves
the folder as it was, with no empty or cut-off file.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from sim.analysis.folder_io import write_temporary
from sim.domain.identities import host_platform, host_tpm, manufacturer_ca
from sim.domain.image import MEASURED_PCRS, default_image, measure_boot
from sim.domain.pki import CertificateAuthority, public_pem
from sim.domain.tcg_log import marshal_log
from sim.domain.tpm import PCR_COUNT, VirtualTPM
from sim.domain.tpm_wire import pcr_values_file, tpm2b
from sim.errors import Problem, RunError, ScenarioError
from sim.rng import Streams
from sim.scenario.limits import MAX_HOSTS

_HOST = re.compile(r"esx-([0-9]{2,6})")


def check_host(host: str, hosts: Sequence[str] | None = None) -> None:
    """Raise ScenarioError unless ``host`` is one of ``hosts`` (a scenario's), or, without
    them, a name the simulator gives a host (``esx-07``...)."""
    if hosts is not None:
        if host not in hosts:
            shown = ", ".join(hosts[:3]) + (", ..." if len(hosts) > 3 else "")
            close = difflib.get_close_matches(host, hosts, n=1, cutoff=0.8)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ScenarioError(
                [Problem("--host", f"no host {host!r} in the scenario (its hosts: {shown}){hint}")]
            )
        return
    match = _HOST.fullmatch(host)
    if match is None or not 1 <= int(match.group(1)) <= MAX_HOSTS:
        short = re.fullmatch(r"esx-([0-9])", host)
        if short is not None:
            raise ScenarioError(
                [
                    Problem(
                        "--host",
                        f"no host {host!r}: host numbers have at least two digits; did you "
                        f"mean 'esx-0{short.group(1)}'?",
                    )
                ]
            )
        raise ScenarioError(
            [
                Problem(
                    "--host",
                    f"expected a host name such as esx-01 or esx-0042 (esx- and a number of at "
                    f"least two digits, 1 to {MAX_HOSTS:,}), found {host!r}; "
                    "--scenario FILE checks it against a scenario's hosts",
                )
            ]
        )


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
        "ek.pub": tpm2b(tpm.ek_public_area),
        "ak.pub": tpm2b(tpm.ak_public_area),
        "ak.name": tpm.ak_name,
    }


def export_quote(
    seed: int, host: str, nonce: bytes, out_dir: Path, pcrs: Sequence[int] | None = None
) -> list[Path]:
    """Write the quote files for ``host`` into ``out_dir``; return the paths written."""
    selection = tuple(sorted(set(pcrs))) if pcrs is not None else MEASURED_PCRS
    tpm, manufacturer = boot_host(seed, host)
    files = quote_files(tpm, nonce, selection, manufacturer.certificate.public_bytes(Encoding.PEM))
    return _write_all(out_dir, files)


def _write_all(out_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write the files as a set, all or none: each under a temporary name created
    exclusively in ``out_dir`` (a planted link is never followed) and synced; then every
    final name is checked (a folder in the way fails here, before anything moved) and each
    file renamed into place, an older file kept aside until all are in and put back if one
    rename fails. Raises RunError naming ``out_dir``."""
    temps: list[tuple[str, Path]] = []
    moved: list[tuple[Path, str | None]] = []  # (final, its old file set aside)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            temps.append((write_temporary(out_dir, name, data), out_dir / name))
        for _, final in temps:
            if final.is_dir() and not final.is_symlink():
                raise IsADirectoryError(errno.EISDIR, f"{final.name} is a folder", str(final))
        for tmp, final in temps:
            aside = None
            if os.path.lexists(final):
                aside = f"{tmp}.old"
                os.rename(final, aside)
            moved.append((final, aside))
            os.replace(tmp, final)
    except OSError as exc:
        for final, aside in reversed(moved):  # put the old set back
            with contextlib.suppress(OSError):
                if aside is not None:
                    os.replace(aside, final)
                else:
                    os.unlink(final)
        raise RunError(
            f"cannot write the quote files to {out_dir}: {exc.strerror or exc} "
            "(none of them written)"
        ) from None
    finally:
        for tmp, _ in temps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for _, aside in moved:
        if aside is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(aside)
    return [final for _, final in temps]


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=False) + "\n").encode()
