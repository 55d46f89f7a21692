"""`reconciler run --source <git URL> --git-timeout 2` in a subprocess, its remote hanging (a dumb-http
git remote on loopback that stops answering), alerts going to a real receiver on loopback.

Each fetch is killed at the deadline the flag gives (its error names it); after 3 failed fetches in a
row a `source-stale` alert fires, `/status` shows when the source was last fetched and how many fetches
failed since, and `reconciler_source_last_fetch_timestamp_seconds` stays at the last good fetch; once the
remote answers again the alert is resolved and a commit pushed meanwhile is applied."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cli import serving_controller
from tests.e2e.gitrepo import Repo, git
from tests.e2e.test_run_gitops import eventually, set_order_api_instances, specs_repo, synced
from tests.e2e.test_run_gitops_faults import Remote, _serve
from tests.e2e.test_run_notify import Receiver, receiver

pytestmark = pytest.mark.slow


def fetched_metric(text: str) -> float:
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "reconciler_source_last_fetch_timestamp_seconds"]
    assert len(samples) == 1, samples
    return float(samples[0].value)


async def test_a_hanging_remote_is_cut_at_the_git_timeout_and_turns_stale(tmp_path: Path) -> None:
    repo, first = specs_repo(tmp_path)
    git(repo.bare, "update-server-info")
    remote = Remote(repo.bare)
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb", XDG_CACHE_HOME=str(tmp_path / "cache"))
    async with receiver() as alerts:
        async for url in _serve(remote):
            async with serving_controller(
                "--log-level", "WARNING", "run", "--source", url, "--path", "specs", "--git-timeout", "2",
                "--sandbox", "--no-consul", "--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db"),
                "--poll-interval", "1", "--resync", "1", "--notify-url", alerts.url, "--notify-cooldown", "3600",
                env=env,
            ) as (_, server):
                await _hang_and_recover(server, remote, repo, alerts, first)


async def _hang_and_recover(server: str, remote: Remote, repo: Repo, alerts: Receiver, first: str) -> None:
    async with httpx.AsyncClient(timeout=10) as http:

        async def source() -> dict[str, Any]:
            return dict((await http.get(f"{server}/status")).json()["source"])

        async def fetched() -> float:
            return fetched_metric((await http.get(f"{server}/metrics")).text)

        await eventually(synced(http, server, first), "synced to the first commit", 60)
        before = await source()
        assert before["failed_fetches"] == 0 and before["fetched_at"] and await fetched() > 0
        key = f"source-stale:{before['source']}"

        remote.hanging = True
        # 3 fetches, each killed at 2 s (before: the flag did not exist, and the deadline was 120 s)
        await eventually(lambda: _true(alerts.of(key)), "the source-stale alert", 60)
        (firing,) = alerts.of(key)
        assert firing["severity"] == "warning" and "took longer than 2s" in firing["detail"]
        assert "could not be fetched 3 times in a row" in firing["summary"]
        shown, last_good = await source(), await fetched()
        assert shown["failed_fetches"] >= 3 and "took longer than 2s" in shown["error"]
        assert datetime.fromisoformat(shown["fetched_at"]).timestamp() == int(last_good)

        last = set_order_api_instances(repo, 3)  # pushed while the remote hangs
        git(repo.bare, "update-server-info")
        remote.hanging = False
        await eventually(lambda: _true(alerts.of(key, "resolved")), "the source-stale alert resolved", 60)
        await eventually(synced(http, server, last), "the commit pushed meanwhile synced", 60)
        assert (await source())["failed_fetches"] == 0 and await fetched() > last_good


async def _true(found: list[dict[str, Any]]) -> bool:
    return bool(found)
