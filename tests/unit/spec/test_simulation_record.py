"""The recorded inputs of autoscale decisions as a simulation (spec/simulation_record.py): a policy
written back builds the same policy, times are shifted so the first step is 0, and replaying records
taken mid-run from the memory they carry decides as the decisions did."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from reconciler.core.autoscale import ScaleHistory, decide
from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_replay import replay
from reconciler.errors import SpecError
from reconciler.spec.autoscale import AutoscaleSpec, autoscale_policy
from reconciler.spec.simulation import simulation_from_data
from reconciler.spec.simulation_record import policy_document, sample_record, simulation_input

POLICIES = [
    "{min: 1, max: 10, metrics: [{cpu: 50%}]}",
    "{min: 2, max: 6, metrics: [{cpu: 50%}, {mem: 80%}], tolerance: {scaleUp: 1%, scaleDown: 0},"
    " cpuInitializationPeriod: 2m, initialReadinessDelay: 10s,"
    " behavior: {scaleDown: {stabilizationWindow: 5s}}}",
    "{min: 1, max: 20, metrics: [{taskMetric: {name: rps, source: app, target: {averageValue: 12.5}}},"
    " {prometheus: {query: 'sum(rate(x[1m]))', target: {value: 300}}},"
    " {prometheus: {query: 'q', target: {averageValue: 7}}}],"
    " behavior: {scaleUp: {selectPolicy: Min, maxStep: 3}, scaleDown: {selectPolicy: Disabled,"
    " policies: [{type: Percent, value: 50, period: 1m}]}}}",
]
EPOCH = 1_790_000_000.0  # a wall-clock time, as the controller records


@pytest.mark.parametrize("block", POLICIES)
def test_a_policy_written_back_builds_the_same_policy(block: str) -> None:
    policy = autoscale_policy(AutoscaleSpec.model_validate(yaml.safe_load(block)))
    assert policy is not None
    assert autoscale_policy(AutoscaleSpec.model_validate(policy_document(policy))) == policy


def tasks(count: int, cpu: float, at: float) -> tuple[TaskView, ...]:
    sample = TaskSample(at - 1, 30.0, cpu, 64.0, {"rps": 3.0})
    return tuple(TaskView(f"t{i}", "TASK_RUNNING", True, EPOCH - 600, EPOCH - 590, 1.0, 128.0, sample)
                 for i in range(count))


def controller_run(loads: list[float]) -> tuple[list[dict[str, Any]], list[tuple[int, int | None, str | None]]]:
    """Decides as the controller does, one tick every 10 s, each decision carried out before the next."""
    policy = autoscale_policy(AutoscaleSpec.model_validate(yaml.safe_load(POLICIES[1])))
    assert policy is not None
    instances, memory, records, decisions = 2, None, [], []
    for tick, load in enumerate(loads):
        now = EPOCH + 10 * tick
        views = tasks(instances, load, now)
        decision = decide(policy, instances, views, now=now, history=memory, external={"unrelated": 1.0})
        records.append(sample_record(policy, instances, now, memory, views, {"unrelated": 1.0}))
        decisions.append((decision.instances, decision.recommendation, decision.limited_by))
        instances, memory = decision.instances, decision.history
    return records, decisions


def test_the_first_step_is_zero_and_every_time_moves_with_it() -> None:
    records, _ = controller_run([0.9, 0.9, 0.9])
    data = simulation_input(records[1:])
    assert data["instances"] == records[1]["instances"]
    assert [step["at"] for step in data["steps"]] == [0.0, 10.0]
    task = data["steps"][0]["tasks"][0]
    assert (task["startedAt"], task["healthySince"], task["sample"]["at"]) == (-610.0, -600.0, -1.0)
    assert data["history"]["recommendations"][0]["at"] == -10.0  # the memory of the first tick
    assert data["steps"][0]["external"] == {}  # a query no metric of the app names is not kept


def test_records_from_the_middle_of_a_run_replay_to_the_same_decisions() -> None:
    loads = [0.5, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2, 0.5, 0.1]
    records, decisions = controller_run(loads)
    assert len(set(decisions)) > 2  # up, held by the window, down: more than one kind of decision
    for start in (0, 3, 5):
        simulation = simulation_from_data(simulation_input(records[start:]), "recorded")
        outcome = replay(simulation.policy, simulation.instances, simulation.steps, simulation.history)
        assert [(d.instances, d.recommendation, d.limited_by) for _, d in outcome] == decisions[start:]


def test_a_first_sight_record_leaves_the_history_out() -> None:
    records, _ = controller_run([0.9])
    assert "history" not in simulation_input(records)  # the replay seeds its memory as the controller did
    policy = autoscale_policy(AutoscaleSpec.model_validate(yaml.safe_load(POLICIES[0])))
    assert policy is not None
    empty = sample_record(policy, 1, EPOCH, ScaleHistory(), (), {})
    assert simulation_input([empty])["history"] == {"recommendations": [], "scaleEvents": []}  # whole, empty


def test_bad_rebuilt_data_is_a_spec_error_naming_the_source() -> None:
    with pytest.raises(SpecError) as raised:
        simulation_from_data({"policy": {"min": 1, "max": 2, "metrics": [{"cpu": 0.5}]}, "instances": 1,
                              "steps": []}, "the samples of /shop/web")
    assert raised.value.problems[0].file == "the samples of /shop/web"
