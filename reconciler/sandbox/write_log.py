"""The writes a sandbox received, with the client's User-Agent (sandbox layer, test introspection).

Not part of Marathon's or Consul's API: tests read it in process to tell which replica wrote what,
and when (a controller names itself in its User-Agent). Bounded, oldest first.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from aiohttp import web

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Write:
    at: float  # time.monotonic() when the answer was ready
    method: str
    path: str
    user_agent: str
    status: int


class WriteLog:
    def __init__(self, limit: int = 20_000) -> None:
        self._writes: deque[Write] = deque(maxlen=limit)

    def record(self, request: web.Request, status: int) -> None:
        if request.method in READ_METHODS or request.path.startswith("/_sandbox/"):
            return
        self._writes.append(Write(time.monotonic(), request.method, request.path,
                                  request.headers.get("User-Agent", ""), status))

    def writes(self) -> list[Write]:
        return list(self._writes)
