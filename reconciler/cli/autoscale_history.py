"""`reconciler autoscale simulate --from-history APP` (face layer): the simulation input rebuilt from
the samples the controller recorded in the store (`autoscale_samples`), optionally written out as YAML.

The replay starts at the first sample in the `--since` window, from the count and the decision memory
the controller held then; when the policy changed in the window, it starts where the last policy did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from reconciler.cli.history import since_seconds
from reconciler.cli.output import print_warning
from reconciler.errors import UsageError
from reconciler.spec.simulation_record import simulation_input
from reconciler.store import Store
from reconciler.store.tables import AutoscaleSample


def history_input(app: str, since: str | None, database: str | None) -> dict[str, Any]:
    """The simulation input of `app`'s samples in the window; a usage error (exit 2) naming the apps
    with samples when there are none."""
    cutoff = datetime.now(UTC) - timedelta(seconds=since_seconds(since)) if since is not None else None
    store = Store.open_for_reading(database)
    try:
        rows = _rows(store, app, cutoff)
        if not rows:
            raise UsageError(_missing(app, since, store.autoscale_sample_apps()),
                             hint="the controller records samples while it runs (`reconciler run`);"
                                  " widen --since or name an app listed")
    finally:
        store.close()
    kept = _last_policy(rows)
    if len(kept) < len(rows):
        print_warning(f"the policy of {app} changed in the window: replaying the last"
                    f" {len(kept)} of {len(rows)} samples, taken under the current policy")
    return simulation_input([json.loads(row.document) for row in kept])


def _rows(store: Store, app: str, cutoff: datetime | None) -> list[AutoscaleSample]:
    """Samples of `app` as its Marathon id (`/shop/web`), or written without the leading slash."""
    return store.autoscale_samples(app if app.startswith("/") else f"/{app}", since=cutoff)


def _missing(app: str, since: str | None, apps: list[str]) -> str:
    window = f" in the last {since}" if since else ""
    known = ", ".join(apps) if apps else "none (no autoscale samples are kept)"
    return f"--from-history: no autoscale samples of {app}{window}; apps with samples: {known}"


def _last_policy(rows: list[AutoscaleSample]) -> list[AutoscaleSample]:
    start = len(rows) - 1
    while start > 0 and rows[start - 1].policy_digest == rows[-1].policy_digest:
        start -= 1
    return rows[start:]


def write_input(path: Path, data: dict[str, Any]) -> None:
    """The rebuilt input as YAML, to edit and run with `autoscale simulate FILE`."""
    try:
        path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120))
    except OSError as exc:
        raise UsageError(f"--write-input: cannot write {path}: {exc.strerror}", hint="choose a writable path") from None
