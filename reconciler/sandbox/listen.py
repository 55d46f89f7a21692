"""What every sandbox listener shares (sandbox layer): the error when one cannot bind. The stop that
closes every connection a listener accepted, however late, is reconciler/listeners.py (the controller's
web server uses it too).
"""

from __future__ import annotations


class ListenError(OSError):
    """`what` (e.g. "Consul DNS") could not listen on `host:port`; errno as the bind gave it."""

    def __init__(self, what: str, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.what, self.host, self.port = what, host, port

    def __str__(self) -> str:
        return f"{self.what} on {self.host}:{self.port}: {self.strerror}"
