"""vtasim: a discrete-event simulator of a trusted vSphere estate (vSphere Trust Authority).

Layers (each imports only the layers below it; ``tests/test_architecture.py`` checks the
contract declared in ``pyproject.toml``)::

    cli          the `vtasim` command                      sim/cli/
    plots        figures from run and sweep folders        sim/plots/
    experiments  sweeps, replications, CIs, executors      sim/experiments/
    interop      outside tools: evidence, swtpm, calibration sim/interop/
    runner       simulate one scenario, write its folder   sim/runner.py
    build        scenario -> wired estate                  sim/build.py
    processes    SimPy components                          sim/processes/
    analysis     tables, recorder, summary, run folders    sim/analysis/
    scenario     YAML -> frozen Scenario                   sim/scenario/
    domain       pure trust primitives                     sim/domain/
    rng, errors, version                                   sim/rng.py, sim/errors.py

Concept map (concept -> module):

===========================================  ==========================================
scenario format, every default               sim.scenario.model
units (``5m``, ``8GiB``), distributions       sim.scenario.units, sim.scenario.distributions
topology rules (3 vTA hosts, SSO, ELM)        sim.scenario.rules
loading YAML, overrides, JSON Schema          sim.scenario.loading
extends between files, --set assignments      sim.scenario.compose
bounded, strict YAML reading                  sim.scenario.yaml_safe
field limits, strict numbers                  sim.scenario.limits, sim.scenario.bounds
size estimate of a run, its limits            sim.scenario.estimate
regime presets (vTA, Keylime, HGS)            sim.scenario.regimes
named random streams off one root seed        sim.rng
counts of the cryptographic operations done   sim.domain.opcount
TPM 2.0, PCRs, quotes in wire format          sim.domain.tpm, sim.domain.tpm_wire
EK templates, public areas, Qualified Names   sim.domain.tpm_keys
MakeCredential / ActivateCredential           sim.domain.credential
keys, CAs, EK certificates                    sim.domain.pki, sim.domain.identities
ESXi images, VIBs, measured boot              sim.domain.image
what a host runs, changes to it as values     sim.domain.installed
drift kinds, one module each (registry)       sim.domain.drift_kinds
refusal and failure reasons (registry)        sim.domain.reasons
event data encodings (PCR map)                sim.domain.boot_events
UEFI variables, tagged events (TCG PFP)       sim.domain.uefi
TCG crypto-agile binary event log             sim.domain.tcg_log
attestation verdicts with dotted reasons      sim.domain.verifier, sim.domain.identity_checks
attestation reports (ES256 JWT)               sim.domain.report
KMIP key store                                sim.domain.kmip
KMIP 1.1 wire encoding (TTLV)                 sim.domain.ttlv, sim.interop.kmip_client
encrypted vMotion stream (AES-256-GCM)        sim.domain.stream_cipher
shared context of components                  sim.processes.context
network graph, delays, bandwidth              sim.processes.network
queueing station (c workers, FIFO)            sim.processes.services
trust authority: attestation, key release     sim.processes.trust_authority
KMS cluster                                   sim.processes.kms
trusted host: its parts, reboots, key fetch   sim.processes.host
a host's boot chain (image, server, TPM)      sim.processes.host_boot
a host's attestation client (the agent)       sim.processes.host_agent
a host's key cache                            sim.processes.host_keys
a host's capacity state (up, maintenance)    sim.processes.host_capacity
ports between components, checked wiring     sim.processes.wiring
verifier polling, failure notifier            sim.processes.verifier_poll
workload vCenter: status view, placement      sim.processes.vcenter
vMotion: pre-copy, encrypted stream           sim.processes.vmotion
drift, remediation, reboots                   sim.processes.drift
node outages                                  sim.processes.faults
power-ons and migrations                      sim.processes.workload
level and capacity samples, warm-up           sim.processes.sampling
wiring the estate                             sim.build
record types, one per table (columns, units) sim.analysis.records
table declarations derived from them          sim.analysis.tables
writing records once, open work, levels       sim.analysis.recorder
work in progress (drafts) until its record    sim.processes.drafts
exact step-function statistics                sim.analysis.steps
attested and usable capacity, exactly         sim.analysis.capacity
records in column chunks spilled to disk      sim.analysis.recorded
drift derivations (lapse, refusal, exposure)  sim.analysis.drift
metric definitions and the summary            sim.analysis.summary
confidence intervals                          sim.analysis.stats
run folders (atomic write, load)              sim.analysis.results
run-folder values: JSON, CSV, Parquet cells   sim.analysis.cells
DataFrames in declared types, Parquet         sim.analysis.columnar
metrics catalogue: keys, units, meanings      sim.analysis.catalogue
two results side by side (vtasim compare)     sim.analysis.compare
output location checked before a run          sim.analysis.outdir
summary as text                               sim.analysis.text
one run                                       sim.runner
sweep files, runs, executors                  sim.experiments.spec, sim.experiments.sweep
regimes compared from a sweep                 sim.experiments.comparison, sim.plots.regimes
notebook API: sim.run, sim.run_sweep          sim.experiments.api
HTML report of a run or sweep                 sim.plots.report
quote export for tpm2-tools                   sim.interop.quote_export
evidence out of a run (--export-evidence)     sim.interop.evidence
swtpm / tpm2-tools driver                     sim.interop.swtpm
calibration from PyKMIP and swtpm             sim.interop.calibration, kms_/tpm_calibration
===========================================  ==========================================

Notebook use::

    import sim
    run = sim.run("scenarios/baseline.yaml", seed=7, attestation__interval="2m")
    run.summary["drift"]["time_to_lapse_s"]["mean"]   # or run.metric("drift....mean")
    run.tables["attestations"]                        # pandas DataFrames
    folder = run.save("results/demo")                 # atomic run folder
    sim.results.load(folder).tables                   # the same frames, from Parquet

    sweep = sim.run_sweep("scenarios/sweeps/interval.yaml", "results/sweeps/interval")
    sweep.cells                                   # per cell and metric: mean, 95% CI
    sim.results.load_sweep(sweep.path)["attestations"]   # every run, factors as columns
    fig = sim.plots.lapse_vs("results/sweeps/interval", x="attestation.interval")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sim.errors import ScenarioError, VtasimError
from sim.version import __version__

if TYPE_CHECKING:
    from sim import experiments
    from sim import plots as plots
    from sim.analysis import results
    from sim.analysis.tables import TABLE_COLUMNS, TABLES
    from sim.experiments.api import Run, SweepRun, run, run_sweep
    from sim.experiments.folder import load_sweep_results
    from sim.experiments.spec import load_sweep, parse_sweep
    from sim.runner import RunOutput, simulate, write
    from sim.scenario import Scenario, load_scenario, parse_scenario, scenario_json_schema

__all__ = [
    "TABLES",
    "TABLE_COLUMNS",
    "Run",
    "RunOutput",
    "Scenario",
    "ScenarioError",
    "SweepRun",
    "VtasimError",
    "__version__",
    "experiments",
    "load_scenario",
    "load_sweep",
    "load_sweep_results",
    "parse_scenario",
    "parse_sweep",
    "results",
    "run",
    "run_sweep",
    "scenario_json_schema",
    "simulate",
    "write",
]

_LAZY: dict[str, tuple[str, str | None]] = {
    "TABLES": ("sim.analysis.tables", "TABLES"),
    "TABLE_COLUMNS": ("sim.analysis.tables", "TABLE_COLUMNS"),
    "Run": ("sim.experiments.api", "Run"),
    "RunOutput": ("sim.runner", "RunOutput"),
    "SweepRun": ("sim.experiments.api", "SweepRun"),
    "Scenario": ("sim.scenario", "Scenario"),
    "experiments": ("sim.experiments", None),
    "load_scenario": ("sim.scenario", "load_scenario"),
    "load_sweep": ("sim.experiments.spec", "load_sweep"),
    "load_sweep_results": ("sim.experiments.folder", "load_sweep_results"),
    "parse_scenario": ("sim.scenario", "parse_scenario"),
    "parse_sweep": ("sim.experiments.spec", "parse_sweep"),
    "plots": ("sim.plots", None),
    "results": ("sim.analysis.results", None),
    "run": ("sim.experiments.api", "run"),
    "run_sweep": ("sim.experiments.api", "run_sweep"),
    "scenario_json_schema": ("sim.scenario", "scenario_json_schema"),
    "simulate": ("sim.runner", "simulate"),
    "write": ("sim.runner", "write"),
}
"""Public names and where they live. They are imported on first use, so that the
``vtasim`` command answers a bad scenario file without first loading SimPy, SciPy,
networkx and matplotlib."""


def __getattr__(name: str) -> object:
    """Import a public name (``sim.simulate``, ``sim.plots``...) on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
