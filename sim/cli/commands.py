"""The ``vtasim`` subcommands: each takes the parsed arguments and returns an exit code;
bad input raises :class:`~sim.errors.ScenarioError` (reported by :func:`sim.cli.main`)."""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.cli import analysis
from sim.cli.checks import (
    MAX_SWEEP_RUNS,
    check_replace,
    overrides_tag,
    preflight_run,
    preflight_sweep,
    print_problems,
    written_folder,
)
from sim.errors import Problem, ScenarioError, printable, printable_lines

if TYPE_CHECKING:
    from sim.runner import RunOutput

__all__ = ["COMMANDS", "print_problems"]

log = logging.getLogger("sim.cli")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` assignments (dotted path -> YAML value)."""
    from sim.scenario.compose import parse_assignments

    return parse_assignments(getattr(args, "set", None) or [])


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars on a terminal unless ``--quiet``."""
    return not args.quiet and sys.stderr.isatty()


def cmd_run(args: argparse.Namespace) -> int:
    from sim import runner
    from sim.analysis.outdir import prepare_target
    from sim.scenario import load_scenario

    overrides = _overrides(args)
    scenario = load_scenario(args.scenario, overrides, allow_outside=args.allow_outside)
    log.info("loaded %s (%s)", args.scenario, scenario.name)  # the log line is escaped
    if args.until is not None and args.until <= scenario.warmup:
        raise ScenarioError(
            [
                Problem(
                    "--until",
                    f"expected a time after the warm-up ({scenario.warmup:g} s), "
                    f"found {args.until:g} s",
                )
            ]
        )
    info = sys.stderr if args.json else sys.stdout
    est = preflight_run(str(args.scenario), scenario, args.until, args.force, info)
    seed = scenario.seed if args.seed is None else args.seed
    out = args.out
    if out is None:
        out = runner.default_out_dir(scenario, seed)
        if overrides:  # never the plain run's folder
            out = out.with_name(f"{out.name}-{overrides_tag(overrides)}")
    # the folder, and beside it while it is written the run's records spilled in column
    # chunks (about as big): room for both
    target = prepare_target(out, 0 if args.force else 2 * est.output_bytes)
    end = scenario.duration if args.until is None else args.until
    check_replace(target, scenario.for_run(seed, end).resolved_yaml(), args.force, str(out))
    output: runner.RunOutput | None = None
    try:
        output = runner.simulate(
            scenario,
            seed=args.seed,
            until=args.until,
            progress=_progress(args),
            spill_dir=target.parent,
        )
        extra = None
        if args.export_evidence:
            from sim.interop.evidence import evidence_files

            extra = evidence_files(output)
        runner.write(output, out, extra_files=extra)
        return _report_run(args, output, target)
    except KeyboardInterrupt:
        if written_folder(target, None if output is None else output.manifest):
            print(f"vtasim: interrupted; the run folder {out} was written", file=sys.stderr)
        else:
            print("vtasim: interrupted; no run folder was written", file=sys.stderr)
        return 130


def _report_run(args: argparse.Namespace, output: RunOutput, folder: Path) -> int:
    """Print the finished run's figures; 1 when an exception ended it."""
    from sim.analysis.summary import headline
    from sim.analysis.text import format_headline

    if args.json:
        print(json.dumps(output.summary, indent=2, sort_keys=True))
    else:
        print(
            f"vtasim {output.scenario.name}  seed {output.seed}  "
            f"simulated {output.manifest['sim_time_s']:.0f} s  "
            f"events {output.manifest['events']}  "
            f"wall {output.manifest['wall_time_s']:.1f} s"
        )
        shown = output.summary if args.full else headline(output.summary)
        print(printable_lines(format_headline(output.summary, shown)))
        print(f"run folder: {printable(folder)}")
        if getattr(args, "export_evidence", False):
            shown_dir = printable(folder / "evidence")
            print(f"evidence: {shown_dir} ({len(output.estate.hosts)} hosts)")
    if not output.ok:
        exc = output.manifest["exception"]
        print(
            f"vtasim: run ended by {printable(exc['type'])}: {printable(exc['message'])}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from sim.experiments.executors import dask_executor, local_executor
    from sim.experiments.spec import load_sweep
    from sim.experiments.sweep import run_sweep

    sweep = load_sweep(
        args.sweep,
        _overrides(args),
        allow_outside=args.allow_outside,
        max_runs=None if args.force or args.dry_run else MAX_SWEEP_RUNS,
    )
    if args.dry_run:
        return _dry_run(sweep)
    preflight_sweep(sweep, args.force)
    if args.dask or args.dask_scheduler_file:
        executor = dask_executor(args.dask, args.dask_scheduler_file)
    else:
        executor = local_executor(args.workers)
    result = run_sweep(
        sweep, args.out, executor=executor, progress=_progress(args), force=args.force
    )
    _sweep_overview(sweep, result)
    for row in result.failed:
        print(f"  failed {row['run']}: {printable(row['error'])}", file=sys.stderr)
    print(f"sweep folder: {printable(result.path)}")
    return 0 if not result.failed else 1


def cmd_plan(args: argparse.Namespace) -> int:
    from sim.experiments.executors import dask_executor, local_executor
    from sim.experiments.plan import format_plan, run_plan
    from sim.experiments.plan_spec import load_plan
    from sim.plots.report import write_report

    plan = load_plan(args.plan, _overrides(args), allow_outside=args.allow_outside)
    if args.dry_run:
        for c in plan.candidates:
            levels = ", ".join(f"{k}={v}" for k, v in c.levels)
            print(printable(f"{c.candidate_id}: {levels}  (cost {c.cost:g})"))
        rule = plan.spec.replications
        print(
            f"plan {plan.spec.name}: {len(plan.candidates)} candidates, "
            f"{rule.min} to {rule.max} replications each, at most "
            f"{len(plan.candidates) * rule.max:,} runs (nothing run)"
        )
        return 0
    _preflight_plan(plan, args.force)
    if args.dask or args.dask_scheduler_file:
        executor = dask_executor(args.dask, args.dask_scheduler_file)
    else:
        executor = local_executor(args.workers)
    result = run_plan(plan, args.out, executor=executor, force=args.force)
    report = write_report(result.path)
    print(printable_lines(format_plan(result.doc).rstrip("\n")))
    print(f"plan folder: {printable(result.path)}  (report: {printable(report.name)})")
    return 0 if result.chosen is not None else 1


def _preflight_plan(plan: Any, force: bool) -> None:
    """Estimate the largest candidate's run and refuse (ScenarioError) a candidate whose run
    is over the documented limits, unless ``force``."""
    from sim.scenario.estimate import estimate

    ests = [estimate(c.scenario, plan.spec.until) for c in plan.candidates]
    biggest = max(ests, key=lambda e: e.events)
    rule = plan.spec.replications
    print(
        f"estimate: {len(plan.candidates)} candidates, {rule.min} to {rule.max} replications "
        f"each; largest run: {biggest.describe()}",
        flush=True,
    )
    if force:
        return
    problems = [
        Problem(f"candidate {c.candidate_id}: {p.path}", p.message)
        for c, est in zip(plan.candidates, ests, strict=True)
        for p in est.problems()
    ]
    if problems:
        raise ScenarioError(problems)


def _sweep_overview(sweep: Any, result: Any) -> None:
    """What the sweep did (runs kept from an earlier sweep, run now, failed) and each
    cell's mean and interval of a few decision figures."""
    from sim.analysis.tabular import render
    from sim.experiments.overview import overview_table

    ok = len(result.index) - len(result.failed)
    ran = len(result.index) - result.kept
    print(
        f"sweep {sweep.spec.name}: {len(sweep.cells)} cells, {ok} runs ok "
        f"({result.kept} kept from an earlier sweep, {ran} run now), "
        f"{len(result.failed)} failed"
    )
    metrics = list(dict.fromkeys(str(r["metric"]) for r in result.cells))
    if result.cells and ok:
        print(render(overview_table(result.cells, metrics), "text"), end="")


def _dry_run(sweep: Any) -> int:
    """``vtasim sweep --dry-run``: the cells (factor levels) and the number of runs."""
    from sim.experiments.spec import Sequential
    from sim.scenario.estimate import estimate

    rule = sweep.spec.replications
    reps = f"{rule.min} to {rule.max}" if isinstance(rule, Sequential) else str(rule)
    most = rule.max if isinstance(rule, Sequential) else rule
    for cell in sweep.cells:
        levels = ", ".join(f"{k}={v}" for k, v in cell.levels) or "(no factors)"
        variant = f"[{cell.variant}] " if cell.variant else ""
        est = estimate(cell.scenario, sweep.spec.until)
        line = f"{cell.cell_id}: {variant}{levels}  ({est.events:,} events per run)"
        print(printable(line))
    runs = len(sweep.cells) * most
    print(
        f"sweep {sweep.spec.name}: {len(sweep.cells)} cells x {reps} replications = "
        f"{'at most ' if isinstance(rule, Sequential) else ''}{runs:,} runs (nothing run)"
    )
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from sim.plots import plot

    path = plot(args.source, args.kind, args.out, x=args.x, scale=args.scale, fmt=args.format)
    print(printable(path))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from sim.experiments.plan_spec import is_plan_data
    from sim.experiments.spec import is_sweep_data
    from sim.scenario import load_scenario
    from sim.scenario.estimate import estimate, run_warnings
    from sim.scenario.yaml_safe import load_yaml_file

    overrides = _overrides(args)
    status = 0
    for path in args.scenarios:
        try:
            data = load_yaml_file(path)
            if is_sweep_data(data):
                status = max(status, _validate_sweep(path, overrides, args))
                continue
            if is_plan_data(data):
                from sim.experiments.plan_spec import load_plan

                plan = load_plan(path, overrides, allow_outside=args.allow_outside)
                print(
                    f"{printable(path)}: ok (plan {plan.spec.name}: {len(plan.candidates)} "
                    "candidates, each valid)"
                )
                continue
            scenario = load_scenario(path, overrides, allow_outside=args.allow_outside)
        except ScenarioError as err:
            print_problems(str(path), err.problems)
            status = 2
            continue
        hosts = len(scenario.host_names())
        shown = printable(path)
        print(
            f"{shown}: ok ({scenario.name}: {len(scenario.vcenters)} workload vCenter(s), "
            f"{hosts} trusted hosts, {scenario.vms.count} VMs)"
        )
        est = estimate(scenario)
        print(f"  estimate: {est.describe()}")
        print_problems(str(path), run_warnings(scenario), "warning: ")
        if not args.force and est.problems():
            print_problems(str(path), est.problems())
            status = 2
    return status


def _validate_sweep(path: Path, overrides: dict[str, Any], args: argparse.Namespace) -> int:
    """Validate a sweep file: every cell's scenario (ScenarioError otherwise) and, unless
    ``--force``, the size limits of the whole sweep; 0 or 2."""
    from sim.experiments.spec import load_sweep

    force = args.force
    sweep = load_sweep(
        path,
        overrides,
        allow_outside=args.allow_outside,
        max_runs=None if force else MAX_SWEEP_RUNS,
    )
    print(f"{printable(path)}: ok (sweep {sweep.spec.name}: {len(sweep.cells)} cells, each valid)")
    try:
        preflight_sweep(sweep, force, prefix="  ")
    except ScenarioError as err:
        print_problems(str(path), err.problems)
        return 2
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.sweep:
        from sim.experiments.spec import sweep_json_schema

        schema = sweep_json_schema()
    elif args.plan:
        from sim.experiments.plan_spec import plan_json_schema

        schema = plan_json_schema()
    else:
        from sim.scenario import scenario_json_schema

        schema = scenario_json_schema()
    text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        from sim.analysis.folder_io import write_file_atomic

        write_file_atomic(args.out, text.encode("utf-8"))
    return 0


def cmd_export_quote(args: argparse.Namespace) -> int:
    from sim.interop.quote_export import check_host, export_quote

    seed = args.seed
    hosts: list[str] | None = None
    if args.scenario is not None:
        from sim.scenario import load_scenario

        scenario = load_scenario(args.scenario)
        hosts = [h for h, _, _ in scenario.host_names()]
        seed = scenario.seed if seed is None else seed
    if seed is None:
        raise ScenarioError([Problem("--seed", "required unless --scenario gives one")])
    check_host(args.host, hosts)
    written = export_quote(seed, args.host, args.nonce, args.out, args.pcrs)
    for path in written:
        print(printable(path))
    q = {
        n: shlex.quote(str(args.out / n))
        for n in ("ak.pub.pem", "quote.msg", "quote.sig", "pcrs.bin")
    }
    print(
        f"check with: tpm2_checkquote -u {q['ak.pub.pem']} -m {q['quote.msg']} "
        f"-s {q['quote.sig']} -g sha256 -q {args.nonce.hex()} -f {q['pcrs.bin']}"
    )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.interop.calibration import check_out, write_measurements

    out = args.out or Path("results") / "calibration" / f"{args.component}.json"
    check_out(out)  # before measuring: a bad --out costs no measurement time
    if args.component == "kms":
        from sim.interop.kms_calibration import calibrate_kms

        result: Any = calibrate_kms(args.count, args.budget)
        print("PyKMIP KmipServer on 127.0.0.1 (TLS 1.2, client certificate), seconds as ms:")
    else:
        from sim.interop.tpm_calibration import calibrate_tpm

        result = calibrate_tpm(args.count, args.budget)
        print("TPM2_Quote over PCRs 0,7,8,9,10,11, seconds as ms:")
    print(result.table())
    path = write_measurements(out, result.report())
    print("ready to paste into a scenario:")
    print(result.snippet(), end="")
    if args.component == "tpm" and result.machine.get("hardware_tpm") == "none":
        print(
            "note: no /dev/tpmrm0 here; a software TPM is orders of magnitude faster than a "
            "hardware TPM (about 200 ms median)"
        )
    print(f"measurements: {printable(path)}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "plan": cmd_plan,
    "plot": cmd_plot,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "metrics": analysis.cmd_metrics,
    "compare": analysis.cmd_compare,
    "report": analysis.cmd_report,
    "completion": analysis.cmd_completion,
    "export-quote": cmd_export_quote,
    "calibrate": cmd_calibrate,
}
"""Subcommand name -> its function."""
