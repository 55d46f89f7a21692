"""Keeping the controller's specs fresh (engine layer): fetch the source on a jittered timer or on demand.

A SpecFeed fetches its Source off the event loop (git runs as a subprocess) every poll interval and
whenever a webhook asks. A new revision is loaded (off the loop too) and, if it loads, becomes the
desired state the cycles reconcile; then a cycle is triggered. A revision that fails to load is
reported once and the last good desired state stays in force; so is one without a spec tree (a commit
that removed the --path folder): never read as "no specs", it is an invalid revision like the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from reconciler.core.model import Desired
from reconciler.errors import ReconcilerError, SpecError, SpecProblem
from reconciler.sources.base import Checkout, RevisionError, Source, next_poll_delay

log = logging.getLogger("reconciler.sources")
Loader = Callable[[Path, str], Desired]


@dataclass(frozen=True)
class FeedState:
    """What status shows of the source: where, the revision in force, the newest seen, the last error."""

    source: str
    revision: str = ""  # the revision whose desired state is in force
    latest: str = ""  # the newest revision fetched (differs from `revision` while it fails to load)
    error: str = ""
    problems: tuple[str, ...] = ()  # every problem of `latest` (file:line: field: message) while it fails to load
    fetched_at: str = ""  # when a fetch last worked (ISO 8601, UTC)
    failed_fetches: int = 0  # fetches that failed since (0 while fetches work)


class SpecFeed:
    def __init__(
        self, source: Source, load: Loader, *, poll_seconds: float, on_revision: Callable[[str], None],
        draw: Callable[[], float] = random.random, wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._source = source
        self._load = load
        self._poll_seconds = poll_seconds
        self._on_revision = on_revision
        self._draw = draw
        self._wall = wall
        self._fetched: tuple[datetime | None, int] = (None, 0)  # when a fetch last worked, failures since
        self._wake = asyncio.Event()
        self._desired: Desired | None = None
        self._state = FeedState(source.describe())
        self._rejected = self._state  # what is shown of the newest revision while it fails to load

    @property
    def state(self) -> FeedState:
        """What status shows of the source now."""
        at, failed = self._fetched
        return replace(self._state, fetched_at=at.isoformat(timespec="seconds") if at else "", failed_fetches=failed)

    @property
    def fetched_at(self) -> float:
        """When a fetch last worked, seconds since the epoch (0 before the first)."""
        at = self._fetched[0]
        return at.timestamp() if at else 0.0

    def desired(self) -> Desired:
        """The desired state in force (the last revision that loaded)."""
        if self._desired is None:
            raise ReconcilerError("no revision of the specs has loaded yet")
        return self._desired

    async def prime(self) -> Desired:
        """The first fetch and load; raises (SourceError, SpecError) so that `run` refuses to start."""
        checkout = await self._fetch()
        self._desired = await asyncio.to_thread(self._load, checkout.path, checkout.revision)
        self._state = FeedState(self._state.source, checkout.revision, checkout.revision)
        return self._desired

    def request_fetch(self) -> None:
        """Fetch now (a webhook): the next poll happens at once."""
        self._wake.set()

    async def run(self) -> None:
        """Polls until cancelled; every failure is logged and retried at the next poll."""
        while True:
            delay = next_poll_delay(self._poll_seconds, self._draw())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            requested = self._wake.is_set()
            self._wake.clear()
            changed = await self.poll_once()
            if changed or requested:
                self._on_revision(f"revision:{self._state.revision[:12]}" if changed else "webhook")

    async def poll_once(self) -> bool:
        """Fetches; True when a new revision loaded and is now in force."""
        try:
            checkout = await self._fetch()
        except RevisionError as exc:
            if exc.revision != self._state.latest:
                self._reject(exc.revision, str(exc), (str(exc),))
            elif self._state.error:
                self._fetch_recovered()
            return False
        except ReconcilerError as exc:
            log.warning("event=source-fetch-failed source=%s error=%r", self._state.source, str(exc))
            self._state = replace(self._state, error=str(exc))  # an invalid latest revision stays reported
            return False
        if checkout.revision == self._state.latest:
            if self._state.error:
                self._fetch_recovered()
            return False
        try:
            desired = await asyncio.to_thread(self._load, checkout.path, checkout.revision)
        except SpecError as exc:
            # A clone's files are named inside the spec tree; a folder's as loaded (the operator's own paths).
            named = SpecError([_relative(p, checkout.path, checkout.root) for p in exc.problems],
                              hint=_inside(exc.hint, checkout.path, checkout.root)) if checkout.root else exc
            self._reject(checkout.revision, str(named),
                         tuple(_relative(p, checkout.path).render() for p in named.problems))
            return False
        self._desired = desired
        self._state = FeedState(self._state.source, checkout.revision, checkout.revision)
        log.info("event=revision-loaded revision=%s", checkout.revision[:12])
        return True

    async def _fetch(self) -> Checkout:
        """The source's fetch in a worker thread. Cancelled (the controller stops), it stops the fetch too: the
        process waits for its worker threads before it exits, so a fetch hanging on its remote held the exit
        up to the git deadline (`--git-timeout`), past a scheduler's grace period before SIGKILL. A fetch that
        brings a revision worked, even one without a spec tree; any other error counts as a failed one."""
        try:
            checkout = await asyncio.to_thread(self._source.fetch)
        except asyncio.CancelledError:
            self._source.close()
            raise
        except RevisionError:
            self._fetched = (self._wall(), 0)
            raise
        except ReconcilerError:
            self._fetched = (self._fetched[0], self._fetched[1] + 1)
            raise
        self._fetched = (self._wall(), 0)
        return checkout

    def _fetch_recovered(self) -> None:
        """The fetch works again: its error gives way to the newest revision's own state (its problems, if
        it does not load; before, the fetch error stayed shown as the reason it was not in force)."""
        if self._state.latest != self._state.revision:
            self._state = self._rejected
        else:
            self._state = FeedState(self._state.source, self._state.revision, self._state.latest)

    def _reject(self, revision: str, error: str, problems: tuple[str, ...]) -> None:
        """`revision` does not load: logged once, shown with its problems; the one in force stays."""
        log.error("event=revision-invalid revision=%s problems=%d kept=%s first=%r", revision[:12],
                  len(problems), self._state.revision[:12], problems[0] if problems else "")
        self._state = FeedState(self._state.source, self._state.revision, revision,
                               f"revision {revision[:12]} is invalid: {error}", problems)
        self._rejected = self._state


def _relative(problem: SpecProblem, tree: Path, clone: Path | None = None) -> SpecProblem:
    """The problem with its file named inside the spec tree (`integration.yaml`, as docs/notifications.md
    shows it), not where the controller's clone lives; with `clone`, the paths its message and hint name
    too (`../charts/nope/Chart.yaml`): the log line, `/status` and the notification alike."""
    path = Path(problem.file)
    file = str(path.relative_to(tree)) if path.is_absolute() and path.is_relative_to(tree) else problem.file
    if clone is None:
        return replace(problem, file=file)
    return replace(problem, file=file, message=_inside(problem.message, tree, clone) or "",
                   hint=_inside(problem.hint, tree, clone))


def _inside(text: str | None, tree: Path, clone: Path) -> str | None:
    """`text` with the paths it names inside the spec tree, or relative to it for the rest of the clone (a
    problem's message and hint, or `--env`'s scope hint: spec/scope.py)."""
    if not text:
        return None
    return text.replace(f"{tree}/", "").replace(f"{clone}/", f"{os.path.relpath(clone, tree)}/")
