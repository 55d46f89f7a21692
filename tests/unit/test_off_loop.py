"""Large answers are decoded off the event loop: while the Marathon or Consul client decodes one (and while
the Consul read builds 1,000 instances or more), the loop runs other callbacks; a small one is decoded on
the loop; either way the result is the one decoding it inline gives."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from reconciler.consul import client as consul_client
from reconciler.consul.client import ConsulClient
from reconciler.consul.translate import check_states_of_json
from reconciler.core.registry import MANAGED_TAG
from reconciler.engine import consul_read
from reconciler.engine.consul_read import OFF_LOOP_CHECKS, read_consul
from reconciler.gc_pause import OFF_LOOP_BYTES, parsed_json_strictly
from reconciler.marathon import MarathonClient
from reconciler.marathon.app_memo import AppMemo
from tests.unit.marathon.test_marathon_app_memo import app

DEADLINE = 60.0  # seconds a decoding thread waits for the loop's callback: generous, under any load


class LoopWitness:
    """Wraps a decoding step so that each call records whether the event loop ran a callback while the step
    was under way: the step asks the loop for one and waits for it. On the loop's own thread the answer
    is no without waiting (the loop can run nothing while one of its callbacks runs)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.ran_meanwhile: list[bool] = []

    def wrap(self, step: Callable[..., Any]) -> Callable[..., Any]:
        def witnessed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() == self.loop_thread:
                self.ran_meanwhile.append(False)
            else:
                ran = threading.Event()
                self.loop.call_soon_threadsafe(ran.set)
                self.ran_meanwhile.append(ran.wait(DEADLINE))
            return step(*args, **kwargs)

        return witnessed


def marathon_answering(body: bytes) -> MarathonClient:
    return MarathonClient(
        "http://marathon.test:8080",
        transport=httpx.MockTransport(
            lambda request: httpx.Response(200, content=body if request.url.path == "/v2/apps" else b"[]")
        ),
    )


@pytest.mark.parametrize(("apps", "off_loop"), [(400, True), (3, False)])
async def test_marathon_decodes_a_large_apps_answer_off_the_loop_and_a_small_one_on_it(
    apps: int, off_loop: bool
) -> None:
    raw = [app(f"/e/app-{n}") for n in range(apps)]
    body = json.dumps({"apps": raw}).encode()
    assert (len(body) >= OFF_LOOP_BYTES) is off_loop
    witness = LoopWitness()
    async with marathon_answering(body) as client:
        client._apps.translate = witness.wrap(client._apps.translate)  # type: ignore[method-assign]
        observed = await client.observe()
    assert witness.ran_meanwhile == [off_loop]
    assert observed.apps == AppMemo(remember=False).translate(json.loads(body)["apps"])


def check(n: int) -> dict[str, Any]:
    return {
        "Node": f"node-{n % 3}", "CheckID": f"service:web.{n}", "Name": "Service 'web' check", "Notes": "",
        "Status": "passing" if n % 7 else "critical", "Output": f"HTTP GET http://127.0.0.1:{20000 + n}/health",
        "ServiceID": f"web.{n}", "ServiceName": "web", "ServiceTags": [MANAGED_TAG], "Type": "http",
        "CreateIndex": 10 + n, "ModifyIndex": 10 + n,
    }


def service(n: int) -> dict[str, Any]:
    return {"ID": f"web.{n}", "Service": "web", "Tags": [MANAGED_TAG], "Port": 20000 + n, "Address": "", "Meta": {}}


def consul_answering(checks: int) -> httpx.MockTransport:
    """A Consul agent of three nodes holding `checks` instances, each with one check."""
    nodes = [{"Node": f"node-{n}", "Address": f"127.0.0.{n + 2}"} for n in range(3)]
    answers: dict[str, Any] = {
        "/v1/catalog/nodes": nodes,
        "/v1/catalog/services": {"web": [MANAGED_TAG]},
        "/v1/health/state/any": [check(n) for n in range(checks)],
        "/v1/query": [],
    }
    for node in range(3):
        services = {f"web.{n}": service(n) for n in range(node, checks, 3)}
        answers[f"/v1/catalog/node/node-{node}"] = {"Node": nodes[node], "Services": services}
    return httpx.MockTransport(
        lambda request: httpx.Response(200, json=answers[request.url.path], headers={"X-Consul-Index": "42"})
    )


@pytest.mark.parametrize(("checks", "off_loop"), [(1500, True), (20, False)])
async def test_consul_decodes_a_large_health_answer_off_the_loop_and_a_small_one_on_it(
    checks: int, off_loop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = LoopWitness()
    monkeypatch.setattr(consul_client, "check_states_of_json", witness.wrap(check_states_of_json))
    async with ConsulClient("http://consul.test:8500", transport=consul_answering(checks)) as consul:
        answer = await consul._http.send("GET", "/v1/health/state/any")
        states, _ = await consul.get_check_states_since(0)
    assert (len(answer.content) >= OFF_LOOP_BYTES) is off_loop
    assert witness.ran_meanwhile == [off_loop]
    assert states == check_states_of_json(parsed_json_strictly(answer.content)[0])


@pytest.mark.parametrize(("checks", "off_loop"), [(OFF_LOOP_CHECKS, True), (OFF_LOOP_CHECKS - 1, False)])
async def test_the_consul_read_builds_many_instances_off_the_loop_and_few_on_it(
    checks: int, off_loop: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = LoopWitness()
    monkeypatch.setattr(consul_read, "instances_of_services", witness.wrap(consul_read.instances_of_services))
    monkeypatch.setattr(consul_read, "with_statuses", witness.wrap(consul_read.with_statuses))
    async with ConsulClient("http://consul.test:8500", transport=consul_answering(checks)) as consul:
        first = await read_consul(consul)
        assert first.catalog is not None
        # The checks moved, the catalog did not: the same instances, their statuses made again.
        moved = replace(first.catalog, checks_index=41)
        second = await read_consul(consul, moved)
    assert witness.ran_meanwhile == [off_loop, off_loop]
    instances = first.observation.instances
    assert len(instances) == checks and second.observation.instances == instances
    assert sum(instance.status == "critical" for instance in instances) == len(range(0, checks, 7))
