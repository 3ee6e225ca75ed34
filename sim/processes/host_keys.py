"""A trusted host's key cache.

VMware: "the ESXi host obtains the keys initially and retains them in its key cache. If the
ESXi host reboots, it loses its key cache." A host that holds a VM's key powers the VM on
again, or receives it back by vMotion, without asking the Key Provider Service. With key
persistence (vSphere 7.0 U2 and later, ``hosts.key_persistence``) the keys survive a reboot,
sealed in the host's TPM with Secure Boot in the seal's policy one way (VMware
documentation): keys sealed while Secure Boot was on unseal only with it on, so a boot with
it off loses them; keys sealed while it was off survive a boot with it on. Another TPM
cannot unseal any of them. Every key added or dropped is a ``key_cache`` row, so the keys a
drifted host held can be counted afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.analysis.recorder import Recorder


@dataclass(frozen=True)
class HeldKey:
    """A KEK in a host's cache, and what it would be sealed to (Secure Boot state, EK)."""

    kek: bytes
    secure_boot: bool
    ek: bytes


class KeyCache:
    """The keys one host holds, by VM."""

    def __init__(self, host: str, persistence: bool, recorder: Recorder) -> None:
        self.host = host
        self.persistence = persistence
        self.recorder = recorder
        self.keys: dict[str, HeldKey] = {}

    def __contains__(self, vm: str) -> bool:
        return vm in self.keys

    def add(self, vm: str, key: HeldKey, now: float) -> None:
        """Keep ``vm``'s key (obtained now)."""
        if vm not in self.keys:
            self.recorder.add("key_cache", time=now, host=self.host, vm=vm, event="added")
        self.keys[vm] = key

    def boot(self, secure_boot: bool, ek: bytes, now: float) -> None:
        """The host boots: without persistence every key is gone; with it, the keys its TPM
        can unseal (:func:`unseals`) stay, the rest are lost."""
        for vm, key in list(self.keys.items()):
            if self.persistence and unseals(key, secure_boot, ek):
                continue
            reason = "reboot" if not self.persistence else "seal_mismatch"
            self.recorder.add(
                "key_cache", time=now, host=self.host, vm=vm, event="dropped", reason=reason
            )
            del self.keys[vm]


def unseals(key: HeldKey, secure_boot: bool, ek: bytes) -> bool:
    """Whether a boot with Secure Boot ``secure_boot`` on the TPM ``ek`` unseals ``key``:
    the same TPM, and Secure Boot on unless the key was sealed with it off."""
    return key.ek == ek and (secure_boot or not key.secure_boot)
