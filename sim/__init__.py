"""vtasim: a discrete-event simulator of a trusted vSphere estate (vSphere Trust Authority).

Concept map (imports point one way, top to bottom)::

    cli ─► experiment ─► runner ─► build ─► processes/ ─► domain/  (pure trust primitives)
      │      │ sweep, stats  │         │        host, trust_authority, kms, vcenter,
      │      │               │         │        vmotion, drift, workload, services, inventory
      │      │               │         ├─► topology (networkx graph, delays, bandwidth)
      │      │               │         ├─► identities (seeded TPMs, servers, CAs)
      │      │               │         └─► rng (named streams off one root seed)
      │      │               ├─► metrics (records, metric definitions, summary)
      │      └───────────────┴─► results (atomic run folder, tables; summary_text)
      ├─► plots/ (figures from run and sweep folders; never runs a simulation)
      └─► scenario (+ scenario_rules, units, distributions): YAML -> frozen Scenario

    domain/: tpm + tpm_wire (TPM 2.0 PCRs, event log, quotes in wire format), pki (seeded
    P-256 keys, CAs, EK certificates), image (ESXi images, measured boot), verifier
    (evidence + policy -> verdict with dotted reasons), report (ES256 JWT attestation
    reports), kmip (KMIP 1.1 key store), stream_cipher (AES-256-GCM vMotion stream).

Notebook use::

    import sim
    scenario = sim.load_scenario("scenarios/baseline.yaml",
                                 overrides={"attestation.interval": "2m"})
    out = sim.simulate(scenario, seed=7)          # in memory
    out.summary["drift"]["time_to_lapse_s"]["mean"]
    folder = sim.write(out, "results/demo")       # atomic run folder
    tables = sim.results.load(folder).tables      # pandas DataFrames when pandas is installed

    sweep = sim.run_sweep("scenarios/sweeps/interval.yaml", "results/sweeps/interval")
    sweep.cells                                   # per cell and metric: mean, 95% CI
    fig = sim.plots.lapse_vs("results/sweeps/interval", x="attestation.interval")
"""

from sim import experiment, results
from sim.errors import ScenarioError, VtasimError
from sim.experiment import load_sweep_results, run_sweep
from sim.metrics import TABLE_COLUMNS
from sim.runner import RunOutput, run, simulate, write
from sim.scenario import Scenario, load_scenario, parse_scenario, scenario_json_schema
from sim.sweep import load_sweep, parse_sweep

__version__ = "0.1.0"

__all__ = [
    "TABLE_COLUMNS",
    "RunOutput",
    "Scenario",
    "ScenarioError",
    "VtasimError",
    "__version__",
    "experiment",
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


def __getattr__(name: str) -> object:
    """``sim.plots`` is imported on first use (it pulls in matplotlib)."""
    if name == "plots":
        import importlib

        return importlib.import_module("sim.plots")
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
