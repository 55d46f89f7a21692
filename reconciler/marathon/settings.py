"""How to reach Marathon: credentials and per-call-class timeouts (adapter layer).

Credentials are either HTTP basic (open-source Marathon's `--http_credentials`) or a DC/OS ACS token
sent as `Authorization: token=<jwt>`. Their repr never shows a secret.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from reconciler.errors import UsageError
from reconciler.redaction import redact_url, secret_forms, split_userinfo

SECRET_MASK = "***"


@dataclass(frozen=True)
class MarathonAuth:
    user: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:
        password = SECRET_MASK if self.password else None
        token = SECRET_MASK if self.token else None
        return f"MarathonAuth(user={self.user!r}, password={password!r}, token={token!r})"

    __str__ = __repr__

    def headers(self) -> dict[str, str]:
        """The Authorization header; a token wins over basic credentials (DC/OS ignores basic auth)."""
        if self.token:
            return {"Authorization": f"token={self.token}"}
        if self.user is not None:
            pair = f"{self.user}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
        return {}

    def secrets(self) -> tuple[str, ...]:
        """Every form of every secret value, for scrubbing text that might echo one back."""
        return secret_forms(user=self.user, password=self.password, tokens=(self.token,))


@dataclass(frozen=True)
class Timeouts:
    """Seconds per call class: reads (GET), writes (which may wait on Marathon's group lock), the
    event stream (None: no read timeout, the stream is idle between events), and connecting."""

    read: float = 10.0
    write: float = 30.0
    events: float | None = None
    connect: float = 5.0

    def for_read(self) -> httpx.Timeout:
        return httpx.Timeout(self.read, connect=self.connect)

    def for_write(self) -> httpx.Timeout:
        return httpx.Timeout(self.write, connect=self.connect)

    def for_events(self) -> httpx.Timeout:
        return httpx.Timeout(self.events, connect=self.connect, write=self.read, pool=self.connect)


def split_credentials(url: str) -> tuple[str, MarathonAuth | None]:
    """`url` without its userinfo, and the credentials it carried (`http://user:pw@host` form)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid Marathon URL {redact_url(url)!r}", hint="use http(s)://host:port")
    clean, user, password = split_userinfo(url)
    return clean.rstrip("/"), MarathonAuth(user=user, password=password) if user is not None else None
