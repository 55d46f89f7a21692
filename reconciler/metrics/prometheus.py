"""Prometheus instant queries (layer 3 adapter): `GET /api/v1/query?query=...`.

A vector answer is summed into one number (the total the autoscaler compares with `value`, or divides
by the task count for `averageValue`); a scalar answer is taken as is. A query Prometheus refuses, one
that does not answer, and an empty vector (no series: a target gone, a label mistyped) are a metric
that could not be read: None, so a scale-down waits (core/autoscale.py), as the HPA's external metrics
client refuses an empty answer ("no metrics returned", pkg/controller/podautoscaler/metrics/client.go).
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from reconciler.errors import RemoteRejected, RemoteUnavailable


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

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
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
        try:
            response = await self._client.get(f"{self._base}/api/v1/query", params={"query": expression})
        except httpx.HTTPError as exc:
            raise RemoteUnavailable(f"Prometheus did not answer: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise RemoteUnavailable(f"Prometheus answered {response.status_code}", status=response.status_code)
        try:
            return value_of(response.json())
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise RemoteRejected(f"Prometheus query {expression!r}: {exc}", status=response.status_code) from exc
