"""How a plan looks in a terminal (face layer): a Terraform-like coloured diff and a summary line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.markup import escape

from reconciler.cli.output import console, err_console
from reconciler.core.export import plan_as_dict, summarize
from reconciler.core.model import Action, ActionKind, Outcome, Plan

MARATHON_KINDS = ("create", "update", "scale", "delete")
CONSUL_WORDS = {
    "kill-task": "to heal",
    "register": "to register",
    "deregister": "to deregister",
    "query-create": "queries to create",
    "query-update": "queries to update",
    "query-delete": "queries to delete",
}

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


def show_plan(plan: Plan, *, output: str, title: str = "Plan", compared: Compared = Compared()) -> None:
    if output == "json":
        console.print_json(json.dumps(plan_as_dict(plan) | compared.document, default=str))
        return
    for line in plan_lines(plan.actions):
        console.print(line, soft_wrap=True)
    console.print(summary_line(plan, title=title, compared=compared.systems))


def plan_lines(actions: Iterable[Action]) -> list[str]:
    lines: list[str] = []
    env = None
    for action in actions:
        if action.env != env:
            env = action.env
            lines.append(f"[bold]{escape(env or '(no environment)')}[/]")
        lines.extend(action_lines(action))
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
    return [
        f"        [yellow]{escape(c.path)}[/]: {escape(_short(c.actual))} -> {escape(_short(c.desired))}"
        for c in action.changes
    ]


def summary_line(plan: Plan, *, title: str, compared: str = "Marathon and Consul") -> str:
    counts = summarize(plan)
    if plan.empty and not counts["refused"]:
        verb = "match" if " and " in compared else "matches"
        return f"[bold green]{title}: no changes.[/] {compared} {verb} the specs."
    parts = [f"{counts[k]} to {k}" for k in MARATHON_KINDS if counts[k]]
    parts.extend(f"{counts[k]} {words}" for k, words in CONSUL_WORDS.items() if counts.get(k))
    if counts["refused"]:
        parts.append(f"[bold red]{counts['refused']} refused[/]")
    if counts["warnings"]:
        parts.append(f"{counts['warnings']} warnings")
    return f"[bold]{title}:[/] " + (", ".join(parts) or "no changes") + "."


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if value is not None else "(unset)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def print_warning(message: str) -> None:
    """One warning line on stderr (a degraded observation, not an error of the command)."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)
