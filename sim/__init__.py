"""vtasim: a discrete-event simulator of a trusted vSphere estate (vSphere Trust Authority).

Layers (each imports only the layers below it; ``tests/test_architecture.py`` checks the
contract declared in ``pyproject.toml``)::

    cli          the `vtasim` command                      sim/cli/
    plots        figures from run and sweep folders        sim/plots/
    results      Run and Sweep: run, load, read results    sim/results/
    experiments  sweeps, replications, CIs, executors      sim/experiments/
    interop      outside tools: evidence, swtpm, calibration sim/interop/
    runner       simulate one scenario, write its folder   sim/runner.py
    build        scenario -> wired estate                  sim/build.py
    processes    SimPy components                          sim/processes/
    analysis     tables, recorder, summary, run folders    sim/analysis/
    scenario     YAML -> frozen Scenario                   sim/scenario/
    domain       pure trust primitives                     sim/domain/
    rng, errors, version, collector                        sim/rng.py, sim/errors.py,
                                                           sim/collector.py

Concept map (concept -> module):

===========================================  ==========================================
scenario root, every section's defaults      sim.scenario.model, sim.scenario.sections.*
units (``5m``, ``8GiB``), distributions       sim.scenario.units, sim.scenario.distributions
topology rules (3 vTA hosts, SSO, ELM)        sim.scenario.rules
loading YAML, JSON Schema                     sim.scenario.loading
validation, field-path problems               sim.scenario.validation
extends between files, overrides (--set)      sim.scenario.compose
bounded, strict YAML reading                  sim.scenario.yaml_safe
field limits, strict numbers                  sim.scenario.limits, sim.scenario.bounds
size estimate of a run, its limits            sim.scenario.estimate
regime registry and presets (vTA, Keylime)   sim.scenario.regimes
VIB acceptance levels (registry)              sim.domain.acceptance
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
event queue split into near and far events    sim.processes.event_queue
deadlines that cost no event if called off    sim.processes.alarms
a process body run inline, detachable         sim.processes.inline
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
each cluster's placement inputs as arrays     sim.processes.placement_index
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
Run and Sweep results: run, load, run_sweep  sim.results
sensitivity designs (SALib), sensitivity.csv  sim.experiments.design, sim.plots.sensitivity
SLO plans: cheapest setting (vtasim plan)     sim.experiments.plan_spec, sim.experiments.plan
HTML report of a run or sweep                 sim.plots.report
quote export for tpm2-tools                   sim.interop.quote_export
evidence out of a run (--export-evidence)     sim.interop.evidence
swtpm / tpm2-tools driver                     sim.interop.swtpm
calibration from PyKMIP and swtpm             sim.interop.calibration, kms_/tpm_calibration
===========================================  ==========================================

Performance tricks (each is exact, results do not depend on it, unless it says otherwise;
figures are process time per call on a 2-core machine, measured with timeit and
tracemalloc; the note at each place says more; ``tests/test_architecture.py`` fails on a
cache not listed here):

- parked random streams, numpy's seeding redone in integers (``sim/rng.py``): ~340 B
  instead of ~910 B per stream and ~12 us instead of ~29 us to seed one, ~2 us when
  prepared in a batch (every VM's lifetime stream at build);
- fewer SimPy events (``sim/processes/alarms.py``, ``sim/processes/inline.py``): attempt
  deadlines, status lapses and VM lifetimes are alarms with one timer armed at the
  earliest live one (a deadline called off costs no event); the agent's own attestation
  and its single round run in the agent's process (handed to a process of their own only
  when the agent is interrupted): 15 to 8.2 events per attestation on ``large.yaml``
  without VMs;
- fewer events per vMotion (``sim/processes/vmotion.py``, ``sim/processes/bandwidth.py``):
  free migration slots are taken without an event (the ``Lock`` of the services) and a
  transfer waits for its timeout alone, interrupted on a rate change, instead of racing it
  with a change event: 12 to about 5 events per migration. Not exact: migrations that start
  at one instant (an evacuation) take their slots in another order and the run then takes
  another path, so ``drift-storm`` and ``rolling-upgrade`` changed; both forms give the
  same distributions (``tests/test_behaviour_vmotion_forms.py``, two-sample KS tests);
- smaller heaps (``sim/processes/event_queue.py``, ``sim/processes/alarms.py``): events due
  more than a minute ahead wait in a second heap, merged exactly when popped, and each
  kind of alarm has a heap (lane) of its own, so the many short-lived events and attempt
  deadlines never walk the heaps of 10,000 agents' periods and 100,000 VM lifetimes: the
  event loop's and alarm clock's own lines fell from ~16 % to ~10 % of the profile samples
  of a 10,000-host run in steady state (py-spy);
- placement on arrays (``sim/processes/placement_index.py``): each cluster keeps its hosts'
  free memory, memory in use and attested flags in numpy arrays that the hosts and the
  vCenter's view update as they change, so a power-on or vMotion finds the eligible hosts
  and the least loaded with a few array operations instead of reading the state of each
  of the cluster's 50 hosts: ~34 us to ~6 us to place a VM, ~28 us to ~3.4 us to list a
  vMotion's destinations (20,000 VMs of a 10,000-host estate, timed in a loop); ~3 % of
  the run (py-spy); the same hosts in the same order, by a property test against the walk;
- the cycle collector off while an estate is built and run (``sim/collector.py``): the
  model makes no reference cycles (``tests/test_behaviour_garbage.py``), so collecting
  found nothing and cost ~7 % of a run and a fifth of a build at 10,000 hosts; the estate
  is frozen out of the collections made while results are derived and written;
- signatures made when first read (``tpm.Quote.signed_on_read``, ``report.SignedOnUse``):
  ECDSA here is deterministic (RFC 6979), so a quote or report signed when its signature
  is first read is, byte for byte, the one signed at issue, by the key held then; a report
  nobody presents is never signed, and a quote is signed next to its verification, whose
  curve tables are then still in the caches (about 6 us less for the pair, in place at
  10,000 hosts, the two forms alternated in one run);
- recorded tables (``sim/analysis/recorded.py``): each column of a sealed chunk is pickled
  on its own, and its values' types are noted as it is sealed, so the analysis unpickles
  only the columns it reads (the summary of 10,000 hosts' hour ~20 % faster) and the
  writer types the Parquet columns without reading the table a first time (the run
  folder's writing ~25 % faster); the same bytes, by property tests;
- crypto operation counters (``sim/domain/opcount.py``): ~0.3 us per operation, stream
  packets counted in place at ~0.08 us (the benchmarks need the counts);
- memoised pure functions (``functools`` caches), keyed on immutable inputs:
  ``verifier._read_log`` (a 64-event boot log read, ~0.12 ms per attestation) and its
  identity front ``verifier._reading``; ``verifier._identity_front`` (a host's AK, expected
  Qualified Name and identity reasons per policy, by the identity of the key and certificate
  objects it sends: ~0.4 us instead of ~3.3 us through the byte-keyed caches below);
  ``identity_checks.load_key``, ``normalized_ek``,
  ``parsed_cas``, ``ek_certificate_trusted``, ``ak_fit``, ``expected_signer`` (key and
  certificate parsing and chain checks, ~10 us to a signature check per attestation);
  ``image._boot_chain`` (a boot's events encoded and made once: ~0.3 ms per boot, and
  ~80 us of a boot's measuring), ``image._decoded`` and ``image._vib_of`` (~9 us
  per event read); ``image._interned`` (one object per image read from many hosts' logs,
  so its id is hashed once: ~47 us per log read); ``tpm._created`` (one shared object per
  measurement, ~3 us) and the digest check kept on it (``Event.digest_matches_data``,
  ~0.5 us per event read); ``tpm._chain`` (a PCR's replayed value per chain of digests,
  shared by hosts booting one image: ~80 us to ~13 us per 64-event log replayed);
  ``tpm_wire.QuoteLayout`` (a TPM's fixed quote bytes marshalled once: ~0.7 us instead of
  ~8 us to marshal a quote); ``tpm_wire._bitmap_indices`` (~4 us per quote);
  ``uefi.default_secure_boot_keys``
  (~0.7 ms per server boot); ``vmotion.synthetic_pages`` (~36 ms per MiB of payload per
  migration); ``catalogue._compile`` (~4 us per metric key looked up);
  ``report._parse_text`` (a report token's base64 and JSON decoded once, ~60 us per key
  release check; its signature and claims are still checked each time), and the decoding
  of a report its signer has just signed, kept by the signer (``report._SIGNED``: 22 us
  of decoding per new report presented, for about 5 us of building it; a property test
  holds it equal to the decoding of the text).

Notebook use (the same :class:`~sim.results.Run` and :class:`~sim.results.Sweep` whether
they were just run or read from a folder; see :mod:`sim.results`)::

    import sim
    run = sim.run("scenarios/baseline.yaml", seed=7, attestation__interval="2m")
    run                                               # a short summary; HTML in Jupyter
    run.metric("drift.time_to_lapse_s.mean")          # a misspelt key names the nearest
    run.headline()                                    # the figures `vtasim run` prints
    run.tables["attestations"]                        # pandas DataFrames
    folder = run.save("results/demo")                 # atomic run folder
    sim.load(folder).tables["attestations"]           # the same frames, from Parquet

    sweep = sim.run_sweep("scenarios/sweeps/interval.yaml", "results/sweeps/interval")
    sweep = sim.load_sweep("results/sweeps/interval")     # the same Sweep, from the folder
    sweep.metric("attestation.latency_s.p95")     # per cell: factors, mean, 95% CI
    sweep.tables["attestations"]                  # every run, factors as columns
    sweep.runs[0].summary                         # one run of the sweep, as a Run
    fig = sim.plots.lapse_vs(sweep.folder, x="attestation.interval")

    plan = sim.run_plan(sim.load_plan("scenarios/plans/ta-sizing.yaml"), workers=2)
    plan.chosen["settings"], plan.doc["compute"]        # the answer and what it cost
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from sim.errors import ScenarioError, VtasimError
from sim.version import __version__

if TYPE_CHECKING:
    from sim import experiments, results
    from sim import plots as plots
    from sim.analysis.tables import TABLE_COLUMNS, TABLES
    from sim.experiments.plan import run_plan
    from sim.experiments.plan_spec import load_plan
    from sim.experiments.spec import parse_sweep
    from sim.results import Run, Sweep, SweepRun, load, load_sweep, run, run_sweep
    from sim.results import load_sweep as load_sweep_results
    from sim.runner import RunOutput, simulate, write
    from sim.scenario import Scenario, load_scenario, parse_scenario, scenario_json_schema

__all__ = [
    "TABLES",
    "TABLE_COLUMNS",
    "Run",
    "RunOutput",
    "Scenario",
    "ScenarioError",
    "Sweep",
    "SweepRun",
    "VtasimError",
    "__version__",
    "experiments",
    "load",
    "load_plan",
    "load_scenario",
    "load_sweep",
    "load_sweep_results",
    "parse_scenario",
    "parse_sweep",
    "results",
    "run",
    "run_plan",
    "run_sweep",
    "scenario_json_schema",
    "simulate",
    "write",
]

_LAZY: dict[str, tuple[str, str | None]] = {
    "TABLES": ("sim.analysis.tables", "TABLES"),
    "TABLE_COLUMNS": ("sim.analysis.tables", "TABLE_COLUMNS"),
    "Run": ("sim.results", "Run"),
    "RunOutput": ("sim.runner", "RunOutput"),
    "Sweep": ("sim.results", "Sweep"),
    "SweepRun": ("sim.results", "Sweep"),
    "Scenario": ("sim.scenario", "Scenario"),
    "experiments": ("sim.experiments", None),
    "load": ("sim.results", "load"),
    "load_plan": ("sim.experiments.plan_spec", "load_plan"),
    "load_scenario": ("sim.scenario", "load_scenario"),
    "load_sweep": ("sim.results", "load_sweep"),
    "load_sweep_results": ("sim.results", "load_sweep"),
    "parse_scenario": ("sim.scenario", "parse_scenario"),
    "parse_sweep": ("sim.experiments.spec", "parse_sweep"),
    "plots": ("sim.plots", None),
    "results": ("sim.results", None),
    "run": ("sim.results", "run"),
    "run_sweep": ("sim.results", "run_sweep"),
    "run_plan": ("sim.experiments.plan", "run_plan"),
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
