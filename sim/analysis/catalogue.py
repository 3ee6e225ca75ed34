"""The metrics catalogue: every key of a run's summary, declared once with its unit and a
one-line definition.

Everything that names summary keys derives from :data:`CATALOGUE`: :func:`is_metric` (which
dotted paths a sweep may record), ``vtasim metrics`` (the list a user reads), the
documentation's metric reference (rendered by :func:`markdown`; a test keeps it in step) and
the test that every leaf of real run summaries matches exactly one entry and every entry occurs.

An entry's key is a dotted path whose parts may be placeholders for the dynamic parts of a
summary: ``<kind>`` a service kind (:data:`SERVICE_KINDS`), ``<i>`` a node index, ``<name>``
a key provider's name. A group of statistics (``count``, ``mean``, ``p50``...) is declared in
one line by :func:`_stats` or :func:`_times`. Adding a summary key is adding one line here.

Units: ``s`` seconds of simulated time, ``B`` bytes, ``/s`` per second of simulated time,
``fraction`` a number from 0 to 1 (shown as percent), ``count`` a whole number of things,
``hosts``/``VMs`` a number of them (a mean of counts may be fractional), ``text`` a list of
sentences (not a figure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

SERVICE_KINDS: tuple[str, ...] = (
    "attestation_service",
    "key_provider_service",
    "status_service",
    "kms",
)
"""The service kinds under ``services.<kind>``."""

_PLACEHOLDERS = {
    "<kind>": "(?:" + "|".join(SERVICE_KINDS) + ")",
    "<i>": "[0-9]+",
    "<name>": "[A-Za-z0-9][A-Za-z0-9_-]*",
    "<n>": "[0-9]+",
}

UNITS: dict[str, str] = {
    "s": "seconds of simulated time",
    "B": "bytes",
    "/s": "per second of simulated time",
    "fraction": "0 to 1 (shown as percent)",
    "count": "a whole number",
    "hosts": "hosts",
    "VMs": "virtual machines",
    "workers": "workers",
    "requests": "requests (a time-weighted mean may be fractional)",
    "text": "sentences (not a figure)",
}
"""Every unit an entry may have, in words."""


@dataclass(frozen=True)
class Metric:
    """One summary key (or key pattern), its unit and its definition."""

    key: str
    unit: str
    meaning: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"metric {self.key}: unknown unit {self.unit!r}")

    @property
    def numeric(self) -> bool:
        """Whether the key holds a figure (a number, or null when undefined)."""
        return self.unit != "text"

    @property
    def pattern(self) -> re.Pattern[str]:
        """The regular expression a concrete dotted key must match in full."""
        return _compile(self.key)


@cache
def _compile(key: str) -> re.Pattern[str]:
    """The pattern of a catalogue key, compiled once per key (~4 us each, paid for every
    metric looked up otherwise)."""
    parts = [_PLACEHOLDERS.get(p, re.escape(p)) for p in key.split(".")]
    return re.compile(r"\.".join(parts))


_STAT_WORDS = {
    "count": ("count", "how many values"),
    "mean": ("", "mean"),
    "p50": ("", "median"),
    "p95": ("", "95th percentile"),
    "p99": ("", "99th percentile"),
    "max": ("", "maximum"),
}
_KM_WORDS = {
    "censored": ("count", "observations censored (no event in the time watched)"),
    "km_median": ("", "Kaplan-Meier median (null when survival never falls to 0.5)"),
    "km_median_ci_low": ("", "low end of the KM median's 95% Brookmeyer-Crowley interval"),
    "km_median_ci_high": ("", "high end of that interval (null: open above)"),
    "km_restricted_mean": ("", "Kaplan-Meier restricted mean up to km_horizon (null: unknown)"),
    "km_horizon": ("", "the restricted mean's horizon, metrics.rmst_horizon"),
}


def _m(key: str, unit: str, meaning: str) -> tuple[Metric, ...]:
    """One key."""
    return (Metric(key, unit, meaning),)


def _stats(key: str, unit: str, meaning: str) -> tuple[Metric, ...]:
    """count, mean, p50, p95, p99 and max of one run's values (see ``stats``)."""
    return tuple(
        Metric(f"{key}.{leaf}", own or unit, f"{meaning}: {words}")
        for leaf, (own, words) in _STAT_WORDS.items()
    )


def _times(key: str, meaning: str) -> tuple[Metric, ...]:
    """A right-censored time to event: the statistics of the events that happened plus the
    censoring count and the Kaplan-Meier figures (see :mod:`sim.analysis.survival`)."""
    extra = tuple(
        Metric(f"{key}.{leaf}", own or "s", f"{meaning}: {words}")
        for leaf, (own, words) in _KM_WORDS.items()
    )
    return _stats(key, "s", meaning) + extra


def _spread(key: str, unit: str, meaning: str) -> tuple[Metric, ...]:
    """min, mean and max over the capacity samples after the warm-up (sampled figures)."""
    return tuple(
        Metric(f"{key}.{leaf}", unit, f"{meaning}, sampled every metrics.sample_interval: {words}")
        for leaf, words in (("min", "minimum"), ("mean", "mean"), ("max", "maximum"))
    )


_STEP_WORDS = {
    "min": ("", "exact minimum (held for a positive time)"),
    "min_at_s": ("s", "when the exact minimum was first reached"),
    "min_duration_s": ("s", "total time at the exact minimum"),
    "min_longest_s": ("s", "longest uninterrupted time at the exact minimum"),
    "mean": ("", "exact time-weighted mean"),
    "max": ("", "exact maximum"),
}


def _steps(key: str, unit: str, meaning: str, levels: bool = True) -> tuple[Metric, ...]:
    """Exact figures of a step function updated at every change (not sampled); with
    ``levels`` also the time below ``capacity.threshold_hosts`` and at each level."""
    out = tuple(
        Metric(f"{key}.{leaf}", own or unit, f"{meaning}: {words}")
        for leaf, (own, words) in _STEP_WORDS.items()
    )
    if levels:
        out += (
            Metric(f"{key}.below_threshold_s", "s", f"{meaning}: exact time below threshold_hosts"),
            Metric(f"{key}.time_at_level_s.<n>", "s", f"{meaning}: exact time at <n> of them"),
        )
    return out


_DRIFT = "from a drift event"
CATALOGUE: tuple[Metric, ...] = (
    # attestation
    *_m("attestation.requests", "count", "attestations started after the warm-up (unfinished in)"),
    *_m("attestation.succeeded", "count", "attestations that ended with a report"),
    *_m("attestation.failed", "count", "attestations ended without a report (unfinished out)"),
    *_m("attestation.unfinished", "count", "attestations still under way at the end of the run"),
    *_stats("attestation.latency_s", "s", "nonce request to report held, retries included"),
    *_stats("attestation.verdict_latency_s", "s", "nonce request to the service's verdict"),
    *_stats("attestation.queue_wait_s", "s", "request reaching a service to a worker taking it"),
    *_m("attestation.verdicts.reached", "count", "verdicts reached (pass or fail)"),
    *_m("attestation.verdicts.passed", "count", "verdicts that passed"),
    *_m("attestation.verdicts.failed", "count", "verdicts that failed"),
    *_m("attestation.verdicts.stale", "count", "verdicts after a newer attempt was judged"),
    *_m("attestation.verdicts.delivered", "count", "verdicts delivered to a waiting agent"),
    *_m("attestation.verdicts.dropped", "count", "requests dropped after their deadline"),
    *_m("attestation.verdicts.lost", "count", "requests lost with a node that went down"),
    *_m("attestation.verdicts.unfinished", "count", "requests queued or served at the end"),
    *_m("attestation.verdicts.throughput_per_s", "/s", "verdicts reached per second"),
    *_m("attestation.verdicts.goodput_per_s", "/s", "verdicts delivered per second"),
    # keys
    *_m("key_requests.requests", "count", "key requests to a KPS (unfinished included)"),
    *_m("key_requests.released", "count", "key requests answered with the key"),
    *_m("key_requests.refused", "count", "key requests refused for trust (unfinished out)"),
    *_m("key_requests.failed", "count", "key requests failed for availability (unfinished out)"),
    *_m("key_requests.unfinished", "count", "key requests still waiting at the end of the run"),
    *_m("key_requests.host_cache_hits", "count", "keys a host already held (no request)"),
    *_m(
        "key_requests.cache_hit_ratio",
        "fraction",
        "node cache hits / primary-key lookups (requests past the report check); null: none",
    ),
    *_m("key_requests.primary_key_waits", "count", "misses that waited for the node's Get"),
    *_m("key_requests.kms_gets", "count", "KMIP Gets that a KMS server answered"),
    *_m("key_requests.kms_gets_unanswered", "count", "KMIP Gets no KMS server answered"),
    *_m("key_requests.kms_timeouts", "count", "KMS servers that did not answer in time"),
    *_stats("key_requests.latency_s", "s", "key request to key released"),
    *_m("key_providers.<name>.kms_gets", "count", "KMIP Gets of its primary key a server answered"),
    *_m("key_providers.<name>.released", "count", "keys the provider released"),
    *_m("key_providers.<name>.failed", "count", "its key requests that failed (unfinished out)"),
    *_m("key_providers.<name>.seconds_ok", "s", "time the provider's health was OK"),
    *_m("key_providers.<name>.seconds_warning", "s", "time its health was WARNING"),
    *_m("key_providers.<name>.seconds_error", "s", "time its health was ERROR"),
    # capacity
    *_m("capacity.hosts", "hosts", "trusted hosts in the estate"),
    *_m("capacity.threshold_hosts", "hosts", "capacity.threshold in whole hosts (rounded up)"),
    *_steps("capacity.attested_hosts", "hosts", "hosts up that their vCenter sees attested"),
    *_steps("capacity.usable_hosts", "hosts", "attested hosts not in maintenance mode"),
    *_steps("capacity.encrypted_vm_slots", "VMs", "VMs of mean size fitting usable hosts", False),
    *_spread("capacity.sampled.attested_hosts", "hosts", "attested hosts"),
    *_spread("capacity.sampled.encrypted_vm_slots", "VMs", "encrypted-VM slots"),
    # drift
    *_m("drift.events", "count", "drift events after the warm-up (blocked installs excluded)"),
    *_m("drift.blocked", "count", "VIB installs refused by the acceptance level"),
    *_m("drift.detected", "count", "drifts with a failed verdict within their window"),
    *_m("drift.lapsed", "count", "drifts whose host lapsed within their window"),
    *_m("drift.censored", "count", "drifts whose host did not lapse within their window"),
    *_m(
        "drift.not_measured",
        "count",
        "drifts never measured: boot-measured, no reboot before the end (nor remediation)",
    ),
    *_times("drift.unmeasured_s", f"{_DRIFT} to the first quote measuring it"),
    *_times("drift.time_to_detection_s", f"{_DRIFT} to the first failed verdict"),
    *_times("drift.time_to_lapse_s", f"{_DRIFT} to the host no longer being trusted"),
    *_times("drift.time_to_refusal_s", f"{_DRIFT} to key or placement refusal (earlier)"),
    *_times("drift.time_to_key_refusal_s", f"{_DRIFT} to the host holding no report"),
    *_times("drift.time_to_vcenter_refusal_s", f"{_DRIFT} to vCenter's view leaving attested"),
    *_times("drift.time_to_first_refused_s", f"{_DRIFT} to the first refused request"),
    *_m("drift.exposure.keys_released", "count", "keys released to drifted hosts in windows"),
    *_m("drift.exposure.power_ons", "count", "keyed power-ons on drifted hosts in windows"),
    *_m("drift.exposure.migrations_in", "count", "keyed migrations to drifted hosts"),
    *_m("drift.exposure.keys_resident", "count", "distinct VM keys held by drifted hosts"),
    *_m("drift.routine_gaps.count", "count", "gaps without a report outside drift windows"),
    *_m("drift.routine_gaps.total_s", "s", "total length of the routine gaps"),
    *_m("drift.routine_gaps.fraction", "fraction", "routine gaps as a share of hosts' up time"),
    *_m("drift.routine_gaps.longest_s", "s", "longest routine gap"),
    # operations
    *_m("operations.setup.steps_done", "count", "vTA set-up steps that succeeded"),
    *_m("operations.setup.steps_failed", "count", "vTA set-up steps that failed"),
    *_m(
        "operations.setup.time_to_first_trusted_capacity_s",
        "s",
        "run start to the first host its vCenter sees attested (null without set-up steps)",
    ),
    *_m(
        "operations.setup.time_to_full_capacity_s",
        "s",
        "run start to every host seen attested (null without set-up or if never)",
    ),
    *_m("operations.upgrades.hosts_upgraded", "count", "hosts back up on the new ESXi build"),
    *_m(
        "operations.upgrades.failed_attestations",
        "count",
        "failed verdicts citing the image on upgraded hosts (build not yet imported)",
    ),
    *_m("operations.ha.restarts", "count", "VMs HA restarts after a crash (unfinished included)"),
    *_m("operations.ha.restarted", "count", "HA restarts that powered the VM on"),
    *_m("operations.ha.refused", "count", "HA restarts refused, no eligible host (unfinished out)"),
    *_m("operations.ha.failed", "count", "HA restarts failed: key or host down (unfinished out)"),
    *_m("operations.ha.unfinished", "count", "HA restarts still under way at the end of the run"),
    *_times("operations.ha.latency_s", "host crash to the VM powered on again"),
    *_m("operations.repairs.count", "count", "TPM or motherboard repairs"),
    *_times("operations.repairs.time_to_restore_s", "repair start to attested again"),
    *_m("operations.rotations.events", "count", "trust-material rotations done"),
    *_m(
        "operations.rotations.refused_unknown_issuer",
        "count",
        "key requests refused because the report's signer is no longer trusted",
    ),
    *_m(
        "operations.rotations.kms_authentication_failures",
        "count",
        "key requests failed on the KMS client certificate",
    ),
    *_m(
        "operations.rotations.principal_refusals",
        "count",
        "verdicts refused because the vCenter principal was not imported",
    ),
    # placements and vMotion
    *_m("placements.requests", "count", "placements (power-ons) requested (unfinished included)"),
    *_m("placements.placed", "count", "placements that found a host"),
    *_m("placements.refused", "count", "placements refused, no eligible host (unfinished out)"),
    *_m("placements.failed", "count", "placements failed: key or host down (unfinished out)"),
    *_m("placements.unfinished", "count", "placements still waiting for a key at the end"),
    *_m("vmotion.requests", "count", "vMotion migrations requested (unfinished included)"),
    *_m("vmotion.completed", "count", "vMotion migrations completed"),
    *_m("vmotion.refused", "count", "vMotion refused, no eligible destination (unfinished out)"),
    *_m("vmotion.failed", "count", "vMotion migrations failed (unfinished out)"),
    *_m("vmotion.unfinished", "count", "vMotion migrations still under way at the end of the run"),
    *_m("vmotion.encrypted", "count", "completed vMotion migrations that were encrypted"),
    *_stats("vmotion.duration_s", "s", "vMotion setup to the end of switch-over"),
    *_stats("vmotion.encrypted_duration_s", "s", "duration of encrypted vMotions"),
    *_stats("vmotion.plain_duration_s", "s", "duration of unencrypted vMotions"),
    *_m("vmotion.bytes_transferred", "B", "bytes sent by the pre-copy model"),
    *_m("vmotion.encrypted_payload_bytes", "B", "bytes really sealed with AES-256-GCM"),
    # identity
    *_m("identity.ek_registrations", "count", "new EKs registered by an administrator"),
    *_times("identity.time_to_restore_s", "TPM swap taking effect to the first passing verdict"),
    # load
    *_m("services.<kind>.utilisation", "fraction", "busy workers / workers, mean over nodes"),
    *_m("services.<kind>.workers", "workers", "workers over all nodes of the kind"),
    *_m("services.<kind>.mean_queue", "requests", "time-weighted queue, mean over nodes"),
    *_m("services.<kind>.max_queue", "requests", "longest queue on any node"),
    *_m("services.<kind>.nodes.<i>.utilisation", "fraction", "one node's utilisation"),
    *_m("services.<kind>.nodes.<i>.workers", "workers", "one node's workers"),
    *_m("services.<kind>.nodes.<i>.mean_queue", "requests", "one node's time-weighted queue"),
    *_m("services.<kind>.nodes.<i>.max_queue", "requests", "one node's longest queue"),
    # safety and warnings
    *_m("safety.violations", "count", "keys released against an expired or revoked report"),
    *_m("warnings", "text", "settings that make the figures easy to misread, in words"),
)
"""Every summary key, in the order ``vtasim metrics`` lists them."""


def matches(path: str) -> list[Metric]:
    """The catalogue entries a concrete dotted key matches (exactly one for a summary key)."""
    return [m for m in CATALOGUE if m.pattern.fullmatch(path)]


def lookup(path: str) -> Metric | None:
    """The catalogue entry of a concrete dotted key, or None."""
    found = matches(path)
    return found[0] if found else None


def is_metric(path: str) -> bool:
    """Whether ``path`` names a figure of the summary (``drift.time_to_lapse_s.mean``,
    ``services.kms.utilisation``, ``services.kms.nodes.0.max_queue``...)."""
    entry = lookup(path)
    return entry is not None and entry.numeric


def did_you_mean(path: str) -> str:
    """``; did you mean 'a', 'b'?`` naming up to three figure keys close to ``path``, or ''
    (for error messages about a key that is not one)."""
    import difflib

    keys = [m.key for m in CATALOGUE if m.numeric]
    close = difflib.get_close_matches(path, keys, n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""


def unit_of(path: str) -> str:
    """The unit of a concrete dotted key ('' when the catalogue has no such key)."""
    entry = lookup(path)
    return "" if entry is None else entry.unit


def listing() -> str:
    """``vtasim metrics``: one aligned line per key: key, unit, definition."""
    width = max(len(m.key) for m in CATALOGUE)
    unit_width = max(len(m.unit) for m in CATALOGUE)
    return "".join(f"{m.key:<{width}}  {m.unit:<{unit_width}}  {m.meaning}\n" for m in CATALOGUE)


def markdown() -> str:
    """The metric reference page (docs/reference/metrics.md): one table row per key."""
    out = ["| key | unit | definition |", "|---|---|---|"]
    out += [f"| `{m.key}` | {m.unit} | {m.meaning} |" for m in CATALOGUE]
    return "\n".join(out) + "\n"
