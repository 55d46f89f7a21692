"""The kill budget of an app counts a replacement as up only once it serves (docs/healing.md, Budget):
the Marathon + Consul sandbox over loopback HTTP, controller cycles one after the other at given times.

Three web tasks (`maxUnavailable: 1`), A and B critical past their grace window. The first cycle kills A;
Marathon replaces it. Its replacement runs before Consul has an instance of it (the cycle that sees it
running registers it), then is registered and critical (a fresh check starts critical, and this one
fails for a while), and only then passes. B's kill waits all that time, and happens in the first cycle
after the replacement passes.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from reconciler.core.heal import HealMemory
from reconciler.core.model import Outcome
from reconciler.engine.sync import SyncResult
from reconciler.marathon import MarathonClient
from tests.e2e.healing_shop import passing_tasks, running_tasks
from tests.e2e.test_heal_budget_in_flight import Shop, critical, cycle, kills, listed, shop_of
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow

# Consul's checks at half their pace: its reaper (DeregisterCriticalServiceAfter, 60 s here) removes B,
# critical from the start, only after 30 s, so a loaded machine's slow cycles still see B registered.
CHECK_SCALE = 0.5


async def test_the_second_kill_waits_until_the_first_replacement_passes(tmp_path: Path) -> None:
    async with shop_of(tmp_path, 0, CHECK_SCALE) as shop, MarathonClient(shop.sandbox.marathon_url) as marathon:
        a, b, c = await running_tasks(shop.sandbox)
        await critical(shop, a, b)
        now = time.monotonic()
        first = await judged(shop, marathon, HealMemory(critical_since={a: now - 60, b: now - 59}), now)
        assert kills(first)[a].outcome == Outcome.SUCCEEDED, kills(first)[a].detail
        assert kills(first)[b].outcome == Outcome.REFUSED
        replacement = await until(lambda: _replaced(shop, a, b, c), "A gone and its replacement running", 30)
        # the replacement fails its check for a while, as it would while it warms up
        await shop.sandbox.marathon.set_task_health(replacement, False)

        unregistered = await judged(shop, marathon, first.memory, now + 0.5)  # observes it, then registers it

        kill = kills(unregistered)[b]
        assert kill.outcome == Outcome.REFUSED, kill.detail
        assert kill.reason.endswith("kill budget of the app used up (1 instance(s) not serving yet count against it)")
        await until(lambda: _registered(shop, replacement), "the replacement registered in Consul", 15)

        in_grace = await judged(shop, marathon, unregistered.memory, now + 1.0)

        kill = kills(in_grace)[b]
        assert kill.outcome == Outcome.REFUSED, kill.detail
        assert "1 instance(s) not serving yet" in kill.reason
        assert in_grace.memory.critical_since[replacement] == now + 1.0  # its own grace window runs
        assert b in await running_tasks(shop.sandbox)

        await shop.sandbox.marathon.set_task_health(replacement, True)
        await until(lambda: _passing(shop, replacement), "the replacement passing in Consul", 15)

        serving = await judged(shop, marathon, in_grace.memory, now + 1.5)

        assert kills(serving)[b].outcome == Outcome.SUCCEEDED, kills(serving)[b].detail
        assert serving.memory.heals == {"/shop/web": (now, now + 1.5)}


async def judged(shop: Shop, marathon: MarathonClient, memory: HealMemory, now: float) -> SyncResult:
    """The cycle at `now`, run again while its observation is incomplete (a read timed out on a loaded
    machine: healing then decides nothing at all, docs/healing.md), at most five times."""
    for _ in range(5):
        result = await cycle(shop, marathon, memory, now)
        if result.observation.complete:
            return result
    raise AssertionError(f"no complete observation in five cycles: {result.observation.problems}")


async def _replaced(shop: Shop, killed: str, *others: str) -> str | None:
    """The replacement of `killed`, once Marathon no longer lists it and runs a task in its place."""
    tasks = await listed(shop)
    new = [t for t in await running_tasks(shop.sandbox) if t not in others]
    return new[0] if killed not in tasks and len(new) == 1 else None


async def _registered(shop: Shop, task: str) -> bool:
    async with httpx.AsyncClient(base_url=str(shop.sandbox.consul_url)) as client:
        entries = (await client.get("/v1/health/service/web")).json()
    return task in {e["Service"]["Meta"]["marathon-task-id"] for e in entries}


async def _passing(shop: Shop, task: str) -> bool:
    return task in await passing_tasks(shop.sandbox)
