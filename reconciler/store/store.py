"""The store (layer 3 adapter): append-only history of what the reconciler did, in SQL (plans.py: plans
and the compare-and-set of their states; a plan an older reconciler still writing left is read as its latest
status says).

A SQLite file by default (its folder is created on first use), PostgreSQL through a
`postgresql+psycopg://` URL. Opening applies the missing schema migrations. Times are stored and handed
back as aware UTC datetimes. Errors never carry the database password.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from reconciler.core.model import Desired
from reconciler.redaction import redact
from reconciler.store.desired import decode_desired, encode_desired
from reconciler.store.history import HistoryEntry, collect_history
from reconciler.store.migrations import MIGRATIONS, Step, StoreError, check_readable, migrate
from reconciler.store.plans import AWAITING, Held, PlanStore, Since, latest_env_event
from reconciler.store.sessions import Clock, as_utc, cause_of, hint_for, secrets_of, shown_url
from reconciler.store.tables import (
    ActionRecord,
    AppliedRevision,
    AutoscaleDecision,
    AutoscaleSample,
    DesiredState,
    EnvEvent,
    HealEvent,
    PlanRecord,
)

DEFAULT_FILE = "reconciler/history.db"
_URL_HINT = "write sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
CONNECT_TIMEOUT_S = 10  # seconds PostgreSQL's connection may take (a URL's connect_timeout wins)
DEFAULT_SAMPLES_KEEP = 6 * 3600.0  # seconds of autoscale samples kept (`run --autoscale-samples-keep`)


@dataclass(frozen=True)
class SampleRow:
    """One autoscaled app's decision inputs in a cycle: `document` is spec/simulation_record.py's record."""

    env: str
    app: str
    instances: int
    document: Mapping[str, Any]


class ActionLike(Protocol):
    """What the store keeps of a plan's action (core's Action has these fields)."""

    @property
    def kind(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def env(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def detail(self) -> str: ...


def default_database() -> Path:
    """`$XDG_STATE_HOME/reconciler/history.db`, else `~/.local/state/reconciler/history.db`."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / DEFAULT_FILE


def database_url(database: str | Path | None, *, must_exist: bool = False) -> sa.URL:
    """A SQLAlchemy URL for a URL, a file path (SQLite; its folder is created), or None (the default file).

    `must_exist`: a reader's open: a SQLite file that is not there is an error, and nothing is created.
    """
    if isinstance(database, str) and "://" in database:
        try:
            url = make_url(database)
        except sa.exc.ArgumentError as exc:
            raise StoreError(f"--database: {redact(str(exc))}", hint=_URL_HINT) from None
        except ValueError:  # SQLAlchemy reads the port with int()
            raise StoreError("--database: the URL's port is not a number", hint=_URL_HINT) from None
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            if must_exist:
                _check_exists(Path(url.database))
            elif "uri" not in url.query:  # a `file:` URI names its file in its own way
                _create_private(Path(url.database))
        return url
    path = Path(database) if database is not None else default_database()
    if must_exist:
        _check_exists(path)
        return make_url(f"sqlite:///{path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store's folder {path.parent}: {exc.strerror}",
                         hint="choose a writable --database path") from exc
    _create_private(path)
    return make_url(f"sqlite:///{path}")


def _create_private(path: Path) -> None:
    """A new SQLite file readable by its owner alone (SQLite gives its journal and WAL files the same mode):
    it keeps every applied definition whole, with the secrets written in the specs. An existing file keeps
    its mode; a file that cannot be created is left for SQLite to report."""
    with contextlib.suppress(OSError):  # FileExistsError among them
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise StoreError(f"no history database at {path}", hint="point at the one `reconciler run` writes:"
                         " --database PATH, or a postgresql+psycopg:// URL")


def _pool_of(url: sa.URL) -> dict[str, Any]:
    """An in-memory SQLite database lives in its connection, and SQLAlchemy's default gives each thread its
    own: the controller's worker thread would find an empty database. One connection instead, taken by one
    thread at a time. A file or a server: the default pool (a connection per call, any thread; each checked
    with a ping before use, so one a restarted server ended is replaced)."""
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return {"poolclass": sa.pool.QueuePool, "pool_size": 1, "max_overflow": 0,
                "connect_args": {"check_same_thread": False}}
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        # libpq waits for a server that does not answer (a host gone, a port nothing reads) as long as TCP
        # does, and a controller's cycle, or `history`, with it: a URL's own connect_timeout wins.
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    return {}


def _engine(url: sa.URL, prepare: Callable[[sa.Engine], object], hint: str) -> sa.Engine:
    """An engine for `url` that `prepare` (a migration, a version check) accepted; every failure a StoreError
    naming the database without its password."""
    where = shown_url(url)
    try:
        engine = sa.create_engine(url, pool_pre_ping=True, **_pool_of(url))
    except ModuleNotFoundError as exc:
        raise StoreError(f"cannot open the store at {where}: driver {exc.name!r} is not installed") from None
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"cannot open the store at {where}: {cause_of(exc, secrets_of(url))}",
                         hint=hint_for(exc, hint)) from None
    try:
        prepare(engine)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        # str(exc) may quote the connection string; name the database without its password instead.
        raise StoreError(f"cannot open the store at {where}: {cause_of(exc, secrets_of(url))}",
                         hint=hint_for(exc, hint)) from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _read_only_session(dialect: str) -> Callable[[Any, Any], None]:
    """A `connect` listener making each new connection refuse writes (the database, not only this code, keeps
    a reader from writing)."""

    def read_only(connection: Any, _record: Any) -> None:
        if dialect == "sqlite":
            connection.execute("PRAGMA query_only = ON")
        elif dialect == "postgresql":
            connection.read_only = True  # psycopg: every transaction it begins is READ ONLY

    return read_only


def _action_rows(plan_id: str, actions: Iterable[ActionLike], at: datetime) -> list[ActionRecord]:
    return [ActionRecord(plan_id=plan_id, seq=seq, env=a.env, app=a.target, kind=str(a.kind), reason=a.reason,
                         outcome=str(a.outcome), detail=a.detail, at=at) for seq, a in enumerate(actions)]


def _digest(policy: Any) -> str:
    return hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()[:16]


class Store(PlanStore):
    """Append-only history; every `record_*` is one transaction. Close it with `close()`."""

    @classmethod
    def open(
        cls, database: str | Path | None = None, *, clock: Clock | None = None, steps: Sequence[Step] = MIGRATIONS,
        must_exist: bool = False,
    ) -> Store:
        """The store a reconciler writes to, its missing migration steps applied. `must_exist`: refuse a SQLite
        file that is not there instead of creating it."""
        url = database_url(database, must_exist=must_exist)
        engine = _engine(url, lambda engine: migrate(engine, steps), "check that the database is reachable and the"
                                                                      " user may create tables")
        return cls(engine, clock=clock)

    @classmethod
    def open_for_reading(cls, database: str | Path | None = None) -> Store:
        """The store for a command that only reads (`history`, `status`): never created, migrated nor written
        to. Its connections are read-only (SQLite's `query_only`, a read-only PostgreSQL session), and a schema
        this version does not read as it is is refused, naming its version (migrations.check_readable): a
        newer reconciler's CLI never upgrades a store an older controller still writes to."""
        url = database_url(database, must_exist=True)

        def check(engine: sa.Engine) -> None:
            sa.event.listen(engine, "connect", _read_only_session(engine.dialect.name))
            with engine.connect() as conn:
                check_readable(conn)

        return cls(_engine(url, check, "check that the database is reachable"))

    # -- writes ---------------------------------------------------------------------------------

    def record_revision(
        self, env: str, revision: str, digest: str, *, source: str = "", at: datetime | None = None
    ) -> AppliedRevision:
        row = AppliedRevision(env=env, revision=revision, digest=digest, source=source,
                              at=as_utc(at) if at else self.now())
        return self._add([row])[0]

    def record_synced(
        self, env: str, revision: str, digest: str, *, source: str = "", desired: Desired | None = None,
        at: datetime | None = None,
    ) -> bool:
        """`env` synced to `revision` at `at` (now by default) and, with `desired`, its desired state unless one
        of `digest` is recorded already, in one transaction: never the revision without its desired state.
        Recorded once: False when the same sync (env, revision, digest, time) is in already (a retry after a
        commit whose answer was lost)."""
        at = as_utc(at) if at else self.now()
        try:
            with Session(self._engine) as session:
                same = select(AppliedRevision.id).where(
                    AppliedRevision.env == env, AppliedRevision.revision == revision, AppliedRevision.digest == digest,
                    AppliedRevision.at == at)
                if session.exec(same.limit(1)).first() is not None:
                    return False
                session.add(AppliedRevision(env=env, revision=revision, digest=digest, source=source, at=at))
                known = select(DesiredState.id).where(DesiredState.env == env, DesiredState.digest == digest)
                if desired is not None and session.exec(known.limit(1)).first() is None:
                    session.add(DesiredState(env=env, revision=revision, digest=digest,
                                             document=encode_desired(desired, env), at=at))
                session.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise self.write_failed(exc, "the history of this cycle is incomplete; check the database") from None
        return True

    def record_actions(self, plan_id: str, actions: Iterable[ActionLike]) -> list[ActionRecord]:
        return self._add(_action_rows(plan_id, actions, self.now()))

    def record_executed(
        self, plan_id: str, env: str, revision: str, digest: str, status: str, actions: Sequence[ActionLike], *,
        heals: Iterable[ActionLike] = (), cycle_id: str = "", at: datetime | None = None,
    ) -> bool:
        """A plan a cycle executed, its actions and its heal kills (a heal action's target is the task), all at
        `at` (the cycle's time; now by default), in one transaction: never a plan without its actions. Recorded
        once: False when plan `plan_id` is in already (a retry after a commit whose answer was lost)."""
        at = as_utc(at) if at else self.now()
        rows: list[Any] = [PlanRecord(id=plan_id, env=env, revision=revision, digest=digest, status=status,
                                      state=status, cycle_id=cycle_id, at=at), *_action_rows(plan_id, actions, at)]
        rows += [HealEvent(env=env, app=h.target, task_id=h.target, reason=h.reason, outcome=h.outcome, at=at)
                 for h in heals]
        try:
            with Session(self._engine) as session:
                if session.get(PlanRecord, plan_id) is not None:
                    return False
                session.add_all(rows)
                session.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise self.write_failed(exc, "the history of this cycle is incomplete; check the database") from None
        return True

    def record_pending(
        self, plan_id: str, env: str, revision: str, digest: str, desired: Desired, actions: Iterable[ActionLike],
        *, detail: Callable[[PlanRecord], str], cycle_id: str = "", replacing: str = "", since: Since | None = None,
    ) -> Held:
        """Plan `plan_id` of `env` awaiting approval, with its desired state and actions, unless a plan of
        `digest` awaits already; the others awaiting are superseded (`detail` of the plan that awaits). One
        transaction under the environment's lock (plans.py's hold_plan); with `replacing`, only while that
        plan still awaits; with `since`, only while that event is still the environment's latest."""
        at = self.now()
        plan = PlanRecord(id=plan_id, env=env, revision=revision, digest=digest, status=AWAITING, state=AWAITING,
                          cycle_id=cycle_id, at=at)
        state = DesiredState(env=env, revision=revision, digest=digest, document=encode_desired(desired, env), at=at)
        return self.hold_plan(plan, [state, *_action_rows(plan_id, actions, at)], detail=detail, replacing=replacing,
                              since=since)

    def record_heal(self, env: str, app: str, task_id: str, reason: str, outcome: str) -> HealEvent:
        row = HealEvent(env=env, app=app, task_id=task_id, reason=reason, outcome=outcome, at=self.now())
        return self._add([row])[0]

    def record_autoscale(
        self, env: str, app: str, current: int, desired: int, reason: str, *, cycle_id: str = "",
        limited_by: str | None = None, recommendation: int | None = None, metrics: Sequence[Mapping[str, Any]] = (),
        at: datetime | None = None,
    ) -> AutoscaleDecision:
        """One decision (at `at`, now by default); `metrics` holds per metric `name`, `current`, `target` and
        `proposal`."""
        row = AutoscaleDecision(env=env, app=app, current=current, desired=desired, reason=reason,
                                at=as_utc(at) if at else self.now(),
                                cycle_id=cycle_id, limited_by=limited_by or "", recommendation=recommendation,
                                metrics=json.dumps(list(metrics), sort_keys=True))
        return self._add([row])[0]

    def record_autoscale_samples(
        self, cycle_id: str, samples: Sequence[SampleRow], *, keep_seconds: float = DEFAULT_SAMPLES_KEEP,
        at: datetime | None = None,
    ) -> None:
        """A cycle's samples, taken at `at` (now by default), in one transaction, which also drops the samples
        older than `keep_seconds`; samples already that old when written (a store that was down) are not added."""
        now = self.now()
        at = as_utc(at) if at else now
        cutoff = now - timedelta(seconds=keep_seconds)
        rows = [AutoscaleSample(env=s.env, app=s.app, cycle_id=cycle_id, at=at, instances=s.instances,
                                policy_digest=_digest(s.document.get("policy")),
                                document=json.dumps(s.document, sort_keys=True, separators=(",", ":")))
                for s in samples if at >= cutoff]
        try:
            with Session(self._engine) as session:
                session.add_all(rows)
                session.execute(sa.delete(AutoscaleSample).where(col(AutoscaleSample.at) < cutoff))
                session.commit()
        except sa.exc.SQLAlchemyError as exc:
            raise self.write_failed(exc, "this cycle's autoscale samples are missing; check the database") from None

    def record_desired_state(
        self, env: str, revision: str, digest: str, desired: Desired, *, at: datetime | None = None
    ) -> DesiredState:
        """`env`'s part of `desired` as synced at `revision`; `digest` is reporting.env_digest of it."""
        row = DesiredState(env=env, revision=revision, digest=digest, document=encode_desired(desired, env),
                           at=as_utc(at) if at else self.now())
        return self._add([row])[0]

    def record_env_event(
        self, env: str, kind: str, *, revision: str = "", digest: str = "", by: str = "", detail: str = ""
    ) -> EnvEvent:
        row = EnvEvent(env=env, kind=kind, revision=revision, digest=digest, by=by, detail=detail, at=self.now())
        return self._add([row])[0]

    # -- reads ----------------------------------------------------------------------------------

    def last_revision(self, env: str) -> AppliedRevision | None:
        """The revision `env` was last synced to, or None."""
        statement = (select(AppliedRevision).where(AppliedRevision.env == env)
                     .order_by(col(AppliedRevision.at).desc(), col(AppliedRevision.id).desc()).limit(1))
        found = self._all(statement)
        return found[0] if found else None

    def actions_of(self, plan_id: str) -> list[ActionRecord]:
        return self._all(select(ActionRecord).where(ActionRecord.plan_id == plan_id).order_by(col(ActionRecord.seq)))

    def history(
        self, env: str | None = None, app: str | None = None, since: datetime | None = None
    ) -> list[HistoryEntry]:
        """Every record of `env` (and `app`) at or after `since`, oldest first."""
        return collect_history(self._all, env=env, app=app, since=as_utc(since) if since else None)

    def desired_state(self, env: str, *, revision: str | None = None, digest: str | None = None) -> Desired | None:
        """The latest desired state recorded for `env` (at `revision`, or with `digest`), or None."""
        statement = select(DesiredState).where(DesiredState.env == env)
        if revision is not None:
            statement = statement.where(col(DesiredState.revision).startswith(revision))
        if digest is not None:
            statement = statement.where(DesiredState.digest == digest)
        found = self._all(statement.order_by(col(DesiredState.at).desc(), col(DesiredState.id).desc()).limit(1))
        return decode_desired(found[0].document) if found else None

    def autoscale_samples(self, app: str, *, since: datetime | None = None) -> list[AutoscaleSample]:
        """The samples of `app` (its Marathon id) at or after `since`, oldest first."""
        statement = select(AutoscaleSample).where(AutoscaleSample.app == app)
        if since is not None:
            statement = statement.where(col(AutoscaleSample.at) >= as_utc(since))
        return self._all(statement.order_by(col(AutoscaleSample.at), col(AutoscaleSample.id)))

    def autoscale_sample_apps(self) -> list[str]:
        """Every app with samples kept, sorted."""
        return sorted(self._all(select(AutoscaleSample.app).distinct()))

    def last_env_event(self, env: str, kinds: Iterable[str]) -> EnvEvent | None:
        """The latest event of `env` among `kinds` (e.g. the latest of paused/resumed), or None."""
        found = self._all(latest_env_event(env, kinds))
        return found[0] if found else None

    # -- what status, rollback and resume read ------------------------------------------------------

    def environments(self) -> list[str]:
        """Every environment the store knows (synced, paused or with a recorded desired state), sorted."""
        names: set[str] = set()
        for table in (AppliedRevision, DesiredState, EnvEvent):
            names.update(self._all(select(table.env).distinct()))  # type: ignore[attr-defined]
        return sorted(names)

    def revisions(self, env: str, *, prefix: str = "", limit: int | None = None) -> list[AppliedRevision]:
        """`env`'s synced revisions (starting with `prefix`), newest first."""
        statement = select(AppliedRevision).where(AppliedRevision.env == env)
        if prefix:
            statement = statement.where(col(AppliedRevision.revision).startswith(prefix))
        statement = statement.order_by(col(AppliedRevision.at).desc(), col(AppliedRevision.id).desc())
        return self._all(statement.limit(limit) if limit is not None else statement)

    def last_heal(self, env: str, outcomes: Collection[str] | None = None) -> HealEvent | None:
        """`env`'s last heal event (of one of `outcomes`, when given)."""
        statement = select(HealEvent).where(HealEvent.env == env)
        if outcomes is not None:
            statement = statement.where(col(HealEvent.outcome).in_(list(outcomes)))
        found = self._all(statement.order_by(col(HealEvent.at).desc(), col(HealEvent.id).desc()).limit(1))
        return found[0] if found else None

    def last_failed_action(self, env: str) -> ActionRecord | None:
        found = self._all(select(ActionRecord).where(ActionRecord.env == env, ActionRecord.outcome == "failed")
                          .order_by(col(ActionRecord.at).desc(), col(ActionRecord.id).desc()).limit(1))
        return found[0] if found else None
