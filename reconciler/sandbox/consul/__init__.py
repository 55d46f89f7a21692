"""An embedded emulator of Consul's HTTP API and DNS interface, for the sandbox and the tests (sandbox layer).

`ConsulSandbox(ConsulSandboxConfig(...))` is an async context manager: agents on loopback sharing one
catalog, KV, sessions and prepared queries, a UDP+TCP DNS server, and checks that really probe loopback
listeners. docs/sandbox-consul.md lists what is emulated and where it differs from real Consul.
"""

from reconciler.sandbox.consul.catalog import CheckStatus
from reconciler.sandbox.consul.faults import HttpFaults
from reconciler.sandbox.consul.server import ConsulSandbox, ConsulSandboxConfig, agent_nodes

__all__ = ["CheckStatus", "ConsulSandbox", "ConsulSandboxConfig", "HttpFaults", "agent_nodes"]
