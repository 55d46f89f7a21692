"""Global CLI settings (face layer): options shared by every command, also read from RECONCILER_*."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GlobalSettings:
    marathon_url: str = "http://127.0.0.1:8080"
    marathon_user: str | None = None
    marathon_password: str | None = None
    marathon_token: str | None = None
    consul_url: str = "http://127.0.0.1:8500"
    consul_token: str | None = None
    timeout: float = 10.0
    insecure: bool = False

    def __repr__(self) -> str:  # never show credentials, even in a debugger or a traceback
        return f"GlobalSettings(marathon_url={self.marathon_url!r}, consul_url={self.consul_url!r})"
