"""Figures of operations: attested capacity over simulated time, for one run or for the
cells of a sweep (each cell the mean over its replications, sample by sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.analysis import folder_io, results
from sim.errors import RunError
from sim.plots._common import (
    PathLike,
    _factor_label,
    _format_level,
    _load_sweep,
    _num,
    _rows,
    _source_kind,
    _styled,
    _with_unit,
    plain,
    time_unit,
)
from sim.plots.runs import _run_folder


def _capacity(folder: Path) -> dict[float, float]:
    """The run's attested hosts at each sample, the last value held to the run's end (the
    table records samples; without the end, the last step would have no width)."""
    rows = _rows(results.load_table(folder, "capacity"))
    steps = {_num(r["time"]): _num(r["attested_hosts"]) for r in rows}
    end = folder_io.read_json(folder / results.MANIFEST_FILE).get("sim_time_s")
    if steps and isinstance(end, int | float) and end > max(steps):
        steps[float(end)] = steps[max(steps)]
    return steps


@_styled
def capacity_over_time(source: PathLike, by: str | None = None) -> Figure:
    """Hosts their vCenter sees as attested over simulated time (the ``capacity`` table):
    one line for a run folder; for a sweep folder one line per level of factor ``by``
    (default: its first factor), the mean over that level's runs at each sample."""
    path = Path(source)
    lines: dict[str, dict[float, list[float]]] = {}
    if _source_kind(path) == "sweep":
        sweep = _load_sweep(path)
        factor = by or (sweep.factors[0] if sweep.factors else None)
        for row in sweep.index:
            if row["status"] != "ok":
                continue
            label = "all runs" if factor is None else plain(_format_level(factor, row[factor]))
            for t, v in _capacity(_run_folder(path, str(row["path"]))).items():
                lines.setdefault(label, {}).setdefault(t, []).append(v)
        runs = sum(1 for row in sweep.index if row["status"] == "ok")
        title = (
            f"Attested capacity over time, sweep {plain(sweep.name)}\n"
            f"mean over the runs of each level ({runs} runs in all)"
        )
        legend = "" if factor is None else _factor_label(factor)
    else:
        lines["run"] = {t: [v] for t, v in _capacity(path).items()}
        name = results.load(path).manifest.get("scenario", path.name)
        title, legend = f"Attested capacity over time, run of {plain(name)}", ""
    if not any(lines.values()):
        raise RunError(f"{path}: no capacity samples")
    end = max(t for series in lines.values() for t in series)
    unit, div = time_unit(end)
    fig = Figure(figsize=(8.0, 4.5))
    ax = fig.subplots()
    for i, (label, series) in enumerate(lines.items()):
        ts = sorted(series)
        ax.step(
            np.array(ts) / div,
            [float(np.mean(series[t])) for t in ts],
            where="post",
            color=f"C{i % 10}",
            linestyle=("-", "--", ":", "-.")[i % 4],  # lines that coincide stay visible
            label=label,
        )
    ax.set_xlabel(_with_unit("simulated time", unit))
    ax.set_ylabel("attested hosts seen by vCenter (hosts)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    if len(lines) > 1 or legend:
        fig.legend(title=legend or None, loc="outside right center")
    return fig
