"""Fixtures of the Consul sandbox tests (the shared ones live in fixtures.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.sandbox.consul.fixtures import consul_sandbox, consul_sandbox_factory  # noqa: F401


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client
