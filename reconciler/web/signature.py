"""Webhook deliveries' proofs (face layer, HTTP server): GitHub's `X-Hub-Signature-256`, GitLab's token.

The signature is `sha256=` followed by the hex HMAC-SHA256 of the raw request body under the shared
secret (GitHub's "Validating webhook deliveries"; Gitea sends the same header, over the body when its
content type is JSON). GitLab signs nothing: it sends the secret itself in `X-Gitlab-Token`. Every
comparison is constant-time; a missing, malformed or wrong proof is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
TOKEN_HEADER = "X-Gitlab-Token"
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


def token_valid(secret: bytes, header: str | None) -> bool:
    """True only for an `X-Gitlab-Token` that is the secret."""
    if not secret or header is None:
        return False
    try:
        given = header.strip().encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(secret, given)


def delivery_valid(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """A signed delivery is judged by its signature alone; one without is judged by GitLab's token."""
    if SIGNATURE_HEADER in headers:
        return signature_valid(secret, body, headers.get(SIGNATURE_HEADER))
    return token_valid(secret, headers.get(TOKEN_HEADER))
