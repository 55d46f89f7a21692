"""The git webhook's body over raw HTTP on loopback: what can be judged before the body is read is refused
before it is read (a declared length over the 25 MiB limit; with a secret, a delivery with neither
proof header, or GitLab's token wrong), the connection closed once answered; a chunked body is cut off
at the limit while it is read; a signed delivery just under the limit still triggers.

A client that asks before it sends the body (`Expect: 100-continue`, as curl does for bodies over 1 KiB)
gets those refusals in place of `100 Continue`, so it never sends the body; a valid delivery that asks
still gets `100 Continue` and triggers. Before, aiohttp answered `100 Continue` to every one of them, and
the client sent the body the refusal was meant to spare.

Before, each of these bodies was read (up to 25 MiB, buffered) before anything was judged: a sender
that declared a length and sent nothing held the request open, and aiohttp read and dropped what came
after a chunked body's limit for 10 more seconds ("lingering") before it closed the connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from reconciler.web.server import MAX_HOOK_BODY, HttpServer
from reconciler.web.signature import sign
from tests.e2e.test_web_server import SECRET, Controllerish

CHUNK = 1024 * 1024
SLACK = 16 * CHUNK  # what loopback's socket buffers take in before the sender sees the connection closed
ANSWER_WITHIN = 20.0  # generous: the answers come at once; before, they never came


@pytest.fixture
def controller() -> Controllerish:
    return Controllerish()


@pytest.fixture
async def address(controller: Controllerish) -> AsyncIterator[tuple[str, int]]:
    server = HttpServer(controller.hooks(SECRET), "127.0.0.1", 0)
    host, port = await server.start()
    try:
        yield host, port
    finally:
        await server.stop()


def head(length: int | None, **headers: str) -> bytes:
    lines = ["POST /hooks/git HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             "X-GitHub-Event: push", *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def answer_to_head(address: tuple[str, int], request: bytes) -> tuple[int, bytes]:
    """Sends only the request's head (its body never comes) and reads the answer to the end: the
    status, and what follows the head (empty when the server closes the connection after answering)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(ANSWER_WITHIN):
            status = int((await reader.readline()).split()[1])
            await reader.readuntil(b"\r\n\r\n")
            rest = await reader.read()  # to the end: the server closes
        return status, rest
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


REFUSED_FROM_HEAD = [
    (20 * CHUNK, {}, 401),  # no proof header at all
    (20 * CHUNK, {"X_Gitlab_Token": "guess"}, 401),  # GitLab's token is the secret itself: judged at once
    (MAX_HOOK_BODY + 1, {"X_Hub_Signature_256": "sha256=" + "0" * 64}, 413),  # declared over the limit
]


@pytest.mark.parametrize(("length", "headers", "status"), REFUSED_FROM_HEAD)
async def test_a_delivery_judged_from_its_head_is_refused_before_its_body(
    address: tuple[str, int], controller: Controllerish, length: int, headers: dict[str, str], status: int
) -> None:
    answered, rest = await answer_to_head(address, head(length, **headers))
    assert answered == status and b"error" in rest
    assert controller.pushes == []


async def status_line_to_head(address: tuple[str, int], request: bytes) -> bytes:
    """Sends only the request's head and reads the first line the server answers."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(ANSWER_WITHIN):
            return (await reader.readline()).rstrip()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(("length", "headers", "status"), REFUSED_FROM_HEAD)
async def test_a_client_that_expects_100_continue_gets_the_refusal_instead(
    address: tuple[str, int], controller: Controllerish, length: int, headers: dict[str, str], status: int
) -> None:
    first = await status_line_to_head(address, head(length, Expect="100-continue", **headers))
    assert first.startswith(f"HTTP/1.1 {status} ".encode()), first  # before: HTTP/1.1 100 Continue
    answered, rest = await answer_to_head(address, head(length, Expect="100-continue", **headers))
    assert answered == status and b"error" in rest  # the whole answer, the connection closed after it
    assert controller.pushes == []


async def test_a_valid_delivery_that_expects_100_continue_gets_it_and_triggers(
    address: tuple[str, int], controller: Controllerish
) -> None:
    body = json.dumps({"ref": "refs/heads/main", "padding": " " * 2048}).encode()
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(head(len(body), Expect="100-continue", X_Hub_Signature_256=sign(SECRET, body)))
        await writer.drain()
        async with asyncio.timeout(ANSWER_WITHIN):
            interim = await reader.readuntil(b"\r\n\r\n")
            writer.write(body)  # only once the server asked for it
            await writer.drain()
            final = (await reader.readline()).rstrip()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final == b"HTTP/1.1 202 Accepted"
    assert controller.pushes == ["webhook:push"]


async def test_a_chunked_body_is_cut_off_at_the_limit(address: tuple[str, int], controller: Controllerish) -> None:
    reader, writer = await asyncio.open_connection(*address)
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))  # read as it comes: a reset loses it after
    writer.write(head(None, X_Hub_Signature_256=sign(SECRET, b"")))
    chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
    sent = 0
    try:
        async with asyncio.timeout(120):  # bounded: at most 4 times the limit is offered
            with contextlib.suppress(ConnectionError):
                while sent < 4 * MAX_HOOK_BODY:  # a sender that does not stop at the answer
                    writer.write(chunk)
                    await writer.drain()
                    sent += CHUNK
            status = (await answer).split(b"\r\n")[0]
    finally:
        answer.cancel()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    assert status.startswith(b"HTTP/1.1 413")
    assert sent <= MAX_HOOK_BODY + SLACK  # the rest was never read: the connection closed at the limit
    assert controller.pushes == []


async def test_a_signed_delivery_just_under_the_limit_triggers(address: tuple[str, int],
                                                               controller: Controllerish) -> None:
    body = json.dumps({"ref": "refs/heads/main", "padding": ""}).encode()
    body = body.replace(b'""', b'"' + b" " * (MAX_HOOK_BODY - len(body)) + b'"')
    assert len(body) == MAX_HOOK_BODY
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(f"http://{address[0]}:{address[1]}/hooks/git", content=body,
                                 headers={"X-Hub-Signature-256": sign(SECRET, body), "X-GitHub-Event": "push"})
    assert (answer.status_code, controller.pushes) == (202, ["webhook:push"])
