"""The reasons registry: one enumeration of every refusal and failure reason, which the
processes ask instead of reading a reason's prefix."""

from __future__ import annotations

import pytest

from sim.domain.kmip import ResultReason
from sim.domain.reasons import Reason, Said, markdown, reason
from sim.runner import simulate
from sim.scenario import load_scenario
from tests.conftest import ROOT


def test_every_reason_is_dotted_documented_and_written_once() -> None:
    texts = [r.text for r in Reason]
    assert len(set(texts)) == len(texts)
    for r in Reason:
        assert "." in r.text and r.text == r.text.strip() and type(r.text) is str
        assert r.doc and r.said in Said
    assert markdown().count("\n") == len(texts) + 1


def test_lookup_names_an_unregistered_reason() -> None:
    assert reason("report.expired") is Reason.REPORT_EXPIRED
    with pytest.raises(KeyError, match=r"kms\.no_such_thing"):
        reason("kms.no_such_thing")


def test_every_kmip_result_reason_is_a_registered_failure() -> None:
    for kmip in ResultReason:
        assert reason(f"kms.{kmip.name.lower()}").said is Said.FAILED


def test_refusals_are_the_trust_decisions() -> None:
    """What a key request calls refused (not failed) is exactly the report check: the same
    split the reasons' ``kms.``/``kps.`` prefixes gave before there was a registry."""
    for r in Reason:
        if r.text.startswith(("kms.", "kps.")):
            assert not r.refusal, r
        if r.text.startswith(("report.", "attestation.identity.", "attestation.image.")):
            assert r.refusal, r


_REASON_TABLES = (
    "attestations", "verdicts", "key_requests", "refusals", "placements", "migrations",
    "ha_restarts", "operations",
)  # fmt: skip
"""The tables whose ``reason`` (or ``reasons``) says why something was refused or failed
(``host_events`` and ``key_cache`` give a reboot's or a dropped key's cause instead)."""


@pytest.mark.slow
def test_every_reason_a_run_writes_is_registered() -> None:
    """A TPM swap (identity failures, refused keys) and a KMS outage (failed keys): every
    reason in every table's ``reason`` or ``reasons`` column is a registered one."""
    seen: set[str] = set()
    for name in ("tpm-swap", "kms-outage"):
        out = simulate(load_scenario(ROOT / "scenarios" / f"{name}.yaml"), until=4 * 3600)
        for table in (out.tables[t] for t in _REASON_TABLES):
            for column in ("reason", "reasons"):
                if column in table.names:
                    for (value,) in table.select(column):
                        seen.update(str(value).split() if value else ())
    assert seen, "the runs wrote no reason at all"
    unknown = {v for v in seen if v not in {r.text for r in Reason}}
    assert unknown == set()
