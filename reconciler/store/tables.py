"""The store's tables as sqlmodel classes (layer 3 adapter, store): the schema at its latest version.

History is append-only: rows are inserted, never updated or deleted (a plan's later status is a new
`plan_events` row). Two exceptions: a plan's `state`, its latest status, which a reconciler moves with a
compare-and-set (plans.py); and `autoscale_samples`, measurements rather than a record of what was done,
kept for a bounded time (`reconciler run --autoscale-samples-keep`). The migration steps in
migrations.py build exactly this schema; a test compares the two, so a column added here without a
migration step fails the suite.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

SCHEMA_VERSION_TABLE = "schema_version"


class SchemaVersion(SQLModel, table=True):
    __tablename__ = SCHEMA_VERSION_TABLE
    version: int = Field(primary_key=True)
    applied_at: datetime
    compatible_from: int | None = None  # the oldest version whose reconciler may use the store; since v8


class AppliedRevision(SQLModel, table=True):
    """An environment synced to a revision (a commit sha, or a folder's content hash)."""

    __tablename__ = "revisions"
    id: int | None = Field(default=None, primary_key=True)
    env: str = Field(index=True)
    revision: str
    digest: str  # of the desired state applied: the same digest means the same definitions
    at: datetime = Field(index=True)
    source: str = ""  # where the revision came from (a path or a URL without credentials); since v2


class PlanRecord(SQLModel, table=True):
    __tablename__ = "plans"
    __table_args__ = (Index("ix_plans_env_status_at", "env", "status", "at"),)  # since v7
    id: str = Field(primary_key=True)
    env: str = Field(index=True)
    revision: str
    digest: str
    status: str  # the status it was recorded with; later ones are PlanEvent rows
    at: datetime = Field(index=True)
    cycle_id: str = ""
    state: str = ""  # its latest status, moved only by a compare-and-set (store/plans.py); since v6


class PlanEvent(SQLModel, table=True):
    """A later status of a plan (approved, applied, failed, superseded): appended, never updated."""

    __tablename__ = "plan_events"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(index=True)
    status: str
    at: datetime = Field(index=True)  # since v9: `history --since` reads the later statuses by time
    detail: str = ""


class ActionRecord(SQLModel, table=True):
    __tablename__ = "actions"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(index=True)
    seq: int  # position in the plan
    env: str = Field(index=True)
    app: str = Field(index=True)
    kind: str
    reason: str
    outcome: str
    detail: str = ""
    at: datetime = Field(index=True)


class HealEvent(SQLModel, table=True):
    __tablename__ = "heal_events"
    id: int | None = Field(default=None, primary_key=True)
    env: str = Field(index=True)
    app: str = Field(index=True)
    task_id: str
    reason: str
    outcome: str
    at: datetime = Field(index=True)


class ApprovalDecision(SQLModel, table=True):
    __tablename__ = "approvals"
    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(index=True)
    env: str = Field(index=True)
    digest: str
    decision: str  # approved: recorded with the plan's move to it (plans.py's approve_plan)
    by: str
    at: datetime = Field(index=True)
    note: str = ""


class AutoscaleDecision(SQLModel, table=True):
    """An autoscaler's decision (since v2): the desired instance count it chose, and why."""

    __tablename__ = "autoscale_decisions"
    id: int | None = Field(default=None, primary_key=True)
    env: str = Field(index=True)
    app: str = Field(index=True)
    current: int
    desired: int
    reason: str
    at: datetime = Field(index=True)
    # since v4: the cycle, the rule that limited it, the largest proposal, and per metric
    # `name`/`current`/`target`/`proposal` as JSON
    cycle_id: str = ""
    limited_by: str = ""
    recommendation: int | None = None
    metrics: str = Field(default="[]", sa_type=Text)


class DesiredState(SQLModel, table=True):
    """An environment's whole desired state at a revision (since v3), as store/desired.py encodes it:
    what `rollback` re-applies and what an approved plan was planned from."""

    __tablename__ = "desired_states"
    id: int | None = Field(default=None, primary_key=True)
    env: str = Field(index=True)
    revision: str
    digest: str = Field(index=True)
    document: str = Field(sa_type=Text)
    at: datetime = Field(index=True)


class EnvEvent(SQLModel, table=True):
    """Something that happened to an environment as a whole (since v3): paused, resumed, rolled-back."""

    __tablename__ = "env_events"
    id: int | None = Field(default=None, primary_key=True)
    env: str = Field(index=True)
    kind: str
    revision: str = ""
    digest: str = ""
    by: str = ""
    detail: str = ""
    at: datetime = Field(index=True)


class AutoscaleSample(SQLModel, table=True):
    """What one autoscale decision was made from (since v5): one row per autoscaled app per cycle.

    `document` is spec/simulation_record.py's record (policy, count, decision memory, tasks with their
    samples, Prometheus values); `policy_digest` tells a replay where the policy changed. Pruned by age.
    """

    __tablename__ = "autoscale_samples"
    id: int | None = Field(default=None, primary_key=True)
    env: str
    app: str = Field(index=True)
    cycle_id: str
    at: datetime = Field(index=True)
    instances: int
    policy_digest: str
    document: str = Field(sa_type=Text)
