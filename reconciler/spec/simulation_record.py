"""Recorded autoscaler inputs as `autoscale simulate` input (spec layer): the controller writes one
record per autoscaled app per cycle; `--from-history` turns a run of them back into a simulation.

A record is plain JSON on the wall-clock axis (seconds since the epoch): the policy in the spec's own
words, the count before the decision, the decision memory it started from, the tasks and the Prometheus
values. simulation_input() shifts the times so the first step is 0, as the simulation format wants;
memory_after() decides a record again to get the memory the controller held after it (a restart).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core.autoscale import Recommendation, ScaleEvent, ScaleHistory
from reconciler.core.autoscale_metrics import TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy, Behavior, MetricKind, ScalingRules, TargetType
from reconciler.core.autoscale_replay import replay
from reconciler.errors import SpecError
from reconciler.spec.simulation import simulation_from_data


def policy_document(policy: AutoscalePolicy) -> dict[str, Any]:
    """The `autoscale` block that builds `policy` again (durations in seconds, shares as fractions)."""
    document: dict[str, Any] = {
        "min": policy.min_instances, "max": policy.max_instances,
        "metrics": [_metric(m.kind, m.target, m.target_type, m.name, m.source) for m in policy.metrics],
        "tolerance": {"scaleUp": policy.tolerance_up, "scaleDown": policy.tolerance_down},
        "cpuInitializationPeriod": policy.cpu_initialization_seconds,
        "initialReadinessDelay": policy.initial_readiness_delay_seconds,
    }
    if policy.behavior is not None:
        document["behavior"] = _behavior(policy.behavior)
    return document


def _metric(kind: MetricKind, target: float, target_type: TargetType, name: str, source: str) -> dict[str, Any]:
    if kind in (MetricKind.CPU, MetricKind.MEM):
        return {kind.value: target}
    if kind is MetricKind.TASK:
        return {"taskMetric": {"name": name, "source": source, "target": {"averageValue": target}}}
    key = "value" if target_type is TargetType.VALUE else "averageValue"
    return {"prometheus": {"query": name, "target": {key: target}}}


def _behavior(behavior: Behavior) -> dict[str, Any]:
    return {"scaleUp": _rules(behavior.scale_up), "scaleDown": _rules(behavior.scale_down)}


def _rules(rules: ScalingRules) -> dict[str, Any]:
    document: dict[str, Any] = {
        "selectPolicy": rules.select.value,
        "policies": [{"type": p.type.value, "value": p.value, "period": p.period_seconds} for p in rules.policies],
    }
    if rules.stabilization_seconds is not None:
        document["stabilizationWindow"] = rules.stabilization_seconds
    return document


def task_document(task: TaskView) -> dict[str, Any]:
    """One task as a simulation step lists it (times on the wall-clock axis)."""
    document: dict[str, Any] = {"state": task.state, "cpus": task.cpus, "mem": task.mem}
    optional = {"healthy": task.healthy, "startedAt": task.started_at, "healthySince": task.healthy_since}
    document.update({k: v for k, v in optional.items() if v is not None})
    if task.sample is not None:
        sample = task.sample
        document["sample"] = {"at": sample.at, "window": sample.window, "metrics": dict(sample.metrics)}
        document["sample"].update({k: v for k, v in (("cpu", sample.cpu), ("mem", sample.mem)) if v is not None})
    return document


def history_document(history: ScaleHistory | None) -> dict[str, Any] | None:
    """The decision memory the controller held before deciding; None: it had none yet (a first sight)."""
    if history is None:
        return None
    return {"recommendations": [{"at": r.at, "instances": r.instances} for r in history.recommendations],
            "scaleEvents": [{"at": e.at, "change": e.change} for e in history.scale_events]}


def sample_record(
    policy: AutoscalePolicy, instances: int, at: float, history: ScaleHistory | None, tasks: Sequence[TaskView],
    external: Mapping[str, float],
) -> dict[str, Any]:
    """What the store keeps of one decision's inputs; `external` only the app's own queries."""
    queries = {m.name for m in policy.metrics if m.kind is MetricKind.PROMETHEUS}
    return {"policy": policy_document(policy), "instances": instances, "at": at, "history": history_document(history),
            "tasks": [task_document(t) for t in tasks],
            "external": {q: v for q, v in sorted(external.items()) if q in queries}}


def simulation_input(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A simulation (policy, instances, history, steps) from records in time order; the first record's
    policy, count and memory start it, and its time is 0. Needs at least one record."""
    first = records[0]
    origin = float(first["at"])
    data: dict[str, Any] = {"policy": first["policy"], "instances": first["instances"]}
    if first.get("history") is not None:
        data["history"] = {key: [{**entry, "at": entry["at"] - origin} for entry in entries]
                           for key, entries in first["history"].items()}
    data["steps"] = [_step(record, origin) for record in records]
    return data


def _step(record: Mapping[str, Any], origin: float) -> dict[str, Any]:
    tasks = []
    for task in record["tasks"]:
        shifted = {**task, **{k: task[k] - origin for k in ("startedAt", "healthySince") if k in task}}
        if "sample" in task:
            shifted["sample"] = {**task["sample"], "at": task["sample"]["at"] - origin}
        tasks.append(shifted)
    return {"at": float(record["at"]) - origin, "tasks": tasks, "external": dict(record["external"])}


def memory_after(record: Mapping[str, Any]) -> ScaleHistory | None:
    """The decision memory the controller held after the decision `record` describes: that decision
    made again, from the memory it started with (times on the wall-clock axis). None when the record
    cannot be read (one an older version wrote differently): the app is then seen for the first time."""
    try:
        origin = float(record["at"])
        simulation = simulation_from_data(simulation_input([record]), "a recorded autoscale decision")
    except (SpecError, KeyError, TypeError, ValueError):
        return None
    ((_, decision),) = replay(simulation.policy, simulation.instances, simulation.steps, simulation.history)
    memory = decision.history
    return ScaleHistory(tuple(Recommendation(r.at + origin, r.instances) for r in memory.recommendations),
                        tuple(ScaleEvent(e.at + origin, e.change) for e in memory.scale_events))
