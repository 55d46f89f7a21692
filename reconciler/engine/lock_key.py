"""The Consul KV key of the controller's leader lock by default (engine layer).

Apart from the lock's code so that the CLI's `--leader-key` flag names it without importing Consul's
wire models.
"""

from __future__ import annotations

DEFAULT_KEY = "service/marathon-reconciler/leader"
