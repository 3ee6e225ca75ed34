"""Run a plan: try candidates from the cheapest, replicating each sequentially until every
objective is decided, and write the answer with its evidence (the rules are in
:mod:`sim.experiments.plan_spec`).

Layout of a plan folder::

    <out>/plan.resolved.yaml           the plan as run (spec, --set, candidates in order)
    <out>/runs/<candidate id>/rep-<r>/ one run folder per run (see sim.analysis.results)
    <out>/plan.json                    the answer, every candidate and its evidence, compute
    <out>/plan.txt                     the same in words
    <out>/candidates.csv               one row per candidate: settings, cost, status, reason
    <out>/evidence.csv                 one row per candidate tried and objective
    <out>/report.html                  written by ``vtasim plan`` (see sim.plots.report)

Like a sweep, the run folders are the source of truth: running the plan again keeps every
finished run of the same scenario and seed, and since each decision depends only on the
runs' results, it takes the same path to the same answer without running them again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sim.analysis import folder_io, results
from sim.analysis.outdir import prepare_folder
from sim.analysis.stats import nonneg_estimate
from sim.analysis.survival import Durations, KaplanMeier, z_value
from sim.errors import RunError, ScenarioError
from sim.experiments.executors import Executor, RunTask, local_executor
from sim.experiments.plan_spec import Candidate, Objective, Plan, load_plan, plan_digest
from sim.experiments.pooled import pooled_metric, run_durations
from sim.experiments.sweep import finished_run, folder_lock

log = logging.getLogger(__name__)

RESOLVED_FILE = "plan.resolved.yaml"
PLAN_JSON = "plan.json"
PLAN_TEXT = "plan.txt"
CANDIDATES_FILE = "candidates.csv"
EVIDENCE_FILE = "evidence.csv"
_PLAN_NAMES = (PLAN_JSON, PLAN_TEXT, CANDIDATES_FILE, EVIDENCE_FILE, "runs", "index.csv")
"""What a plan writes (and a sweep's index): a folder holding one of these but no
plan.resolved.yaml is someone else's."""

MET, FAILED, UNDECIDED = "met", "failed", "undecided"
"""An objective's verdict on one candidate."""
MEETS, FAILS, INCONCLUSIVE, DOMINATED, NOT_TRIED = (
    "meets",
    "fails",
    "inconclusive",
    "dominated",
    "not tried",
)
"""A candidate's status."""


@dataclass(frozen=True)
class Evidence:
    """One objective judged on one candidate's runs."""

    objective: str
    metric: str
    bound: float
    estimate: float | None
    low: float | None
    high: float | None
    n: int
    runs: int
    method: str
    verdict: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Tried:
    """What became of one candidate."""

    candidate: Candidate
    status: str = NOT_TRIED
    reason: str = ""
    replications: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "candidate_id": c.candidate_id,
            "settings": dict(c.levels),
            "cost": c.cost,
            "status": self.status,
            "reason": self.reason,
            "replications": self.replications,
            "evidence": [e.as_dict() for e in self.evidence],
        }


@dataclass(frozen=True)
class PlanResult:
    """A finished plan: its folder and its document (what ``plan.json`` holds)."""

    path: Path
    doc: dict[str, Any]

    @property
    def chosen(self) -> dict[str, Any] | None:
        chosen: dict[str, Any] | None = self.doc["chosen"]
        return chosen


def objective_confidence(plan: Plan) -> float:
    """Each objective's two-sided level: Bonferroni over the plan's objectives."""
    return 1.0 - (1.0 - plan.spec.confidence) / len(plan.objectives)


def _decide(obj: Objective, bound: float, low: float | None, high: float | None) -> str:
    strict = obj.op in ("<", ">")
    if obj.upper:
        if high is not None and (high < bound if strict else high <= bound):
            return MET
        if low is not None and (low >= bound if strict else low > bound):
            return FAILED
        return UNDECIDED
    if low is not None and (low > bound if strict else low >= bound):
        return MET
    if high is not None and (high <= bound if strict else high < bound):
        return FAILED
    return UNDECIDED


def judge(
    obj: Objective,
    candidate: Candidate,
    rows: Sequence[dict[str, Any]],
    out: Path,
    confidence: float,
) -> Evidence:
    """Judge ``obj`` on a candidate's successful runs ``rows`` (each with its metric values
    and its folder ``path`` under ``out``), with a two-sided interval at ``confidence``."""
    bound = obj.limit(candidate.hosts)
    pooled = pooled_metric(obj.metric)
    if pooled is not None and pooled[1] in ("km_median", "km_restricted_mean"):
        return _judge_pooled(obj, candidate, rows, out, confidence, bound, *pooled)
    est = nonneg_estimate([r["metrics"].get(obj.metric) for r in rows], confidence)
    note = "" if est.n else "no run gave a value"
    if est.n == 1:
        note = "one value: no interval"
    verdict = _decide(obj, bound, est.low, est.high) if est.n >= 2 else UNDECIDED
    return Evidence(
        obj.text, obj.metric, bound, est.mean, est.low, est.high, est.n, len(rows),
        f"mean over runs, {est.method or 'no'} interval", verdict, note,
    )  # fmt: skip


def _judge_pooled(
    obj: Objective,
    candidate: Candidate,
    rows: Sequence[dict[str, Any]],
    out: Path,
    confidence: float,
    bound: float,
    figure: str,
    leaf: str,
) -> Evidence:
    parts = run_durations(out, [{"path": r["path"]} for r in rows])
    data = Durations.pooled(p[figure] for p in parts if figure in p)
    km = KaplanMeier.fit(data.ended, data.censored)
    n = len(data.ended) + len(data.censored)
    method = f"pooled Kaplan-Meier ({len(data.censored)} of {n} censored)"
    if n == 0:
        return Evidence(
            obj.text, obj.metric, bound, None, None, None, 0, len(rows), method, UNDECIDED,
            "no observation in any run",
        )  # fmt: skip
    if leaf == "km_restricted_mean":
        horizon = candidate.scenario.metrics.rmst_horizon
        value, se = km.restricted_mean(horizon), km.restricted_mean_se(horizon)
        low = high = None
        if value is not None and se is not None:
            half = z_value(confidence) * se
            low, high = max(0.0, value - half), min(horizon, value + half)
        verdict = _decide(obj, bound, low, high)
        return Evidence(
            obj.text, obj.metric, bound, value, low, high, n, len(rows),
            method + ", Greenwood normal interval", verdict,
        )  # fmt: skip
    median = km.median()
    low, high = km.median_interval(confidence)
    note = ""
    longest = max([*data.ended, *data.censored])
    if low is None:
        # the lower band never falls to 0.5: the median lies beyond the longest time
        # watched, with the stated confidence (see the plan_spec module doc)
        note = f"median beyond the longest time watched ({longest:g} s)"
        low = longest
    elif high is None:
        note = "interval open above: the data do not bound the median from above"
    verdict = _decide(obj, bound, low, high)
    return Evidence(
        obj.text, obj.metric, bound, median, low, high, n, len(rows),
        method + ", Brookmeyer-Crowley interval", verdict, note,
    )  # fmt: skip


def _status(evidence: Sequence[Evidence], reps: int, most: int) -> tuple[str, str] | None:
    """A candidate's status and reason once decided (None: replicate more)."""
    failed = [e for e in evidence if e.verdict == FAILED]
    if failed:
        return FAILS, "; ".join(f"{e.objective}: failed" for e in failed)
    if all(e.verdict == MET for e in evidence):
        return MEETS, "every objective met"
    if reps >= most:
        open_ = [e.objective for e in evidence if e.verdict == UNDECIDED]
        return INCONCLUSIVE, f"undecided after {reps} replications: {'; '.join(open_)}"
    return None


def run_plan(
    plan: Plan | str | Path,
    out_dir: str | Path | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    force: bool = False,
) -> PlanResult:
    """Run (or resume) ``plan`` into ``out_dir`` (default ``results/plans/<name>``). The
    folder must be new, empty or this plan's own (``force`` lets another plan take it
    over), and is locked while the plan writes it."""
    pl = plan if isinstance(plan, Plan) else load_plan(plan)
    given = Path(out_dir) if out_dir is not None else Path("results") / "plans" / pl.spec.name
    out = given.resolve()
    _check_folder(pl, out, str(given), force)
    prepare_folder(out, str(given))
    with folder_lock(out, str(given), "plan"):
        _check_folder(pl, out, str(given), force)
        return _run_locked(pl, out, executor or local_executor(workers))


def _resolved_doc(pl: Plan) -> dict[str, Any]:
    return {
        "plan": pl.spec.model_dump(mode="json"),
        "set": dict(pl.overrides),
        "digest": plan_digest(pl),
        "candidates": [
            {"candidate_id": c.candidate_id, "settings": dict(c.levels), "cost": c.cost}
            for c in pl.candidates
        ],
    }


def _check_folder(pl: Plan, out: Path, shown: str, force: bool) -> None:
    """Refuse to write ``pl`` into a folder holding another plan or anything a plan or a
    sweep writes, unless ``force``."""
    if force or not out.is_dir():
        return
    from sim.scenario.yaml_safe import load_yaml_text

    if not (out / RESOLVED_FILE).is_file():
        clash = sorted(n for n in _PLAN_NAMES if (out / n).exists())
        if clash:
            raise RunError(
                f"refusing to write the plan into {shown}: it is not a plan folder (no "
                f"{RESOLVED_FILE}) and holds {', '.join(clash)}; name a new folder, or pass "
                "--force"
            )
        return
    try:
        recorded = load_yaml_text(folder_io.read_scenario_text(out, RESOLVED_FILE), shown)
    except (RunError, ScenarioError):
        recorded = None
    mine = json.loads(json.dumps(_resolved_doc(pl)))
    if not isinstance(recorded, dict) or recorded.get("digest") != mine["digest"]:
        raise RunError(
            f"refusing to write the plan into {shown}: it holds another plan (its "
            f"{RESOLVED_FILE} differs); run that plan again to resume it, name a new "
            "folder, or pass --force"
        )


def _run_locked(pl: Plan, out: Path, run: Executor) -> PlanResult:
    text = yaml.safe_dump(_resolved_doc(pl), sort_keys=False, width=100)
    folder_io.write_file_atomic(out / RESOLVED_FILE, text.encode("utf-8"))
    rule = pl.spec.replications
    metrics = tuple(dict.fromkeys(o.metric for o in pl.objectives))
    level = objective_confidence(pl)
    tried = [Tried(c) for c in pl.candidates]
    compute = {"runs": 0, "runs_now": 0, "runs_kept": 0, "runs_failed": 0, "cpu_s": 0.0}
    started = time.process_time()
    failed: list[Candidate] = []
    chosen: Tried | None = None
    for t in tried:
        c = t.candidate
        if chosen is not None:
            t.reason = (
                f"a cheaper candidate ({chosen.candidate.candidate_id}) meets every objective"
            )
            continue
        blockers = [f for f in failed if c.dominated_by(f)] if pl.spec.monotone else []
        blocker = blockers[0] if blockers else None
        if blocker is not None:
            t.status = DOMINATED
            t.reason = (
                f"every setting at or below those of {blocker.candidate_id}, which failed "
                "(monotone: true)"
            )
            continue
        rows: dict[int, dict[str, Any]] = {}
        target = rule.min
        while True:
            _replicate(pl, c, out, range(len(rows), target), metrics, run, rows, compute)
            ok = [rows[r] for r in sorted(rows) if rows[r]["status"] == "ok"]
            t.replications = target
            t.evidence = [judge(o, c, ok, out, level) for o in pl.objectives]
            decided = _status(t.evidence, target, rule.max)
            if decided is not None:
                t.status, t.reason = decided
                break
            target = min(target + rule.step, rule.max)
        if t.status == FAILS:
            failed.append(c)
        elif t.status == MEETS:
            chosen = t
    compute["planner_cpu_s"] = time.process_time() - started
    doc = _document(pl, tried, chosen, compute, level)
    _write_outputs(pl, out, doc, tried)
    return PlanResult(out, doc)


def _replicate(
    pl: Plan,
    c: Candidate,
    out: Path,
    reps: range,
    metrics: tuple[str, ...],
    run: Executor,
    rows: dict[int, dict[str, Any]],
    compute: dict[str, Any],
) -> None:
    """Run (or keep) replications ``reps`` of candidate ``c`` into ``rows``."""
    tasks: list[RunTask] = []
    cell = c.cell
    for rep in reps:
        seed = cell.seed(pl.spec.seed, rep, common=True)
        path = out / "runs" / c.candidate_id / f"rep-{rep}"
        resolved = c.scenario.for_run(seed, pl.spec.until or c.scenario.duration).resolved_yaml()
        done = finished_run(path, seed, resolved, metrics)
        compute["runs"] += 1
        if done is not None:
            compute["runs_kept"] += 1
            rows[rep] = {**done, "path": str(path.relative_to(out))}
            continue
        tasks.append(
            RunTask(
                c.candidate_id,
                rep,
                seed,
                c.scenario.model_dump(mode="json"),
                pl.spec.until,
                str(path),
                metrics,
            )
        )
    if tasks:
        log.info("plan %s: %s: %d runs", pl.spec.name, c.candidate_id, len(tasks))
    for task, result in run(tasks):
        compute["runs_now"] += 1
        compute["cpu_s"] += float(result.get("cpu_s") or 0.0)
        if result["status"] != "ok":
            compute["runs_failed"] += 1
            log.warning(
                "plan run %s/rep-%d failed: %s", task.cell_id, task.replication, result["error"]
            )
        rows[task.replication] = {**result, "path": str(Path(task.out_dir).relative_to(out))}


def _document(
    pl: Plan, tried: list[Tried], chosen: Tried | None, compute: dict[str, Any], level: float
) -> dict[str, Any]:
    return {
        "name": pl.spec.name,
        "description": pl.spec.description,
        "confidence": pl.spec.confidence,
        "objective_confidence": level,
        "monotone": pl.spec.monotone,
        "replications": pl.spec.replications.model_dump(mode="json"),
        "objectives": [o.text for o in pl.objectives],
        "chosen": None if chosen is None else chosen.as_dict(),
        "candidates": [t.as_dict() for t in tried],
        "compute": compute,
    }


def _write_outputs(pl: Plan, out: Path, doc: dict[str, Any], tried: list[Tried]) -> None:
    names = list(pl.spec.candidates)
    folder_io.write_file_atomic(
        out / PLAN_JSON, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode("utf-8")
    )
    folder_io.write_file_atomic(out / PLAN_TEXT, format_plan(doc).encode("utf-8"))
    cand_rows = [
        {
            "candidate_id": t.candidate.candidate_id,
            **dict(t.candidate.levels),
            "cost": t.candidate.cost,
            "status": t.status,
            "replications": t.replications,
            "reason": t.reason,
        }
        for t in tried
    ]
    results.write_table(
        out / CANDIDATES_FILE,
        cand_rows,
        ["candidate_id", *names, "cost", "status", "replications", "reason"],
    )
    ev_rows = [
        {"candidate_id": t.candidate.candidate_id, "status": t.status, **e.as_dict()}
        for t in tried
        for e in t.evidence
    ]
    results.write_table(
        out / EVIDENCE_FILE,
        ev_rows,
        ["candidate_id", "status", "objective", "metric", "bound", "estimate", "low", "high",
         "n", "runs", "method", "verdict", "note"],
    )  # fmt: skip


def _num(v: Any, metric: str = "") -> str:
    """A figure for the text: with its unit when ``metric`` is given; '-' when missing."""
    if v is None:
        return "-"
    if metric:
        from sim.analysis.text import format_value

        return format_value(metric, v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_plan(doc: dict[str, Any]) -> str:
    """The plan's answer in words: the chosen setting, its evidence, every candidate and
    the compute spent."""
    each = f"each at {doc['objective_confidence']:.4g}"
    lines = [
        f"plan {doc['name']}: confidence {doc['confidence']:g} over "
        f"{len(doc['objectives'])} objective(s) ({each})"
    ]
    chosen = doc["chosen"]
    if chosen is None:
        lines.append("no candidate meets every objective with that confidence")
    else:
        settings = ", ".join(f"{k}={v}" for k, v in chosen["settings"].items())
        lines.append(f"chosen: {settings}  (cost {_num(chosen['cost'])}, "
                     f"{chosen['replications']} replications)")  # fmt: skip
        for e in chosen["evidence"]:
            m = e["metric"]
            high = "open" if e["high"] is None else _num(e["high"], m)
            lines.append(
                f"  {e['objective']}: estimate {_num(e['estimate'], m)}, interval "
                f"{_num(e['low'], m)} .. {high}, n {e['n']} ({e['method']})"
                + (f"; {e['note']}" if e["note"] else "")
            )
    lines.append("candidates, cheapest first:")
    for c in doc["candidates"]:
        settings = ", ".join(f"{k}={v}" for k, v in c["settings"].items())
        reps = f", {c['replications']} reps" if c["replications"] else ""
        lines.append(f"  [{c['status']}] {settings} (cost {_num(c['cost'])}{reps}): {c['reason']}")
    comp = doc["compute"]
    lines.append(
        f"compute: {comp['runs']} runs ({comp['runs_now']} run now, {comp['runs_kept']} kept "
        f"from an earlier attempt, {comp['runs_failed']} failed), {comp['cpu_s']:.1f} CPU-s in "
        f"the runs run now, {comp['planner_cpu_s']:.1f} CPU-s in the planner"
    )
    return "\n".join(lines) + "\n"
