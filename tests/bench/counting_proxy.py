"""A small HTTP proxy on loopback that counts the requests passing through it (benchmarks only).

`async with CountingProxy(upstream_url) as proxy:` point a client at `proxy.url`; `proxy.requests`
counts `METHOD /first/path/segments`. Answers are streamed through unchanged (an event stream works),
so the proxy measures any client, ours or a third-party tool, without touching it.
"""

from __future__ import annotations

from collections import Counter
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web

# Hop-by-hop headers and those aiohttp sets itself; everything else goes through as it came.
_DROPPED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length"})


def request_key(method: str, path: str, depth: int = 3) -> str:
    """`GET /v2/apps` for `GET /v2/apps/shop/web`: enough to group without one key per app."""
    return f"{method} " + "/".join(path.split("/")[: depth + 1])


class LoopbackProxy:
    """A proxy to `upstream` on a free loopback port, `async with` it; subclasses say what `_forward` does.
    `DECOMPRESS`: whether the upstream's answers are decompressed on their way (a recording keeps them)."""

    DECOMPRESS = False

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=self.DECOMPRESS
        )
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


class CountingProxy(LoopbackProxy):
    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.requests: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        self.requests[request_key(request.method, request.path)] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        body = await request.read()
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        ) as upstream:
            answer = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED
            })
            await answer.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await answer.write(chunk)
                await answer.write_eof()
            except ConnectionResetError:
                pass  # the client went away (a controller stopping leaves its event stream): nothing to forward to
            return answer
