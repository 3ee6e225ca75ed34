"""The metric definitions: levels, report coverage, drift derivations and the summary."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.drift import _coverage_end, finalise_drift
from sim.analysis.recorder import DriftDraft, Level, Recorder
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


def _put(rec: Recorder, table: str, **values: Any) -> None:
    """A row of ``table`` as a run would have written it (only the columns a test needs)."""
    rec.tables[table].append(values)


class _Written:
    """The ``drift_events`` record of drift ``id``, read once finalise_drift wrote it."""

    def __init__(self, rec: Recorder, drift_id: int) -> None:
        self.rec, self.id = rec, drift_id

    def __getitem__(self, column: str) -> Any:
        (row,) = [r for r in self.rec.tables["drift_events"] if r["id"] == self.id]
        return row[column]


def _drift(rec: Recorder, at: float, host: str = "h", remediated: float | None = None) -> _Written:
    drift_id = len(rec.drifts) + 1
    rec.drifts.append(
        DriftDraft(drift_id, host, "unapproved_vib", at, "runtime", "applied", at, remediated)
    )
    return _Written(rec, drift_id)


def _verdict(
    rec: Recorder, nonce: int, at: float, ok: bool, delivered: float | None, stale: bool = False
) -> None:
    _put(
        rec,
        "verdicts",
        host="h",
        node="vta:0",
        nonce=nonce,
        arrived_at=at,
        started_at=at,
        verdict_at=at,
        outcome="pass" if ok else "fail",
        stale=stale,
        delivered_at=delivered,
    )


def _view(rec: Recorder, t: float, status: str, vcenter: str = "vc") -> None:
    _put(rec, "status_views", time=t, vcenter=vcenter, host="h", status=status)


def test_finalise_drift_derives_every_time_by_hand() -> None:
    """Detection and lapse = first failed verdict, key refusal = report expiry, vCenter
    refusal = view change, and exposure counts only trusted-workload events after the drift."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 900)]
    _verdict(rec, 1, 0.0, True, 0.0)
    _verdict(rec, 2, 400.0, False, 400.0)
    _view(rec, 10.0, "attested")
    _view(rec, 450.0, "notAttested")
    _view(rec, 460.0, "notAttested", vcenter="other")
    _put(rec, "refusals", time=500.0, host="h", vm="v", kind="placement", reason="x")
    _put(rec, "key_requests", time=50.0, host="h", outcome="released")
    _put(rec, "key_requests", time=420.0, host="h", outcome="released")
    _put(rec, "key_requests", time=950.0, host="h", outcome="refused")
    _put(rec, "placements", time=300.0, host="h", outcome="placed", needs_key=True)
    _put(rec, "placements", time=310.0, host="h", outcome="placed", needs_key=False)
    _put(rec, "migrations", end=330.0, destination="h", outcome="completed", needs_key=True)
    row = _drift(rec, 200.0)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["detected_at"] == 400.0 and row["time_to_detection_s"] == 200.0
    assert row["lapse_at"] == 400.0
    assert row["key_refusal_at"] == 900.0
    assert row["vcenter_refusal_at"] == 450.0
    assert row["time_to_refusal_s"] == 250.0
    assert row["first_refused_at"] == 500.0
    assert row["window_end"] == 3600.0
    assert (row["keys_released"], row["power_ons"], row["migrations_in"]) == (1, 1, 1)


def test_a_failed_verdict_that_reached_nobody_still_lapses_the_host() -> None:
    """A failure the agent never received (it had timed out) is a lapse and a detection at
    the verdict; a stale failure (a newer attempt judged first) is neither."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 2000)]
    _verdict(rec, 1, 0.0, True, 0.0)
    _verdict(rec, 3, 350.0, True, 350.1)
    _verdict(rec, 2, 360.0, False, None, stale=True)
    _verdict(rec, 4, 600.0, False, None)
    _view(rec, 1.0, "attested")
    row = _drift(rec, 300.0)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["detected_at"] == 600.0 and row["lapse_at"] == 600.0
    assert row["time_to_lapse_s"] == 300.0
    assert row["time_to_refusal_s"] >= row["time_to_lapse_s"]


def test_drift_on_an_already_untrusted_host_lapses_at_once() -> None:
    """Under revocation none the host still holds its report after a failed verdict, yet a
    new drift on it lapses at 0: the trust authority already treats it as untrusted."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 10_000)]
    _verdict(rec, 1, 0.0, True, 0.0)
    _verdict(rec, 2, 100.0, False, 100.0)
    _view(rec, 1.0, "attested")
    row = _drift(rec, 200.0)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["lapse_at"] == 200.0 and row["time_to_lapse_s"] == 0.0
    assert row["detected_at"] is None  # no failure after the drift
    assert row["key_refusal_at"] is None  # the report is still held


def test_a_healed_failure_does_not_count_as_untrusted() -> None:
    """A delivered pass newer than the failure restores trust at the trust authority."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 10_000)]
    _verdict(rec, 1, 0.0, True, 0.0)
    _verdict(rec, 2, 100.0, False, 100.0)
    _verdict(rec, 3, 150.0, True, 150.0)
    _view(rec, 1.0, "attested")
    row = _drift(rec, 200.0)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["lapse_at"] is None


def test_drift_windows_end_at_remediation_and_stale_views_refuse_at_once() -> None:
    """Nothing after a drift's remediation is credited to it, and a host the vCenter already
    saw as not attested is refused, and lapsed, from the drift on."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 10_000)]
    _verdict(rec, 1, 5_000.0, False, 5_000.0)
    _view(rec, 10.0, "notAttested")
    row = _drift(rec, 200.0, remediated=1_000.0)
    finalise_drift(rec, 20_000.0, {"h": "vc"})
    assert row["detected_at"] is None  # the failure came after the window
    assert row["key_refusal_at"] is None
    assert row["vcenter_refusal_at"] == 200.0 and row["time_to_refusal_s"] == 0.0
    assert row["lapse_at"] == 200.0 and row["window_end"] == 1_000.0


def test_finalise_drift_censors_a_drift_that_never_lapses() -> None:
    """With reports renewed to the end, no failure and an attested view, lapse stays None."""
    rec = Recorder()
    rec.tables["reports"] += [_report(str(i), i * 300.0, i * 300.0 + 900) for i in range(13)]
    _view(rec, 1.0, "attested")
    row = _drift(rec, 100.0)
    finalise_drift(rec, 3600.0, {"h": "vc"})
    assert row["lapse_at"] is None and row["time_to_lapse_s"] is None


def test_exposure_of_overlapping_drifts_counts_each_event_once() -> None:
    """Two overlapping drifts on one host: each row counts its own window, the summary the
    union (3 releases happened, rows say 3 + 2)."""
    rec = Recorder()
    rec.tables["reports"] += [_report("a", 0, 10_000)]
    _view(rec, 1.0, "attested")
    for t in (150.0, 250.0, 350.0):
        _put(rec, "key_requests", time=t, host="h", outcome="released")
    first, second = _drift(rec, 100.0, remediated=400.0), _drift(rec, 200.0, remediated=500.0)
    finalise_drift(rec, 1000.0, {"h": "vc"})
    assert (first["keys_released"], second["keys_released"]) == (3, 2)
    summary = summarise(rec, 1000.0, 0.0)
    assert summary["drift"]["exposure"]["keys_released"] == 3


def test_routine_gaps_are_uncovered_up_time_outside_drift_windows() -> None:
    """Reports [0, 250) and [300, 550) on a host up from 0 to 1000 with a drift window
    [600, 700): gaps [250, 300), [550, 600) and [700, 1000)."""
    rec = Recorder()
    _put(rec, "host_events", time=0.0, host="h", event="up", reason="start")
    rec.tables["reports"] += [_report("a", 0, 250), _report("b", 300, 550)]
    _view(rec, 1.0, "attested")
    _drift(rec, 600.0, remediated=700.0)
    finalise_drift(rec, 1000.0, {"h": "vc"})
    gaps = summarise(rec, 1000.0, 0.0)["drift"]["routine_gaps"]
    assert gaps["count"] == 3
    assert gaps["total_s"] == pytest.approx(50 + 50 + 300)
    assert gaps["fraction"] == pytest.approx(400 / 1000)
    assert gaps["longest_s"] == pytest.approx(300)


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
    assert rec.violations == [1.0, 100.0, 150.0]


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


def test_headline_shows_censoring_beside_every_duration() -> None:
    """A time to refusal with events shows censored count and Kaplan-Meier figures beside
    the mean; one with every drift censored reads 'all 3 censored', not nothing."""
    from sim.analysis.text import format_summary

    refused = {"count": 2, "mean": 100.0, "p50": 100.0, "p95": 150.0, "p99": 150.0,
               "max": 150.0, "censored": 1, "km_median": 150.0,
               "km_restricted_mean": 180.0, "km_horizon": 400.0}  # fmt: skip
    lapse = {"count": 0, "mean": None, "p50": None, "p95": None, "p99": None, "max": None,
             "censored": 3, "km_median": None, "km_restricted_mean": 400.0,
             "km_horizon": 400.0}  # fmt: skip
    head = headline({"drift": {"time_to_refusal_s": refused, "time_to_lapse_s": lapse}})
    shown = head["drift"]["time_to_refusal_s"]
    assert shown == {"mean": 100.0, "p95": 150.0, "censored": 1, "km_median": 150.0,
                     "km_restricted_mean": 180.0}  # fmt: skip
    assert head["drift"]["time_to_lapse_s"]["mean"] == "all 3 censored"
    assert head["drift"]["time_to_lapse_s"]["km_median"] == "all 3 censored"
    lines = {ln.split()[0]: " ".join(ln.split()[1:]) for ln in format_summary(head).splitlines()}
    assert lines["drift.time_to_refusal_s.km_median"] == "150 s (2.50 min)"
    assert lines["drift.time_to_refusal_s.censored"] == "1"
    assert lines["drift.time_to_lapse_s.mean"] == "all 3 censored"
