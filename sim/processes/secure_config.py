"""A trusted host's secure ESXi configuration (vSphere 7.0 U2 and later).

In TPM mode the host's configuration is encrypted with a key sealed to its TPM. VMware: if
"you replaced the motherboard or the TPM device, or both ... you must take steps to recover
the ESXi secure configuration. You must have the recovery key ... Until you recover the
configuration, the ESXi host cannot boot." The model keeps the host down, after the reboot
that brought the new TPM, for ``hosts.configuration_recovery`` (how long an administrator
takes to enter the recovery key: a modelling choice), then seals the configuration to the
new TPM. Without TPM mode (``hosts.secure_configuration: none``) the host boots at once.
"""

from __future__ import annotations

from collections.abc import Callable


class SecureConfiguration:
    """Which TPM a host's configuration is sealed to, and the recovery a new one costs."""

    def __init__(self, sealed_to: bytes, recovery: Callable[[], float] | None) -> None:
        self.sealed_to = sealed_to
        self._recovery = recovery

    def recovery(self, ek: bytes) -> float | None:
        """Booting on the TPM whose endorsement key is ``ek``: None when the host can boot
        (not TPM mode, or the same TPM); otherwise the seconds until the configuration is
        recovered, after which it is sealed to this TPM."""
        if self._recovery is None or ek == self.sealed_to:
            return None
        self.sealed_to = ek
        return self._recovery()
