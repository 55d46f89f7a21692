"""Fixtures of the Marathon sandbox tests: an httpx client bound to the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox


@pytest.fixture
async def api(marathon_sandbox: MarathonSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=marathon_sandbox.url, timeout=10.0) as client:
        yield client
