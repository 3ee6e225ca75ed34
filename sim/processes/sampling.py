"""The measurement processes: the periodic sample of every level (the ``levels`` time
series) and the end of the warm-up, when the levels' summary statistics restart."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.processes.context import Context


class LevelSampler:
    """Samples every level each ``every`` seconds and resets their statistics at
    ``warmup`` (if positive)."""

    def __init__(self, ctx: Context, every: float, warmup: float) -> None:
        self.env = ctx.env
        self.recorder = ctx.recorder
        self.every = every
        self.warmup = warmup

    def start(self) -> None:
        """Start the sampler and, with a warm-up, its end."""
        self.env.process(self._sampler())
        if self.warmup > 0:
            self.env.process(self._end_warmup())

    def _sampler(self) -> Generator[Any, Any, None]:
        while True:
            self.recorder.sample_levels(self.env.now)
            yield self.env.timeout(self.every)

    def _end_warmup(self) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.warmup)
        for level in self.recorder.levels.values():
            level.reset(self.env.now)
