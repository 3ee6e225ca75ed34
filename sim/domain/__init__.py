"""Pure trust primitives: no SimPy, no YAML, no files."""
