"""Consul prepared-query names across environments (spec layer): the query `<app>.<env>`, which makes the
bare name `app` resolve inside environment `env` (docs/dns.md), must name one app of one environment.
App and environment names may hold dots, so app `a.b` of environment `c` and app `a` of environment `b.c`
would both want the query `a.b.c`, and Consul's DNS would answer `a.b.c.query.<domain>` for one of them.
Each clash is reported at every place that takes part in it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from reconciler.core.naming import query_name
from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.expand import Expansion
from reconciler.spec.source import Mark
from reconciler.spec.specset import EnvironmentSource


@dataclass(frozen=True)
class _Claim:
    """The name `app` resolving inside `environment`: an app it runs, or (`base` set) one of its base's."""

    environment: EnvironmentSource
    app: str
    mark: Mark
    base: str | None = None

    def describe(self) -> str:
        name = self.environment.name
        if self.base is None:
            return f"app '{self.app}' of environment '{name}' ({self.mark.where})"
        return f"app '{self.app}' of '{self.base}' as seen from set '{name}', which does not run it ({self.mark.where})"


def check_query_names(
    environments: Mapping[str, EnvironmentSource], expansions: Mapping[str, Expansion],
    selected: Collection[str], problems: ProblemList,
) -> None:
    """Problems for every query name two apps claim, when one of them resolves in a `selected` environment."""
    claims: dict[str, list[_Claim]] = {}
    for name, environment in environments.items():
        for claim in _claims(environment, expansions.get(name), environments, expansions):
            claims.setdefault(query_name(claim.app, name), []).append(claim)
    for query, claimants in claims.items():
        if len(claimants) > 1 and any(claim.environment.name in selected for claim in claimants):
            for claim in claimants:
                problems.add(_clash(query, claim, [other for other in claimants if other is not claim]))


def _claims(
    environment: EnvironmentSource, expansion: Expansion | None,
    environments: Mapping[str, EnvironmentSource], expansions: Mapping[str, Expansion],
) -> list[_Claim]:
    """The names that resolve inside `environment`: its apps, and for a functional set over an environment
    that is no set itself, its base's other apps (core/queries.py `desired_queries` keeps a query for each)."""
    own = {} if expansion is None else expansion.apps
    claims = [_Claim(environment, app, entry.source.mark) for app, entry in own.items()]
    base = environments.get(environment.base) if environment.base else None
    base_apps = expansions.get(base.name) if base is not None and base.base is None else None
    if base is not None and base_apps is not None:
        claims += [_Claim(environment, app, environment.mark, base.name) for app in base_apps.apps if app not in own]
    return claims


def _clash(query: str, claim: _Claim, others: list[_Claim]) -> SpecProblem:
    also = " and ".join(other.describe() for other in others)
    subject = f"app '{claim.app}'" if claim.base is None else f"app '{claim.app}' of base '{claim.base}'"
    message = (
        f"{subject} resolves in environment '{claim.environment.name}' through the Consul prepared query"
        f" '{query}', which is also the query of {also}: Consul's DNS answers '{query}.query.<domain>' for one"
    )
    hint = "rename one of the apps or environments: a dot in a name makes `<app>.<env>` ambiguous"
    return SpecProblem(claim.mark.file, claim.mark.line, claim.mark.path, message, hint)
