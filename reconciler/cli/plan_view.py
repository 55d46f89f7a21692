"""How a plan looks in a terminal (face layer): a Terraform-like coloured diff and a summary line.

Consul's actions of one app collapse into one line (`--verbose` shows each); refused, failed and
unknown ones are always shown one by one, with their reasons.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.markup import escape

from reconciler.cli.output import console, err_console, print_json_document, print_lines
from reconciler.core.approvals import approval_environments
from reconciler.core.export import plan_as_dict, summarize
from reconciler.core.masking import shown_change
from reconciler.core.model import Action, ActionKind, Desired, Outcome, Plan

MARATHON_KINDS = ("create", "update", "scale", "delete")
# kind -> (singular, plural) of what a count of that kind reads as
CONSUL_WORDS = {
    "kill-task": ("to heal", "to heal"),
    "register": ("to register", "to register"),
    "deregister": ("to deregister", "to deregister"),
    "query-create": ("query to create", "queries to create"),
    "query-update": ("query to update", "queries to update"),
    "query-delete": ("query to delete", "queries to delete"),
}
COLLAPSED_KINDS = frozenset(
    {ActionKind.REGISTER, ActionKind.DEREGISTER, ActionKind.QUERY_CREATE, ActionKind.QUERY_UPDATE,
     ActionKind.QUERY_DELETE}
)
LISTED_APPS = 10  # a longer list of apps ends in "and N more"

SYMBOLS: dict[ActionKind, tuple[str, str]] = {
    ActionKind.CREATE: ("+", "green"),
    ActionKind.UPDATE: ("~", "yellow"),
    ActionKind.SCALE: ("+/-", "cyan"),
    ActionKind.DELETE: ("-", "red"),
    ActionKind.KILL_TASK: ("x", "magenta"),
    ActionKind.REGISTER: ("+", "green"),
    ActionKind.DEREGISTER: ("-", "red"),
    ActionKind.QUERY_CREATE: ("+", "green"),
    ActionKind.QUERY_UPDATE: ("~", "yellow"),
    ActionKind.QUERY_DELETE: ("-", "red"),
    ActionKind.WARN: ("!", "bold yellow"),
}


@dataclass(frozen=True)
class Compared:
    """The systems a plan was made against (Marathon alone under --no-consul or when Consul could not
    be read) and, for `-o json`, what was read of Consul (None: left out)."""

    systems: str = "Marathon and Consul"
    consul: dict[str, Any] | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The keys this adds to a JSON plan document."""
        return {"consul": self.consul}


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """`1 warning`, `2 warnings`: the count with the word in the right number."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def show_plan(
    plan: Plan, *, output: str, title: str = "Plan", compared: Compared = Compared(), verbose: bool = False
) -> None:
    if output == "json":
        print_json_document(plan_as_dict(plan) | compared.document)
        return
    print_lines(plan_lines(plan.actions, verbose=verbose))
    console.print(summary_line(plan, title=title, compared=compared.systems))
    print_lines(state_lines(plan))


def state_lines(plan: Plan) -> list[str]:
    """What the plan does not change but the reader must know: orphans and running deployments."""
    lines = []
    if plan.prunable:
        would = "would be deleted with --prune"
        lines.append(f"[yellow]{counted(len(plan.prunable), 'app')} {would}:[/] {listed(plan.prunable)}")
    if plan.progressing:
        lines.append(f"[cyan]Progressing:[/] a Marathon deployment still changes {listed(plan.progressing)}")
    return lines


def listed(app_ids: Iterable[str]) -> str:
    ids = list(app_ids)
    more = len(ids) - LISTED_APPS
    return escape(", ".join(ids[:LISTED_APPS]) + (f" and {more} more" if more > 0 else ""))


def plan_lines(actions: Iterable[Action], *, verbose: bool = True) -> list[str]:
    """Each environment once, in the order the plan first names it: its actions in plan order (Marathon's,
    then Consul's, which the planner lists after every environment's Marathon actions)."""
    by_env: dict[str | None, list[Action]] = {}
    for action in actions:
        by_env.setdefault(action.env, []).append(action)
    lines: list[str] = []
    for env, group in by_env.items():
        lines.append(f"[bold]{escape(env or '(no environment)')}[/]")
        collapsed: dict[str, list[Action]] = {}
        for action in group:
            if not verbose and collapsible(action):
                collapsed.setdefault(consul_app_of(action), []).append(action)
                continue
            lines.extend(action_lines(action))
        lines.extend(consul_summary_lines(collapsed))
    return lines


def collapsible(action: Action) -> bool:
    return action.kind in COLLAPSED_KINDS and action.outcome in (Outcome.PLANNED, Outcome.SUCCEEDED)


def consul_app_of(action: Action) -> str:
    """The app a Consul action is about: the service name of a registration, the app of a query."""
    body = action.body or {}
    if action.kind in (ActionKind.REGISTER, ActionKind.DEREGISTER):
        return str(body.get("Name") or action.target)
    service = (body.get("Service") or {}).get("Service")
    if service:
        return str(service)
    suffix = f".{action.env}"
    return action.target[: -len(suffix)] if action.env and action.target.endswith(suffix) else action.target


def consul_summary_lines(collapsed: dict[str, list[Action]]) -> list[str]:
    """One line per app: `* redis consul: 2 to register, 1 query to create` (succeeded ones say done)."""
    lines = []
    for app in sorted(collapsed):
        actions = collapsed[app]
        counts = Counter(str(a.kind) for a in actions)
        parts = [counted(counts[k], *words) for k, words in CONSUL_WORDS.items() if counts.get(k)]
        done = " [bold]succeeded[/]" if all(a.outcome == Outcome.SUCCEEDED for a in actions) else ""
        lines.append(f"  [blue]  * {escape(app)}[/] consul  [dim]{', '.join(parts)}[/]{done}")
    return lines


def action_lines(action: Action) -> list[str]:
    symbol, colour = SYMBOLS.get(action.kind, ("?", "white"))
    if action.outcome == Outcome.REFUSED:
        colour = "bold red"
    head = f"  [{colour}]{escape(symbol):>3} {escape(action.target)}[/] {action.kind}"
    if action.outcome == Outcome.REFUSED:
        # A refused action's reason says why it was refused; its detail keeps why it was planned.
        why = f"  [dim]{escape(action.detail)}[/]" if action.detail else ""
        return [head + why + f" [bold red]refused[/]: {escape(action.reason)}", *change_lines(action)]
    tail = f"  [dim]{escape(action.reason)}[/]"
    if action.outcome != Outcome.PLANNED:
        tail += f" [bold]{action.outcome}[/]" + (f": {escape(action.detail)}" if action.detail else "")
    return [head + tail, *change_lines(action)]


def change_lines(action: Action) -> list[str]:
    """One line per changed field, its secrets masked; `(changed)` when the masked sides read alike."""
    lines = []
    for shown in map(shown_change, action.changes):
        actual, desired = _short(shown.actual), _short(shown.desired)
        changed = " (changed)" if actual == desired else ""
        lines.append(f"        [yellow]{escape(shown.path)}[/]: {escape(actual)} -> {escape(desired)}{changed}")
    return lines


def summary_line(plan: Plan, *, title: str, compared: str = "Marathon and Consul") -> str:
    counts = summarize(plan)
    if plan.empty and not counts["refused"]:
        if plan.progressing:
            return f"[bold]{title}: no changes to send.[/] Progressing: a deployment is still running (below)."
        if plan.prunable:
            return f"[bold]{title}: no changes without --prune.[/] Some apps left the specs (below)."
        verb = "match" if " and " in compared else "matches"
        return f"[bold green]{title}: no changes.[/] {compared} {verb} the specs."
    parts = [f"{counts[k]} to {k}" for k in MARATHON_KINDS if counts[k]]
    parts.extend(counted(counts[k], *words) for k, words in CONSUL_WORDS.items() if counts.get(k))
    if counts["refused"]:
        parts.append(f"[bold red]{counts['refused']} refused[/]")
    if counts["warnings"]:
        parts.append(counted(counts["warnings"], "warning"))
    return f"[bold]{title}:[/] " + (", ".join(parts) or "no changes") + "."


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if value is not None else "(unset)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def print_warning(message: str) -> None:
    """One warning line on stderr (a degraded observation, not an error of the command)."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)


def approval_notes(desired: Desired, env: str | None) -> None:
    """plan's (and a dry run's) word on the environments whose changes need an approval."""
    for name in approval_environments(desired, env):
        print_warning(f"{name} requires an approval: a change to it waits for `reconciler approve {name} PLAN-ID`;"
                      " apply records the plan and refuses (docs/approvals.md)")
