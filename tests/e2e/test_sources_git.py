"""The git source against real repositories: file:// remotes, and an http remote that wants a token.

The http remote is git's "dumb" protocol served from a bare repository by a loopback aiohttp server
that answers 401 unless the Authorization header carries the token, as a git host does.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from reconciler.sources.base import SourceError
from reconciler.sources.git import GitSource, GitToken
from tests.e2e.gitrepo import Repo, git

TOKEN = "ghp_t0ken-that-must-never-leak"
BY_ENV = GitToken(env="RECONCILER_TEST_GIT_TOKEN")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


def test_clones_once_then_fetches_each_new_commit(repo: Repo, tmp_path: Path) -> None:
    first = repo.commit({"specs/env.yaml": "a: 1\n", "README": "x\n"})
    source = GitSource(repo.url, cache_dir=tmp_path / "cache", path="specs")
    checkout = source.fetch()
    assert checkout.revision == first
    assert (checkout.path / "env.yaml").read_text() == "a: 1\n"
    marker = source.workdir / ".git" / "cloned-once"
    marker.write_text("")  # survives only if later fetches reuse the clone

    second = repo.commit({"specs/env.yaml": "a: 2\n", "specs/more.yaml": "b: 1\n"})
    checkout = source.fetch()
    assert checkout.revision == second != first
    assert (checkout.path / "env.yaml").read_text() == "a: 2\n" and (checkout.path / "more.yaml").exists()
    third = repo.commit({"specs/more.yaml": None})
    (checkout.path / "stray.yaml").write_text("left by someone\n")
    checkout = source.fetch()
    assert checkout.revision == third
    assert sorted(p.name for p in checkout.path.iterdir()) == ["env.yaml"]  # deletions and strays are gone
    assert marker.exists()
    assert source.fetch().revision == third  # nothing new: the same revision
    assert checkout.root == source.workdir  # files in errors are named from the repository's top


def test_a_poll_that_finds_nothing_new_logs_nothing_at_info(
    repo: Repo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # `run` polls every 30 s and logs at INFO: one line per fetch would be 2,880 lines a day of nothing.
    # A new revision is logged by the feed (event=revision-loaded), a failed fetch at WARNING.
    repo.commit({"specs/env.yaml": "a: 1\n"})
    source = GitSource(repo.url, cache_dir=tmp_path / "cache", path="specs")
    caplog.set_level(logging.INFO, logger="reconciler.sources")
    for _ in range(3):
        source.fetch()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_a_branch_is_followed_and_a_missing_one_is_explained(repo: Repo, tmp_path: Path) -> None:
    main = repo.commit({"specs/env.yaml": "on: main\n"})
    release = repo.commit({"specs/env.yaml": "on: release\n"}, branch="release")
    assert GitSource(repo.url, cache_dir=tmp_path / "c1", path="specs").fetch().revision == main  # remote HEAD
    checkout = GitSource(repo.url, cache_dir=tmp_path / "c2", branch="release", path="specs").fetch()
    assert (checkout.revision, (checkout.path / "env.yaml").read_text()) == (release, "on: release\n")
    with pytest.raises(SourceError, match="couldn't find remote ref") as caught:
        GitSource(repo.url, cache_dir=tmp_path / "c3", branch="nope").fetch()
    assert "check --branch" in str(caught.value)


def test_a_missing_spec_folder_names_the_commit(repo: Repo, tmp_path: Path) -> None:
    sha = repo.commit({"other/env.yaml": "a: 1\n"})
    with pytest.raises(SourceError, match=f"at {sha[:12]}: the folder specs does not exist"):
        GitSource(repo.url, cache_dir=tmp_path / "c", path="specs").fetch()


def test_a_cache_folder_of_another_remote_is_started_afresh(repo: Repo, tmp_path: Path) -> None:
    sha = repo.commit({"specs/env.yaml": "a: 1\n"})
    source = GitSource(repo.url, cache_dir=tmp_path / "cache", path="specs")
    source.workdir.mkdir(parents=True)
    git(source.workdir, "init", "--quiet")
    git(source.workdir, "remote", "add", "origin", "file:///elsewhere.git")
    assert source.fetch().revision == sha


def _basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()


async def _git_host(bare: Path) -> AsyncIterator[str]:
    async def files(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != _basic(TOKEN):
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
        path = (bare / request.match_info["path"]).resolve()
        if not path.is_file() or bare.resolve() not in path.parents:
            return web.Response(status=404)
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/specs.git/{path:.*}", files)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/specs.git"
    finally:
        await runner.cleanup()


async def test_a_token_opens_an_http_remote_and_never_leaks(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sha = repo.commit({"specs/env.yaml": "a: 1\n"})
    git(repo.bare, "update-server-info")  # what the dumb protocol serves
    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    async for url in _git_host(repo.bare):
        monkeypatch.setenv("RECONCILER_TEST_GIT_TOKEN", "wrong-" + TOKEN)
        refused = GitSource(url, cache_dir=tmp_path / "c1", path="specs", token=BY_ENV)
        with pytest.raises(SourceError) as caught:
            await asyncio.to_thread(refused.fetch)
        assert TOKEN not in str(caught.value) and "refused the token" in str(caught.value)

        by_file = GitSource(url, cache_dir=tmp_path / "c2", path="specs", token=GitToken(file=token_file))
        assert (await asyncio.to_thread(by_file.fetch)).revision == sha
        monkeypatch.setenv("RECONCILER_TEST_GIT_TOKEN", TOKEN)
        by_env = GitSource(url, cache_dir=tmp_path / "c3", path="specs", token=BY_ENV)
        assert (await asyncio.to_thread(by_env.fetch)).revision == sha
        without = GitSource(url, cache_dir=tmp_path / "c4", path="specs")
        with pytest.raises(SourceError, match="wants credentials"):
            await asyncio.to_thread(without.fetch)

    for cache in ("c1", "c2", "c3"):
        for path in (tmp_path / cache).rglob("*"):
            if path.is_file() and path.suffix not in (".pack", ".idx"):
                assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in caplog.text
    assert base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode() not in caplog.text
