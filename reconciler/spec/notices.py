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


def empty_file_warnings(specs: SpecSet) -> list[SpecProblem]:
    """Spec files that declare no environment (empty, only comments or `---`): most likely truncated by a
    bad merge or an editor, and then whatever they held is silently out of the tree (never pruned, never
    synced again)."""
    declaring = {environment.mark.file for environment in specs.environments.values()}
    message = "the file declares no environment (it is empty, or holds only comments)"
    hint = "delete it, or declare an environment in it (apiVersion: reconciler/v1, kind: Environment, name: ...)"
    return [SpecProblem(file, None, "", message, hint) for file in specs.files if file not in declaring]
