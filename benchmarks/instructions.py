"""Instructions per attestation in steady state, counted by valgrind: the same figure on
any day, for comparing two versions of the simulator on a noisy machine.

On a shared virtual machine one run's CPU time can be 10 to 20 % off the next, and two runs
side by side slow each other (the two virtual cores may share one physical core), so a
change worth a few per cent cannot be seen in CPU time. The instructions a run executes do
not depend on the machine's load: this script runs ``xlarge.yaml`` scaled to ``--hosts``
(as ``benchmarks/scale.py`` scales it) under valgrind's callgrind, with counting switched on
only after ``--warm`` simulated seconds (the build and the start-up transient are left out)
and off again after ``--window`` more, and prints the instructions of the window per
attestation and per SimPy event, split by where they ran: the ``cryptography`` library
(ECDSA, AES-GCM, hashes: real work the model must do), the Python interpreter (the model
itself), the C library (allocation, copying) and the rest.

Instructions are not time: the cryptography's vector code runs several instructions per
cycle, the interpreter's pointer chasing about one or fewer, and a cache miss costs no
instruction at all. So the script measures how much work a change removed, exactly, not how
much faster a run gets; the interpreter's share of instructions is the part a change to the
model can shrink.

``--tree DIR`` (repeatable) measures another checkout of vtasim (its ``sim`` package is put
first on the path), so that two versions are compared on the same estate and seed; the
first tree is the baseline of the ratios. Requires ``valgrind`` (Debian package) on the
path. Run ``python benchmarks/instructions.py --help``. Nothing here is asserted by a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

PARTS = (
    ("cryptography", re.compile(r"cryptography/hazmat/bindings/_rust")),
    ("interpreter", re.compile(r"libpython|/python3\.\d+$|/bin/python")),
    ("C library", re.compile(r"libc\.so|libm\.so")),
)
"""Where an instruction ran, by the object file callgrind names (the rest: other)."""


def _child(hosts: int, warm: float, window: float) -> None:
    """Inside valgrind: build and run the estate; print a line when the warm-up is over
    and the window's counts when it ends (the parent switches counting on and off)."""
    sys.path.append(str(REPO))  # after the tree's own: its ``sim`` is the one measured
    from benchmarks.scale import XLARGE, scaled_overrides
    from sim.build import build
    from sim.collector import RunCollector
    from sim.scenario import load_scenario

    sc = load_scenario(XLARGE, scaled_overrides(hosts))
    sc = sc.for_run(sc.seed, warm + window)
    with RunCollector() as collector:
        estate = build(sc, sc.seed)
        estate.start()
        collector.estate_built()
        estate.env.run(until=warm)
        attestations = len(estate.recorder.tables["attestations"])
        events = int(estate.env.events_processed)
        print("WARM", flush=True)
        sys.stdin.readline()  # counting is on
        estate.env.run(until=warm + window)
        done = {
            "attestations": len(estate.recorder.tables["attestations"]) - attestations,
            "events": int(estate.env.events_processed) - events,
        }
        print("DONE " + json.dumps(done), flush=True)
        sys.stdin.readline()  # counting is off
    os._exit(0)  # no teardown: nothing after the window is of interest


def _by_part(annotated: str) -> dict[str, int]:
    """Instructions by part, from ``callgrind_annotate``'s per-function listing."""
    out = {name: 0 for name, _ in PARTS} | {"other": 0}
    line = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+.*\[(.+)\]\s*$")
    for text in annotated.splitlines():
        m = line.match(text)
        if m is None:
            continue
        n, obj = int(m.group(1).replace(",", "")), m.group(2)
        part = next((name for name, pattern in PARTS if pattern.search(obj)), "other")
        out[part] += n
    return out


def measure(tree: Path, hosts: int, warm: float, window: float) -> dict[str, Any]:
    """Run ``tree``'s simulator under callgrind and count the window's instructions."""
    with tempfile.TemporaryDirectory(prefix="vtasim-instructions-") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        env = dict(os.environ, PYTHONPATH=str(tree))
        argv = [
            "valgrind", "-q", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out_file}", sys.executable, str(Path(__file__).resolve()),
            "--child", str(hosts), str(warm), str(window),
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert proc.stdin is not None and proc.stdout is not None
        counts: dict[str, Any] = {}
        for text in proc.stdout:
            if text.startswith("WARM"):
                subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True,
                               capture_output=True)  # fmt: skip
                proc.stdin.write("\n")
                proc.stdin.flush()
            elif text.startswith("DONE "):
                counts = json.loads(text[5:])
                subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True,
                               capture_output=True)  # fmt: skip
                proc.stdin.write("\n")
                proc.stdin.flush()
        if proc.wait() != 0 or not counts:
            raise RuntimeError(f"the run under valgrind failed ({proc.returncode})")
        annotated = subprocess.run(
            ["callgrind_annotate", "--threshold=100", str(out_file)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    parts = _by_part(annotated)
    return {"tree": str(tree), **counts, "instructions": sum(parts.values()), "parts": parts}


def render(rows: Sequence[dict[str, Any]], hosts: int, warm: float, window: float) -> str:
    """The table: per tree, instructions per attestation in all and by part, per event,
    and the ratio to the first tree."""
    head = (
        f"xlarge.yaml scaled to {hosts} hosts, simulated seconds {warm:g} to {warm + window:g}"
        " (instructions, millions per attestation)"
    )
    names = [name for name, _ in PARTS] + ["other"]
    lines = [head, "tree | attestations | events | all | " + " | ".join(names) + " | k/event"]
    base = rows[0]["instructions"] / rows[0]["attestations"]
    for r in rows:
        per = r["instructions"] / r["attestations"]
        cells = [f"{r['parts'][n] / r['attestations'] / 1e6:.3f}" for n in names]
        lines.append(
            f"{r['tree']} | {r['attestations']} | {r['events']} | {per / 1e6:.3f} "
            f"({per / base:.3f}) | "
            + " | ".join(cells)
            + f" | {r['instructions'] / r['events'] / 1e3:.0f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=2000, help="estate size (default 2000)")
    p.add_argument("--warm", type=float, default=600.0, help="simulated seconds left out")
    p.add_argument("--window", type=float, default=600.0, help="simulated seconds counted")
    p.add_argument("--tree", type=Path, action="append", default=None, metavar="DIR",
                   help="a vtasim checkout to measure (repeatable; default this one)")  # fmt: skip
    p.add_argument("--json", type=Path, default=None, metavar="OUT")
    p.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        _child(int(args.child[0]), float(args.child[1]), float(args.child[2]))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        p.error("valgrind is not installed (Debian: apt-get install valgrind)")
    trees = [t.resolve() for t in (args.tree or [REPO])]
    rows = [measure(t, args.hosts, args.warm, args.window) for t in trees]
    print(render(rows, args.hosts, args.warm, args.window))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
