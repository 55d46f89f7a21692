"""Credentials kept out of every printed or logged text (shared by every layer, like errors.py).

`redact_url` is the one way a Marathon or Consul URL is shown; `split_userinfo` takes the credentials
out of a URL before a client uses it; `redact` scrubs text that may echo a secret back (a remote's
error body, an exception): URL userinfo, a URL's or JDBC string's password parameters (`?password=`,
`&sslpassword=`, `;password=`), authorization headers in text or JSON form (Basic, Bearer, DC/OS `token=`,
X-Consul-Token), and every form of the known secret values (`secret_forms`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MASK = "***"

# `scheme://user:password@` anywhere in a text; the userinfo is what goes.
# Greedy up to the last `@` before the path, as URL parsers split it: `p@ss` in a password goes too.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s\"'<>]+@")
# A URL query or JDBC parameter whose name says it is a password (`?password=`, `&sslpassword=`,
# `;password=`): libpq, JDBC drivers and many clients take the password there instead of the userinfo.
# A `:`, `,`, `.` or `)` ending the value before a space or the end is the sentence's, not the password's
# (`...?password=***: OperationalError`, where the store already masked it).
_PARAMETER = re.compile(
    r"(?i)(?P<name>[?&;][a-z_.-]*(?:password|passwd|pwd)=)(?P<value>[^&;#\s\"'<>]+?)(?=[:,.)]?(?:[&;#\s\"'<>]|$))"
)
# A header named in text or JSON (`Authorization: Basic x`, `"X-Consul-Token": ["x"]`, `token=x`).
_HEADER = re.compile(
    r"(?i)(?P<name>\b(?:proxy-)?authorization|\bx-consul-token|\bx-vault-token)"
    r"(?P<sep>\"?'?\s*[:=]\s*\[?\s*\"?'?)"
    r"(?P<value>(?:(?:basic|bearer|digest|token)[ =]+)?[^\s\"',;\]]+)"
)
# A credential scheme followed by its value, wherever it stands (`Bearer x`, DC/OS `token=x`).
# Case-sensitive, as clients send them, so that prose ("basic auth", `basic realm=`) stays readable.
_SCHEME = re.compile(
    r"(?P<scheme>\b(?:Basic|Bearer|BASIC|BEARER) +(?!realm)|\btoken=)(?P<value>[A-Za-z0-9._~+/=:-]{6,})"
)


def redact_url(url: str) -> str:
    """`url` as it may be shown: its userinfo (`user:password@`) and password parameters masked."""
    if "://" not in url and "@" in url:  # no scheme: everything before the host may be a secret
        url = f"{MASK}@{url.rpartition('@')[2]}"
    url = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", url)
    return _PARAMETER.sub(lambda m: f"{m.group('name')}{MASK}", url)


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """`url` without its userinfo, and the user and password it carried (decoded), if any."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    password = unquote(parts.password) if parts.password is not None else None
    return clean, unquote(parts.username), password


def secret_forms(*, user: str | None = None, password: str | None = None, tokens: Iterable[str | None] = ()) -> (
    tuple[str, ...]
):
    """Every form in which a remote may echo these secrets: raw, URL-encoded, JSON-escaped, and the
    base64 of `user:password` that HTTP basic auth sends. Longest first, so no form is half-replaced."""
    values = [v for v in (password, *tokens) if v]
    forms = set(values)
    for value in values:
        forms.add(quote(value, safe=""))
        forms.add(json.dumps(value)[1:-1])
    if user is not None and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        forms.update({pair, pair.rstrip("=")})
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL userinfo, password parameters, authorization header values and each of `secrets`
    masked."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _PARAMETER.sub(lambda m: f"{m.group('name')}{MASK}", text)
    text = _HEADER.sub(lambda m: f"{m.group('name')}{m.group('sep')}{MASK}", text)
    return _SCHEME.sub(lambda m: f"{m.group('scheme')}{MASK}", text)
