"""The autoscaler in the controller's cycle (engine layer): task metrics in, instance counts out.

Each cycle, for every autoscaled app Marathon runs: its running tasks are sampled (one statistics
request per agent for all apps), its Prometheus queries answered, and the core's decide() runs with
the memory (recommendations, scale events) this object carries between cycles. The decision becomes
the count the plan asks for (PlanOptions.instances), a write of `instances` only, never a restart.
A scale-down kills tasks that are not healthy first (`POST /v2/tasks/delete?scale=true`), otherwise
Marathon picks by the app's `killSelection`. An app in a deployment the autoscaler did not start is
left alone until it ends; so is every app when Marathon's observation is incomplete. An app seen for
the first time (a restart, a new leader) takes up the memory its last recorded decision left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from reconciler.core.autoscale import Decision, ScaleEvent, ScaleHistory, decide
from reconciler.core.autoscale_metrics import Proposal, TaskSample, TaskView
from reconciler.core.autoscale_policy import MetricKind, TargetType
from reconciler.core.model import (
    Action,
    ActionKind,
    Actual,
    ActualApp,
    ActualTask,
    Desired,
    DesiredApp,
    Outcome,
    Plan,
)
from reconciler.core.plan import PlanOptions
from reconciler.errors import RemoteError, SpecError, SpecProblem
from reconciler.metrics.bounded import ReadOutcomes, read_within
from reconciler.metrics.sources import ExternalSource, TaskRef, TaskSource
from reconciler.spec.simulation_record import memory_after, sample_record

log = logging.getLogger("reconciler.engine")

SCALE_KILL = "scale"  # an autoscaler's KILL_TASK carries body {"scale": true}: Marathon lowers `instances`
MEMORY_HORIZON = 3600.0  # seconds: the longest stabilization window (1h) or policy period (30m) a spec allows
_SCALING_KINDS = (ActionKind.SCALE, ActionKind.UPDATE, ActionKind.KILL_TASK)
_MAY_HAVE_LANDED = (Outcome.SUCCEEDED, Outcome.UNKNOWN)  # an unknown outcome counts: never scale twice
Recall = Callable[[str], Mapping[str, Any] | None]  # an app's last recorded decision inputs, or None


@dataclass(frozen=True)
class AutoscaleSources:
    """Where metrics come from: per-task samples (Mesos agent statistics) and Prometheus queries."""

    tasks: TaskSource | None = None
    prometheus: ExternalSource | None = None


@dataclass(frozen=True)
class QueryLimits:
    """How one cycle's Prometheus queries run: at most `concurrency` at once (Prometheus itself runs 20,
    `--query.max-concurrency`), all of them within `deadline` seconds."""

    concurrency: int = 8
    deadline: float = 10.0


@dataclass(frozen=True)
class AppScaling:
    """One app's outcome in one cycle: the count the plan asks for (`instances`) and why.

    `decision` is None when the app was left alone (a deployment, an incomplete observation);
    `kills` are the tasks that are not healthy, killed with scale instead of a plain scale-down.
    """

    app_id: str
    env: str
    current: int
    instances: int
    reason: str
    decision: Decision | None = None
    kills: tuple[str, ...] = ()
    at: float = 0.0  # when it was decided (wall seconds)
    news: bool = True  # it differs from the app's previous decision (count, limiting rule or reason)
    inputs: Mapping[str, Any] | None = None  # what the decision was made from (spec/simulation_record.py)

    @property
    def limited_by(self) -> str | None:
        return self.decision.limited_by if self.decision else None

    @property
    def recommendation(self) -> int | None:
        return self.decision.recommendation if self.decision else None

    @property
    def desired(self) -> int:
        """The count once this cycle's writes land (kills included)."""
        return self.instances - len(self.kills)

    def metrics(self) -> list[dict[str, Any]]:
        return [metric_document(p) for p in self.decision.proposals] if self.decision else []

    def document(self) -> dict[str, Any]:
        """What the status document and the store show of the decision."""
        return {"app": self.app_id, "current": self.current, "desired": self.desired,
                "recommendation": self.recommendation, "limitedBy": self.limited_by,
                "metrics": self.metrics(), "reason": self.reason}

    def line(self) -> str:
        """One greppable line: `autoscale /e/a current=2 desired=4 recommendation=4 limitedBy=- cpu=90/50->4 reason=`"""
        metrics = " ".join(f"{m['name']}={_number(m['current'])}/{_number(m['target'])}->{_number(m['proposal'])}"
                           for m in self.metrics())
        return (f"autoscale {self.app_id} current={self.current} desired={self.desired}"
                f" recommendation={_number(self.recommendation)} limitedBy={self.limited_by or '-'}"
                + (f" {metrics}" if metrics else "") + f" reason={self.reason!r}")


@dataclass(frozen=True)
class AutoscaleRound:
    """Every autoscaled app's outcome in one cycle."""

    apps: tuple[AppScaling, ...] = ()

    def instances(self) -> dict[str, int]:
        return {a.app_id: a.instances for a in self.apps}

    def plan_options(self, options: PlanOptions) -> PlanOptions:
        """`options` with the autoscaler's counts (they win over any count given before)."""
        return replace(options, instances={**options.instances, **self.instances()}) if self.apps else options

    def with_plan(self, plan: Plan) -> Plan:
        """The plan with the decisions' reasons on their scalings and the scale kills added (a heal
        kill of the same task gives way: the scale kill removes it too)."""
        by_app = {a.app_id: a for a in self.apps if a.decision is not None}
        kills = [kill for a in self.apps for kill in _kill_actions(a)]
        killed = {k.target for k in kills}
        actions = [_explained(a, by_app.get(a.target)) for a in plan.actions
                   if not (a.kind == ActionKind.KILL_TASK and a.target in killed)]
        return replace(plan, actions=(*actions, *kills))


def metric_document(proposal: Proposal) -> dict[str, Any]:
    """One metric of a decision: `name`, `current`, `target` (a percentage for cpu and mem), `proposal`."""
    metric = proposal.metric
    percent = metric.target_type is TargetType.UTILIZATION and metric.kind in (MetricKind.CPU, MetricKind.MEM)
    return {"name": metric.label, "current": proposal.current,
            "target": round(metric.target * 100, 6) if percent else metric.target, "proposal": proposal.instances}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _explained(action: Action, scaling: AppScaling | None) -> Action:
    if scaling is None or action.instances_to is None or action.kind not in (ActionKind.SCALE, ActionKind.UPDATE):
        return action
    why = f"autoscale: {scaling.reason}"
    return replace(action, reason=why if action.kind == ActionKind.SCALE else f"{action.reason}; {why}")


def _kill_actions(scaling: AppScaling) -> list[Action]:
    return [Action(kind=ActionKind.KILL_TASK, target=task_id, env=scaling.env, body={SCALE_KILL: True},
                   reason=f"autoscale: not healthy, killed first to scale down ({scaling.reason})",
                   instances_from=scaling.current, instances_to=scaling.desired)
            for task_id in scaling.kills]


def check_sources(desired: Desired, *, prometheus: bool) -> Desired:
    """`desired` as is, or a SpecError (exit 3) naming every app with a Prometheus metric when no
    Prometheus server is configured: a metric nothing reads is never accepted."""
    problems = [
        _problem(app, index, "a Prometheus metric needs a Prometheus server, and none is configured",
                 "start the controller with --prometheus URL")
        for app in sorted(desired.apps.values(), key=lambda a: a.app_id)
        for index, metric in enumerate(app.autoscale.metrics if app.autoscale else ())
        if metric.kind is MetricKind.PROMETHEUS and not prometheus
    ]
    if problems:
        raise SpecError(problems)
    return desired


def _problem(app: DesiredApp, index: int, message: str, hint: str) -> SpecProblem:
    file, _, line = app.source.rpartition(":")
    if not line.isdigit():
        file, line = app.source, ""
    return SpecProblem(file or app.app_id, int(line) if line else None,
                       f"{app.name}.autoscale.metrics[{index}].prometheus", message, hint)


def epoch(marathon_time: str | None) -> float | None:
    """Marathon's ISO-8601 times as seconds since the epoch, the axis the agents' `timestamp` uses."""
    if not marathon_time:
        return None
    try:
        return datetime.fromisoformat(marathon_time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def task_views(actual_app: ActualApp, samples: Mapping[str, TaskSample]) -> tuple[TaskView, ...]:
    """The app's Marathon tasks as the decision sees them. A task without health results (no health
    checks, or none yet) counts its health from its start."""
    cpus = float(actual_app.definition.get("cpus") or 0.0)
    mem = float(actual_app.definition.get("mem") or 0.0)
    return tuple(
        TaskView(task.task_id, str(task.state), task.healthy, epoch(task.started_at),
                 epoch(task.health_since) or epoch(task.started_at), cpus, mem, samples.get(task.task_id))
        for task in actual_app.tasks
    )


def _unhealthy(tasks: Iterable[ActualTask]) -> list[str]:
    return sorted(t.task_id for t in tasks if t.healthy is False and t.state == "TASK_RUNNING")


class Autoscaler:
    """Decides every autoscaled app's count each cycle, carrying each app's decision memory."""

    def __init__(
        self, sources: AutoscaleSources, *, clock: Callable[[], float] = time.time, recall: Recall | None = None,
        query_limits: QueryLimits = QueryLimits(),
    ) -> None:
        self._sources = sources
        self._query_limits = query_limits
        self._clock = clock  # wall time: the agents' samples and Marathon's task times are on that axis
        self._recall = recall
        self._memory: dict[str, ScaleHistory] = {}
        self._changed: set[str] = set()  # apps this autoscaler scaled: a deployment on them is its own
        self._last: dict[str, tuple[int, str | None, str]] = {}  # per app: its previous decision's gist
        # per Prometheus query: why it could not be read (the decision itself only says that it could not be)
        self._query_outcomes = ReadOutcomes(log, "autoscale-query-failed", "autoscale-query-read", "query=%r")

    async def decide(self, desired: Desired, actual: Actual) -> AutoscaleRound:
        apps = [(app, actual.apps[app.app_id]) for app in sorted(desired.apps.values(), key=lambda a: a.app_id)
                if app.autoscale is not None and app.app_id in actual.apps and actual.apps[app.app_id].managed]
        now = self._clock()
        await self._take_up([app.app_id for app, actual_app in apps if self._held(actual_app, actual) is None])
        async with asyncio.TaskGroup() as reads:  # side by side: the pass costs one deadline, not the sum
            sampling = reads.create_task(self._samples([a for _, a in apps]))
            querying = reads.create_task(self._queries([app for app, _ in apps]))
        samples, external = sampling.result(), querying.result()
        outcomes = tuple(self._decide_app(app, actual_app, actual, samples, external, now) for app, actual_app in apps)
        outcomes = tuple(self._news(outcome) for outcome in outcomes)
        kept = {o.app_id for o in outcomes}
        self._memory = {k: v for k, v in self._memory.items() if k in kept}
        self._last = {k: v for k, v in self._last.items() if k in kept}
        self._changed &= kept
        return AutoscaleRound(outcomes)

    def written(self, apps: Sequence[AppScaling], actions: Sequence[Action]) -> None:
        """Drops the scale event of each decision whose write did not land (failed, refused, never sent):
        the HPA stores a scale event only once its scale update succeeded (horizontal.go,
        reconcileAutoscaler: storeScaleEvent after Scales().Update), so a failed write neither counts
        against the rate policies nor makes the app's next deployment pass for the autoscaler's own."""
        sent = {a.target for a in actions if a.kind in _SCALING_KINDS and a.outcome in _MAY_HAVE_LANDED}
        for scaling in apps:
            if scaling.decision is None or scaling.desired == scaling.current:
                continue
            if scaling.app_id in sent or sent.intersection(scaling.kills):
                continue
            memory = self._memory.get(scaling.app_id)
            if memory is not None:
                events = tuple(e for e in memory.scale_events if e.at != scaling.at)
                self._memory[scaling.app_id] = ScaleHistory(memory.recommendations, events)
            self._changed.discard(scaling.app_id)

    def forget(self) -> None:
        """Drops the memory of every app (this replica becomes the leader: another one decided
        meanwhile), so each app's next decision takes up its last recorded one."""
        self._memory.clear()
        self._changed.clear()

    def _news(self, outcome: AppScaling) -> AppScaling:
        """Marks a decision that differs from the app's previous one (what a log shows at INFO)."""
        gist = (outcome.desired, outcome.limited_by, outcome.reason)
        news = self._last.get(outcome.app_id) != gist
        self._last[outcome.app_id] = gist
        return replace(outcome, news=news)

    async def _samples(self, apps: Sequence[ActualApp]) -> Mapping[str, TaskSample]:
        """One sampling for all apps: the source keeps each task's previous reading for the CPU rate."""
        refs = [TaskRef(t.task_id, t.host) for app in apps for t in app.tasks if t.state == "TASK_RUNNING" and t.host]
        if self._sources.tasks is None or not refs:
            return {}
        try:
            return await self._sources.tasks.sample(refs)
        except RemoteError as exc:  # no samples: the decision changes nothing on missing data
            log.warning("event=autoscale-samples-failed error=%r", str(exc))
            return {}

    async def _queries(self, apps: Sequence[DesiredApp]) -> dict[str, float]:
        """Every distinct Prometheus query's value, read at most `concurrency` at once and all within one
        deadline: a query without an answer by then could not be read, like a failed one, so a Prometheus
        that accepts connections and never answers delays the cycle by the deadline, not a timeout a query."""
        queries = sorted({m.name for app in apps if app.autoscale for m in app.autoscale.metrics
                          if m.kind is MetricKind.PROMETHEUS})
        if self._sources.prometheus is None or not queries:
            return {}
        answers = await self._read_all(self._sources.prometheus, queries)
        late = f"no answer within the {self._query_limits.deadline:g}s deadline of a cycle's queries"
        values: dict[str, float] = {}
        for query in queries:
            value, error = answers.get(query, (None, late))
            if value is not None:
                values[query] = value
            self._query_outcomes.outcome(query, error)
        return values

    async def _read_all(self, source: ExternalSource, queries: Sequence[str]
                        ) -> dict[str, tuple[float | None, str | None]]:
        """The answers that came within the deadline (value, or None and why); the rest are cancelled."""

        async def read(query: str) -> tuple[float | None, str | None]:
            value = await source.query(query)
            # read at once: no other query runs between query() returning and this line
            return (value, None) if value is not None else (None, source.last_error or "-")

        limits = self._query_limits
        return await read_within(queries, read, concurrency=limits.concurrency, deadline=limits.deadline)

    def _decide_app(
        self, app: DesiredApp, actual_app: ActualApp, actual: Actual, samples: Mapping[str, TaskSample],
        external: Mapping[str, float], now: float,
    ) -> AppScaling:
        held = self._held(actual_app, actual)
        if held is not None:
            return AppScaling(app.app_id, app.env, actual_app.instances, actual_app.instances, held, at=now)
        assert app.autoscale is not None  # decide() only passes autoscaled apps
        current, views, memory = actual_app.instances, task_views(actual_app, samples), self._memory.get(app.app_id)
        decision = decide(app.autoscale, current, views, now=now, history=memory, external=external)
        inputs = sample_record(app.autoscale, current, now, memory, views, external)
        kills = tuple(_unhealthy(actual_app.tasks)[: max(0, current - decision.instances)])
        history = decision.history
        if kills:  # the scale event is what the kills do this cycle; the rest comes in a later cycle
            events = (*history.scale_events[:-1], ScaleEvent(now, -len(kills)))
            history = ScaleHistory(history.recommendations, events)
        self._memory[app.app_id] = history
        if decision.scaled:
            self._changed.add(app.app_id)
        instances = current if kills else decision.instances
        return AppScaling(app.app_id, app.env, current, instances, decision.reason, decision, kills, now,
                          inputs=inputs)

    async def _take_up(self, app_ids: Sequence[str]) -> None:
        """The memory of each app seen for the first time (a restart, a new leader), from its last recorded
        decision: the store is read in a worker thread, off the event loop the leader's beats run on."""
        missing = [app_id for app_id in app_ids if app_id not in self._memory]
        if self._recall is None or not missing:
            return
        found = await asyncio.to_thread(lambda: {app_id: self._recalled(app_id) for app_id in missing})
        self._memory.update({app_id: memory for app_id, memory in found.items() if memory is not None})

    def _recalled(self, app_id: str) -> ScaleHistory | None:
        """The memory the app's last recorded decision left, so stabilization windows and rate policies
        hold across a restart; None (a first sight, as the HPA seeds it) without one."""
        record = self._recall(app_id) if self._recall is not None else None
        memory = memory_after(record) if record is not None else None
        if memory is not None:
            log.info("event=autoscale-memory app=%s recommendations=%d scale_events=%d", app_id,
                     len(memory.recommendations), len(memory.scale_events))
        return memory

    def _held(self, actual_app: ActualApp, actual: Actual) -> str | None:
        """Why the app is left alone this cycle, or None."""
        if not actual.complete:
            return "left alone: Marathon's observation is incomplete (no scaling on missing data)"
        if not actual_app.deployment_ids:
            self._changed.discard(actual_app.app_id)
            return None
        ids = ", ".join(actual_app.deployment_ids)
        if actual_app.app_id in self._changed:
            return f"its scaling (deployment {ids}) is still running: decided again once it ends"
        return f"left alone: deployment {ids}, which the autoscaler did not start, is still running"


async def autoscale_round(autoscaler: Autoscaler | None, desired: Desired, actual: Actual) -> AutoscaleRound:
    """The decisions of a sync; none without an autoscaler."""
    return AutoscaleRound() if autoscaler is None else await autoscaler.decide(desired, actual)
