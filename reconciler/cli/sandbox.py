"""`reconciler sandbox up` (face layer): runs the embedded Marathon sandbox in the foreground.

Prints the URL when ready and stops cleanly on Ctrl-C or SIGTERM. New services (a Consul
sandbox beside it) join as further options and further entries in `start_services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
from typing import Annotated

import typer

from reconciler.errors import UsageError
from reconciler.sandbox.marathon import DockerUnavailable, MarathonSandbox, MarathonSandboxConfig

sandbox_app = typer.Typer(
    name="sandbox", help="Embedded Marathon API on loopback for trying specs locally.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("up")
def up(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    marathon_port: Annotated[int, typer.Option(help="Marathon API port (0 = any free port).")] = 8080,
    agents: Annotated[int, typer.Option(help="Simulated agents (127.0.0.2, 127.0.0.3, ...).")] = 3,
    agent_cpus: Annotated[float, typer.Option(help="CPUs per agent.")] = 4.0,
    agent_mem: Annotated[float, typer.Option(help="Memory per agent (MiB).")] = 8192.0,
    runtime: Annotated[str, typer.Option(help="Task runtime: simulated or docker.")] = "simulated",
) -> None:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM."""
    if not host.startswith("127."):
        raise UsageError(f"--host {host} is not a loopback address", hint="use 127.0.0.1 (or another 127.x address)")
    config = MarathonSandboxConfig(
        host=host, port=marathon_port, agents=agents, agent_cpus=agent_cpus, agent_mem=agent_mem, runtime=runtime
    )
    try:
        config.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    asyncio.run(serve(config))


async def serve(config: MarathonSandboxConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sandbox = MarathonSandbox(config)
    try:
        await sandbox.start()
    except OSError as exc:
        raise UsageError(describe_bind_error(config, exc), hint="pick another --marathon-port, or 0 for any") from None
    except DockerUnavailable as exc:
        raise UsageError(f"cannot start the docker runtime: {exc}", hint="or use --runtime simulated") from None
    try:
        typer.echo(f"Marathon sandbox: {sandbox.url}  ({config.agents} agents, runtime {config.runtime})")
        typer.echo("Press Ctrl-C to stop.")
        await stop.wait()
    finally:
        await sandbox.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
    typer.echo("Marathon sandbox stopped.")


def describe_bind_error(config: MarathonSandboxConfig, exc: OSError) -> str:
    where = f"{config.host}:{config.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot start the Marathon sandbox: {where} is already in use"
    return f"cannot start the Marathon sandbox on {where}: {exc.strerror or exc}"
