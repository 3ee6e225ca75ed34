"""VIB acceptance levels: the one registry of them.

ESXi orders the levels a VIB can carry from least to most trusted: CommunitySupported,
PartnerSupported, VMwareAccepted, VMwareCertified. Everything that names a level reads it
here: the image model and the verifier (:class:`AcceptanceLevel`, compared by rank), the
scenario format (``attestation.min_acceptance`` and a drift's ``acceptance`` accept
:func:`acceptance_labels`, and the JSON Schema lists them), the drift process (which
level an unapproved VIB carries) and the generated docs. A new level is one member here.
"""

from __future__ import annotations

from enum import IntEnum


class AcceptanceLevel(IntEnum):
    """VIB acceptance levels, ordered from least to most trusted."""

    COMMUNITY_SUPPORTED = 1
    PARTNER_SUPPORTED = 2
    VMWARE_ACCEPTED = 3
    VMWARE_CERTIFIED = 4

    @property
    def label(self) -> str:
        """The name ESXi uses ("CommunitySupported", ..., "VMwareCertified")."""
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> AcceptanceLevel:
        """The level named by ``text``: an ESXi label or an enum name, case-insensitive."""
        key = text.strip().lower()
        for level in cls:
            if key in (level.label.lower(), level.name.lower()):
                return level
        raise ValueError(f"unknown acceptance level {text!r}")


_LABELS = {
    AcceptanceLevel.COMMUNITY_SUPPORTED: "CommunitySupported",
    AcceptanceLevel.PARTNER_SUPPORTED: "PartnerSupported",
    AcceptanceLevel.VMWARE_ACCEPTED: "VMwareAccepted",
    AcceptanceLevel.VMWARE_CERTIFIED: "VMwareCertified",
}


def acceptance_labels() -> tuple[str, ...]:
    """The ESXi label of every level, lowest first (what a scenario file writes)."""
    return tuple(level.label for level in AcceptanceLevel)
