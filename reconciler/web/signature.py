"""GitHub-style webhook signatures (face layer, HTTP server): `X-Hub-Signature-256` checks.

The header is `sha256=` followed by the hex HMAC-SHA256 of the raw request body under the shared
secret (GitHub's "Validating webhook deliveries"; Gitea and GitLab's GitHub-compatible mode send the
same). The comparison is constant-time; a missing, malformed or wrong signature is refused.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value a sender with `secret` puts on `body`."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for a `sha256=<hex>` header that matches `body` under `secret`."""
    if not secret or not header or not header.startswith(_PREFIX):
        return False
    expected = sign(secret, body).encode("ascii")
    try:
        given = header.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given)
