"""The cycle's combined plan (engine layer, pure parts): order, merged registrations, guard rails, heal timing."""

from __future__ import annotations

from dataclasses import replace

from reconciler.core.heal import HealMemory
from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualApp,
    ActualTask,
    Desired,
    DesiredApp,
    DesiredEnvironment,
    HealPolicy,
    TaskState,
)
from reconciler.core.naming import APP_LABEL, ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from reconciler.core.plan import PlanOptions
from reconciler.core.registry import (
    MANAGED_TAG,
    META_APP_ID,
    META_ENVIRONMENT,
    META_TASK_ID,
    CheckStatus,
    ConsulObservation,
    ObservedQuery,
    ServiceInstance,
)
from reconciler.engine.healing import heal_due_in
from reconciler.engine.observe import Observation
from reconciler.engine.planning import merge_registrations, plan_cycle

LABELS = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: "shop", APP_LABEL: "web"}
POLICY = HealPolicy(critical_for_seconds=10, backoff_seconds=5)


def desired() -> Desired:
    app = DesiredApp(
        app_id="/shop/web", env="shop", name="web", instances=2, heal=POLICY,
        definition={"id": "/shop/web", "instances": 2, "cmd": "serve", "labels": dict(LABELS)},
    )
    env = DesiredEnvironment(name="shop", group="/shop", apps=("web",))
    return Desired(environments={"shop": env}, apps={"/shop/web": app})


def task(task_id: str, state: TaskState = TaskState.RUNNING) -> ActualTask:
    return ActualTask(task_id=task_id, app_id="/shop/web", host="127.0.0.2", ports=(31000,), state=state,
                      healthy=True)


def actual(*tasks: ActualTask, complete: bool = True) -> Actual:
    from reconciler.core.plan import build_plan

    # Take the app as the planner stamps it (hash labels), so that Marathon's side has nothing to do.
    body = next(a.body for a in build_plan(desired(), Actual(apps={}), PlanOptions()).actions if a.body)
    app = ActualApp(app_id="/shop/web", definition=dict(body), instances=2, tasks=tasks)
    return Actual(apps={app.app_id: app}, complete=complete)


def instance(task_id: str, status: CheckStatus = CheckStatus.PASSING) -> ServiceInstance:
    return ServiceInstance(
        service_id=task_id, name="web", node="agent-1", agent_address="127.0.0.2", address="127.0.0.2", port=31000,
        tags=("shop", MANAGED_TAG), status=status,
        meta={META_APP_ID: "/shop/web", META_TASK_ID: task_id, META_ENVIRONMENT: "shop",
              "marathon-app-version": ""},
    )


def test_a_task_being_killed_is_deregistered_and_a_new_one_registered() -> None:
    observed = actual(task("shop_web.a", TaskState.KILLING), task("shop_web.b"))
    consul = ConsulObservation(instances=(instance("shop_web.a"),))
    plan = plan_cycle(desired(), Observation(observed, consul), PlanOptions(), HealMemory(), 0.0).plan
    kinds = {(a.kind, a.target) for a in plan.actions}
    assert (ActionKind.DEREGISTER, "shop_web.a") in kinds
    assert (ActionKind.REGISTER, "shop_web.b") in kinds


def test_incomplete_consul_plans_nothing_destructive_in_the_controller() -> None:
    observed = actual(task("shop_web.b"))
    consul = ConsulObservation(
        instances=(instance("shop_web.gone"),),
        queries={"old.shop": ObservedQuery("q1", "old.shop", "old", ("shop", MANAGED_TAG))},
        complete=False, problems=("Consul down",),
    )
    plan = plan_cycle(desired(), Observation(observed, consul), PlanOptions(prune=True), HealMemory(), 0.0).plan
    assert not [a for a in plan.actions if a.kind in (ActionKind.DEREGISTER, ActionKind.QUERY_DELETE,
                                                        ActionKind.KILL_TASK, ActionKind.DELETE)]


def test_a_critical_task_is_killed_only_after_its_grace_window_and_the_due_time_says_when() -> None:
    observed = actual(task("shop_web.a"), task("shop_web.b"))
    consul = ConsulObservation(instances=(instance("shop_web.a", CheckStatus.CRITICAL), instance("shop_web.b")))
    first = plan_cycle(desired(), Observation(observed, consul), PlanOptions(), HealMemory(), 100.0)
    assert not [a for a in first.plan.pending if a.kind == ActionKind.KILL_TASK]
    due = heal_due_in(desired(), observed, first.memory, 100.0)
    assert due is not None and 10.0 < due < 10.2
    later = plan_cycle(desired(), Observation(observed, consul), PlanOptions(), first.memory, 100.0 + due)
    kills = [a for a in later.plan.pending if a.kind == ActionKind.KILL_TASK]
    assert [a.target for a in kills] == ["shop_web.a"]
    assert heal_due_in(desired(), observed, later.memory, 100.0 + due) is not None  # backoff, then look again


def test_the_heal_repair_and_the_registration_of_one_task_become_one_action() -> None:
    register = Action(kind=ActionKind.REGISTER, target="shop_web.a", reason="running without a registration")
    repair = Action(kind=ActionKind.REGISTER, target="shop_web.a", reason="registration of healthy task was lost")
    other = Action(kind=ActionKind.REGISTER, target="shop_web.b", reason="running without a registration")
    merged = merge_registrations([register, other, repair])
    assert [a.target for a in merged] == ["shop_web.a", "shop_web.b"]
    assert merged[0].reason == "running without a registration; registration of healthy task was lost"


def test_consul_actions_of_other_environments_stay_out_of_a_narrowed_plan() -> None:
    observed = actual(task("shop_web.b"))
    queries = {"web.other": ObservedQuery("q2", "web.other", "web", ("other", MANAGED_TAG), True)}
    plan = plan_cycle(desired(), Observation(observed, ConsulObservation(queries=queries)),
                      PlanOptions(env="shop"), HealMemory(), 0.0).plan
    assert all(a.env == "shop" for a in plan.actions if a.kind != ActionKind.QUERY_DELETE)
    assert not [a for a in plan.actions if a.kind == ActionKind.QUERY_DELETE]


def other_environment_app(env: str) -> ActualApp:
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: env, APP_LABEL: "web"}
    body = {"id": f"/{env}/web", "instances": 1, "cmd": "serve", "labels": labels}
    tasks = (ActualTask(task_id=f"{env}_web.x", app_id=f"/{env}/web", host="127.0.0.3", ports=(31001,)),)
    return ActualApp(app_id=f"/{env}/web", definition=body, instances=1, tasks=tasks)


def test_consul_of_environments_outside_the_tree_is_never_touched_even_with_prune() -> None:
    """The reproducer: Marathon and Consul hold shop and shop-2 (and shop-20); the tree holds shop."""
    observed = actual(task("shop_web.b"))
    apps = {**observed.apps, **{f"/{e}/web": other_environment_app(e) for e in ("shop-2", "shop-20")}}
    queries = {
        f"{name}.{env}": ObservedQuery(f"q-{name}-{env}", f"{name}.{env}", name, (env, MANAGED_TAG), True)
        for env in ("shop", "shop-2", "shop-20") for name in ("web", "gone")
    }
    stale = replace(instance("shop-2_web.old"), tags=("shop-2", MANAGED_TAG),
                    meta={META_APP_ID: "/shop-2/web", META_TASK_ID: "shop-2_web.old", META_ENVIRONMENT: "shop-2"})
    consul = ConsulObservation(instances=(instance("shop_web.b"), stale), queries=queries)
    for options in (PlanOptions(), PlanOptions(prune=True, force=True)):
        plan = plan_cycle(desired(), Observation(replace(observed, apps=apps), consul), options, HealMemory(), 0.0,
                          strict=False).plan
        assert {a.env for a in plan.actions} <= {"shop"}, [a.line() for a in plan.actions]
        # shop's query of an app gone from specs and Marathon goes; shop's own web query stays.
        assert [(a.kind, a.target) for a in plan.actions] == [(ActionKind.QUERY_DELETE, "gone.shop")]


def test_a_query_of_an_app_that_left_the_specs_goes_only_with_the_pruned_app() -> None:
    observed = actual(task("shop_web.b"))
    gone = {f"/shop/{name}": other_app("shop", name) for name in ("old", "older")}
    queries = {
        f"{name}.shop": ObservedQuery(f"q-{name}", f"{name}.shop", name, ("shop", MANAGED_TAG), True)
        for name in ("web", "old", "older")
    }
    world = Observation(replace(observed, apps={**observed.apps, **gone}),
                        ConsulObservation(instances=(instance("shop_web.b"),), queries=queries))

    def outcomes(options: PlanOptions) -> dict[tuple[str, str], str]:
        plan = plan_cycle(desired(), world, options, HealMemory(), 0.0, strict=False).plan
        return {(a.kind, a.target): a.outcome for a in plan.actions}

    assert outcomes(PlanOptions()) == {}  # both apps still run: their queries stay
    forced = outcomes(PlanOptions(prune=True, force=True))
    pairs = [("delete", "/shop/old"), ("delete", "/shop/older"), ("query-delete", "old.shop"),
             ("query-delete", "older.shop")]
    assert forced == dict.fromkeys(pairs, "planned")
    # two deletes of three managed apps are over the limit (1): the queries are refused with their apps
    refused = outcomes(PlanOptions(prune=True))
    assert set(refused.values()) == {"refused"} and len(refused) == 4


def other_app(env: str, name: str) -> ActualApp:
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: env, APP_LABEL: name}
    return ActualApp(app_id=f"/{env}/{name}", definition={"id": f"/{env}/{name}", "labels": labels}, instances=1)
