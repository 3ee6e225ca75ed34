"""vtasim: a discrete-event simulator of a trusted vSphere estate."""

__version__ = "0.1.0"
