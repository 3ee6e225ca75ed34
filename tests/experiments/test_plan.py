"""``vtasim plan``: objectives and validation, the search (cost order, sequential
replications, dominance) on a stand-in executor with a known response, and on the simulator
a plan whose answer follows from Erlang C, resumed without running anything again."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.cli import main
from sim.errors import ScenarioError
from sim.experiments.executors import RunTask
from sim.experiments.plan import (
    DOMINATED,
    FAILS,
    INCONCLUSIVE,
    MEETS,
    NOT_TRIED,
    objective_confidence,
    run_plan,
)
from sim.experiments.plan_spec import parse_objective, parse_plan

ROOT = Path(__file__).resolve().parents[2]
STATION = ROOT / "tests" / "experiments" / "data" / "mmc-station.yaml"


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with offered load ``a``."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def erlang_wq(c: int, lam: float, mu: float) -> float:
    """Mean wait in queue of M/M/c (infinite when unstable)."""
    return math.inf if lam >= c * mu else erlang_c(c, lam / mu) / (c * mu - lam)


# --------------------------------------------------------------------------- objectives


def test_objectives_parse_units_and_host_scaled_bounds() -> None:
    o = parse_objective("attestation.latency_s.p95 <= 2s")
    assert (o.metric, o.op, o.bound, o.upper) == ("attestation.latency_s.p95", "<=", 2.0, True)
    assert parse_objective("drift.time_to_refusal_s.km_median <= 20m").bound == 1200.0
    h = parse_objective("capacity.usable_hosts.min >= 0.9 * hosts")
    assert h.per_host and h.limit(16) == pytest.approx(14.4) and not h.upper
    assert parse_objective("services.kms.utilisation < 0.5").bound == 0.5


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("attestation.latency_s.p59 <= 2s", "did you mean .*'attestation.latency_s.p95'"),
        ("drift.time_to_refusal.km_median <= 20m", "did you mean 'drift.time_to_refusal_s.km_"),
        ("attestation.latency_s.p95 == 2s", "expected 'METRIC OP BOUND'"),
        ("services.kms.utilisation <= 2m", "expected a number"),
        ("attestation.latency_s.p95 <= soon", "expected a duration"),
    ],
)
def test_bad_objectives_say_what_was_expected(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_objective(text)


def _plan(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "p",
        "scenario": str(STATION),
        "seed": 9,
        "replications": {"min": 3, "max": 6, "step": 1},
        "candidates": {
            "trust_authority.attestation_service.workers": {"levels": [3, 4, 5], "cost": 1}
        },
        "objectives": ["attestation.queue_wait_s.mean <= 0.1s"],
    }
    data.update(over)
    return data


@pytest.mark.parametrize(
    ("over", "where"),
    [
        ({"objectives": ["attestation.queue_wait_s.maen <= 1s"]}, "objectives"),
        ({"candidates": {"trust_authority.atestation_service.workers": {"levels": [1], "cost": 1}}},
         "candidates.trust_authority.atestation_service.workers.levels[0]"),
        ({"candidates": {"kms.servers": {"levels": [1, 2], "cost": 0}}}, "candidates.kms.servers"),
        ({"candidates": {"kms.servers": {"levels": [1, 2], "costs": [1]}}},
         "candidates.kms.servers"),
        ({"candidates": {"kms.servers": {"levels": [0], "cost": 1}}},
         "candidates.kms.servers.levels[0]"),
        ({"candidates": {"attestation.revocation": {"levels": ["none", "push"], "cost": 1}}},
         "candidates.attestation.revocation.levels[0]"),
        ({"candidates": {"kms.servers": {"levels": [1], "cost": 1,
                                         "per": "trust_authority.hosts"}}}, "candidates"),
    ],
)  # fmt: skip
def test_plan_problems_name_the_field(over: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_plan(_plan(**over), ROOT, allow_outside=True)
    assert any(p.path.startswith(where) or where in str(p) for p in err.value.problems), [
        str(p) for p in err.value.problems
    ]


def test_the_cli_reports_a_bad_plan_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "plan.yaml"
    f.write_text(
        f"name: p\nscenario: {STATION}\ncandidates:\n  kms.servers: {{levels: [1, 2], cost: -1}}"
        "\nobjectives: [attestation.latency_s.p59 <= 2s]\n"
    )
    assert main(["plan", "--allow-outside", str(f)]) == 2
    err = capsys.readouterr().err
    assert "candidates.kms.servers.cost" in err
    assert "did you mean 'attestation.latency_s.p99'" in err
    assert "Traceback" not in err
    assert main(["validate", "--allow-outside", str(f)]) == 2


def test_candidates_are_ordered_by_cost_with_per_setting_costs() -> None:
    pl = parse_plan(
        _plan(
            candidates={
                "trust_authority.hosts": {"levels": [1, 2], "cost": 10},
                "trust_authority.attestation_service.workers": {
                    "levels": [3, 4],
                    "cost": 1,
                    "per": "trust_authority.hosts",
                },
            }
        ),
        ROOT,
        allow_outside=True,
    )
    assert [(dict(c.levels)["trust_authority.hosts"], c.cost) for c in pl.candidates] == [
        (1, 13.0), (1, 14.0), (2, 26.0), (2, 28.0)
    ]  # fmt: skip
    assert objective_confidence(pl) == pytest.approx(0.95)


# --------------------------------------------------------------------------- the search


def _stand_in(response: Any, noise: float) -> Any:
    """An executor that runs nothing: each task's metric is ``response(settings)`` plus
    normal noise drawn from the task's seed (so common random numbers hold)."""
    calls: list[RunTask] = []

    def run(tasks: Sequence[RunTask]) -> Iterator[tuple[RunTask, dict[str, Any]]]:
        for t in tasks:
            calls.append(t)
            value = response(t.scenario) + noise * np.random.default_rng(t.seed).normal()
            yield (
                t,
                {
                    "status": "ok",
                    "error": None,
                    "wall_time_s": 0.0,
                    "cpu_s": 0.5,
                    "metrics": {m: value for m in t.metrics},
                },
            )

    run.calls = calls  # type: ignore[attr-defined]
    return run


def _toy(monotone: bool = True, bound: float = 2.5) -> dict[str, Any]:
    return _plan(
        monotone=monotone,
        candidates={
            # more hosts cost less here (an estate that already owns them): the search meets
            # the largest first, so dominance has something to skip
            "trust_authority.hosts": {"levels": [1, 2, 3], "costs": [2, 1, 0]},
            "kms.servers": {"levels": [1, 2], "cost": 5},
        },
        objectives=[f"attestation.latency_s.p95 <= {bound}"],
    )


def _latency(s: dict[str, Any]) -> float:
    return 10.0 / (s["trust_authority"]["hosts"] * s["kms"]["servers"])


def test_the_cheapest_meeting_candidate_is_chosen_and_dominated_ones_skipped(
    tmp_path: Path,
) -> None:
    """latency = 10 / (hosts * servers): with one server every host count fails 2.5; the
    largest (cheapest) fails first, so the smaller two are skipped as dominated; with two
    servers, 3 hosts (10/6) meets."""
    pl = parse_plan(_toy(), ROOT, allow_outside=True)
    ex = _stand_in(_latency, noise=0.05)
    res = run_plan(pl, tmp_path / "p", executor=ex)
    status = {
        (c["settings"]["trust_authority.hosts"], c["settings"]["kms.servers"]): c["status"]
        for c in res.doc["candidates"]
    }
    assert status == {
        (3, 1): FAILS, (2, 1): DOMINATED, (1, 1): DOMINATED,
        (3, 2): MEETS, (2, 2): NOT_TRIED, (1, 2): NOT_TRIED,
    }  # fmt: skip
    assert res.chosen is not None and res.chosen["settings"]["kms.servers"] == 2
    assert res.doc["compute"]["runs"] == 6 == len(ex.calls)  # 3 + 3: decided at min
    seeds = {t.cell_id: [x.seed for x in ex.calls if x.cell_id == t.cell_id] for t in ex.calls}
    assert len({tuple(v) for v in seeds.values()}) == 1  # common random numbers
    (ev,) = res.chosen["evidence"]
    assert ev["high"] < 2.5 and ev["n"] == 3 and ev["verdict"] == "met"
    text = (tmp_path / "p" / "plan.txt").read_text()
    assert "chosen: trust_authority.hosts=3, kms.servers=2" in text
    assert "[dominated]" in text
    assert json.loads((tmp_path / "p" / "plan.json").read_text()) == res.doc


def test_without_monotonicity_nothing_is_skipped(tmp_path: Path) -> None:
    pl = parse_plan(_toy(monotone=False), ROOT, allow_outside=True)
    res = run_plan(pl, tmp_path / "p", executor=_stand_in(_latency, noise=0.05))
    assert [c["status"] for c in res.doc["candidates"]][:4] == [FAILS, FAILS, FAILS, MEETS]


def test_a_candidate_at_the_bound_is_replicated_to_max_and_inconclusive(tmp_path: Path) -> None:
    """A response equal to the bound with noise never clears it: each candidate gets min,
    then one more at a time, up to max (6), and none is chosen."""
    pl = parse_plan(_toy(bound=10 / 6), ROOT, allow_outside=True)
    res = run_plan(pl, tmp_path / "p", executor=_stand_in(_latency, noise=0.5))
    by = {
        (c["settings"]["trust_authority.hosts"], c["settings"]["kms.servers"]): c
        for c in res.doc["candidates"]
    }
    assert by[(3, 2)]["status"] == INCONCLUSIVE
    assert by[(3, 2)]["replications"] == 6
    assert "undecided after 6 replications" in by[(3, 2)]["reason"]
    assert res.chosen is None


def test_a_plan_folder_holding_another_plan_is_refused(tmp_path: Path) -> None:
    run_plan(parse_plan(_toy(), ROOT, allow_outside=True), tmp_path / "p",
             executor=_stand_in(_latency, 0.05))  # fmt: skip
    other = parse_plan(_toy(bound=3.0), ROOT, allow_outside=True)
    with pytest.raises(Exception, match="holds another plan"):
        run_plan(other, tmp_path / "p", executor=_stand_in(_latency, 0.05))


# --------------------------------------------------------------------------- Erlang C


@pytest.mark.slow
def test_the_plan_finds_the_erlang_c_answer_and_resumes(tmp_path: Path) -> None:
    """The station of mmc-station.yaml is close to M/M/c with lambda = 4/s, mu = 2/s (120
    hosts attesting every 15 s + U(0, 30 s), exponential 0.5 s verifications, one node).
    The fewest workers whose Erlang C mean queue wait is at most 0.1 s is the answer the
    plan must find (4: 0.222 s with 3, 0.0435 s with 4); running it again runs nothing."""
    bound = 0.1
    lam, mu = 120 / 30.0, 2.0
    levels = [3, 4, 5, 6]
    expected = min(c for c in levels if erlang_wq(c, lam, mu) <= bound)
    assert expected == 4
    data = _plan(
        candidates={"trust_authority.attestation_service.workers": {"levels": levels, "cost": 1}},
        objectives=[f"attestation.queue_wait_s.mean <= {bound}s"],
    )
    pl = parse_plan(data, ROOT, allow_outside=True)
    out = tmp_path / "erlang"
    res = run_plan(pl, out, workers=2)
    assert res.chosen is not None
    assert res.chosen["settings"]["trust_authority.attestation_service.workers"] == expected
    first = res.doc["candidates"][0]
    assert first["status"] == FAILS and first["evidence"][0]["low"] > bound
    assert res.doc["compute"]["runs_now"] == res.doc["compute"]["runs"] >= 6
    assert res.doc["compute"]["cpu_s"] > 0
    again = run_plan(pl, out, workers=2)
    assert again.doc["compute"]["runs_now"] == 0
    assert again.doc["compute"]["runs_kept"] == res.doc["compute"]["runs"]
    assert again.doc["chosen"] == res.doc["chosen"]
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "<h2>Answer</h2>" in page and "Compute spent" in page


def test_the_shipped_plans_validate() -> None:
    """Every plan under scenarios/plans/ loads and expands into candidates, cheapest first."""
    from sim.experiments.plan_spec import load_plan

    plans = sorted((ROOT / "scenarios" / "plans").glob("*.yaml"))
    assert plans
    for path in plans:
        pl = load_plan(path)
        costs = [c.cost for c in pl.candidates]
        assert len(costs) >= 2 and costs == sorted(costs)


def test_dry_run_lists_candidates_cheapest_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "plan.yaml"
    f.write_text(
        f"name: p\nscenario: {STATION}\ncandidates:\n"
        "  trust_authority.attestation_service.workers: {levels: [4, 3], cost: 2}\n"
        "  kms.servers: {levels: [1, 2], costs: [0, 1]}\n"
        "objectives: [attestation.queue_wait_s.mean <= 0.1s]\n"
    )
    assert main(["plan", "--allow-outside", "--dry-run", str(f)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.rsplit("(cost ", 1)[1] for line in out[:4]] == ["6)", "7)", "8)", "9)"]
    assert "4 candidates" in out[-1] and "nothing run" in out[-1]


@pytest.mark.slow
def test_the_cli_plans_on_a_dask_cluster_like_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vtasim plan --dask ADDRESS`` on a loopback LocalCluster gives the same plan as the
    local pool (a small station: 24 hosts, 4 simulated minutes), prints the answer and
    writes the report page."""
    distributed = pytest.importorskip("distributed")
    f = tmp_path / "plan.yaml"
    f.write_text(
        f"name: small\nscenario: {STATION}\nseed: 4\nuntil: 4m\nwarmup: 1m\n"
        "replications: {min: 2, max: 4, step: 1}\ncandidates:\n"
        "  trust_authority.attestation_service.workers: {levels: [1, 2], cost: 1}\n"
        "objectives: ['attestation.requests >= 1']\n"
    )
    over = ["--set", "vcenters.0.clusters.0.hosts=24"]
    assert main(["plan", "--allow-outside", *over, str(f), "--out", str(tmp_path / "a")]) == 0
    local = capsys.readouterr().out
    assert "chosen: trust_authority.attestation_service.workers=1" in local
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        args = ["plan", "--allow-outside", *over, str(f), "--out", str(tmp_path / "b")]
        assert main([*args, "--dask", cluster.scheduler_address]) == 0
    remote = capsys.readouterr().out
    doc_a = json.loads((tmp_path / "a" / "plan.json").read_text())
    doc_b = json.loads((tmp_path / "b" / "plan.json").read_text())
    assert doc_a["candidates"] == doc_b["candidates"]
    assert "chosen: trust_authority.attestation_service.workers=1" in remote
    assert (tmp_path / "b" / "report.html").is_file()
