"""The ``vtasim`` command.

::

    vtasim [-v|-q] COMMAND ...      (-v/--verbose, -q/--quiet also after the command)
    vtasim run SCENARIO [--set PATH=VALUE]... [--seed N] [--out DIR] [--until DURATION]
                        [--force] [--export-evidence] [--json | --full]
    vtasim sweep SWEEP [--set PATH=VALUE]... [--dry-run] [--workers N]
                       [--dask ADDRESS | --dask-scheduler-file FILE] [--out DIR] [--force]
    vtasim plan PLAN [--set PATH=VALUE]... [--dry-run] [--workers N]
                     [--dask ADDRESS | --dask-scheduler-file FILE] [--out DIR] [--force]
    vtasim plot RUN_OR_SWEEP_DIR --kind KIND --out FILE [--x FACTOR] [--scale SCALE]
    vtasim validate SCENARIO_OR_SWEEP... [--set PATH=VALUE]... [--force]
    vtasim schema [--sweep | --plan] [--out FILE]
    vtasim metrics [PREFIX]
    vtasim compare RUN_A RUN_B [--full] [--metric KEY] [--format FORMAT]
    vtasim compare SWEEP_DIR --metric KEY [--baseline CELL] [--best lowest|highest]
                             [--format text|markdown|csv|json]
    vtasim report DIR [--out FILE]
    vtasim completion bash
    vtasim export-quote [--seed N] [--scenario FILE] --host NAME --nonce HEX --out DIR
                        [--pcrs 0,1,...]
    vtasim calibrate {kms,tpm} [--count N] [--budget DURATION] [--out FILE]
    vtasim --version

Exit codes: 0 success; 1 a run ended by an exception (its folder records it); 2 bad input
(arguments, scenario files), reported as ``path.to.field: what was expected, found``
lines without a traceback.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Sequence

from sim.cli.commands import COMMANDS, print_problems
from sim.cli.parser import build_parser
from sim.errors import ScenarioError, VtasimError, printable


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vtasim`` console script; returns the exit code.

    Called as the command (``argv`` None: the process ends once it returns), every object
    left is frozen out of the garbage collector first: the interpreter's last collection
    would otherwise walk a whole estate's objects (half a second for ``large.yaml``) only
    to free them at exit. Files are written and closed before this point."""
    code = _main(argv)
    if argv is None:
        gc.freeze()
    return code


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return COMMANDS[args.command](args)
    except ScenarioError as err:
        source = str(
            getattr(args, "scenario", "")
            or getattr(args, "sweep", "")
            or getattr(args, "plan", "")
            or getattr(args, "source", "")
            or f"vtasim {args.command}"
        )
        print_problems(source, err.problems)
        return 2
    except (VtasimError, ValueError, OSError) as exc:
        print(f"vtasim: error: {printable(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(
            "vtasim: error: out of memory (see the estimate; a run beyond its limits needs "
            "--force and the memory it estimates)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        if args.command in ("sweep", "plan"):
            print(
                "vtasim: interrupted; finished runs are kept; "
                f"run the {args.command} again to resume",
                file=sys.stderr,
            )
        else:
            print("vtasim: interrupted; no run folder was written", file=sys.stderr)
        return 130


class _EscapingFormatter(logging.Formatter):
    """vtasim's log line with every character that could drive a terminal or forge a
    line escaped (names in log messages come from files)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


_HANDLER = logging.StreamHandler()
_HANDLER.setFormatter(_EscapingFormatter("vtasim: %(levelname)s: %(message)s"))


def configure_logging(verbose: int, quiet: bool) -> None:
    """Log level of vtasim's loggers (``sim.*``) on stderr: warnings by default, ``-v``
    info (what is done), ``-vv`` debug (details), ``--quiet`` errors only."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO)[min(verbose, 1)]
    if verbose >= 2 and not quiet:
        level = logging.DEBUG
    logger = logging.getLogger("sim")
    logger.setLevel(level)
    _HANDLER.stream = sys.stderr  # the current one (tests swap it)
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)


if __name__ == "__main__":
    sys.exit(main())
