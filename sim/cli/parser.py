"""The argument parser of the ``vtasim`` command and its argument types (each bad value is
a one-line error with exit code 2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from sim.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


_FORCE = "run even when the size estimate is over the documented limits"


def build_parser() -> argparse.ArgumentParser:
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
    r.add_argument(
        "--export-evidence",
        action="store_true",
        help="also write each host's quote, event logs, report and the issuers' JWKS "
        "under evidence/ in the run folder",
    )
    r.add_argument("--force", action="store_true", help=_FORCE)

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
    w.add_argument("--force", action="store_true", help=_FORCE)

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
    v.add_argument("--force", action="store_true", help="do not check the size estimate's limits")

    s = sub.add_parser("schema", help="print the scenario JSON Schema")
    s.add_argument("--out", type=Path, default=None)

    e = sub.add_parser("export-quote", help="write a host's TPM quote for tpm2_checkquote")
    e.add_argument("--seed", type=_seed, default=None, help="root seed (default: the scenario's)")
    e.add_argument("--host", required=True, help="a host name such as esx-07")
    e.add_argument(
        "--scenario", type=Path, default=None, help="scenario whose hosts --host must be among"
    )
    e.add_argument("--nonce", type=_nonce, required=True, help="hex, 1..64 bytes")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--pcrs", type=_pcrs, default=None, help="comma-separated PCR indices")

    c = sub.add_parser("calibrate", help="time a real component and print a distribution")
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
