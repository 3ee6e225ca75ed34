"""The ``hosts`` section: settings every trusted host shares."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sim.scenario.common import Section, dist
from sim.scenario.distributions import Distribution


class Hosts(Section):
    """Settings every trusted host shares."""

    key_persistence: bool = Field(
        default=False,
        description=(
            "vSphere 7.0 U2+: keys a host obtained survive its reboots, sealed in its TPM"
            " (another TPM, or Secure Boot off for keys sealed with it on, drops them)"
        ),
    )
    secure_configuration: Literal["tpm", "none"] = Field(
        default="tpm",
        description=(
            "vSphere 7.0 U2+ secure ESXi configuration: tpm (TPM mode): a host whose TPM or"
            " motherboard was replaced cannot boot until its configuration is recovered with"
            " the recovery key; none: it boots with the new TPM at once"
        ),
    )
    configuration_recovery: Distribution = Field(
        default=dist("1h"),
        description=(
            "TPM mode: how long a host whose TPM changed stays down after its reboot until an"
            " administrator recovers the configuration with the recovery key (modelling choice)"
        ),
    )
