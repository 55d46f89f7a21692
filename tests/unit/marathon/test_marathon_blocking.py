"""The synchronous entry: a fresh client per call, closed afterwards, same requests as the async client."""

from __future__ import annotations

import httpx

from reconciler.marathon.blocking import observe, run_with_client


def test_observe_from_synchronous_code() -> None:
    routes = {
        "/v2/apps": {"apps": [{"id": "/e/web", "instances": 3}]},
        "/v2/deployments": [{"id": "d-1", "affectedApps": ["/e/web"]}],
    }
    counted: list[tuple[str, str]] = []
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=routes[request.url.path]))
    actual = observe("http://marathon.test:8080", transport=transport, on_request=lambda m, p: counted.append((m, p)))
    assert actual.apps["/e/web"].instances == 3
    assert [d.affected_apps for d in actual.deployments] == [("/e/web",)]
    assert sorted(counted) == [("GET", "/v2/apps"), ("GET", "/v2/deployments")]


def test_run_with_client_returns_the_action_result() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"leader": "127.0.0.1:8080"}))
    assert (
        run_with_client("http://marathon.test:8080", lambda c: c.get_leader(), transport=transport) == "127.0.0.1:8080"
    )
