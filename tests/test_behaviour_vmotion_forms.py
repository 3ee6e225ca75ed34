"""Two steps of a vMotion in fewer SimPy events, shown equivalent to their earlier forms.

- Migration slots (``max_concurrent_per_host``) are a :class:`~sim.processes.services.Lock`:
  a free slot is taken, and one nobody waits for given back, without an event; before,
  each was a ``simpy.Resource`` request and release (four events a migration).
- A transfer waits for its timeout alone and is interrupted when its rate changes; before,
  it raced the timeout with a rate-change event (a ``Condition``: one more event a pass).

Either form grants slots first come, first served and ends each transfer at the same float
time (``tests/processes/test_bandwidth.py`` checks the second exactly). What changes is the
order of the events of one instant: a migration that finds its slots free goes on at once
rather than after the instant's other events. Where migrations start at the same instant
(a host evacuated for maintenance starts all its VMs' migrations at once, and they compete
for the same eight slots) they are granted their slots in another order, and from there
the run takes another path: the shipped ``drift-storm`` and ``rolling-upgrade`` summaries
changed with these forms, the others not at all.

So the forms are compared here as the issue of equivalence asks: on the same scenarios and
seeds, run with each form, the observations of each figure pooled over the seeds pass a
two-sample Kolmogorov-Smirnov test: vMotion durations and slot waits, key-release and
attestation latency, drift detection and lapse. Disabling the interrupt (rates then never
change mid-transfer) fails it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from scipy import stats as sps

from sim.processes import vmotion
from sim.runner import RunOutput, simulate
from sim.scenario import load_scenario
from tests.regenerate import ROOT
from tests.vmotion_forms import EventfulLock, RacingLinks

pytestmark = pytest.mark.slow  # 18 runs of two small estates: about a minute

RUNS = {"drift-storm": 43200.0, "rolling-upgrade": 21600.0}
"""The shipped scenarios with evacuations, and how long each is run (seconds)."""
SEEDS = {"drift-storm": (1, 2, 3, 4, 5, 6), "rolling-upgrade": (1, 2, 3)}
WORKLOAD = ("vmotion.duration_s", "vmotion.queued_s", "key_requests.latency_s")
COMPARED = {
    "drift-storm": (*WORKLOAD, "attestation.latency_s", "drift.time_to_detection_s",
                    "drift.time_to_lapse_s"),
    "rolling-upgrade": (*WORKLOAD, "attestation.latency_s"),
}  # fmt: skip
"""The figures compared on each (the rolling upgrade has no drift)."""
ALPHA = 0.01


@contextmanager
def _earlier_forms() -> Iterator[None]:
    """Build estates with the earlier forms of the slots and the transfers."""
    saved = vmotion.Lock, vmotion.SharedLinks
    vmotion.Lock, vmotion.SharedLinks = EventfulLock, RacingLinks  # type: ignore[misc]
    try:
        yield
    finally:
        vmotion.Lock, vmotion.SharedLinks = saved  # type: ignore[misc]


def _run(name: str, seed: int, earlier: bool) -> RunOutput:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    if not earlier:
        return simulate(scenario, seed=seed, until=RUNS[name])
    with _earlier_forms():
        return simulate(scenario, seed=seed, until=RUNS[name])


def _figures(out: RunOutput) -> dict[str, list[float]]:
    migrations = out.tables["migrations"].columns("outcome", "duration_s", "queued_s")
    done = [i for i, o in enumerate(migrations["outcome"]) if o == "completed"]
    keys = out.tables["key_requests"].columns("latency_s")["latency_s"]
    attestations = out.tables["attestations"].columns("latency_s")["latency_s"]
    return {
        "vmotion.duration_s": [migrations["duration_s"][i] for i in done],
        "vmotion.queued_s": [migrations["queued_s"][i] for i in done],
        "key_requests.latency_s": [x for x in keys if x is not None],
        "attestation.latency_s": [x for x in attestations if x is not None],
        "drift.time_to_detection_s": list(out.durations["drift.time_to_detection_s"].ended),
        "drift.time_to_lapse_s": list(out.durations["drift.time_to_lapse_s"].ended),
    }


@cache
def _pooled(name: str, earlier: bool) -> tuple[dict[str, list[float]], int]:
    """Each figure's observations over the seeds, and the SimPy events the runs took."""
    pooled: dict[str, list[float]] = {}
    events = 0
    for seed in SEEDS[name]:
        out = _run(name, seed, earlier)
        assert out.ok
        events += int(out.manifest["events"])
        for key, values in _figures(out).items():
            pooled.setdefault(key, []).extend(values)
    return pooled, events


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_event_saving_forms_give_the_same_distributions(name: str) -> None:
    """Every figure passes the two-sample KS test against the earlier forms, and the runs
    take fewer events."""
    new, new_events = _pooled(name, earlier=False)
    old, old_events = _pooled(name, earlier=True)
    failed: list[str] = []
    for key in COMPARED[name]:
        assert len(new[key]) >= 20 and len(old[key]) >= 20, (key, len(new[key]), len(old[key]))
        p = float(sps.ks_2samp(new[key], old[key]).pvalue)
        if p < ALPHA:
            failed.append(f"{key}: p = {p:.2g} ({len(new[key])} vs {len(old[key])})")
    assert not failed, failed
    assert new_events < old_events


def test_the_two_forms_do_differ_where_migrations_start_together() -> None:
    """The comparison above is not of identical runs: on the rolling upgrade, the slots are
    granted in another order and the paths part."""
    new = _figures(_run("rolling-upgrade", 1, earlier=False))
    old = _figures(_run("rolling-upgrade", 1, earlier=True))
    assert new["vmotion.duration_s"] != old["vmotion.duration_s"]
