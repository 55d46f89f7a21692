"""Task runtimes of the sandbox (sandbox layer): how a task shows itself on the network.

`simulated` opens a real TCP listener per task port on the agent's loopback address; `docker`
runs a busybox container per task with its ports published on that address.
"""

from __future__ import annotations

from typing import Protocol


class TaskRuntime(Protocol):
    """What the scheduler needs from a runtime: make a task answer on host:ports, or stop it."""

    async def open(self, task_id: str, host: str, ports: list[int], paths: tuple[str, ...] = ()) -> str | None:
        """Start answering; returns why it could not (the task then fails), or None."""
        ...

    def close(self, task_id: str) -> None: ...

    async def close_all(self) -> None: ...
