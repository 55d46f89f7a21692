"""Reading a remote's answer within a size limit (shared by the adapters).

A client's timeout bounds each wait for the next bytes, and the read deadlines (metrics/bounded.py) the
whole wait, but neither bounds the size: an agent, a Prometheus, or anything answering on their address
may send an answer of any size, all of it held in memory and parsed. Here an answer is read as it
comes and given up once past its limit. The limit counts the bytes after decompression (a small gzip
body may unpack to gigabytes); httpx decompresses what one read brings at once, so an answer is given up
at most one decompressed read (about 64 MiB for a gzip of 64 KiB) past its limit.
"""

from __future__ import annotations

import httpx

MIB = 1024 * 1024
# The limit of an answer of Marathon's or Consul's API. Their largest answers grow with the cluster: a
# 10,000-app `/v2/apps` with its tasks is about 14 MB, Consul's health state of as many instances about
# 18 MB; 256 MiB is some 15 times either, while an answer that never ends stops there.
API_ANSWER_BYTES = 256 * MIB
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AnswerTooLarge(Exception):
    """An answer past its limit: `str()` is the reason a read failure shows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {mebibytes(limit)}")
        self.limit = limit


def mebibytes(size: int) -> str:
    """`8 MiB`, `0.5 MiB`: a limit as messages and docs name it."""
    return f"{size / MIB:g} MiB"


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The whole body of a response opened with `stream=True`; AnswerTooLarge once it passes `limit` bytes,
    at once when its Content-Length already says so. The caller closes the response (`client.stream`)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit and not response.headers.get("content-encoding"):
        raise AnswerTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def bounded_response(response: httpx.Response, limit: int) -> httpx.Response:
    """The answer of a response opened with `stream=True`, read within `limit` (AnswerTooLarge past it) and
    closed: a response holding the decompressed body, as `client.request` would have answered."""
    try:
        content = await read_bounded(response, limit)
    finally:
        await response.aclose()
    headers = [(key, value) for key, value in response.headers.multi_items() if key.lower() not in _FRAMING]
    return httpx.Response(response.status_code, headers=headers, content=content, request=response.request)
