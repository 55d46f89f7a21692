"""The git source under faults, against real repositories: a remote that hangs, a clone a killed git left
damaged, history rewritten by a force-push, an empty remote and a renamed branch.

The hanging remote is a loopback HTTP server that never answers: git hands it to `git remote-http`,
a helper process that must die with git at the deadline, not stay behind at every poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from reconciler.sources.base import SourceError
from reconciler.sources.git import GitSource
from tests.e2e.gitrepo import Repo, git


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def _processes_naming(text: str) -> list[int]:
    """Live processes whose command line holds `text` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def _hanging_remote(asked: list[str]) -> AsyncIterator[str]:
    async def hang(request: web.Request) -> web.StreamResponse:
        asked.append(request.path)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_get("/{path:.*}", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hangs-{os.getpid()}-{time.monotonic_ns()}.git"
    finally:
        await runner.cleanup()


async def test_a_hanging_remote_is_given_up_at_the_deadline_with_every_git_process(tmp_path: Path) -> None:
    asked: list[str] = []
    async for url in _hanging_remote(asked):
        source = GitSource(url, cache_dir=tmp_path / "cache", path="specs", timeout=2)
        started = time.monotonic()
        with pytest.raises(SourceError, match="took longer than 2s"):
            await asyncio.to_thread(source.fetch)
        assert time.monotonic() - started < 30 and asked  # it did wait on the remote, and gave up
        deadline = time.monotonic() + 15
        while (left := _processes_naming(url)) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        # Before: git alone was killed; its `git remote-http` helpers stayed, one pair per poll, for ever.
        assert left == [], f"git processes left behind on the hanging remote: {left}"


def _kill_leftovers(source: GitSource, repo: Repo) -> str:
    """A clone at the first commit, then a second commit on the remote; returns its sha."""
    repo.commit({"specs/env.yaml": "a: 1\n"})
    source.fetch()
    return repo.commit({"specs/env.yaml": "a: 2\n"})


@pytest.mark.parametrize("leftover", [".git/index.lock", ".git/HEAD.lock", ".git/refs/remotes/origin/main.lock"])
def test_a_lock_left_by_a_killed_git_does_not_stop_the_source_for_ever(
    repo: Repo, tmp_path: Path, leftover: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = GitSource(repo.url, cache_dir=tmp_path / "cache", branch="main", path="specs")
    second = _kill_leftovers(source, repo)
    lock = source.workdir / leftover
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")  # what a git killed at the deadline (or with the controller) leaves
    caplog.set_level(logging.WARNING, logger="reconciler.sources")
    checkout = source.fetch()  # before: "Unable to create ...lock: File exists" at every poll, for ever
    assert checkout.revision == second and (checkout.path / "env.yaml").read_text() == "a: 2\n"
    restarted = [r.getMessage() for r in caplog.records if "event=git-clone-restarted" in r.getMessage()]
    assert len(restarted) == 1 and "File exists" in restarted[0], restarted
    assert source.fetch().revision == second and not lock.exists()


def test_a_broken_index_is_started_afresh(repo: Repo, tmp_path: Path) -> None:
    source = GitSource(repo.url, cache_dir=tmp_path / "cache", path="specs")
    second = _kill_leftovers(source, repo)
    (source.workdir / ".git" / "index").write_bytes(b"DIRC")  # a checkout killed while writing it
    assert source.fetch().revision == second


def test_a_force_push_that_drops_the_followed_commit_is_followed(repo: Repo, tmp_path: Path) -> None:
    first = repo.commit({"specs/env.yaml": "a: 1\n"})
    dropped = repo.commit({"specs/env.yaml": "a: 2\n"})
    for branch in (None, "main"):
        source = GitSource(repo.url, cache_dir=tmp_path / f"cache-{branch}", branch=branch, path="specs")
        assert source.fetch().revision == dropped
    git(repo.work, "reset", "--quiet", "--hard", first)
    rewritten = repo.commit({"specs/env.yaml": "a: 3\n"}, "rewritten history")
    git(repo.bare, "gc", "--quiet", "--prune=now")  # the dropped commit is gone from the remote
    for branch in (None, "main"):
        source = GitSource(repo.url, cache_dir=tmp_path / f"cache-{branch}", branch=branch, path="specs")
        checkout = source.fetch()
        assert (checkout.revision, (checkout.path / "env.yaml").read_text()) == (rewritten, "a: 3\n")


def test_an_empty_remote_says_so(repo: Repo, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        GitSource(repo.url, cache_dir=tmp_path / "cache", path="specs").fetch()
    # Before: "check --branch: the remote has no such branch", without any --branch given.
    assert caught.value.hint == "the remote has no commits yet (an empty repository): push the specs first"


def test_a_renamed_branch_names_the_branches_there_are(repo: Repo, tmp_path: Path) -> None:
    repo.commit({"specs/env.yaml": "a: 1\n"}, branch="main")
    source = GitSource(repo.url, cache_dir=tmp_path / "cache", branch="release", path="specs")
    repo.commit({"specs/env.yaml": "a: 2\n"}, branch="release")
    assert source.fetch()
    git(repo.bare, "branch", "-m", "release", "release-2026")
    with pytest.raises(SourceError, match="couldn't find remote ref refs/heads/release") as caught:
        source.fetch()
    assert caught.value.hint == "check --branch: the remote has no such branch; it has main, release-2026"


async def test_close_ends_a_fetch_hanging_on_its_remote_at_once_and_every_later_one(tmp_path: Path) -> None:
    asked: list[str] = []
    async for url in _hanging_remote(asked):
        source = GitSource(url, cache_dir=tmp_path / "cache", path="specs")  # the 120 s deadline
        fetching = asyncio.create_task(asyncio.to_thread(source.fetch))
        deadline = time.monotonic() + 30
        while not asked and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert asked and not fetching.done()
        source.close()  # what the controller does when it stops (SIGTERM) during a fetch
        with pytest.raises(SourceError):
            await asyncio.wait_for(fetching, 30)
        assert _processes_naming(url) == []
        with pytest.raises(SourceError, match="closed"):
            source.fetch()
