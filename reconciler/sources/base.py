"""What a spec source is (layer 3 adapter, sources): fetch -> a checkout path and its revision.

A Source is fetched before each cycle that wants fresh specs (a poll timer or a webhook); fetching is
blocking I/O, so the engine calls it off the event loop. The poll delay carries jitter so that many
controllers polling one git server do not hit it in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reconciler.errors import ExitCode, ReconcilerError

DEFAULT_POLL_SECONDS = 30.0
DEFAULT_JITTER = 0.2  # each delay is within +-20% of the interval


class SourceError(ReconcilerError):
    """The spec source could not be read (git failed, folder missing); retryable on the next poll."""

    code = "source-error"


class RevisionError(SourceError):
    """The source's newest revision was fetched but holds no spec tree (its --path folder is missing): a
    problem of that revision, like a spec that does not load, rather than of the fetch."""

    exit_code = ExitCode.INVALID_SPEC  # `run` refuses to start on it as on specs that do not load

    def __init__(self, message: str, *, revision: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.revision = revision


@dataclass(frozen=True)
class Checkout:
    """A spec tree on disk at one revision (a commit sha, or a folder's content hash)."""

    path: Path
    revision: str
    root: Path | None = None  # the repository's top (a git clone): files in errors are named from there


class Source(Protocol):
    def fetch(self) -> Checkout:
        """The spec tree at the source's newest revision; raises SourceError."""
        ...

    def describe(self) -> str:
        """Where the specs come from, fit for logs and status (never a credential)."""
        ...

    def close(self) -> None:
        """Stops for good, from any thread: a fetch running now ends at once (failing), no later one runs."""
        ...


def next_poll_delay(interval: float, draw: float, jitter: float = DEFAULT_JITTER) -> float:
    """`interval` moved by up to +-`jitter` of itself: `draw` in [0, 1) picks where (0.5 = no change)."""
    if interval <= 0:
        raise ValueError("the poll interval must be positive")
    if not 0 <= jitter < 1:
        raise ValueError("the jitter must be in [0, 1)")
    draw = min(max(draw, 0.0), 1.0)
    return interval * (1 + jitter * (2 * draw - 1))
