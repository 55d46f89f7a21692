"""Mesos agent statistics (layer 3 adapter): `GET http://<agent>:5051/monitor/statistics`, the
endpoint mesosphere/marathon-autoscale reads.

The agent answers one entry per executor with cumulative CPU times; CPU usage is the rate between
two readings of the same executor (`cpus_user_time_secs + cpus_system_time_secs` over the change of
`timestamp`), so the first reading of a task yields a memory sample only. For Marathon's command
executor the executor id is the task id. A pass reads its agents a few at a time within one deadline
(AgentLimits): an agent that trickles its answer, or many slow ones, cost the cycle that deadline at most;
an answer past the size limit is given up as it comes, never held whole (answer_size.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.answer_size import MIB, AnswerTooLarge, read_bounded
from reconciler.core.autoscale_metrics import TaskSample
from reconciler.errors import RemoteError, RemoteRejected, RemoteUnavailable
from reconciler.metrics.bounded import ReadOutcomes, read_within
from reconciler.metrics.defaults import DEFAULT_AGENT_PORT
from reconciler.metrics.sources import TaskRef

log = logging.getLogger("reconciler.metrics")


@dataclass(frozen=True)
class ExecutorReading:
    """One executor's cumulative counters at one moment (agent time, seconds since the epoch)."""

    executor_id: str
    timestamp: float
    cpu_seconds: float
    mem_rss_bytes: float


def readings_of(body: Any) -> list[ExecutorReading]:
    """The readings in a `/monitor/statistics` answer; entries without the counters are skipped."""
    if not isinstance(body, list):
        raise ValueError("expected a JSON list of executors")
    readings = []
    for entry in body:
        stats = entry.get("statistics") if isinstance(entry, dict) else None
        if not isinstance(stats, dict) or "timestamp" not in stats:
            continue
        cpu = float(stats.get("cpus_user_time_secs", 0.0)) + float(stats.get("cpus_system_time_secs", 0.0))
        readings.append(
            ExecutorReading(
                str(entry.get("executor_id", "")),
                float(stats["timestamp"]),
                cpu,
                float(stats.get("mem_rss_bytes", 0.0)),
            )
        )
    return readings


def cpu_rate(earlier: ExecutorReading | None, later: ExecutorReading) -> tuple[float | None, float]:
    """Cores used between two readings, and the window they span; None without a usable earlier one."""
    if earlier is None or later.timestamp <= earlier.timestamp or later.cpu_seconds < earlier.cpu_seconds:
        return None, 0.0
    window = later.timestamp - earlier.timestamp
    return (later.cpu_seconds - earlier.cpu_seconds) / window, window


@dataclass(frozen=True)
class AgentLimits:
    """How one pass reads the agents: at most `concurrency` at once (each agent is its own host: the bound
    is on the controller's own connections), all of them within `deadline` seconds, each answer up to
    `answer_bytes`. An executor's entry is about 1 KiB (some 30 counters), and an agent runs tens to
    hundreds of executors: 8 MiB holds thousands, and 16 agents at their limit hold 128 MiB at most."""

    concurrency: int = 16
    deadline: float = 10.0
    answer_bytes: int = 8 * MIB


class MesosStatistics:
    """Samples tasks from their agents' statistics, remembering each executor's previous reading."""

    def __init__(
        self, client: httpx.AsyncClient, *, port: int = DEFAULT_AGENT_PORT, scheme: str = "http",
        limits: AgentLimits = AgentLimits(),
    ) -> None:
        self._client = client
        self._port = port
        self._scheme = scheme
        self._limits = limits
        self._previous: dict[str, ExecutorReading] = {}
        self._outcomes = ReadOutcomes(log, "agent-statistics-failed", "agent-statistics-read", "host=%s")

    async def sample(self, tasks: Sequence[TaskRef]) -> Mapping[str, TaskSample]:
        """One reading of every agent that runs one of `tasks`, within the pass's deadline. An agent that
        fails, or has not answered by then, leaves its tasks without a sample, never the other agents'."""
        hosts = sorted({task.host for task in tasks})
        answers = await read_within(hosts, self._read_agent, concurrency=self._limits.concurrency,
                                    deadline=self._limits.deadline)
        late = f"no answer within the {self._limits.deadline:g}s deadline of a cycle's agent reads"
        self._outcomes.keep_only(hosts)  # agents gone: forgotten
        readable: list[list[ExecutorReading]] = []
        for host in hosts:
            answer = answers.get(host, late)
            self._outcomes.outcome(host, answer if isinstance(answer, str) else None)
            if not isinstance(answer, str):
                readable.append(answer)
        wanted = {task.task_id for task in tasks}
        samples: dict[str, TaskSample] = {}
        for reading in (r for readings in readable for r in readings if r.executor_id in wanted):
            samples[reading.executor_id] = self._sample(reading)
        self._previous = {k: v for k, v in self._previous.items() if k in wanted}
        return samples

    async def _read_agent(self, host: str) -> list[ExecutorReading] | str:
        """The agent's readings, or why it could not be read."""
        try:
            return await self.get_statistics(host)
        except RemoteError as exc:
            return str(exc)

    def _sample(self, reading: ExecutorReading) -> TaskSample:
        cpu, window = cpu_rate(self._previous.get(reading.executor_id), reading)
        self._previous[reading.executor_id] = reading
        return TaskSample(at=reading.timestamp, window=window or 30.0, cpu=cpu, mem=reading.mem_rss_bytes / MIB)

    async def get_statistics(self, host: str) -> list[ExecutorReading]:
        """`GET /monitor/statistics` of one agent: its executors' readings."""
        url = f"{self._scheme}://{host}:{self._port}/monitor/statistics"
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code >= 500:
                    raise RemoteUnavailable(f"Mesos agent {host} answered {response.status_code}",
                                            status=response.status_code)
                if response.status_code != 200:
                    raise RemoteRejected(f"Mesos agent {host} answered {response.status_code}",
                                         status=response.status_code)
                body = await read_bounded(response, self._limits.answer_bytes)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"Mesos agent {host}:{self._port} did not answer: {type(exc).__name__}") from exc
        except AnswerTooLarge as exc:
            raise RemoteRejected(f"Mesos agent {host}: {exc}") from exc
        try:
            return readings_of(json.loads(body))
        except ValueError as exc:
            raise RemoteRejected(f"Mesos agent {host} sent statistics that are not JSON: {exc}") from exc
