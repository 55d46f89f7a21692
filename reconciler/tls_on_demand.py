"""The HTTP transport of a client whose URL is plain http:// (shared by the Marathon and Consul clients,
like errors.py: it imports no layer).

httpx prepares TLS for every client it builds, and loading the CA bundle is about 25 ms of a cold
command's CPU: spent for nothing when Marathon or Consul is reached over plain HTTP. `TlsOnDemand` sends
plain HTTP through a pool that never opens a TLS connection, and prepares TLS only when a request asks
for https (a standby redirecting the event stream to a leader reached over https).
"""

from __future__ import annotations

import ssl

import httpx


class TlsOnDemand(httpx.AsyncBaseTransport):
    """http:// through one connection pool; https:// through another, made (and its CA bundle loaded) on first use."""

    def __init__(self, *, verify: bool, limits: httpx.Limits) -> None:
        self._verify = verify
        self._limits = limits
        # This pool is handed only http:// requests; its TLS context trusts no certificate, so that even a
        # mistaken https request through it could never go unverified.
        self._plain = httpx.AsyncHTTPTransport(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), limits=limits)
        self._tls: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "https":
            return await self._plain.handle_async_request(request)
        if self._tls is None:
            self._tls = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits)
        return await self._tls.handle_async_request(request)

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._tls is not None:
            await self._tls.aclose()


def tls_on_demand(url: str, *, verify: bool, limits: httpx.Limits) -> TlsOnDemand | None:
    """The transport of a client of `url`: TlsOnDemand for plain http://, None (httpx's own) otherwise."""
    return TlsOnDemand(verify=verify, limits=limits) if httpx.URL(url).scheme == "http" else None
