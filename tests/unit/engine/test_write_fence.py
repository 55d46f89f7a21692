"""The leader's write fence (engine layer): asked at the moment each write would go out, not once per
cycle. The fence here lapses as soon as the first write lands, as a leader's lock does when its
beats stop mid-cycle: every later write comes back skipped ("not the leader") and is never sent.
"""

from __future__ import annotations

import httpx

from reconciler.consul.client import ConsulClient
from reconciler.core.model import Action, ActionKind, Outcome, Plan
from reconciler.engine.consul_execute import execute_consul
from reconciler.engine.execute import NOT_LEADER, ExecuteOptions, execute_plan
from reconciler.marathon import MarathonClient


class LapsingFence:
    """The leader lock, lost the moment the first write reaches the server."""

    def __init__(self) -> None:
        self.leading = True
        self.asked = 0

    def may_write(self) -> bool:
        self.asked += 1
        return self.leading


def transport(seen: list[str], fence: LapsingFence, body: dict[str, object]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        fence.leading = False
        return httpx.Response(200, json=body)

    return httpx.MockTransport(answer)


async def test_marathon_writes_after_the_lock_lapsed_are_skipped_and_never_sent() -> None:
    plan = Plan(actions=(
        Action(kind=ActionKind.SCALE, target="/a/web", reason="r", env="a", body={"id": "/a/web", "instances": 2}),
        Action(kind=ActionKind.DELETE, target="/a/old", reason="pruned", env="a"),
        Action(kind=ActionKind.KILL_TASK, target="a_web.1", reason="critical", env="a"),
        Action(kind=ActionKind.SCALE, target="/b/web", reason="r", env="b", body={"id": "/b/web", "instances": 3}),
    ))
    seen: list[str] = []
    fence = LapsingFence()
    body = {"deploymentId": "d-1", "version": "2026-01-01T00:00:00.000Z"}
    async with MarathonClient("http://marathon.test", transport=transport(seen, fence, body)) as marathon:
        execution = await execute_plan(plan, marathon, ExecuteOptions(wait=False, may_write=fence.may_write))
    assert seen == ["PUT /v2/apps"]  # the first batch only
    outcomes = [(a.outcome, a.detail) for a in execution.actions]
    assert outcomes[0] == (Outcome.SUCCEEDED, "deployment d-1")
    assert outcomes[1:] == [(Outcome.SKIPPED, NOT_LEADER)] * 3
    assert fence.asked == 4  # per write: the batch, the delete, the kills, the other env's batch


async def test_consul_writes_after_the_lock_lapsed_are_skipped_and_never_sent() -> None:
    registration = {"ID": "a_web.1", "Name": "web", "Address": "127.0.0.2", "Port": 31000}
    plan = Plan(actions=(
        Action(kind=ActionKind.DEREGISTER, target="a_web.0", reason="gone",
               body={"ServiceID": "a_web.0", "Node": "agent-1", "AgentAddress": "127.0.0.2"}),
        Action(kind=ActionKind.REGISTER, target="a_web.1", reason="r", body=registration),
        Action(kind=ActionKind.QUERY_DELETE, target="web.gone", reason="gone", body={"ID": "q-1", "Name": "web.gone"}),
    ))
    seen: list[str] = []
    fence = LapsingFence()
    async with ConsulClient("http://127.0.0.1:8500", transport=transport(seen, fence, {})) as consul:
        done = await execute_consul(plan, consul, may_write=fence.may_write)
    assert seen == ["PUT /v1/agent/service/deregister/a_web.0"]
    assert [a.outcome for a in done.actions] == [Outcome.SUCCEEDED, Outcome.SKIPPED, Outcome.SKIPPED]
    assert {a.detail for a in done.actions[1:]} == {NOT_LEADER}


async def test_without_a_fence_every_write_goes_out() -> None:
    plan = Plan(actions=(
        Action(kind=ActionKind.SCALE, target="/a/web", reason="r", env="a", body={"id": "/a/web", "instances": 2}),
        Action(kind=ActionKind.DELETE, target="/a/old", reason="pruned", env="a"),
    ))
    seen: list[str] = []
    body = {"deploymentId": "d-1", "version": "2026-01-01T00:00:00.000Z"}
    async with MarathonClient("http://marathon.test", transport=transport(seen, LapsingFence(), body)) as marathon:
        execution = await execute_plan(plan, marathon, ExecuteOptions(wait=False))
    assert seen == ["PUT /v2/apps", "DELETE /v2/apps/a/old"]
    assert {a.outcome for a in execution.actions} == {Outcome.SUCCEEDED}
