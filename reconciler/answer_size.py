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
