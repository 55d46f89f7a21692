"""Fixtures of the contract tests: counting the CA bundles TLS contexts load (httpx loads certifi's for
every verifying client it builds), for the clients that reach plain http:// without preparing TLS
(reconciler/tls_on_demand.py)."""

from __future__ import annotations

import ssl

import pytest


@pytest.fixture
def ca_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every CA bundle a TLS context loads from now on."""
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counted(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    return loads
