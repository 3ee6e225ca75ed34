"""The sections of a scenario, one module per subsystem, each with every default it has.

A section is a frozen :class:`~sim.scenario.common.Section`; :mod:`sim.scenario.sections.root`
assembles them into the root's fields and :class:`sim.scenario.model.Scenario` adds the
validated copies. Adding a section: a module here, its field in ``root.py`` (and, for
``from sim.scenario.model import ...``, a re-export in ``model.py``), its whole-estate rules
in :mod:`sim.scenario.rules` if it has any, and the regenerated JSON Schema.
"""
