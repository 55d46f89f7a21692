"""The whole sandbox (sandbox layer): the Marathon emulator and, beside it, a Consul emulator whose
client agents sit on the Marathon agents' loopback addresses (agent-1 on 127.0.0.2, ...), so that
the Consul agent of a task's host is `http://<task host>:<consul port>`, as on a real cluster. An
agent added while running (`POST /_sandbox/agents`, or `add_agent` here) gets its Consul agent too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from reconciler.sandbox.consul import ConsulSandbox, ConsulSandboxConfig, agent_nodes
from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig
from reconciler.sandbox.marathon.model import Agent


@dataclass
class SandboxConfig:
    marathon: MarathonSandboxConfig = field(default_factory=MarathonSandboxConfig)
    consul: ConsulSandboxConfig | None = field(default_factory=ConsulSandboxConfig)  # None: Marathon only


class Sandbox:
    """`async with Sandbox(SandboxConfig(...)) as sandbox:` Marathon at `.marathon_url`, Consul at `.consul_url`."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.marathon = MarathonSandbox(self.config.marathon)
        self.consul: ConsulSandbox | None = None
        if self.config.consul is not None:
            consul_config = self.config.consul
            if not consul_config.nodes:
                consul_config.nodes = agent_nodes(self.config.marathon.agents)
            self.consul = ConsulSandbox(consul_config)
            self.marathon.core.agent_added.append(self._join_consul)

    async def _join_consul(self, agent: Agent) -> None:
        if self.consul is not None:
            await self.consul.add_agent_node(f"agent-{agent.index}", agent.host)  # as agent_nodes names them

    async def add_agent(self, cpus: float | None = None, mem: float | None = None, disk: float | None = None) -> Agent:
        """A Marathon agent and, with Consul, its Consul agent on the same address, listening on return."""
        agent = self.marathon.add_agent(cpus, mem, disk)
        await self.marathon.core.announce_agent(agent)
        return agent

    @property
    def marathon_url(self) -> str:
        return self.marathon.url

    @property
    def consul_url(self) -> str | None:
        return self.consul.url if self.consul else None

    @property
    def dns_port(self) -> int | None:
        return self.consul.dns_port if self.consul else None

    async def __aenter__(self) -> Sandbox:
        await self.marathon.__aenter__()
        if self.consul is not None:
            try:
                await self.consul.__aenter__()
            except BaseException:
                await self.marathon.__aexit__(None, None, None)
                raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.consul is not None:
            await self.consul.__aexit__(kind, error, trace)
        await self.marathon.__aexit__(kind, error, trace)
