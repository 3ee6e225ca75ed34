"""Attestation regimes: documented parameter sets of vTA, Keylime (pull and push) and HGS.

``regime: keylime_pull`` at the top of a scenario expands, before validation, into the
values below; any setting the file makes explicitly overrides the preset (the expansion is a
deep merge with the preset underneath the file's own data), and the scenario keeps the
regime's name. The README's regime table lists every value with its source (the document
and its statement, or "not published: modelling choice"); a test parses that table and
compares it with :data:`PRESETS`, so the two cannot drift apart.

- ``vta``: the project's vTA defaults (the model's own defaults, so ``regime: vta`` changes
  nothing).
- ``keylime_pull``: the verifier polls every agent ``quote_interval`` (2 s) after the
  previous poll of it ended, with a 60 s request timeout and 5 retries backing off
  exponentially (2, 4, 8, 16, 32 s); IMA measures executables and kernel modules as they
  load, so an unapproved VIB or driver is measured at runtime while a new build, Secure
  Boot off or a TPM swap still needs a reboot; a failed verdict goes to subscribers through
  the revocation notifier after a notification delay.
- ``keylime_push``: agents send evidence every 60 s (``attestation_interval_seconds``),
  5 s request timeout, exponential back-off from 10 s up to 300 s.
- ``hgs``: attestation at host start, every 8 hours and on demand when a shielded VM starts
  without a valid health certificate; boot-scope measurement; one fallback attestation
  server; the health certificate lifetime is not published, so it is a parameter.

What the estate is made of (hosts, node counts, workers, service times, TPM signing time)
belongs to the estate, not to the regime, so comparisons run the same estate throughout.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sim.scenario.compose import deep_merge

LOGNORMAL_NOTICE: dict[str, Any] = {"dist": "lognormal", "median": "50ms", "p95": "250ms"}
"""The notification delay of Keylime's revocation notifier (not published: modelling choice)."""

REGIMES: tuple[str, ...] = ("vta", "keylime_pull", "keylime_push", "hgs")

_BOOT_ONLY = ("esxi_build_change", "secure_boot_off", "tpm_swap")

_TABLE: dict[str, tuple[Any, Any, Any, Any]] = {
    # dotted path: (vta, keylime_pull, keylime_push, hgs)
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
