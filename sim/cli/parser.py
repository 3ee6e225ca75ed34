"""The argument parser of the ``vtasim`` command and its argument types (each bad value is
a one-line error with exit code 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from sim.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


PLOT_KINDS: tuple[str, ...] = (
    "latency-cdf",
    "latency-percentiles",
    "lapse",
    "exposure",
    "utilisation",
    "topology-comparison",
    "topology",
    "capacity",
    "sensitivity",
)
"""The kinds of ``vtasim plot`` (the keys of :data:`sim.plots.KINDS`; a test keeps them in
step), listed here so that the parser and shell completion need not import matplotlib."""

PLOT_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
"""The file formats of ``vtasim plot`` (:data:`sim.plots.FORMATS`)."""

_FORCE = "run even when the size estimate is over the documented limits"
_OUTSIDE = (
    "follow extends/base/scenario files outside the naming file's folder and the current "
    "folder (off: a received file cannot make vtasim read elsewhere)"
)
_SET = "set a scenario field, e.g. attestation.interval=2m (value read as YAML; repeatable)"


def _logging_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v/--verbose`` and ``-q/--quiet``, accepted before or after the subcommand (on a
    subcommand they default to SUPPRESS so they never reset what the top level set)."""
    default: dict[str, object] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="log more: -v what is done, -vv details",
        **({"default": 0} if top else default),
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bars; log errors only",
        **default,  # type: ignore[arg-type]
    )


_Command = Callable[[str, str], argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    """The ``vtasim`` parser: global options and one subcommand per job."""
    p = _Parser(prog="vtasim", description="Simulate a trusted vSphere estate.")
    p.add_argument("--version", action="version", version=f"vtasim {__version__}")
    _logging_options(p, top=True)
    common = _Parser(add_help=False)
    _logging_options(common, top=False)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    for add in (_run, _sweep, _plan, _plot, _files_and_metrics, _export_quote, _calibrate):
        add(command)
    return p


def _run(command: _Command) -> None:
    """The arguments of ``vtasim run``."""
    r = command("run", "run one scenario and write its run folder")
    r.add_argument("scenario", type=Path)
    r.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help=_SET)
    r.add_argument("--allow-outside", action="store_true", help=_OUTSIDE)
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
    r.add_argument("--json", action="store_true", help="print the whole summary as JSON")
    r.add_argument("--full", action="store_true", help="print every summary figure")
    r.add_argument(
        "--export-evidence",
        action="store_true",
        help="also write each host's quote, event logs, report and the issuers' JWKS "
        "under evidence/ in the run folder",
    )
    r.add_argument("--force", action="store_true", help=_FORCE)


def _sweep(command: _Command) -> None:
    """The arguments of ``vtasim sweep``."""
    w = command("sweep", "run (or resume) a sweep of replications")
    w.add_argument("sweep", type=Path)
    w.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help=_SET)
    w.add_argument("--allow-outside", action="store_true", help=_OUTSIDE)
    w.add_argument(
        "--dry-run", action="store_true", help="list the cells and the run count; run nothing"
    )
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
    w.add_argument("--force", action="store_true", help=_FORCE)


def _plan(command: _Command) -> None:
    """The arguments of ``vtasim plan``."""
    w = command(
        "plan", "find the cheapest candidate setting that meets every objective (or resume)"
    )
    w.add_argument("plan", type=Path)
    w.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help=_SET)
    w.add_argument("--allow-outside", action="store_true", help=_OUTSIDE)
    w.add_argument(
        "--dry-run",
        action="store_true",
        help="list the candidates cheapest first with their cost; run nothing",
    )
    w.add_argument("--workers", type=_positive_int, default=None, help="local worker processes")
    where = w.add_mutually_exclusive_group()
    where.add_argument("--dask", metavar="ADDRESS", default=None, help="Dask scheduler address")
    where.add_argument(
        "--dask-scheduler-file", metavar="FILE", default=None, help="Dask scheduler file"
    )
    w.add_argument(
        "--out", type=Path, default=None, help="plan folder (default results/plans/<name>)"
    )
    w.add_argument(
        "--force", action="store_true", help="replace another plan's folder; skip size limits"
    )


def _plot(command: _Command) -> None:
    """The arguments of ``vtasim plot``."""
    pl = command("plot", "draw a figure from a run or sweep folder")
    pl.add_argument("source", type=Path)
    pl.add_argument(
        "--kind", required=True, choices=PLOT_KINDS, metavar="KIND", help=", ".join(PLOT_KINDS)
    )
    pl.add_argument("--out", type=Path, required=True, help="output file (.png, .svg or .pdf)")
    pl.add_argument(
        "--format",
        choices=PLOT_FORMATS,
        default=None,
        help="png, svg or pdf (default: by the --out suffix; a missing suffix is added)",
    )
    pl.add_argument("--x", default=None, help="sweep factor for the x axis (dotted path)")
    pl.add_argument(
        "--scale",
        choices=("linear", "log", "ccdf"),
        default="linear",
        help="latency-cdf: linear axis, log axis, or the CCDF on log-log axes for the tail",
    )


def _files_and_metrics(command: _Command) -> None:
    """The arguments of ``validate``, ``schema``, ``metrics``, ``compare``, ``report`` and
    ``completion``."""
    v = command("validate", "check scenario and sweep files (every cell of a sweep)")
    v.add_argument("scenarios", type=Path, nargs="+")
    v.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help=_SET)
    v.add_argument("--allow-outside", action="store_true", help=_OUTSIDE)
    v.add_argument("--force", action="store_true", help="do not check the size estimate's limits")

    s = command("schema", "print the scenario (or sweep) file's JSON Schema")
    s.add_argument("--out", type=Path, default=None)
    kinds = s.add_mutually_exclusive_group()
    kinds.add_argument("--sweep", action="store_true", help="the sweep file's schema")
    kinds.add_argument("--plan", action="store_true", help="the plan file's schema")

    m = command("metrics", "list every summary key with its unit and definition")
    m.add_argument("prefix", nargs="?", default="", help="only keys starting with this")

    cp = command(
        "compare",
        "decision figures of two runs (or sweep cells) side by side, or a sweep's cells "
        "ranked on one metric",
    )
    cp.add_argument("run_a", type=Path, metavar="RUN_A_OR_SWEEP")
    cp.add_argument("run_b", type=Path, metavar="RUN_B", nargs="?", default=None)
    cp.add_argument("--full", action="store_true", help="every figure, not the headline")
    cp.add_argument(
        "--format",
        choices=("text", "markdown", "latex", "csv", "json"),
        default="text",
        help="output format (default text; markdown and latex for papers)",
    )
    cp.add_argument(
        "--metric", default=None, metavar="KEY", help="rank a sweep's cells on this summary key"
    )
    cp.add_argument(
        "--baseline",
        default=None,
        metavar="CELL",
        help="ranking: compare every cell with this cell id or variant (default: the best)",
    )
    cp.add_argument(
        "--best",
        choices=("lowest", "highest"),
        default=None,
        help="ranking: which end is best (default: by the metric, lowest for times and failures)",
    )

    rp = command("report", "write one self-contained HTML page for a run or sweep folder")
    rp.add_argument("source", type=Path, metavar="DIR")
    rp.add_argument("--out", type=Path, default=None, help="output file (default DIR/report.html)")

    cm = command("completion", "print a bash completion script for vtasim")
    cm.add_argument("shell", choices=("bash",))


def _export_quote(command: _Command) -> None:
    """The arguments of ``vtasim export-quote``."""
    e = command("export-quote", "write a host's TPM quote for tpm2_checkquote")
    e.add_argument("--seed", type=_seed, default=None, help="root seed (default: the scenario's)")
    e.add_argument("--host", required=True, help="a host name such as esx-07")
    e.add_argument(
        "--scenario", type=Path, default=None, help="scenario whose hosts --host must be among"
    )
    e.add_argument("--nonce", type=_nonce, required=True, help="hex, 1..64 bytes")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--pcrs", type=_pcrs, default=None, help="comma-separated PCR indices")


def _calibrate(command: _Command) -> None:
    """The arguments of ``vtasim calibrate``."""
    c = command("calibrate", "time a real component and print a distribution")
    c.add_argument("component", choices=("kms", "tpm"), help="kms: PyKMIP; tpm: swtpm/tpmrm0")
    c.add_argument(
        "--count", type=_positive_int, default=100, help="samples per series (default 100)"
    )
    c.add_argument(
        "--budget",
        type=_duration,
        default=120.0,
        help="wall-time budget per series, e.g. 2m (default 120s)",
    )
    c.add_argument(
        "--out",
        type=Path,
        default=None,
        help="measurement file (default results/calibration/<component>.json)",
    )


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
    from sim.scenario.units import MAX_DURATION, parse_duration, parse_positive_duration

    try:
        value = parse_positive_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value > parse_duration(MAX_DURATION):
        raise argparse.ArgumentTypeError(f"expected at most {MAX_DURATION}, got {text!r}")
    return value


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
