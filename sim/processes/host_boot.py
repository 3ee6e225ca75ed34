"""A trusted host's boot chain: what it runs (image, server, TPM), the changes staged for
its next boot, and the measured boot itself.

Only the host changes what it runs. Others hand it a :data:`~sim.domain.installed.Change`:
staged (applied when the host next boots, optionally telling the giver it took effect),
or applied at once with a runtime measurement into the running TPM (a VIB or driver loaded
while the host runs).
"""

from __future__ import annotations

from collections.abc import Callable

from sim.domain.image import EsxiImage, Platform, measure_boot
from sim.domain.installed import Change, Installed
from sim.domain.tpm import VirtualTPM

Applied = Callable[[], None]
"""Told when a staged change took effect (the drift injector dates the drift with it)."""


class BootChain:
    """The installed state of one host, its staged changes and its boot count."""

    def __init__(self, installed: Installed) -> None:
        self._installed = installed
        self._staged: list[tuple[Change, Applied | None]] = []
        self.boots = 0

    @property
    def installed(self) -> Installed:
        """What the host runs now."""
        return self._installed

    @property
    def image(self) -> EsxiImage:
        """The ESXi image the host runs."""
        return self._installed.image

    @property
    def platform(self) -> Platform:
        """The server the host runs on."""
        return self._installed.platform

    @property
    def tpm(self) -> VirtualTPM:
        """The host's TPM."""
        return self._installed.tpm

    def stage(self, change: Change, applied: Applied | None = None) -> None:
        """Apply ``change`` at the next boot (after those staged before it); ``applied``
        is called once it took effect."""
        self._staged.append((change, applied))

    def stage_only(self, change: Change) -> None:
        """Replace every staged change by ``change`` (remediation undoes them all)."""
        self._staged = [(change, None)]

    def apply_staged(self) -> None:
        """Apply the staged changes in order (the new state is in before the boot)."""
        staged, self._staged = self._staged, []
        for change, applied in staged:
            self._installed = change(self._installed)
            if applied is not None:
                applied()

    def load_now(self, change: Change, measure: Callable[[VirtualTPM], object]) -> None:
        """Apply ``change`` now and ``measure`` it into the running TPM."""
        self._installed = change(self._installed)
        measure(self._installed.tpm)

    def power_up(self, now: float) -> None:
        """Apply the staged changes and measure the boot chain into a reset TPM at ``now``."""
        self.apply_staged()
        tpm = self._installed.tpm
        tpm.restart()
        tpm.set_clock(int(now * 1000))
        measure_boot(tpm, self._installed.image, self._installed.platform)
        self.boots += 1
