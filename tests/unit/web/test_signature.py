"""X-Hub-Signature-256 checks: GitHub's documented test vector, and every way a signature is wrong."""

from __future__ import annotations

import pytest

from reconciler.web.signature import sign, signature_valid, token_valid

# GitHub's "Validating webhook deliveries" example: secret "It's a Secret to Everybody", payload
# "Hello, World!" gives this signature.
GITHUB_SECRET = b"It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_documented_example_verifies() -> None:
    assert sign(GITHUB_SECRET, GITHUB_BODY) == GITHUB_SIGNATURE
    assert signature_valid(GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE)
    assert signature_valid(GITHUB_SECRET, GITHUB_BODY, GITHUB_SIGNATURE.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize("header", [
    None, "", "sha256=", "sha1=" + GITHUB_SIGNATURE[7:], GITHUB_SIGNATURE[7:],
    GITHUB_SIGNATURE[:-1] + "0", GITHUB_SIGNATURE + "00", "sha256=" + "é" * 64,
])
def test_missing_malformed_or_wrong_signatures_are_refused(header: str | None) -> None:
    assert not signature_valid(GITHUB_SECRET, GITHUB_BODY, header)


def test_the_body_and_the_secret_both_count() -> None:
    assert not signature_valid(GITHUB_SECRET, GITHUB_BODY + b" ", GITHUB_SIGNATURE)
    assert not signature_valid(b"another secret", GITHUB_BODY, GITHUB_SIGNATURE)
    assert not signature_valid(b"", b"", sign(b"", b""))  # an empty secret never verifies anything


def test_gitlab_s_token_is_the_secret_itself() -> None:
    assert token_valid(GITHUB_SECRET, GITHUB_SECRET.decode())
    assert token_valid(GITHUB_SECRET, f" {GITHUB_SECRET.decode()}\t")  # as a proxy may fold it
    for header in (None, "", GITHUB_SECRET.decode()[:-1], GITHUB_SECRET.decode() + "x", "s\udce9cret"):
        assert not token_valid(GITHUB_SECRET, header)
    assert not token_valid(b"", "")  # an empty secret never verifies anything
