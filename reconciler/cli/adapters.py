"""Builds the real adapters from the global settings (face layer; the only place that does)."""

from __future__ import annotations

from pathlib import Path

from reconciler.cli.settings import GlobalSettings
from reconciler.core.model import Desired
from reconciler.marathon import MarathonAuth, MarathonClient, Timeouts
from reconciler.sources.folder import folder_revision
from reconciler.spec import load_desired


def marathon_client(settings: GlobalSettings) -> MarathonClient:
    auth = None
    if settings.marathon_user or settings.marathon_token:
        auth = MarathonAuth(
            user=settings.marathon_user, password=settings.marathon_password, token=settings.marathon_token
        )
    timeouts = Timeouts(read=settings.timeout, write=max(settings.timeout, 30.0))
    return MarathonClient(settings.marathon_url, auth=auth, verify=not settings.insecure, timeouts=timeouts)


def desired_from_folder(specs: Path, *, env: str | None) -> Desired:
    """Loads and renders the spec tree; raises SpecError listing every problem."""
    return load_desired(specs, env=env, revision=folder_revision(specs))
