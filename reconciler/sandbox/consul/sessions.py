"""Emulated Consul sessions: create, renew, destroy, TTL expiry and check binding (sandbox layer).

A session is invalidated by destroy, TTL expiry (after twice the TTL, as Consul's timers run), its
node leaving, or a bound check going critical or away; its locks are then released (or their keys
deleted) and its prepared queries removed. TTLs and lock-delays run `time_scale` times their nominal
length so tests need not wait 10 s.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reconciler.sandbox.consul.catalog import SERF_CHECK_ID, Catalog, Check, CheckStatus
from reconciler.sandbox.consul.durations import DurationError, duration_field, format_duration
from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.kv import Behavior, KVStore
from reconciler.sandbox.consul.registration import pick

MIN_TTL, MAX_TTL = 10.0, 86400.0
# agent/consul/session_ttl.go resetSessionTimer: the timer runs for TTL * structs.SessionTTLMultiplier (2).
SESSION_TTL_MULTIPLIER = 2
MAX_LOCK_DELAY = 60.0
DEFAULT_LOCK_DELAY = 15.0


@dataclass
class Session:
    id: str
    name: str
    node: str
    lock_delay: float
    behavior: Behavior
    ttl: float
    node_checks: list[str]
    service_checks: list[dict[str, str]] | None
    create_index: int = 0
    modify_index: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "ID": self.id, "Name": self.name, "Node": self.node, "LockDelay": round(self.lock_delay * 1e9),
            "Behavior": str(self.behavior), "TTL": format_duration(self.ttl) if self.ttl else "",
            "NodeChecks": list(self.node_checks), "ServiceChecks": self.service_checks,
            "CreateIndex": self.create_index, "ModifyIndex": self.modify_index,
        }


def _rpc_error(text: str) -> ConsulHTTPError:
    """An error of the Session.Apply RPC (agent/consul/session_endpoint.go Apply)."""
    return ConsulHTTPError(500, text, rpc=True)


def lock_delay_of(value: Any) -> float:
    """Seconds of lock-delay; like Consul, a value under 1000 ns means that many seconds."""
    if value is None:
        return DEFAULT_LOCK_DELAY
    try:
        seconds = duration_field(value)
    except DurationError as exc:
        raise ConsulHTTPError(400, f"Request decode failed: LockDelay: {exc}") from exc
    if 0 < seconds < 1000e-9 or (isinstance(value, int | float) and 0 < value < 1000):
        seconds = round(seconds * 1e9)
    if not 0 <= seconds <= MAX_LOCK_DELAY:
        raise _rpc_error(f"Invalid LockDelay '{format_duration(seconds)}', must be between [0s=1m0s]")
    return seconds


def ttl_of(value: Any) -> float:
    if value in (None, ""):
        return 0.0
    try:
        seconds = duration_field(value)
    except DurationError as exc:
        raise ConsulHTTPError(400, f"Request decode failed: TTL: {exc}") from exc
    if seconds != 0 and not MIN_TTL <= seconds <= MAX_TTL:
        # Consul formats the time.Duration with %d: nanoseconds (agent/consul/session_endpoint.go Apply).
        raise _rpc_error(f"Invalid Session TTL '{round(seconds * 1e9)}', must be between [10s=24h0m0s]")
    return seconds


class SessionStore:
    """Sessions of one datacenter; observes the catalog to invalidate sessions bound to failing checks."""

    def __init__(self, catalog: Catalog, kv: KVStore, time_scale: float = 1.0) -> None:
        self.catalog = catalog
        self.kv = kv
        self.time_scale = time_scale
        self.sessions: dict[str, Session] = {}
        self.table_index = 1
        self.invalidation_listeners: list[Callable[[str], None]] = []
        catalog.observers.append(self)

    def _write(self) -> int:
        self.table_index = self.catalog.index.advance()
        return self.table_index

    def create(self, body: dict[str, Any], default_node: str) -> Session:
        node = pick(body, "Node", "") or default_node
        checks = pick(body, "NodeChecks", pick(body, "Checks"))
        behavior = pick(body, "Behavior", "") or Behavior.RELEASE
        if behavior not in set(Behavior):
            raise _rpc_error(f"Invalid Behavior setting '{behavior}'")
        session = Session(
            id=str(uuid.uuid4()), name=pick(body, "Name", "") or "", node=node,
            lock_delay=lock_delay_of(pick(body, "LockDelay")), behavior=Behavior(behavior),
            ttl=ttl_of(pick(body, "TTL")), node_checks=[SERF_CHECK_ID] if checks is None else list(checks),
            service_checks=pick(body, "ServiceChecks"),
        )
        self._validate_binding(session)
        session.create_index = session.modify_index = self._write()
        self.sessions[session.id] = session
        self._arm(session)
        return session

    def _validate_binding(self, session: Session) -> None:
        if session.node not in self.catalog.nodes:
            raise _rpc_error("Missing node registration")
        bound = list(session.node_checks) + [c.get("ID", "") for c in session.service_checks or []]
        for check_id in bound:
            check = self.catalog.checks.get((session.node, check_id))
            if check is None:
                raise _rpc_error(f"Missing check '{check_id}' registration")
            if check.status == CheckStatus.CRITICAL:
                raise _rpc_error(f"Check '{check_id}' is in critical state")

    def _arm(self, session: Session) -> None:
        if session.timer is not None:
            session.timer.cancel()
        if session.ttl:
            loop = asyncio.get_running_loop()
            delay = session.ttl * SESSION_TTL_MULTIPLIER * self.time_scale
            session.timer = loop.call_later(delay, self.invalidate, session.id)

    def renew(self, session_id: str) -> Session | None:
        session = self.sessions.get(session_id)
        if session is not None:
            self._arm(session)
        return session

    def invalidate(self, session_id: str) -> bool:
        """Destroy a session: its locks go (released or deleted, then lock-delay), its queries too."""
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        if session.timer is not None:
            session.timer.cancel()
        self.kv.drop_session(session_id, session.behavior, session.lock_delay * self.time_scale)
        for listener in self.invalidation_listeners:
            listener(session_id)
        self._write()
        return True

    def index_of(self, sessions: list[Session]) -> int:
        return max([s.modify_index for s in sessions] + [self.table_index])

    def close(self) -> None:
        for session in self.sessions.values():
            if session.timer is not None:
                session.timer.cancel()

    # -- catalog observer --------------------------------------------------------------------

    def check_changed(self, check: Check, removed: bool) -> None:
        if not removed and check.status != CheckStatus.CRITICAL:
            return
        for session in list(self.sessions.values()):
            bound = session.node_checks + [c.get("ID", "") for c in session.service_checks or []]
            if session.node == check.node and check.check_id in bound:
                self.invalidate(session.id)

    def node_removed(self, node: str) -> None:
        for session in [s for s in self.sessions.values() if s.node == node]:
            self.invalidate(session.id)
