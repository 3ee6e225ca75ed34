"""The ``admin`` section: what administrators do in reaction to the estate."""

from __future__ import annotations

from pydantic import Field

from sim.scenario.common import Section
from sim.scenario.distributions import Distribution


class Admin(Section):
    """What administrators do in reaction to the estate."""

    ek_registration_delay: Distribution | None = Field(
        default=None,
        description=(
            "after a TPM swap fails attestation for an unregistered endorsement key, an"
            " administrator registers the new EK this long after the failure (null: never)"
        ),
    )
