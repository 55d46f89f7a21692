"""The interface every metrics source implements (layer 3 adapter contract).

A task source reads per-task samples (CPU in cores, memory in MiB, named metrics in their own unit)
for the tasks it is asked about; an external source answers one Prometheus-style query with a number.
A task a source has no reading for is simply absent from the answer: the autoscaler treats it as a
task with no sample (core/autoscale_metrics.py), never as zero load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.core.autoscale_metrics import TaskSample


@dataclass(frozen=True)
class TaskRef:
    """A running task to sample: its Marathon id and the agent (host) it runs on."""

    task_id: str
    host: str


class TaskSource(Protocol):
    async def sample(self, tasks: Sequence[TaskRef]) -> Mapping[str, TaskSample]: ...


class ExternalSource(Protocol):
    last_error: str | None  # why the last query that answered None could not be read

    async def query(self, expression: str) -> float | None: ...
