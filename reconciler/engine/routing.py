"""Where Consul registrations go (engine layer): the agent on each task's host, or the one configured agent.

Apart from consul_execute so that the CLI can name the choice in its flags without importing the
Consul client and its wire models.
"""

from __future__ import annotations

from enum import StrEnum


class AgentRouting(StrEnum):
    """Where registrations go: the agent on the task's host, or the one configured agent."""

    HOST = "host"
    SINGLE = "single"
