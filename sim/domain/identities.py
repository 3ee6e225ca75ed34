"""Seeded identities of the estate: the TPM manufacturer CA, each host's TPM and server.

Each identity is derived from the root seed by a fixed name (``tpm.esx-01``,
``hardware.esx-01``...), never from a stream's position, so the same host has the same TPM,
EK certificate and hardware id in every run with that seed, in the simulation and in
``vtasim export-quote`` alike.
"""

from __future__ import annotations

from sim.domain.image import Platform
from sim.domain.pki import CertificateAuthority
from sim.domain.tpm import VirtualTPM
from sim.rng import Streams

MANUFACTURER_CA_NAME = "vtasim TPM Manufacturer Root CA"


def manufacturer_ca(streams: Streams) -> CertificateAuthority:
    """The simulated TPM manufacturer's root CA (issues every EK certificate)."""
    return CertificateAuthority.create(
        streams.seed_bytes("pki.tpm-manufacturer"), MANUFACTURER_CA_NAME
    )


def host_tpm(streams: Streams, manufacturer: CertificateAuthority, host: str) -> VirtualTPM:
    """The TPM a host was delivered with."""
    return VirtualTPM(streams.seed_bytes(f"tpm.{host}"), manufacturer, f"TPM-{host}")


def replacement_tpm(
    streams: Streams, manufacturer: CertificateAuthority, host: str, n: int
) -> VirtualTPM:
    """The ``n``-th replacement TPM fitted to a host (a TPM swap)."""
    return VirtualTPM(
        streams.seed_bytes(f"tpm.{host}.replacement-{n}"), manufacturer, f"TPM-{host}-r{n}"
    )


def host_platform(streams: Streams, host: str) -> Platform:
    """The server a host runs on: an SMBIOS-style UUID as its hardware id, Secure Boot on."""
    return Platform(hardware_id=_uuid(streams.seed_bytes(f"hardware.{host}", 16)))


def replacement_platform(streams: Streams, host: str, n: int) -> Platform:
    """The server after the ``n``-th motherboard replacement of ``host``: a new hardware id."""
    return Platform(hardware_id=_uuid(streams.seed_bytes(f"hardware.{host}.replacement-{n}", 16)))


def _uuid(raw: bytes) -> str:
    hw = raw.hex()
    return f"{hw[:8]}-{hw[8:12]}-{hw[12:16]}-{hw[16:20]}-{hw[20:]}"
