"""The recorded tables, declared once: column names, types, units and meanings.

Everything that touches a table derives from :data:`TABLES`: the recorder builds each row in
the declared column order (and refuses undeclared columns), the run-folder writer writes the
declared columns, the reader checks a folder's header against them and attaches the units,
and the README's table reference is rendered by :func:`markdown` (a test keeps it in step).
Rows are stored by :class:`~sim.analysis.recorded.RecordedTable` (column chunks spilled to
disk), which only the recorder creates.

Types are those of the values a run records: ``str``, ``int``, ``float`` or ``bool``; every
column may hold ``None`` (a value not known yet, or not applicable). Units: ``s`` seconds of
simulated time (``*_at`` columns and ``time`` are instants, the others spans), ``B`` bytes,
``B/s`` bytes per second; no unit for counts, names and flags.
"""

from __future__ import annotations

from dataclasses import dataclass

_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


@dataclass(frozen=True)
class Column:
    """One column: its name, value type (``str``/``int``/``float``/``bool``), unit and
    a one-line meaning."""

    name: str
    type: str
    unit: str
    meaning: str

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")


@dataclass(frozen=True)
class Table:
    """One recorded table: one row per event of one kind."""

    name: str
    meaning: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The column names in order."""
        return tuple(c.name for c in self.columns)

    @property
    def units(self) -> dict[str, str]:
        """Column name -> unit, for the columns that have one."""
        return {c.name: c.unit for c in self.columns if c.unit}

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError when the table has none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name!r}")


def _c(name: str, type_: str, unit: str, meaning: str) -> Column:
    return Column(name, type_, unit, meaning)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "attestations",
            "one attestation by a host's agent, from nonce request to report, retries included",
            (
                _c("host", "str", "", "the attesting host"),
                _c("trigger", "str", "", "boot, periodic, on_demand or poll (the verifier's)"),
                _c("node", "str", "", "trust-authority node that gave the verdict"),
                _c("requested_at", "float", "s", "the agent asked for a nonce"),
                _c("verdict_at", "float", "s", "the Attestation Service reached its verdict"),
                _c("completed_at", "float", "s", "the agent held the answer (or gave up)"),
                _c("ok", "bool", "", "the verdict passed"),
                _c("reasons", "str", "", "dotted reasons of a failed verdict, space-separated"),
                _c("attempts", "int", "", "attempts made (1 + retries)"),
                _c("queue_wait_s", "float", "s", "wait for an Attestation Service worker"),
                _c("latency_s", "float", "s", "completed_at - requested_at"),
                _c("verdict_latency_s", "float", "s", "verdict_at - requested_at"),
            ),
        ),
        Table(
            "verdicts",
            "one request at an Attestation Service, from arrival to verdict (or drop)",
            (
                _c("host", "str", "", "the host whose evidence it is"),
                _c("node", "str", "", "the trust-authority node"),
                _c("nonce", "int", "", "sequence number of its nonce (orders verdicts)"),
                _c("quoted_at", "float", "s", "the host's TPM quoted (its evidence's moment)"),
                _c("arrived_at", "float", "s", "the request reached the service"),
                _c("started_at", "float", "s", "a worker picked it up (empty: still queued)"),
                _c("verdict_at", "float", "s", "the verdict was reached"),
                _c("deadline", "float", "s", "the agent gives up waiting at this moment"),
                _c("outcome", "str", "", "pass, fail, dropped (past deadline) or lost (node down)"),
                _c("reasons", "str", "", "dotted reasons of a failed verdict, space-separated"),
                _c("stale", "bool", "", "a newer attempt of the host was judged first"),
                _c("delivered_at", "float", "s", "the agent received it (empty: never)"),
                _c("jti", "str", "", "the report issued on a pass"),
            ),
        ),
        Table(
            "reports",
            "one attestation report (JWT) issued by an Attestation Service",
            (
                _c("jti", "str", "", "the report's JWT id"),
                _c("host", "str", "", "the host it vouches for"),
                _c("node", "str", "", "the issuing trust-authority node"),
                _c("issued_at", "float", "s", "attestedAt (iat)"),
                _c("delivered_at", "float", "s", "the agent received it (empty: never)"),
                _c("expires_at", "float", "s", "attestedUntil (exp)"),
                _c("revoked_at", "float", "s", "revoked by a failed re-attestation (push)"),
                _c("image_id", "str", "", "the measured ESXi image it attests"),
            ),
        ),
        Table(
            "key_requests",
            "one time a host needed a VM's key: from its key cache or the Key Provider Service",
            (
                _c("time", "float", "s", "the host needed the key"),
                _c("host", "str", "", "the requesting host"),
                _c("vm", "str", "", "the VM whose key was needed"),
                _c("node", "str", "", "the Key Provider Service node that answered"),
                _c("purpose", "str", "", "power_on or vmotion"),
                _c("provider", "str", "", "the VM's trusted key provider"),
                _c("outcome", "str", "", "host_cache, released, refused (trust) or failed"),
                _c("reason", "str", "", "dotted reason of a refusal or failure"),
                _c("cache_hit", "bool", "", "the primary key came from the node's cache"),
                _c("kms_get", "bool", "", "it sent its node's KMIP Get (false: hit, or waited)"),
                _c("kms_timeouts", "int", "", "KMS servers that did not answer on the way"),
                _c("latency_s", "float", "s", "need to answer, on-demand attestation included"),
            ),
        ),
        Table(
            "placements",
            "one power-on request placed by a workload vCenter",
            (
                _c("time", "float", "s", "the power-on was requested"),
                _c("vcenter", "str", "", "the placing vCenter"),
                _c("vm", "str", "", "the VM"),
                _c("trigger", "str", "", "power_on, or ha_restart after its host crashed"),
                _c("host", "str", "", "the chosen host (empty: none eligible)"),
                _c("needs_key", "bool", "", "the VM is encrypted"),
                _c("outcome", "str", "", "placed, refused or failed"),
                _c("reason", "str", "", "dotted reason of a refusal or failure"),
            ),
        ),
        Table(
            "refusals",
            "one request refused because of a host's trust status",
            (
                _c("time", "float", "s", "the refusal"),
                _c("host", "str", "", "the host refused"),
                _c("vm", "str", "", "the VM concerned"),
                _c("kind", "str", "", "key_release or placement"),
                _c("reason", "str", "", "dotted reason"),
            ),
        ),
        Table(
            "migrations",
            "one vMotion request",
            (
                _c("start", "float", "s", "the migration was requested"),
                _c("end", "float", "s", "it completed or failed"),
                _c("vm", "str", "", "the VM"),
                _c("trigger", "str", "", "drs, or maintenance (its host's evacuation)"),
                _c("source", "str", "", "the source host"),
                _c("destination", "str", "", "the destination host (empty: none eligible)"),
                _c("needs_key", "bool", "", "the VM is encrypted"),
                _c("encrypted", "bool", "", "the stream was encrypted"),
                _c("outcome", "str", "", "completed, refused or failed"),
                _c("reason", "str", "", "dotted reason of a refusal or failure"),
                _c("key_fetch_s", "float", "s", "the destination's key fetch (encrypted VMs)"),
                _c("queued_s", "float", "s", "wait for a migration slot on either host"),
                _c("duration_s", "float", "s", "setup to end of switch-over (no key fetch)"),
                _c("downtime_s", "float", "s", "the VM stunned: last copy and switch-over"),
                _c("mode", "str", "", "precopy, or stun_and_copy when dirtying outpaces the link"),
                _c("iterations", "int", "", "pre-copy iterations"),
                _c("bytes_transferred", "int", "B", "bytes sent by the pre-copy model"),
                _c("payload_bytes", "int", "B", "bytes really sealed and opened (AES-256-GCM)"),
                _c("bandwidth_Bps", "float", "B/s", "mean rate while sending (shared links)"),
            ),
        ),
        Table(
            "status_views",
            "a change of a workload vCenter's view of a host's attestation status",
            (
                _c("time", "float", "s", "the view changed"),
                _c("vcenter", "str", "", "the vCenter"),
                _c("host", "str", "", "the host"),
                _c("status", "str", "", "attested, notAttested or unknown"),
                _c("client_status", "str", "", "as the vSphere Client shows it: Passed or Failed"),
            ),
        ),
        Table(
            "host_events",
            "a host going down or coming up",
            (
                _c("time", "float", "s", "the event"),
                _c("host", "str", "", "the host"),
                _c("event", "str", "", "up, down, or config_recovery (TPM mode, new TPM)"),
                _c("reason", "str", "", "boot, reboot, drift, remediation; tpm_changed (recovery)"),
            ),
        ),
        Table(
            "drift_events",
            "one drift event and what followed it within its window",
            (
                _c("id", "int", "", "drift number in the run"),
                _c("host", "str", "", "the drifted host"),
                _c("kind", "str", "", "unapproved_vib, esxi_build_change, ..."),
                _c("at", "float", "s", "the drift happened"),
                _c("measured", "str", "", "runtime or boot"),
                _c("outcome", "str", "", "applied, or blocked (the install was refused)"),
                _c("effective_at", "float", "s", "the change took effect on the host"),
                _c("remediated_at", "float", "s", "remediation closed the window"),
                _c("window_end", "float", "s", "remediation or the end of the run"),
                _c("detected_at", "float", "s", "first failed verdict in the window"),
                _c("lapse_at", "float", "s", "the host stopped being trusted"),
                _c("key_refusal_at", "float", "s", "the KPS would refuse it a key"),
                _c("vcenter_refusal_at", "float", "s", "its vCenter's view left attested"),
                _c("first_refused_at", "float", "s", "first request actually refused"),
                _c("unmeasured_s", "float", "s", "until the first quote that measured it"),
                _c("time_to_detection_s", "float", "s", "detected_at - at"),
                _c("time_to_lapse_s", "float", "s", "lapse_at - at"),
                _c("time_to_key_refusal_s", "float", "s", "key_refusal_at - at"),
                _c("time_to_vcenter_refusal_s", "float", "s", "vcenter_refusal_at - at"),
                _c("time_to_refusal_s", "float", "s", "the earlier refusal - at"),
                _c("time_to_first_refused_s", "float", "s", "first_refused_at - at"),
                _c("keys_released", "int", "", "keys released to the host in the window"),
                _c("power_ons", "int", "", "power-ons of encrypted VMs on it in the window"),
                _c("migrations_in", "int", "", "encrypted VMs moved onto it in the window"),
                _c("keys_resident", "int", "", "distinct VM keys it held in the window"),
            ),
        ),
        Table(
            "identity_events",
            "an administrator's change to the trust authority's host identities",
            (
                _c("time", "float", "s", "the change"),
                _c("host", "str", "", "the host"),
                _c("event", "str", "", "ek_registered: the host's new EK was registered"),
                _c("drifts_closed", "int", "", "TPM-swap drifts of the host it closed"),
            ),
        ),
        Table(
            "ha_restarts",
            "one VM vSphere HA restarted (or tried to) after its host crashed",
            (
                _c("crashed_at", "float", "s", "its host crashed"),
                _c("vm", "str", "", "the VM"),
                _c("host", "str", "", "the crashed host"),
                _c("needs_key", "bool", "", "the VM is encrypted"),
                _c("restarted_on", "str", "", "the host it was restarted on"),
                _c("outcome", "str", "", "restarted, refused, failed or already_running"),
                _c("reason", "str", "", "dotted reason of a refusal or failure"),
                _c("latency_s", "float", "s", "from the crash to the VM running again"),
            ),
        ),
        Table(
            "key_cache",
            "a key entering or leaving a host's key cache",
            (
                _c("time", "float", "s", "the change"),
                _c("host", "str", "", "the host"),
                _c("vm", "str", "", "the VM whose key it is"),
                _c("event", "str", "", "added or dropped"),
                _c("reason", "str", "", "why a key was dropped: reboot or seal_mismatch"),
            ),
        ),
        Table(
            "provider_health",
            "a change of a trusted key provider's health (its KMS servers reachable)",
            (
                _c("time", "float", "s", "the change"),
                _c("provider", "str", "", "the key provider"),
                _c("state", "str", "", "OK (all servers up), WARNING (some) or ERROR (none)"),
                _c("servers_up", "int", "", "servers of its KMS cluster that answer"),
            ),
        ),
        Table(
            "kms_events",
            "a KMS server outage or a change of a primary key on the KMS",
            (
                _c("time", "float", "s", "the event"),
                _c("cluster", "str", "", "the KMS cluster"),
                _c("provider", "str", "", "the key provider (primary-key events)"),
                _c("event", "str", "", "server_down, server_up or primary_key_<action>"),
                _c("detail", "str", "", "the server, or the key's KMIP state after the event"),
            ),
        ),
        Table(
            "capacity",
            "capacity sampled every metrics.sample_interval, for plots (summary figures are exact)",
            (
                _c("time", "float", "s", "the sample"),
                _c("hosts_up", "int", "", "hosts that are up"),
                _c("attested_hosts", "int", "", "hosts up that their vCenter sees as attested"),
                _c("holding_report", "int", "", "hosts up that hold an unexpired report"),
                _c("free_memory_attested", "int", "B", "free memory on the attested hosts"),
                _c("encrypted_vm_slots", "int", "", "VMs of mean size fitting usable hosts"),
            ),
        ),
        Table(
            "operations",
            "one step of an operation: set-up, base images, upgrades, repairs, rotations, outages",
            (
                _c("time", "float", "s", "the step"),
                _c(
                    "operation",
                    "str",
                    "",
                    "setup, base_image, upgrade, repair, rotation, network_outage",
                ),
                _c("target", "str", "", "the step, image, cluster, host, material or link"),
                _c("event", "str", "", "done, failed, imported, host_down, host_up, cut, ..."),
                _c("outcome", "str", "", "ok or failed"),
                _c("reason", "str", "", "dotted reason of a failed step"),
                _c("detail", "str", "", "the image, part or material concerned"),
            ),
        ),
        Table(
            "levels",
            "time series: each level's time-weighted mean over the sampling period ending at time",
            (
                _c("time", "float", "s", "end of the sampling period"),
                _c("series", "str", "", "<kind>.<node>.busy or <kind>.<node>.queue"),
                _c("value", "float", "", "time-weighted mean over the period"),
            ),
        ),
    )
}
"""Every table a run records, by name, in the order the run folder lists them."""

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {name: t.names for name, t in TABLES.items()}
"""Column names per table (derived from :data:`TABLES`)."""


def markdown() -> str:
    """The README's table reference: one subsection per table with its columns."""
    out: list[str] = []
    for t in TABLES.values():
        out.append(f"**`{t.name}.csv`**: {t.meaning}.\n")
        out.append("| column | type | unit | meaning |")
        out.append("|---|---|---|---|")
        for c in t.columns:
            out.append(f"| `{c.name}` | {c.type} | {c.unit} | {c.meaning} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
