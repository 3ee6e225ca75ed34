"""The metric definitions: levels, report coverage, drift derivations and the summary."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.drift import _coverage_end, finalise_drift
from sim.analysis.recorder import Level, Recorder
from sim.analysis.summary import headline, stats, summarise


def test_level_time_weighted_mean_and_peak() -> None:
    """A level of 2 for 3 s then 0 for 1 s has mean 1.5 over 4 s and peak 2."""
    lv = Level()
    lv.set(0.0, 2)
    lv.set(3.0, 0)
    assert lv.mean(4.0) == pytest.approx(1.5)
    assert lv.peak == 2


def test_level_reset_forgets_warmup() -> None:
    """After reset at t the mean covers only [t, now]."""
    lv = Level()
    lv.set(0.0, 10)
    lv.set(5.0, 1)
    lv.reset(6.0)
    assert lv.mean(8.0) == pytest.approx(1.0)
    assert lv.peak == 1


def _report(jti: str, issued: float, expires: float, revoked: float | None = None) -> dict:
    return {
        "jti": jti,
        "host": "h",
        "node": "vta:0",
        "issued_at": issued,
        "delivered_at": issued,
        "expires_at": expires,
        "revoked_at": revoked,
        "image_id": "i",
    }


def test_coverage_end_follows_overlapping_reports() -> None:
    """Coverage runs through chained reports and stops at the first gap."""
    reports = [_report("a", 0, 10), _report("b", 8, 18), _report("c", 20, 30)]
    assert _coverage_end(reports, 5.0) == 18
    assert _coverage_end(reports, 19.0) == 19.0
    assert _coverage_end(reports, 25.0) == 30


def test_coverage_end_stops_at_revocation() -> None:
    """A revoked report covers only until its revocation."""
    assert _coverage_end([_report("a", 0, 100, revoked=40)], 10.0) == 40


@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0.1, 50)), max_size=8), st.floats(0, 150))
@settings(max_examples=100, deadline=None)
def test_coverage_end_is_uncovered_and_every_earlier_instant_covered(
    spans: list[tuple[float, float]], t0: float
) -> None:
    """The coverage end is not inside any report; [t0, end) is covered by reports."""
    reports = [_report(str(i), a, a + d) for i, (a, d) in enumerate(spans)]
    end = _coverage_end(reports, t0)
    assert end >= t0
    assert not any(r["issued_at"] <= end < r["expires_at"] for r in reports)
    if end > t0:
        # sample instants in between: each lies inside some report
        for k in range(1, 10):
            t = t0 + (end - t0) * k / 10
            assert any(r["issued_at"] <= t < r["expires_at"] for r in reports)


def _drift_row(at: float) -> dict:
    return {
        "id": 1,
        "host": "h",
        "kind": "unapproved_vib",
        "at": at,
        "measured": "runtime",
        "effective_at": at,
        "remediated_at": None,
        "detected_at": None,
        "lapse_at": None,
        "key_refusal_at": None,
        "vcenter_refusal_at": None,
        "first_refused_at": None,
        "time_to_lapse_s": None,
        "time_to_key_refusal_s": None,
        "time_to_vcenter_refusal_s": None,
        "time_to_refusal_s": None,
        "time_to_first_refused_s": None,
        "keys_released": 0,
        "power_ons": 0,
        "migrations_in": 0,
    }


def test_finalise_drift_derives_every_time_by_hand() -> None:
    """Lapse = failed verdict, key refusal = report expiry, vCenter refusal = view change,
    and exposure counts only trusted-workload events after the drift."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 900)]
    rec.tables["attestations"] += [
        {"host": "h", "ok": True, "verdict_at": 0.0},
        {"host": "h", "ok": False, "verdict_at": 400.0},
    ]
    rec.tables["status_views"] += [
        {"time": 10.0, "vcenter": "vc", "host": "h", "status": "attested"},
        {"time": 450.0, "vcenter": "vc", "host": "h", "status": "notAttested"},
        {"time": 460.0, "vcenter": "other", "host": "h", "status": "notAttested"},
    ]
    rec.tables["refusals"] += [
        {"time": 500.0, "host": "h", "vm": "v", "kind": "placement", "reason": "x"}
    ]
    rec.tables["key_requests"] += [
        {"time": 50.0, "host": "h", "outcome": "released"},
        {"time": 420.0, "host": "h", "outcome": "released"},
        {"time": 950.0, "host": "h", "outcome": "refused"},
    ]
    rec.tables["placements"] += [
        {"time": 300.0, "host": "h", "outcome": "placed", "needs_key": True},
        {"time": 310.0, "host": "h", "outcome": "placed", "needs_key": False},
    ]
    rec.tables["migrations"] += [
        {"end": 330.0, "destination": "h", "outcome": "completed", "needs_key": True},
    ]
    row = _drift_row(200.0)
    rec.tables["drift_events"].append(row)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["detected_at"] == 400.0
    assert row["lapse_at"] == 400.0
    assert row["key_refusal_at"] == 900.0
    assert row["vcenter_refusal_at"] == 450.0
    assert row["time_to_refusal_s"] == 250.0
    assert row["first_refused_at"] == 500.0
    assert (row["keys_released"], row["power_ons"], row["migrations_in"]) == (1, 1, 1)


def test_drift_windows_end_at_remediation_and_stale_views_refuse_at_once() -> None:
    """Nothing after a drift's remediation is credited to it, and a host the vCenter already
    saw as not attested is refused from the drift on."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 10_000)]
    rec.tables["attestations"] += [{"host": "h", "ok": False, "verdict_at": 5_000.0}]
    rec.tables["status_views"] += [
        {"time": 10.0, "vcenter": "vc", "host": "h", "status": "notAttested"},
    ]
    row = _drift_row(200.0)
    row["remediated_at"] = 1_000.0
    rec.tables["drift_events"].append(row)
    finalise_drift(rec, 20_000.0, {"h": "vc"})
    assert row["detected_at"] is None and row["lapse_at"] is None  # failure came later
    assert row["key_refusal_at"] is None
    assert row["vcenter_refusal_at"] == 200.0 and row["time_to_refusal_s"] == 0.0


def test_finalise_drift_censors_a_drift_that_never_lapses() -> None:
    """With reports renewed to the end and no failure, lapse stays None."""
    rec = Recorder()
    rec.tables["reports"] += [_report(str(i), i * 300.0, i * 300.0 + 900) for i in range(13)]
    row = _drift_row(100.0)
    rec.tables["drift_events"].append(row)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["lapse_at"] is None and row["time_to_lapse_s"] is None


def test_safety_check_counts_release_on_expired_or_revoked_latest_report() -> None:
    """Releases are violations exactly when the latest report is expired or revoked."""
    rec = Recorder()
    assert rec.key_released("h", 1.0)  # no report at all
    rec.report_issued("a", "h", 100.0)
    assert not rec.key_released("h", 50.0)
    assert rec.key_released("h", 100.0)
    rec.report_issued("b", "h", 300.0)
    rec.report_revoked("b")
    assert rec.key_released("h", 150.0)
    assert rec.safety_violations == 3


def test_stats_percentiles() -> None:
    """stats gives count, mean and linear-interpolated percentiles; empty gives None."""
    s = stats([float(x) for x in range(1, 101)])
    assert s["count"] == 100 and s["mean"] == pytest.approx(50.5)
    assert s["p50"] == pytest.approx(50.5) and s["max"] == 100.0
    assert stats([])["mean"] is None


def test_summary_excludes_warmup_and_headline_is_a_subset() -> None:
    """Records before the warm-up are not counted; the headline keeps summary keys."""
    rec = Recorder()
    for t, ok in ((10.0, True), (200.0, True), (300.0, False)):
        rec.add(
            "attestations",
            host="h",
            trigger="periodic",
            node="vta:0",
            requested_at=t,
            verdict_at=t + 1,
            completed_at=t + 1,
            ok=ok,
            reasons="",
            attempts=1,
            queue_wait_s=0.0,
            latency_s=1.0,
            verdict_latency_s=1.0,
        )
    summary = summarise(rec, 400.0, warmup=100.0)
    assert summary["attestation"]["requests"] == 2
    assert summary["attestation"]["failed"] == 1
    head = headline(summary)
    assert head["attestation"]["requests"] == 2
    assert math.isclose(head["attestation"]["latency_s"]["p50"], 1.0)
