"""Agents, offers and constraints in the Marathon sandbox: loopback hosts, port ranges, the queue
with reject reasons, hostname constraints, and agent loss with replacement elsewhere."""

from __future__ import annotations

from typing import Any

import httpx

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import events_of, until


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "run", "cpus": 0.5, "mem": 64, "instances": 1, **fields}


async def test_tasks_run_on_agent_addresses_with_ports_from_the_range(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=app("/ports", instances=3, portDefinitions=[{"port": 0}, {"port": 0}]))
    await marathon_sandbox.wait_idle()
    tasks = (await api.get("/v2/tasks")).json()["tasks"]
    assert {t["host"] for t in tasks} <= {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    for task in tasks:
        assert len(task["ports"]) == 2 and all(31000 <= p <= 32000 for p in task["ports"])
        assert task["ipAddresses"] == [{"ipAddress": task["host"], "protocol": "IPv4"}]
        # The simulated task answers HTTP on its address and port.
        answer = await api.get(f"http://{task['host']}:{task['ports'][0]}/anything")
        assert answer.status_code == 200


async def test_task_that_fits_nowhere_waits_in_the_queue_with_reasons(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=app("/huge", cpus=64))
    [entry] = await until(lambda: _queue(api), "queued app")
    assert entry["app"]["id"] == "/huge" and entry["count"] == 1
    reasons = {r["reason"]: r for r in entry["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert reasons["InsufficientCpus"]["declined"] == 3 and reasons["InsufficientMemory"]["declined"] == 0
    assert entry["processedOffersSummary"]["unusedOffersCount"] >= 3
    assert len((await api.get("/v2/deployments")).json()) == 1  # the deployment waits for capacity
    marathon_sandbox.add_agent(cpus=64, mem=1024)
    await marathon_sandbox.wait_idle()
    [task] = marathon_sandbox.state.all_tasks()
    assert task.host == "127.0.0.5" and await _queue(api) == []


async def test_hostname_unique_places_one_per_agent_and_queues_the_rest(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=app("/uniq", instances=4, constraints=[["hostname", "UNIQUE"]]))
    [entry] = await until(lambda: _queue(api), "queued fourth instance")
    await until(
        lambda: len([t for t in marathon_sandbox.state.all_tasks() if t.state.value == "TASK_RUNNING"]) == 3,
        "three running",
    )
    assert sorted(t.host for t in marathon_sandbox.state.all_tasks()) == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    reasons = {r["reason"]: r["declined"] for r in entry["processedOffersSummary"]["rejectSummaryLastOffers"]}
    assert entry["count"] == 1 and reasons["UnfulfilledConstraint"] == 3


async def test_cluster_and_group_by_constraints(api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox) -> None:
    await api.put(
        "/v2/apps",
        json=[
            app("/pinned", instances=2, constraints=[["hostname", "CLUSTER", "127.0.0.3"]]),
            app("/spread", instances=6, cpus=0.1, constraints=[["hostname", "GROUP_BY", "3"]]),
        ],
    )
    await marathon_sandbox.wait_idle()
    runs = marathon_sandbox.state.runs
    assert {t.host for t in runs["/pinned"].tasks.values()} == {"127.0.0.3"}
    spread = [t.host for t in runs["/spread"].tasks.values()]
    assert sorted(spread.count(h) for h in set(spread)) == [2, 2, 2]


async def test_lost_agent_makes_tasks_unreachable_and_they_are_replaced(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    await api.post("/v2/apps", json=app("/ha", instances=3, constraints=[["hostname", "UNIQUE"]]))
    await api.post("/v2/apps", json=app("/free", instances=3))
    await marathon_sandbox.wait_idle()
    lost = (await api.post("/_sandbox/agents/1/lose")).json()["unreachableTasks"]
    assert lost
    statuses = {
        e["taskId"]: e["taskStatus"]
        for e in events_of(marathon_sandbox, "status_update_event")
        if e["taskStatus"] in ("TASK_UNREACHABLE", "TASK_LOST")
    }
    assert set(lost) <= set(statuses)
    assert any(e["condition"] == "Unreachable" for e in events_of(marathon_sandbox, "instance_changed_event"))
    await until(
        lambda: (
            len(marathon_sandbox.state.runs["/free"].tasks) == 3
            and all(
                t.host != "127.0.0.2" and t.state.value == "TASK_RUNNING"
                for t in marathon_sandbox.state.runs["/free"].tasks.values()
            )
        ),
        "free replaced on other agents",
    )
    # UNIQUE cannot place its third task on two agents: it waits until the agent comes back.
    assert [e["app"]["id"] for e in await _queue(api)] == ["/ha"]
    await api.post("/_sandbox/agents/1/restore")
    await marathon_sandbox.wait_idle()
    assert sorted(t.host for t in marathon_sandbox.state.runs["/ha"].tasks.values()) == [
        "127.0.0.2",
        "127.0.0.3",
        "127.0.0.4",
    ]


async def _queue(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    queue: list[dict[str, Any]] = (await api.get("/v2/queue")).json()["queue"]
    return queue


async def test_disabled_unreachable_strategy_keeps_lost_tasks_and_replaces_nothing(
    api: httpx.AsyncClient, marathon_sandbox: MarathonSandbox
) -> None:
    created = await api.post("/v2/apps", json=app("/kept", instances=3, unreachableStrategy="disabled"))
    assert created.status_code == 201, created.text
    await marathon_sandbox.wait_idle()
    lost = set((await api.post("/_sandbox/agents/1/lose")).json()["unreachableTasks"])
    assert lost
    await api.post("/v2/apps", json=app("/probe"))  # a later launch: the scheduler has run its passes since
    await marathon_sandbox.wait_idle()
    tasks = {t.id: t.state.value for t in marathon_sandbox.state.runs["/kept"].tasks.values()}
    assert len(tasks) == 3 and {tasks[t] for t in lost} == {"TASK_UNREACHABLE"}
    await api.post("/_sandbox/agents/1/restore")
    kept = marathon_sandbox.state.runs["/kept"].tasks
    await until(lambda: all(t.state.value == "TASK_RUNNING" for t in kept.values()), "the lost tasks running again")
    assert set(kept) >= lost
