"""Drift kinds: one registry that the scenario schema, the docs, the validation and the
processes read.

Each kind is one module of this package defining ``KIND``, a :class:`DriftKindSpec`: its
name, a one-line definition, where it comes in the kind order, whether a runtime measurement
records it at once, its default ``measured_at``, whether random drift draws it by default,
and its effect on a host as pure functions of the drift (:class:`DriftFacts`): the
:data:`~sim.domain.installed.Change` to what the host runs, the runtime measurement into its
TPM, and whether the change is refused outright. The processes call those functions
(:mod:`sim.processes.drift`); nothing here knows of SimPy or of hosts.

Adding a drift kind is adding one module here (and its test). A new kind is drawn by random
drift only where a scenario lists it (``random_default`` is False unless set), so existing
scenarios do not change.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Literal

from sim.domain.image import AcceptanceLevel, Platform, Vib
from sim.domain.installed import Change
from sim.domain.tpm import VirtualTPM

MeasuredAt = Literal["runtime", "boot"]


@dataclass(frozen=True)
class DriftFacts:
    """One drift as its kind's functions see it: its id (1, 2, ... in the run), the host,
    the acceptance level given for an unapproved VIB, and the TPM a swap brings in (drawn
    from the host's own named stream when called)."""

    drift_id: int
    host: str
    acceptance: str
    new_tpm: Callable[[], VirtualTPM]

    @property
    def unapproved_vib(self) -> Vib:
        """The signed third-party VIB, not part of the approved image, this drift brings."""
        return Vib(
            f"unapproved-tool-{self.drift_id}",
            "1.0.0-1",
            "ThirdParty",
            AcceptanceLevel.parse(self.acceptance),
        )

    @property
    def driver(self) -> str:
        """The vmkernel driver this drift brings."""
        return f"thirdparty_nic_{self.drift_id}"


def _never_blocked(drift: DriftFacts, platform: Platform) -> bool:
    return False


@dataclass(frozen=True)
class DriftKindSpec:
    """One drift kind.

    ``runtime_measurable``: measured at runtime, the change is loaded and measured into the
    running TPM at once (``measure``); otherwise runtime measurement means an immediate
    reboot. ``adopted_with_tpm``: an administrator registering the host's current TPM closes
    open drifts of this kind. ``order`` places the kind in the kind order (the schema's
    enumeration and random drift's default list, whose order its draws depend on)."""

    name: str
    order: int
    doc: str
    change: Callable[[DriftFacts], Change]
    runtime_measurable: bool = False
    measure: Callable[[DriftFacts], Callable[[VirtualTPM], object]] | None = None
    measured_at: MeasuredAt = "boot"
    random_default: bool = False
    blocked: Callable[[DriftFacts, Platform], bool] = _never_blocked
    adopted_with_tpm: bool = False

    def __post_init__(self) -> None:
        if self.runtime_measurable != (self.measure is not None):
            raise ValueError(f"drift kind {self.name}: a runtime-measurable kind has a measure")


def _discover() -> tuple[DriftKindSpec, ...]:
    """Every ``KIND`` of this package's modules, in kind order."""
    found: list[DriftKindSpec] = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "KIND", None)
        if not isinstance(kind, DriftKindSpec) or kind.name != info.name:
            raise ImportError(f"{module.__name__} must define KIND named {info.name!r}")
        found.append(kind)
    found.sort(key=lambda k: k.order)
    if len({k.order for k in found}) != len(found):
        raise ImportError("two drift kinds share an order")
    return tuple(found)


KINDS: tuple[DriftKindSpec, ...] = _discover()
"""Every drift kind, in kind order."""

BY_NAME: dict[str, DriftKindSpec] = {k.name: k for k in KINDS}

if TYPE_CHECKING:

    class DriftKind(str, Enum):
        """What changes on a drifted host (members: the registered kinds)."""

else:
    DriftKind = Enum(
        "DriftKind",
        [(k.name.upper(), k.name) for k in KINDS],
        type=str,
        module=__name__,
        qualname="DriftKind",
    )
    DriftKind.__doc__ = "What changes on a drifted host."


def measured_order() -> list[DriftKindSpec]:
    """The kinds with the runtime-measurable ones first, then the others, each in kind order
    (the order a resolved scenario lists ``measured_at`` in)."""
    return sorted(KINDS, key=lambda k: not k.runtime_measurable)


def runtime_measurable() -> frozenset[str]:
    """Names of the kinds a runtime measurement records at once; a runtime-measured drift of
    another kind reboots its host at once."""
    return frozenset(k.name for k in KINDS if k.runtime_measurable)


def default_measured_at() -> dict[str, MeasuredAt]:
    """Each kind's default ``measured_at``, in :func:`measured_order`."""
    return {k.name: k.measured_at for k in measured_order()}


def random_default() -> tuple[str, ...]:
    """The kinds random drift draws from when a scenario lists none."""
    return tuple(k.name for k in KINDS if k.random_default)


def markdown() -> str:
    """The kinds as a Markdown list: name, definition, default ``measured_at``, and
    whether random drift draws it by default."""
    return "\n".join(
        f"- `{k.name}`: {k.doc}. Measured at `{k.measured_at}` by default"
        + ("; drawn by random drift by default." if k.random_default else ".")
        for k in KINDS
    )
