"""Attestation regimes: documented parameter sets of vTA, Keylime (pull and push) and HGS,
and the one registry of them.

``regime: keylime_pull`` at the top of a scenario expands, before validation, into the
values below; any setting the file makes explicitly overrides the preset (the expansion is a
deep merge with the preset underneath the file's own data), and the scenario keeps the
regime's name. The README's regime table lists every value with its source (the document
and its statement, or "not published: modelling choice"); a test parses that table and
compares it with :data:`PRESETS`, so the two cannot drift apart.

:data:`REGISTRY` is the one list of regimes: the scenario format's ``regime`` field (and so
the JSON Schema and validation) accepts :func:`regime_names`, the presets below have one
column per entry, and docs read each entry's title and summary (:func:`regime`). Adding a
regime is an entry in :data:`REGISTRY`, its column in the table below and its column in the
README's table.

What the estate is made of (hosts, node counts, workers, service times, TPM signing time)
belongs to the estate, not to the regime, so comparisons run the same estate throughout.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.scenario.common import deep_merge

LOGNORMAL_NOTICE: dict[str, Any] = {"dist": "lognormal", "median": "50ms", "p95": "250ms"}
"""The notification delay of Keylime's revocation notifier (not published: modelling choice)."""


@dataclass(frozen=True)
class Regime:
    """One attestation regime: its name in scenario files, a title and what it does."""

    name: str
    title: str
    summary: str


REGISTRY: tuple[Regime, ...] = (
    Regime(
        "vta",
        "vSphere Trust Authority",
        "the project's vTA defaults (the model's own defaults, so ``regime: vta`` changes nothing)",
    ),
    Regime(
        "keylime_pull",
        "Keylime, pull model",
        "the verifier polls every agent ``quote_interval`` (2 s) after the previous poll of"
        " it ended, with a 60 s request timeout and 5 retries backing off exponentially (2,"
        " 4, 8, 16, 32 s); IMA measures executables and kernel modules as they load, so an"
        " unapproved VIB or driver is measured at runtime while a new build, Secure Boot off"
        " or a TPM swap still needs a reboot; a failed verdict goes to subscribers through"
        " the revocation notifier after a notification delay",
    ),
    Regime(
        "keylime_push",
        "Keylime, push model",
        "agents send evidence every 60 s (``attestation_interval_seconds``), 5 s request"
        " timeout, exponential back-off from 10 s up to 300 s",
    ),
    Regime(
        "hgs",
        "Host Guardian Service",
        "attestation at host start, every 8 hours and on demand when a shielded VM starts"
        " without a valid health certificate; boot-scope measurement; one fallback"
        " attestation server; the health certificate lifetime is not published, so it is a"
        " parameter",
    ),
)
"""Every regime a scenario can name, in the order of the preset table's columns."""

REGIMES: tuple[str, ...] = tuple(r.name for r in REGISTRY)
"""The regimes' names, in registry order."""


def regime_names() -> tuple[str, ...]:
    """The name of every regime, in registry order (what ``regime:`` accepts)."""
    return REGIMES


def regime(name: str) -> Regime:
    """The registry entry called ``name``; a KeyError listing the names otherwise."""
    for entry in REGISTRY:
        if entry.name == name:
            return entry
    raise KeyError(f"no regime {name!r}; regimes: {', '.join(REGIMES)}")


_BOOT_ONLY = ("esxi_build_change", "secure_boot_off", "tpm_swap")

_TABLE: dict[str, tuple[Any, Any, Any, Any]] = {
    # dotted path: one value per regime, in REGISTRY order (vta, keylime_pull, keylime_push, hgs)
    "attestation.initiator": ("agent", "verifier", "agent", "agent"),
    "attestation.interval": ("5m", "2s", "60s", "8h"),
    "attestation.jitter": ("10s", "0s", "0s", "0s"),
    "attestation.timeout": ("10s", "60s", "5s", "10s"),
    "attestation.max_retries": (5, 5, 5, 5),
    "attestation.backoff": ("2s", "2s", "10s", "2s"),
    "attestation.backoff_multiplier": (2.0, 2.0, 2.0, 2.0),
    "attestation.max_backoff": ("60s", "60s", "300s", "60s"),
    "attestation.report_lifetime": ("15m", "10m", "5m", "9h"),
    "attestation.revocation": ("none", "push", "push", "none"),
    "attestation.notification_delay": (None, LOGNORMAL_NOTICE, LOGNORMAL_NOTICE, None),
    "attestation.on_demand": (True, False, False, True),
    "drift.measured_at.unapproved_vib": ("boot", "runtime", "runtime", "boot"),
    "drift.measured_at.driver_change": ("boot", "runtime", "runtime", "boot"),
    **{f"drift.measured_at.{kind}": ("boot", "boot", "boot", "boot") for kind in _BOOT_ONLY},
    "trust_authority.fallback_hosts": (0, 0, 0, 1),
}


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = copy.deepcopy(value)
    return out


FLAT_PRESETS: dict[str, dict[str, Any]] = {
    name: {path: values[i] for path, values in _TABLE.items()} for i, name in enumerate(REGIMES)
}
"""Per regime, its value of every regime parameter by dotted scenario path."""

PRESETS: dict[str, dict[str, Any]] = {name: _nest(flat) for name, flat in FLAT_PRESETS.items()}
"""Per regime, the preset as a nested scenario fragment."""


def expand_regime(data: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario mapping with its regime's preset underneath it (unchanged when it names
    no regime, or one that is not known: validation then reports the ``regime`` field)."""
    name = data.get("regime")
    if not isinstance(name, str) or name not in PRESETS:
        return dict(data)
    return deep_merge(PRESETS[name], data)
