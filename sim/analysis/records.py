"""The record types: one frozen dataclass per recorded table, the one place a table is
declared.

Each record type names its table (``table``), says in one line what one record is
(``meaning``) and declares its columns as fields, in order, each with its unit and a one-line
meaning (:func:`col`); a column's type is its annotation (``str``, ``int``, ``float`` or
``bool``, optionally ``| None``). :mod:`sim.analysis.tables` derives every table declaration
(names, types, units, the documentation's table reference) from these types.

A record is written once, when its outcome is known (:meth:`sim.analysis.recorder.Recorder.write`),
and never changed: the types are frozen. Work still running at the end of a run is written then,
with outcome ``unfinished`` (for the tables that have an outcome) and ``elapsed_s``, the time
from its start to the end of the run (see :class:`sim.analysis.recorder.OpenWork`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["RECORD_TYPES", "UNFINISHED", "col"]

UNFINISHED = "unfinished"
"""The outcome of work still running at the end of the run."""


def col(unit: str, meaning: str, *, required: bool = False) -> Any:
    """A column: its unit (``s``, ``B``, ``B/s`` or none) and one-line meaning; a column
    that is not ``required`` is None unless given."""
    metadata = {"unit": unit, "meaning": meaning}
    if required:
        return field(metadata=metadata)
    return field(default=None, metadata=metadata)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attestation:
    """One attestation by a host's agent, from nonce request to report, retries included."""

    table: ClassVar[str] = "attestations"
    meaning: ClassVar[str] = (
        "one attestation by a host's agent, from nonce request to report, retries included"
    )

    host: str = col("", "the attesting host", required=True)
    trigger: str = col("", "boot, periodic, on_demand or poll (the verifier's)", required=True)
    node: str | None = col("", "trust-authority node that gave the verdict")
    requested_at: float = col("s", "the agent asked for a nonce", required=True)
    verdict_at: float | None = col("s", "the Attestation Service reached its verdict")
    completed_at: float | None = col(
        "s", "the agent held the answer, gave up or went down (empty: unfinished)"
    )
    ok: bool | None = col("", "the verdict passed")
    reasons: str | None = col("", "dotted reasons of a failure, space-separated")
    attempts: int | None = col("", "attempts made (1 + retries)")
    queue_wait_s: float | None = col("s", "wait for an Attestation Service worker")
    latency_s: float | None = col("s", "completed_at - requested_at")
    verdict_latency_s: float | None = col("s", "verdict_at - requested_at")
    elapsed_s: float | None = col("s", "unfinished: from the request to the end of the run")


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One request at an Attestation Service, from arrival to verdict (or drop)."""

    table: ClassVar[str] = "verdicts"
    meaning: ClassVar[str] = (
        "one request at an Attestation Service, from arrival to verdict (or drop)"
    )

    host: str = col("", "the host whose evidence it is", required=True)
    node: str = col("", "the trust-authority node", required=True)
    nonce: int = col("", "sequence number of its nonce (orders verdicts)", required=True)
    quoted_at: float | None = col("s", "the host's TPM quoted (its evidence's moment)")
    arrived_at: float = col("s", "the request reached the service", required=True)
    started_at: float | None = col("s", "a worker picked it up (empty: never)")
    verdict_at: float | None = col("s", "the verdict was reached")
    deadline: float = col("s", "the agent gives up waiting at this moment", required=True)
    outcome: str | None = col(
        "", "pass, fail, dropped (past deadline), lost (node down) or unfinished"
    )
    reasons: str | None = col("", "dotted reasons of a failed verdict, space-separated")
    stale: bool | None = col("", "a newer attempt of the host was judged first")
    delivered_at: float | None = col("s", "the agent received it (empty: never)")
    jti: str | None = col("", "the report issued on a pass")
    elapsed_s: float | None = col("s", "unfinished: from its arrival to the end of the run")


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """One attestation report (JWT) issued by an Attestation Service."""

    table: ClassVar[str] = "reports"
    meaning: ClassVar[str] = "one attestation report (JWT) issued by an Attestation Service"

    jti: str = col("", "the report's JWT id", required=True)
    host: str = col("", "the host it vouches for", required=True)
    node: str = col("", "the issuing trust-authority node", required=True)
    issued_at: float = col("s", "attestedAt (iat)", required=True)
    delivered_at: float | None = col("s", "the agent received it (empty: never)")
    expires_at: float = col("s", "attestedUntil (exp)", required=True)
    revoked_at: float | None = col("s", "revoked by a failed re-attestation (push) within its life")
    image_id: str | None = col("", "the measured ESXi image it attests")


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyRequest:
    """One time a host needed a VM's key: from its key cache or the Key Provider Service."""

    table: ClassVar[str] = "key_requests"
    meaning: ClassVar[str] = (
        "one time a host needed a VM's key: from its key cache or the Key Provider Service"
    )

    time: float = col("s", "the host needed the key", required=True)
    host: str = col("", "the requesting host", required=True)
    vm: str = col("", "the VM whose key was needed", required=True)
    node: str | None = col("", "the Key Provider Service node that answered")
    purpose: str = col("", "power_on or vmotion", required=True)
    provider: str | None = col("", "the VM's trusted key provider")
    outcome: str = col(
        "", "host_cache, released, refused (trust), failed or unfinished", required=True
    )
    reason: str | None = col("", "dotted reason of a refusal or failure")
    cache_hit: bool | None = col("", "the primary key came from the node's cache")
    kms_get: bool | None = col("", "it sent its node's KMIP Get (false: hit, or waited)")
    kms_timeouts: int | None = col("", "KMS servers that did not answer on the way")
    latency_s: float | None = col("s", "need to answer, on-demand attestation included")
    elapsed_s: float | None = col("s", "unfinished: from the need to the end of the run")


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """One power-on request placed by a workload vCenter."""

    table: ClassVar[str] = "placements"
    meaning: ClassVar[str] = "one power-on request placed by a workload vCenter"

    time: float = col("s", "the power-on was requested", required=True)
    vcenter: str = col("", "the placing vCenter", required=True)
    vm: str = col("", "the VM", required=True)
    trigger: str = col("", "power_on, or ha_restart after its host crashed", required=True)
    host: str | None = col("", "the chosen host (empty: none eligible)")
    needs_key: bool = col("", "the VM is encrypted", required=True)
    outcome: str = col("", "placed, refused, failed or unfinished", required=True)
    reason: str | None = col("", "dotted reason of a refusal or failure")
    elapsed_s: float | None = col("s", "unfinished: from the request to the end of the run")


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """One request refused because of a host's trust status."""

    table: ClassVar[str] = "refusals"
    meaning: ClassVar[str] = "one request refused because of a host's trust status"

    time: float = col("s", "the refusal", required=True)
    host: str = col("", "the host refused", required=True)
    vm: str = col("", "the VM concerned", required=True)
    kind: str = col("", "key_release or placement", required=True)
    reason: str = col("", "dotted reason", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One vMotion request."""

    table: ClassVar[str] = "migrations"
    meaning: ClassVar[str] = "one vMotion request"

    start: float = col("s", "the migration was requested", required=True)
    end: float | None = col("s", "it completed, was refused or failed (empty: unfinished)")
    vm: str = col("", "the VM", required=True)
    trigger: str = col("", "drs, or maintenance (its host's evacuation)", required=True)
    source: str = col("", "the source host", required=True)
    destination: str | None = col("", "the destination host (empty: none eligible)")
    needs_key: bool = col("", "the VM is encrypted", required=True)
    encrypted: bool = col("", "the stream was encrypted", required=True)
    outcome: str = col("", "completed, refused, failed or unfinished", required=True)
    reason: str | None = col("", "dotted reason of a refusal or failure")
    key_fetch_s: float | None = col("s", "the destination's key fetch (encrypted VMs)")
    queued_s: float | None = col("s", "wait for a migration slot on either host")
    duration_s: float | None = col("s", "setup to end of switch-over (no key fetch)")
    downtime_s: float | None = col("s", "the VM stunned: last copy and switch-over")
    mode: str | None = col("", "precopy, or stun_and_copy when dirtying outpaces the link")
    iterations: int | None = col("", "pre-copy iterations")
    bytes_transferred: int | None = col("B", "bytes sent by the pre-copy model")
    payload_bytes: int | None = col("B", "bytes really sealed and opened (AES-256-GCM)")
    bandwidth_Bps: float | None = col("B/s", "mean rate while sending (shared links)")
    elapsed_s: float | None = col("s", "unfinished: from the request to the end of the run")


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusViewChange:
    """A change of a workload vCenter's view of a host's attestation status."""

    table: ClassVar[str] = "status_views"
    meaning: ClassVar[str] = "a change of a workload vCenter's view of a host's attestation status"

    time: float = col("s", "the view changed", required=True)
    vcenter: str = col("", "the vCenter", required=True)
    host: str = col("", "the host", required=True)
    status: str = col("", "attested, notAttested or unknown", required=True)
    client_status: str = col("", "as the vSphere Client shows it: Passed or Failed", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class HostEvent:
    """A host going down or coming up."""

    table: ClassVar[str] = "host_events"
    meaning: ClassVar[str] = "a host going down or coming up"

    time: float = col("s", "the event", required=True)
    host: str = col("", "the host", required=True)
    event: str = col("", "up, down, or config_recovery (TPM mode, new TPM)", required=True)
    reason: str = col("", "boot, reboot, drift, remediation; tpm_changed (recovery)", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftEvent:
    """One drift event and what followed it within its window."""

    table: ClassVar[str] = "drift_events"
    meaning: ClassVar[str] = "one drift event and what followed it within its window"

    id: int = col("", "drift number in the run", required=True)
    host: str = col("", "the drifted host", required=True)
    kind: str = col("", "unapproved_vib, esxi_build_change, ...", required=True)
    at: float = col("s", "the drift happened", required=True)
    measured: str = col("", "runtime or boot", required=True)
    outcome: str = col("", "applied, or blocked (the install was refused)", required=True)
    effective_at: float | None = col("s", "the change took effect on the host")
    remediated_at: float | None = col("s", "remediation closed the window")
    window_end: float | None = col("s", "remediation or the end of the run")
    detected_at: float | None = col("s", "first failed verdict in the window")
    lapse_at: float | None = col("s", "the host stopped being trusted")
    key_refusal_at: float | None = col("s", "the KPS would refuse it a key")
    vcenter_refusal_at: float | None = col("s", "its vCenter's view left attested")
    first_refused_at: float | None = col("s", "first request actually refused")
    unmeasured_s: float | None = col("s", "until the first quote that measured it")
    time_to_detection_s: float | None = col("s", "detected_at - at")
    time_to_lapse_s: float | None = col("s", "lapse_at - at")
    time_to_key_refusal_s: float | None = col("s", "key_refusal_at - at")
    time_to_vcenter_refusal_s: float | None = col("s", "vcenter_refusal_at - at")
    time_to_refusal_s: float | None = col("s", "the earlier refusal - at")
    time_to_first_refused_s: float | None = col("s", "first_refused_at - at")
    keys_released: int | None = col("", "keys released to the host in the window")
    power_ons: int | None = col("", "power-ons of encrypted VMs on it in the window")
    migrations_in: int | None = col("", "encrypted VMs moved onto it in the window")
    keys_resident: int | None = col("", "distinct VM keys it held in the window")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityEvent:
    """An administrator's change to the trust authority's host identities."""

    table: ClassVar[str] = "identity_events"
    meaning: ClassVar[str] = "an administrator's change to the trust authority's host identities"

    time: float = col("s", "the change", required=True)
    host: str = col("", "the host", required=True)
    event: str = col("", "ek_registered: the host's new EK was registered", required=True)
    drifts_closed: int | None = col("", "TPM-swap drifts of the host it closed")


@dataclass(frozen=True, slots=True, kw_only=True)
class HaRestart:
    """One VM vSphere HA restarted (or tried to) after its host crashed."""

    table: ClassVar[str] = "ha_restarts"
    meaning: ClassVar[str] = "one VM vSphere HA restarted (or tried to) after its host crashed"

    crashed_at: float = col("s", "its host crashed", required=True)
    vm: str = col("", "the VM", required=True)
    host: str = col("", "the crashed host", required=True)
    needs_key: bool = col("", "the VM is encrypted", required=True)
    restarted_on: str | None = col("", "the host it was restarted on")
    outcome: str = col(
        "", "restarted, refused, failed, already_running or unfinished", required=True
    )
    reason: str | None = col("", "dotted reason of a refusal or failure")
    latency_s: float | None = col("s", "from the crash to the VM running again")
    elapsed_s: float | None = col("s", "unfinished: from the crash to the end of the run")


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyCacheChange:
    """A key entering or leaving a host's key cache."""

    table: ClassVar[str] = "key_cache"
    meaning: ClassVar[str] = "a key entering or leaving a host's key cache"

    time: float = col("s", "the change", required=True)
    host: str = col("", "the host", required=True)
    vm: str = col("", "the VM whose key it is", required=True)
    event: str = col("", "added or dropped", required=True)
    reason: str | None = col("", "why a key was dropped: reboot or seal_mismatch")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderHealthChange:
    """A change of a trusted key provider's health (its KMS servers reachable)."""

    table: ClassVar[str] = "provider_health"
    meaning: ClassVar[str] = (
        "a change of a trusted key provider's health (its KMS servers reachable)"
    )

    time: float = col("s", "the change", required=True)
    provider: str = col("", "the key provider", required=True)
    state: str = col("", "OK (all servers up), WARNING (some) or ERROR (none)", required=True)
    servers_up: int = col("", "servers of its KMS cluster that answer", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class KmsEvent:
    """A KMS server outage or a change of a primary key on the KMS."""

    table: ClassVar[str] = "kms_events"
    meaning: ClassVar[str] = "a KMS server outage or a change of a primary key on the KMS"

    time: float = col("s", "the event", required=True)
    cluster: str = col("", "the KMS cluster", required=True)
    provider: str | None = col("", "the key provider (primary-key events)")
    event: str = col("", "server_down, server_up or primary_key_<action>", required=True)
    detail: str | None = col("", "the server, or the key's KMIP state after the event")


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacitySample:
    """Attested capacity, sampled every metrics.sample_interval."""

    table: ClassVar[str] = "capacity"
    meaning: ClassVar[str] = (
        "capacity sampled every metrics.sample_interval, for plots (summary figures are exact)"
    )

    time: float = col("s", "the sample", required=True)
    hosts_up: int = col("", "hosts that are up", required=True)
    attested_hosts: int = col("", "hosts up that their vCenter sees as attested", required=True)
    holding_report: int = col("", "hosts up that hold an unexpired report", required=True)
    free_memory_attested: int = col("B", "free memory on the attested hosts", required=True)
    encrypted_vm_slots: int = col("", "VMs of mean size fitting usable hosts", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationStep:
    """One step of an operation: set-up, base images, upgrades, repairs, rotations, outages."""

    table: ClassVar[str] = "operations"
    meaning: ClassVar[str] = (
        "one step of an operation: set-up, base images, upgrades, repairs, rotations, outages"
    )

    time: float = col("s", "the step", required=True)
    operation: str = col(
        "", "setup, base_image, upgrade, repair, rotation, network_outage", required=True
    )
    target: str = col("", "the step, image, cluster, host, material or link", required=True)
    event: str = col("", "done, failed, imported, host_down, host_up, cut, ...", required=True)
    outcome: str | None = col("", "ok or failed")
    reason: str | None = col("", "dotted reason of a failed step")
    detail: str | None = col("", "the image, part or material concerned")


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelSample:
    """Time series: each level's time-weighted mean over the sampling period ending at time."""

    table: ClassVar[str] = "levels"
    meaning: ClassVar[str] = (
        "time series: each level's time-weighted mean over the sampling period ending at time"
    )

    time: float = col("s", "end of the sampling period", required=True)
    series: str = col("", "<kind>.<node>.busy or <kind>.<node>.queue", required=True)
    value: float = col("", "time-weighted mean over the period", required=True)


RECORD_TYPES: tuple[type, ...] = (
    Attestation,
    Verdict,
    Report,
    KeyRequest,
    Placement,
    Refusal,
    Migration,
    StatusViewChange,
    HostEvent,
    DriftEvent,
    IdentityEvent,
    HaRestart,
    KeyCacheChange,
    ProviderHealthChange,
    KmsEvent,
    CapacitySample,
    OperationStep,
    LevelSample,
)
"""Every record type, in the order the run folder lists its table."""
