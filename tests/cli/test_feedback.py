"""Quick feedback: a wrong plot kind is refused before anything heavy is loaded, `validate`
leaves SciPy alone, and the progress bar names the stage while the estate is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim import runner
from sim.cli import main
from sim.scenario import parse_scenario
from tests.cli.clitools import TINY, env
from tests.conftest import ROOT


def modules_after(argv: list[str]) -> tuple[int, set[str]]:
    """Exit code of ``vtasim argv`` in a fresh interpreter and the top-level modules it
    imported."""
    code = (
        "import sys\nfrom sim.cli import main\n"
        "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code\n"
        "print(rc)\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env(), cwd=ROOT
    )
    rc, mods = out.stdout.strip().splitlines()[-2:]
    return int(rc), set(mods.split())


def test_a_wrong_plot_kind_fails_before_matplotlib_is_loaded(tmp_path: Path) -> None:
    """`plot --kind nope` exits 2 naming the choices, without importing matplotlib or
    reading the source."""
    rc, mods = modules_after(["plot", str(tmp_path), "--kind", "nope", "--out", "f.png"])
    assert rc == 2
    assert not mods & {"matplotlib", "pandas", "scipy", "simpy"}
    with pytest.raises(SystemExit) as exit_:
        main(["plot", str(tmp_path), "--kind", "histogram", "--out", "f.png"])
    assert exit_.value.code == 2


@pytest.mark.slow
def test_validate_does_not_import_scipy(tmp_path: Path) -> None:
    """`vtasim validate` of a scenario and of a sweep file never loads SciPy."""
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY, encoding="utf-8")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "name: s\nbase: tiny.yaml\nfactors: {attestation.interval: [1m, 2m]}\n", encoding="utf-8"
    )
    for path in (scenario, sweep):
        rc, mods = modules_after(["validate", str(path)])
        assert rc == 0 and "scipy" not in mods


class RecordingBar:
    """A stand-in progress bar that records its descriptions and progress, in order."""

    def __init__(self) -> None:
        self.n = 0
        self.log: list[tuple[str, Any]] = []

    def set_description(self, text: str) -> None:
        self.log.append(("desc", text))

    def update(self, step: int) -> None:
        self.n += step
        self.log.append(("update", self.n))

    def close(self) -> None:
        self.log.append(("close", None))


def test_progress_bar_names_the_build_stage_before_it_moves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bar says the estate is being built before any simulated time passes, then the
    scenario name while it advances (100 steps to the end), then that it summarises."""
    bar = RecordingBar()
    monkeypatch.setattr(runner, "_progress_bar", lambda scenario, end: bar)
    runner.simulate(parse_scenario(yaml.safe_load(TINY)), progress=True)
    descs = [v for k, v in bar.log if k == "desc"]
    assert descs == ["tiny: building the estate", "tiny", "tiny: summarising"]
    first_update = next(i for i, (k, _) in enumerate(bar.log) if k == "update")
    assert bar.log.index(("desc", "tiny: building the estate")) < first_update
    assert bar.log.index(("desc", "tiny")) < first_update
    assert bar.n == 30 * 60 and bar.log[-1] == ("close", None)
