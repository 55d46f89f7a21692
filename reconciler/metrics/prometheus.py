"""Prometheus instant queries (layer 3 adapter): `GET /api/v1/query?query=...`.

A vector answer is summed into one number (the total the autoscaler compares with `value`, or divides
by the task count for `averageValue`); a scalar answer is taken as is. A query Prometheus refuses, one
that does not answer, and an empty vector (no series: a target gone, a label mistyped) are a metric
that could not be read: None, so a scale-down waits (core/autoscale.py), as the HPA's external metrics
client refuses an empty answer ("no metrics returned", pkg/controller/podautoscaler/metrics/client.go).
An answer past its size limit could not be read either; it is given up as it comes (answer_size.py).
"""

from __future__ import annotations

import json
import math
from typing import Any

import httpx

from reconciler.answer_size import MIB, AnswerTooLarge, read_bounded
from reconciler.errors import RemoteRejected, RemoteUnavailable

# A series of a vector answer is about 150 bytes: 32 MiB is some 200,000 series, far more than a query the
# autoscaler sums should match (Prometheus' own --query.max-samples is 50 million, so it may send gigabytes).
ANSWER_BYTES = 32 * MIB


def value_of(body: Any) -> float:
    """The number in a successful `/api/v1/query` answer (vector summed, scalar as is)."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(f"query failed: {error or 'no success status'}")
    data: dict[str, Any] = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result") or []
    if kind == "scalar":
        return _number(result[1])
    if kind == "vector" and not result:
        raise ValueError("the query returned no series (append `or vector(0)` if no series means 0)")
    if kind == "vector":
        return float(sum(_number(sample["value"][1]) for sample in result))
    raise ValueError(f"unsupported result type {kind!r}: write a query that yields a vector or a scalar")


def _number(text: Any) -> float:
    value = float(text)
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"the query yielded {text}")
    return value


class PrometheusQueries:
    """Answers instant queries against one Prometheus server."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, *, answer_bytes: int = ANSWER_BYTES) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._answer_bytes = answer_bytes
        self.last_error: str | None = None

    async def query(self, expression: str) -> float | None:
        """The query's value now; None when it could not be read (the reason is in `last_error`)."""
        try:
            value = await self.get_query(expression)
        except (RemoteUnavailable, RemoteRejected) as exc:
            self.last_error = str(exc)
            return None
        self.last_error = None
        return value

    async def get_query(self, expression: str) -> float:
        """`GET /api/v1/query`; raises a RemoteError when Prometheus fails or refuses the query."""
        url, status = f"{self._base}/api/v1/query", 0
        try:
            async with self._client.stream("GET", url, params={"query": expression}) as response:
                status = response.status_code
                if status >= 500:
                    raise RemoteUnavailable(f"Prometheus answered {status}", status=status)
                body = await read_bounded(response, self._answer_bytes)
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"Prometheus did not answer: {type(exc).__name__}") from exc
        except AnswerTooLarge as exc:
            raise RemoteRejected(f"Prometheus query {expression!r}: {exc}", status=status) from exc
        try:
            return value_of(json.loads(body))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RemoteRejected(f"Prometheus query {expression!r}: {exc}", status=status) from exc
