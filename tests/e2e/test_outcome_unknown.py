"""A write whose answer is lost (engine layer, against the Marathon sandbox over loopback HTTP).

The transport below sends each request to the sandbox for real; for the first `PUT /v2/apps` it then
throws the answer away and raises what httpx raises when a server drops the connection before
answering. The cycle must report the write as of unknown outcome, observe again, and call it
succeeded only because the fresh observation shows it landed; never "failed".
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from reconciler.core.model import ActionKind, Outcome
from reconciler.core.outcomes import LANDED, NOT_SEEN
from reconciler.core.plan import PlanOptions
from reconciler.engine.cycle import CycleOptions, Reconciler
from reconciler.marathon import MarathonClient
from reconciler.sandbox.marathon import MarathonSandbox
from reconciler.spec import load_desired
from tests.sandbox.marathon.fixtures import fast_config

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class DroppingTransport(httpx.AsyncBaseTransport):
    """Loopback HTTP to the sandbox; the first bulk app write loses its answer (sent, or not even sent)."""

    def __init__(self, *, deliver: bool) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._deliver = deliver
        self.dropped = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and request.url.path == "/v2/apps" and not self.dropped:
            self.dropped += 1
            if self._deliver:
                response = await self._inner.handle_async_request(request)
                await response.aread()  # Marathon acted on it...
                await response.aclose()
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")  # ...we never hear
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(keep_event_history=False)) as started:
        yield started


@pytest.mark.parametrize("deliver", [True, False])
async def test_a_write_whose_answer_is_lost_is_settled_by_a_fresh_observation(
    sandbox: MarathonSandbox, deliver: bool
) -> None:
    desired = load_desired(PROJECT / "specs", env="integration")
    transport = DroppingTransport(deliver=deliver)
    async with MarathonClient(sandbox.url, transport=transport) as marathon:
        reconciler = Reconciler(lambda: desired, marathon, None, CycleOptions(plan=PlanOptions(env="integration")))
        result = await reconciler.cycle("test")
    assert transport.dropped == 1 and result.execution is not None
    creates = [a for a in result.execution.actions if a.kind == ActionKind.CREATE]
    assert len(creates) == len(desired.apps)
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        apps = {a["id"] for a in (await client.get("/v2/apps")).json()["apps"]}
    if deliver:
        assert apps == set(desired.apps)
        assert {(a.outcome, a.detail) for a in creates} == {(Outcome.SUCCEEDED, LANDED)}
        assert result.ok
    else:
        assert apps == set()
        assert {a.outcome for a in creates} == {Outcome.UNKNOWN}  # never "failed": nobody knows it did not land
        assert all(a.detail.endswith(NOT_SEEN) for a in creates)
        assert not result.ok
