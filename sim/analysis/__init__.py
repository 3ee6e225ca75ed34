"""What a run records and reports: the table declarations (:mod:`~sim.analysis.tables`),
the recorder the processes fill (:mod:`~sim.analysis.recorder`), exact capacity as step
functions (:mod:`~sim.analysis.steps`, :mod:`~sim.analysis.capacity`), the drift
derivations and the summary with every metric's definition (:mod:`~sim.analysis.drift`,
:mod:`~sim.analysis.summary`), confidence intervals (:mod:`~sim.analysis.stats`), run
folders (:mod:`~sim.analysis.results`) and the summary as text (:mod:`~sim.analysis.text`).
Nothing here imports SimPy."""
