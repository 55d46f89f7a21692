"""Builds the real adapters from the global settings (face layer; the only place that does)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.cli.settings import GlobalSettings
from reconciler.consul.client import ConsulClient
from reconciler.core.approvals import narrowed
from reconciler.core.model import Desired
from reconciler.engine.routing import AgentRouting
from reconciler.errors import SpecError
from reconciler.marathon import MarathonAuth, MarathonClient, Timeouts
from reconciler.sources.folder import folder_revision
from reconciler.spec import env_scope, load_desired

# A one-off command asks an unreachable Consul twice, then reports it instead of waiting on it.
CONSUL_READ_RETRIES = 1


@dataclass(frozen=True)
class ConsulChoice:
    """Whether and how a command talks to Consul (`--consul URL`, `--no-consul`, `--consul-agent`)."""

    enabled: bool = True
    url: str | None = None  # None: the global --consul
    routing: AgentRouting = AgentRouting.HOST


def marathon_client(settings: GlobalSettings, *, observes_once: bool = False) -> MarathonClient:
    """`observes_once`: a dry one-off sync (plan, status) keeps nothing of its read for a later one."""
    auth = None
    if settings.marathon_user or settings.marathon_token:
        auth = MarathonAuth(
            user=settings.marathon_user, password=settings.marathon_password, token=settings.marathon_token
        )
    timeouts = Timeouts(read=settings.timeout, write=max(settings.timeout, 30.0))
    return MarathonClient(
        settings.marathon_url,
        auth=auth,
        verify=not settings.insecure,
        timeouts=timeouts,
        remember_apps=not observes_once,
    )


def consul_client(
    settings: GlobalSettings,
    *,
    url: str | None = None,
    retries: int = 3,
    on_request: Callable[[str, str], None] | None = None,
) -> ConsulClient:
    """A client of the configured Consul agent; its `for_agent` clients share the token and timeouts."""
    return ConsulClient(
        url or settings.consul_url,
        token=settings.consul_token,
        timeout=settings.timeout,
        retries=retries,
        on_request=on_request,
    )


@contextlib.asynccontextmanager
async def optional_consul(settings: GlobalSettings, choice: ConsulChoice) -> AsyncIterator[ConsulClient | None]:
    """The Consul client of a one-off command, or None with `--no-consul`; closed on exit."""
    if not choice.enabled:
        yield None
        return
    async with consul_client(settings, url=choice.url, retries=CONSUL_READ_RETRIES) as consul:
        yield consul


def desired_from_folder(specs: Path, *, env: str | None, charts: Path | None = None) -> Desired:
    """Loads and renders the spec tree (charts from `charts`, else the default); raises SpecError."""
    return load_desired(specs, env=env, revision=folder_revision(specs), charts_dir=charts)


def load_both(
    specs: Path, env: str | None, charts: Path | None = None, *, revision: str | None = None,
) -> tuple[Desired, Desired | None]:
    """The desired state of `env` (or all), and the whole tree when narrowed (for the DNS fallbacks), as
    `plan`, `apply` and `run` read a tree (`revision`: the source's, else the folder's).

    The tree is rendered once, whole, and narrowed to `env` (at 10,000 apps a render is most of a second).
    When that fails, or `env` is not in it, rendering `env` alone raises what it always raised first: its
    own problems, or the usage error naming the environments; else the whole tree's problems stand."""
    revision = folder_revision(specs) if revision is None else revision

    def load(scope: str | None) -> Desired:
        return load_desired(specs, env=scope, revision=revision, charts_dir=charts)

    if env is None:
        return load(None), None
    try:
        whole = load(None)
    except SpecError:
        load(env)
        with env_scope(env):  # `env` renders: another environment's problems fail it, saying why
            raise
    if env not in whole.environments:
        return load(env), whole
    return narrowed(whole, env), whole
