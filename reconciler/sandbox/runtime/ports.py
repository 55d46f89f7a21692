"""Which task ports of an agent address are free on this machine (sandbox layer).

A real Mesos agent owns its port range; sandbox agents share loopback with every other process
(another sandbox, a benchmark), so placement asks here before it offers a port to a task.
"""

from __future__ import annotations

import socket
import time

HELD_RECHECK_S = 2.0  # a port found held is not probed again for this long (a starved app asks every pass)


class HostPorts:
    """Probes host:port with a bind as a task's listener would make it, remembering held ones briefly."""

    def __init__(self) -> None:
        self._held_until: dict[tuple[str, int], float] = {}

    def free(self, host: str, port: int) -> bool:
        now = time.monotonic()
        key = (host, port)
        if self._held_until.get(key, 0.0) > now:
            return False
        if _bindable(host, port):
            self._held_until.pop(key, None)
            return True
        self._held_until[key] = now + HELD_RECHECK_S
        return False


def _bindable(host: str, port: int) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # As asyncio.start_server and docker-proxy bind: a port left in TIME_WAIT is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True
