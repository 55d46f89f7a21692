"""Task runtimes of the sandbox (sandbox layer): how a task shows itself on the network.

`simulated` opens a real TCP listener per task port on the agent's loopback address; `docker`
runs a busybox container per task with its ports published on that address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Launch:
    """What a runtime that runs processes needs of the app: its command, its CPU allocation and the
    environment Marathon gives the task (variable name and value, in order)."""

    command: str | None = None
    cpus: float = 0.0
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Usage:
    """A task's resource counters at one moment: cumulative CPU seconds, resident MiB, requests served."""

    cpu_user_seconds: float
    cpu_system_seconds: float
    mem_mib: float
    requests_total: float


class PortInUse(OSError):
    """A task port is held by a process outside this sandbox (another sandbox on the machine, say).

    A real Mesos agent owns its port range, so this never happens on a cluster: placement skips held
    ports, and when one is taken between the pick and the bind the scheduler moves the staging task
    to other ports of its agent instead of failing it.
    """

    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"{host}:{port} is in use outside the sandbox")
        self.host, self.port = host, port


class TaskRuntime(Protocol):
    """What the scheduler needs from a runtime: make a task answer on host:ports, or stop it."""

    async def open(
        self, task_id: str, host: str, ports: list[int], paths: tuple[str, ...] = (), launch: Launch | None = None
    ) -> str | None:
        """Start answering; returns why it could not (the task then fails), or None.

        Raises PortInUse when a port is taken by something outside the sandbox (nothing stays open).
        """
        ...

    def port_free(self, host: str, port: int) -> bool:
        """Whether a task could take host:port now (nothing outside the sandbox holds it)."""
        ...

    def close(self, task_id: str) -> None: ...

    async def close_all(self) -> None: ...
