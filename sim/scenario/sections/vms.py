"""The ``vms`` section: the VM population, its encryption and encrypted-vMotion mix."""

from __future__ import annotations

from pydantic import Field, model_validator

from sim.scenario.common import Name, Section, bandwidth, size
from sim.scenario.limits import (
    VmMemory,
)
from sim.scenario.units import Bandwidth


class EncryptionMix(Section):
    """Weights of how VMs are encrypted (normalised)."""

    none: float = Field(
        default=0.5, ge=0, le=1e6, description="relative weight of VMs without encryption"
    )
    storage_policy: float = Field(
        default=0.2,
        ge=0,
        le=1e6,
        description="relative weight of VMs encrypted by a storage policy (need a key)",
    )
    vtpm: float = Field(
        default=0.3, ge=0, le=1e6, description="relative weight of VMs with a vTPM (need a key)"
    )

    @model_validator(mode="after")
    def _positive(self) -> EncryptionMix:
        if self.none + self.storage_policy + self.vtpm <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class VMotionModeMix(Section):
    """Weights of the per-VM encrypted vMotion setting (normalised)."""

    disabled: float = Field(
        default=0.1,
        ge=0,
        le=1e6,
        description="relative weight of VMs whose vMotion is never encrypted",
    )
    opportunistic: float = Field(
        default=0.8,
        ge=0,
        le=1e6,
        description="relative weight of VMs encrypted when both hosts support it",
    )
    required: float = Field(
        default=0.1,
        ge=0,
        le=1e6,
        description="relative weight of VMs whose vMotion must be encrypted",
    )

    @model_validator(mode="after")
    def _positive(self) -> VMotionModeMix:
        if self.disabled + self.opportunistic + self.required <= 0:
            raise ValueError("at least one weight must be positive")
        return self


class Vms(Section):
    """The VM population."""

    count: int = Field(
        default=200, ge=0, le=10_000_000, description="virtual machines in the estate"
    )
    memory: tuple[VmMemory, ...] = Field(
        default=(size("4GiB"), size("8GiB"), size("16GiB")),
        min_length=1,
        description="drawn uniformly",
    )
    dirty_rate: Bandwidth = Field(
        default=bandwidth("64MiB/s"), description="guest page-dirtying rate"
    )
    initially_running: float = Field(
        default=0.8, ge=0, le=1, description="fraction of the VMs powered on at the start"
    )
    encryption: EncryptionMix = Field(
        default=EncryptionMix(),
        description="how the VMs are encrypted (relative weights)",
    )
    vmotion_mode: VMotionModeMix = Field(
        default=VMotionModeMix(),
        description="encrypted vMotion setting of the VMs (relative weights)",
    )
    key_provider: dict[Name, float] = Field(
        default_factory=dict,
        description="weights of the key providers encrypted VMs use (empty: the first)",
    )
