"""Agent ports held by processes outside the sandbox (another sandbox or benchmark on the machine):
like a Mesos agent that owns its range, the sandbox never offers them, so parallel sandboxes coexist."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox
from tests.sandbox.marathon.fixtures import events_of, fast_config, until

AGENT = "127.0.0.2"  # the first agent's address
WINDOWS_TRIED = 200  # bounded search for a stretch of ports nobody else on the machine holds


def app(app_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": app_id, "cmd": "run", "cpus": 0.1, "mem": 16, "instances": 1, **fields}


@dataclass(frozen=True)
class Window:
    """An agent port range of which the test holds `held`; `free` were bindable when it was found."""

    low: int
    high: int
    held: list[int]
    free: list[int]


def _listen(port: int) -> socket.socket | None:
    sock = socket.socket()
    try:
        sock.bind((AGENT, port))
        sock.listen()
    except OSError:
        sock.close()
        return None
    return sock


@contextlib.contextmanager
def held_window(size: int, hold: list[int]) -> Iterator[Window]:
    """A range of `size` ports on AGENT whose offsets `hold` the test listens on (as another sandbox's
    tasks would); the others were free when checked. Any port someone else already holds is skipped
    by trying another window, so the test does not depend on what else runs on the machine."""
    rng = random.Random()
    for _ in range(WINDOWS_TRIED):
        low = rng.randrange(40000, 60000)
        sockets = [_listen(low + offset) for offset in range(size)]
        if all(sockets):
            holders = [s for offset, s in enumerate(sockets) if s and offset in hold]
            for offset, s in enumerate(sockets):
                if s and offset not in hold:
                    s.close()
            try:
                yield Window(
                    low,
                    low + size - 1,
                    [low + o for o in hold],
                    [low + o for o in range(size) if o not in hold],
                )
            finally:
                for s in holders:
                    s.close()
            return
        for s in sockets:
            if s:
                s.close()
    pytest.fail(f"no {size} free ports in a row on {AGENT} after {WINDOWS_TRIED} tries")


def _statuses(sandbox: MarathonSandbox) -> list[str]:
    return [e["taskStatus"] for e in events_of(sandbox, "status_update_event")]


async def _queue(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await client.get("/v2/queue")).json()["queue"])


async def test_ports_held_outside_are_never_offered_and_tasks_run_on_the_free_ones() -> None:
    with held_window(12, hold=list(range(9))) as window:
        config = fast_config(agents=1, agent_port_range=(window.low, window.high))
        async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url) as client:
            created = await client.post("/v2/apps", json=app("/p", instances=3, portDefinitions=[{"port": 0}]))
            assert created.status_code == 201, created.text
            await sandbox.wait_idle()
            tasks = (await client.get("/v2/tasks")).json()["tasks"]
            assert sorted(t["ports"][0] for t in tasks) == window.free
            assert "TASK_FAILED" not in _statuses(sandbox)
            for task in tasks:  # each task really answers on its port
                assert (await client.get(f"http://{AGENT}:{task['ports'][0]}/")).status_code == 200


async def test_a_task_whose_only_ports_are_held_outside_waits_in_the_queue_without_failing() -> None:
    with held_window(1, hold=[0]) as window:
        config = fast_config(agents=1, agent_port_range=(window.low, window.high))
        async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url) as client:
            await client.post("/v2/apps", json=app("/stuck", portDefinitions=[{"port": 0}]))
            [entry] = await until(lambda: _queue(client), "the app waiting in the queue")
            reasons = {r["reason"]: r["declined"] for r in entry["processedOffersSummary"]["rejectSummaryLastOffers"]}
            assert entry["app"]["id"] == "/stuck" and reasons["InsufficientPorts"] == 1
            assert sandbox.state.runs["/stuck"].tasks == {} and "TASK_FAILED" not in _statuses(sandbox)


async def test_a_required_port_held_outside_keeps_the_app_off_every_other_port() -> None:
    with held_window(3, hold=[1]) as window:
        [fixed] = window.held
        config = fast_config(agents=1, agent_port_range=(window.low, window.high))
        async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url) as client:
            body = app("/fixed", requirePorts=True, portDefinitions=[{"port": fixed}])
            assert (await client.post("/v2/apps", json=body)).status_code == 201
            [entry] = await until(lambda: _queue(client), "the app waiting for its port")
            reasons = {r["reason"]: r["declined"] for r in entry["processedOffersSummary"]["rejectSummaryLastOffers"]}
            assert reasons["InsufficientPorts"] == 1 and sandbox.state.runs["/fixed"].tasks == {}


async def test_a_port_taken_between_the_pick_and_the_bind_moves_the_task_instead_of_failing_it() -> None:
    with held_window(2, hold=[0]) as window:
        config = fast_config(agents=1, agent_port_range=(window.low, window.high), seed=0)
        async with MarathonSandbox(config) as sandbox, httpx.AsyncClient(base_url=sandbox.url) as client:
            # The first pick believes the held port free (as if taken just after the probe); the bind says otherwise.
            probe = sandbox.runtime.port_free
            fooled = {"pending": True}

            def racing(host: str, port: int) -> bool:
                if fooled:  # the first pick sees only the held port as free, so it must be the one offered
                    if port in window.held:
                        fooled.clear()
                        return True
                    return False
                return probe(host, port)

            sandbox.runtime.port_free = racing  # type: ignore[method-assign]
            await client.post("/v2/apps", json=app("/moved", portDefinitions=[{"port": 0}]))
            await sandbox.wait_idle()
            [task] = (await client.get("/v2/tasks")).json()["tasks"]
            assert not fooled, "the held port was never offered: the race did not happen"
            assert task["ports"] == window.free and "TASK_FAILED" not in _statuses(sandbox)
