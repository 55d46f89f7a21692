"""Runs the real `reconciler` CLI in a subprocess while the sandbox serves on the test's loop (e2e)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def run_cli(
    *args: str, marathon: str, consul: str | None = None, timeout: float = 90.0, cwd: Path | None = None
) -> CliResult:
    """`python -m reconciler --marathon URL [--consul URL] ARGS...` without blocking the event loop.

    Without `consul`, commands that talk to Consul get `--no-consul`, so that whatever listens on
    the default Consul address of the machine cannot change what a Marathon-only test sees.
    """
    talks_to_consul = bool(args) and args[0] in ("plan", "apply", "run", "approve")
    if consul is not None:
        args = ("--consul", consul, *args)
    elif talks_to_consul and "--consul" not in args and "--no-consul" not in args:
        args = (args[0], "--no-consul", *args[1:])
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    with tempfile.TemporaryDirectory(prefix="reconciler-cli-") as private:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", marathon, *private_run(args, Path(private)),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd or PROJECT, env=env,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    return CliResult(process.returncode or 0, stdout.decode(), stderr.decode())


def private_run(args: tuple[str, ...], private: Path) -> tuple[str, ...]:
    """`run` gets a free port and a history file of its own unless the test names them: its defaults
    (127.0.0.1:9090, a file in the home folder) are shared by everything on the machine."""
    if "run" not in args:
        return args
    at = args.index("run") + 1
    extra = [] if "--listen" in args else ["--listen", "127.0.0.1:0"]
    extra += [] if "--database" in args else ["--database", str(private / "history.db")]
    return (*args[:at], *extra, *args[at:])


def copy_example_tree(destination: Path) -> Path:
    """A private copy of specs/ and charts/ that a test may edit; returns the specs folder."""
    shutil.copytree(PROJECT / "specs", destination / "specs")
    shutil.copytree(PROJECT / "charts", destination / "charts")
    return destination / "specs"


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM a CLI subprocess that is still running and reap it; SIGKILL it after 30 s."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()


async def read_until(stream: asyncio.StreamReader, needle: str, seen: list[str], timeout: float) -> None:
    """Collects lines into `seen` until one holds `needle`; fails after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(needle in line for line in seen):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"{needle!r} not printed within {timeout}s; output so far:\n" + "".join(seen))
        line = await asyncio.wait_for(stream.readline(), left)
        if not line:
            raise AssertionError(f"the process ended before printing {needle!r}:\n" + "".join(seen))
        seen.append(line.decode())


@contextlib.asynccontextmanager
async def serving_controller(
    *args: str, env: dict[str, str]
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python -m reconciler *args` (a `run` given `--listen 127.0.0.1:0`) once its server listens: the
    process and the server's URL. Its output is drained meanwhile, since a full pipe would block it; it is
    stopped on the way out."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reconciler", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=PROJECT, env=env,
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        await read_until(process.stdout, "POST /hooks/git on http://", seen, 60)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", seen[-1])
        assert found, seen[-1]
        drain = asyncio.create_task(_drain(process.stdout))
        try:
            yield process, found.group(1)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
    finally:
        await stop_process(process)


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@contextlib.asynccontextmanager
async def answering(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """A loopback HTTP server answering every method and path with `handler`: its `127.0.0.1:PORT`."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
