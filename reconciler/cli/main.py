"""The `reconciler` command (face layer): global options, command registration, error exits."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from reconciler.cli.logs import (
    DEFAULT_LEVEL,
    FORMATS,
    LEVELS,
    RUN_DEFAULT_LEVEL,
    check_format,
    check_level,
    configure_logging,
)
from reconciler.cli.output import print_error, protect_secrets, report_error
from reconciler.cli.process_exit import exit_quickly
from reconciler.cli.settings import GlobalSettings, check_credentials, check_seconds, check_url, secrets_of
from reconciler.errors import ExitCode, ReconcilerError
from reconciler.redaction import secret_forms

# Typer 0.29+ ships its own copy of click; take its ClickException from a public class's ancestry
# instead of importing either a private module or a click that typer no longer uses.
ClickException: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

# One module per command; each exposes `register(app: typer.Typer) -> None`.
COMMAND_MODULES = ("sandbox", "validate", "render", "schema", "plan", "apply", "run", "autoscale", "history", "status",
                   "rollback", "approve")



# What `reconciler --help` lists, in order: each command's name and help as its module declares it (a test
# compares them), so that listing the commands imports none of their modules (about 2 s of CPU).
LISTED_COMMANDS = {
    "sandbox": "Embedded Marathon and Consul APIs on loopback for trying specs locally.",
    "validate": "Check spec files and charts; report every problem at once (exit 3 when any).",
    "render": "Print the Marathon app definitions the specs render to (exit 3 on invalid specs).",
    "schema": "Print the JSON Schema of the spec format (Environment and FunctionalSet documents).",
    "plan": "Show what `apply` would change (exit 0: nothing, 2: changes pending, 3: invalid specs).",
    "apply": "Make Marathon and Consul match the specs (exit 0 ok, 1 error, 3 invalid specs, 4 refused by a guard).",
    "run": "Run reconcile cycles continuously (periodic resync, sooner on events, new revisions and webhooks).",
    "autoscale": "Autoscaling tools.",
    "history": "Show the history the controller recorded: revisions, plans, actions, heals, approvals, autoscaling.",
    "status": "Show each environment's sync state and health, and each app's (from the controller, else the store).",
    "rollback": "Re-apply a recorded revision of ENV and pause its automatic sync until `reconciler resume ENV`.",
    "approve": "Apply a plan awaiting approval if Marathon has not changed since (exit 0 applied or handed to the live"
               "\ncontroller, 1 failed, 2 no such pending plan, 4 the actual state changed: approve the new plan).",
    "resume": "Resume automatic sync of ENV: the controller follows the specs again from its next cycle.",
}


class LazyCommands(TyperGroup):
    """Imports a command's module when that command is asked for, so that `validate` does not pay for
    the sandbox, the store or the Prometheus client. A name that is not a module's (a typo, or a
    module registering several commands) imports every module. Help lists the commands from
    LISTED_COMMANDS, importing none."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            if self.__dict__.get("listing") and cmd_name in LISTED_COMMANDS:
                return TyperCommand(cmd_name, help=LISTED_COMMANDS[cmd_name])
            self.load([cmd_name] if cmd_name in COMMAND_MODULES else COMMAND_MODULES)
        return self.commands.get(cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(LISTED_COMMANDS)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.__dict__["listing"] = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.__dict__["listing"] = False

    def load(self, modules: Sequence[str]) -> None:
        loaded: set[str] = self.__dict__.setdefault("loaded_modules", set())  # typer builds a group per call
        for name in modules:
            if name in loaded:
                continue
            loaded.add(name)
            commands = typer.Typer()
            importlib.import_module(f"reconciler.cli.{name}").register(commands)
            for command_name, command in typer.main.get_group(commands).commands.items():
                self.commands.setdefault(command_name, command)


app = typer.Typer(
    cls=LazyCommands,
    name="reconciler",
    help="Reconcile Marathon apps and Consul registrations with desired-state spec files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def global_options(
    ctx: typer.Context,
    marathon: Annotated[str, typer.Option(envvar="RECONCILER_MARATHON", help="Marathon URL.")] = (
        "http://127.0.0.1:8080"
    ),
    marathon_user: Annotated[str | None, typer.Option(
        envvar="RECONCILER_MARATHON_USER", help="Marathon's HTTP basic auth user (with --marathon-password).")] = None,
    marathon_password: Annotated[str | None, typer.Option(
        envvar="RECONCILER_MARATHON_PASSWORD", show_default=False,
        help="Its password; prefer the variable: a flag shows in the process list.")] = None,
    marathon_token: Annotated[
        str | None, typer.Option(envvar="RECONCILER_MARATHON_TOKEN", help="DC/OS ACS token.")
    ] = None,
    consul: Annotated[str, typer.Option(envvar="RECONCILER_CONSUL", help="Consul URL.")] = (
        "http://127.0.0.1:8500"
    ),
    consul_token: Annotated[str | None, typer.Option(
        envvar="RECONCILER_CONSUL_TOKEN", help="Consul ACL token (sent as X-Consul-Token).")] = None,
    timeout: Annotated[float, typer.Option(envvar="RECONCILER_TIMEOUT", help="Per-request timeout (s).")] = 10.0,
    insecure: Annotated[bool, typer.Option(
        help="Skip the TLS verification of Marathon (not recommended); Consul's is always verified.")] = False,
    log_level: Annotated[
        str | None,
        typer.Option(
            envvar="RECONCILER_LOG_LEVEL",
            show_default=False,
            help=f"{', '.join(LEVELS)} (default: {DEFAULT_LEVEL}; {RUN_DEFAULT_LEVEL} for run).",
        ),
    ] = None,
    log_format: Annotated[
        str,
        typer.Option(envvar="RECONCILER_LOG_FORMAT", help=f"{' or '.join(FORMATS)}: key=value lines, or one JSON"
                     " object per line."),
    ] = "text",
) -> None:
    log_format = check_format(log_format)
    configure_logging(check_level(log_level) if log_level else DEFAULT_LEVEL, log_format)
    protect_secrets(secret_forms(user=marathon_user, password=marathon_password, tokens=(marathon_token,)))
    check_credentials(marathon_user, marathon_password, marathon_token)
    settings = GlobalSettings(
        marathon_url=check_url("--marathon", marathon),
        marathon_user=marathon_user,
        marathon_password=marathon_password,
        marathon_token=marathon_token,
        consul_url=check_url("--consul", consul),
        consul_token=consul_token,
        timeout=check_seconds("--timeout", timeout),
        insecure=insecure,
        log_level=log_level,
        log_format=log_format,
    )
    protect_secrets(secrets_of(settings))
    ctx.obj = settings




def entry() -> None:
    """The process's entry point (the `reconciler` script, `python -m reconciler`): `main`, then the end of
    the process without the interpreter's teardown (cli/process_exit.py)."""
    exit_quickly(main)


def usage_line(exc: Exception) -> str:
    """Click's error as the one line the README promises (click prints a usage line and a "Try" line around
    it), with the help to read: `reconciler plan --help`."""
    names: list[str] = []
    ctx = getattr(exc, "ctx", None)
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    message = exc.format_message()  # type: ignore[attr-defined]
    return f"{message} (hint: see {' '.join(['reconciler', *names, '--help'])})"


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except ReconcilerError as exc:
        report_error(exc)
        raise SystemExit(exc.exit_code) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        print_error("aborted")
        raise SystemExit(ExitCode.ERROR) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except ClickException as exc:
        if exc.format_message():  # type: ignore[attr-defined]  # empty: the help was printed (no arguments)
            print_error(usage_line(exc))
        raise SystemExit(ExitCode.USAGE) from None
    # Without standalone mode, click returns the code of `typer.Exit` instead of raising it.
    raise SystemExit(code if isinstance(code, int) else ExitCode.OK)
