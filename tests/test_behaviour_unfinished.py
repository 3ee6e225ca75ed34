"""Work still running at the end of a run is written ``unfinished`` with its elapsed time,
never as refused or failed; every record is written once, when its outcome is known.

Deterministic estates: LAN hop 0.1 ms (0 for vMotion), fixed service times, no jitter.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.recorder import Recorder
from sim.analysis.records import HostEvent
from sim.runner import RunOutput, simulate
from sim.scenario import parse_scenario
from tests.designed import merge

GiB = 2**30

BASE: dict[str, Any] = {
    "name": "unfinished",
    "network": {"lan_latency": "0.1ms"},
    "trust_authority": {
        "attestation_service": {"workers": 8, "service_time": "5ms"},
        "key_provider_service": {"workers": 8, "service_time": "2ms"},
        "status_service_time": "1ms",
    },
    "kms": {"service_time": "3ms", "workers": 16, "connection_timeout": "30s"},
    "attestation": {"interval": "10m", "jitter": "0s", "report_lifetime": "2h",
                    "tpm_sign_time": "50ms"},
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 4}]}],
    "vms": {"count": 200, "initially_running": 0, "memory": ["4GiB"],
            "encryption": {"none": 0, "storage_policy": 0, "vtpm": 1}},
    "workload": {"power_on_rate": "600 per_hour", "migration_rate": 0,
                 "lifetime": {"dist": "exponential", "mean": "5m"}},
}  # fmt: skip


def _run(over: dict[str, Any], until: float | None = None) -> RunOutput:
    return simulate(parse_scenario(merge(BASE, over)), seed=1, until=until)


# An estate of 3 hosts whose esx-01 enters maintenance mode at 600 s: its running VMs (plain,
# 8 GiB, unencrypted vMotion) leave by vMotion over a 10 Gbps NIC.
EVACUATION: dict[str, Any] = {
    "network": {"lan_latency": "0s"},
    "vcenters": [{"name": "vc-a", "clusters": [{"name": "c", "hosts": 3}]}],
    "vms": {"count": 6, "initially_running": 1.0, "memory": ["8GiB"],
            "vmotion_mode": {"disabled": 1, "opportunistic": 0, "required": 0},
            "encryption": {"none": 1, "storage_policy": 0, "vtpm": 0}},
    "workload": {"power_on_rate": 0, "migration_rate": 0,
                 "lifetime": "10h"},
    "reboots": {"scheduled": [{"host": "esx-01", "at": "600s"}]},
}  # fmt: skip


def test_a_run_ending_in_pre_copy_writes_the_migration_unfinished() -> None:
    """The run ends at 605 s, 5 s into the evacuation. The first pre-copy pass of an 8 GiB
    VM alone takes 8 GiB / 1.25 GB/s = 6.87 s at the full 10 Gbps NIC, after a 1 s setup, so
    no migration can have finished: each is ``unfinished``, with no end and elapsed =
    605 - 600 = 5 s, none ``refused``; run on to 700 s, the same migrations complete."""
    assert 8 * GiB / 1.25e9 + 1.0 > 5.0
    out = _run(EVACUATION, until=605.0)
    moves = [m for m in out.tables["migrations"] if m["trigger"] == "maintenance"]
    assert moves, "esx-01 had VMs to move"
    for m in moves:
        assert m["outcome"] == "unfinished" and m["end"] is None and m["reason"] is None
        assert m["start"] == 600.0 and m["elapsed_s"] == pytest.approx(5.0, abs=1e-9)
        assert m["destination"] in ("esx-02", "esx-03")
    vmotion = out.summary["vmotion"]
    assert (vmotion["requests"], vmotion["unfinished"]) == (len(moves), len(moves))
    assert vmotion["refused"] == vmotion["failed"] == vmotion["completed"] == 0
    later = _run(EVACUATION, until=700.0)
    done = [m for m in later.tables["migrations"] if m["trigger"] == "maintenance"]
    assert sorted(m["vm"] for m in done) == sorted(m["vm"] for m in moves)
    assert all(m["outcome"] == "completed" and m["elapsed_s"] is None for m in done)


def test_a_run_ending_inside_a_kms_outage_writes_the_waiting_placements_unfinished() -> None:
    """Both KMS servers down from 10 min to past the end (1 h), no primary-key cache: a key
    request tries each server and fails after 2 x 30 s connection timeouts (+ 4.4 ms of hops
    and the KPS), so one made in the last 60 s is still waiting when the run ends. Those
    placements and key requests are ``unfinished`` with elapsed = 3600 - time (< 60 s), not
    "refused, no eligible host" or "failed / kps.unavailable"; earlier ones failed."""
    end = 3600.0
    out = _run({
        "duration": "1h",
        "kms": {"outages": [{"server": s, "at": "10m", "duration": "2h"} for s in (0, 1)]},
        "trust_authority": {"key_providers": [{"primary_key_cache_ttl": "0s"}]},
    })  # fmt: skip
    waiting = [k for k in out.tables["key_requests"] if k["outcome"] == "unfinished"]
    assert waiting, "requests were made in the last minute"
    for k in waiting:
        assert end - 60.0 - 0.0045 < k["time"] <= end
        assert k["elapsed_s"] == pytest.approx(end - k["time"], abs=1e-9)
        assert k["reason"] is None and k["latency_s"] is None
    failed = [k for k in out.tables["key_requests"] if k["outcome"] == "failed"]
    assert failed and all(600.0 <= k["time"] < end - 60.0 for k in failed)
    assert all(k["reason"] == "kms.unavailable" for k in failed)
    parked = [p for p in out.tables["placements"] if p["outcome"] == "unfinished"]
    assert sorted((p["time"], p["vm"]) for p in parked) == sorted(
        (k["time"], k["vm"]) for k in waiting if k["purpose"] == "power_on"
    )
    assert all(p["host"] is not None for p in parked)
    assert all(p["elapsed_s"] == pytest.approx(end - p["time"], abs=1e-9) for p in parked)
    assert not any(p["outcome"] == "refused" for p in out.tables["placements"])
    placements, keys = out.summary["placements"], out.summary["key_requests"]
    assert (placements["unfinished"], placements["refused"]) == (len(parked), 0)
    assert (keys["unfinished"], keys["failed"]) == (len(waiting), len(failed))


def test_every_report_is_written_once_whether_or_not_its_life_ended() -> None:
    """Reports are written when their life ends (expiry) or at the end of the run: over 3 h
    with 1 h reports renewed every 10 min, each jti is written exactly once: the reports held
    from before the run and one per passing verdict; those alive at the end too."""
    out = _run({"duration": "3h", "attestation": {"report_lifetime": "1h"}})
    jtis = [r["jti"] for r in out.tables["reports"]]
    assert len(jtis) == len(set(jtis))
    issued = {v["jti"] for v in out.tables["verdicts"] if v["jti"] is not None}
    held = {r["jti"] for r in out.tables["reports"] if r["issued_at"] < 0}
    assert set(jtis) == issued | held and len(held) == 4  # one per host at the start
    alive = [r for r in out.tables["reports"] if r["expires_at"] > 3 * 3600]
    assert len(alive) >= 4  # each host's last report outlives the run


def test_an_attestation_cut_by_its_host_going_down_failed_and_is_not_unfinished() -> None:
    """A crash 1 ms into esx-01's boot attestation at 600 s (the TPM takes 50 ms to sign):
    the attempt ends at the crash, written failed with reason ``attestation.host_down``
    and latency 1 ms; nothing is unfinished at the end of the run."""
    out = _run({
        "duration": "30m", "vms": {"count": 0},
        "workload": {"power_on_rate": 0},
        "reboots": {"duration": "100s",
                    "scheduled": [{"host": "esx-01", "at": "600s", "kind": "crash"},
                                  {"host": "esx-01", "at": "700.001s", "kind": "crash"}]},
    })  # fmt: skip
    (cut,) = [a for a in out.tables["attestations"] if a["reasons"] == "attestation.host_down"]
    assert cut["host"] == "esx-01" and cut["trigger"] == "boot" and cut["ok"] is False
    assert cut["requested_at"] == pytest.approx(700.0)
    assert cut["latency_s"] == pytest.approx(0.001, abs=1e-9)
    assert out.summary["attestation"]["unfinished"] == 0


class _Work:
    """A draft for the registry test: its record at the end of the run."""

    def __init__(self, host: str) -> None:
        self.host = host

    def at_end_of_run(self, end: float) -> HostEvent:
        return HostEvent(time=end, host=self.host, event="up", reason="unfinished")


def test_the_end_of_run_step_writes_open_work_once_in_the_order_it_was_opened() -> None:
    """Closed work is written when closed; work still open is written by end_of_run, in the
    order it was opened, and a second end_of_run is an error."""
    rec = Recorder()
    a, b, c = _Work("a"), _Work("b"), _Work("c")
    for work in (a, b, c):
        rec.opened(work)
    rec.closed(b, HostEvent(time=1.0, host="b", event="down", reason="reboot"))
    assert rec.open_work == 2 and rec.end_of_run(9.0) == 2 and rec.open_work == 0
    rows = [(r["host"], r["time"], r["reason"]) for r in rec.tables["host_events"]]
    assert rows == [("b", 1.0, "reboot"), ("a", 9.0, "unfinished"), ("c", 9.0, "unfinished")]
    with pytest.raises(RuntimeError, match="already"):
        rec.end_of_run(10.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), max_size=30), st.randoms(use_true_random=False))
def test_every_opened_draft_is_written_exactly_once(closes: list[bool], rnd: Any) -> None:
    """Whatever drafts are closed, and in whatever order, each opened draft is written once:
    when closed, or by the end-of-run step."""
    rec = Recorder()
    works = [_Work(f"h{i}") for i in range(len(closes))]
    for work in works:
        rec.opened(work)
    closing = [w for w, close in zip(works, closes, strict=True) if close]
    rnd.shuffle(closing)
    for work in closing:
        rec.closed(work, HostEvent(time=1.0, host=work.host, event="down", reason="done"))
    rec.end_of_run(2.0)
    hosts = sorted(r["host"] for r in rec.tables["host_events"])
    assert hosts == sorted(w.host for w in works)
    open_at_end = [r["host"] for r in rec.tables["host_events"] if r["reason"] == "unfinished"]
    assert open_at_end == [w.host for w, close in zip(works, closes, strict=True) if not close]
