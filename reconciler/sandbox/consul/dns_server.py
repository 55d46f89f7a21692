"""Consul's DNS interface over UDP and TCP on loopback (sandbox layer, Consul emulator).

The listeners only: what an answer holds is `dns_answer.DnsAnswerer`'s, how UDP answers are trimmed is
`dns_trim`'s. A malformed datagram is dropped, as a resolver would.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import cast

import dns.exception
import dns.message

from reconciler.listeners import StreamConnections, close_server, count_late_accepts, opened_or_undone
from reconciler.sandbox.consul.dns_answer import DnsAnswerer
from reconciler.sandbox.consul.state import ConsulState
from reconciler.sandbox.listen import ListenError


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, answerer: DnsAnswerer) -> None:
        self.answerer = answerer
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError):
            return  # a malformed datagram is dropped, as a resolver would
        if self.transport is not None:
            self.transport.sendto(self.answerer.answer(query, udp=True).to_wire(max_size=65535), addr)


class DnsServer:
    """UDP and TCP listeners on one loopback port answering for the shared state."""

    def __init__(self, state: ConsulState, host: str, port: int, enable_truncate: bool = False) -> None:
        self.answerer = DnsAnswerer(state, enable_truncate=enable_truncate)
        self.host, self.port = host, port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tcp_connections = StreamConnections()

    async def start(self) -> None:
        """Bind TCP first (port 0 picks a free one), then UDP on the same number.

        With port 0 a UDP clash on the number TCP got is retried on a new number (a few times);
        with a fixed port it is a ListenError. A failed start leaves nothing open.
        """
        wanted, attempts = self.port, 5 if self.port == 0 else 1
        for attempt in range(attempts):
            try:
                self._tcp = count_late_accepts(await opened_or_undone(asyncio.start_server(
                    self._tcp_connections.serving(self._serve_tcp), self.host, wanted), close_server))
            except OSError as exc:
                raise ListenError("Consul DNS (TCP)", self.host, wanted, exc) from exc
            self.port = self._tcp.sockets[0].getsockname()[1]
            try:
                self._udp, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: _UdpProtocol(self.answerer), local_addr=(self.host, self.port)
                )
                return
            except OSError as exc:
                await self._close_tcp()
                if attempt == attempts - 1:
                    raise ListenError("Consul DNS (UDP)", self.host, self.port, exc) from exc
            except asyncio.CancelledError:
                await asyncio.shield(self._close_tcp())  # cancelled between the two binds: TCP is undone too
                raise

    async def _close_tcp(self) -> None:
        if self._tcp is not None:
            tcp, self._tcp = self._tcp, None
            tcp.close()
            await tcp.wait_closed()

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            await self._tcp_connections.close(self._tcp)  # the open queries' connections too

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, dns.exception.DNSException):
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                query = dns.message.from_wire(await reader.readexactly(length))
                wire = self.answerer.answer(query, udp=False).to_wire(max_size=65535)
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
