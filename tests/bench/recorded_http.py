"""Recorded HTTP answers for benchmarks: a recording proxy and a static server that replays them.

`RecordingProxy(upstream)` forwards every request and keeps the last answer (status, headers, body) of
each `METHOD path?query`; `save_recording` writes them to a folder. `python -m tests.bench.recorded_http
FOLDER` serves that folder on loopback, in its own process, so a client can be timed against a server
that answers at once and whose cost is not in the client's process. Benchmarks only.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tests.bench.counting_proxy import LoopbackProxy

# Hop-by-hop headers and those aiohttp sets itself; the rest (X-Consul-Index above all) is kept.
_DROPPED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length", "date",
                      "content-encoding"})


@dataclass(frozen=True)
class Recorded:
    status: int
    headers: dict[str, str]
    body: bytes


def key_of(method: str, path_qs: str) -> str:
    return f"{method} {path_qs}"


class RecordingProxy(LoopbackProxy):
    """`async with RecordingProxy(upstream) as proxy:` point a client at `proxy.url`; `proxy.answers` holds
    the last answer of each request key."""

    DECOMPRESS = True

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.answers: dict[str, Recorded] = {}

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        body = await request.read()
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        ) as upstream:
            content = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED}
        self.answers[key_of(request.method, request.path_qs)] = Recorded(upstream.status, kept, content)
        return web.Response(status=upstream.status, headers=kept, body=content)


def save_recording(folder: Path, answers: dict[str, Recorded]) -> None:
    """One body file per answer and an index.json of key -> status, headers, body file."""
    folder.mkdir(parents=True, exist_ok=True)
    index = {}
    for n, (key, answer) in enumerate(sorted(answers.items())):
        name = f"{n:05d}.body"
        (folder / name).write_bytes(answer.body)
        index[key] = {"status": answer.status, "headers": answer.headers, "body": name}
    (folder / "index.json").write_text(json.dumps(index, indent=1))


def load_recording(folder: Path) -> dict[str, Recorded]:
    index = json.loads((folder / "index.json").read_text())
    return {key: Recorded(entry["status"], entry["headers"], (folder / entry["body"]).read_bytes())
            for key, entry in index.items()}


async def serve(folder: Path) -> None:
    """Serve a recording until killed; prints the port once listening. An unrecorded request gets 599."""
    answers = load_recording(folder)

    async def answer(request: web.Request) -> web.Response:
        found = answers.get(key_of(request.method, request.path_qs))
        if found is None:
            return web.Response(status=599, text=f"not recorded: {request.method} {request.path_qs}")
        return web.Response(status=found.status, headers=found.headers, body=found.body)

    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
