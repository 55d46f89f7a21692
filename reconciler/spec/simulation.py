"""The input of `reconciler autoscale simulate` (spec layer): a policy, a starting count, an optional
history and a series of steps with task samples, read from YAML or JSON with file:line errors.

Times are seconds on one axis whose 0 is the first step; negative is the past. See docs/autoscaling.md.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from reconciler.core.autoscale import Recommendation, ScaleEvent, ScaleHistory
from reconciler.core.autoscale_metrics import TaskSample, TaskView
from reconciler.core.autoscale_policy import AutoscalePolicy
from reconciler.core.autoscale_replay import Step
from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.autoscale import AutoscaleSpec, autoscale_policy
from reconciler.spec.fields import SpecModel
from reconciler.spec.marks import Mark, Marks
from reconciler.spec.problems import rule_error, validation_problems
from reconciler.spec.source import read_documents

Time = Annotated[float, Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=10_000)]


class TaskState(StrEnum):
    """Marathon's task states (what `GET /v2/apps?embed=apps.tasks` reports as `state`)."""

    STAGING = "TASK_STAGING"
    STARTING = "TASK_STARTING"
    RUNNING = "TASK_RUNNING"
    KILLING = "TASK_KILLING"
    FINISHED = "TASK_FINISHED"
    FAILED = "TASK_FAILED"
    KILLED = "TASK_KILLED"
    LOST = "TASK_LOST"
    ERROR = "TASK_ERROR"
    DROPPED = "TASK_DROPPED"
    GONE = "TASK_GONE"
    GONE_BY_OPERATOR = "TASK_GONE_BY_OPERATOR"
    UNREACHABLE = "TASK_UNREACHABLE"
    UNKNOWN = "TASK_UNKNOWN"


class SampleSpec(SpecModel):
    at: Time
    window: Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)] = 30.0
    cpu: Amount | None = None
    mem: Amount | None = None
    metrics: dict[str, Amount] = Field(default_factory=dict)


class TaskSpec(SpecModel):
    state: TaskState = TaskState.RUNNING
    healthy: bool | None = None
    started_at: Time | None = None
    healthy_since: Time | None = None
    cpus: Amount = 0.0
    mem: Amount = 0.0
    sample: SampleSpec | None = None


class StepSpec(SpecModel):
    at: Time
    tasks: list[TaskSpec] = Field(default_factory=list, max_length=10_000)
    external: dict[str, float] = Field(default_factory=dict)


class RecommendationSpec(SpecModel):
    at: Time
    instances: Count


class ScaleEventSpec(SpecModel):
    at: Time
    change: Annotated[int, Field(ge=-10_000, le=10_000)]


class HistorySpec(SpecModel):
    recommendations: list[RecommendationSpec] = Field(default_factory=list)
    scale_events: list[ScaleEventSpec] = Field(default_factory=list)


class SimulationSpec(SpecModel):
    policy: AutoscaleSpec
    instances: Count
    history: HistorySpec | None = None
    steps: list[StepSpec] = Field(min_length=1, max_length=100_000)

    @field_validator("steps")
    @classmethod
    def _steps_in_order(cls, steps: list[StepSpec]) -> list[StepSpec]:
        for index in range(1, len(steps)):
            if steps[index].at < steps[index - 1].at:
                raise rule_error(
                    f"steps go forward in time: step {index} (at {steps[index].at:g}) comes before step {index - 1}",
                    "sort the steps by `at`",
                )
        return steps


class Simulation:
    """A checked simulation input, in the core's terms."""

    def __init__(self, spec: SimulationSpec) -> None:
        policy = autoscale_policy(spec.policy)
        assert policy is not None  # the block is required
        self.policy: AutoscalePolicy = policy
        self.instances = spec.instances
        self.history = None if spec.history is None else _history(spec.history)
        self.steps = tuple(_step(step) for step in spec.steps)


def load_simulation(path: Path) -> Simulation:
    """The simulation in the YAML or JSON file at `path`; SpecError with every problem otherwise."""
    problems = ProblemList()
    documents = read_documents(path, str(path), problems.items)
    if not problems.items and len(documents) != 1:
        hint = "one YAML document (or a JSON object) with policy, instances and steps"
        problems.add(SpecProblem(str(path), None, "", "a simulation file holds exactly one document", hint))
    problems.raise_if_any()
    document = documents[0]
    return _checked(document.data, document.marks, problems)


def simulation_from_data(data: Any, name: str) -> Simulation:
    """The simulation in already-parsed `data` (rebuilt from the store); problems are named `name`."""
    return _checked(data, Marks({(): Mark(name, None, "")}), ProblemList())


def _checked(data: Any, marks: Marks, problems: ProblemList) -> Simulation:
    try:
        spec = SimulationSpec.model_validate(data)
    except ValidationError as exc:
        problems.items.extend(validation_problems(exc, SimulationSpec, data, marks))
        problems.raise_if_any()
        raise  # not reached: a ValidationError always has at least one error
    return Simulation(spec)


def _history(spec: HistorySpec) -> ScaleHistory:
    return ScaleHistory(
        recommendations=tuple(Recommendation(r.at, r.instances) for r in spec.recommendations),
        scale_events=tuple(ScaleEvent(e.at, e.change) for e in spec.scale_events),
    )


def _step(spec: StepSpec) -> Step:
    return Step(spec.at, tuple(_task(index, task) for index, task in enumerate(spec.tasks)), dict(spec.external))


def _task(index: int, spec: TaskSpec) -> TaskView:
    sample = spec.sample
    return TaskView(
        task_id=f"task-{index}",
        state=spec.state.value,
        healthy=spec.healthy,
        started_at=spec.started_at,
        healthy_since=spec.healthy_since,
        cpus=spec.cpus,
        mem=spec.mem,
        sample=None if sample is None else TaskSample(sample.at, sample.window, sample.cpu, sample.mem, sample.metrics),
    )
