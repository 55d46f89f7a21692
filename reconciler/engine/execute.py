"""Execute a plan against Marathon (engine layer).

Per environment, creates, updates and scales go out as one bulk `PUT /v2/apps` (one Marathon
deployment; Marathon orders it by the apps' `dependencies`; updates that clear a field go in a second
one with `partialUpdate=false`), then deletes one by one in the plan's
order. A 409 from a running deployment splits the batch: apps not locked go out at once, locked apps
whose spec says `force: true` are forced, the others wait for the blocking deployment (with a
deadline) and are retried once. Every action comes back with an outcome (UNKNOWN when the connection
dropped after a write was sent: core/outcomes.py settles it from a fresh observation); nothing raises
for a remote failure of one action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Any

from reconciler.core.model import Action, ActionKind, Outcome, Plan, TaskState
from reconciler.core.naming import MANAGED_BY_LABEL, is_managed
from reconciler.core.normalize import replaces_whole
from reconciler.engine.ports import MarathonPort
from reconciler.errors import DeploymentLocked, OutcomeUnknown, RemoteError
from reconciler.marathon import wire as marathon_wire
from reconciler.marathon.translate import app_of_task_id, to_task_state

log = logging.getLogger("reconciler.engine")

WRITE_KINDS = frozenset({ActionKind.CREATE, ActionKind.UPDATE, ActionKind.SCALE})


# What happens to a write skipped because a running deployment locks its app: each face says its own.
APPLY_LATER = "run apply again once that deployment ends, or set `force: true` on the app"
CONTROLLER_LATER = "the controller sends it in a cycle after that deployment ends (or set `force: true` on the app)"
NOT_LEADER = "not the leader: not sent (this controller's leader lock lapsed; the leader sends it)"


def fenced(may_write: Callable[[], bool] | None) -> bool:
    """True when a write must not go out now: a controller that is not (or no longer surely) the leader."""
    return may_write is not None and not may_write()


@dataclass(frozen=True)
class ExecuteOptions:
    wait: bool = True
    timeout: float = 300.0  # the deadline of the whole execution (apply's --deadline)
    poll_interval: float = 0.25
    later: str = APPLY_LATER  # how a skipped write gets sent after all
    # The leader's fence, asked right before each request that writes: False = not sent (skipped).
    may_write: Callable[[], bool] | None = None


@dataclass(frozen=True)
class Progress:
    """What a progress display shows while deployments run."""

    running: tuple[str, ...]
    total: int
    elapsed: float


@dataclass(frozen=True)
class Execution:
    actions: tuple[Action, ...]
    deployment_ids: tuple[str, ...] = ()
    timed_out: bool = False

    @property
    def failed(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.outcome == Outcome.FAILED)

    @property
    def unknown(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.outcome == Outcome.UNKNOWN)


ProgressCallback = Callable[[Progress], None]


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


async def execute_plan(
    plan: Plan,
    marathon: MarathonPort,
    options: ExecuteOptions = ExecuteOptions(),
    progress: ProgressCallback | None = None,
) -> Execution:
    """Send the plan's pending actions; returns every action of the plan with its outcome."""
    deadline = _Deadline(options.timeout)
    done: dict[int, Action] = {}
    deployment_ids: list[str] = []
    pending = [(i, a) for i, a in enumerate(plan.actions) if a.outcome == Outcome.PLANNED and a.kind != ActionKind.WARN]
    for _env, group in groupby(pending, key=lambda item: item[1].env):
        items = list(group)
        writes = [(i, a) for i, a in items if a.kind in WRITE_KINDS]
        # A write that clears a field replaces the whole app: it cannot share a partial update's request.
        whole = {i for i, a in writes if replaces_whole(a.body or {})}
        deletes = [(i, a) for i, a in items if a.kind == ActionKind.DELETE]
        kills = [(i, a) for i, a in items if a.kind == ActionKind.KILL_TASK]
        for batch in ([w for w in writes if w[0] not in whole], [w for w in writes if w[0] in whole]):
            if batch and not _refused(batch, done, options):
                await _put_batch(marathon, batch, done, deployment_ids, deadline, options)
        for i, action in deletes:
            if not _refused([(i, action)], done, options):
                done[i] = await _delete(marathon, action, deployment_ids)
        if kills and not _refused(kills, done, options):
            await _kill_tasks(marathon, kills, done)
    timed_out = False
    if options.wait and deployment_ids:
        timed_out = not await wait_for_deployments(marathon, deployment_ids, deadline, options, progress)
    actions = tuple(done.get(i, a) for i, a in enumerate(plan.actions))
    return Execution(actions=actions, deployment_ids=tuple(deployment_ids), timed_out=timed_out)


async def _put_batch(
    marathon: MarathonPort,
    writes: list[tuple[int, Action]],
    done: dict[int, Action],
    deployment_ids: list[str],
    deadline: _Deadline,
    options: ExecuteOptions,
) -> None:
    try:
        deployment = await _put(marathon, [a for _, a in writes], force=False)
    except DeploymentLocked as exc:
        await _split_locked(marathon, writes, exc, done, deployment_ids, deadline, options)
        return
    except RemoteError as exc:
        _mark(writes, done, outcome_of(exc), str(exc))
        return
    deployment_ids.append(deployment)
    _mark(writes, done, Outcome.SUCCEEDED, f"deployment {deployment}")


async def _split_locked(
    marathon: MarathonPort,
    writes: list[tuple[int, Action]],
    locked_exc: DeploymentLocked,
    done: dict[int, Action],
    deployment_ids: list[str],
    deadline: _Deadline,
    options: ExecuteOptions,
) -> None:
    locked = await _apps_of_deployments(marathon, locked_exc.deployment_ids)
    free = [(i, a) for i, a in writes if a.target not in locked]
    forced = [(i, a) for i, a in writes if a.target in locked and a.force]
    waiting = [(i, a) for i, a in writes if a.target in locked and not a.force]
    log.info(
        "event=deployment-locked deployments=%s free=%d forced=%d waiting=%d",
        ",".join(locked_exc.deployment_ids), len(free), len(forced), len(waiting),
    )
    for part, force in ((free, False), (forced, True)):
        if part and not _refused(part, done, options):
            await _put_once(marathon, part, done, deployment_ids, force=force)
    if not waiting:
        return
    ids = ", ".join(locked_exc.deployment_ids)
    if not options.wait:
        # No waiting at all without --wait: a cycle never blocks on someone's deployment.
        _mark(waiting, done, Outcome.SKIPPED, f"locked by running deployment {ids}: not sent; {options.later}")
        return
    if await wait_for_deployments(marathon, list(locked_exc.deployment_ids), deadline, options, None):
        if not _refused(waiting, done, options):  # the wait may have outlived the leadership
            await _put_once(marathon, waiting, done, deployment_ids, force=False)
        return
    _mark(waiting, done, Outcome.FAILED, f"locked by running deployment {ids} past the deadline; "
          "wait for it, or set `force: true` on the app")


async def _put_once(
    marathon: MarathonPort,
    writes: list[tuple[int, Action]],
    done: dict[int, Action],
    deployment_ids: list[str],
    *,
    force: bool,
) -> None:
    if not writes:
        return
    try:
        deployment = await _put(marathon, [a for _, a in writes], force=force)
    except RemoteError as exc:
        _mark(writes, done, outcome_of(exc), str(exc))
        return
    deployment_ids.append(deployment)
    _mark(writes, done, Outcome.SUCCEEDED, f"deployment {deployment}" + (" (forced)" if force else ""))


async def _put(marathon: MarathonPort, actions: Sequence[Action], *, force: bool) -> str:
    bodies = [dict(a.body or {"id": a.target}) for a in actions]
    whole = any(replaces_whole(body) for body in bodies)  # execute_plan never mixes the two kinds in one batch
    result = await marathon.put_apps(bodies, force=force, partial_update=not whole)
    return str(result.deployment_id)


async def _delete(marathon: MarathonPort, action: Action, deployment_ids: list[str]) -> Action:
    try:
        result = await marathon.delete_app(action.target, force=True)
    except RemoteError as exc:
        return replace(action, outcome=outcome_of(exc), detail=str(exc))
    deployment_ids.append(str(result.deployment_id))
    return replace(action, outcome=Outcome.SUCCEEDED, detail=f"deployment {result.deployment_id}")


async def _kill_tasks(marathon: MarathonPort, kills: list[tuple[int, Action]], done: dict[int, Action]) -> None:
    """Heals: one `POST /v2/tasks/delete?scale=false` for all of them, so Marathon replaces each task;
    the autoscaler's kills (body `{"scale": true}`): one with `scale=true`, so Marathon lowers `instances`.
    A heal goes out only while its task still runs, as read right before the kill (`_still_running`)."""
    for scale in (False, True):
        chosen = [(i, a) for i, a in kills if bool((a.body or {}).get("scale")) == scale]
        if not scale:
            chosen = await _still_running(marathon, chosen, done)
        if not chosen:
            continue
        try:
            await marathon.post_tasks_delete([a.target for _, a in chosen], scale=scale)
        except RemoteError as exc:
            _mark(chosen, done, outcome_of(exc), str(exc))
            continue
        _mark(chosen, done, Outcome.SUCCEEDED,
              "killed and instances lowered" if scale else "killed; Marathon launches a replacement")


# At most this many apps' tasks are read at once before their heals.
REREAD_CONCURRENCY = 8


async def _still_running(
    marathon: MarathonPort, kills: list[tuple[int, Action]], done: dict[int, Action]
) -> list[tuple[int, Action]]:
    """The heals whose task Marathon still lists running, read again with its app (`GET /v2/apps/{app}`:
    the app's labels and its tasks, which AppsResource.show always embeds) right before the kill, of apps the
    reconciler still owns (its `reconciler.managed-by` label: someone may have taken the app over since the
    observation) and no deployment runs for (`GET /v2/deployments`: one may have started since the
    observation, the same plan's update among them); the others are skipped, logged and never sent.

    Marathon kills instances: a task id reaches its instance's current task (TasksResource.killTasks:
    `Task.Id.parse(id).instanceId`), and a replaced task's instance runs on as its next incarnation
    (InstanceOpFactoryImpl: `Task.Id.nextIncarnationFor`; a resident app's always, by its reservation).
    A heal decided on an observation of a task that Marathon has replaced since would kill the healthy
    replacement. An app whose tasks cannot be read gets no kill: healing never acts on what it cannot see.
    """
    if not kills:
        return []
    limit = asyncio.Semaphore(REREAD_CONCURRENCY)

    async def tasks_of(app_id: str) -> Reread | str:
        async with limit:
            try:
                return reread(await marathon.get_app(app_id))
            except RemoteError as exc:
                return str(exc)

    apps = {i: app_of_task_id(a.target) for i, a in kills}
    try:
        deploying: set[str] | str = {a for d in await _running_deployments(marathon) for a in d.affected_apps}
    except RemoteError as exc:
        deploying = str(exc)
    wanted = sorted({app for app in apps.values() if app})
    read = dict(zip(wanted, await asyncio.gather(*(tasks_of(app) for app in wanted)), strict=True))
    kept = []
    for i, action in kills:
        app = apps[i]
        why = _not_to_kill(action.target, app, deploying, read.get(app) if app else "not a Marathon task id")
        if why is None:
            kept.append((i, action))
            continue
        log.warning("event=heal-skipped task=%s reason=%r", action.target, why)
        done[i] = replace(action, outcome=Outcome.SKIPPED, detail=f"not killed: {why}")
    return kept


@dataclass(frozen=True)
class Reread:
    """An app as read again right before its heals: whether the reconciler still owns it, its tasks' states."""

    managed: bool
    tasks: dict[str, TaskState]


def reread(app: marathon_wire.App) -> Reread:
    return Reread(is_managed(app.labels or {}), {t.id: to_task_state(t) for t in app.tasks or ()})


def _not_to_kill(
    task_id: str, app: str | None, deploying: set[str] | str, read: Reread | str | None
) -> str | None:
    """Why a heal must not go out as Marathon stands now (deployments, the app's owner, its tasks), or None."""
    if isinstance(deploying, str):
        return f"the running deployments could not be read again before the kill ({deploying})"
    if app in deploying:
        return "a deployment of the app runs (it started since the observation): Marathon is replacing its tasks"
    if not isinstance(read, Reread):
        return f"the app could not be read again before the kill ({read})"
    if not read.managed:
        return (f"the app is no longer the reconciler's: its {MANAGED_BY_LABEL} label is gone or changed since"
                " the observation (someone took it over, or replaced it under the same id)")
    tasks = read.tasks
    if task_id not in tasks:
        return ("the task is gone: Marathon replaced or ended it since it was observed (a kill names its"
                " instance: it would reach the task running there now)")
    return None if tasks[task_id] == TaskState.RUNNING else f"the task is {tasks[task_id]} now"


def _refused(items: list[tuple[int, Action]], done: dict[int, Action], options: ExecuteOptions) -> bool:
    """Asks the fence at the moment of the write; refused items are marked skipped, never sent."""
    if not fenced(options.may_write):
        return False
    log.warning("event=write-fenced actions=%d reason=not-the-leader", len(items))
    _mark(items, done, Outcome.SKIPPED, NOT_LEADER)
    return True


def outcome_of(exc: RemoteError) -> Outcome:
    """FAILED, unless the write was sent and its answer lost: then nobody knows (a re-observation decides)."""
    return Outcome.UNKNOWN if isinstance(exc, OutcomeUnknown) else Outcome.FAILED


def _mark(items: Iterable[tuple[int, Action]], done: dict[int, Action], outcome: Outcome, detail: str) -> None:
    for i, action in items:
        done[i] = replace(action, outcome=outcome, detail=detail)


async def _running_deployments(marathon: MarathonPort) -> list[Any]:
    return list(await marathon.get_deployments())


async def _apps_of_deployments(marathon: MarathonPort, ids: Sequence[str]) -> set[str]:
    try:
        deployments = await _running_deployments(marathon)
    except RemoteError:
        return set()
    return {app for d in deployments if d.id in ids for app in d.affected_apps}


async def wait_for_deployments(
    marathon: MarathonPort,
    ids: Sequence[str],
    deadline: _Deadline,
    options: ExecuteOptions,
    progress: ProgressCallback | None,
) -> bool:
    """Poll `GET /v2/deployments` until none of `ids` is running; False when the deadline passed."""
    wanted = set(ids)
    started = time.monotonic()
    while True:
        try:
            running = tuple(sorted(d.id for d in await _running_deployments(marathon) if d.id in wanted))
        except RemoteError as exc:
            log.warning("event=deployments-poll-failed error=%r", str(exc))
            running = tuple(sorted(wanted))
        if progress:
            progress(Progress(running=running, total=len(wanted), elapsed=time.monotonic() - started))
        if not running:
            return True
        if deadline.left() <= 0:
            return False
        await asyncio.sleep(min(options.poll_interval, deadline.left()))
