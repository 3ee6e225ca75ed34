"""A draft's row is its record's values in column order: the attestation path writes rows
without making the frozen record, and the tables must not tell the difference."""

from __future__ import annotations

from operator import attrgetter

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.tables import TABLES
from sim.processes.drafts import AttestationDraft, ReportDraft, VerdictDraft

times = st.floats(min_value=0, max_value=1e7, allow_nan=False)
maybe_times = st.one_of(st.none(), times)
text = st.text(max_size=12)
maybe_text = st.one_of(st.none(), text)


def _values(table: str, record: object) -> tuple[object, ...]:
    return tuple(attrgetter(*TABLES[table].names)(record))


@settings(max_examples=100, deadline=None)
@given(text, text, times, st.integers(0, 9), times, st.booleans(), text, text, times, times, times)
def test_attestation_row_is_its_record(
    host: str, trigger: str, start: float, attempts: int, end: float, ok: bool, reasons: str,
    node: str, verdict_at: float, wait: float, verdict_latency: float,
) -> None:  # fmt: skip
    draft = AttestationDraft(host, trigger, start, attempts)
    measured = {"node": node, "verdict_at": verdict_at, "queue_wait_s": wait,
                "verdict_latency_s": verdict_latency}  # fmt: skip
    record = draft.record(end, ok, reasons, **measured)
    assert draft.row(end, ok, reasons, **measured) == _values("attestations", record)


@settings(max_examples=100, deadline=None)
@given(
    text, text, st.integers(0, 10**6), maybe_times, times, times, maybe_times, maybe_times,
    maybe_text, maybe_text, st.booleans(), maybe_text, maybe_times,
)  # fmt: skip
def test_verdict_row_is_its_record(
    host: str, node: str, nonce: int, quoted: float | None, arrived: float, deadline: float,
    started: float | None, verdict_at: float | None, outcome: str | None, reasons: str | None,
    stale: bool, jti: str | None, delivered: float | None,
) -> None:  # fmt: skip
    draft = VerdictDraft(host, node, nonce, quoted, arrived, deadline)  # type: ignore[arg-type]
    draft.started_at, draft.verdict_at, draft.outcome = started, verdict_at, outcome
    draft.reasons, draft.stale, draft.jti = reasons, stale, jti
    assert draft.row(delivered) == _values("verdicts", draft.record(delivered))
    assert draft.row() == _values("verdicts", draft.record())


@settings(max_examples=100, deadline=None)
@given(text, text, text, times, times, text, maybe_times, maybe_times)
def test_report_row_is_its_record(
    jti: str, host: str, node: str, issued: float, expires: float, image: str,
    delivered: float | None, revoked: float | None,
) -> None:  # fmt: skip
    draft = ReportDraft(jti, host, node, issued, expires, image)
    draft.delivered_at, draft.revoked_at = delivered, revoked
    assert draft.row() == _values("reports", draft.record())
