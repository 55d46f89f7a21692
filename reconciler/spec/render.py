"""Rendering a SpecSet into the core's Desired (spec layer): charts expanded, dependencies resolved,
ownership labels set, heal and autoscale settings converted. Every problem found is raised at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.core.model import Desired, DesiredApp, DesiredEnvironment
from reconciler.core.naming import APP_LABEL, ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, app_id_of
from reconciler.errors import ProblemList, UsageError
from reconciler.spec.autoscale import autoscale_policy
from reconciler.spec.charts import ChartShelf
from reconciler.spec.definition import marathon_body
from reconciler.spec.dependencies import check_cycles, resolve_dependencies
from reconciler.spec.expand import ConcreteEntry, Expansion, expand_environment
from reconciler.spec.ids import check_ids
from reconciler.spec.policies import heal_policy
from reconciler.spec.problems import closest_hint, raise_problems
from reconciler.spec.query_names import check_query_names
from reconciler.spec.service_ports import check_service_ports
from reconciler.spec.specset import EnvironmentSource, SpecSet


def render_desired(specs: SpecSet, *, env: str | None = None, revision: str = "") -> Desired:
    """Desired state of every environment (or of `env` only); raises SpecError naming every problem."""
    problems = ProblemList()
    selected = _selected(specs, env)
    expansions = _expand(specs.environments, selected, problems)
    owners = _id_owners(specs.environments, expansions)
    check_ids(owners, selected, problems)
    check_service_ports(owners, selected, problems)
    check_query_names(specs.environments, expansions, selected, problems)
    environments: dict[str, DesiredEnvironment] = {}
    apps: dict[str, DesiredApp] = {}
    for name in selected:
        environment, expansion = specs.environments[name], expansions[name]
        environments[name] = _desired_environment(environment, expansion.apps)
        dependencies = check_dependencies(environment, expansion, _base(environment, expansions), problems)
        for entry in expansion.apps.values():
            app = _desired_app(environment, entry, dependencies[entry.name])
            apps[app.app_id] = app
    raise_problems(problems)
    return Desired(environments=environments, apps=apps, revision=revision)


def check_rendering(
    environments: Mapping[str, EnvironmentSource], shadowed: Sequence[EnvironmentSource], problems: ProblemList
) -> None:
    """What rendering finds wrong in `environments`, and in `shadowed` (later declarations of a name
    already taken), without building Desired: load_specs calls it when the documents have problems,
    so that one run reports every problem.
    """
    expansions = _expand(environments, list(environments), problems)
    owners = _id_owners(environments, expansions)
    check_ids(owners, list(environments), problems)
    check_service_ports(owners, list(environments), problems)
    check_query_names(environments, expansions, list(environments), problems)
    for name, environment in environments.items():
        check_dependencies(environment, expansions[name], _base(environment, expansions), problems)
    shelf = ChartShelf(problems)
    for environment in shadowed:
        expansion = expand_environment(environment, shelf, problems)
        check_dependencies(environment, expansion, _base(environment, expansions), problems)


def check_dependencies(
    environment: EnvironmentSource, expansion: Expansion, base: Expansion | None, problems: ProblemList
) -> dict[str, list[str]]:
    """The absolute dependency ids of every app; unknown names and cycles become problems."""
    dependencies = resolve_dependencies(environment, expansion, base, problems)
    check_cycles(environment, expansion.apps, problems)
    return dependencies


def _expand(
    environments: Mapping[str, EnvironmentSource], selected: list[str], problems: ProblemList
) -> dict[str, Expansion]:
    """The concrete apps of every environment: those of the others too, since their ids may clash with
    the selected ones' (their own problems are not the selected environments' and are left out).
    """
    needed = set(selected) | {environments[name].base or name for name in selected}
    others = ProblemList()
    shelf, other_shelf = ChartShelf(problems), ChartShelf(others)
    return {
        name: expand_environment(environment, *((shelf, problems) if name in needed else (other_shelf, others)))
        for name, environment in environments.items()
    }


def _base(environment: EnvironmentSource, expansions: Mapping[str, Expansion]) -> Expansion | None:
    return expansions.get(environment.base) if environment.base else None


def _id_owners(
    environments: Mapping[str, EnvironmentSource], expansions: Mapping[str, Expansion]
) -> dict[str, tuple[EnvironmentSource, dict[str, ConcreteEntry]]]:
    """The environments whose app ids are known (not one whose `group` has problems of its own)."""
    return {
        name: (environment, expansions[name].apps)
        for name, environment in environments.items()
        if "group" not in environment.broken
    }


def _selected(specs: SpecSet, env: str | None) -> list[str]:
    if env is None:
        return list(specs.environments)
    if env not in specs.environments:
        # A flag naming nothing is a usage error (exit 2), not a fault in the spec files (exit 3).
        known = ", ".join(sorted(specs.environments)) or "none"
        close = closest_hint(env, list(specs.environments))
        hint = f"{close + ' ' if close.startswith('did you') else ''}the environments are: {known}"
        raise UsageError(f"--env {env}: the specs have no environment named '{env}'", hint=hint)
    return [env]


def _desired_environment(environment: EnvironmentSource, apps: dict[str, ConcreteEntry]) -> DesiredEnvironment:
    return DesiredEnvironment(
        name=environment.name,
        group=environment.group,
        base=environment.base,
        approval_required=environment.approval_required,
        apps=tuple(apps),
        source=environment.mark.where,
    )


def _desired_app(environment: EnvironmentSource, entry: ConcreteEntry, dependencies: list[str]) -> DesiredApp:
    app = entry.app
    instances = app.instances if app.instances is not None else (app.autoscale.min_instances if app.autoscale else 1)
    app_id = app_id_of(environment.group, entry.name)
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENV_LABEL: environment.name, APP_LABEL: entry.name}
    definition = marathon_body(
        app,
        app_id=app_id,
        env=environment.name,
        instances=instances,
        labels=labels,
        dependencies=dependencies,
        dns=environment.dns,
    )
    return DesiredApp(
        app_id=app_id,
        env=environment.name,
        name=entry.name,
        definition=definition,
        instances=instances,
        dependencies=tuple(dependencies),
        force=bool(app.force),
        heal=heal_policy(app.heal, instances),
        autoscale=autoscale_policy(app.autoscale),
        source=entry.source.mark.where,
    )
