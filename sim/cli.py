"""The ``vtasim`` command.

::

    vtasim run SCENARIO [--seed N] [--out DIR] [--until DURATION] [--quiet]
    vtasim sweep SWEEP [--workers N] [--dask ADDRESS | --dask-scheduler-file FILE]
                       [--out DIR] [--quiet]
    vtasim plot RUN_OR_SWEEP_DIR --kind KIND --out FILE [--x FACTOR]
    vtasim validate SCENARIO...
    vtasim schema [--out FILE]
    vtasim export-quote --seed N --host NAME --nonce HEX --out DIR [--pcrs 0,1,...]
    vtasim --version

Exit codes: 0 success; 1 a run ended by an exception (its folder records it); 2 bad input
(arguments, scenario files), reported as ``path.to.field: what was expected, found``
lines without a traceback.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from sim import __version__
from sim.errors import Problem, ScenarioError, VtasimError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vtasim", description="Simulate a trusted vSphere estate.")
    p.add_argument("--version", action="version", version=f"vtasim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run one scenario and write its run folder")
    r.add_argument("scenario", type=Path)
    r.add_argument("--seed", type=_seed, default=None, help="root seed (default: scenario's)")
    r.add_argument(
        "--out", type=Path, default=None, help="run folder (default results/<name>/seed-<N>)"
    )
    r.add_argument(
        "--until",
        type=_duration,
        default=None,
        help="simulated time to stop at, e.g. 6h (default: scenario duration)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    r.add_argument("--full", action="store_true", help="print every summary figure")

    w = sub.add_parser("sweep", help="run (or resume) a sweep of replications")
    w.add_argument("sweep", type=Path)
    w.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="local worker processes (default: cores)",
    )
    where = w.add_mutually_exclusive_group()
    where.add_argument(
        "--dask",
        metavar="ADDRESS",
        default=None,
        help="run on the Dask cluster at this scheduler address",
    )
    where.add_argument(
        "--dask-scheduler-file",
        metavar="FILE",
        default=None,
        help="run on the Dask cluster described by this scheduler file",
    )
    w.add_argument(
        "--out", type=Path, default=None, help="sweep folder (default results/sweeps/<name>)"
    )
    w.add_argument("--quiet", action="store_true", help="no progress bar")

    pl = sub.add_parser("plot", help="draw a figure from a run or sweep folder")
    pl.add_argument("source", type=Path)
    pl.add_argument(
        "--kind",
        required=True,
        help="latency-cdf, latency-percentiles, lapse, exposure, utilisation, "
        "topology-comparison or topology",
    )
    pl.add_argument("--out", type=Path, required=True, help="output file (.png or .svg)")
    pl.add_argument("--x", default=None, help="sweep factor for the x axis (dotted path)")

    v = sub.add_parser("validate", help="check scenario files")
    v.add_argument("scenarios", type=Path, nargs="+")

    s = sub.add_parser("schema", help="print the scenario JSON Schema")
    s.add_argument("--out", type=Path, default=None)

    e = sub.add_parser("export-quote", help="write a host's TPM quote for tpm2_checkquote")
    e.add_argument("--seed", type=_seed, required=True)
    e.add_argument("--host", required=True)
    e.add_argument("--nonce", type=_nonce, required=True, help="hex, 1..64 bytes")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--pcrs", type=_pcrs, default=None, help="comma-separated PCR indices")
    return p


def _seed(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected 0 <= seed < 2**63, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _duration(text: str) -> float:
    from sim.units import parse_positive_duration

    try:
        return parse_positive_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _nonce(text: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hex digits, got {text!r}") from None
    if not 1 <= len(value) <= 64:
        raise argparse.ArgumentTypeError(f"expected 1 to 64 bytes, got {len(value)}")
    return value


def _pcrs(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PCR indices like 0,7,8, got {text!r}") from None
    if not values or any(not 0 <= v <= 23 for v in values):
        raise argparse.ArgumentTypeError(f"expected PCR indices between 0 and 23, got {text!r}")
    return values


def _print_problems(source: str, problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(f"{source}: {problem}", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    from sim import results, runner
    from sim.metrics import headline
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
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
    output = runner.simulate(
        scenario, seed=args.seed, until=args.until, progress=not args.quiet and sys.stderr.isatty()
    )
    folder = runner.write(output, args.out)
    if args.json:
        print(json.dumps(output.summary, indent=2, sort_keys=True))
    else:
        print(
            f"vtasim {scenario.name}  seed {output.seed}  "
            f"simulated {output.manifest['sim_time_s']:.0f} s  "
            f"events {output.manifest['events']}  "
            f"wall {output.manifest['wall_time_s']:.1f} s"
        )
        shown = output.summary if args.full else headline(output.summary)
        print(results.format_summary(shown))
        print(f"run folder: {folder}")
    if not output.ok:
        exc = output.manifest["exception"]
        print(f"vtasim: run ended by {exc['type']}: {exc['message']}", file=sys.stderr)
        return 1
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from sim.experiment import dask_executor, local_executor, run_sweep
    from sim.sweep import load_sweep

    sweep = load_sweep(args.sweep)
    if args.dask or args.dask_scheduler_file:
        executor = dask_executor(args.dask, args.dask_scheduler_file)
    else:
        executor = local_executor(args.workers)
    result = run_sweep(
        sweep, args.out, executor=executor, progress=not args.quiet and sys.stderr.isatty()
    )
    ok = len(result.index) - len(result.failed)
    print(
        f"sweep {sweep.spec.name}: {len(sweep.cells)} cells, {ok} runs ok, "
        f"{len(result.failed)} failed"
    )
    for row in result.failed:
        print(f"  failed {row['run']}: {row['error']}", file=sys.stderr)
    print(f"sweep folder: {result.path}")
    return 0 if not result.failed else 1


def _cmd_plot(args: argparse.Namespace) -> int:
    from sim.plots import plot

    path = plot(args.source, args.kind, args.out, x=args.x)
    print(path)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from sim.scenario import load_scenario

    status = 0
    for path in args.scenarios:
        try:
            scenario = load_scenario(path)
        except ScenarioError as err:
            _print_problems(str(path), err.problems)
            status = 2
        else:
            hosts = len(scenario.host_names())
            print(
                f"{path}: ok ({scenario.name}: {len(scenario.vcenters)} workload vCenter(s), "
                f"{hosts} trusted hosts, {scenario.vms.count} VMs)"
            )
    return status


def _cmd_schema(args: argparse.Namespace) -> int:
    from sim.scenario import scenario_json_schema

    text = json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


def _cmd_export_quote(args: argparse.Namespace) -> int:
    from sim.quote_export import export_quote

    written = export_quote(args.seed, args.host, args.nonce, args.out, args.pcrs)
    for path in written:
        print(path)
    q = {
        n: shlex.quote(str(args.out / n))
        for n in ("ak.pub.pem", "quote.msg", "quote.sig", "pcrs.bin")
    }
    print(
        f"check with: tpm2_checkquote -u {q['ak.pub.pem']} -m {q['quote.msg']} "
        f"-s {q['quote.sig']} -g sha256 -q {args.nonce.hex()} -f {q['pcrs.bin']}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vtasim`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    commands = {
        "run": _cmd_run,
        "sweep": _cmd_sweep,
        "plot": _cmd_plot,
        "validate": _cmd_validate,
        "schema": _cmd_schema,
        "export-quote": _cmd_export_quote,
    }
    try:
        return commands[args.command](args)
    except ScenarioError as err:
        source = str(
            getattr(args, "scenario", "")
            or getattr(args, "sweep", "")
            or getattr(args, "source", "")
            or "input"
        )
        _print_problems(source, err.problems)
        return 2
    except (VtasimError, ValueError, OSError) as exc:
        print(f"vtasim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.command == "sweep":
            print(
                "vtasim: interrupted; finished runs are kept; run the sweep again to resume",
                file=sys.stderr,
            )
        else:
            print("vtasim: interrupted; no run folder was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
