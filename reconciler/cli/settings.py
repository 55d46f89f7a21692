"""Global CLI settings (face layer): options shared by every command, also read from RECONCILER_*."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from reconciler.errors import UsageError
from reconciler.redaction import redact_url, secret_forms, split_userinfo


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
    log_level: str | None = None  # None: not given (each command has its default)
    log_format: str = "text"

    def __repr__(self) -> str:  # never show credentials, even in a debugger or a traceback
        marathon, consul = redact_url(self.marathon_url), redact_url(self.consul_url)
        return f"GlobalSettings(marathon_url={marathon!r}, consul_url={consul!r})"


def secrets_of(settings: GlobalSettings) -> tuple[str, ...]:
    """Every form of every credential in the settings: flags, and the passwords inside the URLs."""
    _, marathon_user, marathon_password = split_userinfo(settings.marathon_url)
    _, consul_user, consul_password = split_userinfo(settings.consul_url)
    flags = secret_forms(
        user=settings.marathon_user, password=settings.marathon_password, tokens=(settings.marathon_token,)
    )
    return (
        *flags,
        *secret_forms(user=marathon_user, password=marathon_password),
        *secret_forms(user=consul_user, password=consul_password, tokens=(settings.consul_token,)),
    )


def check_url(option: str, url: str) -> str:
    """The URL when it is a usable http(s) URL; otherwise a UsageError that never repeats its userinfo."""
    try:
        parts = urlsplit(url)
        port = parts.port  # parses the port: ValueError when it is not a number in 0-65535
    except ValueError as exc:
        raise UsageError(f"{option}: not a valid URL: {exc}", hint="write it as http://host:port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        where = f"{parts.hostname or ''}{f':{port}' if port else ''}"
        shown = f"{parts.scheme}://{where}" if parts.scheme else "(no scheme)"
        raise UsageError(f"{option}: not an http(s) URL with a host: {shown}", hint="write it as http://host:port")
    return url


def check_seconds(option: str, seconds: float) -> float:
    """`seconds` when it is a finite number above 0; otherwise a UsageError naming the flag (a timeout of 0
    would fail every request, a negative or `nan` one is no time at all, `inf` waits forever)."""
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{option} {seconds:g}: not a positive number of seconds",
                         hint="give a number of seconds above 0, such as 10 or 2.5")
    return seconds


def check_credentials(user: str | None, password: str | None, token: str | None) -> None:
    """Marathon's credential flags that would be silently ignored are a UsageError: a password without a user
    is never sent, and a token wins over a user and password (DC/OS ignores basic auth)."""
    if password is not None and user is None:
        raise UsageError("--marathon-password is given without --marathon-user: it would never be sent",
                         hint="add --marathon-user (RECONCILER_MARATHON_USER)")
    if token is not None and user is not None:
        raise UsageError("--marathon-token and --marathon-user are both given: the token would win and the user"
                         " and password be ignored", hint="give one of them (a DC/OS cluster takes the token)")
