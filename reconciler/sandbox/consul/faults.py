"""Fault settings of the Consul emulator's HTTP listeners (sandbox layer, Consul emulator).

Tests turn these knobs to make Consul slow or failing: a latency added before every answer and a
fraction of requests answered with a 5xx plain-text error. Draws come from a seeded generator so a
failing run can be replayed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class HttpFaults:
    latency: float = 0.0
    error_fraction: float = 0.0
    error_status: int = 500
    error_text: str = "rpc error making call: sandbox fault injected"
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def should_fail(self) -> bool:
        return self.error_fraction > 0 and self.rng.random() < self.error_fraction

    def clear(self) -> None:
        self.latency = 0.0
        self.error_fraction = 0.0
