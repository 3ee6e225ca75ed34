"""Attestation regimes: documented parameter sets of vTA, Keylime (pull and push) and HGS,
and the one registry of them.

``regime: keylime_pull`` at the top of a scenario expands, before validation, into the
values below; any setting the file makes explicitly overrides the preset (the expansion is a
deep merge with the preset underneath the file's own data), and the scenario keeps the
regime's name. The documentation's regime reference (``docs/reference/regimes.md``) is
rendered by :func:`markdown` from :data:`FLAT_PRESETS` and :data:`SOURCES`: every value with
its source (the document and its statement, or "not published: modelling choice"); a test
keeps the page current.

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

from sim.domain import drift_kinds
from sim.domain.drift_kinds import DriftKindSpec
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


def _measured_at(kind: DriftKindSpec) -> tuple[str, str, str, str]:
    """Where each regime measures a drift kind: Keylime's IMA records a runtime-measurable
    change (a VIB, a driver) when it loads; everything else, and vTA and HGS always, at the
    next boot."""
    if kind.runtime_measurable:
        return ("boot", "runtime", "runtime", "boot")
    return ("boot", "boot", "boot", "boot")


_MEASURED_AT_SOURCE = {
    True: "as the kinds above: measured when it loads under Keylime's IMA, at boot otherwise",
    False: "a change seen from the next boot in every regime (measured boot)",
}
"""Source of a drift kind's four values when the table below names no document for it."""

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
    # every registered drift kind (sim.domain.drift_kinds), runtime-measurable kinds first
    **{f"drift.measured_at.{k.name}": _measured_at(k) for k in drift_kinds.measured_order()},
    "trust_authority.fallback_hosts": (0, 0, 0, 1),
}


SOURCES: dict[str, str] = {
    # dotted path: where the four values come from (document and statement, or modelling choice)
    "attestation.initiator": (
        "vTA: the host's Trusted Infrastructure Agent attests (VMware documentation). Keylime"
        ' (docs, Push-Model Attestation): "In the default pull model, the Keylime verifier '
        'continuously polls agents for attestation data"; "The push model reverses this: the '
        "agent initiates connections to the verifier and proactively sends attestation "
        'evidence". HGS (Microsoft, Guarded fabric and shielded VMs overview): "The guarded '
        'host requests attestation"'
    ),
    "attestation.interval": (
        "vTA: not documented, modelling choice. Keylime verifier `quote_interval`, default 2:"
        ' "Time between integrity measurement checks, in seconds" (keylime '
        "`templates/2.0/verifier.j2`, default in `mapping.json`). Keylime push agent "
        '`attestation_interval_seconds`, default 60: "Interval in seconds between attestation'
        ' cycles". HGS: "Attestation happens when the host starts and every 8 hours '
        'thereafter"'
    ),
    "attestation.jitter": (
        "vTA: modelling choice. Keylime: none; the next poll is set `quote_interval` after a "
        "quote was processed (`cloud_verifier_tornado.py`); push agent and HGS: not "
        "published, modelling choice (none)"
    ),
    "attestation.timeout": (
        'vTA: modelling choice. Keylime verifier `request_timeout`, default 60.0: "Timeout in'
        ' seconds for requests made to agents". Keylime push agent `--timeout`, default 5000 '
        'ms: "Request timeout in milliseconds". HGS: not published, modelling choice (vTA\'s)'
    ),
    "attestation.max_retries": (
        'vTA: modelling choice. Keylime verifier `max_retries`, default 5: "Number of retries'
        ' to connect to an agent before giving up". Keylime push agent '
        "`exponential_backoff_max_retries`, default 5. HGS: not published, modelling choice "
        "(vTA's)"
    ),
    "attestation.backoff": (
        'vTA: modelling choice. Keylime verifier `retry_interval`, default 2: "the base for '
        'the exponential backoff algorithm" (`exponential_backoff`, default True). Keylime '
        "push agent `exponential_backoff_initial_delay`, default 10000 ms. HGS: not "
        "published, modelling choice (vTA's)"
    ),
    "attestation.backoff_multiplier": (
        "vTA: modelling choice. Keylime verifier: the n-th retry waits `base**ntries` "
        '(`keylime/common/retry.py`): 2, 4, 8, 16, 32 s. Keylime push agent: "exponential '
        'backoff", factor not published, modelling choice (2). HGS: not published, modelling '
        "choice (vTA's)"
    ),
    "attestation.max_backoff": (
        "vTA: modelling choice. Keylime verifier: no cap; five retries never wait over 32 s, "
        "so 60 s changes nothing. Keylime push agent `exponential_backoff_max_delay`, default"
        " 300000 ms. HGS: not published, modelling choice (vTA's)"
    ),
    "attestation.report_lifetime": (
        "vTA: not documented, modelling choice. Keylime issues no report and keeps an agent "
        "trusted until a failure is notified: not published, modelling choice (pull: 10 min, "
        "longer than the verifier takes to give up on an unreachable agent, 6 × 60 s + 62 s; "
        'push: "The verifier marks an agent as failed if it does not receive an attestation '
        "within `quote_interval * 5` seconds\", with `quote_interval` set to the agents' 60 s,"
        " as the interval must stay below that threshold). HGS: the health certificate's "
        "lifetime is not published: a parameter, 9 h (the 8-hour period and one hour)"
    ),
    "attestation.revocation": (
        "vTA: not documented, modelling choice. Keylime: on a failed attestation the verifier"
        " sends a revocation notification (`notify_error`, `cloud_verifier_tornado.py`; "
        '`enabled_revocation_notifications`, default `[agent]`: "Deliver notification '
        'directly to the agent via the REST protocol", or ZeroMQ, or a webhook "to notify '
        'other systems"). HGS: not published, modelling choice (a failed attestation issues '
        "no certificate; the one held stays until it expires)"
    ),
    "attestation.notification_delay": (
        "Keylime's revocation notifier: its delivery time is not published, modelling choice."
        " vTA and HGS: no notifier"
    ),
    "attestation.on_demand": (
        "vTA: modelling choice (the agent attests when it needs a key and holds no report). "
        "Keylime: an agent does not attest because a key is needed (no such mechanism "
        "documented): modelling choice. HGS: \"If for some reason a host doesn't have an "
        'attestation certificate when a VM tries to start, this also triggers attestation"'
    ),
    "drift.measured_at.unapproved_vib": (
        'vTA: VMware documentation ("prove the authenticity of their booted software"). '
        "Keylime: IMA's policy \"measures all executables in `bprm_check` and all files "
        '`mmapped` executable in `file_mmap` and module checks" (Keylime docs, Run-time '
        "Integrity Monitoring), so a loaded VIB is measured when it runs. HGS: the host sends"
        ' "Information about processes that were started during the most recent boot sequence'
        ' (the TCG log)" and its code integrity policy: boot scope'
    ),
    "drift.measured_at.driver_change": (
        "as above (IMA's `measure func=MODULE_CHECK` measures a kernel module when it loads)"
    ),
    "drift.measured_at.esxi_build_change": (
        "a new build runs only after a reboot in every regime (measured boot)"
    ),
    "drift.measured_at.secure_boot_off": (
        'a firmware setting, measured at boot (PCR 7) in every regime; HGS: "When security '
        "settings change on the system, such as a new code integrity policy being applied or "
        'Secure Boot being disabled", the host must attest again'
    ),
    "drift.measured_at.tpm_swap": ("a new TPM is seen from the next boot in every regime"),
    "trust_authority.fallback_hosts": (
        "vTA and Keylime: no fallback attestation server documented. HGS (Microsoft, Branch "
        'office considerations): "you can configure an additional set of Host Guardian '
        'Service URLs on Hyper-V hosts for use when your primary HGS is unresponsive"'
    ),
}
"""Per regime parameter, where its four values come from (the document and its statement, or
"not published: modelling choice"); the documentation's regime reference shows them."""
for _kind in drift_kinds.KINDS:  # a kind added later gets the generic source of its class
    SOURCES.setdefault(
        f"drift.measured_at.{_kind.name}", _MEASURED_AT_SOURCE[_kind.runtime_measurable]
    )


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


def _cell(value: Any) -> str:
    """A preset value as a scenario file would write it, in one table cell."""
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{k}: {v}" for k, v in value.items())
        return f"`{{{inner}}}`"
    return f"`{value}`"


def markdown() -> str:
    """The regime reference table: one row per parameter with each regime's value and its
    source (parameter | vta | keylime_pull | keylime_push | hgs | source)."""
    out = ["| parameter | " + " | ".join(REGIMES) + " | source |"]
    out.append("|---" * (len(REGIMES) + 2) + "|")
    for path in _TABLE:
        values = " | ".join(_cell(FLAT_PRESETS[name][path]) for name in REGIMES)
        source = SOURCES[path].replace("|", "\\|")
        out.append(f"| `{path}` | {values} | {source} |")
    return "\n".join(out) + "\n"
