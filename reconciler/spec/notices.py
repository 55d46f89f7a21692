"""Advice about a valid spec tree (spec layer): what loads and renders but will not work as a reader
would expect. Warnings, never problems: the exit code stays 0.
"""

from __future__ import annotations

from reconciler.errors import SpecProblem
from reconciler.spec.specset import SpecSet


def dns_warnings(specs: SpecSet, env: str | None = None) -> list[SpecProblem]:
    """Environments (all, or `env`) with apps but no `dns` (own or inherited from the base): their
    containers keep the agent's resolver without the environment's search domain, so bare app names
    (`redis`) resolve to nothing there."""
    warnings = []
    for name, environment in specs.environments.items():
        if environment.dns is not None or not environment.apps or env not in (None, name):
            continue
        mark = environment.mark
        message = (
            f"environment '{name}' has no `dns`: its containers get no `dns-search {name}.query.consul`,"
            " so bare app names (`redis`) will not resolve in them"
        )
        hint = f"add `dns: {{domain: consul}}` (docs/dns.md), or have callers ask for `<app>.{name}.query.consul`"
        warnings.append(SpecProblem(mark.file, mark.line, "", message, hint))
    return warnings
