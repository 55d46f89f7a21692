"""`reconciler status` (face layer): each environment's sync state and health, then each app's.

Asks a running controller's `/status` first (`--controller`, default http://127.0.0.1:9090); when none
answers, builds the same document from the store (`--database`: each environment's last synced desired
state, pause, last error and heal) and a fresh observation of Marathon and Consul, and says which it used.
Given the spec tree (SPECS), it lists every environment of it too: one never applied at the specs' state,
and a paused one with the specs' revision and digest it is not applying.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from reconciler.cli.consul_opts import ConsulOpt, NoConsulOpt
from reconciler.cli.output import console, print_json_document, print_warning
from reconciler.cli.plan_opts import COMPACT_ABOVE, ChartsOpt, OutputOpt, WideOpt, check_output
from reconciler.cli.settings import GlobalSettings, check_url
from reconciler.cli.store_opts import DatabaseOpt
from reconciler.errors import ExitCode, UsageError
from reconciler.redaction import redact_url

if TYPE_CHECKING:
    from reconciler.core.model import Desired

DEFAULT_CONTROLLER = "http://127.0.0.1:9090"
ControllerOpt = Annotated[str, typer.Option(
    "--controller", help="URL of a running controller's HTTP server.",
    callback=lambda url: check_url("--controller", url),
)]
EnvOpt = Annotated[str | None, typer.Option("--env", "-e", help="Only this environment.")]
SpecsOpt = Annotated[Path | None, typer.Argument(
    help="Spec tree: without a controller, list its environments too (never applied, paused behind it).")]
_STYLE = {"Synced": "green", "Healthy": "green", "Degraded": "red", "Missing": "yellow", "OutOfSync": "yellow",
          "Progressing": "cyan", "Paused": "magenta", "AwaitingApproval": "magenta", "RequiresPruning": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)


def status_command(
    ctx: typer.Context,
    specs: SpecsOpt = None,
    env: EnvOpt = None,
    output: OutputOpt = "text",
    controller: ControllerOpt = DEFAULT_CONTROLLER,
    database: DatabaseOpt = None,
    consul: ConsulOpt = None,
    no_consul: NoConsulOpt = False,
    wide: WideOpt = False,
    charts: ChartsOpt = None,
) -> None:
    """Show each environment's sync state and health, and each app's (from the controller, else the store)."""
    check_output(output)
    tree = None
    if specs is not None:
        from reconciler.cli.adapters import desired_from_folder  # the spec loader: only SPECS given pays for it

        tree = desired_from_folder(specs, env=None, charts=charts)
    document = asyncio.run(_document(ctx.obj, controller, database, _Consul(url=consul, enabled=not no_consul),
                                     tree))
    document = only_env(document, env)
    if output == "json":
        print_json_document(document)
    else:
        print_status(document, wide=wide)
    raise typer.Exit(ExitCode.OK)


@dataclass(frozen=True)
class _Consul:
    """--consul and --no-consul, for the observation made when no controller answers."""

    url: str | None
    enabled: bool


async def _document(settings: GlobalSettings, controller: str, database: str | None, consul: _Consul,
                    tree: Desired | None) -> dict[str, Any]:
    answered = await from_controller(controller, settings.timeout)
    if answered is not None:
        if tree is not None:
            print_warning("the controller answered: its status names the environments of the specs it follows;"
                          " SPECS is read only without a controller")
        return answered | {"from": f"controller at {redact_url(controller)}"}
    # Imported when no controller answered: a status the controller gives needs no client, engine or store.
    from reconciler.cli.adapters import ConsulChoice, marathon_client, optional_consul
    from reconciler.engine.status import observed_status
    from reconciler.store import Store, StoreError

    try:
        store = Store.open_for_reading(database)
    except StoreError as exc:
        # `apply` records no sync: after one-off applies there is no store, and `plan` is what compares.
        hint = f"{exc.hint}; without a controller, `reconciler plan SPECS` shows what differs from the specs"
        raise StoreError(f"no controller answered at {redact_url(controller)}, and {exc.message}",
                         hint=hint if tree is not None else exc.hint) from None
    try:
        envs = store.environments()
        async with (marathon_client(settings, observes_once=True) as marathon,
                    optional_consul(settings, ConsulChoice(enabled=consul.enabled, url=consul.url)) as client):
            built = await observed_status(store, envs, marathon, client, tree)
        observed = "Marathon and Consul" if client is not None else "Marathon"
        return built | {"from": f"store at {store.url} and a fresh observation of {observed}"
                        f" (no controller answered at {redact_url(controller)})"}
    finally:
        store.close()


async def from_controller(url: str, timeout: float) -> dict[str, Any] | None:
    """The controller's status document, or None when nothing (or something else) answers there."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=min(timeout, 5.0)) as http:
            answer = await http.get(f"{url.rstrip('/')}/status")
        document = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return document if isinstance(document, dict) and isinstance(document.get("environments"), dict) else None


def only_env(document: dict[str, Any], env: str | None) -> dict[str, Any]:
    """The document narrowed to `env`; an unknown environment is a usage error listing the known ones."""
    if env is None:
        return document
    environments = document.get("environments", {})
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none recorded yet"
        raise UsageError(f"--env: no environment {env!r}", hint=f"the environments are: {known}")
    apps = {app_id: app for app_id, app in document.get("apps", {}).items() if app.get("env") == env}
    return {**document, "environments": {env: environments[env]}, "apps": apps}


def _state(value: str) -> str:
    style = _STYLE.get(value)
    return f"[{style}]{value}[/]" if style else value


def _short(revision: str | None) -> str:
    return revision[:12] if revision else "-"


def env_notes(env: dict[str, Any]) -> str:
    """Pause, approval and pending commit of one environment, in words."""
    notes = []
    if env.get("pause"):
        pause = env["pause"]
        notes.append(f"paused by {pause['by']} at {_short(pause['revision'])} since {pause['at']}")
    if env.get("approval"):
        approval = env["approval"]
        notes.append(f"plan {approval['plan_id']} (digest {approval['digest']}) awaits approval")
    pending = env.get("pending")
    if pending and pending["reason"] == "never-applied":
        notes.append(f"never applied: the specs at {_short(pending['revision'])} (digest {pending['digest']})")
    elif pending and pending["reason"] != "awaiting-approval":
        digest = f", digest {pending['digest']}" if pending.get("digest") else ""
        notes.append(f"{_short(pending['revision'])} pending ({pending['reason']}{digest})")
    return "; ".join(notes) or "-"


def env_table(document: dict[str, Any]) -> Table:
    table = Table(title="Environments")
    for column in ("env", "sync", "health", "synced", "apps"):
        table.add_column(column, no_wrap=True)
    for column in ("notes", "last error", "last heal"):
        table.add_column(column, overflow="fold")
    for name, env in document.get("environments", {}).items():
        error, heal = env.get("last_error"), env.get("last_heal")
        table.add_row(
            name, _state(env["sync"]), _state(env["health"]), _short(env.get("synced_revision")), str(env["apps"]),
            env_notes(env), f"{error['message']} ({error['at']})" if error else "-",
            _heal_text(heal) if heal else "-",
        )
    return table


def _heal_text(heal: dict[str, Any]) -> str:
    """The last heal sent: its task, why, and when; its outcome too unless it succeeded."""
    outcome = heal.get("outcome", "succeeded")
    return f"{heal['task']}: {heal['reason']} ({'' if outcome == 'succeeded' else f'{outcome}, '}{heal['at']})"


def apps_table(apps: dict[str, dict[str, Any]], title: str = "Apps") -> Table:
    table = Table(title=title)
    for column in ("env", "app", "sync", "health"):
        table.add_column(column, no_wrap=True)
    for column in ("want", "run", "healthy", "passing"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("note", overflow="fold")
    for app in apps.values():
        healthy = "-" if app["healthy"] is None else str(app["healthy"])
        passing = "?" if app["passing"] is None else str(app["passing"])
        table.add_row(app["env"], app["name"], _state(app["sync"]), _state(app["health"]), str(app["desired"]),
                      str(app["running"]), healthy, passing, app.get("note") or "")
    return table


def print_status(document: dict[str, Any], *, wide: bool) -> None:
    """Where the status comes from, the environments, then the apps (above COMPACT_ABOVE apps, unless
    `wide`: a summary and the apps not synced and healthy)."""
    console.print(f"status from the {document.get('from', 'controller')}", soft_wrap=True)
    console.print(env_table(document))
    apps: dict[str, dict[str, Any]] = document.get("apps", {})
    if wide or len(apps) <= COMPACT_ABOVE:
        console.print(apps_table(apps))
        return
    attention = {k: a for k, a in apps.items() if (a["sync"], a["health"]) != ("Synced", "Healthy")}
    console.print(f"{len(apps)} apps: {len(apps) - len(attention)} synced and healthy, {len(attention)} not"
                  " (--wide prints every app)")
    if attention:
        console.print(apps_table(attention, f"Apps needing attention ({len(attention)} of {len(apps)})"))
