"""Running the ``vtasim`` command in a child process, as a user would, with bounds on its
memory (so a run-away input fails the test instead of the machine) and a hang guard."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

MEMORY_LIMIT = 1 << 30
"""Address space allowed to a vtasim child (validating any input needs about 300 MiB)."""
HANG_GUARD = 120.0
"""Seconds after which a child counts as hung (a liveness bound, not a speed check)."""

TINY = """\
name: tiny
seed: 3
duration: 30m
vcenters:
  - name: vc-a
    clusters:
      - {name: cl-a, hosts: 2}
vms:
  count: 4
"""


@dataclass(frozen=True)
class Result:
    """Exit code and output of one vtasim child."""

    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def env() -> dict[str, str]:
    """The environment of a child: this source tree first, one BLAS thread."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), out.get("PYTHONPATH"))))
    out["OPENBLAS_NUM_THREADS"] = out["OMP_NUM_THREADS"] = "1"
    return out


def limits(memory: int = MEMORY_LIMIT, file_size: int | None = None) -> Callable[[], None]:
    """A preexec function bounding the child's address space (and file size: a write
    beyond it fails with EFBIG, the way a full disk fails with ENOSPC)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    return apply


def vtasim(
    args: Sequence[str],
    cwd: Path | None = None,
    memory: int = MEMORY_LIMIT,
    file_size: int | None = None,
) -> Result:
    """Run ``python -m sim.cli ARGS`` (what the ``vtasim`` script runs) to completion."""
    done = subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        preexec_fn=limits(memory, file_size),
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def start(args: Sequence[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``python -m sim.cli ARGS`` in the background (stdout piped, line by line)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limits(4 * MEMORY_LIMIT),
    )


def assert_clean_refusal(
    result: Result, source: str, path: str, *words: str, problems: int = 1
) -> str:
    """Exit code 2, no traceback, and ``problems`` stderr lines (warnings aside), each
    ``SOURCE: PATH...``; the first holds ``words`` and is returned."""
    assert result.code == 2, (result.code, result.err[-2000:])
    assert "Traceback" not in result.err, result.err[-2000:]
    lines = [x for x in result.err_lines if not x.startswith(f"{source}: warning: ")]
    assert len(lines) == problems, lines
    assert all(x.startswith(f"{source}: {path}") for x in lines), lines
    line = lines[0]
    for word in words:
        assert word in line, line
    return line
