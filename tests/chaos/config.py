"""How hard the chaos suite pushes: CI-sized by default, larger through `HERALD_CHAOS_*` variables.

    HERALD_CHAOS_RUNS        runs in each scenario's herd (default 80)
    HERALD_CHAOS_FAULTS      how many times each fault is injected per scenario (default 1;
                             the replica-kill scenario kills 6 times this many replicas)
    HERALD_CHAOS_SEED        seed of every random choice (default: new each session, printed)
    HERALD_CHAOS_SMTP_DOWN_S how long the SMTP server stays down (default 120)

`make test-chaos` sets larger values; a failing run is repeated with its printed seed.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass


def _number(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class ChaosConfig:
    runs: int
    faults: int
    seed: int
    smtp_down_s: int

    @classmethod
    def from_env(cls) -> ChaosConfig:
        return cls(
            runs=_number("HERALD_CHAOS_RUNS", 80, 1),
            faults=_number("HERALD_CHAOS_FAULTS", 1, 1),
            seed=_number("HERALD_CHAOS_SEED", random.SystemRandom().randrange(10**6), 0),
            smtp_down_s=_number("HERALD_CHAOS_SMTP_DOWN_S", 120, 1),
        )

    def timeout_s(self, waits_s: float = 0.0) -> float:
        """A scenario's pytest timeout: its own fixed waits plus what grows with herd and faults."""
        return 600 + waits_s + self.runs * self.faults * 0.5

    def rng(self, scenario: str) -> random.Random:
        """Each scenario its own stream, so one scenario's choices do not shift another's."""
        return random.Random(f"{self.seed}:{scenario}")
