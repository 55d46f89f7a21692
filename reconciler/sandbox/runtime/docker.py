"""Docker task runtime (sandbox layer): one busybox container per running task, its ports
published on the agent's loopback address only, answering HTTP 200 on `/` and on the app's
health-check paths. The image is built locally from the host's busybox-static with `docker import`.

The docker SDK blocks, so its calls run in worker threads; the simulation itself stays on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import shlex
import tarfile
from pathlib import Path
from typing import Any

import httpx

from reconciler.sandbox.runtime import Launch, Usage
from reconciler.sandbox.runtime.ports import HostPorts

IMAGE = "reconciler-sandbox-task:1"
BUSYBOX = Path("/bin/busybox")
LABEL = "reconciler.sandbox"
READY_TIMEOUT_S = 20.0
MIN_CPUS = 0.01  # the smallest CPU quota docker takes


class DockerUnavailable(Exception):
    """No docker daemon or no busybox-static: the docker runtime cannot start."""


def image_archive(busybox: Path = BUSYBOX) -> bytes:
    """A root filesystem with busybox and a web root (what `docker import` turns into the image)."""
    if not busybox.is_file():
        raise DockerUnavailable(f"{busybox} is missing; install busybox-static (scripts/ensure-docker does)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(busybox), arcname="bin/busybox")
        page = b"ok\n"
        entry = tarfile.TarInfo("www/index.html")
        entry.size = len(page)
        tar.addfile(entry, io.BytesIO(page))
    return buffer.getvalue()


def container_command(ports: list[int], paths: tuple[str, ...], command: str | None = None) -> list[str]:
    """Start the app's command in the background (as a Mesos command executor runs `cmd` with `sh -c`),
    create the health-check paths as files, then serve the web root on every port."""
    steps = [f"{{ /bin/busybox sh -c {shlex.quote(command)} >/dev/null 2>&1 & }}"] if command else []
    for path in paths:
        relative = path.split("?", 1)[0].strip("/")
        if relative:
            target = f"/www/{relative}"
            steps.append(f"/bin/busybox mkdir -p {shlex.quote(str(Path(target).parent))}")
            steps.append(f"echo ok > {shlex.quote(target)}")
    servers = [f"/bin/busybox httpd -p {port} -h /www" for port in ports[:-1]]
    steps += (
        [*servers, f"exec /bin/busybox httpd -f -p {ports[-1]} -h /www"] if ports else ["exec /bin/busybox sleep 1d"]
    )
    return ["/bin/busybox", "sh", "-c", " && ".join(steps)]


class DockerTasks:
    """Running task containers, keyed by task id."""

    def __init__(self, client: Any | None = None) -> None:
        self._client: Any = client
        self._containers: dict[str, Any] = {}
        self._wanted: set[str] = set()
        self._removals: set[asyncio.Task[None]] = set()
        self._host_ports = HostPorts()

    async def prepare(self) -> None:
        """Connect to the daemon and build the image once; DockerUnavailable when impossible."""
        try:
            import docker

            self._client = self._client or await asyncio.to_thread(docker.from_env)
            await asyncio.to_thread(self._client.ping)
        except Exception as exc:
            raise DockerUnavailable(f"no docker daemon answers ({exc}); run scripts/ensure-docker") from exc
        if not await asyncio.to_thread(self._has_image):
            archive = image_archive()
            repository, tag = IMAGE.split(":")
            await asyncio.to_thread(self._client.api.import_image_from_data, archive, repository=repository, tag=tag)

    def _has_image(self) -> bool:
        try:
            self._client.images.get(IMAGE)
        except Exception:
            return False
        return True

    def port_free(self, host: str, port: int) -> bool:
        return self._host_ports.free(host, port)

    async def open(
        self, task_id: str, host: str, ports: list[int], paths: tuple[str, ...] = (), launch: Launch | None = None
    ) -> str | None:
        if task_id in self._wanted:
            return None
        self._wanted.add(task_id)
        try:
            container = await asyncio.to_thread(self._run, task_id, host, ports, paths, launch or Launch())
        except Exception as exc:
            self._wanted.discard(task_id)
            return f"container for {task_id} did not start: {exc}"
        self._containers[task_id] = container
        if task_id not in self._wanted:
            self.close(task_id)
            return None
        if ports and not await self._answers(host, ports[0]):
            self.close(task_id)
            return f"container for {task_id} never answered on {host}:{ports[0]}"
        return None

    def _run(self, task_id: str, host: str, ports: list[int], paths: tuple[str, ...], launch: Launch) -> Any:
        # The task's cpus as a CFS quota, as a Mesos agent with --cgroups_enable_cfs enforces them.
        limits = {"nano_cpus": round(max(launch.cpus, MIN_CPUS) * 1e9)} if launch.cpus else {}
        return self._client.containers.run(
            IMAGE,
            container_command(ports, paths, launch.command),
            detach=True,
            labels={LABEL: "marathon", "task-id": task_id},
            ports={f"{port}/tcp": (host, port) for port in ports},
            environment=dict(launch.env),
            **limits,
        )

    async def usage(self, task_id: str) -> Usage | None:
        """The container's cgroup counters now (docker stats, one shot); None when it has none (gone)."""
        container = self._containers.get(task_id)
        if container is None:
            return None
        try:
            stats = await asyncio.to_thread(container.stats, stream=False, one_shot=True)
        except Exception:
            return None
        return usage_of(stats)

    async def _answers(self, host: str, port: int) -> bool:
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=1.0) as client:
            while asyncio.get_running_loop().time() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://{host}:{port}/")).status_code == 200:
                        return True
                await asyncio.sleep(0.05)
        return False

    def close(self, task_id: str) -> None:
        self._wanted.discard(task_id)
        container = self._containers.pop(task_id, None)
        if container is None:
            return
        removal = asyncio.get_running_loop().create_task(asyncio.to_thread(_remove, container))
        self._removals.add(removal)
        removal.add_done_callback(self._removals.discard)

    async def close_all(self) -> None:
        for task_id in list(self._containers):
            self.close(task_id)
        if self._removals:
            await asyncio.wait(list(self._removals), timeout=30.0)


def usage_of(stats: dict[str, Any]) -> Usage | None:
    """CPU seconds (nanoseconds in docker's stats) split into user and system, and resident memory:
    `rss` (cgroup v1), else `anon` (cgroup v2), else the whole usage."""
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    memory = stats.get("memory_stats") or {}
    if "total_usage" not in cpu:
        return None
    total = cpu["total_usage"] / 1e9
    user = min(total, cpu.get("usage_in_usermode", cpu["total_usage"]) / 1e9)
    detail = memory.get("stats") or {}
    rss = detail.get("rss", detail.get("anon", memory.get("usage", 0)))
    return Usage(user, total - user, rss / (1024 * 1024), 0.0)


def _remove(container: Any) -> None:
    with contextlib.suppress(Exception):
        container.remove(force=True)
