"""Who owns which environments: the leader lock's record, and the guard a hand-run apply passes (engine layer).

The leader writes a JSON record as the lock key's value (its identity, since when it leads, the
environments it reconciles) and rewrites it at every heartbeat. A one-off `apply` reads the key: a
live session holding it for an environment in the apply's scope means a controller would fight the
hand-made change, so the apply is refused unless forced. `approve` reads it too and hands its approval
to such a controller instead of writing (engine/approving.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.engine.lock_key import DEFAULT_KEY
from reconciler.errors import GuardRefused, RemoteError


class LockReader(Protocol):
    async def get_kv(self, key: str, *, block: BlockingState | None = None) -> tuple[wire.KVPair | None, BlockingState]:
        ...


@dataclass(frozen=True)
class LockRecord:
    """The lock key's value. `envs` None: every environment (a record from before envs were written)."""

    holder: str
    since: str = ""  # ISO 8601 UTC, when this holder took the lock
    envs: tuple[str, ...] | None = None

    def encode(self) -> bytes:
        body: dict[str, object] = {"holder": self.holder, "since": self.since}
        if self.envs is not None:
            body["envs"] = list(self.envs)
        return json.dumps(body, sort_keys=True).encode()

    @classmethod
    def decode(cls, value: bytes | None) -> LockRecord:
        """Whatever the key holds; an unreadable value is a holder with no name that owns everything."""
        try:
            body = json.loads(value or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        envs = body.get("envs")
        owned = tuple(str(e) for e in envs) if isinstance(envs, list) else None
        return cls(holder=str(body.get("holder") or ""), since=str(body.get("since") or ""), envs=owned)

    def owns(self, env: str) -> bool:
        return self.envs is None or env in self.envs


@dataclass(frozen=True)
class Owner:
    """A live lock holder that owns some of the environments asked about."""

    record: LockRecord
    session: str
    envs: tuple[str, ...]
    key: str

    def describe(self) -> str:
        who = self.record.holder or f"an unnamed holder (session {self.session})"
        since = f", leader since {self.record.since}" if self.record.since else ""
        return f"{who}{since}"


async def live_owner(consul: LockReader, envs: Iterable[str], key: str = DEFAULT_KEY) -> Owner | None:
    """The live controller owning any of `envs`, or None. Consul clears the key's Session the moment
    the holder's session ends (TTL, destroy, failed check), so a Session on the key means a live one."""
    pair, _ = await consul.get_kv(key)
    if pair is None or not pair.session:
        return None
    record = LockRecord.decode(pair.value)
    owned = tuple(sorted(e for e in set(envs) if record.owns(e)))
    return Owner(record, pair.session, owned, key) if owned else None


async def read_owner(consul: LockReader | None, envs: Iterable[str], *, key: str = DEFAULT_KEY
                     ) -> tuple[Owner | None, str | None]:
    """The live controller owning one of `envs` (none without Consul), and a warning to print when the lock
    could not be read (the command goes on: a controller cannot lead through a Consul it cannot read either)."""
    if consul is None:
        return None, None
    try:
        return await live_owner(consul, envs, key), None
    except RemoteError as exc:
        return None, f"could not read the leader lock {key} to check for a live controller: {exc}"


async def ownership_guard(
    consul: LockReader | None, envs: Iterable[str], *, force: bool, key: str = DEFAULT_KEY
) -> str | None:
    """A hand-run apply's check before it writes (none without Consul): raises GuardRefused (exit 4)
    when a live controller owns one of `envs`; returns a warning to print when `force` overrode one,
    or when the lock could not be read (the apply goes on: a controller cannot lead through a Consul
    this apply cannot read either)."""
    owner, unread = await read_owner(consul, envs, key=key)
    if owner is None or force:
        return unread or forced_over(owner, "applying to")
    raise GuardRefused(
        f"environment(s) {', '.join(owner.envs)} are reconciled by the live controller {owner.describe()}"
        f" (Consul lock {key}); a hand-run apply would fight it",
        hint="change the specs the controller follows, stop it, or pass --force to apply anyway",
    )


def forced_over(owner: Owner | None, doing: str) -> str | None:
    """The warning of a command that `--force` let write over a live controller's environments."""
    if owner is None:
        return None
    return f"--force: {doing} {', '.join(owner.envs)} although the live controller {owner.describe()} owns them"
