"""The sections of a scenario, one module per subsystem, each with every default it has.

A section is a frozen :class:`~sim.scenario.common.Section`; :class:`sim.scenario.model.Scenario`
assembles them. Adding a section: a module here, a field on ``Scenario``, a re-export in
:mod:`sim.scenario.model`, and the regenerated JSON Schema.
"""
