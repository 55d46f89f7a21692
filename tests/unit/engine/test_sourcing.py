"""The spec feed with an in-memory source: new revisions load, broken ones keep the last good state."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.core.alerts import invalid_commit_alert
from reconciler.core.model import Desired
from reconciler.engine.alerting import feed_alerts
from reconciler.engine.sourcing import SpecFeed
from reconciler.errors import SpecError, SpecProblem
from reconciler.sources.base import Checkout, RevisionError, SourceError


@dataclass
class Revisions:
    """A source whose newest revision the test sets; 'broken-*' revisions fail to load."""

    current: str = "r1"
    failing: bool = False
    fetches: int = 0

    def fetch(self) -> Checkout:
        self.fetches += 1
        if self.failing:
            raise SourceError("git fetch failed: connection refused")
        return Checkout(Path("/specs"), self.current)

    def describe(self) -> str:
        return "memory"

    def close(self) -> None:
        pass


def load(path: Path, revision: str) -> Desired:
    if revision.startswith("broken"):
        raise SpecError([SpecProblem("specs/env.yaml", 3, "apps.web.chart", "no chart 'nope'")])
    return Desired(environments={}, apps={}, revision=revision)


@dataclass
class Triggers:
    reasons: list[str] = field(default_factory=list)

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)


async def test_new_revisions_load_and_broken_ones_keep_the_last_good() -> None:
    source, triggers = Revisions(), Triggers()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=triggers)
    assert (await feed.prime()).revision == "r1"
    assert not await feed.poll_once()  # nothing new
    source.current = "broken-2"
    assert not await feed.poll_once()
    assert feed.desired().revision == "r1"
    assert (feed.state.revision, feed.state.latest) == ("r1", "broken-2")
    assert "broken-2 is invalid" in feed.state.error and "specs/env.yaml:3" in feed.state.error
    source.failing = True
    assert not await feed.poll_once() and "connection refused" in feed.state.error
    source.failing, source.current = False, "r3"
    assert await feed.poll_once()
    assert (feed.desired().revision, feed.state.error) == ("r3", "")


async def test_a_fetch_error_clears_when_the_fetch_works_again() -> None:
    source = Revisions()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    source.failing = True
    await feed.poll_once()
    assert feed.state.error
    source.failing = False
    assert not await feed.poll_once() and feed.state.error == ""


async def test_a_webhook_fetches_at_once_and_triggers_a_cycle() -> None:
    source, triggers = Revisions(), Triggers()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=triggers)
    await feed.prime()
    task = asyncio.create_task(feed.run())
    try:
        source.current = "r2"
        feed.request_fetch()
        deadline = asyncio.get_running_loop().time() + 10
        while not triggers.reasons and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert triggers.reasons == ["revision:r2"] and feed.desired().revision == "r2"
        feed.request_fetch()  # nothing new: still a cycle, as a push asks for one
        while len(triggers.reasons) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert triggers.reasons == ["revision:r2", "webhook"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_polls_come_on_the_jittered_timer() -> None:
    source = Revisions()
    feed = SpecFeed(source, load, poll_seconds=0.05, on_revision=Triggers(), draw=lambda: 0.0)
    await feed.prime()
    task = asyncio.create_task(feed.run())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while source.fetches < 4 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert source.fetches >= 4
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_an_invalid_revision_keeps_its_problems_while_fetches_fail() -> None:
    source = Revisions()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    source.current = "broken-2"
    await feed.poll_once()
    assert feed.state.problems == ("specs/env.yaml:3: apps.web.chart: no chart 'nope'",)
    source.failing = True
    await feed.poll_once()
    assert feed.state.latest == "broken-2" and feed.state.problems  # still the newest, still invalid
    source.failing, source.current = False, "r3"
    await feed.poll_once()
    assert feed.state.problems == ()


async def test_a_clone_s_invalid_revision_names_its_files_inside_the_spec_tree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @dataclass
    class Clone(Revisions):
        def fetch(self) -> Checkout:
            return Checkout(Path("/cache/git/0123/specs"), self.current, root=Path("/cache/git/0123"))

    def load_clone(path: Path, revision: str) -> Desired:
        if revision.startswith("broken"):
            raise SpecError([SpecProblem(f"{path}/env.yaml", 4, "apps.web.chart",
                                         f"unknown chart 'nope' (no {path.parent}/charts/nope/Chart.yaml)")])
        return Desired(environments={}, apps={}, revision=revision)

    source = Clone()
    feed = SpecFeed(source, load_clone, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    source.current = "broken-2"
    await feed.poll_once()
    named = "env.yaml:4: apps.web.chart: unknown chart 'nope' (no ../charts/nope/Chart.yaml)"
    assert feed.state.error == f"revision broken-2 is invalid: {named}" and feed.state.problems == (named,)
    assert [r.getMessage() for r in caplog.records if "revision-invalid" in r.getMessage()] == [
        f"event=revision-invalid revision=broken-2 problems=1 kept=r1 first={named!r}"]


async def test_a_clone_s_invalid_revision_keeps_the_env_scope_hint_with_its_files_inside_the_spec_tree() -> None:
    """`run --env shop` on a revision where another environment is broken: the hint saying why (spec/scope.py)
    stays in /status, its paths named as the problems' are."""

    @dataclass
    class Clone(Revisions):
        def fetch(self) -> Checkout:
            return Checkout(Path("/cache/git/0123/specs"), self.current, root=Path("/cache/git/0123"))

    def load_clone(path: Path, revision: str) -> Desired:
        if revision.startswith("broken"):
            problem = SpecProblem(f"{path}/other.yaml", 4, "apps.web.chart", "unknown chart 'nope'")
            raise SpecError([problem], hint=f"--env shop does not skip environment other ({path}/other.yaml:4)")
        return Desired(environments={}, apps={}, revision=revision)

    source = Clone()
    feed = SpecFeed(source, load_clone, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    source.current = "broken-2"
    await feed.poll_once()
    assert feed.state.error == ("revision broken-2 is invalid: other.yaml:4: apps.web.chart: unknown chart 'nope'\n"
                                "--env shop does not skip environment other (other.yaml:4)")


async def test_a_fetch_error_in_between_gives_way_to_the_invalid_revision_s_problems() -> None:
    source = Revisions()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    source.current = "broken-2"
    await feed.poll_once()
    source.failing = True
    await feed.poll_once()
    assert "connection refused" in feed.state.error
    source.failing = False
    assert not await feed.poll_once()
    # Before: "git fetch failed: connection refused" stayed the reason shown until the next commit.
    assert "broken-2 is invalid" in feed.state.error and "connection refused" not in feed.state.error
    assert (feed.state.revision, feed.state.latest) == ("r1", "broken-2") and feed.state.problems


@dataclass
class WithoutTree(Revisions):
    """A source whose revisions starting with 'gone' have no spec folder (a commit that removed it)."""

    def fetch(self) -> Checkout:
        if self.current.startswith("gone"):
            self.fetches += 1
            raise RevisionError(f"repo at {self.current}: the folder specs does not exist", revision=self.current,
                                hint="check --path against the repository's layout")
        return super().fetch()


async def test_a_revision_without_its_spec_folder_is_an_invalid_revision_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = WithoutTree()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    source.current = "gone-2"
    caplog.set_level(logging.INFO, logger="reconciler.sources")
    for _ in range(3):
        assert not await feed.poll_once()
    assert feed.desired().revision == "r1"  # never "no specs": the last good state stays in force
    assert (feed.state.revision, feed.state.latest) == ("r1", "gone-2")
    assert "gone-2 is invalid" in feed.state.error and "the folder specs does not exist" in feed.state.error
    # Before: a fetch failure, warned at every poll, with `latest` still the last good one and no alert.
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("event=revision-invalid revision=gone-2"), lines
    alert = invalid_commit_alert(feed.state.source, feed.state.revision, feed.state.latest, feed.state.problems)
    assert alert is not None and "check --path" in alert.detail
    source.current = "r3"
    assert await feed.poll_once()
    assert (feed.state.revision, feed.state.latest, feed.state.error, feed.state.problems) == ("r3", "r3", "", ())


@dataclass
class Hanging(Revisions):
    """A source whose fetch hangs (a remote that never answers) until it is closed."""

    started: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)

    def fetch(self) -> Checkout:
        if self.fetches:
            self.started.set()
            self.closed.wait(30)
        return super().fetch()

    def close(self) -> None:
        self.closed.set()


async def test_a_cancelled_poll_closes_the_source_so_its_fetch_ends_too() -> None:
    # The process waits for its worker threads before it exits: a fetch left hanging held a stopping
    # controller up to the git deadline (120 s), past a scheduler's grace period.
    source = Hanging()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=Triggers())
    await feed.prime()
    polling = asyncio.create_task(feed.poll_once())
    assert await asyncio.to_thread(source.started.wait, 10)
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling
    assert source.closed.is_set()


async def test_a_burst_of_webhooks_during_a_fetch_costs_one_more_fetch_and_cycle() -> None:
    source, triggers = Hanging(), Triggers()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=triggers)
    await feed.prime()
    task = asyncio.create_task(feed.run())
    try:
        feed.request_fetch()
        assert await asyncio.to_thread(source.started.wait, 10)  # a fetch under way, hanging
        for _ in range(100):  # a burst of deliveries (or one replayed 100 times)
            feed.request_fetch()
        source.close()  # the remote answers
        deadline = asyncio.get_running_loop().time() + 10
        while len(triggers.reasons) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for more, which must not come
        assert (source.fetches, triggers.reasons) == (3, ["webhook", "webhook"])  # prime, the first, one more
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_failed_fetches_are_counted_since_the_last_that_worked_and_turn_the_source_stale() -> None:
    clock = iter(datetime(2026, 12, 7, 12, minute, tzinfo=UTC) for minute in range(60))
    source = WithoutTree()
    feed = SpecFeed(source, load, poll_seconds=3600, on_revision=Triggers(), wall=lambda: next(clock))
    assert (feed.state.fetched_at, feed.fetched_at) == ("", 0.0)
    await feed.prime()
    assert (feed.state.fetched_at, feed.state.failed_fetches) == ("2026-12-07T12:00:00+00:00", 0)
    source.failing = True
    for failed in (1, 2):
        await feed.poll_once()
        assert feed.state.failed_fetches == failed and feed_alerts(feed.state) == ()
    await feed.poll_once()
    (stale,) = feed_alerts(feed.state)
    assert stale.key == "source-stale:memory" and stale.detail == "git fetch failed: connection refused"
    assert "3 times in a row (last fetched 2026-12-07T12:00:00+00:00)" in stale.summary
    assert feed.fetched_at == datetime(2026, 12, 7, 12, 0, tzinfo=UTC).timestamp()
    source.failing, source.current = False, "gone-2"
    await feed.poll_once()  # a fetch that brings a revision, even one without its spec folder, worked
    assert (feed.state.failed_fetches, feed.state.fetched_at) == (0, "2026-12-07T12:01:00+00:00")
    assert [a.kind for a in feed_alerts(feed.state)] == ["invalid-commit"]
