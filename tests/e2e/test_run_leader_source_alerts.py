"""Two `reconciler run` replicas on one git source (a dumb-http remote on loopback that can be made to
hang), one sandbox with Consul, both sending alerts to one receiver on loopback: every replica fetches
the source, but only the leader notifies an invalid commit and a stale source. Before, the standby
raised them too, and each alert went out twice, once per replica. When the leader stops, the standby
that takes over notifies them itself (the former leader's notifications are not the new leader's).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli.sandbox import embedded_sandbox
from tests.e2e.cli import serving_controller
from tests.e2e.gitrepo import git
from tests.e2e.test_run_gitops import eventually, specs_repo, synced
from tests.e2e.test_run_gitops_faults import Remote, _serve
from tests.e2e.test_run_leader import TAKEOVER, TTL, Replica, wait_until
from tests.e2e.test_run_notify import BROKEN, Receiver, receiver

pytestmark = pytest.mark.slow
GIT_TIMEOUT = 2  # seconds: a hung fetch fails this soon, so the source turns stale within seconds


@contextlib.asynccontextmanager
async def replica(tmp_path: Path, name: str, url: str, marathon: str, consul: str, hook: str
                  ) -> AsyncIterator[Replica]:
    url_file = tmp_path / f"{name}-notify-url"
    url_file.write_text(hook + "\n")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(tmp_path / f"{name}-cache"))
    async with serving_controller(
        "--log-level", "ERROR", "--marathon", marathon, "--consul", consul,
        "run", "--source", url, "--path", "specs", "--git-timeout", str(GIT_TIMEOUT), "--poll-interval", "1",
        "--listen", "127.0.0.1:0", "--database", str(tmp_path / f"{name}.db"), "--leader-ttl", str(TTL),
        "--notify-url-file", str(url_file), "--notify-cooldown", "3600", env=env,
    ) as (process, server):
        yield Replica(process, server)


def sent_by(replica: Replica, bodies: list[dict[str, Any]]) -> list[str]:
    """The keys of the firings `replica` sent (its identity is host:port pid N)."""
    me = f":{replica.server.rsplit(':', 1)[1]} pid {replica.process.pid}"
    return [b["key"] for b in bodies if b["status"] == "firing" and str(b["controller"]).endswith(me)]


async def test_only_the_leader_notifies_an_invalid_commit_and_a_stale_source(tmp_path: Path) -> None:
    repo, first = specs_repo(tmp_path)
    git(repo.bare, "update-server-info")
    remote = Remote(repo.bare)
    async with receiver() as hook, embedded_sandbox(with_consul=True) as sandbox, \
            httpx.AsyncClient(timeout=10) as http:
        assert sandbox.consul_url is not None
        async for url in _serve(remote):
            async with replica(tmp_path, "a", url, sandbox.marathon_url, sandbox.consul_url, hook.url) as a, \
                    replica(tmp_path, "b", url, sandbox.marathon_url, sandbox.consul_url, hook.url) as b:
                await _alerts_from_the_leader_only(http, remote, repo, hook, (a, b), first)


async def _alerts_from_the_leader_only(
    http: httpx.AsyncClient, remote: Remote, repo: Any, hook: Receiver, replicas: tuple[Replica, Replica], first: str,
) -> None:
    async def one_leader() -> bool:
        states = [await r.leadership(http) for r in replicas]
        return sorted(bool(s["leader"]) for s in states) == [False, True] and all(s["holder"] for s in states)

    async def source(replica: Replica) -> dict[str, Any]:
        return dict((await http.get(f"{replica.server}/status")).json()["source"])

    await wait_until(one_leader, "exactly one leader, named by both", 60)
    leader, standby = replicas if (await replicas[0].leadership(http))["leader"] else replicas[::-1]
    await eventually(synced(http, leader.server, first), "the leader synced to the first commit", 60)

    broken = repo.commit({"specs/integration.yaml": BROKEN}, "broken")
    git(repo.bare, "update-server-info")
    invalid = f"invalid-commit:{broken}"
    await eventually(lambda: _true(hook.of(invalid)), "the invalid commit notified", 60)
    await eventually(lambda: _latest(source(standby), broken), "the standby fetched the invalid commit too", 60)

    remote.hanging = True
    stale = f"source-stale:{(await source(leader))['source']}"
    await eventually(lambda: _true(hook.of(stale)), "the stale source notified", 60)
    # The standby's notifier judges its feed every second: by its own fifth failed fetch (2 s each), it has
    # seen its source stale for 4 s and the invalid commit for longer.
    await eventually(lambda: _failed(source(standby), 5), "the standby's fetches failing too", 60)
    assert sent_by(leader, hook.bodies) == [invalid, stale]
    assert sent_by(standby, hook.bodies) == []  # before: [invalid, stale] as well, each alert sent twice
    assert len(hook.bodies) == 2

    leader.process.send_signal(signal.SIGTERM)  # it steps down: the standby takes over
    await leader.process.wait()

    async def standby_leads() -> bool:
        return bool((await standby.leadership(http))["leader"])

    await wait_until(standby_leads, "the standby takes over", TAKEOVER)
    await eventually(lambda: _true(len(sent_by(standby, hook.bodies)) == 2), "the new leader notifies them", 30)
    assert sorted(sent_by(standby, hook.bodies)) == sorted([invalid, stale])


async def _true(value: object) -> bool:
    return bool(value)


async def _latest(status: Any, revision: str) -> bool:
    return bool((await status)["latest"] == revision)


async def _failed(status: Any, fetches: int) -> bool:
    return bool((await status)["failed_fetches"] >= fetches)
