"""The SimPy components of the estate. Each is built from its own scenario section and the
shared :class:`~sim.processes.context.Context`; :mod:`sim.build` wires them together."""
