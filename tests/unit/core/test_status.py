"""The status document's builder: every sync state and health value from real plans, and the precedence
of the environment's sync state (Paused > AwaitingApproval > RequiresPruning > Progressing > OutOfSync >
Synced)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.core.app_status import AppStatus, Health, SyncState, app_statuses, plan_statuses
from reconciler.core.model import Action, ActionKind, Actual, ActualDeployment, ActualTask, Desired, Outcome, Plan
from reconciler.core.plan import PlanOptions, build_plan
from reconciler.core.status import (
    EnvFacts,
    LastError,
    Pause,
    Pending,
    env_health,
    env_sync,
    pending_of,
    status_document,
)
from tests.unit.core.planner_builders import applied, desired_app, desired_of

PAUSE = Pause("alice@host", "aaa111", "d1", "2026-12-07T00:00:00+00:00")
APPROVAL = Pending("ccc333", "awaiting-approval", plan_id="p1", digest="d3")


def with_tasks(actual: Actual, app_id: str, count: int, *, healthy: bool | None = None) -> Actual:
    app = actual.apps[app_id]
    tasks = tuple(ActualTask(f"{app_id}.t{n}", app_id, "127.0.0.2", (31000 + n,), healthy=healthy)
                  for n in range(count))
    return replace(actual, apps={**actual.apps, app_id: replace(app, tasks=tasks)})


def converged(desired: Desired) -> Actual:
    actual = applied(desired)
    for app in desired.apps.values():
        actual = with_tasks(actual, app.app_id, app.instances, healthy=True if "healthChecks" in app.definition
                            else None)
    return actual


def document(desired: Desired, actual: Actual, facts: EnvFacts | None = None) -> dict[str, object]:
    plan = build_plan(desired, actual, PlanOptions())
    rows = plan_statuses(desired, actual, None, plan)
    return status_document({env: facts or EnvFacts() for env in desired.environments}, rows, plan, actual)


WEB = desired_app("web", "shop", instances=2, cmd="serve")
DB = desired_app("db", "shop", instances=1, cmd="db",
                 healthChecks=[{"protocol": "COMMAND", "command": {"value": "true"}}])
SHOP = desired_of(WEB, DB)


def states(doc: dict[str, object], env: str = "shop") -> tuple[str, str]:
    block = doc["environments"][env]  # type: ignore[index]
    return block["sync"], block["health"]


def test_converged_is_synced_and_healthy() -> None:
    doc = document(SHOP, converged(SHOP))
    assert states(doc) == ("Synced", "Healthy")
    assert doc["apps"]["/shop/db"] == {  # type: ignore[index]
        "env": "shop", "name": "db", "desired": 1, "running": 1, "healthy": 1, "passing": None, "sync": "Synced",
        "health": "Healthy", "note": ""}
    assert doc["environments"]["shop"]["instances"] == {"desired": 3, "running": 3, "healthy": 1, "passing": 0}  # type: ignore[index]


def test_a_changed_definition_is_out_of_sync_and_an_absent_app_missing() -> None:
    actual = converged(desired_of(WEB))
    doc = document(desired_of(replace(WEB, instances=3, definition={**WEB.definition, "instances": 3}), DB), actual)
    assert states(doc) == ("OutOfSync", "Missing")
    assert doc["apps"]["/shop/web"]["sync"] == "OutOfSync"  # type: ignore[index]
    assert (doc["apps"]["/shop/db"]["sync"], doc["apps"]["/shop/db"]["health"]) == ("OutOfSync", "Missing")  # type: ignore[index]


def test_fewer_running_or_healthy_is_degraded_and_worse_than_missing() -> None:
    actual = with_tasks(converged(SHOP), "/shop/db", 1, healthy=False)
    assert states(document(SHOP, actual)) == ("Synced", "Degraded")
    short = with_tasks(converged(SHOP), "/shop/web", 1)
    assert document(SHOP, short)["apps"]["/shop/web"]["health"] == "Degraded"  # type: ignore[index]
    missing_and_degraded = with_tasks(converged(desired_of(DB)), "/shop/db", 0)
    assert states(document(SHOP, missing_and_degraded))[1] == "Degraded"


def test_a_running_deployment_is_progressing() -> None:
    actual = replace(converged(SHOP), deployments=(ActualDeployment("dep-1", ("/shop/web",)),))
    doc = document(SHOP, actual)
    assert states(doc) == ("Progressing", "Healthy")
    assert doc["apps"]["/shop/web"]["sync"] == "Progressing"  # type: ignore[index]


def test_a_managed_app_that_left_the_specs_requires_pruning() -> None:
    actual = converged(SHOP)
    assert states(document(desired_of(WEB), actual)) == ("RequiresPruning", "Healthy")


def test_a_crash_looping_app_is_degraded_with_its_note() -> None:
    actual = converged(SHOP)
    refused = Action(ActionKind.WARN, "/shop/web", "crash-looping: 5 heals in 600s", env="shop",
                     outcome=Outcome.REFUSED)
    rows = app_statuses(SHOP, actual, None, (refused,))
    web = next(r for r in rows if r.app_id == "/shop/web")
    assert (web.sync, web.health, web.note) == (SyncState.SYNCED, Health.DEGRADED, "crash-looping: healing stopped")


def test_a_pending_registration_is_out_of_sync() -> None:
    actual = converged(SHOP)
    register = Action(ActionKind.REGISTER, "shop-web-t0", "task not registered", env="shop")
    plan = Plan(actions=(register,))
    doc = status_document({"shop": EnvFacts()}, plan_statuses(SHOP, actual, None, plan), plan, actual)
    assert states(doc) == ("OutOfSync", "Healthy")


def test_paused_and_awaiting_approval_come_from_the_facts() -> None:
    actual = converged(SHOP)
    assert states(document(SHOP, actual, EnvFacts(approval=APPROVAL)))[0] == "AwaitingApproval"
    doc = document(SHOP, actual, EnvFacts(pause=PAUSE, approval=APPROVAL, specs_revision="bbb222"))
    assert states(doc)[0] == "Paused"
    assert doc["environments"]["shop"]["pause"]["by"] == "alice@host"  # type: ignore[index]


def _row(sync: SyncState) -> AppStatus:
    return AppStatus("/e/a", "e", "a", 1, (), None, None, "", True, sync, Health.HEALTHY)


@pytest.mark.parametrize(("facts", "syncs", "prunable", "expected"), [
    (EnvFacts(pause=PAUSE, approval=APPROVAL), [SyncState.OUT_OF_SYNC], True, SyncState.PAUSED),
    (EnvFacts(approval=APPROVAL), [SyncState.PROGRESSING], True, SyncState.AWAITING_APPROVAL),
    (EnvFacts(), [SyncState.PROGRESSING, SyncState.OUT_OF_SYNC], True, SyncState.REQUIRES_PRUNING),
    (EnvFacts(), [SyncState.OUT_OF_SYNC, SyncState.PROGRESSING], False, SyncState.PROGRESSING),
    (EnvFacts(), [SyncState.SYNCED, SyncState.OUT_OF_SYNC], False, SyncState.OUT_OF_SYNC),
    (EnvFacts(), [SyncState.SYNCED], False, SyncState.SYNCED),
    (EnvFacts(), [], False, SyncState.SYNCED),
])
def test_the_environments_sync_state_precedence(
    facts: EnvFacts, syncs: list[SyncState], prunable: bool, expected: SyncState
) -> None:
    assert env_sync(facts, [_row(s) for s in syncs], prunable=prunable, out_of_sync=False) == expected


def test_health_is_the_worst_and_healthy_without_apps() -> None:
    rows = [replace(_row(SyncState.SYNCED), health=h) for h in (Health.HEALTHY, Health.MISSING)]
    assert env_health(rows) == Health.MISSING
    assert env_health([*rows, replace(rows[0], health=Health.DEGRADED)]) == Health.DEGRADED
    assert env_health([]) == Health.HEALTHY


def test_the_pending_commit() -> None:
    invalid = Pending("ddd444", "invalid", "specs/shop.yaml:3: apps.web.chart: unknown chart")
    assert pending_of(EnvFacts(approval=APPROVAL, invalid=invalid)) == APPROVAL
    assert pending_of(EnvFacts(pause=PAUSE, invalid=invalid, specs_revision="bbb222")) == invalid
    assert pending_of(EnvFacts(pause=PAUSE, specs_revision="bbb222")) == Pending("bbb222", "paused")
    assert pending_of(EnvFacts(pause=PAUSE, specs_revision=PAUSE.revision)) is None
    assert pending_of(EnvFacts(specs_revision="bbb222", last_error=LastError("x", "t"))) is None


def test_apps_of_other_environments_stay_out_of_the_document() -> None:
    other = desired_app("web", "blog", cmd="serve")
    both = desired_of(WEB, other)
    actual = converged(both)
    plan = build_plan(both, actual)
    doc = status_document({"shop": EnvFacts()}, plan_statuses(both, actual, None, plan), plan, actual)
    assert list(doc["apps"]) == ["/shop/web"] and list(doc["environments"]) == ["shop"]
