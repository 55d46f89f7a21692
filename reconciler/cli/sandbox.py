"""`reconciler sandbox up` (face layer): runs the embedded Marathon and Consul sandbox in the foreground.

Prints the URLs when ready and stops cleanly on Ctrl-C or SIGTERM. Consul's client agents sit on the
Marathon agents' loopback addresses (127.0.0.2, ...) on the same HTTP port as the server agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from reconciler.errors import ReconcilerError, UsageError

if TYPE_CHECKING:  # the sandbox (aiohttp, the Docker SDK) is imported when a command starts it, not for --help
    from reconciler.sandbox.listen import ListenError
    from reconciler.sandbox.stack import Sandbox, SandboxConfig

sandbox_app = typer.Typer(
    name="sandbox", help="Embedded Marathon and Consul APIs on loopback for trying specs locally.",
    no_args_is_help=True,
)

MAX_AGENTS = 254  # agent n listens on 127.0.0.(n+1)
# Which flag moves each listener, for the hint when a port is taken.
PORT_FLAGS = {
    "Marathon API": "--marathon-port",
    "Consul HTTP": "--consul-port",
    "Consul DNS": "--dns-port",
    "Mesos agent statistics": "--agent-stats-port",
}


def embedded_sandbox(*, with_consul: bool) -> Sandbox:
    """The sandbox `run --sandbox` starts on free loopback ports (an async context manager); the one
    way the rest of the CLI reaches the sandbox package."""
    from reconciler.sandbox.consul import ConsulSandboxConfig
    from reconciler.sandbox.marathon import MarathonSandboxConfig
    from reconciler.sandbox.stack import Sandbox, SandboxConfig

    consul = ConsulSandboxConfig() if with_consul else None
    return Sandbox(SandboxConfig(marathon=MarathonSandboxConfig(), consul=consul))


def register(app: typer.Typer) -> None:
    app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("up")
def up(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    marathon_port: Annotated[int, typer.Option(help="Marathon API port (0 = any free port).")] = 8080,
    consul_port: Annotated[int, typer.Option(help="Consul HTTP API port (0 = any free port).")] = 8500,
    dns_port: Annotated[int, typer.Option(help="Consul DNS port, UDP and TCP (0 = any free port).")] = 8600,
    agent_stats_port: Annotated[
        int, typer.Option(help="Every agent's Mesos /monitor/statistics port (0 = one free port; Mesos uses 5051).")
    ] = 0,
    consul: Annotated[bool, typer.Option("--consul/--no-consul", help="Run the Consul sandbox too.")] = True,
    agents: Annotated[int, typer.Option(help="Simulated agents (127.0.0.2, 127.0.0.3, ...).")] = 3,
    agent_cpus: Annotated[float, typer.Option(help="CPUs per agent.")] = 4.0,
    agent_mem: Annotated[float, typer.Option(help="Memory per agent (MiB).")] = 8192.0,
    runtime: Annotated[str, typer.Option(help="Task runtime: simulated or docker.")] = "simulated",
    text_plain_tasks: Annotated[
        bool, typer.Option(help="Enable Marathon 1.10's deprecated text_plain_tasks feature (text/plain task lists).")
    ] = False,
    enable_features: Annotated[
        str, typer.Option(help="Marathon's --enable_features, comma-separated: `secrets` accepts apps with secrets.")
    ] = "",
) -> None:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM."""
    from reconciler.sandbox.consul import ConsulSandboxConfig
    from reconciler.sandbox.marathon import RUNTIMES, MarathonSandboxConfig
    from reconciler.sandbox.stack import SandboxConfig

    check_flags(host, {
        "--marathon-port": marathon_port, "--consul-port": consul_port, "--dns-port": dns_port,
        "--agent-stats-port": agent_stats_port,
    })
    if runtime not in RUNTIMES:
        raise UsageError(f"--runtime {runtime} is not a task runtime", hint=f"use one of {', '.join(RUNTIMES)}")
    if not (math.isfinite(agent_cpus) and math.isfinite(agent_mem)):
        raise UsageError("agent cpus, mem and disk must be finite numbers", hint="such as --agent-cpus 4")
    if not 1 <= agents <= MAX_AGENTS:
        raise UsageError(f"--agents {agents} is out of range", hint=f"use 1 to {MAX_AGENTS} (127.0.0.2-127.0.0.255)")
    marathon = MarathonSandboxConfig(
        host=host,
        port=marathon_port,
        agents=agents,
        agent_cpus=agent_cpus,
        agent_mem=agent_mem,
        runtime=runtime,
        text_plain_tasks=text_plain_tasks,
        agent_stats_port=agent_stats_port,
        features=frozenset(name.strip() for name in enable_features.split(",") if name.strip()),
    )
    try:
        marathon.check()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    consul_config = ConsulSandboxConfig(host=host, port=consul_port, dns_port=dns_port) if consul else None
    asyncio.run(serve(SandboxConfig(marathon=marathon, consul=consul_config)))


def check_flags(host: str, ports: dict[str, int]) -> None:
    """A UsageError (exit 2) naming the flag, for a host off loopback or a port out of range."""
    if not host.startswith("127."):
        raise UsageError(f"--host {host} is not a loopback address", hint="use 127.0.0.1 (or another 127.x address)")
    for flag, port in ports.items():
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag} {port} is not a port number", hint="use 1-65535, or 0 for any free port")


async def serve(config: SandboxConfig) -> None:
    from reconciler.sandbox.listen import ListenError
    from reconciler.sandbox.marathon import DockerUnavailable
    from reconciler.sandbox.stack import Sandbox

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Sandbox(config) as sandbox:
            typer.echo(
                f"Marathon sandbox: {sandbox.marathon_url}  "
                f"({config.marathon.agents} agents, runtime {config.marathon.runtime})"
            )
            if config.marathon.agents:
                last = f"127.0.0.{config.marathon.agents + 1}"
                typer.echo(
                    f"Agent statistics: http://127.0.0.2:{sandbox.marathon.agent_stats_port}/monitor/statistics"
                    f"  (every agent 127.0.0.2-{last}, same port)"
                )
            if sandbox.consul is not None:
                dns = f"{config.marathon.host}:{sandbox.dns_port}"
                typer.echo(f"Consul sandbox:   {sandbox.consul_url}  (DNS on {dns}, UDP and TCP)")
            typer.echo("Press Ctrl-C to stop.")
            await stop.wait()
    except ListenError as exc:
        # The flags are fine; the machine is not (a port taken): an error (1), not a usage error (2).
        raise ReconcilerError(describe_bind_error(exc), hint=bind_hint(exc)) from None
    except DockerUnavailable as exc:
        raise ReconcilerError(f"cannot start the docker runtime: {exc}", hint="or use --runtime simulated") from None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
    typer.echo("Sandbox stopped.")


def describe_bind_error(exc: ListenError) -> str:
    where = f"{exc.host}:{exc.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot start the {exc.what} sandbox listener: {where} is already in use"
    return f"cannot start the {exc.what} sandbox listener on {where}: {exc.strerror}"


def bind_hint(exc: ListenError) -> str:
    flag = next((flag for name, flag in PORT_FLAGS.items() if exc.what.startswith(name)), "the port option")
    return f"pick another {flag}, or 0 for any free port"
