"""Blocking-query state as an explicit value (layer 3 adapter, Consul).

A blocking read sends `?index=<last X-Consul-Index>&wait=<duration>` and Consul holds the answer until
the index moves past it or `wait` elapses. The client rules (FACTS §5): an index that goes backwards
resets to 0 (one immediate full read), and after the first call the index never stays at 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# Go duration units Consul accepts in `wait`; the longest units are matched first.
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
MAX_WAIT_SECONDS = 600.0  # Consul caps `wait` at 10 minutes


def duration_seconds(text: str) -> float:
    """Seconds in a Go duration string (`"5m"`, `"1h5m"`, `"1.5s"`); a bare number means seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"'{text}' is not a duration: write it like 10s, 5m or 1h5m")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


@dataclass(frozen=True)
class BlockingState:
    """Where a blocking read stands: the last index seen (0 = not blocking yet) and the wait to ask for."""

    index: int = 0
    wait: str = "5m"

    @property
    def wait_seconds(self) -> float:
        """The longest Consul may hold the answer: `wait` (capped at 10m) plus its jitter of wait/16."""
        wait = min(duration_seconds(self.wait), MAX_WAIT_SECONDS)
        return wait + wait / 16

    def query_params(self) -> dict[str, str]:
        """`index` and `wait` for the next read; index 0 asks for an immediate answer."""
        if self.index <= 0:
            return {}
        return {"index": str(self.index), "wait": self.wait}

    def advance(self, returned_index: int | None) -> BlockingState:
        """The state after an answer carrying `X-Consul-Index: returned_index`."""
        if returned_index is None:
            return replace(self, index=0)
        if returned_index < self.index:
            return replace(self, index=0)
        return replace(self, index=max(returned_index, 1))


def blocking_request(params: dict[str, str], block: BlockingState | None) -> tuple[dict[str, str], float]:
    """`params` with the `index` and `wait` of `block` (if any), and how much longer than the timeout the
    answer may take (Consul holds a read blocked on an index up to `wait` and its jitter)."""
    if block is None:
        return params, 0.0
    return {**params, **block.query_params()}, block.wait_seconds if block.index > 0 else 0.0
