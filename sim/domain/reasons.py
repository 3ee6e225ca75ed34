"""Every reason the simulation gives for a refusal or a failure: one enumeration.

A reason is a dotted string (``report.expired``, ``kms.unavailable``...) written to the
``reason`` columns of the tables (and, space-separated, to a verdict's ``reasons``). Each
:class:`Reason` says which it is:

- a **refusal** (:attr:`Said.REFUSED`): a trust decision; the evidence, the report or the
  host's status did not qualify (the verifier's findings, the report check, a placement on a
  host not seen as attested);
- a **failure** (:attr:`Said.FAILED`): no decision was reached; a service, a path or a
  resource failed (the KMS or the Key Provider Service unavailable, a host down...).

Code that must tell them apart asks the registry (:func:`reason`), never the string's
prefix; the docs list the reasons from :func:`markdown`. The tables keep the plain strings
(each member's :attr:`text`).
"""

from __future__ import annotations

from enum import Enum


class Said(Enum):
    """What a reason reports: a trust decision against, or a failure to decide."""

    REFUSED = "refused"
    FAILED = "failed"


class Reason(str, Enum):
    """One reason, with what it reports and a one-line definition."""

    _value_: str
    said: Said
    doc: str

    def __new__(cls, value: str, said: Said, doc: str) -> Reason:
        member = str.__new__(cls, value)
        member._value_ = value
        member.said = said
        member.doc = doc
        return member

    @property
    def text(self) -> str:
        """The reason as the tables hold it (a plain string, not the member)."""
        return self._value_

    @property
    def refusal(self) -> bool:
        """Whether this is a trust decision (not a failure to decide)."""
        return self.said is Said.REFUSED

    # --- the verifier (attestation.*) --------------------------------------------------------
    QUOTE_MALFORMED = "attestation.quote.malformed", Said.REFUSED, "the quote does not parse"
    QUOTE_BAD_SIGNATURE = (
        "attestation.quote.bad_signature",
        Said.REFUSED,
        "the quote's signature is invalid",
    )
    QUOTE_WRONG_SIGNER = (
        "attestation.quote.wrong_signer",
        Said.REFUSED,
        "the quote is not signed by the AK",
    )
    QUOTE_NONCE_MISMATCH = (
        "attestation.quote.nonce_mismatch",
        Said.REFUSED,
        "the quote is not over the nonce",
    )
    QUOTE_PCR_SELECTION = (
        "attestation.quote.pcr_selection",
        Said.REFUSED,
        "the quote misses a measured PCR",
    )
    AK_NOT_CERTIFIED = (
        "attestation.identity.ak_not_certified", Said.REFUSED,
        "the AK is not the one enrolled for the host",
    )  # fmt: skip
    EK_UNTRUSTED = (
        "attestation.identity.ek_untrusted", Said.REFUSED,
        "the EK is neither registered nor issued by a trusted TPM CA",
    )  # fmt: skip
    UNKNOWN_HOST = (
        "attestation.identity.unknown_host",
        Said.REFUSED,
        "no identity record for the host",
    )
    EK_NOT_BOUND = (
        "attestation.identity.ek_not_bound", Said.REFUSED,
        "the EK is not the one bound to the host's server",
    )  # fmt: skip
    PLATFORM_MISMATCH = (
        "attestation.identity.platform_mismatch", Said.REFUSED,
        "the server is not the one the host's TPM is bound to",
    )  # fmt: skip
    EVENTLOG_MALFORMED = (
        "attestation.eventlog.malformed",
        Said.REFUSED,
        "the event log does not parse",
    )
    EVENTLOG_DIGEST_MISMATCH = (
        "attestation.eventlog.digest_mismatch", Said.REFUSED,
        "an event's digest is not the digest of its data",
    )  # fmt: skip
    EVENTLOG_REPLAY_MISMATCH = (
        "attestation.eventlog.replay_mismatch", Said.REFUSED,
        "the event log does not replay to the quoted PCRs",
    )  # fmt: skip
    IMAGE_NOT_APPROVED = (
        "attestation.image.not_approved",
        Said.REFUSED,
        "the ESXi image is not approved",
    )
    BUILD_NOT_APPROVED = (
        "attestation.image.build_not_approved", Said.REFUSED,
        "the ESXi build is not an approved one",
    )  # fmt: skip
    DRIVER_NOT_APPROVED = (
        "attestation.image.driver_not_approved", Said.REFUSED,
        "a driver is not in the approved image",
    )  # fmt: skip
    VIB_NOT_APPROVED = (
        "attestation.image.vib_not_approved",
        Said.REFUSED,
        "a VIB is not in the approved image",
    )
    ACCEPTANCE_BELOW_FLOOR = (
        "attestation.image.acceptance_below_floor", Said.REFUSED,
        "a VIB's acceptance level is below the floor",
    )  # fmt: skip
    SECURE_BOOT_OFF = ("attestation.platform.secure_boot_off", Said.REFUSED, "Secure Boot is off")
    PRINCIPAL_NOT_IMPORTED = (
        "attestation.setup.principal_not_imported", Said.REFUSED,
        "the host's vCenter principal is not imported",
    )  # fmt: skip
    # --- the attestation as the agent saw it -------------------------------------------------
    ATTESTATION_HOST_DOWN = (
        "attestation.host_down",
        Said.FAILED,
        "the host went down during the attestation",
    )
    ATTESTATION_UNAVAILABLE = (
        "attestation.unavailable", Said.FAILED,
        "no answer from any node within the retries",
    )  # fmt: skip
    # --- the report check (report.*) ---------------------------------------------------------
    REPORT_MISSING = "report.missing", Said.REFUSED, "the host holds no report"
    REPORT_MALFORMED = "report.malformed", Said.REFUSED, "the report does not parse"
    REPORT_UNKNOWN_ISSUER = (
        "report.unknown_issuer",
        Said.REFUSED,
        "signed by a key no longer (or never) trusted",
    )
    REPORT_BAD_SIGNATURE = "report.bad_signature", Said.REFUSED, "the signature is invalid"
    REPORT_GROUP_NOT_ACCEPTED = (
        "report.group_not_accepted",
        Said.REFUSED,
        "issued by another trust-authority group",
    )
    REPORT_WRONG_AUDIENCE = (
        "report.wrong_audience",
        Said.REFUSED,
        "not issued for the Key Provider Service",
    )
    REPORT_NOT_YET_VALID = "report.not_yet_valid", Said.REFUSED, "issued in the future"
    REPORT_EXPIRED = "report.expired", Said.REFUSED, "the report has expired"
    REPORT_REVOKED = "report.revoked", Said.REFUSED, "the report was revoked"
    REPORT_WRONG_SUBJECT = ("report.wrong_subject", Said.REFUSED, "the report is another host's")
    # --- the Key Provider Service and the KMS (kps.*, kms.*) ---------------------------------
    KPS_UNAVAILABLE = (
        "kps.unavailable",
        Said.FAILED,
        "no Key Provider Service node answers (all down)",
    )
    KPS_UNREACHABLE = "kps.unreachable", Said.FAILED, "no network path to or from the node"
    KPS_UNWRAP_FAILED = (
        "kps.unwrap_failed",
        Said.FAILED,
        "the primary key does not unwrap the VM's KEK",
    )
    KPS_NO_KEY_PROVIDER = (
        "kps.no_key_provider",
        Said.FAILED,
        "no trusted key provider is configured yet",
    )
    KMS_UNAVAILABLE = "kms.unavailable", Said.FAILED, "no KMS server answered (all timed out)"
    KMS_NO_KEY_MATERIAL = (
        "kms.no_key_material",
        Said.FAILED,
        "the KMS answered without key material",
    )
    KMS_ITEM_NOT_FOUND = "kms.item_not_found", Said.FAILED, "KMIP: Item Not Found"
    KMS_AUTHENTICATION_NOT_SUCCESSFUL = (
        "kms.authentication_not_successful", Said.FAILED,
        "KMIP: Authentication Not Successful (the client certificate is not authorised)",
    )  # fmt: skip
    KMS_MISSING_DATA = "kms.missing_data", Said.FAILED, "KMIP: Missing Data"
    KMS_INVALID_FIELD = "kms.invalid_field", Said.FAILED, "KMIP: Invalid Field"
    KMS_CRYPTOGRAPHIC_FAILURE = (
        "kms.cryptographic_failure",
        Said.FAILED,
        "KMIP: Cryptographic Failure",
    )
    KMS_ILLEGAL_OPERATION = (
        "kms.illegal_operation", Said.FAILED,
        "KMIP: Illegal Operation (the primary key is not Active)",
    )  # fmt: skip
    KMS_PERMISSION_DENIED = "kms.permission_denied", Said.FAILED, "KMIP: Permission Denied"
    # --- placement and the vCenter's view (placement.*, vcenter.*) ---------------------------
    PLACEMENT_NO_ELIGIBLE_HOST = (
        "placement.no_eligible_host", Said.REFUSED,
        "no host of the cluster is up, has room and (for a key) is seen as attested",
    )  # fmt: skip
    PLACEMENT_KEY_NOT_RELEASED = (
        "placement.key_not_released",
        Said.FAILED,
        "the chosen host did not obtain the key",
    )
    PLACEMENT_HOST_DOWN = (
        "placement.host_down",
        Said.FAILED,
        "the chosen host went down during the power-on",
    )
    STATUS_NOT_ATTESTED = (
        "vcenter.status.notAttested",
        Said.REFUSED,
        "the vCenter sees the host as notAttested",
    )
    STATUS_UNKNOWN = (
        "vcenter.status.unknown",
        Said.REFUSED,
        "the vCenter sees the host's status as unknown",
    )
    # --- vMotion (vmotion.*) -----------------------------------------------------------------
    VMOTION_NO_ELIGIBLE_HOST = (
        "vmotion.no_eligible_host",
        Said.REFUSED,
        "no other host of the cluster qualifies",
    )
    VMOTION_KEY_NOT_RELEASED = (
        "vmotion.key_not_released",
        Said.FAILED,
        "the destination did not obtain the key",
    )
    VMOTION_UNREACHABLE = (
        "vmotion.unreachable",
        Said.FAILED,
        "no network path between the two hosts",
    )
    VMOTION_HOST_DOWN = (
        "vmotion.host_down",
        Said.FAILED,
        "a host went down or the VM restarted meanwhile",
    )
    STREAM_AUTH_FAILED = (
        "vmotion.stream.auth_failed",
        Said.FAILED,
        "a packet failed authentication (GCM)",
    )
    STREAM_REPLAYED = "vmotion.stream.replayed", Said.FAILED, "a packet came twice"
    STREAM_OUT_OF_ORDER = "vmotion.stream.out_of_order", Said.FAILED, "a packet came early"
    STREAM_WRONG_MIGRATION = (
        "vmotion.stream.wrong_migration",
        Said.FAILED,
        "a packet of another migration",
    )
    STREAM_AFTER_FINAL = ("vmotion.stream.after_final", Said.FAILED, "a packet after the final one")
    STREAM_TRUNCATED = "vmotion.stream.truncated", Said.FAILED, "the final packet is missing"
    STREAM_MALFORMED = "vmotion.stream.malformed", Said.FAILED, "a packet does not parse"
    STREAM_CORRUPT = (
        "vmotion.stream.corrupt",
        Said.FAILED,
        "the pages received are not the pages sent",
    )
    # --- set-up steps (operations rows) ------------------------------------------------------
    SETUP_NOT_ENABLED = (
        "setup.trust_authority_not_enabled", Said.FAILED,
        "a set-up step before the trust authority was enabled",
    )  # fmt: skip
    SETUP_PRINCIPAL_NOT_IMPORTED = (
        "setup.principal_not_imported", Said.FAILED,
        "a cluster registered before its vCenter's principal was imported",
    )  # fmt: skip


_BY_VALUE: dict[str, Reason] = {r.text: r for r in Reason}


def reason(value: str) -> Reason:
    """The registered reason written ``value`` (KeyError, naming it, for an unknown one)."""
    try:
        return _BY_VALUE[value]
    except KeyError:
        raise KeyError(f"unregistered reason {value!r}") from None


def markdown() -> str:
    """The reasons as a Markdown table (reason, refusal or failure, definition)."""
    rows = [f"| `{r.text}` | {r.said.value} | {r.doc} |" for r in Reason]
    return "\n".join(["| reason | | meaning |", "|---|---|---|", *rows])
