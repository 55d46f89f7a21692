"""Per-environment DNS: the Consul prepared queries to create, update and delete (pure core).

A query `<app>.<env>` belongs to environment `env`. Deletions follow the rules of apps: never from
an incomplete observation, and never while an app the query serves still runs in Marathon unless
that app is pruned in the same plan (engine/planning.py ties the two: the query goes, or is refused,
with its app). The planner's caller keeps every action to the environments in scope. docs/dns.md.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from functools import partial
from itertools import chain
from typing import Any

from reconciler.core.decision_memo import DecisionMemos
from reconciler.core.guards import refuse
from reconciler.core.model import Action, ActionKind, Actual, ActualApp, Desired, Outcome
from reconciler.core.naming import APP_LABEL, ENV_LABEL, query_name
from reconciler.core.registry import MANAGED_TAG, ConsulObservation, DesiredQuery, ObservedQuery

# The body key of a tied QUERY_DELETE naming the apps it goes with (not sent to Consul).
FOLLOWS_KEY = "Follows"


def desired_queries(desired: Desired) -> tuple[list[DesiredQuery], list[Action]]:
    """Every environment's queries, and refusals for functional sets whose base is itself a set."""
    queries: list[DesiredQuery] = []
    refusals: list[Action] = []
    for env in sorted(desired.environments.values(), key=lambda e: e.name):
        for app in sorted(env.apps):
            queries.append(query_of(app, env.name, env.name))
        if env.base is None:
            continue
        base = desired.environments.get(env.base)
        if base is None or base.base is not None:
            refusals.append(_base_refusal(env.name, env.base, base is None))
            continue
        for app in sorted(set(base.apps) - set(env.apps)):
            queries.append(query_of(app, env.name, base.name))
    return queries, refusals


def _listed(desired: Desired) -> tuple[dict[str, DesiredQuery], list[Action]]:
    """The desired queries by name, in order. Of two with one name (app `a.b` in `c`, app `a` in `b.c`) the
    later stands: one Consul query cannot be both."""
    queries, refusals = desired_queries(desired)
    return {query.name: query for query in queries}, refusals


def _base_refusal(env: str, base: str, missing: bool) -> Action:
    why = "is not a desired environment" if missing else "is itself a functional set; sets never route to each other"
    return Action(
        kind=ActionKind.WARN,
        target=env,
        env=env,
        reason=f"no fallback queries for {env}: its base {base} {why}",
        outcome=Outcome.REFUSED,
    )


def query_of(app: str, env: str, runs_in: str) -> DesiredQuery:
    """The query that resolves `app` inside `env` to the passing instances of environment `runs_in`."""
    return DesiredQuery(name=query_name(app, env), service=app, tags=(runs_in, MANAGED_TAG), env=env)


def query_body(query: DesiredQuery, query_id: str | None = None) -> dict[str, Any]:
    """The prepared query definition (`POST /v1/query`); with `ID` for an update."""
    body: dict[str, Any] = {
        "Name": query.name,
        "Service": {"Service": query.service, "Tags": list(query.tags), "OnlyPassing": query.only_passing},
    }
    return {"ID": query_id, **body} if query_id else body


def _query_action(kind: ActionKind, query: DesiredQuery, reason: str, query_id: str | None = None) -> Action:
    return Action(kind=kind, target=query.name, env=query.env, reason=reason, body=query_body(query, query_id))


def plan_queries(
    desired: Desired, actual: Actual, consul: ConsulObservation, *, prune: bool = False,
    memos: DecisionMemos | None = None,
) -> tuple[Action, ...]:
    """QUERY_CREATE/UPDATE for missing or different queries, QUERY_DELETE for ours that are not wanted.

    A query still serving a managed app that runs in Marathon is deleted only with `prune`, tied to
    that app's delete; one whose apps are all gone from Marathon and the specs is deleted at once.
    With `memos`, the same Desired's queries are not listed again, nor a query compared again with the
    same observed query (nor looked up, when not in `memos.changed_queries`).
    """
    if not consul.complete:
        return ()
    memos = DecisionMemos() if memos is None else memos
    with memos.desired_queries.pass_(lambda: ("",)):
        # the queries are a function of the environments alone: a new tree that changed apps only lists none again
        wanted, refusals = memos.desired_queries.get("", (desired.environments,), lambda: _listed(desired), operator.eq)
    actions = list(refusals)
    memo = memos.queries
    with memo.pass_(wanted.keys, memos.changed_queries) as deciding:
        for name in deciding:
            query = wanted.get(name)
            if query is not None:
                observed = consul.queries.get(name)
                memo.get(name, (query, observed), partial(_query_changes, query, consul))
    actions.extend(chain.from_iterable(memo.values()))
    if desired.environments and actual.complete:  # an empty spec tree never deletes everything
        actions.extend(_query_deletions(wanted.keys(), actual, consul, prune))
    return tuple(actions)


def _query_changes(query: DesiredQuery, consul: ConsulObservation) -> tuple[Action, ...]:
    if _as_wanted(query, consul.queries.get(query.name)):
        return ()
    return tuple(_changes_of(query, consul))


def _as_wanted(query: DesiredQuery, observed: ObservedQuery | None) -> bool:
    """The common case, where `_changes_of` finds nothing: the query is ours and resolves as wanted."""
    return observed is not None and observed.managed and query.same_as(observed)


def _changes_of(query: DesiredQuery, consul: ConsulObservation) -> Iterator[Action]:
    observed = consul.queries.get(query.name)
    if observed is None:
        target = query.tags[0]
        yield _query_action(ActionKind.QUERY_CREATE, query, f"{query.service} in {query.env} resolves to {target}")
    elif not observed.managed:
        yield Action(
            kind=ActionKind.WARN,
            target=query.name,
            env=query.env,
            reason=f"prepared query {query.name} exists without the {MANAGED_TAG} tag: not ours, left alone",
            outcome=Outcome.REFUSED,
        )
    elif not query.same_as(observed):
        reason = f"query resolves to tags {list(observed.tags)}, wanted {list(query.tags)}"
        yield _query_action(ActionKind.QUERY_UPDATE, query, reason, observed.query_id)


def environment_of_query(observed: ObservedQuery) -> str | None:
    """The environment a query of ours belongs to: its name is `<service>.<environment>`."""
    prefix = observed.service + "."
    if not observed.name.startswith(prefix):
        return None
    return observed.name[len(prefix) :] or None


def app_identity(app: ActualApp) -> tuple[str, str]:
    """(environment, app name) of a Marathon app: its ownership labels, else the segments of its id."""
    segments = app.app_id.strip("/").split("/")
    return app.labels.get(ENV_LABEL) or segments[0], app.labels.get(APP_LABEL) or segments[-1]


def serving_apps(observed: ObservedQuery, env: str, actual: Actual) -> tuple[str, ...]:
    """Managed Marathon apps the query resolves to or stands for: the app in its own environment
    and in the environment its tags route to."""
    environments = {env, *(tag for tag in observed.tags if tag != MANAGED_TAG)}
    return tuple(
        app.app_id
        for app in sorted(actual.apps.values(), key=lambda a: a.app_id)
        if app.managed and app_identity(app) in {(e, observed.service) for e in environments}
    )


def _query_deletions(
    wanted: AbstractSet[str], actual: Actual, consul: ConsulObservation, prune: bool
) -> Iterator[Action]:
    for name in sorted(consul.queries.keys() - wanted):  # a wanted query is never deleted: not even looked at
        observed = consul.queries[name]
        env = environment_of_query(observed)
        if not observed.managed or env is None:
            continue
        apps = serving_apps(observed, env, actual)
        if not apps:
            yield _delete(observed, env, "its app left the specs and no longer runs in Marathon")
        elif prune:
            yield _delete(observed, env, f"goes with {', '.join(apps)} (prune)", apps)


def _delete(observed: ObservedQuery, env: str, reason: str, follows: tuple[str, ...] = ()) -> Action:
    body: dict[str, Any] = {"ID": observed.query_id, "Name": observed.name}
    if follows:
        body[FOLLOWS_KEY] = list(follows)
    return Action(kind=ActionKind.QUERY_DELETE, target=observed.name, env=env, reason=reason, body=body)


def tie_to_deletes(actions: Iterable[Action], marathon: Iterable[Action]) -> list[Action]:
    """Tied query deletes share the fate of their apps' deletes in the Marathon plan.

    All planned: the query goes. Any refused: the query is refused with the same reason. Any not
    deleted at all (outside the prune's scope): the query stays, as the app does.
    """
    deletes = {a.target: a for a in marathon if a.kind == ActionKind.DELETE}
    tied: list[Action] = []
    for action in actions:
        follows = (action.body or {}).get(FOLLOWS_KEY) if action.kind == ActionKind.QUERY_DELETE else None
        if not follows:
            tied.append(action)
            continue
        fates = [deletes.get(app_id) for app_id in follows]
        if any(fate is None for fate in fates):
            continue
        refused = next((f for f in fates if f is not None and f.outcome == Outcome.REFUSED), None)
        tied.append(action if refused is None else refuse(action, refused.reason))
    return tied
