"""Rules over a complete app (spec layer): what its fields must satisfy together, checked after the
types are known (chart rendered, overlays applied). A broken rule is a problem at the field it is
about, never a reason to drop the app: the app stays in its environment, so nothing that names it
(dependencies, functional overrides) fails after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from reconciler.errors import SpecProblem
from reconciler.spec.documents import ConcreteApp
from reconciler.spec.fields import Network, PortProtocol
from reconciler.spec.source import DataPath, Mark, Marks


@dataclass(frozen=True)
class Finding:
    """A broken rule. `paths`: where to report it, best first (the first the spec author wrote wins)."""

    paths: tuple[DataPath, ...]
    message: str
    hint: str | None = None


def _command(app: ConcreteApp) -> Iterator[Finding]:
    if app.image is None and app.cmd is None and not app.args:
        yield Finding(((),), "the app runs nothing: give `image` (Docker) or `cmd`/`args`")
    if app.cmd is not None and app.args:
        yield Finding((("args",), ("cmd",)), "give either `cmd` or `args`, not both (Marathon refuses both)")
    if app.image is None and app.network is not None:
        yield Finding((("network",),), "`network` applies to Docker apps (with `image`) only")


def _bridged(app: ConcreteApp) -> bool:
    return app.image is not None and app.network != Network.HOST


def _ports(app: ConcreteApp) -> Iterator[Finding]:
    if _bridged(app):
        return
    for index, port in enumerate(app.ports or ()):
        if port.container_port is not None:
            message = "`containerPort` needs a bridged Docker app (`image`); use `hostPort` otherwise"
            yield Finding((("ports", index, "containerPort"),), message)
        if port.protocol == PortProtocol.UDP_TCP:
            message = "protocol 'udp,tcp' needs a bridged Docker app; declare two host ports instead"
            yield Finding((("ports", index, "protocol"),), message)


def _instances(app: ConcreteApp) -> Iterator[Finding]:
    if app.autoscale is None or app.instances is None:
        return
    low, high = app.autoscale.min_instances, app.autoscale.max_instances
    if not low <= app.instances <= high:
        yield Finding(
            (("instances",), ("autoscale",)),
            f"instances ({app.instances}) is outside autoscale min..max ({low}..{high})",
            f"set `instances` between {low} and {high}, or leave it out (the app then starts with {low})",
        )


RULES: tuple[Callable[[ConcreteApp], Iterator[Finding]], ...] = (_command, _ports, _instances)


def app_problems(app: ConcreteApp, marks: Marks, entry: Mark) -> list[SpecProblem]:
    """Every broken rule of `app` (marks: of its fields; entry: where its spec file lists it)."""
    problems = []
    for rule in RULES:
        for finding in rule(app):
            mark = _place(finding.paths, marks, entry)
            problems.append(SpecProblem(mark.file, mark.line, mark.path, finding.message, finding.hint))
    return problems


def _place(paths: tuple[DataPath, ...], marks: Marks, entry: Mark) -> Mark:
    """The first of `paths` written in the spec file; else the first (a chart template's line)."""
    candidates = [marks.at(path) for path in paths]
    return next((mark for mark in candidates if mark.file == entry.file), candidates[0])
