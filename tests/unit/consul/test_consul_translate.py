"""Unit tests of the translation between Consul's wire models and the core vocabulary."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.consul import wire
from reconciler.consul.translate import (
    CheckState,
    agent_host_of,
    check_states,
    deregistration_of,
    instance_of,
    instances_of_services,
    node_services,
    observed_queries_of,
    query_definition_of,
    query_id_of,
    registration_of,
    with_statuses,
)
from reconciler.core.model import Action, ActionKind
from reconciler.core.queries import query_body, query_of
from reconciler.core.registrations import deregister_action
from reconciler.core.registry import MANAGED_TAG, CheckStatus, ServiceInstance, aggregate_status
from tests.unit.consul.consul_world import instance_of as core_instance
from tests.unit.consul.consul_world import task


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ([], CheckStatus.PASSING),
        ([("serfHealth", "passing"), ("service:a", "passing")], CheckStatus.PASSING),
        ([("serfHealth", "passing"), ("service:a", "warning")], CheckStatus.WARNING),
        ([("serfHealth", "critical"), ("service:a", "passing")], CheckStatus.CRITICAL),  # node checks count
        ([("service:a", "warning"), ("service:a:2", "critical")], CheckStatus.CRITICAL),
        ([("_service_maintenance:a", "critical"), ("service:a", "passing")], CheckStatus.MAINTENANCE),
        ([("_node_maintenance", "critical")], CheckStatus.MAINTENANCE),
        ([("service:a", "bogus")], None),
    ],
)
def test_aggregate_status(checks: list[tuple[str, str]], expected: CheckStatus | None) -> None:
    assert aggregate_status(checks) == expected


def entry(service_address: str = "", checks: list[dict[str, Any]] | None = None) -> wire.ServiceEntry:
    return wire.ServiceEntry.model_validate(
        {
            "Node": {"Node": "agent-2", "Address": "127.0.0.2", "Meta": None},
            "Service": {
                "ID": "integration_redis.t1",
                "Service": "redis",
                "Tags": ["integration", MANAGED_TAG],
                "Address": service_address,
                "Port": 31001,
                "Meta": {"marathon-task-id": "integration_redis.t1", "environment": "integration"},
            },
            "Checks": checks or [],
        }
    )


def test_instance_of_health_entry() -> None:
    checks = [
        {"CheckID": "serfHealth", "Status": "passing", "Output": "Agent alive and reachable"},
        {"CheckID": "service:integration_redis.t1", "Status": "critical", "Output": "connection refused"},
    ]
    instance = instance_of(entry("127.0.0.9", checks))
    assert instance.service_id == "integration_redis.t1" and instance.name == "redis"
    assert instance.node == "agent-2" and instance.agent_address == "127.0.0.2" and instance.address == "127.0.0.9"
    assert instance.status == CheckStatus.CRITICAL and instance.output == "connection refused"
    assert instance.managed and instance.task_id == "integration_redis.t1" and instance.environment == "integration"


def test_instance_without_service_address_uses_the_node_address() -> None:
    assert instance_of(entry("")).address == "127.0.0.2"


def test_observed_queries_by_name_skip_unnamed() -> None:
    queries = [
        wire.PreparedQuery.model_validate(
            {
                "ID": "q1",
                "Name": "redis.func-1",
                "Service": {"Service": "redis", "Tags": ["integration", MANAGED_TAG], "OnlyPassing": True},
            }
        ),
        wire.PreparedQuery.model_validate({"ID": "q2", "Name": "", "Service": {"Service": "web"}}),
    ]
    observed = observed_queries_of(queries)
    assert list(observed) == ["redis.func-1"]
    assert observed["redis.func-1"].managed and observed["redis.func-1"].only_passing


def test_register_action_becomes_a_registration_for_the_task_host() -> None:
    body = {
        "ID": "x.t1",
        "Name": "x",
        "Tags": ["e", MANAGED_TAG],
        "Address": "127.0.0.5",
        "Port": 1,
        "Meta": {"environment": "e"},
        "Check": {"TCP": "127.0.0.5:1", "Interval": "10s"},
    }
    action = Action(kind=ActionKind.REGISTER, target="x.t1", reason="r", body=body)
    registration = registration_of(action)
    assert registration.id == "x.t1" and registration.check is not None and registration.check.tcp == "127.0.0.5:1"
    assert agent_host_of(action) == "127.0.0.5"


def test_deregister_action_goes_to_the_agent_holding_it() -> None:
    action = deregister_action(core_instance(task("/e/a", 3), "e", "a"), "gone")
    assert deregistration_of(action) == "e_a.t3" and agent_host_of(action) == "127.0.0.4"


def test_query_actions_become_definitions_and_ids() -> None:
    query = query_of("redis", "func-1", "integration")
    update = Action(kind=ActionKind.QUERY_UPDATE, target=query.name, reason="r", body=query_body(query, "q-9"))
    definition = query_definition_of(update)
    assert definition.name == "redis.func-1" and definition.service.tags == ["integration", MANAGED_TAG]
    assert definition.service.only_passing is True and query_id_of(update) == "q-9"


def test_wrong_action_kind_is_refused_by_name() -> None:
    action = Action(kind=ActionKind.KILL_TASK, target="t1", reason="r", body={"scale": False})
    with pytest.raises(ValueError, match="kill-task t1: expected a register action"):
        registration_of(action)


def catalog_node(name: str, address: str, services: int) -> wire.CatalogNode:
    return wire.CatalogNode.model_validate({
        "Node": {"Node": name, "Address": address},
        "Services": {f"{name}-s{n}": {"ID": f"{name}-s{n}", "Service": "web", "Tags": ["prod", MANAGED_TAG],
                                      "Port": 31000 + n} for n in range(services)},
    })


def built(nodes: list[wire.CatalogNode], checks: tuple[CheckState, ...]) -> tuple[ServiceInstance, ...]:
    """The instances a cold cycle builds of these nodes' answers (engine/consul_read.py, read_snapshot)."""
    return instances_of_services([node_services(node, MANAGED_TAG) for node in nodes], checks)


def check(node: str, service_id: str, status: str, output: str = "") -> wire.HealthCheck:
    check_id = f"service:{service_id}" if service_id else "serfHealth"
    return wire.HealthCheck.model_validate({"Node": node, "CheckID": check_id, "Status": status, "Output": output,
                                            "ServiceID": service_id, "Definition": {"TCP": "x:1"}})


@pytest.mark.parametrize(
    "changed",
    [
        [check("n1", "n1-s0", "critical", "refused")],  # one service check fails
        [check("n1", "", "critical", "agent gone")],  # a node check fails: every instance on it
        [check("n2", "n2-s1", "warning", "slow"), check("n1", "n1-s1", "passing", "fine again")],
    ],
)
def test_statuses_from_new_checks_are_those_a_fresh_build_gives(changed: list[wire.HealthCheck]) -> None:
    """with_statuses (the catalog stood still, the checks moved) builds what a fresh build of the nodes builds."""
    nodes = [catalog_node("n1", "10.0.0.1", 2), catalog_node("n2", "10.0.0.2", 2)]
    before = [check(node, sid, "passing", "ok") for node in ("n1", "n2") for sid in ("", f"{node}-s0", f"{node}-s1")]
    replaced = {(x.node, x.service_id) for x in changed}
    after = [c for c in before if (c.node, c.service_id) not in replaced] + changed
    first = built(nodes, check_states(before))
    updated = with_statuses(first, check_states(after))
    assert updated == built(nodes, check_states(after))
    assert updated != first
    unchanged = [a is b for a, b in zip(first, updated, strict=True) if a == b]
    assert unchanged and all(unchanged)  # an instance whose status stands is the same object


def test_a_passing_check_keeps_no_output() -> None:
    (state,) = check_states([check("n1", "s", "passing", "HTTP 200 OK, a long body")])
    assert state.output == "" and state.check_id == "service:s"
    (state,) = check_states([check("n1", "s", "critical", "HTTP 503")])
    assert state.output == "HTTP 503"


def test_a_critical_node_check_marks_every_instance_on_the_node_whichever_read_built_it() -> None:
    """serfHealth critical (the node's agent down) makes its instances critical whatever their own checks say:
    each read path (health entries, a cold catalog build, checks that moved) says it came from the node."""
    dead = [{"CheckID": "serfHealth", "Status": "critical", "Output": "Agent not live or unreachable"},
            {"CheckID": "service:integration_redis.t1", "Status": "passing", "ServiceID": "integration_redis.t1"}]
    by_entry = instance_of(entry("", dead))
    assert by_entry.status == CheckStatus.CRITICAL and by_entry.node_critical
    own = [{"CheckID": "service:integration_redis.t1", "Status": "critical", "ServiceID": "integration_redis.t1"}]
    assert not instance_of(entry("", own)).node_critical

    nodes = [catalog_node("n1", "10.0.0.1", 2), catalog_node("n2", "10.0.0.2", 1)]
    healthy = [check(node, sid, "passing") for node, sid in (("n1", ""), ("n1", "n1-s0"), ("n1", "n1-s1"),
                                                             ("n2", ""), ("n2", "n2-s0"))]
    agent_gone = [c for c in healthy if (c.node, c.service_id) != ("n1", "")] + [check("n1", "", "critical", "gone")]
    cold = built(nodes, check_states(agent_gone))
    assert [(i.service_id, i.node_critical) for i in cold] == [("n1-s0", True), ("n1-s1", True), ("n2-s0", False)]
    moved = with_statuses(built(nodes, check_states(healthy)), check_states(agent_gone))
    assert moved == cold
    assert not any(i.node_critical for i in with_statuses(cold, check_states(healthy)))
