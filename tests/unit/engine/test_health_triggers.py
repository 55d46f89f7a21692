"""The controller's Consul watch: a check leaving passing (or coming, going) wakes a cycle at once;
checks that only recovered to passing wake one cycle together, `recovery_delay` after the first."""

from __future__ import annotations

import asyncio
import time

import httpx

from reconciler.consul.blocking import BlockingState, duration_seconds
from reconciler.consul.client import ConsulClient
from reconciler.core.registry import MANAGED_TAG
from reconciler.engine.triggers import TokenBucket, consul_health_changes, only_recoveries

Check = dict[str, object]


def check(check_id: str, status: str) -> Check:
    return {"Node": "n1", "CheckID": check_id, "Status": status, "ServiceID": check_id, "ServiceTags": [MANAGED_TAG]}


class ScriptedHealth:
    """`GET /v1/health/state/any` answering a script, one answer per index; past its end it holds the
    read for the `wait` asked (a blocking query with nothing new) and answers the last state again."""

    def __init__(self, *answers: list[Check]) -> None:
        self.answers = list(answers)
        self.index = 0
        self.waits: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/health/state/any"
        block = BlockingState(int(request.url.params.get("index", "0")), request.url.params.get("wait", ""))
        if block.index >= len(self.answers):
            self.waits.append(block.wait)
            await asyncio.sleep(duration_seconds(block.wait))
        self.index = min(self.index + 1, len(self.answers))
        return httpx.Response(200, json=self.answers[self.index - 1], headers={"X-Consul-Index": str(self.index)})


async def reasons(health: ScriptedHealth, count: int, recovery_delay: float) -> list[tuple[str, float]]:
    """The first `count` reasons the watch yields, each with the seconds since the watch started."""
    started = time.monotonic()
    found: list[tuple[str, float]] = []
    async with ConsulClient("http://127.0.0.1:8500", transport=httpx.MockTransport(health), backoff=0.0) as consul:
        watch = consul_health_changes(consul, wait="30s", bucket=TokenBucket(1000.0, 1000),
                                      recovery_delay=recovery_delay)
        async for reason in watch:
            found.append((reason, time.monotonic() - started))
            if len(found) == count:
                break
    return found


def test_only_a_move_back_to_passing_is_a_recovery() -> None:
    before = frozenset({("n1", "a", "critical"), ("n1", "b", "passing")})
    assert only_recoveries(before, frozenset({("n1", "a", "passing"), ("n1", "b", "passing")}))
    assert not only_recoveries(before, frozenset({("n1", "a", "warning"), ("n1", "b", "passing")}))
    assert not only_recoveries(before, frozenset({("n1", "a", "critical"), ("n1", "b", "critical")}))
    assert not only_recoveries(before, frozenset({("n1", "b", "passing")}))  # a check went
    assert not only_recoveries(before, before | {("n1", "c", "passing")})  # a check came


async def test_a_check_turning_critical_wakes_a_cycle_at_once() -> None:
    health = ScriptedHealth([check("a", "passing")], [check("a", "critical")])
    (reason, at), = await asyncio.wait_for(reasons(health, 1, recovery_delay=60.0), 20)
    assert reason == "consul:health" and at < 10  # not held back by the recovery delay


async def test_recoveries_alone_share_one_cycle_after_the_delay() -> None:
    both_critical = [check("a", "critical"), check("b", "critical")]
    health = ScriptedHealth(both_critical, [check("a", "passing"), check("b", "critical")],
                            [check("a", "passing"), check("b", "passing")])
    (reason, at), = await asyncio.wait_for(reasons(health, 1, recovery_delay=0.5), 20)
    assert reason == "consul:health" and at >= 0.5
    # the read held while the recoveries waited asked Consul for no more than the delay left
    assert health.waits and duration_seconds(health.waits[0]) <= 0.5


async def test_a_failure_after_a_recovery_is_not_held_back() -> None:
    health = ScriptedHealth([check("a", "critical"), check("b", "passing")],
                            [check("a", "passing"), check("b", "passing")],
                            [check("a", "passing"), check("b", "critical")])
    (reason, at), = await asyncio.wait_for(reasons(health, 1, recovery_delay=60.0), 20)
    assert reason == "consul:health" and at < 10


async def test_a_check_not_ours_wakes_nothing_and_a_node_check_does() -> None:
    theirs = {"Node": "n1", "CheckID": "service:db.1", "ServiceID": "db.1", "ServiceTags": ["prod"]}
    node = {"Node": "n1", "CheckID": "serfHealth"}
    health = ScriptedHealth([check("a", "passing"), {**theirs, "Status": "passing"}, {**node, "Status": "passing"}],
                            [check("a", "passing"), {**theirs, "Status": "critical"}, {**node, "Status": "passing"}],
                            [check("a", "passing"), {**theirs, "Status": "critical"}, {**node, "Status": "critical"}])
    (reason, _), = await asyncio.wait_for(reasons(health, 1, recovery_delay=60.0), 20)
    assert reason == "consul:health" and health.index == 3  # the first change (not ours) woke nothing
