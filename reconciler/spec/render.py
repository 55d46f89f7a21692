"""Rendering a SpecSet into the core's Desired (spec layer): charts expanded, dependencies resolved,
ownership labels set, heal and autoscale settings converted. Every problem found is raised at once.
"""

from __future__ import annotations

from reconciler.core.model import Desired, DesiredApp, DesiredEnvironment
from reconciler.core.naming import APP_LABEL, ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, app_id_of
from reconciler.errors import ProblemList, SpecError, SpecProblem
from reconciler.spec.charts import ChartShelf
from reconciler.spec.definition import marathon_body
from reconciler.spec.dependencies import check_cycles, resolve_dependencies
from reconciler.spec.expand import ConcreteEntry, expand_environment
from reconciler.spec.ids import check_ids
from reconciler.spec.policies import autoscale_policy, heal_policy
from reconciler.spec.problems import closest_hint
from reconciler.spec.specset import EnvironmentSource, SpecSet


def render_desired(specs: SpecSet, *, env: str | None = None, revision: str = "") -> Desired:
    """Desired state of every environment (or of `env` only); raises SpecError naming every problem."""
    problems = ProblemList()
    selected = _selected(specs, env)
    concrete = _expand(specs, selected, problems)
    check_ids({name: (specs.environments[name], apps) for name, apps in concrete.items()}, selected, problems)
    environments: dict[str, DesiredEnvironment] = {}
    apps: dict[str, DesiredApp] = {}
    for name in selected:
        environment = specs.environments[name]
        base_apps = concrete.get(environment.base, {}) if environment.base else {}
        environments[name] = _desired_environment(environment, concrete[name])
        for app in _desired_apps(environment, concrete[name], base_apps, problems):
            apps[app.app_id] = app
    problems.raise_if_any()
    return Desired(environments=environments, apps=apps, revision=revision)


def _expand(specs: SpecSet, selected: list[str], problems: ProblemList) -> dict[str, dict[str, ConcreteEntry]]:
    """The concrete apps of every environment: those of the others too, since their ids may clash with
    the selected ones' (their own problems are not the selected environments' and are left out).
    """
    needed = set(selected) | {specs.environments[name].base or name for name in selected}
    others = ProblemList()
    shelf, other_shelf = ChartShelf(problems), ChartShelf(others)
    return {
        name: expand_environment(environment, *((shelf, problems) if name in needed else (other_shelf, others)))
        for name, environment in specs.environments.items()
    }


def _selected(specs: SpecSet, env: str | None) -> list[str]:
    if env is None:
        return list(specs.environments)
    if env not in specs.environments:
        hint = closest_hint(env, list(specs.environments)).replace("known keys here", "environments")
        raise SpecError([SpecProblem("<specs>", None, "", f"no environment named '{env}'", hint)])
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


def _desired_apps(
    environment: EnvironmentSource,
    apps: dict[str, ConcreteEntry],
    base_apps: dict[str, ConcreteEntry],
    problems: ProblemList,
) -> list[DesiredApp]:
    dependencies = resolve_dependencies(environment, apps, base_apps, problems)
    check_cycles(environment, apps, problems)
    return [_desired_app(environment, entry, dependencies[name]) for name, entry in apps.items()]


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
