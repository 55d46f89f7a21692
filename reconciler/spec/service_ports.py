"""Service ports across every app of the tree (spec layer): marathon-lb routes a service port to the
tasks of the one app that holds it, so two apps (in any environments) or two ports of one app with the
same fixed service port would share a route. Each clash is reported at every place that takes part.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from reconciler.errors import ProblemList, SpecProblem
from reconciler.spec.expand import ConcreteEntry
from reconciler.spec.fields import Network
from reconciler.spec.source import Mark
from reconciler.spec.specset import EnvironmentSource

HINT = "marathon-lb routes a service port to one app: give each its own servicePort, or 0 (Marathon assigns one)"


@dataclass(frozen=True)
class _Holder:
    """One port that asks for a fixed service port."""

    environment: str
    app: str
    index: int
    field: str  # the spec field that holds the number: servicePort, or hostPort on host networking
    mark: Mark

    def describe(self) -> str:
        return f"ports[{self.index}] of app '{self.app}' of environment '{self.environment}' ({self.mark.where})"


def check_service_ports(
    expanded: Mapping[str, tuple[EnvironmentSource, Mapping[str, ConcreteEntry]]],
    selected: Collection[str],
    problems: ProblemList,
) -> None:
    """Problems for every fixed service port two places ask for, when one is in a `selected` environment."""
    holders: dict[int, list[_Holder]] = {}
    for environment, entries in expanded.values():
        for name, entry in entries.items():
            for number, holder in _fixed_ports(environment.name, name, entry):
                holders.setdefault(number, []).append(holder)
    for number, claims in sorted(holders.items()):
        if len(claims) < 2 or not any(claim.environment in selected for claim in claims):
            continue
        for claim in claims:
            others = " and ".join(other.describe() for other in claims if other is not claim)
            message = f"{claim.field} {number}: service port {number} is also asked for by {others}"
            problems.add(SpecProblem(claim.mark.file, claim.mark.line, claim.mark.path, message, HINT))


def _fixed_ports(environment: str, name: str, entry: ConcreteEntry) -> Iterator[tuple[int, _Holder]]:
    """Each port's fixed service port: `servicePort`, or on host networking the pinned `hostPort`
    (Marathon's `portDefinitions[].port` is both there)."""
    app = entry.app
    bridged = app.image is not None and app.network != Network.HOST
    for index, port in enumerate(app.ports or ()):
        field, number = "servicePort", port.service_port
        if not bridged and port.host_port:
            field, number = "hostPort", port.host_port
        if number:
            mark = entry.marks.at(("ports", index, field))
            yield number, _Holder(environment, name, index, field, mark)
