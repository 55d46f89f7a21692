"""Defaults of the metrics adapters (layer 3) that the CLI names in its flags, apart from the adapters so
that naming them imports no HTTP client."""

from __future__ import annotations

DEFAULT_AGENT_PORT = 5051  # the Mesos agent's port, where /monitor/statistics is served
